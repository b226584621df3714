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
    ews: Arc<EwsUnread>,
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
        ews: Arc<EwsUnread>,
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

impl TenantUnread {
    /// Whether `mailbox` is watched on Graph (its record's URL is under the Graph prefix).
    pub(crate) async fn on_graph(&self, mailbox: &str) -> bool {
        let record = self
            .store
            .mailbox(&self.tenant, mailbox)
            .await
            .ok()
            .flatten();
        record
            .and_then(|r| r.ews_url)
            .is_some_and(|u| u.starts_with(&self.prefix))
    }

    /// The EWS side.
    pub(crate) fn ews(&self) -> &EwsUnread {
        &self.ews
    }

    /// The Graph side.
    pub(crate) fn graph(&self) -> &Arc<dyn GraphBackend> {
        &self.graph
    }
}

#[async_trait]
impl UnreadCounts for TenantUnread {
    async fn unread(&self, mailbox: &str) -> Option<u32> {
        if !self.on_graph(mailbox).await {
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
