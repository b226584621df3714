//! Sealed secrets and trusted certificates, by tenant and name.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::unreadable;
use crate::crypto::Sealed;

pub(super) fn put_secret(
    conn: &Connection,
    tenant: &str,
    name: &str,
    sealed: &Sealed,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO secrets (tenant, name, key_id, nonce, ciphertext, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant, name) DO UPDATE SET
             key_id = excluded.key_id, nonce = excluded.nonce,
             ciphertext = excluded.ciphertext, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        tenant,
        name,
        sealed.key_id,
        &sealed.nonce[..],
        sealed.ciphertext,
        now_ms
    ])?;
    Ok(())
}

pub(super) fn secret(
    conn: &Connection,
    tenant: &str,
    name: &str,
) -> rusqlite::Result<Option<Sealed>> {
    conn.prepare_cached(
        "SELECT key_id, nonce, ciphertext FROM secrets WHERE tenant = ?1 AND name = ?2",
    )?
    .query_row([tenant, name], |row| {
        let nonce: Vec<u8> = row.get(1)?;
        let nonce = nonce
            .try_into()
            .map_err(|_| unreadable(1, Type::Blob, "a nonce is 12 bytes"))?;
        Ok(Sealed {
            key_id: row.get(0)?,
            nonce,
            ciphertext: row.get(2)?,
        })
    })
    .optional()
}

pub(super) fn delete_secret(conn: &Connection, tenant: &str, name: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM secrets WHERE tenant = ?1 AND name = ?2")?
        .execute([tenant, name])?;
    Ok(deleted > 0)
}

pub(super) fn put_certificate(
    conn: &Connection,
    tenant: &str,
    name: &str,
    pem: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO certificates (tenant, name, pem, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, name) DO UPDATE SET
             pem = excluded.pem, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, name, pem, now_ms])?;
    Ok(())
}

pub(super) fn certificates(
    conn: &Connection,
    tenant: &str,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut statement =
        conn.prepare_cached("SELECT name, pem FROM certificates WHERE tenant = ?1 ORDER BY name")?;
    let rows = statement.query_map([tenant], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

pub(super) fn delete_certificate(
    conn: &Connection,
    tenant: &str,
    name: &str,
) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM certificates WHERE tenant = ?1 AND name = ?2")?
        .execute([tenant, name])?;
    Ok(deleted > 0)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretSlice;

    use crate::sqlite::testing::{contoso, store};
    use crate::{SqliteStore, StoreError, StoreKey, TenantStore};

    #[tokio::test]
    async fn a_row_moved_to_another_name_does_not_decrypt() {
        let store = store().await;
        store
            .put_secret(&contoso(), "oauth", &SecretSlice::from(b"token".to_vec()))
            .await
            .unwrap();
        store
            .call("test", String::new, |conn| {
                conn.execute("UPDATE secrets SET name = 'pfx' WHERE name = 'oauth'", [])
            })
            .await
            .unwrap();
        let error = store.secret(&contoso(), "pfx").await.unwrap_err();
        assert!(
            matches!(&error, StoreError::Decrypt { name, .. } if name == "pfx"),
            "{error:?}"
        );
        assert!(error.is_key_problem());
    }

    #[tokio::test]
    async fn tampered_ciphertext_is_detected() {
        let store = store().await;
        store
            .put_secret(&contoso(), "oauth", &SecretSlice::from(b"token".to_vec()))
            .await
            .unwrap();
        store
            .call("test", String::new, |conn| {
                conn.execute(
                    "UPDATE secrets SET ciphertext = cast(zeroblob(length(ciphertext)) AS BLOB)",
                    [],
                )
            })
            .await
            .unwrap();
        let error = store.secret(&contoso(), "oauth").await.unwrap_err();
        assert!(matches!(error, StoreError::Decrypt { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn a_rotated_key_id_is_named_in_the_error() {
        let key = StoreKey::generate().unwrap();
        let store = SqliteStore::in_memory(key.clone().with_id(3))
            .await
            .unwrap();
        store
            .put_secret(&contoso(), "oauth", &SecretSlice::from(b"token".to_vec()))
            .await
            .unwrap();
        store
            .call("test", String::new, |conn| {
                conn.execute("UPDATE secrets SET key_id = 2", [])
            })
            .await
            .unwrap();
        let error = store.secret(&contoso(), "oauth").await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::KeyMismatch {
                    sealed: 2,
                    current: 3,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
