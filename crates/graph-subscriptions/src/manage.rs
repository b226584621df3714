//! A mailbox's task: read its saved state, then keep it subscribed: create the
//! subscriptions (the inbox's, and one per further folder, each with a new random
//! `clientState`), check saved ones still exist, renew before expiry, reauthorize when Graph
//! asks, make a new one when Graph removed one, run delta rounds, and delete the
//! subscriptions of folders the target no longer names. Failures are retried with jittered
//! backoff; a mailbox Graph refuses (no such user, no permission) is reported `Failed` and
//! tried again after the longest backoff. A further folder Graph refuses (no such folder) is
//! logged and left out, and tried again after `catch_up_interval`; it never fails the
//! mailbox. `Subscribed`, `Lost` and `Failed` events are about the inbox's subscription: a
//! further folder's are logged.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mailbox_watch::WatchEvent;
use time::OffsetDateTime;

use crate::client::Verb;
use crate::core::{Core, Counters, Held, lock};
use crate::error::GraphError;
use crate::folders::FolderName;
use crate::member::{Member, Phase, Slot, Work};
use crate::persist::{Saved, SavedSubscription};
use crate::resync::{baseline, resync};
use crate::secret::ClientState;
use crate::wire::subscription::{
    Subscription, SubscriptionRequest, folder_messages, inbox_messages, renewal,
};

/// How logs name a subscription's folder.
fn named(folder: Option<&FolderName>) -> &str {
    folder.map_or("inbox", FolderName::as_str)
}

/// Runs until the mailbox is unwatched or the watcher stops.
pub(crate) async fn run(core: Arc<Core>, member: Arc<Member>) {
    load(&core, &member).await;
    let mut failures = 0u32;
    loop {
        if member.state().removed || core.shutdown.is_cancelled() {
            return;
        }
        let (jobs, retired) = member.state().take_work();
        if jobs.is_empty() && retired.is_empty() {
            tokio::select! {
                () = member.kick.notified() => continue,
                () = core.shutdown.cancelled() => return,
            }
        }
        for id in retired {
            delete(&core, &member, &id).await;
        }
        let mut wait: Option<Duration> = None;
        for (folder, work) in jobs {
            let (left, error) = match perform(&core, &member, folder.as_ref(), work).await {
                Ok(()) => {
                    let mut state = member.state();
                    // Work that failed before has now been done: a mailbox with a
                    // subscription is watched again.
                    if folder.is_none()
                        && state.phase == Phase::Failed
                        && state.inbox.subscription.is_some()
                    {
                        state.phase = Phase::Subscribed;
                    }
                    continue;
                }
                Err(failed) => failed,
            };
            let permanent = !error.is_retryable();
            if folder.is_none() || !permanent {
                failures += 1;
                let this = if permanent {
                    core.settings.backoff_max
                } else {
                    core.client.backoff(failures)
                };
                wait = Some(wait.map_or(this, |w| w.max(this)));
            }
            failed(&core, &member, folder.as_ref(), left, &error, wait).await;
        }
        match wait {
            None => failures = 0,
            Some(wait) => {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = core.shutdown.cancelled() => return,
                }
            }
        }
    }
}

/// Keeps what is `left` of a slot's work after `error`: the inbox's is tried again (after the
/// longest backoff, and reported `Failed`, when Graph refuses it); a further folder's is tried
/// again after a retryable error, and left out for `catch_up_interval` otherwise.
async fn failed(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
    left: Work,
    error: &GraphError,
    wait: Option<Duration>,
) {
    let permanent = !error.is_retryable();
    let folder_name = named(folder);
    {
        let mut state = member.state();
        let Some(slot) = state.slot_mut(folder) else {
            return;
        };
        if folder.is_some() && permanent {
            slot.left_out = Some((Instant::now(), left));
        } else {
            slot.work.merge(left);
        }
    }
    if folder.is_some() {
        if permanent {
            tracing::warn!(mailbox = %member.mailbox, folder = folder_name, %error, "Graph: further folder left out; tried again later");
        } else {
            tracing::warn!(mailbox = %member.mailbox, folder = folder_name, %error, ?wait, "Graph: further folder's work failed");
        }
        return;
    }
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
    let (held, replay) = {
        let mut state = member.state();
        state.restore(saved, core.settings.clock.now());
        let held: Vec<(String, Held)> = state
            .slots()
            .filter_map(|(folder, slot)| {
                let subscription = slot.subscription.as_ref()?;
                let held = Held {
                    digest: subscription.digest,
                    member: Arc::clone(member),
                    folder: folder.cloned(),
                };
                Some((subscription.id.clone(), held))
            })
            .collect();
        state.phase = Phase::Pending;
        state.loaded = true;
        let mut replay = lock(&core.replay).remove(&member.key).unwrap_or_default();
        replay.append(&mut state.deferred);
        replay.retain(|r| r.seq > state.spool_seq);
        (held, replay)
    };
    lock(&core.registry)
        .subscriptions
        .extend(held.iter().cloned());
    // This node holds the mailbox now (a restart, or another node let it go).
    for (id, held) in &held {
        crate::peers::publish(core, id, &member.key, held.digest).await;
    }
    core.loading.fetch_sub(1, Ordering::SeqCst);
    for record in replay {
        if core.queue.send(record).await.is_err() {
            return;
        }
    }
}

/// Does `work` on the inbox's subscription (`folder` `None`) or a further folder's, in
/// order; on failure, what is left and why.
async fn perform(
    core: &Core,
    member: &Arc<Member>,
    folder: Option<&FolderName>,
    work: Work,
) -> Result<(), (Work, GraphError)> {
    let mut left = work;
    let fail = |left: Work, error: GraphError| Err((left, error));
    if work.verify {
        match verify(core, member, folder).await {
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
        match reauthorize(core, member, folder).await {
            Ok(true) => {}
            Ok(false) => left.create = true,
            Err(error) => return fail(left, error),
        }
        left.reauthorize = false;
        left.renew = false;
    }
    if left.renew {
        match renew(core, member, folder).await {
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
        if let Err(error) = create(core, member, folder, left.resync).await {
            return fail(left, error);
        }
        left.create = false;
    }
    if left.resync
        && let Err(error) = resync(core, member, folder).await
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

/// Tells of a lost subscription: a `Lost` event for the inbox's, a log line for a further
/// folder's (the mailbox is still watched).
async fn tell_lost(core: &Core, member: &Member, folder: Option<&FolderName>, reason: String) {
    match folder {
        None => {
            let _ = core.send(lost(member, reason)).await;
        }
        Some(folder) => {
            tracing::info!(mailbox = %member.mailbox, %folder, reason, "Graph: further folder's subscription lost; making a new one");
        }
    }
}

/// The slot's current subscription id.
fn current(member: &Member, folder: Option<&FolderName>) -> Option<String> {
    member
        .state()
        .slot(folder)
        .and_then(|slot| slot.subscription.as_ref())
        .map(|s| s.id.clone())
}

/// Takes Graph's answer about the subscription: its expiry, and when to renew.
fn granted(core: &Core, member: &Member, folder: Option<&FolderName>, subscription: &Subscription) {
    let now = core.settings.clock.now();
    let lifetime = (subscription.expires - now).max(time::Duration::ZERO);
    let renew_at = now + lifetime * core.settings.renew_at;
    let mut state = member.state();
    if let Some(saved) = state
        .slot_mut(folder)
        .and_then(|slot| slot.subscription.as_mut())
        .filter(|saved| saved.id == subscription.id)
    {
        saved.expires = subscription.expires;
        saved.renew_at = renew_at;
    }
}

/// Whether the saved subscription still exists (and its expiry).
async fn verify(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
) -> Result<bool, GraphError> {
    let Some(id) = current(member, folder) else {
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
                forget(core, member, folder);
                let reason = format!("subscription {id} notifies another URL");
                tell_lost(core, member, folder, reason).await;
                return Ok(false);
            }
            granted(core, member, folder, &subscription);
            let _emit = member.emit.lock().await;
            let events = match folder {
                None => {
                    member.state().phase = Phase::Subscribed;
                    vec![WatchEvent::Subscribed {
                        mailbox: Arc::clone(&member.mailbox),
                        resumed: true,
                    }]
                }
                Some(_) => Vec::new(),
            };
            core.deliver(member, events).await;
            Ok(true)
        }
        Err(error) if error.is_not_found() => {
            forget(core, member, folder);
            Counters::add(&core.counters.losses, 1);
            let reason = format!("subscription {id} no longer exists");
            tell_lost(core, member, folder, reason).await;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// Drops the slot's current subscription from the registry.
fn forget(core: &Core, member: &Member, folder: Option<&FolderName>) {
    let old = {
        let mut state = member.state();
        if folder.is_none() {
            state.phase = Phase::Lost;
        }
        let old = state
            .slot_mut(folder)
            .and_then(|slot| slot.subscription.take());
        if let Some(old) = &old {
            state.remember_former(old.id.clone(), folder.cloned());
        }
        old
    };
    if let Some(old) = old {
        lock(&core.registry).subscriptions.remove(&old.id);
        crate::peers::withdraw(core, old.id);
    }
}

/// `POST /subscriptions/{id}/reauthorize`; false when the subscription is gone.
async fn reauthorize(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
) -> Result<bool, GraphError> {
    let Some(id) = current(member, folder) else {
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
            forget(core, member, folder);
            Ok(false)
        }
        // Renewing reauthorizes too.
        Err(error) => {
            tracing::info!(mailbox = %member.mailbox, folder = named(folder), %error, "Graph: reauthorize failed; renewing instead");
            renew(core, member, folder).await
        }
    }
}

/// `PATCH /subscriptions/{id}` with a new expiry; false when the subscription is gone.
async fn renew(
    core: &Core,
    member: &Member,
    folder: Option<&FolderName>,
) -> Result<bool, GraphError> {
    let Some(id) = current(member, folder) else {
        return Ok(false);
    };
    let expiry = core.settings.clock.now() + core.settings.lifetime;
    let url = core.client.endpoint(&["subscriptions", &id])?;
    match core.call(member, Verb::Patch(renewal(expiry)), url).await {
        Ok(answer) => {
            let subscription = Subscription::parse(&answer.body).map_err(GraphError::Protocol)?;
            Counters::add(&core.counters.renewals, 1);
            granted(core, member, folder, &subscription);
            let _emit = member.emit.lock().await;
            core.deliver(member, Vec::new()).await;
            tracing::debug!(mailbox = %member.mailbox, folder = named(folder), expires = %subscription.expires, "Graph subscription renewed");
            Ok(true)
        }
        Err(error) if error.is_not_found() => {
            forget(core, member, folder);
            Counters::add(&core.counters.losses, 1);
            let reason = format!("subscription {id} expired or was deleted");
            tell_lost(core, member, folder, reason).await;
            Ok(false)
        }
        Err(error) => Err(error),
    }
}

/// `POST /subscriptions` with a new `clientState`, on the inbox's messages or a further
/// folder's; then the baseline, unless a round follows.
async fn create(
    core: &Core,
    member: &Arc<Member>,
    folder: Option<&FolderName>,
    resync_follows: bool,
) -> Result<(), GraphError> {
    let _place = core
        .subscribing
        .acquire()
        .await
        .map_err(|_| GraphError::Stopped)?;
    let resource = match folder {
        None => inbox_messages(&member.mailbox)?,
        Some(folder) => folder_messages(&member.mailbox, folder.as_str())?,
    };
    let state = ClientState::random();
    let digest = state.digest();
    lock(&core.registry)
        .pending
        .insert(digest, (Arc::clone(member), folder.cloned()));
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
    let taken = {
        let mut registry = lock(&core.registry);
        registry.pending.remove(&digest);
        let mut state = member.state();
        let removed = state.removed;
        match state.slot_mut(folder) {
            // Unwatched, or the target stopped naming the folder meanwhile: the new
            // subscription goes.
            _ if removed => None,
            None => None,
            Some(slot) => {
                let replaced = slot.subscription.take().map(|old| old.id);
                slot.subscription = Some(SavedSubscription {
                    id: subscription.id.clone(),
                    digest,
                    expires: subscription.expires,
                    renew_at: subscription.expires,
                });
                slot.left_out = None;
                if let Some(old) = &replaced {
                    registry.subscriptions.remove(old);
                    state.remember_former(old.clone(), folder.cloned());
                }
                registry.subscriptions.insert(
                    subscription.id.clone(),
                    Held {
                        digest,
                        member: Arc::clone(member),
                        folder: folder.cloned(),
                    },
                );
                Some(replaced)
            }
        }
    };
    let Some(replaced) = taken else {
        delete(core, member, &subscription.id).await;
        return Ok(());
    };
    crate::peers::publish(core, &subscription.id, &member.key, digest).await;
    if let Some(old) = replaced {
        crate::peers::withdraw(core, old);
    }
    granted(core, member, folder, &subscription);
    tracing::info!(mailbox = %member.mailbox, folder = named(folder), subscription = %subscription.id, expires = %subscription.expires, "Graph subscription created");
    let unbased = member
        .state()
        .slot(folder)
        .is_some_and(|slot| slot.delta_link.is_none());
    if !resync_follows && unbased {
        baseline(core, member, folder).await?;
    }
    let _emit = member.emit.lock().await;
    let events = match folder {
        None => {
            let resumed = {
                let mut state = member.state();
                state.phase = Phase::Subscribed;
                resync_follows && state.inbox.delta_link.is_some()
            };
            vec![WatchEvent::Subscribed {
                mailbox: Arc::clone(&member.mailbox),
                resumed,
            }]
        }
        Some(_) => Vec::new(),
    };
    core.deliver(member, events).await;
    Ok(())
}

/// `DELETE /subscriptions/{id}` of a folder the target no longer names, or of a mailbox
/// unwatched while its subscription was being made (best effort: one not deleted expires by
/// itself, and the orphan sweep deletes it before, as it belongs to no mailbox now).
async fn delete(core: &Core, member: &Member, id: &str) {
    lock(&core.registry).subscriptions.remove(id);
    crate::peers::withdraw(core, id.to_owned());
    let url = match core.client.endpoint(&["subscriptions", id]) {
        Ok(url) => url,
        Err(error) => {
            tracing::warn!(mailbox = %member.mailbox, subscription = %id, %error, "Graph: subscription not deleted");
            return;
        }
    };
    match core.call(member, Verb::Delete, url).await {
        Ok(_) => {
            tracing::info!(mailbox = %member.mailbox, subscription = %id, "Graph: subscription no longer needed deleted");
        }
        Err(error) if error.is_not_found() => {}
        Err(error) => {
            tracing::warn!(mailbox = %member.mailbox, subscription = %id, %error, "Graph subscription not deleted; the orphan sweep or its expiry ends it");
        }
    }
}

/// Marks subscriptions due for renewal, and subscriptions due for a catch-up round; gives
/// further folders left out for `catch_up_interval` another try.
///
/// A subscription is renewed in whatever phase its mailbox is: a mailbox whose other work
/// failed (a round Graph refused) keeps its subscription alive, or learns that it is gone and
/// makes a new one, rather than letting it expire unnoticed.
pub(crate) fn sweep(core: &Core, now: OffsetDateTime) {
    let members: Vec<Arc<Member>> = lock(&core.registry).members.values().cloned().collect();
    let interval = core.settings.catch_up_interval;
    for member in members {
        let due = {
            let mut state = member.state();
            if matches!(state.phase, Phase::Loading) || state.removed {
                continue;
            }
            let subscribed = state.phase == Phase::Subscribed;
            let mut due = false;
            let mut mark = |inbox: bool, slot: &mut Slot| {
                let mut work = Work::default();
                if slot
                    .subscription
                    .as_ref()
                    .is_some_and(|s| s.renew_at <= now)
                {
                    work.renew = true;
                }
                let caught_up = slot.last_round.elapsed() < interval;
                if subscribed && !caught_up && (inbox || slot.subscription.is_some()) {
                    work.resync = true;
                }
                if let Some((since, left)) = slot.left_out
                    && since.elapsed() >= interval
                {
                    slot.left_out = None;
                    work.merge(left);
                }
                if !work.is_empty() {
                    slot.work.merge(work);
                    due = true;
                }
            };
            mark(true, &mut state.inbox);
            for (_, slot) in &mut state.further {
                mark(false, slot);
            }
            due
        };
        if due {
            member.kick.notify_one();
        }
    }
}
