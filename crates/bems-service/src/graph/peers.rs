//! The store as the Graph watchers' [`Peers`]: the nodes sharing one store share one
//! tenant's webhook. A notification that reaches a node which does not watch its mailbox is
//! checked against the subscription its holder published in the store, kept there
//! ([`Relay`]), and taken by the node that holds the mailbox's lease.
//!
//! | [`Peers`] | [`Relay`] |
//! |---|---|
//! | `publish`, `withdraw` | `share_subscription`, `unshare_subscription` |
//! | `find` | `shared_subscriptions` |
//! | `forward` | `relay` (the record as JSON) |
//! | `inbox` | `relayed_to` this node, for the mailboxes whose lease it holds; once a minute also `expire_relayed` of what no node took within an hour |
//! | `taken` | `drop_relayed` |

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use graph_subscriptions::{Forwarded, GraphError, PeerSubscription, Peers, SpoolRecord};

use bems_store::model::TenantId;
use bems_store::{NodeId, Relay, SharedSubscription, StoreError};

use crate::courier::now_ms;

/// Records no node took within this long are dropped (their mailbox is no longer watched;
/// a watcher that takes it later catches up with a delta round).
const KEEP: Duration = Duration::from_secs(3600);

/// How often old records are dropped.
const EXPIRE_EVERY: Duration = Duration::from_secs(60);

/// One tenant's Graph peers, as this node sees them.
pub(crate) struct StorePeers {
    store: Arc<dyn Relay>,
    tenant: TenantId,
    node: NodeId,
    expired: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for StorePeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePeers")
            .field("tenant", &self.tenant)
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl StorePeers {
    pub(crate) fn new(store: Arc<dyn Relay>, tenant: TenantId, node: NodeId) -> Self {
        Self {
            store,
            tenant,
            node,
            expired: Mutex::new(None),
        }
    }

    /// Whether old records are due to be dropped (once every [`EXPIRE_EVERY`]).
    fn expiry_due(&self) -> bool {
        let mut last = self.expired.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_some_and(|at| at.elapsed() < EXPIRE_EVERY) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

fn shared(error: StoreError) -> GraphError {
    GraphError::Spool(format!("the shared store: {error}"))
}

#[async_trait]
impl Peers for StorePeers {
    async fn publish(&self, subscription: &PeerSubscription) -> Result<(), GraphError> {
        self.store
            .share_subscription(&SharedSubscription {
                tenant: self.tenant.clone(),
                id: subscription.id.clone(),
                mailbox: subscription.mailbox.clone(),
                digest: subscription.digest.clone(),
            })
            .await
            .map_err(shared)
    }

    async fn withdraw(&self, id: &str) -> Result<(), GraphError> {
        self.store
            .unshare_subscription(&self.tenant, id)
            .await
            .map(drop)
            .map_err(shared)
    }

    async fn find(&self, ids: &[String]) -> Result<Vec<PeerSubscription>, GraphError> {
        let found = self
            .store
            .shared_subscriptions(&self.tenant, ids)
            .await
            .map_err(shared)?;
        Ok(found
            .into_iter()
            .map(|s| PeerSubscription::new(s.id, s.mailbox, s.digest))
            .collect())
    }

    async fn forward(&self, records: &[SpoolRecord]) -> Result<(), GraphError> {
        let notes = records
            .iter()
            .map(|r| {
                serde_json::to_string(r)
                    .map(|body| (r.mailbox.clone(), body))
                    .map_err(|e| GraphError::Spool(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.store
            .relay(&self.tenant, &notes, now_ms())
            .await
            .map_err(shared)
    }

    async fn inbox(&self, limit: usize) -> Result<Vec<Forwarded>, GraphError> {
        if self.expiry_due() {
            let before = now_ms() - i64::try_from(KEEP.as_millis()).unwrap_or(i64::MAX);
            match self.store.expire_relayed(&self.tenant, before).await {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(tenant = %self.tenant, records = n, "Graph notifications no node took within an hour dropped");
                }
                Err(error) => {
                    tracing::warn!(tenant = %self.tenant, %error, "old Graph notifications not dropped")
                }
            }
        }
        let notes = self
            .store
            .relayed_to(&self.node, &self.tenant, limit)
            .await
            .map_err(shared)?;
        let mut forwarded = Vec::with_capacity(notes.len());
        let mut unreadable = Vec::new();
        for note in notes {
            match serde_json::from_str::<SpoolRecord>(&note.body) {
                // The store's mailbox (lower-cased) is the one this node watches.
                Ok(mut record) => {
                    record.mailbox = note.mailbox;
                    forwarded.push(Forwarded::new(note.id, record));
                }
                Err(error) => {
                    tracing::warn!(tenant = %self.tenant, id = note.id, %error, "an unreadable Graph notification in the shared store; dropped");
                    unreadable.push(note.id);
                }
            }
        }
        if !unreadable.is_empty() {
            self.store.drop_relayed(&unreadable).await.map_err(shared)?;
        }
        Ok(forwarded)
    }

    async fn taken(&self, handles: &[i64]) -> Result<(), GraphError> {
        self.store
            .drop_relayed(handles)
            .await
            .map(drop)
            .map_err(shared)
    }
}
