//! The push outbox ([`Outbox`] for [`SqliteStore`]): pending pushes, written with the watermark
//! and unread count that follow their events (fenced by the mailbox's lease when asked), and
//! claimed by the senders, each by the node sending it (`claimed_by`, given back by `leave` in
//! `nodes`).

use async_trait::async_trait;
use rusqlite::{Connection, Row, params};

use super::tenants::tenant_id;
use super::{SqliteStore, leases, mailboxes, now_ms};
use crate::cluster::{Fenced, NodeId, node_record, sql_limit};
use crate::model::{Checkpoint, OutboxEntry, PendingPush};
use crate::{Outbox, StoreError, check};

#[async_trait]
impl Outbox for SqliteStore {
    async fn enqueue(
        &self,
        pushes: &[PendingPush],
        not_before_ms: i64,
        checkpoint: Option<Checkpoint<'_>>,
    ) -> Result<Vec<i64>, StoreError> {
        const OP: &str = "enqueue";
        let pushes = check::pushes(OP, pushes)?;
        let mark = match checkpoint {
            Some(checkpoint) => Some(Mark {
                tenant: checkpoint.tenant.to_string(),
                mailbox: check::mailbox(OP, checkpoint.mailbox)?,
                watermark: checkpoint.watermark.map(str::to_owned),
                unread: checkpoint.unread,
                holder: checkpoint.holder.cloned(),
            }),
            None => None,
        };
        let record = check::enqueued(
            &pushes,
            mark.as_ref()
                .map(|m| (m.tenant.as_str(), m.mailbox.as_str())),
        );
        let answer = self
            .call(
                OP,
                || record.clone(),
                move |c| enqueue(c, &pushes, not_before_ms, mark.as_ref(), now_ms()),
            )
            .await?;
        answer.map_err(|fenced| fenced.into_conflict(OP, record))
    }

    async fn claim_due(
        &self,
        node: &NodeId,
        now_ms: i64,
        limit: usize,
        until_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let record = format!("for {} at {now_ms}", node_record(node));
        let (node, limit) = (node.to_string(), sql_limit(limit));
        self.call(
            "claim due pushes",
            || record,
            move |c| claim_due(c, &node, now_ms, limit, until_ms),
        )
        .await
    }

    async fn complete(&self, id: i64) -> Result<bool, StoreError> {
        self.call(
            "complete push",
            || format!("push {id}"),
            move |c| complete(c, id),
        )
        .await
    }

    async fn retry_later(&self, id: i64, not_before_ms: i64) -> Result<bool, StoreError> {
        self.call(
            "retry push",
            || format!("push {id}"),
            move |c| retry_later(c, id, not_before_ms),
        )
        .await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        self.call("count pushes", String::new, |c| len(c)).await
    }
}

/// A checkpoint to write: the tenant, the mailbox, its watermark and unread count, and the
/// node that must hold its lease.
struct Mark {
    tenant: String,
    mailbox: String,
    watermark: Option<String>,
    unread: Option<u32>,
    holder: Option<NodeId>,
}

/// Inserts the pushes, due at `not_before_ms` (claimed by the checkpoint's holder, if any), and
/// writes the checkpoint, in one transaction; nothing when the checkpoint's holder does not
/// hold the mailbox's lease.
fn enqueue(
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
    // The holder sends them itself: they are its claim.
    let claimed_by = checkpoint.and_then(|mark| mark.holder.as_ref().map(NodeId::as_str));
    let mut ids = Vec::with_capacity(pushes.len());
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO outbox (device_id, tenant, mailbox, payload, seen_at_ms, not_before_ms,
                                 claimed_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
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
                    not_before_ms,
                    claimed_by
                ],
                |row| row.get(0),
            )?;
            ids.push(id);
        }
    }
    if let Some(mark) = checkpoint {
        mailboxes::save_checkpoint(
            &tx,
            &mark.tenant,
            &mark.mailbox,
            mark.watermark.as_deref(),
            mark.unread,
            now_ms,
        )?;
    }
    tx.commit()?;
    Ok(Ok(ids))
}

/// Claims for `node` at most `limit` pushes with `not_before_ms <= now_ms`, oldest first,
/// making them due again at `until_ms`.
fn claim_due(
    conn: &mut Connection,
    node: &str,
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
        let mut update = tx.prepare_cached(
            "UPDATE outbox SET not_before_ms = ?2, claimed_by = ?3 WHERE id = ?1",
        )?;
        for entry in &mut entries {
            update.execute(params![entry.id, until_ms, node])?;
            entry.not_before_ms = until_ms;
        }
    }
    tx.commit()?;
    Ok(entries)
}

fn complete(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM outbox WHERE id = ?1")?
        .execute([id])?
        > 0)
}

fn retry_later(conn: &Connection, id: i64, not_before_ms: i64) -> rusqlite::Result<bool> {
    let updated = conn
        .prepare_cached(
            "UPDATE outbox SET attempts = attempts + 1, not_before_ms = ?2, claimed_by = NULL
             WHERE id = ?1",
        )?
        .execute([id, not_before_ms])?;
    Ok(updated > 0)
}

fn len(conn: &Connection) -> rusqlite::Result<u64> {
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
