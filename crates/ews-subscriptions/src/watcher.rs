//! The public handle: start a watcher, add and remove mailboxes, read its events and status.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use exchange_auth::Authenticator;
use mailbox_watch::{
    Events, MailboxWatcher, MemoryWatermarks, Relocate, WatchError, WatchTarget, WatcherStatus,
    WatermarkStore,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::core::{Core, Counters, Member, Phase, Registry, lock};
use crate::ews::Ews;
use crate::folders;
use crate::group::Command;
use crate::push::PushListener;
use crate::settings::WatchSettings;

/// Starts a [`Watcher`].
pub struct WatcherBuilder {
    settings: WatchSettings,
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn WatermarkStore>,
    relocate: Option<Arc<dyn Relocate>>,
}

impl std::fmt::Debug for WatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatcherBuilder")
            .field("settings", &self.settings)
            .field("auth", &self.auth)
            .field("relocate", &self.relocate.is_some())
            .finish_non_exhaustive()
    }
}

impl WatcherBuilder {
    /// Keeps watermarks in `store` (in memory by default).
    pub fn store(mut self, store: Arc<dyn WatermarkStore>) -> Self {
        self.store = store;
        self
    }

    /// Asks `relocate` where a mailbox went when Exchange says it moved (without it, the
    /// mailbox is subscribed again at the same endpoint).
    pub fn relocate(mut self, relocate: Arc<dyn Relocate>) -> Self {
        self.relocate = Some(relocate);
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
            relocate: self.relocate,
            events: tx,
            registry: std::sync::Mutex::new(Registry::default()),
            push_ids: std::sync::Mutex::new(HashMap::new()),
            counters: Counters::default(),
            subscribing: std::sync::atomic::AtomicUsize::new(0),
            early: std::sync::Mutex::default(),
            shutdown: CancellationToken::new(),
        });
        let stop = Arc::new(StopOnDrop(core.shutdown.clone()));
        Ok((Watcher { core, _stop: stop }, Events::from_receiver(rx)))
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
            relocate: None,
        }
    }

    /// The listener for push mode's callbacks.
    pub fn push_listener(&self) -> PushListener {
        PushListener::new(Arc::clone(&self.core))
    }

    /// Starts watching a mailbox (again at a new endpoint, if it is already watched elsewhere).
    ///
    /// The target's [further folders](WatchTarget::folders) join the watcher's own folders in
    /// the mailbox's one subscription, duplicates and the watcher's own removed; their events
    /// are marked [`further_folder`](mailbox_watch::MailboxEvent::further_folder). Before each
    /// subscription one `GetFolder` learns their ids (events name folders by id); a folder
    /// Exchange does not find is logged and left out, and the others are watched. Targets
    /// without further folders cost no extra request.
    ///
    /// Watching a mailbox again with another set of further folders (in any order) replaces
    /// its subscription: the old one is ended with `Unsubscribe` and a new one made with the
    /// new folders, from the watermark reached (push and pull: what happened in between is
    /// replayed, and duplicates dropped). Streaming keeps no watermark, so its new
    /// subscription starts afresh and the consumer gets a `Resync`. The same set changes
    /// nothing.
    ///
    /// # Errors
    ///
    /// [`WatchError::Stopped`] after a shutdown, [`WatchError::InvalidMailbox`] for what cannot
    /// be an address, and a [`WatchError::Config`] naming `folders` for more than 19 further
    /// folders (with the inbox, 20 folders; Exchange Online allows 20 subscriptions per
    /// mailbox, and each mailbox keeps to one) or a distinguished folder of another mailbox.
    pub fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
        if self.core.shutdown.is_cancelled() {
            return Err(WatchError::Stopped);
        }
        check_address(&target.mailbox)?;
        let further =
            folders::further(&self.core.settings.folders, &target.mailbox, target.folders)?;
        let url = Arc::new(target.ews_url);
        let grouping = target.grouping_information.map(Arc::<str>::from);
        let key = target.mailbox.to_ascii_lowercase();
        let previous = {
            let registry = lock(&self.core.registry);
            registry.members.get(&key).map(|(m, _)| Arc::clone(m))
        };
        let member = Member::new(Arc::from(target.mailbox.as_str()), url, grouping, further);
        if let Some(previous) = previous {
            let same_place = {
                let old = previous.state();
                let new = member.state();
                old.url == new.url && old.grouping == new.grouping
            };
            let same_folders = folders::same_set(&previous.further, &member.further);
            if same_place && same_folders {
                return Ok(());
            }
            // Moved, or other folders: the new member resumes from the old one's watermark.
            let (watermark, was_subscribed) = {
                let old = previous.state();
                (old.watermark.clone(), old.was_subscribed)
            };
            self.retire(&previous);
            let mut state = member.state();
            state.watermark = watermark;
            if same_place {
                // Other folders only: a streaming subscription made afresh tells the
                // consumer to resync, as after a loss.
                state.was_subscribed = was_subscribed;
            }
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

    /// Whether `mailbox` is subscribed now.
    pub fn is_subscribed(&self, mailbox: &str) -> bool {
        lock(&self.core.registry)
            .members
            .get(&mailbox.to_ascii_lowercase())
            .is_some_and(|(member, _)| member.state().phase == Phase::Subscribed)
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
        let mut status = WatcherStatus::new(core.settings.mode.name());
        status.mailboxes = registry.members.len();
        status.subscribed = subscribed;
        status.pending = pending;
        status.lost = lost;
        status.failed = failed;
        status.groups = registry.groups.values().filter(|g| g.size > 0).count();
        status.streams_open = load(&c.streams_open);
        status.events = load(&c.events);
        status.duplicates = load(&c.duplicates);
        status.subscribe_requests = load(&c.subscribes);
        status.losses = load(&c.losses);
        status.resyncs = load(&c.resyncs);
        status.throttled = load(&c.throttled);
        status.reconnects = load(&c.reconnects);
        status.unknown_push = load(&c.unknown_push);
        status.missed_push = load(&c.missed_push);
        status
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

    fn is_subscribed(&self, mailbox: &str) -> bool {
        Self::is_subscribed(self, mailbox)
    }

    fn status(&self) -> WatcherStatus {
        Self::status(self)
    }

    async fn stop(&self, within: Duration) {
        Self::stop(self, within).await;
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
