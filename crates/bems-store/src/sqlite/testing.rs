//! What the store's unit tests share.

use crate::model::{NewDevice, Platform, TenantId};
use crate::{SqliteStore, StoreKey};

pub(crate) async fn store() -> SqliteStore {
    SqliteStore::in_memory(StoreKey::generate().unwrap())
        .await
        .unwrap()
}

pub(crate) fn contoso() -> TenantId {
    TenantId::new("contoso").unwrap()
}

pub(crate) fn new_device(mailbox: &str, token: &str) -> NewDevice {
    NewDevice {
        tenant: contoso(),
        mailbox: mailbox.into(),
        platform: Platform::Apns,
        token: token.into(),
        app_id: "com.example.mail".into(),
        locale: "en".into(),
        public_key: None,
    }
}
