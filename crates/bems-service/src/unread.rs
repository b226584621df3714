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

#[async_trait]
impl UnreadCounts for EwsUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        let record = self.store.mailbox(&self.tenant, mailbox).await.ok()??;
        let url = record.ews_url?.parse().ok()?;
        match exchange_check::inbox_unread(self.auth.as_ref(), url, mailbox, self.version.clone())
            .await
        {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::info!(tenant = %self.tenant, mailbox, %error, "unread count not available");
                None
            }
        }
    }
}
