//! What the operations of [`PostgresStore`] share: reading rows, reporting failures, serializing
//! writers of one key, running one changing statement. The operations are in the units beside
//! (`tenants`, `devices`, `mailboxes`, `outbox`, `followme`, `relay`): input is checked (and
//! mailboxes lower-cased) with the same rules as SQLite, secrets are sealed and opened there,
//! and each operation's SQL runs on one pooled connection, in one transaction when it writes
//! more than one row.

use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Failure, PostgresStore};
use crate::StoreError;
use crate::model::{
    Device, MailboxRecord, NewDevice, OutboxEntry, PendingPush, Platform, TenantId,
};

pub(super) const DEVICE_COLUMNS: &str =
    "id, tenant, mailbox, platform, token, app_id, locale, registered_at_ms, public_key";
pub(super) const MAILBOX_COLUMNS: &str = "tenant, mailbox, ews_url, grouping, watermark";
pub(super) const OUTBOX_COLUMNS: &str =
    "id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms";

/// The outcome of `op` on `record`, as the store reports it.
pub(super) fn settle<T>(
    op: &'static str,
    record: String,
    result: Result<T, Failure>,
) -> Result<T, StoreError> {
    result.map_err(|failure| failure.into_store_error(op, record))
}

/// Serializes writers of one key (a mailbox's devices, a user's documents) until the
/// transaction ends.
pub(super) async fn lock(
    tx: &deadpool_postgres::Transaction<'_>,
    key: &str,
) -> Result<(), Failure> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await?;
    Ok(())
}

pub(super) fn tenant_id(row: &Row, column: usize) -> Result<TenantId, Failure> {
    let text: String = row.try_get(column)?;
    TenantId::new(text).map_err(|error| Failure::Unreadable(error.to_string()))
}

pub(super) fn unsigned(row: &Row, column: usize) -> Result<u32, Failure> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| Failure::Unreadable(format!("{value} is not a u32")))
}

pub(super) fn count(row: &Row) -> Result<u64, Failure> {
    let value: i64 = row.try_get(0)?;
    u64::try_from(value).map_err(|_| Failure::Unreadable(format!("{value} is not a count")))
}

pub(super) fn time_of(ms: i64) -> Result<OffsetDateTime, Failure> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|error| Failure::Unreadable(error.to_string()))
}

pub(super) fn device(row: &Row) -> Result<Device, Failure> {
    let platform: String = row.try_get(3)?;
    let platform = Platform::parse(&platform)
        .ok_or_else(|| Failure::Unreadable(format!("{platform:?} is not a platform")))?;
    Ok(Device {
        id: row.try_get(0)?,
        device: NewDevice {
            tenant: tenant_id(row, 1)?,
            mailbox: row.try_get(2)?,
            platform,
            token: row.try_get(4)?,
            app_id: row.try_get(5)?,
            locale: row.try_get(6)?,
            public_key: row.try_get(8)?,
        },
        registered_at: time_of(row.try_get(7)?)?,
    })
}

pub(super) fn mailbox_record(row: &Row) -> Result<MailboxRecord, Failure> {
    Ok(MailboxRecord {
        tenant: tenant_id(row, 0)?,
        mailbox: row.try_get(1)?,
        ews_url: row.try_get(2)?,
        grouping: row.try_get(3)?,
        watermark: row.try_get(4)?,
    })
}

pub(super) fn entry(row: &Row) -> Result<OutboxEntry, Failure> {
    Ok(OutboxEntry {
        id: row.try_get(0)?,
        push: PendingPush {
            device_id: row.try_get(1)?,
            tenant: tenant_id(row, 2)?,
            mailbox: row.try_get(3)?,
            payload: row.try_get(4)?,
            seen_at_ms: row.try_get(5)?,
        },
        attempts: unsigned(row, 6)?,
        not_before_ms: row.try_get(7)?,
    })
}

impl PostgresStore {
    /// Runs `op`'s one statement that changes rows on `record`; whether it changed any.
    pub(super) async fn change(
        &self,
        op: &'static str,
        record: String,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<bool, StoreError> {
        let client = self.client(op, &record).await?;
        let result = client.execute(sql, params).await.map_err(Failure::from);
        settle(op, record, result.map(|rows| rows > 0))
    }
}

/// Saves `mailbox`'s watermark, adding the mailbox if it is not saved yet.
pub(super) async fn save_watermark(
    client: &impl deadpool_postgres::GenericClient,
    tenant: &str,
    mailbox: &str,
    watermark: &str,
    now: i64,
) -> Result<(), Failure> {
    client
        .execute(
            "INSERT INTO mailboxes (tenant, mailbox, watermark, updated_at_ms)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, mailbox) DO UPDATE SET
                 watermark = excluded.watermark, updated_at_ms = excluded.updated_at_ms",
            &[&tenant, &mailbox, &watermark, &now],
        )
        .await?;
    Ok(())
}

/// Saves what a checkpoint writes besides its pushes: the watermark and the unread count, each
/// kept as saved when `None`; the mailbox is added if it is not saved yet (nothing is written
/// when both are `None`).
pub(super) async fn save_checkpoint(
    client: &impl deadpool_postgres::GenericClient,
    tenant: &str,
    mailbox: &str,
    watermark: Option<&str>,
    unread: Option<u32>,
    now: i64,
) -> Result<(), Failure> {
    if watermark.is_none() && unread.is_none() {
        return Ok(());
    }
    let unread = unread.map(i64::from);
    client
        .execute(
            "INSERT INTO mailboxes (tenant, mailbox, watermark, unread, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (tenant, mailbox) DO UPDATE SET
                 watermark = coalesce(excluded.watermark, mailboxes.watermark),
                 unread = coalesce(excluded.unread, mailboxes.unread),
                 updated_at_ms = excluded.updated_at_ms",
            &[&tenant, &mailbox, &watermark, &unread, &now],
        )
        .await?;
    Ok(())
}
