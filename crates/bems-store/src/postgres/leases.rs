//! Mailbox leases and the cluster's nodes, timed by the database's clock ([`CLOCK`]); a node
//! that leaves gives back its leases and the pushes it claimed.
//!
//! A statement reads the clock once (`WITH clock AS MATERIALIZED`), so what it compares and
//! what it writes agree. Claims select free mailboxes `FOR UPDATE SKIP LOCKED` and check again,
//! as they update, that nobody holds them: two nodes claiming at once are handed different
//! mailboxes, and a mailbox another node took meanwhile is left to it.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::shared::{MAILBOX_COLUMNS, count, mailbox_record, settle, tenant_id, unsigned};
use super::{CLOCK, Failure, PostgresStore};
use crate::cluster::{Fenced, check_beat, node_record, sort_claimed, sql_limit, ttl_ms};
use crate::model::{MailboxRecord, TenantId};
use crate::{Leases, NodeBeat, NodeId, NodeRecord, StoreError, check};

#[async_trait]
impl Leases for PostgresStore {
    async fn heartbeat(
        &self,
        beat: &NodeBeat,
        ttl: Duration,
    ) -> Result<Vec<NodeRecord>, StoreError> {
        const OP: &str = "heartbeat";
        let record = node_record(&beat.node);
        check_beat(OP, beat)?;
        let ttl = ttl_ms(OP, &record, ttl)?;
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // Gone for more than ten of its ttls (the ttl is alive_until_ms - heartbeat_at_ms).
            let forget = format!(
                "DELETE FROM nodes
                 WHERE alive_until_ms + 10 * (alive_until_ms - heartbeat_at_ms) < {CLOCK}
                   AND node <> $1"
            );
            tx.execute(&forget, &[&beat.node.as_str()]).await?;
            // A node that was not alive any more starts a new run.
            let upsert = format!(
                "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
                 INSERT INTO nodes (node, capacity, started_at_ms, heartbeat_at_ms, alive_until_ms, url)
                 SELECT $1::text, $2::bigint, clock.ms, clock.ms, clock.ms + $3::bigint, $4::text
                 FROM clock
                 ON CONFLICT (node) DO UPDATE SET
                     capacity = excluded.capacity, url = excluded.url,
                     started_at_ms = CASE WHEN nodes.alive_until_ms > excluded.heartbeat_at_ms
                                          THEN nodes.started_at_ms ELSE excluded.started_at_ms END,
                     heartbeat_at_ms = excluded.heartbeat_at_ms,
                     alive_until_ms = excluded.alive_until_ms"
            );
            let capacity = i64::from(beat.capacity);
            tx.execute(
                &upsert,
                &[&beat.node.as_str(), &capacity, &ttl, &beat.url],
            )
            .await?;
            let nodes = list(&tx).await?;
            tx.commit().await?;
            Ok(nodes)
        }
        .await;
        settle(OP, record, result)
    }

    async fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        const OP: &str = "list nodes";
        let client = self.client(OP, "").await?;
        settle(OP, String::new(), list(&client).await)
    }

    async fn renew(
        &self,
        node: &NodeId,
        ttl: Duration,
    ) -> Result<Vec<(TenantId, String)>, StoreError> {
        const OP: &str = "renew leases";
        let record = node_record(node);
        let ttl = ttl_ms(OP, &record, ttl)?;
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
                 UPDATE mailboxes SET lease_until_ms = clock.ms + $2, leased_at_ms = clock.ms
                 FROM clock
                 WHERE holder = $1 AND lease_until_ms > clock.ms
                 RETURNING tenant, mailbox"
            );
            let rows = client.query(&sql, &[&node.as_str(), &ttl]).await?;
            let mut held = rows
                .iter()
                .map(|row| Ok((tenant_id(row, 0)?, row.try_get::<_, String>(1)?)))
                .collect::<Result<Vec<_>, Failure>>()?;
            held.sort();
            Ok(held)
        }
        .await;
        settle(OP, record, result)
    }

    async fn claim(
        &self,
        node: &NodeId,
        ttl: Duration,
        limit: usize,
    ) -> Result<Vec<MailboxRecord>, StoreError> {
        const OP: &str = "claim mailboxes";
        let record = format!("for {}", node_record(node));
        let ttl = ttl_ms(OP, &record, ttl)?;
        let limit = sql_limit(limit);
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(CLAIM.as_str(), &[&node.as_str(), &ttl, &limit])
                .await?;
            let mut claimed = rows
                .iter()
                .map(mailbox_record)
                .collect::<Result<Vec<_>, _>>()?;
            sort_claimed(&mut claimed);
            Ok(claimed)
        }
        .await;
        settle(OP, record, result)
    }

    async fn claim_mailbox(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        mailbox: &str,
        ttl: Duration,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        const OP: &str = "claim mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = format!(
            "{} for {}",
            check::in_mailbox(tenant, &mailbox),
            node_record(node)
        );
        let ttl = ttl_ms(OP, &record, ttl)?;
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
                 UPDATE mailboxes SET holder = $1, lease_until_ms = clock.ms + $4,
                                      leased_at_ms = clock.ms
                 FROM clock
                 WHERE tenant = $2 AND mailbox = $3
                   AND (holder IS NULL OR holder = $1 OR lease_until_ms <= clock.ms)
                 RETURNING {MAILBOX_COLUMNS}"
            );
            let row = client
                .query_opt(&sql, &[&node.as_str(), &tenant.as_str(), &mailbox, &ttl])
                .await?;
            row.as_ref().map(mailbox_record).transpose()
        }
        .await;
        settle(OP, record, result)
    }

    async fn release(
        &self,
        node: &NodeId,
        mailboxes: &[(TenantId, String)],
    ) -> Result<u64, StoreError> {
        const OP: &str = "release mailboxes";
        let mut asked = mailboxes
            .iter()
            .map(|(tenant, mailbox)| Ok((tenant.to_string(), check::mailbox(OP, mailbox)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        asked.sort_unstable();
        asked.dedup();
        let record = format!("{} mailboxes of {}", asked.len(), node_record(node));
        let (tenants, names): (Vec<String>, Vec<String>) = asked.into_iter().unzip();
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
                 UPDATE mailboxes SET holder = NULL, lease_until_ms = NULL, leased_at_ms = NULL
                 FROM clock
                 WHERE holder = $1 AND lease_until_ms > clock.ms
                   AND (tenant, mailbox) IN (SELECT * FROM unnest($2::text[], $3::text[]))"
            );
            Ok(client
                .execute(&sql, &[&node.as_str(), &tenants, &names])
                .await?)
        }
        .await;
        settle(OP, record, result)
    }

    async fn leave(&self, node: &NodeId) -> Result<(), StoreError> {
        const OP: &str = "leave";
        let record = node_record(node);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // Its pushes, due now for any node (a claim that ran out keeps its earlier time).
            // The outbox's rows are locked before the mailboxes', as delete_tenant does.
            let give_back = format!(
                "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms)
                 UPDATE outbox SET claimed_by = NULL, not_before_ms = least(not_before_ms, clock.ms)
                 FROM clock
                 WHERE claimed_by = $1"
            );
            tx.execute(&give_back, &[&node.as_str()]).await?;
            tx.execute(
                "UPDATE mailboxes SET holder = NULL, lease_until_ms = NULL, leased_at_ms = NULL
                 WHERE holder = $1",
                &[&node.as_str()],
            )
            .await?;
            tx.execute("DELETE FROM nodes WHERE node = $1", &[&node.as_str()])
                .await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        settle(OP, record, result)
    }

    async fn holder(&self, tenant: &TenantId, mailbox: &str) -> Result<Option<NodeId>, StoreError> {
        const OP: &str = "read lease holder";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "SELECT holder FROM mailboxes
                 WHERE tenant = $1 AND mailbox = $2 AND holder IS NOT NULL
                   AND lease_until_ms > {CLOCK}"
            );
            let row = client
                .query_opt(&sql, &[&tenant.as_str(), &mailbox])
                .await?;
            row.map(|row| node_id(&row, 0)).transpose()
        }
        .await;
        settle(OP, record, result)
    }

    async fn mailbox_count(&self) -> Result<u64, StoreError> {
        const OP: &str = "count mailboxes";
        let client = self.client(OP, "").await?;
        let result = async {
            count(
                &client
                    .query_one("SELECT count(*) FROM mailboxes", &[])
                    .await?,
            )
        }
        .await;
        settle(OP, String::new(), result)
    }
}

/// The claim: free mailboxes of `$1`'s groups first, then in (tenant, grouping, mailbox) order,
/// the groups other nodes hold last; `$2` the ttl, `$3` the limit.
static CLAIM: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms),
         mine AS (
             SELECT DISTINCT tenant, grouping FROM mailboxes, clock
             WHERE holder = $1 AND lease_until_ms > clock.ms AND grouping IS NOT NULL
         ),
         theirs AS (
             SELECT DISTINCT tenant, grouping FROM mailboxes, clock
             WHERE holder <> $1 AND lease_until_ms > clock.ms AND grouping IS NOT NULL
         ),
         picked AS (
             SELECT m.tenant AS picked_tenant, m.mailbox AS picked_mailbox
             FROM mailboxes m, clock
             WHERE m.holder IS NULL OR m.lease_until_ms <= clock.ms
             ORDER BY
                 CASE WHEN EXISTS (SELECT 1 FROM mine g
                                   WHERE g.tenant = m.tenant AND g.grouping = m.grouping) THEN 0
                      WHEN EXISTS (SELECT 1 FROM theirs g
                                   WHERE g.tenant = m.tenant AND g.grouping = m.grouping) THEN 2
                      ELSE 1 END,
                 m.tenant, m.grouping COLLATE "C" NULLS LAST, m.mailbox
             LIMIT $3
             FOR UPDATE OF m SKIP LOCKED
         )
         UPDATE mailboxes SET holder = $1, lease_until_ms = clock.ms + $2, leased_at_ms = clock.ms
         FROM picked, clock
         WHERE tenant = picked_tenant AND mailbox = picked_mailbox
           AND (holder IS NULL OR lease_until_ms <= clock.ms)
         RETURNING {MAILBOX_COLUMNS}"#
    )
});

/// Every node known, by id, with its unexpired leases counted.
async fn list(client: &impl GenericClient) -> Result<Vec<NodeRecord>, Failure> {
    let sql = format!(
        "WITH clock AS MATERIALIZED (SELECT {CLOCK} AS ms),
         leases AS (
             SELECT holder, count(*) AS held, min(leased_at_ms) AS oldest
             FROM mailboxes, clock
             WHERE holder IS NOT NULL AND lease_until_ms > clock.ms
             GROUP BY holder
         )
         SELECT n.node, n.capacity, n.url, n.started_at_ms, n.heartbeat_at_ms,
                n.alive_until_ms > clock.ms, coalesce(l.held, 0), clock.ms - l.oldest
         FROM nodes n CROSS JOIN clock LEFT JOIN leases l ON l.holder = n.node
         ORDER BY n.node"
    );
    let rows = client.query(&sql, &[]).await?;
    rows.iter().map(node_row).collect()
}

fn node_row(row: &Row) -> Result<NodeRecord, Failure> {
    let held: i64 = row.try_get(6)?;
    Ok(NodeRecord {
        node: node_id(row, 0)?,
        capacity: unsigned(row, 1)?,
        url: row.try_get(2)?,
        started_at_ms: row.try_get(3)?,
        heartbeat_at_ms: row.try_get(4)?,
        alive: row.try_get(5)?,
        mailboxes: u64::try_from(held)
            .map_err(|_| Failure::Unreadable(format!("{held} is not a count")))?,
        oldest_lease_age_ms: row.try_get(7)?,
    })
}

fn node_id(row: &Row, column: usize) -> Result<NodeId, Failure> {
    let text: String = row.try_get(column)?;
    NodeId::new(text).map_err(|error| Failure::Unreadable(error.to_string()))
}

/// Whether `node` may write for `mailbox` now (fencing); the mailbox's row stays locked until
/// the transaction ends, so no other node takes it meanwhile.
pub(super) async fn fence(
    tx: &deadpool_postgres::Transaction<'_>,
    node: &NodeId,
    tenant: &str,
    mailbox: &str,
) -> Result<Result<(), Fenced>, Failure> {
    // The clock is read once the row is locked.
    let sql = format!(
        "SELECT holder, coalesce(lease_until_ms > {CLOCK}, false)
         FROM (SELECT holder, lease_until_ms FROM mailboxes
               WHERE tenant = $1 AND mailbox = $2 FOR UPDATE) AS locked"
    );
    let row = tx.query_opt(&sql, &[&tenant, &mailbox]).await?;
    let (holder, unexpired): (Option<String>, bool) = match row {
        Some(row) => (row.try_get(0)?, row.try_get(1)?),
        None => (None, false),
    };
    Ok(Fenced::check(node, holder.as_deref(), unexpired))
}
