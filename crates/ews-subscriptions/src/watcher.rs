//! The public handle: start a watcher, add and remove mailboxes, read its events and status.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use autodiscover::{Discovery, MailboxLocator};
use exchange_auth::Authenticator;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::MailboxWatcher;
use crate::core::{Core, Counters, Member, Phase, Registry, lock};
use crate::error::WatchError;
use crate::event::WatchEvent;
use crate::ews::Ews;
use crate::group::Command;
use crate::push::PushListener;
use crate::settings::WatchSettings;
use crate::store::{MemoryWatermarks, WatermarkStore};

/// A mailbox to watch and where Autodiscover found it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchTarget {
    /// The mailbox's primary SMTP address.
    pub mailbox: String,
    /// Its EWS endpoint.
    pub ews_url: Url,
    /// Its `GroupingInformation`: mailboxes with the same value and URL share a group.
    pub grouping_information: Option<String>,
}

impl WatchTarget {
    /// `mailbox` at `ews_url`, in no particular group.
    pub fn new(mailbox: impl Into<String>, ews_url: Url) -> Self {
        Self {
            mailbox: mailbox.into(),
            ews_url,
            grouping_information: None,
        }
    }

    /// The same target with its `GroupingInformation`.
    pub fn grouping(mut self, grouping_information: impl Into<String>) -> Self {
        self.grouping_information = Some(grouping_information.into());
        self
    }
}

impl From<&Discovery> for WatchTarget {
    fn from(found: &Discovery) -> Self {
        Self {
            mailbox: found.mailbox.clone(),
            ews_url: found.ews_url.clone(),
            grouping_information: found.grouping_information.clone(),
        }
    }
}

/// Counts for the status page, health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct WatcherStatus {
    /// `push`, `streaming` or `pull`.
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
    /// A status with every count at zero, for a watcher in `mode` (another
    /// [`MailboxWatcher`] implementation fills in what it counts).
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

/// Starts a [`Watcher`].
pub struct WatcherBuilder {
    settings: WatchSettings,
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn WatermarkStore>,
    locator: Option<Arc<dyn MailboxLocator>>,
}

impl std::fmt::Debug for WatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatcherBuilder")
            .field("settings", &self.settings)
            .field("auth", &self.auth)
            .field("locator", &self.locator.is_some())
            .finish_non_exhaustive()
    }
}

impl WatcherBuilder {
    /// Keeps watermarks in `store` (in memory by default).
    pub fn store(mut self, store: Arc<dyn WatermarkStore>) -> Self {
        self.store = store;
        self
    }

    /// Asks `locator` where a mailbox went when Exchange says it moved.
    pub fn locator(mut self, locator: Arc<dyn MailboxLocator>) -> Self {
        self.locator = Some(locator);
        self
    }

    /// Validates the settings and starts; call inside a Tokio runtime.
    pub fn start(self) -> Result<(Watcher, Events), WatchError> {
        self.settings.validate()?;
        let (tx, rx) = mpsc::channel(self.settings.channel_capacity);
        let core = Arc::new(Core {
            ews: Ews::new(self.auth, &self.settings),
            settings: self.settings,
            store: self.store,
            locator: self.locator,
            events: tx,
            registry: std::sync::Mutex::new(Registry::default()),
            push_ids: std::sync::Mutex::new(HashMap::new()),
            counters: Counters::default(),
            subscribing: std::sync::atomic::AtomicUsize::new(0),
            early: std::sync::Mutex::default(),
            shutdown: CancellationToken::new(),
        });
        let stop = Arc::new(StopOnDrop(core.shutdown.clone()));
        Ok((Watcher { core, _stop: stop }, Events { rx }))
    }
}

/// Keeps mailboxes subscribed and sends their events to [`Events`].
///
/// Clones share one watcher; it stops when [`shutdown`](Self::shutdown) is called or the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct Watcher {
    core: Arc<Core>,
    _stop: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Watcher {
    /// A builder: `settings`, and `auth` to send every request with.
    pub fn builder(settings: WatchSettings, auth: Arc<dyn Authenticator>) -> WatcherBuilder {
        WatcherBuilder {
            settings,
            auth,
            store: Arc::new(MemoryWatermarks::new()),
            locator: None,
        }
    }

    /// The listener for push mode's callbacks.
    pub fn push_listener(&self) -> PushListener {
        PushListener::new(Arc::clone(&self.core))
    }

    /// Starts watching a mailbox (again at a new endpoint, if it is already watched elsewhere).
    pub fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
        if self.core.shutdown.is_cancelled() {
            return Err(WatchError::Stopped);
        }
        check_address(&target.mailbox)?;
        let url = Arc::new(target.ews_url);
        let grouping = target.grouping_information.map(Arc::<str>::from);
        let key = target.mailbox.to_ascii_lowercase();
        let previous = {
            let registry = lock(&self.core.registry);
            registry.members.get(&key).map(|(m, _)| Arc::clone(m))
        };
        let member = Member::new(Arc::from(target.mailbox.as_str()), url, grouping);
        if let Some(previous) = previous {
            {
                let old = previous.state();
                let new = member.state();
                if old.url == new.url && old.grouping == new.grouping {
                    return Ok(());
                }
            }
            // Moved: the new member resumes from the old one's watermark.
            let watermark = previous.state().watermark.clone();
            self.retire(&previous);
            member.state().watermark = watermark;
        }
        self.core.assign(Arc::new(member));
        Ok(())
    }

    /// Stops watching a mailbox, unsubscribes it and forgets its watermark; false if it was
    /// not watched.
    pub async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError> {
        let Some(member) = lock(&self.core.registry)
            .members
            .get(&mailbox.to_ascii_lowercase())
            .map(|(m, _)| Arc::clone(m))
        else {
            return Ok(false);
        };
        self.retire(&member);
        self.core.store.remove(&member.smtp).await?;
        Ok(true)
    }

    fn retire(&self, member: &Arc<Member>) {
        member.state().removed = true;
        self.core.take(&member.smtp);
    }

    /// Where every mailbox stands, and the counters.
    pub fn status(&self) -> WatcherStatus {
        let core = &self.core;
        let registry = lock(&core.registry);
        let (mut subscribed, mut pending, mut lost, mut failed) = (0, 0, 0, 0);
        for (member, _) in registry.members.values() {
            match member.state().phase {
                Phase::Subscribed => subscribed += 1,
                Phase::Pending => pending += 1,
                Phase::Lost => lost += 1,
                Phase::Failed { .. } => failed += 1,
            }
        }
        let c = &core.counters;
        let load = |n: &std::sync::atomic::AtomicU64| n.load(Ordering::Relaxed);
        WatcherStatus {
            mode: core.settings.mode.name(),
            mailboxes: registry.members.len(),
            subscribed,
            pending,
            lost,
            failed,
            groups: registry.groups.values().filter(|g| g.size > 0).count(),
            streams_open: load(&c.streams_open),
            events: load(&c.events),
            duplicates: load(&c.duplicates),
            subscribe_requests: load(&c.subscribes),
            losses: load(&c.losses),
            resyncs: load(&c.resyncs),
            throttled: load(&c.throttled),
            reconnects: load(&c.reconnects),
            unknown_push: load(&c.unknown_push),
            missed_push: load(&c.missed_push),
        }
    }

    /// Stops every group and connection (subscriptions are left to expire, so that a
    /// restarted watcher resumes from the saved watermarks).
    pub fn shutdown(&self) {
        self.core.shutdown.cancel();
    }

    /// Stops in order: every subscription is ended with `Unsubscribe` (as Microsoft's
    /// Unsubscribe page asks, rather than leaving push subscriptions to call back until they
    /// time out), waiting at most `within` for the answers, then the watcher
    /// [shuts down](Self::shutdown). The watermarks stay saved: the next start subscribes
    /// again from them, and nothing is lost. Returns how many groups answered in time.
    pub async fn stop(&self, within: Duration) -> usize {
        let waits: Vec<_> = {
            let registry = lock(&self.core.registry);
            registry
                .groups
                .values()
                .filter_map(|group| {
                    let (done, answered) = tokio::sync::oneshot::channel();
                    group.commands.send(Command::Stop(done)).ok()?;
                    Some(answered)
                })
                .collect()
        };
        let groups = waits.len();
        let answered = tokio::time::timeout(within, futures_util::future::join_all(waits)).await;
        self.shutdown();
        match answered {
            Ok(answers) => answers.iter().filter(|a| a.is_ok()).count(),
            Err(_) => {
                tracing::info!(
                    groups,
                    ?within,
                    "stopping: not every Unsubscribe was answered in time"
                );
                0
            }
        }
    }
}

#[async_trait]
impl MailboxWatcher for Watcher {
    async fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
        Self::watch(self, target)
    }

    async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError> {
        Self::unwatch(self, mailbox).await
    }

    fn status(&self) -> WatcherStatus {
        Self::status(self)
    }
}

/// The watcher's events, in order per mailbox.
#[derive(Debug)]
pub struct Events {
    rx: mpsc::Receiver<WatchEvent>,
}

impl Events {
    /// Events read from `rx`: for another [`MailboxWatcher`] implementation (the Microsoft
    /// Graph backend) or a consumer that merges several watchers into one stream.
    pub fn from_receiver(rx: mpsc::Receiver<WatchEvent>) -> Self {
        Self { rx }
    }

    /// The next event; `None` once the watcher has stopped and every event was read.
    pub async fn recv(&mut self) -> Option<WatchEvent> {
        self.rx.recv().await
    }

    /// The next event if one is waiting, without waiting (to take events in batches).
    pub fn try_recv(&mut self) -> Option<WatchEvent> {
        self.rx.try_recv().ok()
    }
}

impl futures_util::Stream for Events {
    type Item = WatchEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchEvent>> {
        self.rx.poll_recv(cx)
    }
}

/// Refuses what cannot be a mailbox address.
fn check_address(address: &str) -> Result<(), WatchError> {
    let valid = address.len() <= 320
        && !address.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(address.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') && domain.contains('.'));
    if valid {
        Ok(())
    } else {
        Err(WatchError::InvalidMailbox(address.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked() {
        for good in ["mara@contoso.com", "u1@load.test"] {
            check_address(good).unwrap();
        }
        for bad in [
            "",
            "mara",
            "@contoso.com",
            "mara@",
            "a@b@c.com",
            "ma ra@contoso.com",
            "mara@localhost",
        ] {
            assert!(
                matches!(check_address(bad), Err(WatchError::InvalidMailbox(_))),
                "{bad}"
            );
        }
    }
}
