//! Sends what the outbox holds, and settles each push by its outcome: delivered pushes leave
//! the outbox, dead tokens take their device with them, the rest wait for a later try.
//!
//! Nodes sharing the store never send one push twice while it is theirs: the node that
//! writes a push claims it for a lease ([`claim_until`](Courier::claim_until)) and sends it at
//! once; the outbox sweep of any node claims only what is due and unclaimed (a node that
//! died before settling its pushes leaves them to the others when its claims run out).
//!
//! A device's pushes go one after the other, each once the provider answered the one before
//! (its outbox entry is settled meanwhile): pushes to different devices go at once, but a
//! phone never gets an older badge after a newer one (its alerts share a collapse id, so the
//! last to arrive is the one it shows). A push the provider asks to retry later is the
//! exception: the next ones do not wait for it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use push_delivery::{Dispatcher, Outcome};

use crate::metrics::Metrics;
use crate::notify::StoredPush;
use bems_store::model::{OutboxEntry, PendingPush, Platform};
use bems_store::{NodeId, Store};

/// How long a push that could not be sent waits in the outbox before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Where pushes go: one dispatcher per platform and app (APNs topic, FCM app).
#[derive(Default)]
pub struct PushRoutes {
    routes: HashMap<(Platform, String), Arc<Dispatcher>>,
}

impl std::fmt::Debug for PushRoutes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<String> = self
            .routes
            .keys()
            .map(|(p, a)| format!("{}:{a}", p.as_str()))
            .collect();
        f.debug_struct("PushRoutes").field("routes", &keys).finish()
    }
}

impl PushRoutes {
    /// Sends `platform` pushes of `app_id` through `dispatcher`.
    pub fn add(
        &mut self,
        platform: Platform,
        app_id: impl Into<String>,
        dispatcher: Arc<Dispatcher>,
    ) {
        self.routes.insert((platform, app_id.into()), dispatcher);
    }

    /// The dispatcher of an app, if it is configured (an app `*` takes every app of its
    /// platform: an FCM project serves all its Android packages).
    pub fn get(&self, platform: Platform, app_id: &str) -> Option<&Arc<Dispatcher>> {
        self.routes
            .get(&(platform, app_id.to_owned()))
            .or_else(|| self.routes.get(&(platform, "*".to_owned())))
    }

    /// The configured apps, as `platform:app`.
    pub fn apps(&self) -> Vec<String> {
        let mut apps: Vec<String> = self
            .routes
            .keys()
            .map(|(p, a)| format!("{}:{a}", p.as_str()))
            .collect();
        apps.sort();
        apps
    }

    /// Drains every dispatcher, waiting at most `deadline` for each.
    pub async fn shutdown(&self, deadline: Duration) {
        for dispatcher in self.routes.values() {
            dispatcher.shutdown(deadline).await;
        }
    }
}

/// What a push's outcome leaves to do in the store.
#[derive(Debug)]
enum Settlement {
    /// Delivered, or never to be: the entry leaves the outbox (why, for the log).
    Complete(&'static str),
    /// The entry waits this long for its next try.
    RetryLater(Duration),
    /// The token is dead: the device goes, and its pending pushes with it.
    RemoveDevice,
}

/// Sends outbox entries and settles them.
pub struct Courier {
    store: Arc<dyn Store>,
    routes: Arc<PushRoutes>,
    metrics: Arc<Metrics>,
    /// The node whose claims its pushes are.
    node: NodeId,
    /// How long a push taken by this node is left alone by the others.
    claim: Duration,
    /// Outbox entries taken (sent or waiting in their device's lane).
    in_flight: Mutex<HashSet<i64>>,
    /// Entries settled since the outbox sweep began reading: its list may still hold them.
    settled: Mutex<HashSet<i64>>,
    /// One sweep at a time (each clears `settled` as it begins).
    sweep: tokio::sync::Mutex<()>,
    /// Per device with a push on its way, the pushes waiting behind it.
    lanes: Mutex<HashMap<i64, VecDeque<(i64, PendingPush)>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for Courier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Courier")
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl Courier {
    /// A courier of `node` over `store` sending through `routes`; a push it takes is the
    /// node's for `claim` (its lease), unless settled sooner or the node leaves.
    pub fn new(
        store: Arc<dyn Store>,
        routes: Arc<PushRoutes>,
        metrics: Arc<Metrics>,
        node: NodeId,
        claim: Duration,
    ) -> Self {
        Self {
            store,
            routes,
            metrics,
            node,
            claim,
            in_flight: Mutex::new(HashSet::new()),
            settled: Mutex::new(HashSet::new()),
            sweep: tokio::sync::Mutex::new(()),
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// The routes.
    pub fn routes(&self) -> &PushRoutes {
        &self.routes
    }

    /// Until when a push taken at `now_ms` stays this node's (Unix ms).
    pub fn claim_until(&self, now_ms: i64) -> i64 {
        now_ms.saturating_add(i64::try_from(self.claim.as_millis()).unwrap_or(i64::MAX))
    }

    /// Sends outbox entry `id` in the background (unless it is already on its way), after
    /// the pushes to its device sent before it.
    pub fn send(self: &Arc<Self>, id: i64, push: PendingPush) {
        if !lock(&self.in_flight).insert(id) {
            return;
        }
        let device = push.device_id;
        match lock(&self.lanes).entry(device) {
            Entry::Occupied(mut lane) => {
                lane.get_mut().push_back((id, push));
                return;
            }
            Entry::Vacant(lane) => {
                lane.insert(VecDeque::new());
            }
        }
        let courier = Arc::clone(self);
        tokio::spawn(async move {
            let mut next = Some((id, push));
            while let Some((id, push)) = next {
                let settlement = courier.deliver(id, &push).await;
                // The provider answered: the device's next push may go while the store
                // records this one.
                let settling = Arc::clone(&courier);
                tokio::spawn(async move { settling.apply(id, device, settlement).await });
                let mut lanes = lock(&courier.lanes);
                next = lanes.get_mut(&device).and_then(VecDeque::pop_front);
                if next.is_none() {
                    lanes.remove(&device);
                }
            }
        });
    }

    /// Claims and sends every entry that is due and not already on its way; returns how many
    /// were started. (An entry settled while the list was read is not sent again.)
    pub async fn send_due(self: &Arc<Self>, limit: usize) -> usize {
        let _one_sweep = self.sweep.lock().await;
        lock(&self.settled).clear();
        let now = now_ms();
        let claimed = self
            .store
            .claim_due(&self.node, now, limit, self.claim_until(now))
            .await;
        let due: Vec<OutboxEntry> = match claimed {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "outbox not readable");
                return 0;
            }
        };
        let due: Vec<OutboxEntry> = {
            let settled = lock(&self.settled);
            due.into_iter()
                .filter(|e| !settled.contains(&e.id))
                .collect()
        };
        let n = due.len();
        for entry in due {
            self.send(entry.id, entry.push);
        }
        n
    }

    /// Counts a push's outcome, by platform and by tenant.
    fn count(&self, pending: &PendingPush, platform: &str, outcome: &str) {
        self.metrics.push(platform, outcome);
        self.metrics.tenant_push(pending.tenant.as_str(), outcome);
    }

    /// Sends one push and says what its outcome leaves to do in the store.
    async fn deliver(&self, id: i64, pending: &PendingPush) -> Settlement {
        let stored: StoredPush = match serde_json::from_str(&pending.payload) {
            Ok(stored) => stored,
            Err(error) => {
                tracing::error!(id, %error, "outbox entry unreadable: dropped");
                return Settlement::Complete("unreadable");
            }
        };
        let platform = stored.platform.as_str();
        let Some(dispatcher) = self.routes.get(stored.platform, &stored.app_id) else {
            tracing::warn!(id, platform, app = %stored.app_id, "no sender for this app: push dropped");
            self.count(pending, platform, "no_sender");
            return Settlement::Complete("no sender");
        };
        let push = match stored.to_push() {
            Ok(push) => push,
            Err(error) => {
                tracing::warn!(id, %error, "push cannot be built: its device is removed");
                self.count(pending, platform, "token_invalid");
                return Settlement::RemoveDevice;
            }
        };
        let started = std::time::Instant::now();
        let receipt = match dispatcher.submit(push).await {
            Ok(receipt) => receipt,
            Err(error) => {
                tracing::warn!(id, %error, "push not queued: retried later");
                return Settlement::RetryLater(RETRY_AFTER);
            }
        };
        let outcome = receipt.outcome().await;
        self.metrics.push_send.observe(started.elapsed());
        self.count(pending, platform, outcome.kind());
        match outcome {
            Outcome::Delivered { .. } => {
                let waited = u64::try_from(now_ms() - pending.seen_at_ms).unwrap_or(0);
                self.metrics
                    .event_to_push
                    .observe(Duration::from_millis(waited));
                Settlement::Complete("delivered")
            }
            Outcome::TokenInvalid { reason, .. } => {
                tracing::info!(id, device = pending.device_id, code = %reason.code, "token dead: device removed");
                Settlement::RemoveDevice
            }
            Outcome::Retry { reason, after } => {
                tracing::info!(id, code = %reason.code, "push not delivered yet: retried later");
                Settlement::RetryLater(after.unwrap_or(RETRY_AFTER))
            }
            Outcome::Rejected { reason } => {
                tracing::warn!(id, code = %reason.code, detail = reason.detail.as_deref().unwrap_or(""), "push rejected");
                Settlement::Complete("rejected")
            }
            other => {
                tracing::warn!(
                    id,
                    kind = other.kind(),
                    "push outcome not understood: retried later"
                );
                Settlement::RetryLater(RETRY_AFTER)
            }
        }
    }

    /// Writes what an outcome left to do, then lets the entry go.
    async fn apply(&self, id: i64, device: i64, settlement: Settlement) {
        match settlement {
            Settlement::Complete(why) => self.settle(id, why).await,
            Settlement::RetryLater(after) => self.retry_later(id, after).await,
            Settlement::RemoveDevice => self.remove_device(device).await,
        }
        lock(&self.settled).insert(id);
        lock(&self.in_flight).remove(&id);
    }

    async fn settle(&self, id: i64, why: &str) {
        if let Err(error) = self.store.complete(id).await {
            tracing::warn!(id, why, %error, "outbox entry not removed");
        }
    }

    async fn retry_later(&self, id: i64, after: Duration) {
        let at = now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
        if let Err(error) = self.store.retry_later(id, at).await {
            tracing::warn!(id, %error, "outbox entry not rescheduled");
        }
    }

    async fn remove_device(&self, device: i64) {
        if let Err(error) = self.store.remove_device(device).await {
            tracing::warn!(device, %error, "dead device not removed");
        }
    }
}
