//! Devices: registered by (platform, token), looked up by mailbox.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::tenants::tenant_id;
use super::unreadable;
use crate::model::{Device, NewDevice, Platform};

const COLUMNS: &str = "id, tenant, mailbox, platform, token, app_id, locale, registered_at_ms";

/// Why a registration was refused; nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Refusal {
    /// The (platform, token) is registered for another mailbox, of this tenant or another.
    TokenTaken,
    /// The mailbox has `max` devices already.
    TooMany {
        /// The bound.
        max: u32,
    },
}

/// Inserts the device, or refreshes the one with its (platform, token) when that is
/// registered for the same tenant and mailbox. A token registered for another mailbox or
/// tenant is refused, and so is a new device beyond `max_per_mailbox` for its mailbox.
pub(super) fn register(
    conn: &mut Connection,
    device: &NewDevice,
    max_per_mailbox: u32,
    now_ms: i64,
) -> rusqlite::Result<Result<Device, Refusal>> {
    let tx = conn.savepoint()?;
    let before: Option<(String, String)> = tx
        .prepare_cached("SELECT tenant, mailbox FROM devices WHERE platform = ?1 AND token = ?2")?
        .query_row(params![device.platform.as_str(), device.token], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match before {
        Some((tenant, mailbox))
            if tenant != device.tenant.as_str() || mailbox != device.mailbox =>
        {
            return Ok(Err(Refusal::TokenTaken));
        }
        Some(_) => {}
        None => {
            let held: u32 = tx
                .prepare_cached("SELECT count(*) FROM devices WHERE tenant = ?1 AND mailbox = ?2")?
                .query_row(params![device.tenant.as_str(), device.mailbox], |row| {
                    row.get(0)
                })?;
            if held >= max_per_mailbox {
                return Ok(Err(Refusal::TooMany {
                    max: max_per_mailbox,
                }));
            }
        }
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO devices (tenant, mailbox, platform, token, app_id, locale, registered_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (platform, token) DO UPDATE SET
                 app_id = excluded.app_id, locale = excluded.locale,
                 registered_at_ms = excluded.registered_at_ms
             RETURNING id",
        )?
        .query_row(
            params![
                device.tenant.as_str(),
                device.mailbox,
                device.platform.as_str(),
                device.token,
                device.app_id,
                device.locale,
                now_ms
            ],
            |row| row.get(0),
        )?;
    tx.commit()?;
    Ok(Ok(Device {
        id,
        device: device.clone(),
        registered_at: time_of(now_ms, 7)?,
    }))
}

/// Deletes the devices of `mailbox` with `token` (and, by the foreign key, their pushes).
pub(super) fn unregister(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    token: &str,
) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM devices WHERE tenant = ?1 AND mailbox = ?2 AND token = ?3")?
        .execute([tenant, mailbox, token])?;
    Ok(deleted > 0)
}

/// Deletes a device (and, by the foreign key, its pushes).
pub(super) fn remove(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM devices WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(super) fn for_mailbox(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Vec<Device>> {
    let sql =
        format!("SELECT {COLUMNS} FROM devices WHERE tenant = ?1 AND mailbox = ?2 ORDER BY id");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([tenant, mailbox], device)?;
    rows.collect()
}

pub(super) fn for_tenant(conn: &Connection, tenant: &str) -> rusqlite::Result<Vec<Device>> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE tenant = ?1 ORDER BY mailbox, id");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([tenant], device)?;
    rows.collect()
}

pub(super) fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM devices")?
        .query_row([], |row| row.get(0))
}

fn device(row: &Row<'_>) -> rusqlite::Result<Device> {
    let platform: String = row.get(3)?;
    let platform = Platform::parse(&platform)
        .ok_or_else(|| unreadable(3, Type::Text, format!("{platform:?} is not a platform")))?;
    Ok(Device {
        id: row.get(0)?,
        device: NewDevice {
            tenant: tenant_id(row, 1)?,
            mailbox: row.get(2)?,
            platform,
            token: row.get(4)?,
            app_id: row.get(5)?,
            locale: row.get(6)?,
        },
        registered_at: time_of(row.get(7)?, 7)?,
    })
}

/// Unix milliseconds as a time.
fn time_of(ms: i64, column: usize) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|error| unreadable(column, Type::Integer, error.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::model::{PendingPush, Platform, TenantId};
    use crate::sqlite::testing::{contoso, new_device, store};
    use crate::{DeviceStore, Outbox, StoreError};

    #[tokio::test]
    async fn devices_are_found_by_mailbox_and_tenant() {
        let store = store().await;
        let alice = store
            .register_device(&new_device("Alice@Contoso.com", "t1"), 10)
            .await
            .unwrap();
        assert_eq!(alice.device.mailbox, "alice@contoso.com");
        let mut android = new_device("alice@contoso.com", "t2");
        android.platform = Platform::Fcm;
        let android = store.register_device(&android, 10).await.unwrap();
        let bob = store
            .register_device(&new_device("bob@contoso.com", "t3"), 10)
            .await
            .unwrap();

        let found = store
            .devices_for(&contoso(), "ALICE@contoso.com")
            .await
            .unwrap();
        assert_eq!(found, vec![alice.clone(), android.clone()]);
        assert_eq!(
            store.devices(&contoso()).await.unwrap(),
            vec![alice, android, bob]
        );
        assert_eq!(store.device_count().await.unwrap(), 3);
        let other = TenantId::new("fabrikam").unwrap();
        assert!(
            store
                .devices_for(&other, "alice@contoso.com")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn a_token_of_another_mailbox_or_tenant_is_refused_and_nothing_moves() {
        let store = store().await;
        let first = store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        let push = PendingPush {
            device_id: first.id,
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            payload: "{}".into(),
            seen_at_ms: 1,
        };
        store.enqueue(&[push], None).await.unwrap();

        let bob = new_device("bob@contoso.com", "tok");
        let mut elsewhere = new_device("alice@contoso.com", "tok");
        elsewhere.tenant = TenantId::new("fabrikam").unwrap();
        for thief in [bob, elsewhere] {
            let refused = store.register_device(&thief, 10).await;
            assert!(
                matches!(&refused, Err(StoreError::Conflict { rule, .. }) if rule.contains("another mailbox")),
                "{refused:?}"
            );
        }
        assert_eq!(
            store
                .devices_for(&contoso(), "alice@contoso.com")
                .await
                .unwrap(),
            vec![first.clone()],
            "the device stays alice's"
        );
        assert_eq!(store.outbox_len().await.unwrap(), 1, "alice's push stays");

        // Registering it again for alice refreshes it in place.
        let mut again = new_device("alice@contoso.com", "tok");
        again.locale = "de-CH".into();
        let second = store.register_device(&again, 10).await.unwrap();
        assert_eq!(second.id, first.id, "one token, one device");
        assert_eq!(second.device.locale, "de-CH");

        // Once alice's registration is gone, the token may be bob's.
        assert!(store.remove_device(first.id).await.unwrap());
        let moved = store
            .register_device(&new_device("bob@contoso.com", "tok"), 10)
            .await
            .unwrap();
        assert_eq!(moved.device.mailbox, "bob@contoso.com");

        // The same token on the other platform is another device.
        let mut fcm = new_device("alice@contoso.com", "tok");
        fcm.platform = Platform::Fcm;
        assert_ne!(store.register_device(&fcm, 10).await.unwrap().id, moved.id);
    }

    #[tokio::test]
    async fn a_mailbox_holds_at_most_its_bound_of_devices() {
        let store = store().await;
        for n in 0..3 {
            store
                .register_device(&new_device("alice@contoso.com", &format!("t{n}")), 3)
                .await
                .unwrap();
        }
        let refused = store
            .register_device(&new_device("alice@contoso.com", "t3"), 3)
            .await;
        assert!(
            matches!(&refused, Err(StoreError::Conflict { rule, .. }) if rule.contains("3 devices")),
            "{refused:?}"
        );
        // A device already registered may still refresh, and other mailboxes are not bound by
        // alice's.
        store
            .register_device(&new_device("alice@contoso.com", "t0"), 3)
            .await
            .unwrap();
        store
            .register_device(&new_device("bob@contoso.com", "t3"), 3)
            .await
            .unwrap();
        assert_eq!(store.device_count().await.unwrap(), 4);
    }

    #[tokio::test]
    async fn registering_again_in_place_keeps_pending_pushes() {
        let store = store().await;
        let device = store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        let push = PendingPush {
            device_id: device.id,
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            payload: "{}".into(),
            seen_at_ms: 1,
        };
        store.enqueue(&[push], None).await.unwrap();
        store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        assert_eq!(store.outbox_len().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn unregistering_and_removing_delete_the_device_and_its_pushes() {
        let store = store().await;
        let a = store
            .register_device(&new_device("alice@contoso.com", "ta"), 10)
            .await
            .unwrap();
        let b = store
            .register_device(&new_device("alice@contoso.com", "tb"), 10)
            .await
            .unwrap();
        let pushes: Vec<_> = [a.id, b.id]
            .map(|device_id| PendingPush {
                device_id,
                tenant: contoso(),
                mailbox: "alice@contoso.com".into(),
                payload: "{}".into(),
                seen_at_ms: 1,
            })
            .into();
        store.enqueue(&pushes, None).await.unwrap();

        assert!(
            !store
                .unregister_device(&contoso(), "bob@contoso.com", "ta")
                .await
                .unwrap()
        );
        assert!(
            store
                .unregister_device(&contoso(), "Alice@contoso.com", "ta")
                .await
                .unwrap()
        );
        assert_eq!(store.outbox_len().await.unwrap(), 1);
        assert!(store.remove_device(b.id).await.unwrap());
        assert!(!store.remove_device(b.id).await.unwrap());
        assert_eq!(store.outbox_len().await.unwrap(), 0);
        assert_eq!(store.device_count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_bad_token_is_refused_and_changes_nothing() {
        let store = store().await;
        store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        assert!(
            store
                .register_device(&new_device("alice@contoso.com", ""), 10)
                .await
                .is_err()
        );
        assert!(
            store
                .register_device(&new_device("not-an-address", "tok"), 10)
                .await
                .is_err()
        );
        assert_eq!(
            store.devices(&contoso()).await.unwrap()[0].device.mailbox,
            "alice@contoso.com"
        );
    }
}
