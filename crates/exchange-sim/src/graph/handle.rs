//! [`GraphHandle`]: the Graph mode as tests and integrators drive it, and lifecycle
//! notifications (<https://learn.microsoft.com/graph/change-notifications-lifecycle-events>).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use super::delivery::post_with_retries;
use super::store::{Subscription, graph_datetime};
use super::{Counters, GRAPH_HOST};
use crate::SimError;
use crate::sim::Ctx;

/// A lifecycle notification's `lifecycleEvent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// Graph wants the subscription reauthorized: notifications stop (and changes are lost)
    /// until the app calls `/reauthorize` or renews it.
    ReauthorizationRequired,
    /// Graph removed the subscription: the app must create a new one and resync.
    SubscriptionRemoved,
    /// Some notifications were not delivered: the app must resync (delta query).
    Missed,
}

impl LifecycleEvent {
    /// The value as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
        }
    }
}

/// A subscription as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GraphSubscriptionInfo {
    /// Its id.
    pub id: String,
    /// The creating app's client id.
    pub app: String,
    /// The mailbox's address.
    pub mailbox: String,
    /// `resource`, as given.
    pub resource: String,
    /// `changeType`.
    pub change_type: String,
    /// When it expires (the simulator's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Whether a `reauthorizationRequired` is unanswered (notifications are held back).
    pub paused: bool,
    /// `notificationUrl`.
    pub notification_url: String,
    /// `lifecycleNotificationUrl`.
    pub lifecycle_url: Option<String>,
    /// `clientState`: the secret the subscriber's webhook checks (tests that play an
    /// attacker who learnt it read it here).
    pub client_state: Option<String>,
}

/// Counts of the Graph mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GraphStats {
    /// Subscriptions now.
    pub subscriptions: usize,
    /// Requests to `/v1.0/` with Graph's host name.
    pub requests: u64,
    /// Subscriptions created.
    pub created: u64,
    /// `PATCH`es that renewed a subscription.
    pub renewed: u64,
    /// `/reauthorize` calls that succeeded.
    pub reauthorized: u64,
    /// Subscriptions deleted by their app.
    pub deleted: u64,
    /// Subscriptions that expired.
    pub expired: u64,
    /// Validation requests sent, and those that failed.
    pub validations: u64,
    /// Validation requests that failed.
    pub validation_failures: u64,
    /// Change notifications delivered (answered 2xx).
    pub notifications: u64,
    /// POSTs of notifications (every attempt; one may carry several subscriptions').
    pub posts: u64,
    /// Notifications (change and lifecycle) waiting for a POST to their URL now.
    pub queued: u64,
    /// POSTs that failed or timed out (each is retried).
    pub failed_posts: u64,
    /// POSTs answered after more than 2.9 s.
    pub slow_posts: u64,
    /// Change notifications dropped (on demand, while paused, or given up).
    pub dropped: u64,
    /// Lifecycle notifications delivered.
    pub lifecycle: u64,
    /// Delta requests.
    pub delta_requests: u64,
    /// `GET /users/{id}/messages/{id}` requests (an injected failure included): with
    /// [`Stats::item_reads`](crate::Stats::item_reads), the calls a client made for message
    /// details.
    pub message_reads: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Requests that came before the `Retry-After` their app and mailbox were given.
    pub early_retries: u64,
    /// The most requests one app had in flight on one mailbox.
    pub max_in_flight: usize,
}

/// Access to the Graph mode from tests.
#[derive(Debug)]
pub struct GraphHandle<'a> {
    ctx: &'a Arc<Ctx>,
    port: u16,
}

impl<'a> GraphHandle<'a> {
    pub(crate) fn new(ctx: &'a Arc<Ctx>, port: u16) -> Self {
        Self { ctx, port }
    }

    /// `https://graph.microsoft.com:<port>`: Graph's origin on this simulator (resolve the
    /// host name to the simulator's address).
    pub fn origin(&self) -> String {
        format!("https://{GRAPH_HOST}:{}", self.port)
    }

    /// A user's Graph id (the `oid` of their tokens).
    pub fn user_id(&self, smtp: &str) -> Result<String, SimError> {
        self.ctx
            .world
            .directory
            .user_by_smtp(smtp)
            .map(|_| super::routing::user_id(smtp))
            .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))
    }

    /// The subscriptions on `smtp`'s mailbox (every subscription when `None`).
    pub fn subscriptions(&self, smtp: Option<&str>) -> Vec<GraphSubscriptionInfo> {
        let graph = &self.ctx.graph;
        graph.subscriptions.expire(self.ctx.world.clock.now());
        graph
            .subscriptions
            .all()
            .iter()
            .filter(|s| smtp.is_none_or(|m| s.mailbox.address.eq_ignore_ascii_case(m)))
            .map(|s| {
                let state = s.state();
                GraphSubscriptionInfo {
                    id: s.id.clone(),
                    app: s.app.clone(),
                    mailbox: s.mailbox.address.clone(),
                    resource: s.resource.clone(),
                    change_type: s.change_type(),
                    expires: state.expires,
                    paused: state.paused,
                    notification_url: s.notification_url.clone(),
                    lifecycle_url: s.lifecycle_url.clone(),
                    client_state: s.client_state.clone(),
                }
            })
            .collect()
    }

    /// Sends a lifecycle notification for subscription `id` (in the background, with
    /// Graph's retries): `reauthorizationRequired` holds notifications back until the app
    /// reauthorizes, `subscriptionRemoved` deletes the subscription first.
    pub fn lifecycle(&self, id: &str, event: LifecycleEvent) -> Result<(), SimError> {
        let graph = &self.ctx.graph;
        let subscription = graph
            .subscriptions
            .get(id)
            .ok_or_else(|| SimError::NotFound(format!("Graph subscription {id}")))?;
        if subscription.lifecycle_url.is_none() {
            return Err(SimError::NotFound(format!(
                "a lifecycleNotificationUrl on Graph subscription {id}"
            )));
        }
        match event {
            LifecycleEvent::ReauthorizationRequired => subscription.state().paused = true,
            LifecycleEvent::SubscriptionRemoved => {
                graph.subscriptions.remove(id);
            }
            LifecycleEvent::Missed => {}
        }
        let ctx = Arc::clone(self.ctx);
        tokio::spawn(async move {
            let _ = send_lifecycle(&ctx, &subscription, event).await;
        });
        Ok(())
    }

    /// The next `n` change notifications of `smtp`'s subscriptions are dropped, as Graph
    /// drops them when it throttles (a `missed` lifecycle notification then tells the app).
    pub fn drop_notifications(&self, smtp: &str, n: u64) -> Result<(), SimError> {
        let subscriptions = self.subscriptions(Some(smtp));
        if subscriptions.is_empty() {
            return Err(SimError::NotFound(format!("Graph subscription on {smtp}")));
        }
        for info in subscriptions {
            if let Some(s) = self.ctx.graph.subscriptions.get(&info.id) {
                s.state().drop_next += n;
            }
        }
        Ok(())
    }

    fn mailbox(&self, smtp: &str) -> Result<&crate::world::mailbox::Mailbox, SimError> {
        self.ctx
            .world
            .mailboxes
            .iter()
            .map(AsRef::as_ref)
            .find(|m: &&crate::world::mailbox::Mailbox| m.address.eq_ignore_ascii_case(smtp))
            .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))
    }

    /// Expires every delta link of `smtp`'s mailbox given until now: following one is answered
    /// `410 Gone` (`gone`) or `400 Bad Request`, with the code `syncStateNotFound`, as Graph
    /// answers a token whose state it no longer keeps.
    pub fn expire_delta_links(&self, smtp: &str, gone: bool) -> Result<(), SimError> {
        let mailbox = self.mailbox(smtp)?;
        let graph = &self.ctx.graph;
        let generation = graph.delta_generation.fetch_add(1, Ordering::SeqCst);
        graph
            .expired_delta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mailbox.id, (generation, if gone { 410 } else { 400 }));
        Ok(())
    }

    /// The next `n` delta requests on `smtp`'s mailbox are answered `403 ErrorAccessDenied`,
    /// as when an application access policy leaves the mailbox out (`0` ends it).
    pub fn refuse_delta(&self, smtp: &str, n: u64) -> Result<(), SimError> {
        let mailbox = self.mailbox(smtp)?;
        self.ctx
            .graph
            .refused_delta
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(mailbox.id, n);
        Ok(())
    }

    /// The next `n` requests are answered 429 with `Retry-After` (whole seconds).
    pub fn throttle(&self, n: u64, retry_after: Duration) {
        self.ctx.graph.throttle.force(n, retry_after);
    }

    /// Every Graph answer waits `delay` first (zero to stop).
    pub fn slow_answers(&self, delay: Duration) {
        self.ctx.graph.throttle.slow(delay);
    }

    /// Every Graph answer on `smtp`'s mailbox waits `delay` first (zero to stop); the other
    /// mailboxes answer as before.
    pub fn slow_mailbox(&self, smtp: &str, delay: Duration) -> Result<(), SimError> {
        let mailbox = self.mailbox(smtp)?;
        let key = mailbox.address.to_ascii_lowercase();
        self.ctx.graph.throttle.slow_mailbox(key, delay);
        Ok(())
    }

    /// Counts.
    pub fn stats(&self) -> GraphStats {
        let graph = &self.ctx.graph;
        let c = &graph.counters;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        GraphStats {
            subscriptions: graph.subscriptions.all().len(),
            requests: load(&c.requests),
            created: load(&c.created),
            renewed: load(&c.renewed),
            reauthorized: load(&c.reauthorized),
            deleted: load(&c.deleted),
            expired: load(&c.expired),
            validations: load(&c.validations),
            validation_failures: load(&c.validation_failures),
            notifications: load(&c.notifications),
            queued: load(&c.queued),
            posts: load(&c.posts),
            failed_posts: load(&c.failed_posts),
            slow_posts: load(&c.slow_posts),
            dropped: load(&c.dropped),
            lifecycle: load(&c.lifecycle),
            delta_requests: load(&c.delta_requests),
            message_reads: load(&c.message_reads),
            throttled: load(&graph.throttle.throttled),
            early_retries: load(&graph.throttle.early_retries),
            max_in_flight: graph.throttle.max_in_flight.load(Ordering::Relaxed),
        }
    }
}

/// POSTs a lifecycle notification to the subscription's `lifecycleNotificationUrl`, with
/// Graph's retries; whether it was delivered.
pub(crate) async fn send_lifecycle(
    ctx: &Ctx,
    subscription: &Subscription,
    event: LifecycleEvent,
) -> bool {
    let Some(url) = &subscription.lifecycle_url else {
        return false;
    };
    let notification = json!({
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_datetime(subscription.state().expires),
        "tenantId": ctx.identity.tenant_id(),
        "clientState": subscription.client_state,
        "lifecycleEvent": event.as_str(),
    });
    // A removed subscription's delivery has ended: its notice is retried all the same.
    let stop = if subscription.ended.is_cancelled() {
        CancellationToken::new()
    } else {
        subscription.ended.clone()
    };
    let delivered = post_with_retries(ctx, &stop, url, &[notification]).await;
    if delivered {
        Counters::add(&ctx.graph.counters.lifecycle, 1);
    }
    delivered
}
