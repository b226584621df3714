//! The outbox: pushes between "event seen" and "push accepted", read with `FOR UPDATE SKIP LOCKED`.

use async_trait::async_trait;

use super::shared::{OUTBOX_COLUMNS, count, entry, save_watermark, settle};
use super::{PostgresStore, now_ms};
use crate::model::{OutboxEntry, PendingPush, TenantId};
use crate::{Outbox, StoreError, check};

#[async_trait]
impl Outbox for PostgresStore {
    async fn enqueue(
        &self,
        pushes: &[PendingPush],
        watermark: Option<(&TenantId, &str, &str)>,
    ) -> Result<Vec<i64>, StoreError> {
        const OP: &str = "enqueue";
        let pushes = check::pushes(OP, pushes)?;
        let mark = match watermark {
            Some((tenant, mailbox, watermark)) => {
                Some((tenant.as_str(), check::mailbox(OP, mailbox)?, watermark))
            }
            None => None,
        };
        let record = match (&mark, pushes.first()) {
            (Some((tenant, mailbox, _)), _) => format!(
                "{} pushes for mailbox {mailbox} of tenant {tenant}",
                pushes.len()
            ),
            (None, Some(first)) => format!(
                "{} pushes, the first for mailbox {}",
                pushes.len(),
                first.mailbox
            ),
            (None, None) => "nothing".to_owned(),
        };
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let insert = tx
                .prepare(
                    "INSERT INTO outbox
                         (device_id, tenant, mailbox, payload, seen_at_ms, not_before_ms)
                     VALUES ($1, $2, $3, $4, $5, $5)
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
                        ],
                    )
                    .await?;
                ids.push(row.try_get(0)?);
            }
            if let Some((tenant, mailbox, watermark)) = &mark {
                save_watermark(&tx, tenant, mailbox, watermark, now_ms()).await?;
            }
            tx.commit().await?;
            Ok(ids)
        }
        .await;
        settle(OP, record, result)
    }

    async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        const OP: &str = "read due pushes";
        let record = format!("at {now_ms}");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // Rows another node is reading right now are skipped, not waited for.
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE not_before_ms <= $1
                 ORDER BY not_before_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED"
            );
            let rows = tx.query(&sql, &[&now_ms, &limit]).await?;
            let entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
            tx.commit().await?;
            Ok(entries)
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
            "UPDATE outbox SET attempts = attempts + 1, not_before_ms = $2 WHERE id = $1",
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
