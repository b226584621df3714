//! The relay: subscriptions the watching nodes published, and notes any node accepted for a
//! mailbox, read by the node holding its lease (timed by the database's clock, [`CLOCK`], read
//! once per statement).

use async_trait::async_trait;
use tokio_postgres::Row;

use super::shared::{settle, tenant_id};
use super::{CLOCK, Failure, PostgresStore};
use crate::cluster::{node_record, sql_limit};
use crate::model::TenantId;
use crate::relay::{self, notes_record, subscription_record};
use crate::{NodeId, Relay, RelayedNote, SharedSubscription, StoreError};

#[async_trait]
impl Relay for PostgresStore {
    async fn share_subscription(
        &self,
        subscription: &SharedSubscription,
    ) -> Result<(), StoreError> {
        const OP: &str = "share subscription";
        let subscription = relay::subscription(OP, subscription)?;
        let record = subscription_record(&subscription.tenant, &subscription.id);
        let client = self.client(OP, &record).await?;
        let result = client
            .execute(
                "INSERT INTO shared_subscriptions (tenant, id, mailbox, digest)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, id) DO UPDATE SET
                     mailbox = excluded.mailbox, digest = excluded.digest",
                &[
                    &subscription.tenant.as_str(),
                    &subscription.id,
                    &subscription.mailbox,
                    &subscription.digest,
                ],
            )
            .await
            .map(drop)
            .map_err(Failure::from);
        settle(OP, record, result)
    }

    async fn unshare_subscription(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        self.change(
            "unshare subscription",
            subscription_record(tenant, id),
            "DELETE FROM shared_subscriptions WHERE tenant = $1 AND id = $2",
            &[&tenant.as_str(), &id],
        )
        .await
    }

    async fn shared_subscriptions(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<SharedSubscription>, StoreError> {
        const OP: &str = "read shared subscriptions";
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut asked = ids.to_vec();
        asked.sort_unstable();
        asked.dedup();
        let record = format!("{} subscriptions of tenant {tenant}", asked.len());
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    "SELECT tenant, id, mailbox, digest FROM shared_subscriptions
                     WHERE tenant = $1 AND id = ANY($2)",
                    &[&tenant.as_str(), &asked],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(SharedSubscription {
                        tenant: tenant_id(row, 0)?,
                        id: row.try_get(1)?,
                        mailbox: row.try_get(2)?,
                        digest: row.try_get(3)?,
                    })
                })
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn relay(
        &self,
        tenant: &TenantId,
        notes: &[(String, String)],
        at_ms: i64,
    ) -> Result<(), StoreError> {
        const OP: &str = "relay notes";
        if notes.is_empty() {
            return Ok(());
        }
        let notes = relay::notes(OP, notes)?;
        let record = notes_record(notes.len(), tenant);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // One insert after the other: their ids follow the order given.
            let insert = tx
                .prepare(
                    "INSERT INTO relayed (tenant, mailbox, body, at_ms) VALUES ($1, $2, $3, $4)",
                )
                .await?;
            for (mailbox, body) in &notes {
                tx.execute(&insert, &[&tenant.as_str(), mailbox, body, &at_ms])
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        settle(OP, record, result)
    }

    async fn relayed_to(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<RelayedNote>, StoreError> {
        const OP: &str = "read relayed notes";
        let record = format!("of tenant {tenant} for {}", node_record(node));
        let limit = sql_limit(limit);
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    RELAYED_TO.as_str(),
                    &[&node.as_str(), &tenant.as_str(), &limit],
                )
                .await?;
            rows.iter().map(note).collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn drop_relayed(&self, ids: &[i64]) -> Result<u64, StoreError> {
        const OP: &str = "drop relayed notes";
        if ids.is_empty() {
            return Ok(0);
        }
        let record = format!("{} notes", ids.len());
        let client = self.client(OP, &record).await?;
        let result = client
            .execute("DELETE FROM relayed WHERE id = ANY($1)", &[&ids])
            .await
            .map_err(Failure::from);
        settle(OP, record, result)
    }

    async fn expire_relayed(&self, tenant: &TenantId, before_ms: i64) -> Result<u64, StoreError> {
        const OP: &str = "expire relayed notes";
        let record = format!("of tenant {tenant} before {before_ms}");
        let client = self.client(OP, &record).await?;
        let result = client
            .execute(
                "DELETE FROM relayed WHERE tenant = $1 AND at_ms < $2",
                &[&tenant.as_str(), &before_ms],
            )
            .await
            .map_err(Failure::from);
        settle(OP, record, result)
    }
}

/// At most `$3` of tenant `$2`'s notes for the mailboxes whose unexpired lease node `$1` holds,
/// by id: from the node's leases (`mailboxes_by_holder`) to their notes (`relayed_by_mailbox`).
static RELAYED_TO: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
         SELECT r.id, r.tenant, r.mailbox, r.body, r.at_ms
         FROM clock, mailboxes m
              JOIN relayed r ON r.tenant = m.tenant AND r.mailbox = m.mailbox
         WHERE m.holder = $1 AND m.lease_until_ms > clock.ms AND m.tenant = $2
         ORDER BY r.id
         LIMIT $3"
    )
});

fn note(row: &Row) -> Result<RelayedNote, Failure> {
    Ok(RelayedNote {
        id: row.try_get(0)?,
        tenant: tenant_id(row, 1)?,
        mailbox: row.try_get(2)?,
        body: row.try_get(3)?,
        at_ms: row.try_get(4)?,
    })
}
