//! Devices: registered by (platform, token), each token held by one mailbox.

use async_trait::async_trait;

use super::shared::{DEVICE_COLUMNS, count, device, lock, settle, time_of};
use super::{PostgresStore, now_ms};
use crate::check::Refusal;
use crate::model::{Device, NewDevice, TenantId};
use crate::{DeviceStore, StoreError, check};

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
                        return Ok(Err(Refusal::TooMany {
                            max: max_per_mailbox,
                        }));
                    }
                }
            }
            // A token taken meanwhile by another mailbox updates nothing and returns no row.
            let inserted = tx
                .query_opt(
                    "INSERT INTO devices
                         (tenant, mailbox, platform, token, app_id, locale, registered_at_ms,
                          public_key)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (platform, token) DO UPDATE SET
                         app_id = excluded.app_id, locale = excluded.locale,
                         registered_at_ms = excluded.registered_at_ms,
                         public_key = excluded.public_key
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
                        &device.public_key,
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
        settle(OP, record.clone(), result)?.map_err(|refusal| refusal.into_conflict(OP, record))
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
        self.change(
            OP,
            record,
            "DELETE FROM devices WHERE tenant = $1 AND mailbox = $2 AND token = $3",
            &[&tenant.as_str(), &mailbox, &token],
        )
        .await
    }

    async fn remove_device(&self, id: i64) -> Result<bool, StoreError> {
        const OP: &str = "remove device";
        let record = format!("device {id}");
        self.change(OP, record, "DELETE FROM devices WHERE id = $1", &[&id])
            .await
    }

    async fn devices_for(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Vec<Device>, StoreError> {
        const OP: &str = "list devices";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
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

    async fn mailboxes_with_devices(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        const OP: &str = "list mailboxes with devices";
        let record = format!("of tenant {tenant}");
        let client = self.client(OP, &record).await?;
        let result = async {
            let sql = "SELECT DISTINCT mailbox FROM devices WHERE tenant = $1 ORDER BY mailbox";
            let rows = client.query(sql, &[&tenant.as_str()]).await?;
            rows.iter().map(|row| Ok(row.try_get(0)?)).collect()
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
