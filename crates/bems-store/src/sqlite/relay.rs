//! The relay ([`Relay`] for [`SqliteStore`]): subscriptions the watching nodes published, and
//! notes accepted for a mailbox, read by the node holding its lease (timed by the system clock,
//! read on the store's thread when the operation runs).

use async_trait::async_trait;
use rusqlite::{Connection, Row, params, params_from_iter};

use super::tenants::tenant_id;
use super::{SqliteStore, now_ms};
use crate::cluster::{node_record, sql_limit};
use crate::model::TenantId;
use crate::relay::{self, notes_record, subscription_record};
use crate::{NodeId, Relay, RelayedNote, SharedSubscription, StoreError};

#[async_trait]
impl Relay for SqliteStore {
    async fn share_subscription(
        &self,
        subscription: &SharedSubscription,
    ) -> Result<(), StoreError> {
        const OP: &str = "share subscription";
        let subscription = relay::subscription(OP, subscription)?;
        let record = subscription_record(&subscription.tenant, &subscription.id);
        self.call(OP, || record, move |c| share(c, &subscription))
            .await
    }

    async fn unshare_subscription(&self, tenant: &TenantId, id: &str) -> Result<bool, StoreError> {
        let record = subscription_record(tenant, id);
        let (tenant, id) = (tenant.to_string(), id.to_owned());
        self.call(
            "unshare subscription",
            || record,
            move |c| unshare(c, &tenant, &id),
        )
        .await
    }

    async fn shared_subscriptions(
        &self,
        tenant: &TenantId,
        ids: &[String],
    ) -> Result<Vec<SharedSubscription>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut asked = ids.to_vec();
        asked.sort_unstable();
        asked.dedup();
        let record = format!("{} subscriptions of tenant {tenant}", asked.len());
        let tenant = tenant.to_string();
        self.call(
            "read shared subscriptions",
            || record,
            move |c| shared(c, &tenant, &asked),
        )
        .await
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
        let tenant = tenant.to_string();
        self.call(OP, || record, move |c| keep(c, &tenant, &notes, at_ms))
            .await
    }

    async fn relayed_to(
        &self,
        node: &NodeId,
        tenant: &TenantId,
        limit: usize,
    ) -> Result<Vec<RelayedNote>, StoreError> {
        let record = format!("of tenant {tenant} for {}", node_record(node));
        let (node, tenant, limit) = (node.to_string(), tenant.to_string(), sql_limit(limit));
        self.call(
            "read relayed notes",
            || record,
            move |c| relayed_to(c, &node, &tenant, limit, now_ms()),
        )
        .await
    }

    async fn drop_relayed(&self, ids: &[i64]) -> Result<u64, StoreError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let ids = ids.to_vec();
        let record = format!("{} notes", ids.len());
        self.call(
            "drop relayed notes",
            || record,
            move |c| drop_notes(c, &ids),
        )
        .await
    }

    async fn expire_relayed(&self, tenant: &TenantId, before_ms: i64) -> Result<u64, StoreError> {
        let record = format!("of tenant {tenant} before {before_ms}");
        let tenant = tenant.to_string();
        self.call(
            "expire relayed notes",
            || record,
            move |c| expire(c, &tenant, before_ms),
        )
        .await
    }
}

/// Publishes `subscription`, replacing the one with its (tenant, id).
fn share(conn: &Connection, subscription: &SharedSubscription) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO shared_subscriptions (tenant, id, mailbox, digest) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, id) DO UPDATE SET
             mailbox = excluded.mailbox, digest = excluded.digest",
    )?
    .execute(params![
        subscription.tenant.as_str(),
        subscription.id,
        subscription.mailbox,
        subscription.digest
    ])?;
    Ok(())
}

fn unshare(conn: &Connection, tenant: &str, id: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM shared_subscriptions WHERE tenant = ?1 AND id = ?2")?
        .execute([tenant, id])?;
    Ok(deleted > 0)
}

/// How many ids one statement of [`shared`] asks for.
const CHUNK: usize = 500;

/// The published subscriptions among `ids`, asked for in chunks.
fn shared(
    conn: &Connection,
    tenant: &str,
    ids: &[String],
) -> rusqlite::Result<Vec<SharedSubscription>> {
    let mut found = Vec::new();
    for chunk in ids.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT tenant, id, mailbox, digest FROM shared_subscriptions
             WHERE tenant = ? AND id IN ({marks})"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let asked = std::iter::once(tenant).chain(chunk.iter().map(String::as_str));
        let rows = statement.query_map(params_from_iter(asked), |row| {
            Ok(SharedSubscription {
                tenant: tenant_id(row, 0)?,
                id: row.get(1)?,
                mailbox: row.get(2)?,
                digest: row.get(3)?,
            })
        })?;
        for row in rows {
            found.push(row?);
        }
    }
    Ok(found)
}

/// Keeps the notes, accepted at `at_ms`, in one transaction (their ids in the order given).
fn keep(
    conn: &mut Connection,
    tenant: &str,
    notes: &[(String, String)],
    at_ms: i64,
) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO relayed (tenant, mailbox, body, at_ms) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (mailbox, body) in notes {
            insert.execute(params![tenant, mailbox, body, at_ms])?;
        }
    }
    tx.commit()
}

/// At most `limit` of `tenant`'s notes for the mailboxes whose unexpired lease `node` holds,
/// by id: from the node's leases (`mailboxes_by_holder`) to their notes (`relayed_by_mailbox`).
const RELAYED_TO: &str = "
    SELECT r.id, r.tenant, r.mailbox, r.body, r.at_ms
    FROM mailboxes m JOIN relayed r ON r.tenant = m.tenant AND r.mailbox = m.mailbox
    WHERE m.holder = ?1 AND m.lease_until_ms > ?3 AND m.tenant = ?2
    ORDER BY r.id
    LIMIT ?4";

fn relayed_to(
    conn: &Connection,
    node: &str,
    tenant: &str,
    limit: i64,
    now_ms: i64,
) -> rusqlite::Result<Vec<RelayedNote>> {
    let mut statement = conn.prepare_cached(RELAYED_TO)?;
    let rows = statement.query_map(params![node, tenant, now_ms, limit], note)?;
    rows.collect()
}

/// Removes the notes with `ids`; how many there were.
fn drop_notes(conn: &mut Connection, ids: &[i64]) -> rusqlite::Result<u64> {
    let tx = conn.savepoint()?;
    let mut dropped = 0;
    {
        let mut delete = tx.prepare_cached("DELETE FROM relayed WHERE id = ?1")?;
        for id in ids {
            dropped += delete.execute([id])? as u64;
        }
    }
    tx.commit()?;
    Ok(dropped)
}

fn expire(conn: &Connection, tenant: &str, before_ms: i64) -> rusqlite::Result<u64> {
    let expired = conn
        .prepare_cached("DELETE FROM relayed WHERE tenant = ?1 AND at_ms < ?2")?
        .execute(params![tenant, before_ms])?;
    Ok(expired as u64)
}

fn note(row: &Row<'_>) -> rusqlite::Result<RelayedNote> {
    Ok(RelayedNote {
        id: row.get(0)?,
        tenant: tenant_id(row, 1)?,
        mailbox: row.get(2)?,
        body: row.get(3)?,
        at_ms: row.get(4)?,
    })
}

#[cfg(test)]
mod tests {
    use super::RELAYED_TO;
    use crate::sqlite::testing::store;

    #[tokio::test]
    async fn notes_are_found_from_the_holders_leases_without_a_scan() {
        let store = store().await;
        let plan = store
            .call("explain", String::new, |c| {
                let mut statement = c.prepare(&format!("EXPLAIN QUERY PLAN {RELAYED_TO}"))?;
                let rows = statement.query_map(["node-a", "contoso", "0", "10"], |row| {
                    row.get::<_, String>(3)
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .await
            .unwrap();
        assert!(
            plan.iter().all(|step| !step.starts_with("SCAN")),
            "{plan:?}"
        );
        let plan = plan.join("\n");
        assert!(
            plan.contains("mailboxes_by_holder") && plan.contains("relayed_by_mailbox"),
            "{plan}"
        );
    }
}
