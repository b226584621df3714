//! The store seen through the traits of `ews-subscriptions` and `exchange-auth`, for one tenant.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use ews_proto::Watermark;
use exchange_auth::{AuthError, RefreshTokenStore};
use mailbox_watch::{WatchError, WatermarkStore};
use secrecy::{ExposeSecret, SecretSlice, SecretString};

use bems_store::model::TenantId;
use bems_store::{MailboxStore, StoreError, TenantStore};

/// One tenant's watermarks in the store, for its `ews_subscriptions::Watcher`.
///
/// `remove` (the watcher no longer watches a mailbox) forgets the mailbox's record with its
/// watermark.
#[derive(Clone)]
pub struct TenantWatermarks {
    store: Arc<dyn MailboxStore>,
    tenant: TenantId,
}

impl TenantWatermarks {
    /// `tenant`'s watermarks in `store`.
    pub fn new(store: Arc<dyn MailboxStore>, tenant: TenantId) -> Self {
        Self { store, tenant }
    }
}

impl fmt::Debug for TenantWatermarks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantWatermarks")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

fn watch_error(error: StoreError) -> WatchError {
    WatchError::store(error)
}

#[async_trait]
impl WatermarkStore for TenantWatermarks {
    async fn load(&self, mailbox: &str) -> Result<Option<Watermark>, WatchError> {
        let watermark = self.store.load_watermark(&self.tenant, mailbox).await;
        Ok(watermark.map_err(watch_error)?.map(Watermark::new))
    }

    async fn save(&self, mailbox: &str, watermark: &Watermark) -> Result<(), WatchError> {
        self.store
            .save_watermark(&self.tenant, mailbox, watermark.as_str())
            .await
            .map_err(watch_error)
    }

    async fn remove(&self, mailbox: &str) -> Result<(), WatchError> {
        self.store
            .remove_mailbox(&self.tenant, mailbox)
            .await
            .map(drop)
            .map_err(watch_error)
    }
}

/// The tenant's watermarks as its watchers see them: a watcher letting go of a mailbox does
/// not remove its record. The service removes it itself when the last device goes; a mailbox
/// handed to another node (or whose lease this node lost) keeps the watermark the next holder
/// resumes from, and one moving from EWS to Graph keeps its record.
#[derive(Debug, Clone)]
pub struct KeepRecords(pub TenantWatermarks);

#[async_trait]
impl WatermarkStore for KeepRecords {
    async fn load(&self, mailbox: &str) -> Result<Option<Watermark>, WatchError> {
        self.0.load(mailbox).await
    }

    async fn save(&self, mailbox: &str, watermark: &Watermark) -> Result<(), WatchError> {
        self.0.save(mailbox, watermark).await
    }

    async fn remove(&self, _mailbox: &str) -> Result<(), WatchError> {
        Ok(())
    }
}

/// One tenant's OAuth refresh token (passive authentication), kept as an encrypted secret.
#[derive(Clone)]
pub struct TenantRefreshTokens {
    store: Arc<dyn TenantStore>,
    tenant: TenantId,
    name: String,
}

impl TenantRefreshTokens {
    /// The secret's name unless told otherwise.
    pub const DEFAULT_NAME: &'static str = "oauth-refresh-token";

    /// `tenant`'s refresh token in `store`, under [`TenantRefreshTokens::DEFAULT_NAME`].
    pub fn new(store: Arc<dyn TenantStore>, tenant: TenantId) -> Self {
        Self {
            store,
            tenant,
            name: Self::DEFAULT_NAME.to_owned(),
        }
    }

    /// The same under another secret name (a tenant with more than one sign-in).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

impl fmt::Debug for TenantRefreshTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantRefreshTokens")
            .field("tenant", &self.tenant)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A wrong store key is a setting to fix; anything else may pass (a busy or failing disk).
fn auth_error(error: StoreError) -> AuthError {
    if error.is_key_problem() {
        AuthError::Config {
            setting: "store key",
            reason: error.to_string(),
        }
    } else {
        AuthError::Network(format!("refresh-token store: {error}"))
    }
}

#[async_trait]
impl RefreshTokenStore for TenantRefreshTokens {
    async fn load(&self) -> Result<Option<SecretString>, AuthError> {
        let Some(bytes) = self
            .store
            .secret(&self.tenant, &self.name)
            .await
            .map_err(auth_error)?
        else {
            return Ok(None);
        };
        let text = std::str::from_utf8(bytes.expose_secret()).map_err(|_| AuthError::Config {
            setting: "store",
            reason: format!(
                "secret {:?} of tenant {} is not text",
                self.name, self.tenant
            ),
        })?;
        Ok(Some(SecretString::from(text)))
    }

    async fn save(&self, token: &SecretString) -> Result<(), AuthError> {
        let bytes = SecretSlice::from(token.expose_secret().as_bytes().to_vec());
        self.store
            .put_secret(&self.tenant, &self.name, &bytes)
            .await
            .map_err(auth_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrong_key_asks_for_the_setting_and_a_busy_store_for_a_retry() {
        let wrong = auth_error(StoreError::Decrypt {
            tenant: "contoso".into(),
            name: "oauth".into(),
        });
        assert!(matches!(
            wrong,
            AuthError::Config {
                setting: "store key",
                ..
            }
        ));
        let busy = auth_error(StoreError::Busy {
            op: "read secret",
            record: String::new(),
        });
        assert!(busy.is_retryable());
    }
}
