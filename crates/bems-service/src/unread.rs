//! The inbox's unread count, asked of Exchange (`GetFolder`) when the events did not carry it.

use std::sync::Arc;

use async_trait::async_trait;
use ews_proto::soap::ExchangeVersion;
use exchange_auth::Authenticator;

use crate::pipeline::UnreadCounts;
use bems_store::MailboxStore;
use bems_store::model::TenantId;

/// Asks Exchange, as the mailbox (impersonation), at the EWS URL the store recorded.
pub struct EwsUnread {
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn MailboxStore>,
    tenant: TenantId,
    version: ExchangeVersion,
}

impl std::fmt::Debug for EwsUnread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsUnread")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl EwsUnread {
    /// Asks through `auth`, at the URLs `store` holds for `tenant`'s mailboxes, with the
    /// tenant's `RequestServerVersion`.
    pub fn new(
        auth: Arc<dyn Authenticator>,
        store: Arc<dyn MailboxStore>,
        tenant: TenantId,
        version: ExchangeVersion,
    ) -> Self {
        Self {
            auth,
            store,
            tenant,
            version,
        }
    }
}

impl EwsUnread {
    /// Where and how to ask EWS about `mailbox`: the authenticator, its recorded EWS URL and the
    /// tenant's `RequestServerVersion` (for other calls as the mailbox, like `GetItem`).
    pub(crate) async fn access(
        &self,
        mailbox: &str,
    ) -> Result<(&dyn Authenticator, url::Url, ExchangeVersion), String> {
        let record = self
            .store
            .mailbox(&self.tenant, mailbox)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the mailbox is not recorded")?;
        let url = record
            .ews_url
            .ok_or("the mailbox has no EWS URL yet")?
            .parse()
            .map_err(|e| format!("the recorded EWS URL: {e}"))?;
        Ok((self.auth.as_ref(), url, self.version.clone()))
    }
}

#[async_trait]
impl UnreadCounts for EwsUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        let (auth, url, version) = self.access(mailbox).await.ok()?;
        match exchange_check::inbox_unread(auth, url, mailbox, version).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::info!(tenant = %self.tenant, mailbox, %error, "unread count not available");
                None
            }
        }
    }
}
