//! The badge's fallback for a Graph tenant: the inbox's `unreadItemCount` for mailboxes on
//! Graph, `GetFolder` through EWS for those not moved yet.

use std::sync::Arc;

use async_trait::async_trait;

use crate::graph::GraphBackend;
use crate::pipeline::UnreadCounts;
use crate::unread::EwsUnread;
use bems_store::MailboxStore;
use bems_store::model::TenantId;

/// Asks Graph or EWS, by where the mailbox is watched.
pub struct TenantUnread {
    ews: EwsUnread,
    graph: Arc<dyn GraphBackend>,
    store: Arc<dyn MailboxStore>,
    tenant: TenantId,
    /// Record URLs of mailboxes on Graph start with this.
    prefix: String,
}

impl std::fmt::Debug for TenantUnread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantUnread")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl TenantUnread {
    /// Counts for `tenant`: through `graph` for records under `prefix`, else through `ews`.
    pub fn new(
        ews: EwsUnread,
        graph: Arc<dyn GraphBackend>,
        store: Arc<dyn MailboxStore>,
        tenant: TenantId,
        prefix: String,
    ) -> Self {
        Self {
            ews,
            graph,
            store,
            tenant,
            prefix,
        }
    }
}

#[async_trait]
impl UnreadCounts for TenantUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        let record = self.store.mailbox(&self.tenant, mailbox).await.ok()??;
        let on_graph = record
            .ews_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&self.prefix));
        if !on_graph {
            return self.ews.unread(mailbox).await;
        }
        match self.graph.unread_count(mailbox).await {
            Ok(count) => Some(count),
            Err(error) => {
                tracing::info!(tenant = %self.tenant, mailbox, %error, "unread count not available from Graph");
                None
            }
        }
    }
}
