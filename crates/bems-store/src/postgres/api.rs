//! [`Store`](crate::Store) for [`PostgresStore`]: input is checked (and mailboxes lower-cased)
//! here with the same rules as SQLite, secrets are sealed and opened here, and each operation's
//! SQL runs on one pooled connection, in one transaction when it writes more than one row.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretSlice};
use time::OffsetDateTime;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::{Failure, PostgresStore, now_ms};
use crate::crypto::{self, Sealed};
use crate::followme::{check_body, check_key};
use crate::model::{
    Device, MailboxRecord, NewDevice, OutboxEntry, PendingPush, Platform, TenantId,
};
use crate::{
    DeviceStore, FollowMeDocument, FollowMeExpect, FollowMeStore, FollowMeWrite, MailboxStore,
    Outbox, StoreError, TenantStore, check,
};

const DEVICE_COLUMNS: &str =
    "id, tenant, mailbox, platform, token, app_id, locale, registered_at_ms";
const MAILBOX_COLUMNS: &str = "tenant, mailbox, ews_url, grouping, watermark";
const OUTBOX_COLUMNS: &str =
    "id, device_id, tenant, mailbox, payload, seen_at_ms, attempts, not_before_ms";

fn in_mailbox(tenant: &TenantId, mailbox: &str) -> String {
    format!("mailbox {mailbox} of tenant {tenant}")
}

fn named(kind: &str, tenant: &TenantId, name: &str) -> String {
    format!("{kind} {name:?} of tenant {tenant}")
}

fn follow_me_record(tenant: &TenantId, user: &str, key: &str) -> String {
    format!("follow-me document {key:?} of {user} in tenant {tenant}")
}

/// The outcome of `op` on `record`, as the store reports it.
fn settle<T>(
    op: &'static str,
    record: String,
    result: Result<T, Failure>,
) -> Result<T, StoreError> {
    result.map_err(|failure| failure.into_store_error(op, record))
}

/// Serializes writers of one key (a mailbox's devices, a user's documents) until the
/// transaction ends.
async fn lock(tx: &deadpool_postgres::Transaction<'_>, key: &str) -> Result<(), Failure> {
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await?;
    Ok(())
}

fn tenant_id(row: &Row, column: usize) -> Result<TenantId, Failure> {
    let text: String = row.try_get(column)?;
    TenantId::new(text).map_err(|error| Failure::Unreadable(error.to_string()))
}

fn unsigned(row: &Row, column: usize) -> Result<u32, Failure> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| Failure::Unreadable(format!("{value} is not a u32")))
}

fn count(row: &Row) -> Result<u64, Failure> {
    let value: i64 = row.try_get(0)?;
    u64::try_from(value).map_err(|_| Failure::Unreadable(format!("{value} is not a count")))
}

fn time_of(ms: i64) -> Result<OffsetDateTime, Failure> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(|error| Failure::Unreadable(error.to_string()))
}

fn device(row: &Row) -> Result<Device, Failure> {
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
        },
        registered_at: time_of(row.try_get(7)?)?,
    })
}

fn mailbox_record(row: &Row) -> Result<MailboxRecord, Failure> {
    Ok(MailboxRecord {
        tenant: tenant_id(row, 0)?,
        mailbox: row.try_get(1)?,
        ews_url: row.try_get(2)?,
        grouping: row.try_get(3)?,
        watermark: row.try_get(4)?,
    })
}

fn entry(row: &Row) -> Result<OutboxEntry, Failure> {
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

/// Runs one statement that changes rows; whether it changed any.
async fn changed(
    client: &deadpool_postgres::Client,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> Result<bool, Failure> {
    Ok(client.execute(sql, params).await? > 0)
}

/// Saves `mailbox`'s watermark, adding the mailbox if it is not saved yet.
async fn save_watermark(
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

#[async_trait]
impl TenantStore for PostgresStore {
    async fn put_tenant(&self, tenant: &TenantId, settings_json: &str) -> Result<(), StoreError> {
        const OP: &str = "put tenant";
        check::settings(OP, tenant, settings_json)?;
        let record = format!("tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = client
            .execute(
                "INSERT INTO tenants (id, settings, updated_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
                                                updated_at_ms = excluded.updated_at_ms",
                &[&tenant.as_str(), &settings_json, &now_ms()],
            )
            .await
            .map(drop)
            .map_err(Failure::from);
        settle(OP, record, result)
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        const OP: &str = "read tenant";
        let record = format!("tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let row = client
                .query_opt(
                    "SELECT settings FROM tenants WHERE id = $1",
                    &[&tenant.as_str()],
                )
                .await?;
            Ok(row.map(|row| row.try_get(0)).transpose()?)
        }
        .await;
        settle(OP, record, result)
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        const OP: &str = "list tenants";
        let client = self.client(OP, "").await?;
        let result = async {
            let rows = client
                .query("SELECT id FROM tenants ORDER BY id", &[])
                .await?;
            rows.iter().map(|row| tenant_id(row, 0)).collect()
        }
        .await;
        settle(OP, String::new(), result)
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        const OP: &str = "delete tenant";
        let record = format!("tenant {tenant}");
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // Pushes about the tenant's mailboxes, then (with theirs) the tenant's devices.
            for table in [
                "outbox",
                "devices",
                "mailboxes",
                "secrets",
                "certificates",
                "follow_me",
            ] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE tenant = $1"),
                    &[&tenant.as_str()],
                )
                .await?;
            }
            let existed = tx
                .execute("DELETE FROM tenants WHERE id = $1", &[&tenant.as_str()])
                .await?
                > 0;
            tx.commit().await?;
            Ok(existed)
        }
        .await;
        settle(OP, record, result)
    }

    async fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &SecretSlice<u8>,
    ) -> Result<(), StoreError> {
        const OP: &str = "put secret";
        check::name(OP, tenant, name)?;
        let record = named("secret", tenant, name);
        check::size(OP, &record, value.expose_secret().len())?;
        let sealed = crypto::seal(&self.key, tenant, name, value)?;
        let client = self.client(OP, &record).await?;
        let result = client
            .execute(
                "INSERT INTO secrets (tenant, name, key_id, nonce, ciphertext, updated_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (tenant, name) DO UPDATE SET
                     key_id = excluded.key_id, nonce = excluded.nonce,
                     ciphertext = excluded.ciphertext, updated_at_ms = excluded.updated_at_ms",
                &[
                    &tenant.as_str(),
                    &name,
                    &i64::from(sealed.key_id),
                    &&sealed.nonce[..],
                    &sealed.ciphertext,
                    &now_ms(),
                ],
            )
            .await
            .map(drop)
            .map_err(Failure::from);
        settle(OP, record, result)
    }

    async fn secret(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretSlice<u8>>, StoreError> {
        const OP: &str = "read secret";
        let record = named("secret", tenant, name);
        let client = self.client(OP, &record).await?;
        let result = async {
            let Some(row) = client
                .query_opt(
                    "SELECT key_id, nonce, ciphertext FROM secrets WHERE tenant = $1 AND name = $2",
                    &[&tenant.as_str(), &name],
                )
                .await?
            else {
                return Ok(None);
            };
            let nonce: Vec<u8> = row.try_get(1)?;
            let nonce = nonce
                .try_into()
                .map_err(|_| Failure::Unreadable("a nonce is 12 bytes".into()))?;
            Ok(Some(Sealed {
                key_id: unsigned(&row, 0)?,
                nonce,
                ciphertext: row.try_get(2)?,
            }))
        }
        .await;
        settle(OP, record, result)?
            .map(|sealed| crypto::open(&self.key, tenant, name, sealed))
            .transpose()
    }

    async fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        const OP: &str = "delete secret";
        let record = named("secret", tenant, name);
        let client = self.client(OP, &record).await?;
        let result = changed(
            &client,
            "DELETE FROM secrets WHERE tenant = $1 AND name = $2",
            &[&tenant.as_str(), &name],
        )
        .await;
        settle(OP, record, result)
    }

    async fn put_certificate(
        &self,
        tenant: &TenantId,
        name: &str,
        pem: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "put certificate";
        check::name(OP, tenant, name)?;
        check::pem(OP, tenant, name, pem)?;
        let record = named("certificate", tenant, name);
        let client = self.client(OP, &record).await?;
        let result = client
            .execute(
                "INSERT INTO certificates (tenant, name, pem, updated_at_ms)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (tenant, name) DO UPDATE SET
                     pem = excluded.pem, updated_at_ms = excluded.updated_at_ms",
                &[&tenant.as_str(), &name, &pem, &now_ms()],
            )
            .await
            .map(drop)
            .map_err(Failure::from);
        settle(OP, record, result)
    }

    async fn certificates(&self, tenant: &TenantId) -> Result<Vec<(String, String)>, StoreError> {
        const OP: &str = "list certificates";
        let record = format!("of tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    "SELECT name, pem FROM certificates WHERE tenant = $1 ORDER BY name",
                    &[&tenant.as_str()],
                )
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn delete_certificate(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        const OP: &str = "delete certificate";
        let record = named("certificate", tenant, name);
        let client = self.client(OP, &record).await?;
        let result = changed(
            &client,
            "DELETE FROM certificates WHERE tenant = $1 AND name = $2",
            &[&tenant.as_str(), &name],
        )
        .await;
        settle(OP, record, result)
    }
}

/// Why a registration was refused; nothing was written.
enum Refusal {
    /// The (platform, token) is registered for another mailbox, of this tenant or another.
    TokenTaken,
    /// The mailbox has `max` devices already.
    TooMany(u32),
}

#[async_trait]
impl DeviceStore for PostgresStore {
    async fn register_device(
        &self,
        device: &NewDevice,
        max_per_mailbox: u32,
    ) -> Result<Device, StoreError> {
        const OP: &str = "register device";
        let device = check::device(OP, device)?;
        let record = check::device_record(&device.tenant, &device.mailbox, &device.token);
        let now = now_ms();
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let (tenant, platform) = (device.tenant.as_str(), device.platform.as_str());
            // One registration of a mailbox at a time, so its bound holds.
            lock(&tx, &format!("devices\n{tenant}\n{}", device.mailbox)).await?;
            let before = tx
                .query_opt(
                    "SELECT tenant, mailbox FROM devices WHERE platform = $1 AND token = $2",
                    &[&platform, &device.token],
                )
                .await?;
            match before {
                Some(row) => {
                    let (held_tenant, held_mailbox): (String, String) =
                        (row.try_get(0)?, row.try_get(1)?);
                    if held_tenant != tenant || held_mailbox != device.mailbox {
                        return Ok(Err(Refusal::TokenTaken));
                    }
                }
                None => {
                    let held = count(
                        &tx.query_one(
                            "SELECT count(*) FROM devices WHERE tenant = $1 AND mailbox = $2",
                            &[&tenant, &device.mailbox],
                        )
                        .await?,
                    )?;
                    if held >= u64::from(max_per_mailbox) {
                        return Ok(Err(Refusal::TooMany(max_per_mailbox)));
                    }
                }
            }
            // A token taken meanwhile by another mailbox updates nothing and returns no row.
            let inserted = tx
                .query_opt(
                    "INSERT INTO devices
                         (tenant, mailbox, platform, token, app_id, locale, registered_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (platform, token) DO UPDATE SET
                         app_id = excluded.app_id, locale = excluded.locale,
                         registered_at_ms = excluded.registered_at_ms
                     WHERE devices.tenant = excluded.tenant
                       AND devices.mailbox = excluded.mailbox
                     RETURNING id",
                    &[
                        &tenant,
                        &device.mailbox,
                        &platform,
                        &device.token,
                        &device.app_id,
                        &device.locale,
                        &now,
                    ],
                )
                .await?;
            let Some(row) = inserted else {
                return Ok(Err(Refusal::TokenTaken));
            };
            let id: i64 = row.try_get(0)?;
            tx.commit().await?;
            Ok(Ok(Device {
                id,
                device: device.clone(),
                registered_at: time_of(now)?,
            }))
        }
        .await;
        settle(OP, record.clone(), result)?.map_err(|refusal| {
            let rule = match refusal {
                Refusal::TokenTaken => "the push token is registered for another mailbox; it \
                    moves only once that registration is removed (the device unregisters, the \
                    push provider reports the token dead, or an administrator removes the \
                    device)"
                    .to_owned(),
                Refusal::TooMany(max) => {
                    format!("the mailbox has {max} devices registered, the most it may have")
                }
            };
            StoreError::Conflict {
                op: OP,
                record,
                rule,
            }
        })
    }

    async fn unregister_device(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        token: &str,
    ) -> Result<bool, StoreError> {
        const OP: &str = "unregister device";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::device_record(tenant, &mailbox, token);
        let client = self.client(OP, &record).await?;
        let result = changed(
            &client,
            "DELETE FROM devices WHERE tenant = $1 AND mailbox = $2 AND token = $3",
            &[&tenant.as_str(), &mailbox, &token],
        )
        .await;
        settle(OP, record, result)
    }

    async fn remove_device(&self, id: i64) -> Result<bool, StoreError> {
        const OP: &str = "remove device";
        let record = format!("device {id}");
        let client = self.client(OP, &record).await?;
        let result = changed(&client, "DELETE FROM devices WHERE id = $1", &[&id]).await;
        settle(OP, record, result)
    }

    async fn devices_for(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Vec<Device>, StoreError> {
        const OP: &str = "list devices";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE tenant = $1 AND mailbox = $2 ORDER BY id"
            );
            let rows = client.query(&sql, &[&tenant.as_str(), &mailbox]).await?;
            rows.iter().map(device).collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn devices(&self, tenant: &TenantId) -> Result<Vec<Device>, StoreError> {
        const OP: &str = "list devices";
        let record = format!("of tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE tenant = $1 ORDER BY mailbox, id"
            );
            let rows = client.query(&sql, &[&tenant.as_str()]).await?;
            rows.iter().map(device).collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        const OP: &str = "count devices";
        let client = self.client(OP, "").await?;
        let result = async {
            count(
                &client
                    .query_one("SELECT count(*) FROM devices", &[])
                    .await?,
            )
        }
        .await;
        settle(OP, String::new(), result)
    }
}

#[async_trait]
impl MailboxStore for PostgresStore {
    async fn upsert_mailbox(&self, record: &MailboxRecord) -> Result<(), StoreError> {
        const OP: &str = "save mailbox";
        let mailbox = check::mailbox(OP, &record.mailbox)?;
        let shown = in_mailbox(&record.tenant, &mailbox);
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
        let record = in_mailbox(tenant, &mailbox);
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
        let record = in_mailbox(tenant, &mailbox);
        let client = self.client(OP, &record).await?;
        let result = changed(
            &client,
            "DELETE FROM mailboxes WHERE tenant = $1 AND mailbox = $2",
            &[&tenant.as_str(), &mailbox],
        )
        .await;
        settle(OP, record, result)
    }

    async fn save_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        watermark: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "save watermark";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = in_mailbox(tenant, &mailbox);
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
        let record = in_mailbox(tenant, &mailbox);
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

#[async_trait]
impl Outbox for PostgresStore {
    async fn enqueue(
        &self,
        pushes: &[PendingPush],
        watermark: Option<(&TenantId, &str, &str)>,
    ) -> Result<Vec<i64>, StoreError> {
        const OP: &str = "enqueue";
        let pushes = check::pushes(OP, pushes)?;
        let mark = match watermark {
            Some((tenant, mailbox, watermark)) => {
                Some((tenant.as_str(), check::mailbox(OP, mailbox)?, watermark))
            }
            None => None,
        };
        let record = match (&mark, pushes.first()) {
            (Some((tenant, mailbox, _)), _) => format!(
                "{} pushes for mailbox {mailbox} of tenant {tenant}",
                pushes.len()
            ),
            (None, Some(first)) => format!(
                "{} pushes, the first for mailbox {}",
                pushes.len(),
                first.mailbox
            ),
            (None, None) => "nothing".to_owned(),
        };
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let insert = tx
                .prepare(
                    "INSERT INTO outbox
                         (device_id, tenant, mailbox, payload, seen_at_ms, not_before_ms)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     RETURNING id",
                )
                .await?;
            let mut ids = Vec::with_capacity(pushes.len());
            for push in &pushes {
                let row = tx
                    .query_one(
                        &insert,
                        &[
                            &push.device_id,
                            &push.tenant.as_str(),
                            &push.mailbox,
                            &push.payload,
                            &push.seen_at_ms,
                        ],
                    )
                    .await?;
                ids.push(row.try_get(0)?);
            }
            if let Some((tenant, mailbox, watermark)) = &mark {
                save_watermark(&tx, tenant, mailbox, watermark, now_ms()).await?;
            }
            tx.commit().await?;
            Ok(ids)
        }
        .await;
        settle(OP, record, result)
    }

    async fn due(&self, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        const OP: &str = "read due pushes";
        let record = format!("at {now_ms}");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            // Rows another node is reading right now are skipped, not waited for.
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE not_before_ms <= $1
                 ORDER BY not_before_ms, id LIMIT $2 FOR UPDATE SKIP LOCKED"
            );
            let rows = tx.query(&sql, &[&now_ms, &limit]).await?;
            let entries = rows.iter().map(entry).collect::<Result<Vec<_>, _>>()?;
            tx.commit().await?;
            Ok(entries)
        }
        .await;
        settle(OP, record, result)
    }

    async fn complete(&self, id: i64) -> Result<bool, StoreError> {
        const OP: &str = "complete push";
        let record = format!("push {id}");
        let client = self.client(OP, &record).await?;
        let result = changed(&client, "DELETE FROM outbox WHERE id = $1", &[&id]).await;
        settle(OP, record, result)
    }

    async fn retry_later(&self, id: i64, not_before_ms: i64) -> Result<bool, StoreError> {
        const OP: &str = "retry push";
        let record = format!("push {id}");
        let client = self.client(OP, &record).await?;
        let result = changed(
            &client,
            "UPDATE outbox SET attempts = attempts + 1, not_before_ms = $2 WHERE id = $1",
            &[&id, &not_before_ms],
        )
        .await;
        settle(OP, record, result)
    }

    async fn outbox_len(&self) -> Result<u64, StoreError> {
        const OP: &str = "count pushes";
        let client = self.client(OP, "").await?;
        let result =
            async { count(&client.query_one("SELECT count(*) FROM outbox", &[]).await?) }.await;
        settle(OP, String::new(), result)
    }
}

/// The version of `user`'s document `key`, if stored.
async fn follow_me_version(
    tx: &deadpool_postgres::Transaction<'_>,
    tenant: &str,
    user: &str,
    key: &str,
) -> Result<Option<i64>, Failure> {
    let row = tx
        .query_opt(
            r#"SELECT version FROM follow_me WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
            &[&tenant, &user, &key],
        )
        .await?;
    Ok(row.map(|row| row.try_get(0)).transpose()?)
}

#[async_trait]
impl FollowMeStore for PostgresStore {
    async fn follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
    ) -> Result<Option<FollowMeDocument>, StoreError> {
        const OP: &str = "read follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let record = follow_me_record(tenant, &user, key);
        let client = self.client(OP, &record).await?;
        let result = async {
            let row = client
                .query_opt(
                    r#"SELECT key, version, body, updated_at_ms FROM follow_me
                       WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                    &[&tenant.as_str(), &user, &key],
                )
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(FollowMeDocument {
                key: row.try_get(0)?,
                version: row.try_get(1)?,
                body: row.try_get(2)?,
                updated_at_ms: row.try_get(3)?,
            }))
        }
        .await;
        settle(OP, record, result)
    }

    async fn follow_me_keys(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<FollowMeDocument>, StoreError> {
        const OP: &str = "list follow-me documents";
        let user = check::mailbox(OP, user)?;
        let record = format!("of {user} in tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let rows = client
                .query(
                    r#"SELECT key, version, updated_at_ms FROM follow_me
                       WHERE tenant = $1 AND "user" = $2 ORDER BY key"#,
                    &[&tenant.as_str(), &user],
                )
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(FollowMeDocument {
                        key: row.try_get(0)?,
                        version: row.try_get(1)?,
                        body: String::new(),
                        updated_at_ms: row.try_get(2)?,
                    })
                })
                .collect()
        }
        .await;
        settle(OP, record, result)
    }

    async fn put_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        body: &str,
        expect: FollowMeExpect,
        max_documents: usize,
    ) -> Result<FollowMeWrite, StoreError> {
        const OP: &str = "write follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        check_body(OP, key, body)?;
        let record = follow_me_record(tenant, &user, key);
        let now = now_ms();
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let tenant = tenant.as_str();
            // One writer of a user's documents at a time: the version read is the one replaced,
            // and the count read is the count the bound applies to.
            lock(&tx, &format!("follow-me\n{tenant}\n{user}")).await?;
            let current = follow_me_version(&tx, tenant, &user, key).await?;
            let written = match (expect, current) {
                (FollowMeExpect::Absent, None) => {
                    let kept = count(
                        &tx.query_one(
                            r#"SELECT count(*) FROM follow_me WHERE tenant = $1 AND "user" = $2"#,
                            &[&tenant, &user],
                        )
                        .await?,
                    )?;
                    if usize::try_from(kept).unwrap_or(usize::MAX) >= max_documents {
                        return Ok(FollowMeWrite::Full);
                    }
                    tx.execute(
                        r#"INSERT INTO follow_me (tenant, "user", key, version, body, updated_at_ms)
                           VALUES ($1, $2, $3, 1, $4, $5)"#,
                        &[&tenant, &user, &key, &body, &now],
                    )
                    .await?;
                    1
                }
                (FollowMeExpect::Version(expected), Some(stored)) if expected == stored => {
                    tx.execute(
                        r#"UPDATE follow_me SET version = version + 1, body = $4, updated_at_ms = $5
                           WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                        &[&tenant, &user, &key, &body, &now],
                    )
                    .await?;
                    stored + 1
                }
                (_, current) => return Ok(FollowMeWrite::Conflict { current }),
            };
            tx.commit().await?;
            Ok(FollowMeWrite::Written { version: written })
        }
        .await;
        settle(OP, record, result)
    }

    async fn delete_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        version: i64,
    ) -> Result<FollowMeWrite, StoreError> {
        const OP: &str = "delete follow-me document";
        let user = check::mailbox(OP, user)?;
        check_key(OP, key)?;
        let record = follow_me_record(tenant, &user, key);
        let mut client = self.client(OP, &record).await?;
        let result = async {
            let tx = client.transaction().await?;
            let tenant = tenant.as_str();
            lock(&tx, &format!("follow-me\n{tenant}\n{user}")).await?;
            let current = follow_me_version(&tx, tenant, &user, key).await?;
            if current != Some(version) {
                return Ok(FollowMeWrite::Conflict { current });
            }
            tx.execute(
                r#"DELETE FROM follow_me WHERE tenant = $1 AND "user" = $2 AND key = $3"#,
                &[&tenant, &user, &key],
            )
            .await?;
            tx.commit().await?;
            Ok(FollowMeWrite::Written { version })
        }
        .await;
        settle(OP, record, result)
    }
}
