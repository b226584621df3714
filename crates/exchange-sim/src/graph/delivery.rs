//! Change notifications: every change to a subscribed folder becomes a `changeNotification`
//! (<https://learn.microsoft.com/graph/api/resources/changenotification>) POSTed to the
//! subscription's `notificationUrl` in a `changeNotificationCollection`, at most the scenario's
//! `graph.batch_size` per POST, with other subscriptions' notifications for the same URL when
//! they are ready at the same time ([`posting`](super::posting)).
//!
//! A POST that fails, or is not answered 2xx within 3 seconds, is sent again 30 s later,
//! then after doubling waits (at most 15 minutes apart), for up to 4 hours; then it is
//! discarded and, when the subscription has a `lifecycleNotificationUrl`, a `missed`
//! lifecycle notification says so. Waits are divided by the scenario's `time_scale`; the
//! 3-second timeout is not. While a `reauthorizationRequired` is unanswered, changes are
//! lost, as Microsoft documents.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::posting::Posted;
use super::store::{Change, Subscription, graph_datetime};
use super::{Counters, LifecycleEvent, handle, messages};
use crate::sim::Ctx;
use crate::world::mailbox::{FolderKind, Kind, LogEntry, Object};

/// How long Graph keeps trying one notification.
const GIVE_UP_AFTER: Duration = Duration::from_secs(4 * 3600);

/// Starts delivering `subscription`'s changes from the mailbox's sequence `cursor` on.
pub(crate) fn spawn(ctx: Arc<Ctx>, subscription: Arc<Subscription>, cursor: u64) {
    tokio::spawn(async move {
        let reason = run(&ctx, &subscription, cursor).await;
        tracing::debug!(subscription = %subscription.id, reason, "Graph delivery ended");
    });
}

async fn run(ctx: &Ctx, subscription: &Subscription, mut cursor: u64) -> &'static str {
    let graph = &ctx.graph;
    loop {
        if subscription.ended.is_cancelled() {
            return "subscription ended";
        }
        let now = ctx.world.clock.now();
        if subscription.state().expires <= now {
            graph.subscriptions.remove(&subscription.id);
            Counters::add(&graph.counters.expired, 1);
            return "subscription expired";
        }
        let (changes, next) = pending(ctx, subscription, cursor);
        cursor = next;
        let (paused, dropped) = {
            let mut state = subscription.state();
            let n = u64::try_from(changes.len()).unwrap_or(u64::MAX);
            let dropped = if state.paused {
                n
            } else {
                state.drop_next.min(n)
            };
            state.drop_next -= state.drop_next.min(n);
            (state.paused, dropped)
        };
        if dropped > 0 {
            Counters::add(&graph.counters.dropped, dropped);
            tracing::debug!(subscription = %subscription.id, dropped, paused, "Graph: notifications dropped");
        }
        let send: Vec<Value> = changes
            .into_iter()
            .skip(usize::try_from(dropped).unwrap_or(usize::MAX))
            .collect();
        for batch in send.chunks(ctx.world.scenario.graph.batch_size) {
            if !post_with_retries(
                ctx,
                &subscription.ended,
                &subscription.notification_url,
                batch,
            )
            .await
            {
                if subscription.ended.is_cancelled() || ctx.shutdown.is_cancelled() {
                    return "subscription ended";
                }
                Counters::add(&graph.counters.dropped, batch.len() as u64);
                if subscription.lifecycle_url.is_some() {
                    let _ = handle::send_lifecycle(ctx, subscription, LifecycleEvent::Missed).await;
                }
            } else {
                Counters::add(&graph.counters.notifications, batch.len() as u64);
            }
        }
        if send.is_empty() {
            // Wake on the next change, or to expire the subscription on time.
            let left = subscription.state().expires - ctx.world.clock.now();
            let until_expiry = Duration::try_from(left).unwrap_or_default();
            let check = until_expiry.min(ctx.world.clock.scaled(Duration::from_secs(60)));
            tokio::select! {
                () = subscription.waker.notified() => {}
                () = tokio::time::sleep(check.max(Duration::from_millis(5))) => {}
                () = subscription.ended.cancelled() => return "subscription ended",
                () = ctx.shutdown.cancelled() => return "simulator stopped",
            }
        }
    }
}

/// The change notifications of the mailbox's events from `cursor` on, and the next cursor.
fn pending(ctx: &Ctx, subscription: &Subscription, cursor: u64) -> (Vec<Value>, u64) {
    let mailbox = &subscription.mailbox;
    let state = mailbox.lock();
    let mut out = Vec::new();
    let mut next = cursor.max(state.first_seq());
    for entry in state.since(next) {
        next = entry.seq + 1;
        for (change, number) in changes(entry, subscription.folder) {
            if subscription.wants(change) {
                let version = state.items.get(&number).map_or(0, |i| i.version);
                let id = messages::rest_id(&mailbox.item_id(number, version).id);
                out.push(notification(ctx, subscription, change, &id, version));
            }
        }
    }
    let next = next.max(state.next_seq());
    (out, next)
}

/// What an event of the mailbox means to a subscription on `folder` (`None`: all folders).
fn changes(entry: &LogEntry, folder: Option<FolderKind>) -> Vec<(Change, u64)> {
    let watched = |f: FolderKind| folder.is_none_or(|w| w == f) && f != FolderKind::MsgFolderRoot;
    let Object::Item(number, _) = entry.object else {
        return Vec::new();
    };
    match entry.kind {
        Kind::Created if watched(entry.parent) => vec![(Change::Created, number)],
        Kind::Modified if watched(entry.parent) => vec![(Change::Updated, number)],
        Kind::Deleted if watched(entry.parent) => vec![(Change::Deleted, number)],
        Kind::Moved => {
            let mut out = Vec::new();
            if let Some((Object::Item(old, _), from)) = entry.old
                && watched(from)
            {
                out.push((Change::Deleted, old));
            }
            if watched(entry.parent) {
                out.push((Change::Created, number));
            }
            out
        }
        _ => Vec::new(),
    }
}

fn notification(
    ctx: &Ctx,
    subscription: &Subscription,
    change: Change,
    id: &str,
    version: u32,
) -> Value {
    let resource = format!("Users/{}/Messages/{id}", subscription.user_id);
    json!({
        "id": uuid::Uuid::new_v4().simple().to_string(),
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": graph_datetime(subscription.state().expires),
        "clientState": subscription.client_state,
        "changeType": change.as_str(),
        "resource": resource,
        "tenantId": ctx.identity.tenant_id(),
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": resource,
            "@odata.etag": format!("W/\"CQAAAB{version}\""),
            "id": id,
        },
    })
}

/// POSTs `notifications` to `url` until a 2xx answer, with Graph's retries; false when it
/// gave up (or the subscription ended). Notifications of other subscriptions ready at the same
/// time may share the POST ([`posting`](super::posting)).
pub(crate) async fn post_with_retries(
    ctx: &Ctx,
    stop: &CancellationToken,
    url: &str,
    notifications: &[Value],
) -> bool {
    let first = Instant::now();
    let mut wait = Duration::from_secs(30);
    loop {
        let posted = tokio::select! {
            posted = ctx.graph.posting.post(url, notifications) => posted,
            () = stop.cancelled() => return false,
        };
        if posted == Posted::Accepted {
            return true;
        }
        let scaled = ctx.world.clock.scaled(wait);
        if ctx.world.clock.scaled(GIVE_UP_AFTER) < first.elapsed() + scaled {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(scaled) => {}
            () = stop.cancelled() => return false,
            () = ctx.shutdown.cancelled() => return false,
        }
        wait = (wait * 2).min(Duration::from_secs(15 * 60));
    }
}
