//! The inbox's unread count, asked of Exchange (`GetFolder`) when the events did not carry it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ews_proto::operations::{GetFolder, GetFolderResponse};
use ews_proto::soap::{ConnectingSid, ExchangeVersion, SoapHeader, read_envelope, write_envelope};
use ews_proto::{BaseFolderId, affinity};
use exchange_auth::{Authenticator, HttpRequest};

use crate::pipeline::UnreadCounts;
use bems_store::Store;
use bems_store::model::TenantId;

/// Asks Exchange, as the mailbox (impersonation), at the EWS URL the store recorded.
pub struct EwsUnread {
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn Store>,
    tenant: TenantId,
}

impl std::fmt::Debug for EwsUnread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EwsUnread")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl EwsUnread {
    /// Asks through `auth`, at the URLs `store` holds for `tenant`'s mailboxes.
    pub fn new(auth: Arc<dyn Authenticator>, store: Arc<dyn Store>, tenant: TenantId) -> Self {
        Self {
            auth,
            store,
            tenant,
        }
    }
}

/// `GetFolder` of `mailbox`'s inbox at `url`, impersonating it; its unread count.
pub async fn inbox_unread(
    auth: &dyn Authenticator,
    url: url::Url,
    mailbox: &str,
) -> Result<u32, String> {
    let header = SoapHeader::request(ExchangeVersion::Exchange2013)
        .impersonating(ConnectingSid::PrimarySmtpAddress(mailbox.to_owned()));
    let body = write_envelope(&header, &GetFolder::new(vec![BaseFolderId::inbox()]));
    let request = HttpRequest::post(url, body)
        .header("Content-Type", "text/xml; charset=utf-8")
        .header(affinity::ANCHOR_MAILBOX, mailbox)
        .timeout(Some(Duration::from_secs(30)));
    let response = auth.send(request).await.map_err(|e| e.to_string())?;
    let status = response.status;
    let bytes = response.bytes(1 << 20).await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("HTTP {status}"));
    }
    let message = read_envelope::<GetFolderResponse>(&bytes)
        .map_err(|e| e.to_string())?
        .body
        .into_first()
        .ok_or("an answer without a response message")?;
    if !message.status.is_success() {
        return Err(message.status.code.as_str().to_owned());
    }
    let unread = message
        .folders
        .first()
        .and_then(|f| f.unread_count)
        .ok_or("the inbox has no UnreadCount")?;
    u32::try_from(unread).map_err(|_| format!("UnreadCount {unread} is negative"))
}

#[async_trait]
impl UnreadCounts for EwsUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        let record = self.store.mailbox(&self.tenant, mailbox).await.ok()??;
        let url = record.ews_url?.parse().ok()?;
        match inbox_unread(self.auth.as_ref(), url, mailbox).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::info!(tenant = %self.tenant, mailbox, %error, "unread count not available");
                None
            }
        }
    }
}
