//! The service's side of the mailbox leases ([`crate::cluster`]): each round beats, renews,
//! stops what was lost, claims up to the node's share and hands over the surplus; a taken
//! mailbox is watched where the store says it is, a lost one unwatched.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bems_store::StoreError;
use bems_store::model::{MailboxRecord, TenantId};
use mailbox_watch::WatchTarget;
use url::Url;

use crate::cluster::{Alarm, ClusterView, MailboxKey, Node, NodeView};
use crate::service::{Service, Tenant};

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Mailboxes taken.
    pub claimed: usize,
    /// Mailboxes whose lease was lost.
    pub lost: usize,
    /// Mailboxes handed over.
    pub released: usize,
}

impl Service {
    /// One round of the node's leases (the table of [`crate::cluster`]).
    pub async fn lease_round(&self) -> Result<Round, StoreError> {
        let node = &self.node;
        let nodes = self.store.heartbeat(&node.beat(), node.lease()).await?;
        // What it held before renewing: a mailbox a registration takes meanwhile is not lost.
        let before = node.held_keys();
        let renewed: HashSet<MailboxKey> = self
            .store
            .renew(node.id(), node.lease())
            .await?
            .into_iter()
            .collect();
        let lost: Vec<MailboxKey> = before
            .into_iter()
            .filter(|key| !renewed.contains(key))
            .collect();
        // Forgotten first: a watch still being set up sees it is no longer held.
        node.drop_held(&lost);
        for (tenant, mailbox) in &lost {
            tracing::info!(%tenant, %mailbox, node = %node.id(), "lease lost: no longer watched here");
            self.stop_watching(tenant, mailbox).await;
        }
        // Held in the store but not here (taken by a registration while this round ran):
        // watched now.
        let mut adopted = Vec::new();
        for (tenant, mailbox) in node.unknown(&renewed) {
            if let Some(record) = self.store.mailbox(&tenant, &mailbox).await? {
                adopted.push(record);
            }
        }
        self.take_and_watch(adopted).await;
        let stored = self.store.mailbox_count().await?;
        let target = node.target(&nodes, stored);
        node.saw(nodes, stored);
        let mut round = Round {
            lost: lost.len(),
            ..Round::default()
        };
        let held = node.held();
        if held < target {
            let taken = self
                .store
                .claim(node.id(), node.lease(), target - held)
                .await?;
            round.claimed = taken.len();
            self.take_and_watch(taken).await;
        } else if held > target + slack(target) {
            let surplus = node.surplus(target);
            node.drop_held(&surplus);
            for (tenant, mailbox) in &surplus {
                self.stop_watching(tenant, mailbox).await;
            }
            round.released = usize::try_from(self.store.release(node.id(), &surplus).await?)
                .unwrap_or(usize::MAX);
            tracing::info!(node = %node.id(), released = round.released, target, "mailboxes handed over");
        }
        Ok(round)
    }

    /// Runs [`lease_round`](Self::lease_round) every third of a lease until shut down; a
    /// failed round is logged and the next one tries again.
    pub(crate) fn spawn_lease_loop(self: &Arc<Self>) {
        let service = Arc::clone(self);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(service.node.tick()) => {}
                    () = shutdown.cancelled() => return,
                }
                if let Err(error) = service.lease_round().await {
                    tracing::warn!(node = %service.node.id(), %error, "lease round failed; the next one tries again");
                }
            }
        });
    }

    /// Follows the tenants' stored settings as every node writes them (PostgreSQL's
    /// `LISTEN`/`NOTIFY`): each change is noted in this node's status, to apply at its next
    /// start as the admin API says. A listener that fell behind rereads every tenant.
    pub(crate) fn spawn_settings_listener(self: &Arc<Self>) {
        let service = Arc::clone(self);
        let shutdown = self.shutdown.clone();
        let mut changes = self.store.tenant_changes();
        tokio::spawn(async move {
            loop {
                let change = tokio::select! {
                    change = changes.recv() => change,
                    () = shutdown.cancelled() => return,
                };
                match change {
                    Ok(tenant) => {
                        tracing::info!(%tenant, node = %service.node.id(), "tenant settings stored through the admin API: they apply at this node's next start");
                        service.node.settings_changed(tenant);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        for tenant in service.store.tenants().await.unwrap_or_default() {
                            service.node.settings_changed(tenant);
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    /// Takes a mailbox just stored (a first registration) for this node when it has room
    /// and nobody holds it: its record, for the caller to watch. Otherwise a node with room
    /// takes it at its next round.
    pub(crate) async fn take_new(
        &self,
        tenant: &TenantId,
        mailbox: &str,
    ) -> Result<Option<MailboxRecord>, StoreError> {
        let node = &self.node;
        if !node.has_room() {
            return Ok(None);
        }
        let claimed = self
            .store
            .claim_mailbox(node.id(), tenant, mailbox, node.lease())
            .await?;
        Ok(claimed.filter(|record| node.take(record)))
    }

    /// Records `records` as held here and watches those with devices (the tenant's mailboxes
    /// with devices read once per tenant, not once per mailbox, and not every device: a node
    /// taking thousands at once keeps its rounds short and small). A mailbox without devices
    /// is held but not watched.
    async fn take_and_watch(&self, records: Vec<MailboxRecord>) {
        let taken: Vec<MailboxRecord> = records
            .into_iter()
            .filter(|record| self.node.take(record))
            .collect();
        let tenants: BTreeSet<&TenantId> = taken.iter().map(|r| &r.tenant).collect();
        let mut with_devices: HashSet<MailboxKey> = HashSet::new();
        for tenant in tenants {
            match self.store.mailboxes_with_devices(tenant).await {
                Ok(mailboxes) => {
                    with_devices.extend(mailboxes.into_iter().map(|m| (tenant.clone(), m)));
                }
                Err(error) => {
                    tracing::warn!(%tenant, %error, "devices not readable; every mailbox taken is watched");
                    with_devices.extend(
                        taken
                            .iter()
                            .filter(|r| &r.tenant == tenant)
                            .map(|r| (r.tenant.clone(), r.mailbox.clone())),
                    );
                }
            }
        }
        for record in taken {
            if with_devices.contains(&(record.tenant.clone(), record.mailbox.clone())) {
                self.start_watching(record).await;
            }
        }
    }

    /// Watches a mailbox this node took: on Graph when its tenant moved it there, at its
    /// recorded EWS URL, or wherever Autodiscover finds it.
    pub(crate) async fn start_watching(&self, record: MailboxRecord) {
        let Some(tenant) = self.tenant(&record.tenant) else {
            return;
        };
        if let Some(graph) = &tenant.graph
            && graph.is_on_graph(&record)
        {
            let folders = tenant.alerting.folders_of(&record.mailbox).await;
            if let Err(error) = graph.watch(&record.mailbox, folders).await {
                tracing::warn!(mailbox = %record.mailbox, %error, "not watched on Graph");
            }
            return;
        }
        match record.ews_url.as_deref().map(Url::parse) {
            Some(Ok(url)) => {
                let mut target = WatchTarget::new(&record.mailbox, url);
                target.grouping_information = record.grouping.clone();
                watch_held(&self.node, tenant, target).await;
            }
            _ => self.locate_and_watch(tenant, record.mailbox),
        }
    }

    /// Stops watching a mailbox here (on EWS and Graph); its watermark stays saved.
    pub(crate) async fn stop_watching(&self, tenant: &TenantId, mailbox: &str) {
        if let Some(running) = self.tenant(tenant) {
            stop(running, mailbox).await;
        }
    }
}

impl Service {
    /// The cluster as the store knows it: every node with its mailboxes and lease ages, and
    /// this node's status.
    pub async fn cluster(&self) -> Result<ClusterView, StoreError> {
        let nodes = self.store.nodes().await?;
        let mailboxes = self.store.mailbox_count().await?;
        let nodes = nodes
            .into_iter()
            .map(|record| NodeView {
                alarm: Alarm::of(record.mailboxes, record.capacity),
                record,
            })
            .collect();
        Ok(ClusterView {
            this: self.node.status(),
            nodes,
            mailboxes,
        })
    }
}

/// Watches `target` while `node` holds it: a lease lost while the watch was being set up
/// (the round forgets it first, then unwatches) is let go again here.
pub(crate) async fn watch_held(node: &Node, tenant: &Tenant, target: WatchTarget) {
    let mailbox = target.mailbox.clone();
    if !node.holds(&tenant.id, &mailbox) {
        return;
    }
    // The further folders its user's alert rules ask for.
    let target = target.folders(tenant.alerting.folders_of(&mailbox).await);
    if let Err(error) = tenant.watcher.watch(target).await {
        tracing::warn!(%mailbox, %error, "not watched");
    }
    if !node.holds(&tenant.id, &mailbox) {
        let _ = tenant.watcher.unwatch(&mailbox).await;
    }
}

/// Unwatches `mailbox` on `tenant`'s watchers.
pub(crate) async fn stop(tenant: &Tenant, mailbox: &str) {
    let _ = tenant.watcher.unwatch(mailbox).await;
    if let Some(graph) = &tenant.graph {
        let _ = graph.watcher.unwatch(mailbox).await;
    }
}

/// How far above its share a node may be before it hands mailboxes over: 2% of the share
/// and at least one, so that a share that does not divide evenly does not move back and forth.
fn slack(target: usize) -> usize {
    (target / 50).max(1)
}

/// How long a clean stop waits for the watchers before leaving the cluster.
pub(crate) const STOP_WATCHERS: Duration = Duration::from_secs(5);
