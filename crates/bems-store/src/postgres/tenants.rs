//! Tenants' settings documents, their sealed secrets and trusted certificates.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretSlice};
use tokio::sync::broadcast;

use super::listen::CHANNEL;
use super::shared::{settle, tenant_id, unsigned};
use super::{Failure, PostgresStore, now_ms};
use crate::crypto::{self, Sealed};
use crate::model::TenantId;
use crate::{StoreError, TenantStore, check};

#[async_trait]
impl TenantStore for PostgresStore {
    async fn put_tenant(&self, tenant: &TenantId, settings_json: &str) -> Result<(), StoreError> {
        const OP: &str = "put tenant";
        check::settings(OP, tenant, settings_json)?;
        let record = format!("tenant {tenant}");
        let client = self.client(OP, &record).await?;
        // One statement: the change is announced to every node as it is committed.
        let result = client
            .execute(
                "WITH saved AS (
                     INSERT INTO tenants (id, settings, updated_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (id) DO UPDATE SET settings = excluded.settings,
                                                    updated_at_ms = excluded.updated_at_ms
                     RETURNING id
                 )
                 SELECT pg_notify($4, id) FROM saved",
                &[&tenant.as_str(), &settings_json, &now_ms(), &CHANNEL],
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
                "shared_subscriptions",
                "relayed",
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
            if existed {
                tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &tenant.as_str()])
                    .await?;
            }
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
        let record = check::named("secret", tenant, name);
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
        let record = check::named("secret", tenant, name);
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
        let record = check::named("secret", tenant, name);
        self.change(
            OP,
            record,
            "DELETE FROM secrets WHERE tenant = $1 AND name = $2",
            &[&tenant.as_str(), &name],
        )
        .await
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
        let record = check::named("certificate", tenant, name);
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
        let record = check::named("certificate", tenant, name);
        self.change(
            OP,
            record,
            "DELETE FROM certificates WHERE tenant = $1 AND name = $2",
            &[&tenant.as_str(), &name],
        )
        .await
    }

    fn tenant_changes(&self) -> broadcast::Receiver<TenantId> {
        self.changes.subscribe()
    }
}
