//! A mailbox's task: read its saved state, then keep it subscribed: create the
//! subscription (with a new random `clientState`), check a saved one still exists, renew
//! before expiry, reauthorize when Graph asks, make a new one when Graph removed it, and run
//! delta rounds. Failures are retried with jittered backoff; a mailbox Graph refuses (no such
//! user, no permission) is reported `Failed` and tried again after the longest backoff.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use mailbox_watch::WatchEvent;
use time::OffsetDateTime;

use crate::client::Verb;
use crate::core::{Core, Counters, lock};
use crate::error::GraphError;
use crate::member::{Member, Phase, Work};
use crate::persist::{Saved, SavedSubscription};
use crate::resync::{baseline, resync};
use crate::secret::ClientState;
use crate::wire::subscription::{Subscription, SubscriptionRequest, inbox_messages, renewal};

/// Runs until the mailbox is unwatched or the watcher stops.
pub(crate) async fn run(core: Arc<Core>, member: Arc<Member>) {
    load(&core, &member).await;
    let mut failures = 0u32;
    loop {
        if member.state().removed || core.shutdown.is_cancelled() {
            return;
        }
        let work = std::mem::take(&mut member.state().work);
        if work.is_empty() {
            tokio::select! {
                () = member.kick.notified() => continue,
                () = core.shutdown.cancelled() => return,
            }
        }
        match perform(&core, &member, work).await {
            Ok(()) => {
                failures = 0;
                let mut state = member.state();
                // Work that failed before has now been done: a mailbox with a subscription
                // is watched again.
                if state.phase == Phase::Failed && state.subscription.is_some() {
                    state.phase = Phase::Subscribed;
                }
            }
            Err((left, error)) => {
                failures += 1;
                member.state().work.merge(left);
                let permanent = !error.is_retryable();
                let wait = if permanent {
                    core.settings.backoff_max
                } else {
                    core.client.backoff(failures)
                };
                tracing::warn!(mailbox = %member.mailbox, %error, ?wait, "Graph: mailbox work failed");
                if permanent {
                    member.state().phase = Phase::Failed;
                    let _ = core
                        .send(WatchEvent::Failed {
                            mailbox: Arc::clone(&member.mailbox),
                            reason: error.to_string(),
                        })
                        .await;
                }
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = core.shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Reads the saved state, then feeds the processor what the spool holds for the mailbox.
async fn load(core: &Core, member: &Arc<Member>) {
    core.loading.fetch_add(1, Ordering::SeqCst);
    let saved = match core.store.load(&member.mailbox).await {
        Ok(Some(watermark)) => Saved::decode(watermark.as_str()).unwrap_or_default(),
        Ok(None) => Saved::default(),
        Err(error) => {
            tracing::warn!(mailbox = %member.mailbox, %error, "Graph: saved state not read; starting afresh");
            Saved::default()
        }
    };
    let mut restored = None;
    let replay = {
        let mut state = member.state();
        state.restore(saved, core.settings.clock.now());
        if let Some(subscription) = &state.subscription {
            lock(&core.registry).subscriptions.insert(
                subscription.id.clone(),
                (subscription.digest, Arc::clone(member)),
            );
            restored = Some((subscription.id.clone(), subscription.digest));
        }
        state.phase = Phase::Pending;
        state.loaded = true;
        let mut replay = lock(&core.replay).remove(&member.key).unwrap_or_default();
        replay.append(&mut state.deferred);
        replay.retain(|r| r.seq > state.spool_seq);
        replay
    };
    // This node holds the mailbox now (a restart, or another node let it go).
    if let Some((id, digest)) = restored {
        crate::peers::publish(core, &id, &member.key, digest).await;
    }
    core.loading.fetch_sub(1, Ordering::SeqCst);
    for record in replay {
        if core.queue.send(record).await.is_err() {
            return;
        }
    }
}

/// Does `work` in order; on failure, what is left and why.
async fn perform(core: &Core, member: &Arc<Member>, work: Work) -> Result<(), (Work, GraphError)> {
    let mut left = work;
    let fail = |left: Work, error: GraphError| Err((left, error));
    if work.verify {
        match verify(core, member).await {
            Ok(true) => {}
            Ok(false) => {
                left.create = true;
                left.resync = true;
            }
            Err(error) => return fail(left, error),
        }
        left.verify = false;
    }
    if left.reauthorize {
        match reauthorize(core, member).await {
            Ok(true) => {}
            Ok(false) => left.create = true,
            Err(error) => return fail(left, error),
        }
        left.reauthorize = false;
        left.renew = false;
    }
    if left.renew {
        match renew(core, member).await {
            Ok(true) => {}
            Ok(false) => {
                left.create = true;
                left.resync = true;
            }
            Err(error) => return fail(left, error),
        }
        left.renew = false;
    }
    if left.create {
        if let Err(error) = create(core, member, left.resync).await {
            return fail(left, error);
        }
        left.create = false;
    }
    if left.resync
        && let Err(error) = resync(core, member).await
    {
        return fail(left, error);
    }
    Ok(())
}

fn lost(member: &Member, reason: String) -> WatchEvent {
    WatchEvent::Lost {
        mailbox: Arc::clone(&member.mailbox),
        reason,
    }
}

/// Takes Graph's answer about the subscription: its expiry, and when to renew.
fn granted(core: &Core, member: &Member, subscription: &Subscription) {
    let now = core.settings.clock.now();
    let lifetime = (subscription.expires - now).max(time::Duration::ZERO);
    let renew_at = now + lifetime * core.settings.renew_at;
    let mut state = member.state();
    if let Some(saved) = state.subscription.as_mut() {
        saved.expires = subscription.expires;
        saved.renew_at = renew_at;
    }
}

/// Whether the saved subscription still exists (and its expiry).
async fn verify(core: &Core, member: &Member) -> Result<bool, GraphError> {
    let Some(id) = member.state().subscription.as_ref().map(|s| s.id.clone()) else {
        return Ok(false);
    };
    match core
        .call(
            member,
            Verb::Get,
            core.client.endpoint(&["subscriptions", &id])?,
        )
        .await
    {
        Ok(answer) => {
            let subscription = Subscription::parse(&answer.body).map_err(GraphError::Protocol)?;
            let ours = core.settings.notification_url.as_str();
            if subscription
                .notification_url
                .as_deref()
                .is_some_and(|url| url != ours)
            {
                // The notification URL changed since: this one notifies elsewhere.
                let url = core.client.endpoint(&["subscriptions", &id])?;
                if let Err(error) = core.call(member, Verb::Delete, url).await {
                    tracing::info!(mailbox = %member.mailbox, %error, "Graph: old subscription not deleted");
                }
                forget(core, member);
                let reason = format!("subscription {id} notifies another URL");
                let _ = core.send(lost(member, reason)).await;
                return Ok(false);
            }
            granted(core, member, &subscription);
            let _emit = member.emit.lock().await;
            member.state().phase = Phase::Subscribed;
            let event = WatchEvent::Subscribed {
                mailbox: Arc::clone(&member.mailbox),
                resumed: true,
            };
            core.deliver(member, vec![event]).await;
            Ok(true)
        }
        Err(error) if error.is_not_found() => {
            forget(core, member);
            Counters::add(&core.counters.losses, 1);
            let _ = core
                .send(lost(member, format!("subscription {id} no longer exists")))
                .await;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// Drops the current subscription from the registry.
fn forget(core: &Core, member: &Member) {
    let mut state = member.state();
    state.phase = Phase::Lost;
    if let Some(old) = state.subscription.take() {
        lock(&core.registry).subscriptions.remove(&old.id);
        crate::peers::withdraw(core, old.id);
    }
}

/// `POST /subscriptions/{id}/reauthorize`; false when the subscription is gone.
async fn reauthorize(core: &Core, member: &Member) -> Result<bool, GraphError> {
    let Some(id) = member.state().subscription.as_ref().map(|s| s.id.clone()) else {
        return Ok(false);
    };
    let url = core
        .client
        .endpoint(&["subscriptions", &id, "reauthorize"])?;
    match core.call(member, Verb::Post(Vec::new()), url).await {
        Ok(_) => {
            Counters::add(&core.counters.reauthorizations, 1);
            Ok(true)
        }
        Err(error) if error.is_not_found() => {
            forget(core, member);
            Ok(false)
        }
        // Renewing reauthorizes too.
        Err(error) => {
            tracing::info!(mailbox = %member.mailbox, %error, "Graph: reauthorize failed; renewing instead");
            renew(core, member).await
        }
    }
}

/// `PATCH /subscriptions/{id}` with a new expiry; false when the subscription is gone.
async fn renew(core: &Core, member: &Member) -> Result<bool, GraphError> {
    let Some(id) = member.state().subscription.as_ref().map(|s| s.id.clone()) else {
        return Ok(false);
    };
    let expiry = core.settings.clock.now() + core.settings.lifetime;
    let url = core.client.endpoint(&["subscriptions", &id])?;
    match core.call(member, Verb::Patch(renewal(expiry)), url).await {
        Ok(answer) => {
            let subscription = Subscription::parse(&answer.body).map_err(GraphError::Protocol)?;
            Counters::add(&core.counters.renewals, 1);
            granted(core, member, &subscription);
            let _emit = member.emit.lock().await;
            core.deliver(member, Vec::new()).await;
            tracing::debug!(mailbox = %member.mailbox, expires = %subscription.expires, "Graph subscription renewed");
            Ok(true)
        }
        Err(error) if error.is_not_found() => {
            forget(core, member);
            Counters::add(&core.counters.losses, 1);
            let _ = core
                .send(lost(
                    member,
                    format!("subscription {id} expired or was deleted"),
                ))
                .await;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// `POST /subscriptions` with a new `clientState`; then the baseline, unless a round follows.
async fn create(core: &Core, member: &Arc<Member>, resync_follows: bool) -> Result<(), GraphError> {
    let _place = core
        .subscribing
        .acquire()
        .await
        .map_err(|_| GraphError::Stopped)?;
    let resource = inbox_messages(&member.mailbox)?;
    let state = ClientState::random();
    let digest = state.digest();
    lock(&core.registry)
        .pending
        .insert(digest, Arc::clone(member));
    let settings = &core.settings;
    let request = SubscriptionRequest {
        change_type: "created",
        notification_url: settings.notification_url.as_str(),
        lifecycle_notification_url: settings.lifecycle_url.as_str(),
        resource: &resource,
        expiration_date_time: crate::wire::format_datetime(
            settings.clock.now() + settings.lifetime,
        ),
        client_state: state.expose(),
        latest_supported_tls_version: "v1_2",
    };
    Counters::add(&core.counters.subscribe_requests, 1);
    let answer = core
        .call(
            member,
            Verb::Post(request.to_json()),
            core.client.endpoint(&["subscriptions"])?,
        )
        .await;
    let parsed = answer.and_then(|a| Subscription::parse(&a.body).map_err(GraphError::Protocol));
    let subscription = match parsed {
        Ok(subscription) => subscription,
        Err(error) => {
            lock(&core.registry).pending.remove(&digest);
            return Err(error);
        }
    };
    let replaced = {
        let mut registry = lock(&core.registry);
        registry.pending.remove(&digest);
        let mut state = member.state();
        let replaced = state.subscription.take().map(|old| old.id);
        if let Some(old) = &replaced {
            registry.subscriptions.remove(old);
        }
        registry
            .subscriptions
            .insert(subscription.id.clone(), (digest, Arc::clone(member)));
        state.subscription = Some(SavedSubscription {
            id: subscription.id.clone(),
            digest,
            expires: subscription.expires,
            renew_at: subscription.expires,
        });
        replaced
    };
    crate::peers::publish(core, &subscription.id, &member.key, digest).await;
    if let Some(old) = replaced {
        crate::peers::withdraw(core, old);
    }
    granted(core, member, &subscription);
    tracing::info!(mailbox = %member.mailbox, subscription = %subscription.id, expires = %subscription.expires, "Graph subscription created");
    if !resync_follows && member.state().delta_link.is_none() {
        baseline(core, member).await?;
    }
    let _emit = member.emit.lock().await;
    let resumed = {
        let mut state = member.state();
        state.phase = Phase::Subscribed;
        resync_follows && state.delta_link.is_some()
    };
    let event = WatchEvent::Subscribed {
        mailbox: Arc::clone(&member.mailbox),
        resumed,
    };
    core.deliver(member, vec![event]).await;
    Ok(())
}

/// Marks subscriptions due for renewal, and mailboxes due for a catch-up round.
///
/// A subscription is renewed in whatever phase its mailbox is: a mailbox whose other work
/// failed (a round Graph refused) keeps its subscription alive, or learns that it is gone and
/// makes a new one, rather than letting it expire unnoticed.
pub(crate) fn sweep(core: &Core, now: OffsetDateTime) {
    let members: Vec<Arc<Member>> = lock(&core.registry).members.values().cloned().collect();
    for member in members {
        let mut due = Work::default();
        {
            let state = member.state();
            if matches!(state.phase, Phase::Loading) || state.removed {
                continue;
            }
            if state
                .subscription
                .as_ref()
                .is_some_and(|s| s.renew_at <= now)
            {
                due.renew = true;
            }
            if state.phase == Phase::Subscribed
                && state.last_round.elapsed() >= core.settings.catch_up_interval
            {
                due.resync = true;
            }
        }
        if !due.is_empty() {
            member.ask(due);
        }
    }
}
