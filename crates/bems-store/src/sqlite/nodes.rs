//! The cluster's nodes: heartbeats, the cluster as the nodes see it, and leaving it.

use rusqlite::types::Type;
use rusqlite::{Connection, Row, params};

use super::unreadable;
use crate::cluster::{NodeBeat, NodeId, NodeRecord};

/// Forgets the nodes long gone, records `beat` (alive until `now_ms + ttl_ms`) and returns the
/// cluster.
pub(super) fn heartbeat(
    conn: &mut Connection,
    beat: &NodeBeat,
    ttl_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<Vec<NodeRecord>> {
    let tx = conn.savepoint()?;
    // Gone for more than ten of its ttls (the ttl is alive_until_ms - heartbeat_at_ms).
    tx.prepare_cached(
        "DELETE FROM nodes
         WHERE alive_until_ms + 10 * (alive_until_ms - heartbeat_at_ms) < ?1 AND node <> ?2",
    )?
    .execute(params![now_ms, beat.node.as_str()])?;
    // A node that was not alive any more starts a new run.
    tx.prepare_cached(
        "INSERT INTO nodes (node, capacity, started_at_ms, heartbeat_at_ms, alive_until_ms, url)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)
         ON CONFLICT (node) DO UPDATE SET
             capacity = excluded.capacity, url = excluded.url,
             started_at_ms = CASE WHEN nodes.alive_until_ms > excluded.heartbeat_at_ms
                                  THEN nodes.started_at_ms ELSE excluded.started_at_ms END,
             heartbeat_at_ms = excluded.heartbeat_at_ms,
             alive_until_ms = excluded.alive_until_ms",
    )?
    .execute(params![
        beat.node.as_str(),
        beat.capacity,
        now_ms,
        now_ms + ttl_ms,
        beat.url
    ])?;
    let nodes = list(&tx, now_ms)?;
    tx.commit()?;
    Ok(nodes)
}

/// Every node known, by id, with its unexpired leases counted.
pub(super) fn list(conn: &Connection, now_ms: i64) -> rusqlite::Result<Vec<NodeRecord>> {
    let mut statement = conn.prepare_cached(
        "WITH leases AS (
             SELECT holder, count(*) AS held, min(leased_at_ms) AS oldest FROM mailboxes
             WHERE holder IS NOT NULL AND lease_until_ms > ?1 GROUP BY holder
         )
         SELECT n.node, n.capacity, n.url, n.started_at_ms, n.heartbeat_at_ms,
                n.alive_until_ms > ?1, coalesce(l.held, 0), ?1 - l.oldest
         FROM nodes n LEFT JOIN leases l ON l.holder = n.node
         ORDER BY n.node",
    )?;
    let rows = statement.query_map([now_ms], node_record)?;
    rows.collect()
}

/// Releases every lease of `node`, gives back the pushes it claimed (due at `now_ms` at the
/// latest) and deletes its row.
pub(super) fn leave(conn: &mut Connection, node: &str, now_ms: i64) -> rusqlite::Result<()> {
    let tx = conn.savepoint()?;
    // A claim that ran out keeps its earlier time.
    tx.prepare_cached(
        "UPDATE outbox SET claimed_by = NULL, not_before_ms = min(not_before_ms, ?2)
         WHERE claimed_by = ?1",
    )?
    .execute(params![node, now_ms])?;
    tx.prepare_cached(
        "UPDATE mailboxes SET holder = NULL, lease_until_ms = NULL, leased_at_ms = NULL
         WHERE holder = ?1",
    )?
    .execute([node])?;
    tx.prepare_cached("DELETE FROM nodes WHERE node = ?1")?
        .execute([node])?;
    tx.commit()
}

fn node_record(row: &Row<'_>) -> rusqlite::Result<NodeRecord> {
    Ok(NodeRecord {
        node: node_id(row, 0)?,
        capacity: row.get(1)?,
        url: row.get(2)?,
        started_at_ms: row.get(3)?,
        heartbeat_at_ms: row.get(4)?,
        alive: row.get(5)?,
        mailboxes: row.get(6)?,
        oldest_lease_age_ms: row.get(7)?,
    })
}

/// Reads a node id column, refusing one that breaks the rules.
pub(super) fn node_id(row: &Row<'_>, column: usize) -> rusqlite::Result<NodeId> {
    let text: String = row.get(column)?;
    NodeId::new(text).map_err(|error| unreadable(column, Type::Text, error.to_string()))
}
