//! What a watcher reports for the status page, health checks and metrics.

use serde::Serialize;

/// Counts for the status page, health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WatcherStatus {
    /// `push`, `streaming`, `pull` or `graph`.
    pub mode: &'static str,
    /// Mailboxes watched.
    pub mailboxes: usize,
    /// Mailboxes subscribed now.
    pub subscribed: usize,
    /// Mailboxes waiting for their first subscription.
    pub pending: usize,
    /// Mailboxes whose subscription was lost and is being recovered.
    pub lost: usize,
    /// Mailboxes that cannot be watched now (see the `Failed` events).
    pub failed: usize,
    /// Affinity groups.
    pub groups: usize,
    /// Streaming connections open.
    pub streams_open: u64,
    /// Mailbox events delivered.
    pub events: u64,
    /// Duplicate events dropped.
    pub duplicates: u64,
    /// `Subscribe` requests sent.
    pub subscribe_requests: u64,
    /// Subscriptions lost.
    pub losses: u64,
    /// Resubscriptions that could not replay (consumer resyncs).
    pub resyncs: u64,
    /// Times Exchange asked us to wait.
    pub throttled: u64,
    /// Streaming connections reopened after a break.
    pub reconnects: u64,
    /// Push notifications for subscriptions we do not hold (answered `Unsubscribe`).
    pub unknown_push: u64,
    /// Push notifications whose `PreviousWatermark` showed that one before them was lost
    /// (each made the subscription again from the last watermark seen).
    pub missed_push: u64,
}

impl WatcherStatus {
    /// A status with every count at zero, for a watcher in `mode`; each
    /// [`MailboxWatcher`](crate::MailboxWatcher) fills in what it counts.
    pub fn new(mode: &'static str) -> Self {
        Self {
            mode,
            mailboxes: 0,
            subscribed: 0,
            pending: 0,
            lost: 0,
            failed: 0,
            groups: 0,
            streams_open: 0,
            events: 0,
            duplicates: 0,
            subscribe_requests: 0,
            losses: 0,
            resyncs: 0,
            throttled: 0,
            reconnects: 0,
            unknown_push: 0,
            missed_push: 0,
        }
    }
}
