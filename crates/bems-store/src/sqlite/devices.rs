//! Devices: registered by (platform, token), looked up by mailbox.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;

use super::tenants::tenant_id;
use super::unreadable;
use crate::check::Refusal;
use crate::model::{Device, NewDevice, Platform};

const COLUMNS: &str =
    "id, tenant, mailbox, platform, token, app_id, locale, registered_at_ms, public_key";

/// Inserts the device, or refreshes the one with its (platform, token) when that is
/// registered for the same tenant and mailbox. A token registered for another mailbox or
/// tenant is refused, and so is a new device beyond `max_per_mailbox` for its mailbox.
pub(super) fn register(
    conn: &mut Connection,
    device: &NewDevice,
    max_per_mailbox: u32,
    now_ms: i64,
) -> rusqlite::Result<Result<Device, Refusal>> {
    let tx = conn.savepoint()?;
    let before: Option<(String, String)> = tx
        .prepare_cached("SELECT tenant, mailbox FROM devices WHERE platform = ?1 AND token = ?2")?
        .query_row(params![device.platform.as_str(), device.token], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    match before {
        Some((tenant, mailbox))
            if tenant != device.tenant.as_str() || mailbox != device.mailbox =>
        {
            return Ok(Err(Refusal::TokenTaken));
        }
        Some(_) => {}
        None => {
            let held: u32 = tx
                .prepare_cached("SELECT count(*) FROM devices WHERE tenant = ?1 AND mailbox = ?2")?
                .query_row(params![device.tenant.as_str(), device.mailbox], |row| {
                    row.get(0)
                })?;
            if held >= max_per_mailbox {
                return Ok(Err(Refusal::TooMany {
                    max: max_per_mailbox,
                }));
            }
        }
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO devices
                 (tenant, mailbox, platform, token, app_id, locale, registered_at_ms, public_key)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (platform, token) DO UPDATE SET
                 app_id = excluded.app_id, locale = excluded.locale,
                 registered_at_ms = excluded.registered_at_ms,
                 public_key = excluded.public_key
             RETURNING id",
        )?
        .query_row(
            params![
                device.tenant.as_str(),
                device.mailbox,
                device.platform.as_str(),
                device.token,
                device.app_id,
                device.locale,
                now_ms,
                device.public_key
            ],
            |row| row.get(0),
        )?;
    tx.commit()?;
    Ok(Ok(Device {
        id,
        device: device.clone(),
        registered_at: time_of(now_ms, 7)?,
    }))
}

/// Deletes the devices of `mailbox` with `token` (and, by the foreign key, their pushes).
pub(super) fn unregister(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
    token: &str,
) -> rusqlite::Result<bool> {
    let deleted = conn
        .prepare_cached("DELETE FROM devices WHERE tenant = ?1 AND mailbox = ?2 AND token = ?3")?
        .execute([tenant, mailbox, token])?;
    Ok(deleted > 0)
}

/// Deletes a device (and, by the foreign key, its pushes).
pub(super) fn remove(conn: &Connection, id: i64) -> rusqlite::Result<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM devices WHERE id = ?1")?
        .execute([id])?
        > 0)
}

pub(super) fn for_mailbox(
    conn: &Connection,
    tenant: &str,
    mailbox: &str,
) -> rusqlite::Result<Vec<Device>> {
    let sql =
        format!("SELECT {COLUMNS} FROM devices WHERE tenant = ?1 AND mailbox = ?2 ORDER BY id");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([tenant, mailbox], device)?;
    rows.collect()
}

pub(super) fn for_tenant(conn: &Connection, tenant: &str) -> rusqlite::Result<Vec<Device>> {
    let sql = format!("SELECT {COLUMNS} FROM devices WHERE tenant = ?1 ORDER BY mailbox, id");
    let mut statement = conn.prepare_cached(&sql)?;
    let rows = statement.query_map([tenant], device)?;
    rows.collect()
}

pub(super) fn mailboxes_of_tenant(
    conn: &Connection,
    tenant: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut statement = conn.prepare_cached(
        "SELECT DISTINCT mailbox FROM devices WHERE tenant = ?1 ORDER BY mailbox",
    )?;
    let rows = statement.query_map([tenant], |row| row.get(0))?;
    rows.collect()
}

pub(super) fn count(conn: &Connection) -> rusqlite::Result<u64> {
    conn.prepare_cached("SELECT count(*) FROM devices")?
        .query_row([], |row| row.get(0))
}

fn device(row: &Row<'_>) -> rusqlite::Result<Device> {
    let platform: String = row.get(3)?;
    let platform = Platform::parse(&platform)
        .ok_or_else(|| unreadable(3, Type::Text, format!("{platform:?} is not a platform")))?;
    Ok(Device {
        id: row.get(0)?,
        device: NewDevice {
            tenant: tenant_id(row, 1)?,
            mailbox: row.get(2)?,
            platform,
            token: row.get(4)?,
            app_id: row.get(5)?,
            locale: row.get(6)?,
            public_key: row.get(8)?,
        },
        registered_at: time_of(row.get(7)?, 7)?,
    })
}

/// Unix milliseconds as a time.
fn time_of(ms: i64, column: usize) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|error| unreadable(column, Type::Integer, error.to_string()))
}
