//! An affinity group: at most 200 mailboxes that share an EWS endpoint and
//! `GroupingInformation`, one task that keeps them subscribed and, in streaming mode, one
//! `GetStreamingEvents` connection for all of them.
//!
//! The anchor is the member whose address sorts first. Every request of the group carries
//! `X-AnchorMailbox: <anchor>` and `X-PreferServerAffinity: true`; the first `Subscribe`
//! (the anchor's) gets the `X-BackEndOverrideCookie`, and every later request replays it, so
//! the group's subscriptions and its connection land on the same mailbox server.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ews_proto::operations::{GetEvents, Subscribe, Unsubscribe};
use ews_proto::{Notification, SubscriptionId};
use futures_util::StreamExt as _;
use mailbox_watch::WatchEvent;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument as _;
use url::Url;

use crate::core::{Core, Counters, Delivered, Member, Phase};
use crate::ews::{CallError, Target};
use crate::folders::Resolved;
use crate::pace::backoff;
use crate::recovery::Recovery;
use crate::settings::Mode;

/// How many subscriptions of one group are requested at once after the anchor's.
const PARALLEL: usize = 8;

/// What a group is told.
#[derive(Debug)]
pub(crate) enum Command {
    /// Watch this mailbox too.
    Add(Arc<Member>),
    /// Stop watching it.
    Remove(Arc<str>),
    /// A member's state changed outside the group (the push listener saw it fail).
    Wake,
    /// The watcher is stopping: unsubscribe every member, then say so.
    Stop(tokio::sync::oneshot::Sender<()>),
}

/// Starts a group's task.
pub(crate) fn spawn(
    core: Arc<Core>,
    name: String,
    url: Arc<Url>,
    commands: mpsc::UnboundedReceiver<Command>,
) {
    let span = tracing::info_span!("group", group = %name);
    let group = Group {
        core,
        url,
        members: BTreeMap::new(),
        cookie: None,
        commands,
        stream_failures: 0,
        closed: false,
    };
    tokio::spawn(group.run().instrument(span));
}

/// What became of one mailbox's attempt.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// It is subscribed (or was left as it was).
    Done,
    /// It cannot be subscribed now; the group retries it later.
    Failed,
    /// Autodiscover must find it again: it leaves the group.
    Rediscover(String),
}

/// What to do after an error, once any wait is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send the same request again.
    Retry,
    /// Subscribe again without the watermark (and tell the consumer to resync).
    Fresh,
    /// Subscribe again from the watermark.
    Resubscribe,
    /// Ask Autodiscover.
    Rediscover,
    /// Give up until the longest backoff has passed.
    Failed,
    /// The watcher is stopping.
    Stop,
}

pub(crate) struct Group {
    pub(crate) core: Arc<Core>,
    pub(crate) url: Arc<Url>,
    /// Members by lower-cased address: the first is the anchor.
    pub(crate) members: BTreeMap<String, Arc<Member>>,
    pub(crate) cookie: Option<String>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    /// Streaming connections that failed in a row (the backoff's exponent).
    pub(crate) stream_failures: u32,
    closed: bool,
}

impl Group {
    async fn run(mut self) {
        tracing::debug!(url = %self.url, "group started");
        loop {
            self.absorb();
            if self.core.shutdown.is_cancelled() || (self.closed && self.members.is_empty()) {
                break;
            }
            if self.members.is_empty() {
                tokio::select! {
                    command = self.commands.recv() => match command {
                        Some(command) => self.apply(command),
                        None => self.closed = true,
                    },
                    () = self.core.shutdown.cancelled() => break,
                }
                continue;
            }
            self.subscribe_pending().await;
            if self.core.shutdown.is_cancelled() {
                break;
            }
            match self.core.settings.mode.clone() {
                Mode::Streaming(settings) => self.stream(&settings).await,
                Mode::Pull(settings) => self.poll(settings.interval).await,
                Mode::Push(settings) => {
                    self.watch_heartbeats(settings.status_frequency + settings.grace)
                        .await;
                }
            }
        }
        tracing::debug!("group stopped");
    }

    /// Applies every queued command without waiting.
    pub(crate) fn absorb(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(command) => self.apply(command),
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }

    pub(crate) fn apply(&mut self, command: Command) {
        match command {
            Command::Add(member) => {
                self.members
                    .insert(member.smtp.to_ascii_lowercase(), member);
            }
            Command::Remove(smtp) => {
                if let Some(member) = self.members.remove(&smtp.to_ascii_lowercase())
                    && let Some(call) = self.unsubscribing(&member)
                {
                    tokio::spawn(call.run());
                }
            }
            Command::Wake => {}
            Command::Stop(done) => {
                // One task for the group's calls, PARALLEL at a time: a stopping watcher of
                // 100,000 mailboxes does not make 100,000 tasks at once.
                let members = std::mem::take(&mut self.members);
                let calls: Vec<Unsubscribing> = members
                    .values()
                    .filter_map(|member| {
                        member.state().removed = true;
                        self.unsubscribing(member)
                    })
                    .collect();
                tokio::spawn(async move {
                    futures_util::stream::iter(calls)
                        .map(Unsubscribing::run)
                        .buffer_unordered(PARALLEL)
                        .count()
                        .await;
                    let _ = done.send(());
                });
            }
        }
    }

    /// The anchor: the member whose address sorts first.
    pub(crate) fn anchor(&self) -> Arc<str> {
        self.members
            .values()
            .next()
            .map_or_else(|| Arc::from(""), |m| Arc::clone(&m.smtp))
    }

    pub(crate) fn target<'a>(&'a self, act_as: &'a str, anchor: &'a str) -> Target<'a> {
        Target {
            url: &self.url,
            act_as,
            anchor,
            cookie: self.cookie.as_deref(),
        }
    }

    /// Subscribes every member that needs it: the anchor first (its answer sets the group's
    /// cookie), then the others, a few at a time.
    async fn subscribe_pending(&mut self) {
        let now = Instant::now();
        let anchor = self.anchor();
        let mut due: Vec<Arc<Member>> = self
            .members
            .values()
            .filter(|m| match m.state().phase {
                Phase::Pending | Phase::Lost => true,
                Phase::Failed { retry_at } => retry_at <= now,
                Phase::Subscribed => false,
            })
            .cloned()
            .collect();
        if due.is_empty() {
            return;
        }
        tracing::debug!(mailboxes = due.len(), "subscribing");
        let mut outcomes = Vec::with_capacity(due.len());
        if self.cookie.is_none() || due[0].smtp == anchor {
            // The anchor's own subscription goes first, alone, to learn the cookie.
            if let Some(position) = due.iter().position(|m| m.smtp == anchor) {
                let first = due.remove(position);
                let (outcome, cookie) = self.subscribe(&first, &anchor).await;
                if cookie.is_some() {
                    self.cookie = cookie;
                }
                outcomes.push((first, outcome));
            }
        }
        let this = &*self;
        let results: Vec<_> = futures_util::stream::iter(due)
            .map(|member| {
                let anchor = Arc::clone(&anchor);
                async move {
                    let (outcome, cookie) = this.subscribe(&member, &anchor).await;
                    (member, outcome, cookie)
                }
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (member, outcome, cookie) in results {
            if self.cookie.is_none() && cookie.is_some() {
                self.cookie = cookie;
            }
            outcomes.push((member, outcome));
        }
        for (member, outcome) in outcomes {
            if let Outcome::Rediscover(reason) = outcome {
                self.leave(&member, reason);
            }
        }
    }

    /// Subscribes one member; returns the outcome and the cookie the answer set.
    async fn subscribe(&self, member: &Arc<Member>, anchor: &str) -> (Outcome, Option<String>) {
        let core = &self.core;
        let keeps_watermarks = !matches!(core.settings.mode, Mode::Streaming(_));
        if keeps_watermarks && !member.state().watermark_loaded {
            let saved = match core.store.load(&member.smtp).await {
                Ok(saved) => saved,
                Err(error) => {
                    tracing::warn!(mailbox = %member.smtp, %error, "watermark not loaded");
                    None
                }
            };
            let mut state = member.state();
            state.watermark_loaded = true;
            if state.watermark.is_none() {
                state.watermark = saved;
            }
        }
        let mut resync: Option<String> = None;
        let mut cookie = None;
        let mut attempt = 0;
        // A member's further folders are resolved once per subscription (see `folders`).
        let mut resolved: Option<Resolved> = None;
        loop {
            if core.shutdown.is_cancelled() || member.state().removed {
                return (Outcome::Done, cookie);
            }
            if !member.further.is_empty() && resolved.is_none() {
                match self
                    .resolve_further(member, anchor, cookie.as_deref())
                    .await
                {
                    Ok(found) => resolved = Some(found),
                    Err(error) => {
                        tracing::debug!(mailbox = %member.smtp, %error, "further folders not resolved");
                        match self.recover(member, &error, attempt).await {
                            Next::Retry | Next::Resubscribe | Next::Fresh => attempt += 1,
                            Next::Rediscover => {
                                return (Outcome::Rediscover(error.to_string()), cookie);
                            }
                            Next::Failed => {
                                self.fail(member, &error).await;
                                return (Outcome::Failed, cookie);
                            }
                            Next::Stop => return (Outcome::Done, cookie),
                        }
                        continue;
                    }
                }
            }
            core.ews.subscribe_slot().await;
            let (watermark, was_subscribed) = {
                let state = member.state();
                (
                    state.watermark.clone().filter(|_| keeps_watermarks),
                    state.was_subscribed,
                )
            };
            let further = resolved.as_ref().map(|r| r.subscribe.as_slice());
            let request = self.subscribe_request(watermark.clone(), further);
            let mut target = self.target(&member.smtp, anchor);
            if target.cookie.is_none() {
                target.cookie = cookie.as_deref();
            }
            Counters::add(&core.counters.subscribes, 1);
            let _subscribing = Subscribing::new(core);
            let error = match core.ews.call(target, &request).await {
                Ok(answer) => {
                    if answer.cookie.is_some() {
                        cookie = answer.cookie;
                    }
                    match answer.body.into_first() {
                        Some(message) if message.status.is_success() => {
                            if let Some(id) = message.subscription_id {
                                let resumed = watermark.is_some();
                                if resync.is_none() && was_subscribed && !resumed {
                                    resync =
                                        Some("the mode has no watermark to replay from".into());
                                }
                                self.subscribed(member, id, message.watermark, resumed, resync)
                                    .await;
                                return (Outcome::Done, cookie);
                            }
                            CallError::Protocol("a subscription without an id".into())
                        }
                        Some(message) => CallError::from_status(&message.status),
                        None => CallError::Protocol("an answer without a response message".into()),
                    }
                }
                Err(error) => error,
            };
            tracing::debug!(mailbox = %member.smtp, %error, "subscribe failed");
            if error.code() == Some(&ews_proto::ResponseCode::ErrorFolderNotFound) {
                // A further folder was deleted since it was resolved: resolve them again.
                resolved = None;
            }
            match self.recover(member, &error, attempt).await {
                Next::Retry | Next::Resubscribe => attempt += 1,
                Next::Fresh => {
                    member.state().watermark = None;
                    resync = Some(error.to_string());
                    attempt += 1;
                }
                Next::Rediscover => return (Outcome::Rediscover(error.to_string()), cookie),
                Next::Failed => {
                    self.fail(member, &error).await;
                    return (Outcome::Failed, cookie);
                }
                Next::Stop => return (Outcome::Done, cookie),
            }
        }
    }

    /// The member's `Subscribe`: the watcher's folders and the `further` ones Exchange found,
    /// in one subscription (one of the mailbox's 20 in Exchange Online, whatever the number
    /// of folders).
    fn subscribe_request(
        &self,
        watermark: Option<ews_proto::Watermark>,
        further: Option<&[ews_proto::BaseFolderId]>,
    ) -> Subscribe {
        let settings = &self.core.settings;
        let folders = match further {
            Some(further) if !further.is_empty() => {
                settings.folders.iter().chain(further).cloned().collect()
            }
            _ => settings.folders.clone(),
        };
        let events = settings.event_types.clone();
        match &settings.mode {
            Mode::Streaming(_) => Subscribe::streaming(folders, events),
            Mode::Pull(pull) => Subscribe::pull(folders, events, pull.timeout_minutes, watermark),
            Mode::Push(push) => Subscribe::push(
                folders,
                events,
                push.callback_url.as_str(),
                push.status_frequency_minutes,
                watermark,
            ),
        }
    }

    async fn subscribed(
        &self,
        member: &Arc<Member>,
        id: SubscriptionId,
        watermark: Option<ews_proto::Watermark>,
        resumed: bool,
        resync: Option<String>,
    ) {
        let core = &self.core;
        {
            let mut state = member.state();
            state.subscription = Some(id.clone());
            state.phase = Phase::Subscribed;
            state.was_subscribed = true;
            state.last_heard = Instant::now();
            if watermark.is_some() {
                state.watermark.clone_from(&watermark);
            }
        }
        // Where the subscription starts is where a restarted watcher resumes.
        if let Some(watermark) = watermark {
            core.checkpoint(member, watermark).await;
        }
        if matches!(core.settings.mode, Mode::Push(_)) {
            core.register_push(member, &id);
        }
        tracing::debug!(mailbox = %member.smtp, subscription = %id.as_str(), resumed, "subscribed");
        if let Some(reason) = resync {
            Counters::add(&core.counters.resyncs, 1);
            core.emit(WatchEvent::Resync {
                mailbox: Arc::clone(&member.smtp),
                reason,
            })
            .await;
        }
        core.emit(WatchEvent::Subscribed {
            mailbox: Arc::clone(&member.smtp),
            resumed,
        })
        .await;
        if matches!(core.settings.mode, Mode::Push(_)) {
            // Exchange may have called back before this answer was read.
            let _ = core.apply_push(member, None).await;
        }
    }

    /// Waits as the error asks and says what to do next.
    pub(crate) async fn recover(&self, member: &Member, error: &CallError, attempt: u32) -> Next {
        let core = &self.core;
        let limits = &core.settings.limits;
        let (wait, throttled) = match error.recovery() {
            Recovery::BackOff(wait) => (wait, true),
            Recovery::Throttled => (
                backoff(attempt, limits.backoff_initial, limits.backoff_max),
                true,
            ),
            Recovery::Retry => (
                backoff(attempt, limits.backoff_initial, limits.backoff_max),
                false,
            ),
            Recovery::Resubscribe if attempt < 2 => return Next::Resubscribe,
            Recovery::Resubscribe => (
                backoff(attempt, limits.backoff_initial, limits.backoff_max),
                false,
            ),
            Recovery::ResubscribeFresh => return Next::Fresh,
            Recovery::Rediscover => return Next::Rediscover,
            Recovery::Fatal => return Next::Failed,
        };
        if throttled {
            Counters::add(&core.counters.throttled, 1);
            core.emit(WatchEvent::Throttled {
                mailbox: Arc::clone(&member.smtp),
                wait,
                code: error
                    .code()
                    .cloned()
                    .unwrap_or(ews_proto::ResponseCode::ErrorServerBusy),
            })
            .await;
        }
        tracing::debug!(mailbox = %member.smtp, %error, ?wait, "waiting before retrying");
        tokio::select! {
            () = tokio::time::sleep(wait) => Next::Retry,
            () = core.shutdown.cancelled() => Next::Stop,
        }
    }

    /// Marks a member as failed until the longest backoff has passed.
    async fn fail(&self, member: &Member, error: &CallError) {
        let retry_at = Instant::now() + self.core.settings.limits.backoff_max;
        member.state().phase = Phase::Failed { retry_at };
        tracing::warn!(mailbox = %member.smtp, %error, "mailbox cannot be watched");
        self.core
            .emit(WatchEvent::Failed {
                mailbox: Arc::clone(&member.smtp),
                reason: error.to_string(),
            })
            .await;
    }

    /// Marks a member's subscription lost (it is subscribed again on the next round).
    pub(crate) async fn lose(&self, member: &Member, reason: String) {
        self.core.lose(member, reason).await;
    }

    /// Applies an error about one member's subscription (a failed `GetEvents`, an id a
    /// stream refused, a push error).
    pub(crate) async fn subscription_failed(&mut self, member: &Arc<Member>, error: &CallError) {
        match error.recovery() {
            Recovery::ResubscribeFresh => {
                self.lose(member, error.to_string()).await;
                member.state().watermark = None;
            }
            Recovery::Rediscover => {
                self.lose(member, error.to_string()).await;
                self.leave(member, error.to_string());
            }
            Recovery::Fatal => {
                self.lose(member, error.to_string()).await;
                self.fail(member, error).await;
            }
            _ => self.lose(member, error.to_string()).await,
        }
    }

    /// Hands a member back to the core for rediscovery.
    pub(crate) fn leave(&mut self, member: &Arc<Member>, reason: String) {
        self.members.remove(&member.smtp.to_ascii_lowercase());
        self.core.relocate(Arc::clone(member), reason);
    }

    /// The call that unsubscribes a removed member, if it has a subscription.
    fn unsubscribing(&self, member: &Arc<Member>) -> Option<Unsubscribing> {
        let id = member.state().subscription.take()?;
        self.core.forget_push(&id);
        Some(Unsubscribing {
            core: Arc::clone(&self.core),
            url: Arc::clone(&self.url),
            cookie: self.cookie.clone(),
            anchor: self.anchor(),
            smtp: Arc::clone(&member.smtp),
            id,
        })
    }

    /// When the next failed member is due for another try.
    pub(crate) fn next_retry(&self) -> Option<Instant> {
        self.members
            .values()
            .filter_map(|m| match m.state().phase {
                Phase::Failed { retry_at } => Some(retry_at),
                _ => None,
            })
            .min()
    }

    /// Waits for a command, `deadline`, or the next retry; false when the watcher stops.
    pub(crate) async fn wait(&mut self, deadline: Option<Instant>) -> bool {
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        let until = [deadline, self.next_retry()]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(far);
        tokio::select! {
            command = self.commands.recv() => match command {
                Some(command) => self.apply(command),
                None => self.closed = true,
            },
            () = tokio::time::sleep_until(until) => {}
            () = self.core.shutdown.cancelled() => return false,
        }
        true
    }

    /// Delivers a notification to the consumer; false when the consumer is gone.
    pub(crate) async fn deliver(&self, member: &Member, notification: Notification) -> bool {
        self.core.deliver(member, notification).await == Delivered::Ok
    }

    /// Pull mode: `GetEvents` for every subscribed member, then wait for the next round.
    async fn poll(&mut self, interval: Duration) {
        let round = Instant::now();
        let subscribed: Vec<Arc<Member>> = self
            .members
            .values()
            .filter(|m| m.state().phase == Phase::Subscribed)
            .cloned()
            .collect();
        let anchor = self.anchor();
        let this = &*self;
        let failures: Vec<(Arc<Member>, CallError)> = futures_util::stream::iter(subscribed)
            .map(|member| {
                let anchor = Arc::clone(&anchor);
                async move {
                    let error = this.drain_events(&member, &anchor).await;
                    error.map(|e| (member, e))
                }
            })
            .buffer_unordered(PARALLEL)
            .filter_map(|failure| async move { failure })
            .collect()
            .await;
        for (member, error) in failures {
            self.subscription_failed(&member, &error).await;
        }
        if self
            .members
            .values()
            .any(|m| matches!(m.state().phase, Phase::Lost | Phase::Pending))
        {
            return; // subscribe them now
        }
        let _ = self.wait(Some(round + interval)).await;
    }

    /// `GetEvents` until the server has nothing more; the error that stopped it, if any.
    async fn drain_events(&self, member: &Member, anchor: &str) -> Option<CallError> {
        let mut attempt = 0;
        loop {
            let (id, watermark) = {
                let state = member.state();
                (state.subscription.clone()?, state.watermark.clone()?)
            };
            let request = GetEvents::new(id, watermark);
            let result = self
                .core
                .ews
                .call(self.target(&member.smtp, anchor), &request)
                .await;
            let error = match result.map(|a| a.body.into_first()) {
                Ok(Some(message)) if message.status.is_success() => {
                    let notification = message.notification?;
                    let more = notification.more_events == Some(true);
                    if !self.deliver(member, notification).await {
                        return None;
                    }
                    if !more {
                        return None;
                    }
                    attempt = 0;
                    continue;
                }
                Ok(Some(message)) => CallError::from_status(&message.status),
                Ok(None) => CallError::Protocol("an answer without a response message".into()),
                Err(error) => error,
            };
            match error.recovery() {
                Recovery::BackOff(_) | Recovery::Throttled | Recovery::Retry if attempt < 5 => {
                    if self.recover(member, &error, attempt).await == Next::Stop {
                        return None;
                    }
                    attempt += 1;
                }
                _ => return Some(error),
            }
        }
    }

    /// Push mode: notifications arrive at the listener; here, the heartbeat deadline of each
    /// subscription is watched.
    async fn watch_heartbeats(&mut self, allowed_silence: Duration) {
        let now = Instant::now();
        let mut silent = Vec::new();
        let mut next_deadline: Option<Instant> = None;
        for member in self.members.values() {
            let state = member.state();
            if state.phase != Phase::Subscribed {
                continue;
            }
            let deadline = state.last_heard + allowed_silence;
            if deadline <= now {
                silent.push(Arc::clone(member));
            } else {
                next_deadline = Some(next_deadline.map_or(deadline, |d| d.min(deadline)));
            }
        }
        for member in &silent {
            self.lose(
                member,
                "no notification or heartbeat within StatusFrequency".into(),
            )
            .await;
        }
        if !silent.is_empty()
            || self
                .members
                .values()
                .any(|m| matches!(m.state().phase, Phase::Lost | Phase::Pending))
        {
            return;
        }
        let _ = self.wait(next_deadline).await;
    }
}

/// Counts a `Subscribe` in flight until its subscription is registered (or it failed).
struct Subscribing<'a>(&'a Core);

impl<'a> Subscribing<'a> {
    fn new(core: &'a Core) -> Self {
        core.subscribing
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(core)
    }
}

impl Drop for Subscribing<'_> {
    fn drop(&mut self) {
        self.0
            .subscribing
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// An `Unsubscribe` to send: what it needs, and nothing of the call's own state until it runs.
struct Unsubscribing {
    core: Arc<Core>,
    url: Arc<Url>,
    cookie: Option<String>,
    anchor: Arc<str>,
    smtp: Arc<str>,
    id: SubscriptionId,
}

impl Unsubscribing {
    async fn run(self) {
        let anchor = if self.anchor.is_empty() {
            &self.smtp
        } else {
            &self.anchor
        };
        let target = Target {
            url: &self.url,
            act_as: &self.smtp,
            anchor,
            cookie: self.cookie.as_deref(),
        };
        match self.core.ews.call(target, &Unsubscribe::new(self.id)).await {
            Ok(_) => tracing::debug!(mailbox = %self.smtp, "unsubscribed"),
            Err(error) => tracing::debug!(mailbox = %self.smtp, %error, "unsubscribe failed"),
        }
    }
}
