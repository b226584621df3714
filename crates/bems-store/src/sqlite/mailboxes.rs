//! Watched mailboxes, their watermarks and last unread counts.

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::tenants::tenant_id;
use crate::model::MailboxRecord;

pub(super) const COLUMNS: &str = "tenant, mailbox, ews_url, grouping, watermark";

/// Saves the record; a record without a watermark keeps the one saved before.
pub(super) fn upsert(
    conn: &Connection,
    record: &MailboxRecord,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailboxes (tenant, mailbox, ews_url, grouping, watermark, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (tenant, mailbox) DO UPDATE SET
             ews_url = excluded.ews_url, grouping = excluded.grouping,
             watermark = coalesce(excluded.watermark, mailboxes.watermark),
             updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![
        record.tenant.as_str(),
        record.mailbox,
        record.ews_url,
        record.grouping,
        record.watermark,
        now_ms
    ])?;
    Ok(())
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<MailboxRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM mailboxes ORDER BY tenant, mailbox");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([], mailbox_record)?;
    rows.collect()
}

pub(super) fn get(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Option<MailboxRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2");
    conn.prepare_cached(&sql)?
        .query_row([tenant, mailbox], mailbox_record)
        .optional()
}

pub(super) fn remove(conn: &Connection, tenant: &str, mailbox: &str) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2")?
        .execute([tenant, mailbox])?;
    Ok(deleted > 0)
}

/// Saves the watermark, adding the mailbox if it is not saved yet.
pub(super) fn save_watermark(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    watermark: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO mailboxes (tenant, mailbox, watermark, updated_at_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (tenant, mailbox) DO UPDATE SET
             watermark = excluded.watermark, updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, mailbox, watermark, now_ms])?;
    Ok(())
}

/// Saves what a checkpoint writes besides its pushes: the watermark and the unread count, each
/// kept as saved when `None`; the mailbox is added if it is not saved yet (nothing is written
/// when both are `None`).
pub(super) fn save_checkpoint(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    watermark: Option<&str>,
    unread: Option<u32>,
    now_ms: i64,
) -> rusqlite::Result<()> {
    if watermark.is_none() && unread.is_none() {
        return Ok(());
    }
    conn.prepare_cached(
        "INSERT INTO mailboxes (tenant, mailbox, watermark, unread, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (tenant, mailbox) DO UPDATE SET
             watermark = coalesce(excluded.watermark, mailboxes.watermark),
             unread = coalesce(excluded.unread, mailboxes.unread),
             updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, mailbox, watermark, unread, now_ms])?;
    Ok(())
}

pub(super) fn load_watermark(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Option<String>> {
    let watermark: Option<Option<String>> = conn
        .prepare_cached("SELECT watermark FROM mailboxes WHERE tenant = ?1 AND mailbox = ?2")?
        .query_row([tenant, mailbox], |row| row.get(0))
        .optional()?;
    Ok(watermark.flatten())
}

pub(super) fn unread_counts(
    conn: &Connection,
    tenant: &str,
) -> rusqlite::Result<Vec<(String, u32)>> {
    let mut statement = conn.prepare_cached(
        "SELECT mailbox, unread FROM mailboxes
         WHERE tenant = ?1 AND unread IS NOT NULL ORDER BY mailbox",
    )?;
    let rows = statement.query_map([tenant], |row| Ok((row.get(0)?, row.get(1)?)))?;
    rows.collect()
}

/// How many mailboxes one statement of [`unread_counts_of`] asks for.
const CHUNK: usize = 500;

/// The saved unread counts of `mailboxes` (those with one), asked for in chunks.
pub(super) fn unread_counts_of(
    conn: &Connection,
    tenant: &str,
    mailboxes: &[String],
) -> rusqlite::Result<Vec<(String, u32)>> {
    let mut counts = Vec::new();
    for chunk in mailboxes.chunks(CHUNK) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let sql = format!(
            "SELECT mailbox, unread FROM mailboxes
             WHERE tenant = ? AND unread IS NOT NULL AND mailbox IN ({marks})"
        );
        let mut statement = conn.prepare_cached(&sql)?;
        let asked = std::iter::once(tenant).chain(chunk.iter().map(String::as_str));
        let rows = statement.query_map(params_from_iter(asked), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        for row in rows {
            counts.push(row?);
        }
    }
    Ok(counts)
}

pub(super) fn save_unread_counts(
    conn: &Connection,
    tenant: &str,
    counts: &[(String, u32)],
) -> rusqlite::Result<()> {
    let mut statement =
        conn.prepare_cached("UPDATE mailboxes SET unread = ?3 WHERE tenant = ?1 AND mailbox = ?2")?;
    for (mailbox, unread) in counts {
        statement.execute(params![tenant, mailbox, unread])?;
    }
    Ok(())
}

pub(super) fn mailbox_record(row: &Row<'_>) -> rusqlite::Result<MailboxRecord> {
    Ok(MailboxRecord {
        tenant: tenant_id(row, 0)?,
        mailbox: row.get(1)?,
        ews_url: row.get(2)?,
        grouping: row.get(3)?,
        watermark: row.get(4)?,
    })
}
