//! The outbox: pushes between "event seen" and "push accepted", written with the mailbox's
//! watermark and unread count, fenced by its lease, and claimed with `FOR UPDATE SKIP LOCKED`,
//! each by the node sending it (`claimed_by`, given back by `leave` in `leases`).

use async_trait::async_trait;

use super::leases::fence;
use super::shared::{OUTBOX_COLUMNS, count, entry, save_checkpoint, settle};
use super::{Failure, PostgresStore, now_ms};
use crate::cluster::{node_record, sql_limit};
use crate::model::{Checkpoint, OutboxEntry, PendingPush};
use crate::{NodeId, Outbox, StoreError, check};

#[async_trait]
impl Outbox for PostgresStore {
    async fn enqueue(
        &self,
        pushes: &[PendingPush],
        not_before_ms: i64,
        checkpoint: Option<Checkpoint<'_>>,
    ) -> Result<Vec<i64>, StoreError> {
        const OP: &str = "enqueue";
        let pushes = check::pushes(OP, pushes)?;
        let mailbox = match checkpoint {
            Some(checkpoint) => Some(check::mailbox(OP, checkpoint.mailbox)?),
            None => None,
        };
        let at = checkpoint
            .zip(mailbox.as_deref())
            .map(|(checkpoint, mailbox)| (checkpoint.tenant.as_str(), mailbox));
        let record = check::enqueued(&pushes, at);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            if let Some((checkpoint, (tenant, mailbox))) = checkpoint.zip(at)
                && let Some(node) = checkpoint.holder
                && let Err(fenced) = fence(&tx, node, tenant, mailbox).await?
            {
                return Ok(Err(fenced));
            }
            // The holder sends them itself: they are its claim.
            let claimed_by = checkpoint.and_then(|c| c.holder).map(NodeId::as_str);
            let insert = tx
                .prepare(
                    "INSERT INTO outbox (device_id, tenant, mailbox, payload, seen_at_ms,
                                         not_before_ms, claimed_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     RETURNING id",
                )
                .await?;
            let mut ids = Vec::with_capacity(pushes.len());
            for push in &pushes {
                let row = tx
                    .query_one(
                        &insert,
                        &[
                            &push.device_id,
                            &push.tenant.as_str(),
                            &push.mailbox,
                            &push.payload,
                            &push.seen_at_ms,
                            &not_before_ms,
                            &claimed_by,
                        ],
                    )
                    .await?;
                ids.push(row.try_get(0)?);
            }
            if let Some((checkpoint, (tenant, mailbox))) = checkpoint.zip(at) {
                save_checkpoint(
                    &tx,
                    tenant,
                    mailbox,
                    checkpoint.watermark,
                    checkpoint.unread,
                    now_ms(),
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Ok(ids))
        }
        .await;
        settle(OP, record.clone(), result)?.map_err(|fenced| fenced.into_conflict(OP, record))
    }

    async fn claim_due(
        &self,
        node: &NodeId,
        now_ms: i64,
        limit: usize,
        until_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        const OP: &str = "claim due pushes";
        let record = format!("for {} at {now_ms}", node_record(node));
        let limit = sql_limit(limit);
        let client = self.client(OP, &record).await?;
        let result = async {
            // Rows another node is claiming right now are skipped, not waited for; a row it
            // claimed meanwhile is due no more when its new version is checked again.
            let sql = format!(
                "WITH picked AS (
                     SELECT id AS picked, not_before_ms AS was FROM outbox
                     WHERE not_before_ms <= $1
                     ORDER BY not_before_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED
                 )
                 UPDATE outbox SET not_before_ms = $3, claimed_by = $4
                 FROM picked WHERE id = picked
                 RETURNING {OUTBOX_COLUMNS}, was"
            );
            let rows = client
                .query(&sql, &[&now_ms, &limit, &until_ms, &node.as_str()])
                .await?;
            let mut claimed = rows
                .iter()
                .map(|row| Ok((row.try_get::<_, i64>(8)?, entry(row)?)))
                .collect::<Result<Vec<_>, Failure>>()?;
            claimed.sort_by_key(|(was, entry)| (*was, entry.id));
            Ok(claimed.into_iter().map(|(_, entry)| entry).collect())
        }
        .await;
        settle(OP, record, result)
    }

    async fn complete(&self, id: i64) -> Result<bool, StoreError> {
        const OP: &str = "complete push";
        let record = format!("push {id}");
        self.change(OP, record, "DELETE FROM outbox WHERE id = $1", &[&id])
            .await
    }

    async fn retry_later(&self, id: i64, not_before_ms: i64) -> Result<bool, StoreError> {
        const OP: &str = "retry push";
        let record = format!("push {id}");
        self.change(
            OP,
            record,
            "UPDATE outbox SET attempts = attempts + 1, not_before_ms = $2, claimed_by = NULL
             WHERE id = $1",
            &[&id, &not_before_ms],
        )
        .await
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        const OP: &str = "count pushes";
        let client = self.client(OP, "").await?;
        let result =
            async { count(&client.query_one("SELECT count(*) FROM outbox", &[]).await?) }.await;
        settle(OP, String::new(), result)
    }
}
