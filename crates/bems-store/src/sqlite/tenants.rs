//! Tenants: their settings, and deleting everything of a tenant.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, params};

use super::unreadable;
use crate::model::TenantId;

pub(super) fn put(
    conn: &Connection,
    tenant: &str,
    settings: &str,
    now_ms: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO tenants (id, settings, updated_at_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
                                        updated_at_ms = excluded.updated_at_ms",
    )?
    .execute(params![tenant, settings, now_ms])?;
    Ok(())
}

pub(super) fn get(conn: &Connection, tenant: &str) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT settings FROM tenants WHERE id = ?1")?
        .query_row([tenant], |row| row.get(0))
        .optional()
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<TenantId>> {
    let mut statement = conn.prepare_cached("SELECT id FROM tenants ORDER BY id")?;
    let rows = statement.query_map([], |row| tenant_id(row, 0))?;
    rows.collect()
}

/// Deletes the tenant's settings and every row of it in the other tables, in one transaction.
pub(super) fn delete(conn: &mut Connection, tenant: &str) -> rusqlite::Result<bool> {
    let tx = conn.savepoint()?;
    // Pushes about the tenant's mailboxes, then (with theirs) the tenant's devices.
    for table in [
        "outbox",
        "devices",
        "mailboxes",
        "secrets",
        "certificates",
        "follow_me",
        "shared_subscriptions",
        "relayed",
    ] {
        tx.execute(&format!("DELETE FROM {table} WHERE tenant = ?1"), [tenant])?;
    }
    let existed = tx.execute("DELETE FROM tenants WHERE id = ?1", [tenant])? > 0;
    tx.commit()?;
    Ok(existed)
}

/// Reads a tenant id column, refusing one that breaks the rules.
pub(super) fn tenant_id(row: &rusqlite::Row<'_>, column: usize) -> rusqlite::Result<TenantId> {
    let text: String = row.get(column)?;
    TenantId::new(text).map_err(|error| unreadable(column, Type::Text, error.to_string()))
}
