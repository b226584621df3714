//! Several watchers behind one notification URL (nodes of a cluster, behind a load
//! balancer): Graph posts a notification to whichever node the balancer picks, and that node
//! may not watch the mailbox. [`Peers`] is what the nodes share, so that any node's webhook
//! accepts it and the node that watches the mailbox delivers it.
//!
//! | step | what happens |
//! |---|---|
//! | a watcher makes (or finds, after a restart) a subscription | it publishes the id, the mailbox and the digest of the `clientState` ([`Peers::publish`]) |
//! | a subscription is deleted, replaced or lost | it is withdrawn ([`Peers::withdraw`]) |
//! | a notification names a subscription this watcher does not hold | the webhook looks it up among the published ones ([`Peers::find`]); its `clientState` must match the digest published, or the whole request is refused (403), as for one of its own |
//! | it matches | the webhook hands it on ([`Peers::forward`], durable) before answering 202 |
//! | every `peer_poll` | each watcher takes what was handed on for the mailboxes it watches ([`Peers::inbox`]), writes it to its own spool, then lets it go ([`Peers::taken`]) |
//!
//! Nothing is acted on before its `clientState` matched a digest a watcher published, so an
//! unauthenticated notification never reaches the shared store. A record taken twice (a crash
//! between the spool write and [`Peers::taken`]) is reported once: messages are reported once
//! each, whoever spooled them. A notification for a subscription whose creation has not been
//! answered yet reaches only the node that is creating it; elsewhere it is unknown, and the
//! delta round after the creation reports its message.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use crate::core::{Core, Counters, lock};
use crate::error::GraphError;
use crate::secret::StateDigest;
use crate::spool::SpoolRecord;

/// Records taken from the peers at once.
const INBOX_BATCH: usize = 256;

/// A subscription as the watchers share it.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSubscription {
    /// The subscription's id, as Graph gave it.
    pub id: String,
    /// The mailbox it notifies of, lower-cased (as watched).
    pub mailbox: String,
    /// The SHA-256 of its `clientState`, 64 lowercase hex digits: enough to check a
    /// notification, useless to forge one.
    pub digest: String,
}

impl std::fmt::Debug for PeerSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerSubscription")
            .field("id", &self.id)
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

impl PeerSubscription {
    /// A shared subscription.
    pub fn new(id: String, mailbox: String, digest: String) -> Self {
        Self {
            id,
            mailbox,
            digest,
        }
    }

    pub(crate) fn of(id: &str, mailbox: &str, digest: StateDigest) -> Self {
        Self::new(id.to_owned(), mailbox.to_owned(), digest.to_hex())
    }

    /// Whether `client_state` is this subscription's (false for a digest that is not one).
    pub(crate) fn matches(&self, client_state: &str) -> bool {
        StateDigest::from_hex(&self.digest).is_some_and(|d| d.matches(client_state))
    }
}

/// A record handed on by another watcher, with the handle that lets it go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Forwarded {
    /// What [`Peers::taken`] is given once the record is in this watcher's spool.
    pub handle: i64,
    /// The record; its `mailbox` is the one watched, its `seq` is not used.
    pub record: SpoolRecord,
}

impl Forwarded {
    /// A forwarded record.
    pub fn new(handle: i64, record: SpoolRecord) -> Self {
        Self { handle, record }
    }
}

/// What the watchers behind one notification URL share (a cluster's store): see the
/// [module](self) for when each is called. Implemented by the service that runs the nodes.
#[async_trait]
pub trait Peers: Send + Sync + std::fmt::Debug {
    /// Publishes a subscription this watcher holds, replacing one with the same id.
    async fn publish(&self, subscription: &PeerSubscription) -> Result<(), GraphError>;

    /// Withdraws a subscription this watcher deleted, replaced or lost.
    async fn withdraw(&self, id: &str) -> Result<(), GraphError>;

    /// The published subscriptions among `ids`, in any order (unknown ids are left out).
    async fn find(&self, ids: &[String]) -> Result<Vec<PeerSubscription>, GraphError>;

    /// Keeps `records` for the watchers that watch their mailboxes; returns once they would
    /// survive a crash of this node.
    async fn forward(&self, records: &[SpoolRecord]) -> Result<(), GraphError>;

    /// At most `limit` records handed on for mailboxes this watcher watches, oldest first.
    async fn inbox(&self, limit: usize) -> Result<Vec<Forwarded>, GraphError>;

    /// Lets records go: they are in this watcher's spool.
    async fn taken(&self, handles: &[i64]) -> Result<(), GraphError>;
}

/// Publishes `subscription` of `mailbox` (best effort: a failure is logged, and until a
/// later publication only this node accepts its notifications).
pub(crate) async fn publish(core: &Core, id: &str, mailbox: &str, digest: StateDigest) {
    let Some(peers) = &core.peers else {
        return;
    };
    if let Err(error) = peers
        .publish(&PeerSubscription::of(id, mailbox, digest))
        .await
    {
        tracing::warn!(%mailbox, subscription = %id, %error, "Graph: subscription not shared with the other nodes");
    }
}

/// Withdraws subscription `id`, in a task of its own (callers may hold locks).
pub(crate) fn withdraw(core: &Core, id: String) {
    let Some(peers) = core.peers.clone() else {
        return;
    };
    tokio::spawn(async move {
        if let Err(error) = peers.withdraw(&id).await {
            tracing::info!(subscription = %id, %error, "Graph: subscription not withdrawn from the other nodes");
        }
    });
}

/// Takes what the other watchers handed on for this watcher's mailboxes, every
/// `peer_poll`, until the watcher stops.
pub(crate) async fn run(core: Arc<Core>, peers: Arc<dyn Peers>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(core.settings.peer_poll) => {}
            () = core.shutdown.cancelled() => return,
        }
        loop {
            match take(&core, peers.as_ref()).await {
                Ok(true) => continue,
                Ok(false) => break,
                Err(error) => {
                    tracing::warn!(%error, "Graph: records handed on by other nodes not taken; trying again");
                    break;
                }
            }
        }
    }
}

/// One batch: spooled here with this watcher's sequence numbers, queued, then let go;
/// records of mailboxes this watcher does not know (yet) are left for a later round.
/// Returns whether a whole batch was taken (more may wait).
async fn take(core: &Core, peers: &dyn Peers) -> Result<bool, GraphError> {
    let limit = INBOX_BATCH.min(core.settings.queue_capacity);
    let batch = peers.inbox(limit).await?;
    let known: Vec<Forwarded> = {
        let registry = lock(&core.registry);
        batch
            .into_iter()
            .filter(|f| registry.members.contains_key(&f.record.mailbox))
            .collect()
    };
    if known.is_empty() {
        return Ok(false);
    }
    let Ok(places) = core.queue.reserve_many(known.len()).await else {
        return Err(GraphError::Stopped);
    };
    let first = core.sequence(known.len());
    let (handles, records): (Vec<i64>, Vec<SpoolRecord>) = known
        .into_iter()
        .zip(first..)
        .map(|(f, seq)| (f.handle, SpoolRecord { seq, ..f.record }))
        .unzip();
    core.spool.append(&records).await?;
    Counters::add(&core.counters.taken, records.len() as u64);
    for (place, record) in places.zip(records) {
        place.send(record);
    }
    peers.taken(&handles).await?;
    Ok(handles.len() == limit)
}

/// The published subscriptions among `ids`, by id.
pub(crate) async fn find(
    peers: &dyn Peers,
    ids: Vec<String>,
) -> Result<HashMap<String, PeerSubscription>, GraphError> {
    Ok(peers
        .find(&ids)
        .await?
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect())
}
