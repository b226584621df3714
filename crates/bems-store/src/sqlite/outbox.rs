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
