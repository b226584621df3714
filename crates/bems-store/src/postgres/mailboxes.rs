//! Watched mailboxes: where they are, their watermarks and last unread counts.

use async_trait::async_trait;

use super::shared::{MAILBOX_COLUMNS, mailbox_record, save_watermark, settle, unsigned};
use super::{Failure, PostgresStore, now_ms};
use crate::model::{MailboxRecord, TenantId};
use crate::{MailboxStore, StoreError, check};

#[async_trait]
impl MailboxStore for PostgresStore {
    async fn upsert_mailbox(&self, record: &MailboxRecord) -> Result<(), StoreError> {
        const OP: &str = "save mailbox";
        let mailbox = check::mailbox(OP, &record.mailbox)?;
        let shown = check::in_mailbox(&record.tenant, &mailbox);
        let client = self.client(OP, &shown).await?;
        let result = client
            .execute(
                "INSERT INTO mailboxes (tenant, mailbox, ews_url, grouping, watermark, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, mailbox) DO UPDATE SET
                     ews_url = excluded.ews_url, grouping = excluded.grouping,
                     watermark = coalesce(excluded.watermark, mailboxes.watermark),
                     updated_at_ms = excluded.updated_at_ms",
                &[
                    &record.tenant.as_str(),
                    &mailbox,
                    &record.ews_url,
                    &record.grouping,
                    &record.watermark,
                    &now_ms(),
                ],
            )
            .await
            .map(drop)
            .map_err(Failure::from);
        settle(OP, shown, result)
    }

    async fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError> {
        const OP: &str = "list mailboxes";
        let client = self.client(OP, "").await?;
        let result = async {
            let sql = format!("SELECT {MAILBOX_COLUMNS} FROM mailboxes ORDER BY tenant, mailbox");
            let rows = client.query(&sql, &[]).await?;
            rows.iter().map(mailbox_record).collect()
        }
        .await;
        settle(OP, String::new(), result)
    }

    async fn mailbox(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        const OP: &str = "read mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE tenant = $1 AND mailbox = $2"
            );
            let row = client
                .query_opt(&sql, &[&tenant.as_str(), &mailbox])
                .await?;
            row.as_ref().map(mailbox_record).transpose()
        }
        .await;
        settle(OP, record, result)
    }

    async fn remove_mailbox(&self, tenant: &TenantId, mailbox: &str) -> Result<bool, StoreError> {
        const OP: &str = "remove mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        self.change(
            OP,
            record,
            "DELETE FROM mailboxes WHERE tenant = $1 AND mailbox = $2",
            &[&tenant.as_str(), &mailbox],
        )
        .await
    }

    async fn save_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        watermark: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "save watermark";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = save_watermark(&client, tenant.as_str(), &mailbox, watermark, now_ms()).await;
        settle(OP, record, result)
    }

    async fn load_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "load watermark";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = async {
            let row = client
                .query_opt(
                    "SELECT watermark FROM mailboxes WHERE tenant = $1 AND mailbox = $2",
                    &[&tenant.as_str(), &mailbox],
                )
                .await?;
            Ok(row
                .map(|row| row.try_get::<_, Option<String>>(0))
                .transpose()?
                .flatten())
        }
        .await;
        settle(OP, record, result)
    }

    async fn unread_counts(&self, tenant: &TenantId) -> Result<Vec<(String, u32)>, StoreError> {
        const OP: &str = "list unread counts";
        let record = format!("of tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    "SELECT mailbox, unread FROM mailboxes
                     WHERE tenant = $1 AND unread IS NOT NULL ORDER BY mailbox",
                    &[&tenant.as_str()],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, unsigned(row, 1)?)))
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn unread_counts_of(
        &self,
        tenant: &TenantId,
        mailboxes: &[String],
    ) -> Result<Vec<(String, u32)>, StoreError> {
        const OP: &str = "list unread counts";
        let mut asked = mailboxes
            .iter()
            .map(|mailbox| check::mailbox(OP, mailbox))
            .collect::<Result<Vec<_>, StoreError>>()?;
        asked.sort_unstable();
        asked.dedup();
        let record = format!("of {} mailboxes of tenant {tenant}", asked.len());
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    "SELECT mailbox, unread FROM mailboxes
                     WHERE tenant = $1 AND mailbox = ANY($2) AND unread IS NOT NULL",
                    &[&tenant.as_str(), &asked],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, unsigned(row, 1)?)))
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn save_unread_counts(
        &self,
        tenant: &TenantId,
        counts: &[(String, u32)],
    ) -> Result<(), StoreError> {
        const OP: &str = "save unread counts";
        let counts = counts
            .iter()
            .map(|(mailbox, unread)| Ok((check::mailbox(OP, mailbox)?, i64::from(*unread))))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let record = format!("{} mailboxes of tenant {tenant}", counts.len());
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let update = tx
                .prepare("UPDATE mailboxes SET unread = $3 WHERE tenant = $1 AND mailbox = $2")
                .await?;
            for (mailbox, unread) in &counts {
                tx.execute(&update, &[&tenant.as_str(), mailbox, unread])
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        settle(OP, record, result)
    }
}
