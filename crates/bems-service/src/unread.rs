//! The inbox's unread count, asked of Exchange (`GetFolder`) when the events did not carry it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ews_client::{Call, CallOptions};
use ews_proto::operations::GetFolder;
use ews_proto::soap::ExchangeVersion;
use ews_proto::{BaseFolderId, ResponseCode};
use exchange_auth::Authenticator;

use crate::pipeline::UnreadCounts;
use bems_store::Store;
use bems_store::model::TenantId;

/// Asks Exchange, as the mailbox (impersonation), at the EWS URL the store recorded.
pub struct EwsUnread {
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn Store>,
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
        store: Arc<dyn Store>,
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

/// Why the inbox's unread count could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnreadError {
    /// The call failed: the authenticator, an HTTP status, a SOAP fault, an unreadable answer.
    #[error(transparent)]
    Call(#[from] ews_client::CallError),
    /// The answer held no response message.
    #[error("an answer without a response message")]
    NoMessage,
    /// Exchange answered with this error code.
    #[error("{}", .0.as_str())]
    Ews(ResponseCode),
    /// The inbox came without `UnreadCount`.
    #[error("the inbox has no UnreadCount")]
    NoCount,
    /// `UnreadCount` is negative.
    #[error("UnreadCount {0} is negative")]
    Negative(i32),
}

/// `GetFolder` of `mailbox`'s inbox at `url`, impersonating it, asking for `version`; its
/// unread count.
pub async fn inbox_unread(
    auth: &dyn Authenticator,
    url: url::Url,
    mailbox: &str,
    version: ExchangeVersion,
) -> Result<u32, UnreadError> {
    let message = Call::new(url, CallOptions::as_mailbox(version, mailbox))
        .timeout(Some(Duration::from_secs(30)))
        .max_answer(1 << 20)
        .send(auth, &GetFolder::new(vec![BaseFolderId::inbox()]))
        .await?
        .body
        .into_first()
        .ok_or(UnreadError::NoMessage)?;
    if !message.status.is_success() {
        return Err(UnreadError::Ews(message.status.code));
    }
    let unread = message
        .folders
        .first()
        .and_then(|f| f.unread_count)
        .ok_or(UnreadError::NoCount)?;
    u32::try_from(unread).map_err(|_| UnreadError::Negative(unread))
}

#[async_trait]
impl UnreadCounts for EwsUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        let record = self.store.mailbox(&self.tenant, mailbox).await.ok()??;
        let url = record.ews_url?.parse().ok()?;
        match inbox_unread(self.auth.as_ref(), url, mailbox, self.version.clone()).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::info!(tenant = %self.tenant, mailbox, %error, "unread count not available");
                None
            }
        }
    }
}
