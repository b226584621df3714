//! Devices and their mailboxes written to a store before a service starts on it, for the load
//! examples (a registration's API path is `service_load`'s subject; these measure what comes
//! after).

use std::sync::Arc;

use bems::store::model::{MailboxRecord, NewDevice, Platform, TenantId};
use bems::store::{Store, StoreKey};
use bems_demo::{TENANT, World};
use futures_util::StreamExt as _;

/// The demo world's store key.
pub(crate) fn store_key(world: &World) -> StoreKey {
    let key = world
        .settings
        .store
        .key_bytes()
        .expect("the demo's key is well formed")
        .expect("the demo has a store key");
    StoreKey::from_bytes(*key)
}

/// Writes one device per (mailbox, token) of the demo tenant, on `platform` for `app`, and
/// each mailbox (not yet located), 16 at a time; progress every 20,000.
pub(crate) async fn seed(
    store: Arc<dyn Store>,
    devices: &[(String, String)],
    platform: Platform,
    app: &str,
) {
    let tenant = TenantId::new(TENANT).expect("tenant");
    let mut writes = futures_util::stream::iter(devices)
        .map(|(mailbox, token)| {
            let (store, tenant) = (Arc::clone(&store), tenant.clone());
            async move {
                let device = NewDevice {
                    tenant: tenant.clone(),
                    mailbox: mailbox.clone(),
                    platform,
                    token: token.clone(),
                    app_id: app.into(),
                    locale: "en".into(),
                    public_key: None,
                };
                store.register_device(&device, 10).await.expect("device");
                let record = MailboxRecord {
                    tenant,
                    mailbox: mailbox.clone(),
                    ews_url: None,
                    grouping: None,
                    watermark: None,
                };
                store.upsert_mailbox(&record).await.expect("mailbox");
            }
        })
        .buffer_unordered(16);
    let mut written = 0usize;
    while writes.next().await.is_some() {
        written += 1;
        if written.is_multiple_of(20_000) {
            eprintln!("  {written} devices stored");
        }
    }
}
