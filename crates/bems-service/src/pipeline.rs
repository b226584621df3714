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

use crate::alerts::decide::Alerting;
use crate::cluster::Node;
use crate::courier::{Courier, now_ms};
use crate::metrics::Metrics;
use crate::notify::{AlertLevel, MailAlert, mail_push};
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
    /// New mail, in the inbox and in the user's further folders: what the alert announces.
    new_mail: u32,
    /// New mail in the inbox: what raises the badge.
    inbox_new: u32,
    /// The new items' ids, oldest first (their details may be asked).
    new_items: Vec<String>,
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
    /// What the new mail's alerts say, and how loudly.
    alerts: Arc<Alerting>,
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
            store,
            courier,
            metrics,
            node,
            alerts: Arc::new(Alerting::generic(tenant.clone())),
            tenant,
            counts,
            unread: HashMap::new(),
        }
    }

    /// The same pipeline with the tenant's alerting (settings, rules, details); without it,
    /// every alert is the generic one.
    pub fn with_alerts(mut self, alerts: Arc<Alerting>) -> Self {
        self.alerts = alerts;
        self
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
                    self.metrics.tenant_event(self.tenant.as_str());
                    let change = changes
                        .entry(mail.mailbox.to_ascii_lowercase())
                        .or_default();
                    match mail.event.kind {
                        EventType::NewMail => {
                            if change.new_mail == 0 {
                                change.first_seen_ms = now;
                            }
                            change.new_mail += 1;
                            if !mail.further_folder {
                                change.inbox_new += 1;
                            }
                            if let Some(ChangedObject::Item(item)) = &mail.event.object {
                                change.new_items.push(item.id.clone());
                            }
                        }
                        EventType::Modified => {
                            let folder =
                                matches!(mail.event.object, Some(ChangedObject::Folder(_)));
                            // A further folder's count is not the badge.
                            let folder = folder && !mail.further_folder;
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
            let saved: HashMap<String, u32> = saved.into_iter().collect();
            // Each is compared with its saved count; one without a saved count (no mail
            // announced yet) gets its baseline now, so that mail arriving while no node
            // watches it later is announced by the next holder.
            for mailbox in afresh {
                let saved_unread = saved.get(&mailbox).copied();
                let change = changes.entry(mailbox).or_default();
                change.resync = true;
                change.saved_unread = saved_unread;
            }
        }
        // The counts the events do not say, asked of Exchange at once for the whole batch.
        let ask: Vec<String> = changes
            .iter()
            .filter(|(mailbox, change)| {
                change.resync
                    || (change.unread.is_none()
                        && change.new_mail > 0
                        && !self.unread.contains_key(*mailbox))
            })
            .map(|(mailbox, _)| mailbox.clone())
            .collect();
        let counts = &self.counts;
        let asked = futures_util::stream::iter(ask)
            .map(|mailbox| async move {
                let count = counts.unread(&mailbox).await;
                count.map(|count| (mailbox, count))
            })
            .buffer_unordered(CONCURRENT_MAILBOXES)
            .filter_map(std::future::ready)
            .collect::<HashMap<String, u32>>();
        // The alerts of mailboxes with new mail, decided meanwhile (rules, details); those
        // resynced too, whose count may still announce mail.
        let new: Vec<(String, Vec<String>)> = changes
            .iter()
            .filter(|(_, change)| change.new_mail > 0 || change.resync)
            .map(|(mailbox, change)| (mailbox.clone(), change.new_items.clone()))
            .collect();
        let (asked, mut alerts) =
            tokio::join!(asked, self.alerts.decide(new, jiff::Timestamp::now()));
        // Badges first, in order (they read and update the last known counts); then each
        // mailbox's pushes are written and sent, many at once: the store commits them together.
        let mut work = Vec::with_capacity(changes.len());
        for (mailbox, mut change) in changes {
            let unread = self.badge(&mailbox, &mut change, asked.get(&mailbox).copied());
            let alert = alerts.remove(&mailbox).unwrap_or_default();
            work.push((mailbox, change, unread, alert));
        }
        let this = &*self;
        futures_util::stream::iter(work)
            .for_each_concurrent(
                CONCURRENT_MAILBOXES,
                |(mailbox, change, unread, alert)| async move {
                    this.write(&mailbox, change, unread, &alert).await;
                },
            )
            .await;
    }

    /// The badge of a mailbox's pushes (`asked`: the count Exchange gave, when it was asked);
    /// settles what a resync found.
    fn badge(&mut self, mailbox: &str, change: &mut Change, asked: Option<u32>) -> Option<u32> {
        if change.resync {
            // Events may be missing: compare the unread count with the last one known.
            if let Some(now) = asked {
                let before = self.unread.get(mailbox).copied().or(change.saved_unread);
                if before.is_some_and(|b| now > b) && change.new_mail == 0 {
                    change.new_mail = now - before.unwrap_or(0);
                    change.inbox_new = change.new_mail;
                    change.first_seen_ms = now_ms();
                }
                change.unread = change.unread.or(Some(now));
            }
        }
        let mut unread = change
            .unread
            .or_else(|| self.unread.get(mailbox).map(|u| u + change.inbox_new));
        if unread.is_none() && change.inbox_new > 0 {
            unread = asked;
        }
        if let Some(count) = unread {
            change.count_changed = self.unread.insert(mailbox.to_owned(), count) != Some(count);
        }
        unread
    }

    /// Writes a mailbox's pushes with its checkpoint (its watermark and unread count), then
    /// sends them; nothing when there is nothing new (no push, no watermark, the same count).
    async fn write(&self, mailbox: &str, change: Change, unread: Option<u32>, alert: &MailAlert) {
        let mut pushes = Vec::new();
        // A silent alert is a badge update: without a known count there is nothing to send.
        let silent_without_badge = alert.level == AlertLevel::Silent && unread.is_none();
        if change.new_mail > 0 && !silent_without_badge {
            let devices = self
                .retry("devices", || self.store.devices_for(&self.tenant, mailbox))
                .await;
            for device in devices {
                let push = mail_push(&device, change.new_mail, unread, alert);
                let payload = match serde_json::to_string(&push) {
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
mod tests;
