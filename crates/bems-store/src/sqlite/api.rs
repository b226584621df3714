//! [`Store`] for [`SqliteStore`]: input is checked (and mailboxes lower-cased) here, secrets are
//! sealed and opened here, and the SQL runs on the store's thread. The outbox's part is in
//! `outbox`, the leases' in `cluster`, the relay's in `relay`, beside their SQL.

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretSlice};
use tokio::sync::broadcast;

use super::{SqliteStore, devices, mailboxes, now_ms, secrets, tenants};
use crate::model::{Device, MailboxRecord, NewDevice, TenantId};
use crate::{
    DeviceStore, FollowMeDocument, FollowMeExpect, FollowMeStore, FollowMeWrite, MailboxStore,
    StoreError, TenantStore, check, crypto,
};

#[async_trait]
impl TenantStore for SqliteStore {
    async fn put_tenant(&self, tenant: &TenantId, settings_json: &str) -> Result<(), StoreError> {
        const OP: &str = "put tenant";
        check::settings(OP, tenant, settings_json)?;
        let (id, settings, now) = (tenant.to_string(), settings_json.to_owned(), now_ms());
        self.call(
            OP,
            || format!("tenant {tenant}"),
            move |c| tenants::put(c, &id, &settings, now),
        )
        .await?;
        // Nobody listening is no failure.
        let _ = self.changes.send(tenant.clone());
        Ok(())
    }

    async fn tenant(&self, tenant: &TenantId) -> Result<Option<String>, StoreError> {
        let id = tenant.to_string();
        self.call(
            "read tenant",
            || format!("tenant {tenant}"),
            move |c| tenants::get(c, &id),
        )
        .await
    }

    async fn tenants(&self) -> Result<Vec<TenantId>, StoreError> {
        self.call("list tenants", String::new, |c| tenants::list(c))
            .await
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let id = tenant.to_string();
        let existed = self
            .call(
                "delete tenant",
                || format!("tenant {tenant}"),
                move |c| tenants::delete(c, &id),
            )
            .await?;
        if existed {
            let _ = self.changes.send(tenant.clone());
        }
        Ok(existed)
    }

    async fn put_secret(
        &self,
        tenant: &TenantId,
        name: &str,
        value: &SecretSlice<u8>,
    ) -> Result<(), StoreError> {
        const OP: &str = "put secret";
        check::name(OP, tenant, name)?;
        check::size(
            OP,
            &check::named("secret", tenant, name),
            value.expose_secret().len(),
        )?;
        let sealed = crypto::seal(&self.key, tenant, name, value)?;
        let (id, owned, now) = (tenant.to_string(), name.to_owned(), now_ms());
        self.call(
            OP,
            || check::named("secret", tenant, name),
            move |c| secrets::put_secret(c, &id, &owned, &sealed, now),
        )
        .await
    }

    async fn secret(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<SecretSlice<u8>>, StoreError> {
        let (id, owned) = (tenant.to_string(), name.to_owned());
        let sealed = self
            .call(
                "read secret",
                || check::named("secret", tenant, name),
                move |c| secrets::secret(c, &id, &owned),
            )
            .await?;
        sealed
            .map(|sealed| crypto::open(&self.key, tenant, name, sealed))
            .transpose()
    }

    async fn delete_secret(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let (id, owned) = (tenant.to_string(), name.to_owned());
        self.call(
            "delete secret",
            || check::named("secret", tenant, name),
            move |c| secrets::delete_secret(c, &id, &owned),
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
        let (id, owned, pem, now) = (
            tenant.to_string(),
            name.to_owned(),
            pem.to_owned(),
            now_ms(),
        );
        self.call(
            OP,
            || check::named("certificate", tenant, name),
            move |c| secrets::put_certificate(c, &id, &owned, &pem, now),
        )
        .await
    }

    async fn certificates(&self, tenant: &TenantId) -> Result<Vec<(String, String)>, StoreError> {
        let id = tenant.to_string();
        self.call(
            "list certificates",
            || format!("of tenant {tenant}"),
            move |c| secrets::certificates(c, &id),
        )
        .await
    }

    async fn delete_certificate(&self, tenant: &TenantId, name: &str) -> Result<bool, StoreError> {
        let (id, owned) = (tenant.to_string(), name.to_owned());
        self.call(
            "delete certificate",
            || check::named("certificate", tenant, name),
            move |c| secrets::delete_certificate(c, &id, &owned),
        )
        .await
    }

    fn tenant_changes(&self) -> broadcast::Receiver<TenantId> {
        self.changes.subscribe()
    }
}

#[async_trait]
impl DeviceStore for SqliteStore {
    async fn register_device(
        &self,
        device: &NewDevice,
        max_per_mailbox: u32,
    ) -> Result<Device, StoreError> {
        const OP: &str = "register device";
        let device = check::device(OP, device)?;
        let record = check::device_record(&device.tenant, &device.mailbox, &device.token);
        let now = now_ms();
        let answer = self
            .call(
                OP,
                || record.clone(),
                move |c| devices::register(c, &device, max_per_mailbox, now),
            )
            .await?;
        answer.map_err(|refusal| refusal.into_conflict(OP, record))
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
        let (id, token) = (tenant.to_string(), token.to_owned());
        self.call(
            OP,
            || record,
            move |c| devices::unregister(c, &id, &mailbox, &token),
        )
        .await
    }

    async fn remove_device(&self, id: i64) -> Result<bool, StoreError> {
        self.call(
            "remove device",
            || format!("device {id}"),
            move |c| devices::remove(c, id),
        )
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
        let id = tenant.to_string();
        self.call(
            OP,
            || record,
            move |c| devices::for_mailbox(c, &id, &mailbox),
        )
        .await
    }

    async fn devices(&self, tenant: &TenantId) -> Result<Vec<Device>, StoreError> {
        let id = tenant.to_string();
        self.call(
            "list devices",
            || format!("of tenant {tenant}"),
            move |c| devices::for_tenant(c, &id),
        )
        .await
    }

    async fn mailboxes_with_devices(&self, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
        let id = tenant.to_string();
        self.call(
            "list mailboxes with devices",
            || format!("of tenant {tenant}"),
            move |c| devices::mailboxes_of_tenant(c, &id),
        )
        .await
    }

    async fn device_count(&self) -> Result<u64, StoreError> {
        self.call("count devices", String::new, |c| devices::count(c))
            .await
    }
}

#[async_trait]
impl MailboxStore for SqliteStore {
    async fn upsert_mailbox(&self, record: &MailboxRecord) -> Result<(), StoreError> {
        const OP: &str = "save mailbox";
        let mailbox = check::mailbox(OP, &record.mailbox)?;
        let shown = check::in_mailbox(&record.tenant, &mailbox);
        let record = MailboxRecord {
            mailbox,
            ..record.clone()
        };
        let now = now_ms();
        self.call(OP, || shown, move |c| mailboxes::upsert(c, &record, now))
            .await
    }

    async fn mailboxes(&self) -> Result<Vec<MailboxRecord>, StoreError> {
        self.call("list mailboxes", String::new, |c| mailboxes::list(c))
            .await
    }

    async fn mailbox(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        const OP: &str = "read mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let id = tenant.to_string();
        self.call(OP, || record, move |c| mailboxes::get(c, &id, &mailbox))
            .await
    }

    async fn remove_mailbox(&self, tenant: &TenantId, mailbox: &str) -> Result<bool, StoreError> {
        const OP: &str = "remove mailbox";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let id = tenant.to_string();
        self.call(OP, || record, move |c| mailboxes::remove(c, &id, &mailbox))
            .await
    }

    async fn save_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
        watermark: &str,
    ) -> Result<(), StoreError> {
        const OP: &str = "save watermark";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let (id, watermark, now) = (tenant.to_string(), watermark.to_owned(), now_ms());
        self.call(
            OP,
            || record,
            move |c| mailboxes::save_watermark(c, &id, &mailbox, &watermark, now),
        )
        .await
    }

    async fn load_watermark(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<String>, StoreError> {
        const OP: &str = "load watermark";
        let mailbox = check::mailbox(OP, mailbox)?;
        let record = check::in_mailbox(tenant, &mailbox);
        let id = tenant.to_string();
        self.call(
            OP,
            || record,
            move |c| mailboxes::load_watermark(c, &id, &mailbox),
        )
        .await
    }

    async fn unread_counts(&self, tenant: &TenantId) -> Result<Vec<(String, u32)>, StoreError> {
        let id = tenant.to_string();
        self.call(
            "list unread counts",
            || format!("of tenant {tenant}"),
            move |c| mailboxes::unread_counts(c, &id),
        )
        .await
    }

    async fn unread_counts_of(
        &self,
        tenant: &TenantId,
        mailboxes: &[String],
    ) -> Result<Vec<(String, u32)>, StoreError> {
        const OP: &str = "list unread counts";
        let mut asked = mailboxes
            .iter()
            .map(|mailbox| check::mailbox(OP, mailbox))
            .collect::<Result<Vec<_>, StoreError>>()?;
        asked.sort_unstable();
        asked.dedup();
        let (id, n) = (tenant.to_string(), asked.len());
        self.call(
            OP,
            || format!("of {n} mailboxes of tenant {tenant}"),
            move |c| mailboxes::unread_counts_of(c, &id, &asked),
        )
        .await
    }

    async fn save_unread_counts(
        &self,
        tenant: &TenantId,
        counts: &[(String, u32)],
    ) -> Result<(), StoreError> {
        const OP: &str = "save unread counts";
        let counts = counts
            .iter()
            .map(|(mailbox, unread)| Ok((check::mailbox(OP, mailbox)?, *unread)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let (id, n) = (tenant.to_string(), counts.len());
        self.call(
            OP,
            || format!("{n} mailboxes of tenant {tenant}"),
            move |c| mailboxes::save_unread_counts(c, &id, &counts),
        )
        .await
    }
}

#[async_trait]
impl FollowMeStore for SqliteStore {
    async fn follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
    ) -> Result<Option<FollowMeDocument>, StoreError> {
        self.read_follow_me(tenant, user, key).await
    }

    async fn follow_me_keys(
        &self,
        tenant: &TenantId,
        user: &str,
    ) -> Result<Vec<FollowMeDocument>, StoreError> {
        self.list_follow_me(tenant, user).await
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
        self.write_follow_me(tenant, user, key, body, expect, max_documents)
            .await
    }

    async fn delete_follow_me(
        &self,
        tenant: &TenantId,
        user: &str,
        key: &str,
        version: i64,
    ) -> Result<FollowMeWrite, StoreError> {
        self.remove_follow_me(tenant, user, key, version).await
    }
}
