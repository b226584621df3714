//! Streaming mode: one `GetStreamingEvents` connection per group.
//!
//! The connection carries every subscribed member's id (at most 200), acts as the anchor, and
//! replays the group's cookie. Its body is cut into envelopes as bytes arrive; each
//! notification goes to its member. The connection is reopened when the server closes it at
//! `ConnectionTimeout`, when a member joins or leaves (a live connection cannot take new
//! subscriptions), after ids the server refused are evicted, and, after a jittered backoff,
//! when it is cut or silent for twice the heartbeat interval.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ews_proto::operations::{ConnectionStatus, GetStreamingEvents, GetStreamingEventsResponse};
use ews_proto::{EnvelopeSplitter, ProtoError, ResponseCode, SubscriptionId};
use exchange_auth::HttpResponse;
use tokio::time::Instant;

use crate::core::{Core, Counters, Member, Phase};
use crate::ews::CallError;
use crate::group::{Command, Group, Next};
use crate::pace::backoff;
use crate::settings::StreamingSettings;

/// Why a connection ended.
#[derive(Debug)]
enum End {
    /// The server sent `ConnectionStatus` `Closed` (its `ConnectionTimeout`): reopen now.
    Closed,
    /// Members joined or left, or a failed one is due: reopen after subscribing.
    Changed,
    /// The server refused some ids; they were marked lost.
    Evicted,
    /// Cut, or silent past the watchdog: reopen after a backoff.
    Broken(String),
    /// The server refused the whole request.
    Failed(CallError),
    /// The watcher or its consumer stopped.
    Stopped,
}

impl Group {
    /// Opens the group's connection and reads it until it ends.
    pub(crate) async fn stream(&mut self, settings: &StreamingSettings) {
        let members: HashMap<String, Arc<Member>> = self
            .members
            .values()
            .filter_map(|m| {
                let state = m.state();
                (state.phase == Phase::Subscribed)
                    .then(|| state.subscription.clone())
                    .flatten()
                    .map(|id| (id.as_str().to_owned(), Arc::clone(m)))
            })
            .collect();
        if members.is_empty() {
            let _ = self.wait(None).await;
            return;
        }
        let end = self.connection(settings, &members).await;
        match end {
            End::Closed => self.stream_failures = 0,
            End::Changed | End::Evicted | End::Stopped => {}
            End::Broken(reason) => {
                Counters::add(&self.core.counters.reconnects, 1);
                let limits = &self.core.settings.limits;
                let wait = backoff(
                    self.stream_failures,
                    limits.backoff_initial,
                    limits.backoff_max,
                );
                self.stream_failures += 1;
                tracing::info!(%reason, ?wait, "streaming connection broken; reconnecting");
                let _ = self.wait(Some(Instant::now() + wait)).await;
            }
            End::Failed(error) => self.stream_refused(&error).await,
        }
    }

    async fn connection(
        &mut self,
        settings: &StreamingSettings,
        members: &HashMap<String, Arc<Member>>,
    ) -> End {
        let ids: Vec<SubscriptionId> = members.keys().map(SubscriptionId::new).collect();
        let anchor = self.anchor();
        let lifetime = Duration::from_secs(u64::from(settings.connection_timeout_minutes) * 60);
        let request = GetStreamingEvents::new(ids, settings.connection_timeout_minutes);
        let http_timeout = lifetime + settings.heartbeat * 2 + Duration::from_secs(60);
        let opened = self
            .core
            .ews
            .open(self.target(&anchor, &anchor), &request, http_timeout)
            .await;
        let (mut response, _) = match opened {
            Ok(opened) => opened,
            Err(error) => return End::Failed(error),
        };
        let core = Arc::clone(&self.core);
        let _open = OpenStream::new(&core.counters);
        tracing::debug!(subscriptions = members.len(), "streaming connection open");
        let watchdog = settings.heartbeat * 2;
        let mut splitter = EnvelopeSplitter::new();
        let far = Instant::now() + Duration::from_secs(24 * 3600);
        loop {
            let retry = self.next_retry().unwrap_or(far);
            tokio::select! {
                // What the server already sent is read before anything else is done.
                biased;
                chunk = tokio::time::timeout(watchdog, response.chunk()) => {
                    let bytes = match chunk {
                        Err(_) => return End::Broken(format!("no heartbeat for {watchdog:?}")),
                        Ok(Err(error)) => return End::Broken(error.to_string()),
                        Ok(Ok(None)) => return End::Broken("the response ended without ConnectionStatus Closed".into()),
                        Ok(Ok(Some(bytes))) => bytes,
                    };
                    splitter.push(&bytes);
                    loop {
                        match splitter.next_envelope_slice() {
                            Ok(Some(envelope)) => {
                                self.stream_failures = 0;
                                if let Some(end) = self.envelope(envelope, members).await {
                                    return end;
                                }
                            }
                            Ok(None) => break,
                            Err(error) => return End::Broken(format!("unreadable stream: {error}")),
                        }
                    }
                }
                () = self.core.shutdown.cancelled() => return End::Stopped,
                command = self.commands.recv() => match command {
                    Some(Command::Add(member)) => {
                        // A live connection cannot take a new subscription: open a new one
                        // for the whole group, and read this one until the server lets go.
                        self.apply(Command::Add(member));
                        self.absorb();
                        hand_over(Arc::clone(&self.core), response, splitter, members.clone(), watchdog);
                        return End::Changed;
                    }
                    Some(command) => self.apply(command),
                    None => return End::Stopped,
                },
                () = tokio::time::sleep_until(retry) => {
                    hand_over(Arc::clone(&self.core), response, splitter, members.clone(), watchdog);
                    return End::Changed;
                }
            }
        }
    }

    /// Handles one envelope; `Some` when the connection is over.
    async fn envelope(
        &mut self,
        bytes: &[u8],
        members: &HashMap<String, Arc<Member>>,
    ) -> Option<End> {
        let response = match ews_proto::soap::read_envelope::<GetStreamingEventsResponse>(bytes) {
            Ok(envelope) => envelope.body,
            Err(error @ ProtoError::Fault(_)) => return Some(End::Failed(error.into())),
            Err(error) => return Some(End::Broken(format!("unreadable envelope: {error}"))),
        };
        for message in response.messages {
            if !message.status.is_success() {
                let error = CallError::from_status(&message.status);
                if error.code() == Some(&ResponseCode::ErrorNewEventStreamConnectionOpened) {
                    // Another connection took these subscriptions (another watcher on the
                    // same account?): they are alive; reconnect after a backoff.
                    return Some(End::Broken(error.to_string()));
                }
                if message.error_subscription_ids.is_empty() {
                    return Some(End::Failed(error));
                }
                let bad: Vec<Arc<Member>> = message
                    .error_subscription_ids
                    .iter()
                    .filter_map(|id| members.get(id.as_str()).cloned())
                    .collect();
                tracing::info!(refused = bad.len(), %error, "evicting refused subscriptions");
                if bad.len() == members.len()
                    && error.code() == Some(&ResponseCode::ErrorSubscriptionNotFound)
                {
                    // Every subscription is gone (a restart, or a request routed past the
                    // server that held them): start the group over with a new cookie.
                    self.cookie = None;
                }
                for member in &bad {
                    self.subscription_failed(member, &error).await;
                }
                return Some(End::Evicted);
            }
            for notification in message.notifications {
                let Some(member) = members.get(notification.subscription_id.as_str()) else {
                    tracing::debug!(subscription = %notification.subscription_id.as_str(), "notification for an id not on this connection");
                    continue;
                };
                if !self.deliver(member, notification).await {
                    return Some(End::Stopped);
                }
            }
            if message.connection_status == Some(ConnectionStatus::Closed) {
                return Some(End::Closed);
            }
        }
        None
    }

    /// The server refused the whole request: wait as the error asks, or start the group's
    /// subscriptions over.
    async fn stream_refused(&mut self, error: &CallError) {
        let Some(anchor) = self.members.values().next().cloned() else {
            return;
        };
        tracing::info!(%error, "streaming request refused");
        let attempt = self.stream_failures;
        self.stream_failures += 1;
        match self.recover(&anchor, error, attempt).await {
            Next::Retry | Next::Stop => {}
            Next::Resubscribe | Next::Fresh | Next::Rediscover => {
                self.cookie = None;
                let members: Vec<Arc<Member>> = self.members.values().cloned().collect();
                for member in &members {
                    self.subscription_failed(member, error).await;
                }
            }
            Next::Failed => {
                let limits = &self.core.settings.limits;
                let wait = backoff(attempt, limits.backoff_initial, limits.backoff_max);
                let _ = self.wait(Some(Instant::now() + wait)).await;
            }
        }
    }
}

/// Reads a connection the group is leaving until the server lets go of it (it sends
/// `ErrorNewEventStreamConnectionOpened` or `Closed` once the new connection holds the
/// subscriptions), for at most `limit`: what it carried is delivered, not dropped.
fn hand_over(
    core: Arc<Core>,
    mut response: HttpResponse,
    mut splitter: EnvelopeSplitter,
    members: HashMap<String, Arc<Member>>,
    limit: Duration,
) {
    tokio::spawn(async move {
        let deadline = Instant::now() + limit;
        while let Ok(Ok(Some(bytes))) = tokio::time::timeout_at(deadline, response.chunk()).await {
            splitter.push(&bytes);
            while let Ok(Some(envelope)) = splitter.next_envelope_slice() {
                let Ok(envelope) =
                    ews_proto::soap::read_envelope::<GetStreamingEventsResponse>(envelope)
                else {
                    return;
                };
                for message in envelope.body.messages {
                    for notification in message.notifications {
                        if let Some(member) = members.get(notification.subscription_id.as_str()) {
                            core.deliver(member, notification).await;
                        }
                    }
                    if !message.status.is_success()
                        || message.connection_status == Some(ConnectionStatus::Closed)
                    {
                        return;
                    }
                }
            }
        }
    });
}

/// Counts an open connection while it lives.
struct OpenStream<'a>(&'a Counters);

impl<'a> OpenStream<'a> {
    fn new(counters: &'a Counters) -> Self {
        Counters::add(&counters.streams_open, 1);
        Self(counters)
    }
}

impl Drop for OpenStream<'_> {
    fn drop(&mut self) {
        self.0
            .streams_open
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}
