//! From a tenant's mailbox events to pushes in the outbox.
//!
//! Events are taken in batches (whatever is waiting, after the first): per mailbox, the new
//! mail of a batch becomes one push per device, so a burst is coalesced without delaying the
//! first alert. The badge is the inbox's unread count: from the folder's `ModifiedEvent` when
//! the batch has one, else the last count plus the new mail, else asked of Exchange. The
//! pushes and the mailbox's checkpoint (its watermark after these events, and its unread count:
//! the badge) are written in one transaction, then sent: a crash at any point loses no
//! notification.
//!
//! Each mailbox's last unread count is saved. A node that takes a mailbox (at its start, or
//! from a node that died or handed it over) and subscribes it afresh (a streaming
//! subscription, which cannot resume) compares the inbox's unread count with the saved one,
//! and announces the difference: mail that arrived meanwhile is not lost, only coalesced. The
//! count is saved with the pushes that announced it, in the same transaction, so a node killed
//! right after writing them does not leave a count below what they announced (the next holder
//! would announce that mail again); a count that changed without pushes (mail read) is written
//! the same way, alone. Every write is fenced by the lease, counts included: a node that lost
//! a mailbox cannot leave a count that hides mail it never announced.
//!
//! The write names this node as the mailbox's lease holder: a node that lost the lease
//! meanwhile writes nothing (the store refuses it), and the new holder announces those events
//! from the watermark, once. (A count cannot tell a new mail from an old one marked
//! unread, nor see new mail hidden by mail read meanwhile; push and pull subscriptions resume
//! from their watermarks and replay exactly.)

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ews_proto::{ChangedObject, EventType, Watermark};
use futures_util::StreamExt as _;
use mailbox_watch::{Events, WatchEvent};

use crate::cluster::Node;
use crate::courier::{Courier, now_ms};
use crate::metrics::Metrics;
use crate::notify::mail_push;
use bems_store::model::{PendingPush, TenantId};
use bems_store::{Checkpoint, Store, StoreError};

/// Events taken in one batch at most.
const BATCH: usize = 1024;

/// Mailboxes of one batch written at once.
const CONCURRENT_MAILBOXES: usize = 64;

/// Asks Exchange for a mailbox's unread count when the events did not say it.
#[async_trait]
pub trait UnreadCounts: Send + Sync {
    /// The inbox's unread count, if Exchange answered.
    async fn unread(&self, mailbox: &str) -> Option<u32>;
}

/// What one batch says about one mailbox.
#[derive(Debug, Default)]
struct Change {
    new_mail: u32,
    first_seen_ms: i64,
    unread: Option<u32>,
    checkpoint: Option<Watermark>,
    resync: bool,
    /// The unread count saved before this node took the mailbox, when this batch subscribed
    /// it afresh.
    saved_unread: Option<u32>,
    /// Whether the badge differs from the last count this node knew: it is written.
    count_changed: bool,
}

/// One tenant's event loop.
pub struct Pipeline {
    tenant: TenantId,
    store: Arc<dyn Store>,
    courier: Arc<Courier>,
    metrics: Arc<Metrics>,
    counts: Arc<dyn UnreadCounts>,
    /// This node, whose leases the writes name.
    node: Arc<Node>,
    /// The last unread count per mailbox, as pushed.
    unread: HashMap<String, u32>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("tenant", &self.tenant)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline for `tenant`.
    pub fn new(
        tenant: TenantId,
        store: Arc<dyn Store>,
        courier: Arc<Courier>,
        metrics: Arc<Metrics>,
        counts: Arc<dyn UnreadCounts>,
        node: Arc<Node>,
    ) -> Self {
        Self {
            tenant,
            store,
            courier,
            metrics,
            counts,
            node,
            unread: HashMap::new(),
        }
    }

    /// Runs until the watcher stops.
    pub async fn run(mut self, mut events: Events) {
        while let Some(first) = events.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH {
                match events.try_recv() {
                    Some(event) => batch.push(event),
                    None => break,
                }
            }
            self.batch(batch).await;
        }
        tracing::debug!(tenant = %self.tenant, "pipeline stopped");
    }

    async fn batch(&mut self, batch: Vec<WatchEvent>) {
        let now = now_ms();
        let mut changes: BTreeMap<String, Change> = BTreeMap::new();
        // Mailboxes this node took that were subscribed afresh: their saved counts are read.
        let mut afresh = Vec::new();
        for event in batch {
            match event {
                WatchEvent::Mail(mail) => {
                    self.metrics.event(mail.event.kind.as_str());
                    let change = changes
                        .entry(mail.mailbox.to_ascii_lowercase())
                        .or_default();
                    match mail.event.kind {
                        EventType::NewMail => {
                            if change.new_mail == 0 {
                                change.first_seen_ms = now;
                            }
                            change.new_mail += 1;
                        }
                        EventType::Modified => {
                            let folder =
                                matches!(mail.event.object, Some(ChangedObject::Folder(_)));
                            if let (true, Some(count)) = (folder, mail.event.unread_count) {
                                change.unread = u32::try_from(count).ok();
                            }
                        }
                        _ => {}
                    }
                }
                WatchEvent::Checkpoint { mailbox, watermark } => {
                    changes
                        .entry(mailbox.to_ascii_lowercase())
                        .or_default()
                        .checkpoint = Some(watermark);
                }
                WatchEvent::Resync { mailbox, reason } => {
                    tracing::info!(tenant = %self.tenant, %mailbox, %reason, "resync");
                    changes
                        .entry(mailbox.to_ascii_lowercase())
                        .or_default()
                        .resync = true;
                }
                WatchEvent::Subscribed { mailbox, resumed } => {
                    let mailbox = mailbox.to_ascii_lowercase();
                    // The first subscription since this node took the mailbox: what it
                    // remembers may be another holder's past; one that could not resume
                    // missed what arrived while no node watched.
                    if self.node.first_subscription(&self.tenant, &mailbox) {
                        self.unread.remove(&mailbox);
                        if !resumed {
                            afresh.push(mailbox);
                        }
                    }
                }
                WatchEvent::Lost { mailbox, reason } => {
                    tracing::info!(tenant = %self.tenant, %mailbox, %reason, "subscription lost");
                }
                WatchEvent::Failed { mailbox, reason } => {
                    tracing::warn!(tenant = %self.tenant, %mailbox, %reason, "mailbox cannot be watched");
                }
                WatchEvent::Throttled {
                    mailbox,
                    wait,
                    code,
                } => {
                    tracing::info!(tenant = %self.tenant, %mailbox, ?wait, code = code.as_str(), "throttled");
                }
                other => tracing::debug!(tenant = %self.tenant, event = ?other, "watcher event"),
            }
        }
        if !afresh.is_empty() {
            let saved = self
                .retry("unread counts", || {
                    self.store.unread_counts_of(&self.tenant, &afresh)
                })
                .await;
            for (mailbox, count) in saved {
                let change = changes.entry(mailbox).or_default();
                change.resync = true;
                change.saved_unread = Some(count);
            }
        }
        // Badges first, in order (they read and update the last known counts); then each
        // mailbox's pushes are written and sent, many at once: the store commits them together.
        let mut work = Vec::with_capacity(changes.len());
        for (mailbox, mut change) in changes {
            let unread = self.badge(&mailbox, &mut change).await;
            work.push((mailbox, change, unread));
        }
        let this = &*self;
        futures_util::stream::iter(work)
            .for_each_concurrent(
                CONCURRENT_MAILBOXES,
                |(mailbox, change, unread)| async move {
                    this.write(&mailbox, change, unread).await;
                },
            )
            .await;
    }

    /// The badge of a mailbox's pushes; settles what a resync found.
    async fn badge(&mut self, mailbox: &str, change: &mut Change) -> Option<u32> {
        if change.resync {
            // Events may be missing: compare the unread count with the last one known.
            if let Some(now) = self.counts.unread(mailbox).await {
                let before = self.unread.get(mailbox).copied().or(change.saved_unread);
                if before.is_some_and(|b| now > b) && change.new_mail == 0 {
                    change.new_mail = now - before.unwrap_or(0);
                    change.first_seen_ms = now_ms();
                }
                change.unread = change.unread.or(Some(now));
            }
        }
        let mut unread = change
            .unread
            .or_else(|| self.unread.get(mailbox).map(|u| u + change.new_mail));
        if unread.is_none() && change.new_mail > 0 {
            unread = self.counts.unread(mailbox).await;
        }
        if let Some(count) = unread {
            change.count_changed = self.unread.insert(mailbox.to_owned(), count) != Some(count);
        }
        unread
    }

    /// Writes a mailbox's pushes with its checkpoint (its watermark and unread count), then
    /// sends them; nothing when there is nothing new (no push, no watermark, the same count).
    async fn write(&self, mailbox: &str, change: Change, unread: Option<u32>) {
        let mut pushes = Vec::new();
        if change.new_mail > 0 {
            let devices = self
                .retry("devices", || self.store.devices_for(&self.tenant, mailbox))
                .await;
            for device in devices {
                let payload =
                    match serde_json::to_string(&mail_push(&device, change.new_mail, unread)) {
                        Ok(payload) => payload,
                        Err(error) => {
                            tracing::error!(%error, "push not encodable");
                            continue;
                        }
                    };
                pushes.push(PendingPush {
                    device_id: device.id,
                    tenant: self.tenant.clone(),
                    mailbox: mailbox.to_owned(),
                    payload,
                    seen_at_ms: change.first_seen_ms,
                });
            }
        }
        if pushes.is_empty() && change.checkpoint.is_none() && !change.count_changed {
            return;
        }
        let checkpoint = Checkpoint {
            tenant: &self.tenant,
            mailbox,
            watermark: change.checkpoint.as_ref().map(Watermark::as_str),
            // The badge: saved with the pushes that announce it.
            unread,
            holder: Some(self.node.id()),
        };
        // This node sends them at once; other nodes' sweeps leave them alone for a lease.
        let claimed_until = self.courier.claim_until(now_ms());
        let written = self
            .until_done("outbox", || {
                self.store.enqueue(&pushes, claimed_until, Some(checkpoint))
            })
            .await;
        let ids = match written {
            Ok(ids) => ids,
            Err(rule) => {
                tracing::info!(tenant = %self.tenant, %mailbox, %rule, "not written: the mailbox's new holder announces these events");
                return;
            }
        };
        for (id, push) in ids.into_iter().zip(pushes) {
            self.courier.send(id, push);
        }
    }

    /// Reads from the store until it answers (see [`until_done`](Self::until_done); a read
    /// is never refused).
    async fn retry<T: Default, F, Fut>(&self, what: &str, operation: F) -> T
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        self.until_done(what, operation).await.unwrap_or_default()
    }

    /// Runs a store operation until it succeeds, or until the store refuses it (a conflict,
    /// which trying again cannot mend: its rule): the pipeline stalls (and the watcher with
    /// it) rather than skip an event whose pushes are not written.
    async fn until_done<T, F, Fut>(&self, what: &str, operation: F) -> Result<T, String>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let mut wait = Duration::from_millis(100);
        loop {
            match operation().await {
                Ok(value) => return Ok(value),
                Err(StoreError::Conflict { rule, .. }) => return Err(rule),
                Err(error) => {
                    tracing::error!(tenant = %self.tenant, what, %error, ?wait, "store failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::{Event, FolderId};
    use mailbox_watch::MailboxEvent;

    use super::*;
    use crate::courier::PushRoutes;
    use bems_store::model::{MailboxRecord, NewDevice, Platform};
    use bems_store::{NodeId, SqliteStore, StoreKey};

    const MARA: &str = "mara@contoso.com";

    /// Every inbox has 7 unread.
    struct SevenUnread;

    #[async_trait]
    impl UnreadCounts for SevenUnread {
        async fn unread(&self, _mailbox: &str) -> Option<u32> {
            Some(7)
        }
    }

    /// A pipeline of node `bems-1` over a store where mara is stored with a device and saved
    /// count 3, her lease taken by `holder`.
    async fn pipeline(holder: &str) -> Pipeline {
        let key = StoreKey::generate().expect("a key");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory(key).await.expect("store"));
        let tenant = TenantId::new("contoso").expect("id");
        let record = MailboxRecord {
            tenant: tenant.clone(),
            mailbox: MARA.into(),
            ews_url: None,
            grouping: None,
            watermark: None,
        };
        store.upsert_mailbox(&record).await.expect("stored");
        let counts = [(MARA.to_owned(), 3)];
        store
            .save_unread_counts(&tenant, &counts)
            .await
            .expect("saved");
        let device = NewDevice {
            tenant: tenant.clone(),
            mailbox: MARA.into(),
            platform: Platform::Apns,
            token: "ab".repeat(32),
            app_id: "com.contoso.mail".into(),
            locale: "en".into(),
        };
        store.register_device(&device, 10).await.expect("device");
        let lease = Duration::from_secs(30);
        let holder = NodeId::new(holder).expect("id");
        assert_eq!(
            store.claim(&holder, lease, 10).await.expect("claim").len(),
            1
        );
        let node = Arc::new(Node::named(
            NodeId::new("bems-1").expect("id"),
            10,
            lease,
            None,
        ));
        let metrics = Arc::new(Metrics::default());
        let routes = Arc::new(PushRoutes::default());
        let courier = Courier::new(
            Arc::clone(&store),
            routes,
            Arc::clone(&metrics),
            node.id().clone(),
            lease,
        );
        Pipeline::new(
            tenant,
            store,
            Arc::new(courier),
            metrics,
            Arc::new(SevenUnread),
            node,
        )
    }

    fn event(event: Event) -> WatchEvent {
        WatchEvent::Mail(MailboxEvent::new(Arc::from(MARA), event))
    }

    async fn saved(pipeline: &Pipeline) -> Vec<(String, u32)> {
        pipeline
            .store
            .unread_counts(&pipeline.tenant)
            .await
            .expect("counts")
    }

    #[tokio::test]
    async fn the_badge_is_saved_with_its_pushes() {
        let mut pipeline = pipeline("bems-1").await;
        pipeline
            .batch(vec![event(Event::new(EventType::NewMail))])
            .await;
        assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 7)]);
    }

    /// A write the lease fence refuses saves no count either: the mailbox's new holder's is kept.
    #[tokio::test]
    async fn a_refused_write_saves_no_count() {
        let mut pipeline = pipeline("bems-2").await;
        pipeline
            .batch(vec![event(Event::new(EventType::NewMail))])
            .await;
        assert_eq!(saved(&pipeline).await, [(MARA.to_owned(), 3)]);
    }

    /// A count changed without pushes nor watermark (mail read) is written alone, fenced too.
    #[tokio::test]
    async fn a_count_changed_without_pushes_is_written_alone_by_the_holder_only() {
        let mut holder = pipeline("bems-1").await;
        let mut read = Event::new(EventType::Modified);
        read.object = Some(ChangedObject::Folder(FolderId::new("inbox")));
        read.unread_count = Some(2);
        holder.batch(vec![event(read.clone())]).await;
        assert_eq!(saved(&holder).await, [(MARA.to_owned(), 2)]);
        let mut elsewhere = pipeline("bems-2").await;
        elsewhere.batch(vec![event(read)]).await;
        assert_eq!(
            saved(&elsewhere).await,
            [(MARA.to_owned(), 3)],
            "not the holder"
        );
    }
}
