//! A tenant on Microsoft Graph ("Use Microsoft Graph"): its Graph watcher, with app-only
//! authentication, its webhook (mounted at `/graph/<tenant>` by the API), a spool next to the
//! store, and the move of its mailboxes still on EWS ([`switch`]). Nodes sharing a store
//! share the webhook: any of them accepts a notification, and the node that holds the
//! mailbox delivers it (`peers`).
//!
//! A mailbox's record says where it is watched: on Graph, its URL is
//! `<graph endpoint>/v1.0/users/<mailbox>`; otherwise it is its EWS URL.

pub mod auth;
mod peers;
pub mod switch;
pub mod unread;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use exchange_auth::Authenticator;
use graph_subscriptions::{
    FileSpool, GraphCounts, GraphError, GraphSettings, GraphWatcher, MemorySpool, Spool,
};
use mailbox_watch::{Events, MailboxWatcher, WatchError, WatchTarget, WatcherStatus};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::error::StartError;
use crate::service::Overrides;
use bems_settings::TenantSettings;
use bems_store::model::{MailboxRecord, TenantId};
use bems_store::{MailboxStore, NodeId, Relay, Store};

use crate::adapters::TenantWatermarks;
use switch::{Mover, Switch};

/// The Graph watcher as a tenant holds it: a [`MailboxWatcher`] that also reads an inbox's
/// unread count (the badge of a mailbox on Graph) and counts what its webhook did.
#[async_trait]
pub trait GraphBackend: MailboxWatcher {
    /// The unread count of `mailbox`'s inbox.
    async fn unread_count(&self, mailbox: &str) -> Result<u32, GraphError>;

    /// The summary of one of `mailbox`'s messages (its id in EWS form).
    async fn message_summary(
        &self,
        mailbox: &str,
        ews_id: &str,
    ) -> Result<graph_subscriptions::wire::message::MessageSummary, GraphError>;

    /// What the webhook and the mailboxes' tasks did.
    fn counts(&self) -> GraphCounts;
}

#[async_trait]
impl GraphBackend for GraphWatcher {
    async fn unread_count(&self, mailbox: &str) -> Result<u32, GraphError> {
        Self::unread_count(self, mailbox).await
    }

    async fn message_summary(
        &self,
        mailbox: &str,
        ews_id: &str,
    ) -> Result<graph_subscriptions::wire::message::MessageSummary, GraphError> {
        Self::message_summary(self, mailbox, ews_id).await
    }

    fn counts(&self) -> GraphCounts {
        Self::counts(self)
    }
}

/// A tenant's Graph side.
pub struct GraphTenant {
    /// Watches the tenant's mailboxes on Graph.
    pub watcher: Arc<dyn GraphBackend>,
    /// What Graph calls (notifications, lifecycle notifications, validation), mounted at
    /// `/graph/<tenant>` by the API.
    pub webhook: axum::Router,
    /// Sends Graph requests (app-only).
    pub auth: Arc<dyn Authenticator>,
    /// The EWS to Graph handover.
    pub switch: Arc<Switch>,
    prefix: String,
    stop: CancellationToken,
}

impl std::fmt::Debug for GraphTenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphTenant")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// What starting a Graph tenant needs from the service.
pub(crate) struct Start<'a> {
    pub(crate) settings: &'a TenantSettings,
    pub(crate) store: &'a Arc<dyn Store>,
    pub(crate) public_url: Option<&'a Url>,
    /// This node: it takes what other nodes' webhooks accepted for the mailboxes it holds.
    pub(crate) node: &'a NodeId,
    pub(crate) overrides: &'a Overrides,
    pub(crate) ews: Arc<dyn MailboxWatcher>,
    pub(crate) ews_events: Events,
}

impl GraphTenant {
    /// Starts the Graph watcher, its handover with EWS, and the move of the mailboxes left on
    /// EWS; the events of both watchers, merged.
    pub(crate) async fn start(start: Start<'_>) -> Result<(Self, Events), StartError> {
        let tenant = start.settings;
        let graph = &tenant.graph;
        let base = graph
            .webhook_base(start.public_url, &tenant.id)
            .ok_or(StartError::Setting {
                field: "graph.notification_url",
                reason: "is required without server.public_url",
            })?;
        let mut settings =
            GraphSettings::new(&base).map_err(|e| StartError::part("graph.notification_url", e))?;
        let endpoint = graph.endpoint.as_str().trim_end_matches('/');
        settings.api = format!("{endpoint}/v1.0/")
            .parse()
            .map_err(|e| StartError::part("graph.endpoint", e))?;
        // The pipeline saves each mailbox's state with the pushes its events produced.
        settings.consumer_saves_state = true;
        if let Some(adjust) = start.overrides.graph {
            adjust(&mut settings);
        }
        let mut transport = tenant.transport();
        transport
            .trusted_ca_pem
            .extend(start.overrides.trusted_ca_pem.iter().cloned());
        transport
            .resolve
            .extend(start.overrides.resolve.iter().cloned());
        let auth = auth::graph_authenticator(tenant, &transport)
            .map_err(|e| StartError::part("Graph authentication", e))?;
        let spool: Arc<dyn Spool> = match &graph.spool_dir {
            Some(dir) => {
                Arc::new(FileSpool::open(dir).map_err(|e| StartError::part("graph.spool_dir", e))?)
            }
            None => {
                tracing::warn!(tenant = %tenant.id, "no Graph spool directory: accepted notifications are kept in memory");
                Arc::new(MemorySpool::new())
            }
        };
        let store = crate::adapters::KeepRecords(TenantWatermarks::new(
            Arc::clone(start.store) as Arc<dyn MailboxStore>,
            tenant.id.clone(),
        ));
        // Every node sharing the store accepts the tenant's notifications.
        let peers = peers::StorePeers::new(
            Arc::clone(start.store) as Arc<dyn Relay>,
            tenant.id.clone(),
            start.node.clone(),
        );
        let (watcher, graph_events) = GraphWatcher::builder(settings, Arc::clone(&auth))
            .store(Arc::new(store))
            .spool(spool)
            .peers(Arc::new(peers))
            .start()
            .await
            .map_err(|e| StartError::part("Graph watcher", e))?;
        let webhook = watcher.webhook().router();
        let watcher: Arc<dyn GraphBackend> = Arc::new(watcher);
        let switch = Arc::new(Switch::default());
        let events = switch::merge(Arc::clone(&switch), start.ews_events, graph_events, 4096);
        let prefix = format!("{endpoint}/v1.0/users/");
        let stop = CancellationToken::new();
        let mover = Mover {
            tenant: tenant.id.clone(),
            store: Arc::clone(start.store),
            ews: start.ews,
            graph: Arc::clone(&watcher) as Arc<dyn MailboxWatcher>,
            switch: Arc::clone(&switch),
            prefix: prefix.clone(),
            batch: usize::try_from(graph.migration_batch).unwrap_or(50),
            interval: Duration::from_secs(u64::from(graph.migration_interval_seconds)),
            rules: tenant.alerts.rules,
        };
        tokio::spawn(mover.run(stop.clone()));
        Ok((
            Self {
                watcher,
                webhook,
                auth,
                switch,
                prefix,
                stop,
            },
            events,
        ))
    }

    /// The start of the record URL of every mailbox on Graph.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether a mailbox's record says Graph watches it.
    pub fn is_on_graph(&self, record: &MailboxRecord) -> bool {
        record
            .ews_url
            .as_deref()
            .is_some_and(|u| u.starts_with(&self.prefix))
    }

    /// The record of `mailbox` on Graph.
    pub fn record(&self, tenant: &TenantId, mailbox: &str) -> MailboxRecord {
        MailboxRecord {
            tenant: tenant.clone(),
            mailbox: mailbox.to_owned(),
            ews_url: Some(format!("{}{mailbox}", self.prefix)),
            grouping: None,
            watermark: None,
        }
    }

    /// Watches `mailbox` on Graph, with the further `folders` its user asked for.
    pub async fn watch(
        &self,
        mailbox: &str,
        folders: Vec<ews_proto::BaseFolderId>,
    ) -> Result<(), WatchError> {
        let url = format!("{}{mailbox}", self.prefix)
            .parse()
            .map_err(|_| WatchError::InvalidMailbox(mailbox.to_owned()))?;
        let target = WatchTarget::new(mailbox, url).folders(folders);
        self.watcher.watch(target).await
    }

    /// The Graph watcher's counts.
    pub fn status(&self) -> WatcherStatus {
        self.watcher.status()
    }

    /// Stops watching and moving (Graph's subscriptions are kept for the next start).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.watcher.stop(Duration::ZERO).await;
    }
}
