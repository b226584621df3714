//! Tenants: their settings, and deleting everything of a tenant.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::unreadable;
use crate::model::TenantId;

pub(super) fn put(
    conn: &Connection,
    tenant: &str,
    settings: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO tenants (id, settings, updated_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
                                        updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, settings, now_ms])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, tenant: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT settings FROM tenants WHERE id = ?1")?
        .query_row([tenant], |row| row.get(0))
        .optional()
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<TenantId>> {
    let mut statement = conn.prepare_cached("SELECT id FROM tenants ORDER BY id")?;
    let rows = statement.query_map([], |row| tenant_id(row, 0))?;
    rows.collect()
}

/// Deletes the tenant's settings and every row of it in the other tables, in one transaction.
pub(super) fn delete(conn: &mut Connection, tenant: &str) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    // Pushes about the tenant's mailboxes, then (with theirs) the tenant's devices.
    for table in [
        "outbox",
        "devices",
        "mailboxes",
        "secrets",
        "certificates",
        "follow_me",
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant])?;
    }
    let existed = tx.execute("DELETE FROM tenants WHERE id = ?1", [tenant])? > 0;
    tx.commit()?;
    Ok(existed)
}

/// Reads a tenant id column, refusing one that breaks the rules.
pub(super) fn tenant_id(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<TenantId> {
    let text: String = row.get(column)?;
    TenantId::new(text).map_err(|error| unreadable(column, Type::Text, error.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::model::TenantId;
    use crate::sqlite::testing::{contoso, new_device, store};
    use crate::{DeviceStore, MailboxStore, StoreError, TenantStore};

    #[tokio::test]
    async fn tenant_settings_are_saved_replaced_and_listed() {
        let store = store().await;
        let fabrikam = TenantId::new("fabrikam").unwrap();
        assert_eq!(store.tenant(&contoso()).await.unwrap(), None);
        store.put_tenant(&fabrikam, r#"{"v":1}"#).await.unwrap();
        store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
        store.put_tenant(&contoso(), r#"{"v":2}"#).await.unwrap();
        assert_eq!(
            store.tenant(&contoso()).await.unwrap().as_deref(),
            Some(r#"{"v":2}"#)
        );
        assert_eq!(store.tenants().await.unwrap(), vec![contoso(), fabrikam]);
    }

    #[tokio::test]
    async fn settings_that_are_not_json_leave_the_old_ones() {
        let store = store().await;
        store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
        let error = store.put_tenant(&contoso(), "v = 2").await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Invalid {
                    op: "put tenant",
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(
            store.tenant(&contoso()).await.unwrap().as_deref(),
            Some(r#"{"v":1}"#)
        );
    }

    #[tokio::test]
    async fn deleting_a_tenant_deletes_everything_of_it_and_nothing_else() {
        let store = store().await;
        let fabrikam = TenantId::new("fabrikam").unwrap();
        for tenant in [contoso(), fabrikam.clone()] {
            store.put_tenant(&tenant, "{}").await.unwrap();
            let mut device = new_device("alice@contoso.com", "token");
            device.token = format!("token-{tenant}");
            device.tenant = tenant.clone();
            store.register_device(&device, 10).await.unwrap();
            store
                .save_watermark(&tenant, "alice@contoso.com", "w1")
                .await
                .unwrap();
            let secret = crate::SecretSlice::from(b"s".to_vec());
            store.put_secret(&tenant, "oauth", &secret).await.unwrap();
            store
                .put_certificate(&tenant, "ca", "-----BEGIN CERTIFICATE-----")
                .await
                .unwrap();
        }
        assert!(store.delete_tenant(&contoso()).await.unwrap());
        assert!(!store.delete_tenant(&contoso()).await.unwrap());
        assert_eq!(store.tenants().await.unwrap(), vec![fabrikam.clone()]);
        assert!(store.devices(&contoso()).await.unwrap().is_empty());
        assert!(
            store
                .mailboxes()
                .await
                .unwrap()
                .iter()
                .all(|m| m.tenant == fabrikam)
        );
        assert!(store.secret(&contoso(), "oauth").await.unwrap().is_none());
        assert!(store.certificates(&contoso()).await.unwrap().is_empty());
        assert_eq!(store.devices(&fabrikam).await.unwrap().len(), 1);
        assert!(store.secret(&fabrikam, "oauth").await.unwrap().is_some());
    }
}
