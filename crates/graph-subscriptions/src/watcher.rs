//! The public handle: start a watcher, add and remove mailboxes, its webhook, its status.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use exchange_auth::Authenticator;
use mailbox_watch::{
    Events, MailboxWatcher, MemoryWatermarks, WatchError, WatchTarget, WatcherStatus,
    WatermarkStore,
};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::client::{GraphClient, Verb};
use crate::core::{Core, Counters, Registry, lock};
use crate::error::GraphError;
use crate::member::{Member, Phase};
use crate::peers::Peers;
use crate::persist::Saved;
use crate::settings::GraphSettings;
use crate::spool::{MemorySpool, Spool, SpoolRecord};
use crate::webhook::Webhook;
use crate::{manage, process};

/// Records of mailboxes not watched are kept this long (they may be watched again soon,
/// after a restart).
const KEEP_UNWATCHED: Duration = Duration::from_secs(3600);

/// Counts of what the Graph watcher did, beyond [`WatcherStatus`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct GraphCounts {
    /// Notifications accepted (spooled) by the webhook.
    pub accepted: u64,
    /// Requests refused for a `clientState` that does not match.
    pub refused: u64,
    /// Notifications for subscriptions of no watched mailbox.
    pub unknown: u64,
    /// Requests answered 503 (starting, queue full, spool failed).
    pub busy: u64,
    /// Requests that waited for room in a full queue (and were accepted).
    pub held: u64,
    /// Validation handshakes answered.
    pub validations: u64,
    /// Notifications of subscriptions other nodes hold, handed on to them ([`Peers`]).
    pub forwarded: u64,
    /// Notifications other nodes handed on to this one, taken into its spool.
    pub taken: u64,
    /// Subscriptions renewed.
    pub renewals: u64,
    /// Subscriptions reauthorized.
    pub reauthorizations: u64,
    /// Delta rounds completed.
    pub delta_rounds: u64,
}

/// Starts a [`GraphWatcher`].
pub struct GraphWatcherBuilder {
    settings: GraphSettings,
    auth: Arc<dyn Authenticator>,
    store: Arc<dyn WatermarkStore>,
    spool: Arc<dyn Spool>,
    peers: Option<Arc<dyn Peers>>,
}

impl std::fmt::Debug for GraphWatcherBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphWatcherBuilder")
            .field("settings", &self.settings)
            .field("spool", &self.spool)
            .field("peers", &self.peers)
            .finish_non_exhaustive()
    }
}

impl GraphWatcherBuilder {
    /// Keeps each mailbox's state in `store` (in memory by default).
    pub fn store(mut self, store: Arc<dyn WatermarkStore>) -> Self {
        self.store = store;
        self
    }

    /// Keeps accepted notifications in `spool` ([`FileSpool`](crate::FileSpool) to survive a
    /// crash; in memory by default).
    pub fn spool(mut self, spool: Arc<dyn Spool>) -> Self {
        self.spool = spool;
        self
    }

    /// Shares the subscriptions with the other watchers behind the same notification URL, so
    /// that each accepts the others' notifications (see [`crate::peers`]).
    pub fn peers(mut self, peers: Arc<dyn Peers>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Validates the settings, reads the spool, and starts; call inside a Tokio runtime.
    pub async fn start(self) -> Result<(GraphWatcher, Events), WatchError> {
        self.settings.validate()?;
        let kept = self.spool.records().await.map_err(WatchError::store)?;
        let now_us = u64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000)
            .unwrap_or(0);
        // Sequence numbers grow across restarts (the saved states compare against them).
        let next_seq = kept
            .iter()
            .map(|r| r.seq + 1)
            .max()
            .unwrap_or(1)
            .max(now_us);
        let mut replay: HashMap<String, Vec<SpoolRecord>> = HashMap::new();
        for record in kept {
            replay
                .entry(record.mailbox.clone())
                .or_default()
                .push(record);
        }
        let (tx, rx) = mpsc::channel(self.settings.channel_capacity);
        let (queue, queue_rx) = mpsc::channel(self.settings.queue_capacity);
        let core = Arc::new(Core {
            client: GraphClient::new(self.auth, &self.settings),
            subscribing: Semaphore::new(self.settings.subscribe_concurrency),
            settings: self.settings,
            store: self.store,
            spool: self.spool,
            peers: self.peers.clone(),
            events: tx,
            queue,
            registry: std::sync::Mutex::new(Registry::default()),
            replay: std::sync::Mutex::new(replay),
            next_seq: AtomicU64::new(next_seq),
            counters: Counters::default(),
            loading: AtomicUsize::new(0),
            started: Instant::now(),
            suspects: std::sync::Mutex::new(HashSet::new()),
            shutdown: CancellationToken::new(),
        });
        tokio::spawn(process::run(Arc::clone(&core), queue_rx));
        tokio::spawn(tick(Arc::clone(&core)));
        if let Some(peers) = self.peers {
            tokio::spawn(crate::peers::run(Arc::clone(&core), peers));
        }
        let stop = Arc::new(StopOnDrop(core.shutdown.clone()));
        Ok((
            GraphWatcher { core, _stop: stop },
            Events::from_receiver(rx),
        ))
    }
}

/// Renewals and catch-up rounds every `tick`; spool compaction every tenth; an orphan sweep
/// every `orphan_sweep` (once the start-up grace is over).
async fn tick(core: Arc<Core>) {
    let mut ticks = 0u64;
    let mut swept = Instant::now();
    loop {
        tokio::select! {
            () = tokio::time::sleep(core.settings.tick) => {}
            () = core.shutdown.cancelled() => return,
        }
        manage::sweep(&core, core.settings.clock.now());
        ticks += 1;
        if ticks.is_multiple_of(10)
            && let Err(error) = compact(&core).await
        {
            tracing::warn!(%error, "Graph spool not compacted");
        }
        let due = swept.elapsed() >= core.settings.orphan_sweep;
        if due && !core.warming_up() && core.loading.load(Ordering::SeqCst) == 0 {
            swept = Instant::now();
            if let Err(error) = crate::orphans::sweep(&core).await {
                tracing::info!(%error, "Graph: orphan sweep failed; trying again later");
            }
        }
    }
}

/// Drops spool records whose events the mailbox's saved state says were delivered.
pub(crate) async fn compact(core: &Core) -> Result<(), GraphError> {
    let records = core.spool.records().await?;
    if records.is_empty() {
        return Ok(());
    }
    let mut delivered: HashMap<String, Option<u64>> = HashMap::new();
    for record in &records {
        if delivered.contains_key(&record.mailbox) {
            continue;
        }
        let seq = match core.member(&record.mailbox) {
            None => None,
            Some(member) if core.settings.consumer_saves_state => {
                match core.store.load(&member.mailbox).await {
                    Ok(Some(text)) => {
                        Some(Saved::decode(text.as_str()).unwrap_or_default().spool_seq)
                    }
                    Ok(None) => Some(0),
                    Err(error) => return Err(GraphError::Spool(error.to_string())),
                }
            }
            Some(member) => Some(member.state().spool_seq),
        };
        delivered.insert(record.mailbox.clone(), seq);
    }
    let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX);
    let keep_ms = i64::try_from(KEEP_UNWATCHED.as_millis()).unwrap_or(i64::MAX);
    let keep = move |r: &SpoolRecord| match delivered.get(&r.mailbox) {
        Some(Some(seq)) => r.seq > *seq,
        _ => now_ms - r.at_ms < keep_ms,
    };
    core.spool.retain(&keep).await
}

/// Keeps Exchange Online mailboxes subscribed through Microsoft Graph and sends their events
/// to [`Events`].
///
/// Clones share one watcher; it stops when [`shutdown`](Self::shutdown) is called or the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct GraphWatcher {
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

impl GraphWatcher {
    /// A builder: `settings`, and `auth` (app-only tokens for `https://graph.microsoft.com`)
    /// to send every request with.
    pub fn builder(settings: GraphSettings, auth: Arc<dyn Authenticator>) -> GraphWatcherBuilder {
        GraphWatcherBuilder {
            settings,
            auth,
            store: Arc::new(MemoryWatermarks::new()),
            spool: Arc::new(MemorySpool::new()),
            peers: None,
        }
    }

    /// The webhook Graph calls.
    pub fn webhook(&self) -> Webhook {
        Webhook::new(Arc::clone(&self.core))
    }

    /// Starts watching a mailbox; its target's EWS URL and grouping are not used (Graph
    /// names the mailbox by address).
    ///
    /// The target's [further folders](WatchTarget::folders) each get a subscription of their
    /// own, on `/users/{id}/mailFolders('{folder}')/messages` (distinguished folders by their
    /// well-known name, folder ids in REST form), with the inbox's webhook, `clientState`
    /// rules, expiry and renewal; their new mail is marked
    /// [`further_folder`](mailbox_watch::MailboxEvent::further_folder), and no unread count
    /// follows it. A folder Graph does not find is logged and left out (and tried again after
    /// `catch_up_interval`); the inbox and the other folders are watched.
    ///
    /// Watching a watched mailbox again with another set of further folders (in any order)
    /// creates the subscriptions of the folders added and deletes those of the folders
    /// dropped; the inbox's subscription and the others stay. The same set changes nothing.
    ///
    /// # Errors
    ///
    /// [`WatchError::Stopped`] after a shutdown, [`WatchError::InvalidMailbox`] for what cannot
    /// be an address, and a [`WatchError::Config`] naming `folders` for more than 19 further
    /// folders (with the inbox's, 20 subscriptions per mailbox), another mailbox's folder, or
    /// a folder name or id of the wrong form.
    pub fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
        if self.core.shutdown.is_cancelled() {
            return Err(WatchError::Stopped);
        }
        let mailbox = target.mailbox.trim();
        let valid = matches!(mailbox.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.'))
            && !mailbox.contains(['/', '?', '#', '\'', ' ']);
        if !valid {
            return Err(WatchError::InvalidMailbox(mailbox.to_owned()));
        }
        let further = crate::folders::further(mailbox, &target.folders)?;
        let member = Arc::new(Member::new(
            mailbox,
            self.core.settings.mailbox_concurrency,
            &further,
        ));
        let previous = {
            let mut registry = lock(&self.core.registry);
            match registry.members.get(&member.key) {
                Some(previous) => Some(Arc::clone(previous)),
                None => {
                    registry
                        .members
                        .insert(member.key.clone(), Arc::clone(&member));
                    None
                }
            }
        };
        let Some(previous) = previous else {
            tokio::spawn(manage::run(Arc::clone(&self.core), member));
            return Ok(());
        };
        if crate::folders::same_set(&previous.further(), &further) {
            return Ok(());
        }
        // Other folders: the mailbox's task creates and deletes subscriptions to follow.
        let retired = previous.state().set_further(&further);
        {
            let mut registry = lock(&self.core.registry);
            for id in &retired {
                registry.subscriptions.remove(id);
            }
        }
        tracing::info!(%mailbox, folders = further.len(), retired = retired.len(), "Graph: further folders changed");
        previous.kick.notify_one();
        Ok(())
    }

    /// Stops watching a mailbox, deletes its subscriptions (the inbox's and its further
    /// folders') and forgets its state; false if it was not watched.
    pub async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError> {
        let key = mailbox.trim().to_ascii_lowercase();
        let Some(member) = lock(&self.core.registry).members.remove(&key) else {
            return Ok(false);
        };
        let subscriptions: Vec<String> = {
            let mut guard = member.state();
            let state = &mut *guard;
            state.removed = true;
            let mut ids = std::mem::take(&mut state.retired);
            let further = state.further.iter_mut().map(|(_, slot)| slot);
            for slot in std::iter::once(&mut state.inbox).chain(further) {
                if let Some(subscription) = slot.subscription.take() {
                    ids.push(subscription.id);
                }
            }
            ids
        };
        member.kick.notify_one();
        {
            let mut registry = lock(&self.core.registry);
            for id in &subscriptions {
                registry.subscriptions.remove(id);
            }
        }
        for id in subscriptions {
            crate::peers::withdraw(&self.core, id.clone());
            let url = self
                .core
                .client
                .endpoint(&["subscriptions", &id])
                .map_err(|e| WatchError::Config {
                    field: "api",
                    rule: e.to_string(),
                })?;
            if let Err(error) = self.core.call(&member, Verb::Delete, url).await
                && !error.is_not_found()
            {
                tracing::warn!(%mailbox, subscription = %id, %error, "Graph subscription not deleted; it expires by itself");
            }
        }
        self.core.store.remove(&member.mailbox).await?;
        Ok(true)
    }

    /// Whether `mailbox` is subscribed now.
    pub fn is_subscribed(&self, mailbox: &str) -> bool {
        self.core
            .member(&mailbox.trim().to_ascii_lowercase())
            .is_some_and(|m| m.state().phase == Phase::Subscribed)
    }

    /// The unread count of `mailbox`'s inbox (`unreadItemCount`).
    pub async fn unread_count(&self, mailbox: &str) -> Result<u32, GraphError> {
        let key = mailbox.trim().to_ascii_lowercase();
        let member = self.core.member(&key).unwrap_or_else(|| {
            Arc::new(Member::new(
                mailbox.trim(),
                self.core.settings.mailbox_concurrency,
                &[],
            ))
        });
        let mut url =
            self.core
                .client
                .endpoint(&["users", &member.mailbox, "mailFolders", "inbox"])?;
        url.set_query(Some("$select=unreadItemCount"));
        let answer = self.core.call(&member, Verb::Get, url).await?;
        let folder = crate::wire::folder::MailFolder::parse(&answer.body)
            .map_err(|e| GraphError::Protocol(e.to_string()))?;
        folder
            .unread_item_count
            .ok_or_else(|| GraphError::Protocol("the inbox has no unreadItemCount".into()))
    }

    /// The summary of one of `mailbox`'s messages (`ews_id`: its id in EWS form, as events
    /// carry it): sender, subject, importance, arrival and folder, through `$select`. Within
    /// the mailbox's budget of requests in flight, like every call of the watcher.
    pub async fn message_summary(
        &self,
        mailbox: &str,
        ews_id: &str,
    ) -> Result<crate::wire::message::MessageSummary, GraphError> {
        if !crate::ids::is_message_id(ews_id) {
            return Err(GraphError::Protocol(format!(
                "{ews_id:?} is not a message id"
            )));
        }
        let key = mailbox.trim().to_ascii_lowercase();
        let member = self.core.member(&key).unwrap_or_else(|| {
            Arc::new(Member::new(
                mailbox.trim(),
                self.core.settings.mailbox_concurrency,
                &[],
            ))
        });
        let rest_id = ews_id.replace('+', "-").replace('/', "_");
        let mut url =
            self.core
                .client
                .endpoint(&["users", &member.mailbox, "messages", &rest_id])?;
        url.set_query(Some(&format!(
            "$select={}",
            crate::wire::message::SUMMARY_SELECT
        )));
        let answer = self.core.call(&member, Verb::Get, url).await?;
        crate::wire::message::MessageSummary::parse(&answer.body)
            .map_err(|e| GraphError::Protocol(e.to_string()))
    }

    /// Where every mailbox stands, and the counters.
    pub fn status(&self) -> WatcherStatus {
        let core = &self.core;
        let mut status = WatcherStatus::new("graph");
        for member in lock(&core.registry).members.values() {
            status.mailboxes += 1;
            match member.state().phase {
                Phase::Subscribed => status.subscribed += 1,
                Phase::Loading | Phase::Pending => status.pending += 1,
                Phase::Lost => status.lost += 1,
                Phase::Failed => status.failed += 1,
            }
        }
        let c = &core.counters;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        status.events = load(&c.events);
        status.duplicates = load(&c.duplicates);
        status.subscribe_requests = load(&c.subscribe_requests);
        status.losses = load(&c.losses);
        status.resyncs = load(&c.resyncs);
        status.throttled = load(&c.throttled);
        status.unknown_push = load(&c.unknown);
        status
    }

    /// What the webhook and the mailboxes' tasks did.
    pub fn counts(&self) -> GraphCounts {
        let c = &self.core.counters;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        GraphCounts {
            accepted: load(&c.accepted),
            refused: load(&c.refused),
            unknown: load(&c.unknown),
            busy: load(&c.busy),
            held: load(&c.held),
            validations: load(&c.validations),
            forwarded: load(&c.forwarded),
            taken: load(&c.taken),
            renewals: load(&c.renewals),
            reauthorizations: load(&c.reauthorizations),
            delta_rounds: load(&c.delta_rounds),
        }
    }

    /// Drops spool records already delivered now (it also happens every tenth tick).
    pub async fn compact_spool(&self) -> Result<(), GraphError> {
        compact(&self.core).await
    }

    /// Stops every task (subscriptions are kept, so that a restarted watcher takes them
    /// over with its saved state).
    pub fn shutdown(&self) {
        self.core.shutdown.cancel();
    }
}

#[async_trait]
impl MailboxWatcher for GraphWatcher {
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

    /// Graph's subscriptions are kept (a restarted watcher takes them over): nothing to wait for.
    async fn stop(&self, _within: Duration) {
        self.shutdown();
    }
}
