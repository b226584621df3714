//! The push outbox: pending pushes, written with the watermark that follows their events, and
//! claimed by the senders.

use rusqlite::{Connection, Row, params};

use super::tenants::tenant_id;
use super::{leases, mailboxes};
use crate::cluster::{Fenced, NodeId};
use crate::model::{OutboxEntry, PendingPush};

/// A checkpoint to write: the tenant, the mailbox, its watermark, and the node that must
/// hold its lease.
pub(super) struct Mark {
    pub(super) tenant: String,
    pub(super) mailbox: String,
    pub(super) watermark: Option<String>,
    pub(super) holder: Option<NodeId>,
}

/// Inserts the pushes, due at `not_before_ms`, and writes the checkpoint, in one transaction;
/// nothing when the checkpoint's holder does not hold the mailbox's lease.
pub(super) fn enqueue(
    conn: &mut Connection,
    pushes: &[PendingPush],
    not_before_ms: i64,
    checkpoint: Option<&Mark>,
    now_ms: i64,
) -> rusqlite::Result<Result<Vec<i64>, Fenced>> {
    let tx = conn.savepoint()?;
    if let Some(Mark {
        tenant,
        mailbox,
        holder: Some(node),
        ..
    }) = checkpoint
        && let Err(fenced) = leases::fence(&tx, node, tenant, mailbox, now_ms)?
    {
        return Ok(Err(fenced));
    }
    let mut ids = Vec::with_capacity(pushes.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox (device_id, tenant, mailbox, payload, seen_at_ms, not_before_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             RETURNING id",
        )?;
        for push in pushes {
            let id = insert.query_row(
                params![
                    push.device_id,
                    push.tenant.as_str(),
                    push.mailbox,
                    push.payload,
                    push.seen_at_ms,
                    not_before_ms
                ],
                |row| row.get(0),
            )?;
            ids.push(id);
        }
    }
    if let Some(Mark {
        tenant,
        mailbox,
        watermark: Some(watermark),
        ..
    }) = checkpoint
    {
        mailboxes::save_watermark(&tx, tenant, mailbox, watermark, now_ms)?;
    }
    tx.commit()?;
    Ok(Ok(ids))
}

/// Claims at most `limit` pushes with `not_before_ms <= now_ms`, oldest first, making them due
/// again at `until_ms`.
pub(super) fn claim_due(
    conn: &mut Connection,
    now_ms: i64,
    limit: i64,
    until_ms: i64,
) -> rusqlite::Result<Vec<OutboxEntry>> {
    let tx = conn.savepoint()?;
    let mut entries = {
        let mut statement = tx.prepare_cached(
            "SELECT id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms
             FROM outbox WHERE not_before_ms <= ?1 ORDER BY not_before_ms, id LIMIT ?2",
        )?;
        let rows = statement.query_map(params![now_ms, limit], entry)?;
        rows.collect::<rusqlite::Result<Vec<_>>>()?
    };
    {
        let mut update = tx.prepare_cached("UPDATE outbox SET not_before_ms = ?2 WHERE id = ?1")?;
        for entry in &mut entries {
            update.execute([entry.id, until_ms])?;
            entry.not_before_ms = until_ms;
        }
    }
    tx.commit()?;
    Ok(entries)
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
