//! The push outbox: pending pushes, written with the watermark that follows their events.

use rusqlite::{Connection, Row, params};

use super::mailboxes;
use super::tenants::tenant_id;
use crate::model::{OutboxEntry, PendingPush};

/// A watermark to save: (tenant, mailbox, watermark).
pub(super) type Mark = (String, String, String);

/// Inserts the pushes, due at their `seen_at_ms`, and saves the watermark, in one transaction.
pub(super) fn enqueue(
    conn: &mut Connection,
    pushes: &[PendingPush],
    watermark: Option<&Mark>,
    now_ms: i64,
) -> rusqlite::Result<Vec<i64>> {
    let tx = conn.savepoint()?;
    let mut ids = Vec::with_capacity(pushes.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox (device_id, tenant, mailbox, payload, seen_at_ms, not_before_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             RETURNING id",
        )?;
        for push in pushes {
            let id = insert.query_row(
                params![
                    push.device_id,
                    push.tenant.as_str(),
                    push.mailbox,
                    push.payload,
                    push.seen_at_ms
                ],
                |row| row.get(0),
            )?;
            ids.push(id);
        }
    }
    if let Some((tenant, mailbox, watermark)) = watermark {
        mailboxes::save_watermark(&tx, tenant, mailbox, watermark, now_ms)?;
    }
    tx.commit()?;
    Ok(ids)
}

/// At most `limit` pushes with `not_before_ms <= now_ms`, oldest first.
pub(super) fn due(
    conn: &Connection,
    now_ms: i64,
    limit: usize,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms
         FROM outbox WHERE not_before_ms <= ?1 ORDER BY not_before_ms, id LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement.query_map(params![now_ms, limit], entry)?;
    rows.collect()
}

pub(super) fn complete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(super) fn retry_later(
    conn: &Connection,
    id: i64,
    not_before_ms: i64,
) -> rusqlite::Result<bool> {
    let updated = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, not_before_ms = ?2 WHERE id = ?1",
        )?
        .execute([id, not_before_ms])?;
    Ok(updated > 0)
}

pub(super) fn len(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM outbox")?
        .query_row([], |row| row.get(0))
}

fn entry(row: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: row.get(0)?,
        push: PendingPush {
            device_id: row.get(1)?,
            tenant: tenant_id(row, 2)?,
            mailbox: row.get(3)?,
            payload: row.get(4)?,
            seen_at_ms: row.get(5)?,
        },
        attempts: row.get(6)?,
        not_before_ms: row.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::model::PendingPush;
    use crate::sqlite::testing::{contoso, new_device, store};
    use crate::{DeviceStore, MailboxStore, Outbox, SqliteStore, StoreError};

    fn push(device_id: i64, seen_at_ms: i64) -> PendingPush {
        PendingPush {
            device_id,
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            payload: format!(r#"{{"seen":{seen_at_ms}}}"#),
            seen_at_ms,
        }
    }

    async fn with_device() -> (SqliteStore, i64) {
        let store = store().await;
        let device = store
            .register_device(&new_device("alice@contoso.com", "tok"), 10)
            .await
            .unwrap();
        (store, device.id)
    }

    #[tokio::test]
    async fn pushes_come_due_oldest_first_and_leave_when_completed() {
        let (store, device) = with_device().await;
        let ids = store
            .enqueue(&[push(device, 30), push(device, 10)], None)
            .await
            .unwrap();
        let more = store.enqueue(&[push(device, 20)], None).await.unwrap();
        assert_eq!(store.outbox_len().await.unwrap(), 3);

        assert!(store.due(9, 10).await.unwrap().is_empty());
        let due: Vec<_> = store
            .due(25, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.id)
            .collect();
        assert_eq!(due, [ids[1], more[0]]);
        let first = &store.due(100, 1).await.unwrap()[0];
        assert_eq!(
            (first.id, first.attempts, first.not_before_ms),
            (ids[1], 0, 10)
        );
        assert_eq!(first.push, push(device, 10));

        assert!(store.complete(ids[1]).await.unwrap());
        assert!(!store.complete(ids[1]).await.unwrap());
        assert_eq!(store.outbox_len().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn an_id_names_one_push_for_good() {
        // The courier keeps ids of pushes on their way: an emptied outbox must not hand the
        // last id to the next push.
        let (store, device) = with_device().await;
        let first = store.enqueue(&[push(device, 1)], None).await.unwrap()[0];
        assert!(store.complete(first).await.unwrap());
        assert_eq!(store.outbox_len().await.unwrap(), 0);
        let next = store.enqueue(&[push(device, 2)], None).await.unwrap()[0];
        assert!(next > first, "{next} after {first}");
        assert!(
            !store.complete(first).await.unwrap(),
            "the old id settles nothing"
        );
        assert_eq!(store.outbox_len().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_retried_push_counts_its_attempts_and_waits() {
        let (store, device) = with_device().await;
        let ids = store
            .enqueue(&[push(device, 10), push(device, 20)], None)
            .await
            .unwrap();
        assert!(store.retry_later(ids[0], 1_000).await.unwrap());
        assert!(store.retry_later(ids[0], 2_000).await.unwrap());
        assert!(!store.retry_later(ids[0] + 100, 2_000).await.unwrap());
        let due = store.due(1_500, 10).await.unwrap();
        assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
        let later = store.due(2_000, 10).await.unwrap();
        assert_eq!(later[1].id, ids[0]);
        assert_eq!((later[1].attempts, later[1].not_before_ms), (2, 2_000));
    }

    #[tokio::test]
    async fn the_watermark_advances_with_its_pushes() {
        let (store, device) = with_device().await;
        let mark = Some((&contoso(), "Alice@contoso.com", "w1"));
        let ids = store.enqueue(&[push(device, 1)], mark).await.unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(
            store
                .load_watermark(&contoso(), "alice@contoso.com")
                .await
                .unwrap()
                .as_deref(),
            Some("w1")
        );
        // Events that produce no push still move the watermark.
        store
            .enqueue(&[], Some((&contoso(), "alice@contoso.com", "w2")))
            .await
            .unwrap();
        assert_eq!(
            store
                .load_watermark(&contoso(), "alice@contoso.com")
                .await
                .unwrap()
                .as_deref(),
            Some("w2")
        );
    }

    #[tokio::test]
    async fn a_failure_half_way_writes_neither_pushes_nor_watermark() {
        let (store, device) = with_device().await;
        store
            .save_watermark(&contoso(), "alice@contoso.com", "w1")
            .await
            .unwrap();
        // The second push names a device that does not exist: the foreign key fails it.
        let pushes = [push(device, 1), push(device + 1000, 2), push(device, 3)];
        let error = store
            .enqueue(&pushes, Some((&contoso(), "alice@contoso.com", "w2")))
            .await
            .unwrap_err();
        assert!(
            matches!(error, StoreError::Database { op: "enqueue", .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("alice@contoso.com"), "{error}");
        assert_eq!(store.outbox_len().await.unwrap(), 0);
        assert_eq!(
            store
                .load_watermark(&contoso(), "alice@contoso.com")
                .await
                .unwrap()
                .as_deref(),
            Some("w1")
        );
        // The store goes on.
        assert_eq!(
            store.enqueue(&[push(device, 4)], None).await.unwrap().len(),
            1
        );
    }
}
