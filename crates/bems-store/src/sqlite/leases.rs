//! Mailbox leases: claimed, renewed, released, and checked before a fenced write.
//!
//! A mailbox is held while `holder` is set and `lease_until_ms` is after now; otherwise it is
//! free. One thread writes the file, and every claim is one statement, so two claims never
//! both take a mailbox.

use rusqlite::{Connection, OptionalExtension, params};

use super::mailboxes::{COLUMNS, mailbox_record};
use super::nodes::node_id;
use super::tenants::tenant_id;
use crate::cluster::{Fenced, NodeId, sort_claimed};
use crate::model::{MailboxRecord, TenantId};

/// Takes at most `limit` free mailboxes for `node`: its groups first, then in (tenant,
/// grouping, mailbox) order, the groups other nodes hold last.
pub(super) fn claim(
    conn: &Connection,
    node: &str,
    ttl_ms: i64,
    limit: i64,
    now_ms: i64,
) -> rusqlite::Result<Vec<MailboxRecord>> {
    let sql = format!(
        "WITH mine AS (
             SELECT DISTINCT tenant, grouping FROM mailboxes
             WHERE holder = ?1 AND lease_until_ms > ?2 AND grouping IS NOT NULL
         ), theirs AS (
             SELECT DISTINCT tenant, grouping FROM mailboxes
             WHERE holder <> ?1 AND lease_until_ms > ?2 AND grouping IS NOT NULL
         ), picked AS (
             SELECT m.tenant, m.mailbox FROM mailboxes m
             WHERE m.holder IS NULL OR m.lease_until_ms <= ?2
             ORDER BY
                 CASE WHEN EXISTS (SELECT 1 FROM mine g
                                   WHERE g.tenant = m.tenant AND g.grouping = m.grouping) THEN 0
                      WHEN EXISTS (SELECT 1 FROM theirs g
                                   WHERE g.tenant = m.tenant AND g.grouping = m.grouping) THEN 2
                      ELSE 1 END,
                 m.tenant, m.grouping IS NULL, m.grouping, m.mailbox
             LIMIT ?4
         )
         UPDATE mailboxes SET holder = ?1, lease_until_ms = ?2 + ?3, leased_at_ms = ?2
         WHERE (tenant, mailbox) IN (SELECT tenant, mailbox FROM picked)
         RETURNING {COLUMNS}"
    );
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map(params![node, now_ms, ttl_ms, limit], mailbox_record)?;
    let mut claimed = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    sort_claimed(&mut claimed);
    Ok(claimed)
}

/// Renews at most `limit` of `node`'s unexpired leases not renewed yet at `now_ms` (those
/// whose lease ends before `now_ms + ttl_ms`); how many it renewed. A renewal goes slice by
/// slice ([`SqliteStore`](super::SqliteStore)'s `renew`), so that the store's one thread
/// serves the other operations (the outbox's writes) between slices instead of waiting for
/// 100,000 rows at once.
pub(super) fn renew_slice(
    conn: &Connection,
    node: &str,
    ttl_ms: i64,
    now_ms: i64,
    limit: i64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "UPDATE mailboxes SET lease_until_ms = ?2 + ?3, leased_at_ms = ?2
         WHERE (tenant, mailbox) IN (
             SELECT tenant, mailbox FROM mailboxes
             WHERE holder = ?1 AND lease_until_ms > ?2 AND lease_until_ms < ?2 + ?3
             LIMIT ?4)",
    )?
    .execute(params![node, now_ms, ttl_ms, limit])
}

/// The mailboxes `node` holds once its leases were renewed at `now_ms` (a lease ending at
/// `now_ms + ttl_ms` or later), by tenant then mailbox.
pub(super) fn renewed(
    conn: &Connection,
    node: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<Vec<(TenantId, String)>> {
    let mut statement = conn.prepare_cached(
        "SELECT tenant, mailbox FROM mailboxes WHERE holder = ?1 AND lease_until_ms >= ?2 + ?3",
    )?;
    let rows = statement.query_map(params![node, now_ms, ttl_ms], |row| {
        Ok((tenant_id(row, 0)?, row.get::<_, String>(1)?))
    })?;
    let mut held = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    held.sort();
    Ok(held)
}

/// Takes (or renews) one mailbox for `node` unless another node holds it.
pub(super) fn claim_mailbox(
    conn: &Connection,
    node: &str,
    tenant: &str,
    mailbox: &str,
    ttl_ms: i64,
    now_ms: i64,
) -> rusqlite::Result<Option<MailboxRecord>> {
    let sql = format!(
        "UPDATE mailboxes SET holder = ?1, lease_until_ms = ?4 + ?5, leased_at_ms = ?4
         WHERE tenant = ?2 AND mailbox = ?3
           AND (holder IS NULL OR holder = ?1 OR lease_until_ms <= ?4)
         RETURNING {COLUMNS}"
    );
    conn.prepare_cached(&sql)?
        .query_row(
            params![node, tenant, mailbox, now_ms, ttl_ms],
            mailbox_record,
        )
        .optional()
}

/// Gives up `node`'s unexpired leases of `mailboxes`; how many there were.
pub(super) fn release(
    conn: &mut Connection,
    node: &str,
    mailboxes: &[(String, String)],
    now_ms: i64,
) -> rusqlite::Result<u64> {
    let tx = conn.savepoint()?;
    let mut released = 0;
    {
        let mut update = tx.prepare_cached(
            "UPDATE mailboxes SET holder = NULL, lease_until_ms = NULL, leased_at_ms = NULL
             WHERE tenant = ?2 AND mailbox = ?3 AND holder = ?1 AND lease_until_ms > ?4",
        )?;
        for (tenant, mailbox) in mailboxes {
            released += update.execute(params![node, tenant, mailbox, now_ms])? as u64;
        }
    }
    tx.commit()?;
    Ok(released)
}

/// Who holds `mailbox`'s unexpired lease.
pub(super) fn holder(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    now_ms: i64,
) -> rusqlite::Result<Option<NodeId>> {
    conn.prepare_cached(
        "SELECT holder FROM mailboxes
         WHERE tenant = ?1 AND mailbox = ?2 AND holder IS NOT NULL AND lease_until_ms > ?3",
    )?
    .query_row(params![tenant, mailbox, now_ms], |row| node_id(row, 0))
    .optional()
}

pub(super) fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM mailboxes")?
        .query_row([], |row| row.get(0))
}

/// Whether `node` may write for `mailbox` now (fencing).
pub(super) fn fence(
    conn: &Connection,
    node: &NodeId,
    tenant: &str,
    mailbox: &str,
    now_ms: i64,
) -> rusqlite::Result<Result<(), Fenced>> {
    let lease: Option<(Option<String>, bool)> = conn
        .prepare_cached(
            "SELECT holder, coalesce(lease_until_ms > ?3, 0) FROM mailboxes
             WHERE tenant = ?1 AND mailbox = ?2",
        )?
        .query_row(params![tenant, mailbox, now_ms], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let (holder, unexpired) = lease.unwrap_or((None, false));
    Ok(Fenced::check(node, holder.as_deref(), unexpired))
}
