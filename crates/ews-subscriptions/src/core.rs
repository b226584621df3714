//! What every group and the push listener share: the mailboxes, the groups they are in, the
//! consumer's channel, and the path every notification takes to it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ews_proto::{BaseFolderId, EventType, Notification, SubscriptionId, Watermark};
use mailbox_watch::{MailboxEvent, Relocate, WatchError, WatchEvent, WatermarkStore};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::ews::Ews;
use crate::group::{self, Command};
use crate::pace::{Dedupe, backoff};
use crate::settings::WatchSettings;

/// Locks a mutex, carrying on after a panic elsewhere (the data stays consistent: every
/// critical section is a few assignments).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where a mailbox's subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for its first subscription.
    Pending,
    /// Subscribed.
    Subscribed,
    /// The subscription was lost; a new one is on its way.
    Lost,
    /// Cannot be subscribed now; tried again at `retry_at`.
    Failed { retry_at: Instant },
}

/// One watched mailbox, shared by its group and the push listener.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) smtp: Arc<str>,
    /// The target's further folders (see [`crate::folders`]), empty for most mailboxes.
    pub(crate) further: Box<[BaseFolderId]>,
    state: Mutex<MemberState>,
    /// Held while a push notification of the mailbox is applied: notifications kept before
    /// the subscription was known, and the ones after, are applied in order.
    pub(crate) push_order: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
pub(crate) struct MemberState {
    pub(crate) url: Arc<Url>,
    pub(crate) grouping: Option<Arc<str>>,
    pub(crate) subscription: Option<SubscriptionId>,
    /// The ids of the further folders its subscription covers, resolved before each
    /// subscription: their events are marked `further_folder`.
    pub(crate) further_ids: Box<[String]>,
    pub(crate) watermark: Option<Watermark>,
    /// Whether the store was asked for a watermark yet.
    pub(crate) watermark_loaded: bool,
    pub(crate) phase: Phase,
    /// Whether the mailbox was ever subscribed (a later subscription without a watermark
    /// means a resync).
    pub(crate) was_subscribed: bool,
    /// When the push listener last heard from its subscription.
    pub(crate) last_heard: Instant,
    pub(crate) dedupe: Dedupe,
    /// Set by `unwatch`: late notifications are refused.
    pub(crate) removed: bool,
}

impl Member {
    pub(crate) fn new(
        smtp: Arc<str>,
        url: Arc<Url>,
        grouping: Option<Arc<str>>,
        further: Box<[BaseFolderId]>,
    ) -> Self {
        Self {
            smtp,
            further,
            state: Mutex::new(MemberState {
                url,
                grouping,
                subscription: None,
                further_ids: Box::default(),
                watermark: None,
                watermark_loaded: false,
                phase: Phase::Pending,
                was_subscribed: false,
                last_heard: Instant::now(),
                dedupe: Dedupe::default(),
                removed: false,
            }),
            push_order: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, MemberState> {
        lock(&self.state)
    }
}

/// Counters for the status page and metrics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) subscribes: AtomicU64,
    pub(crate) losses: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) streams_open: AtomicU64,
    pub(crate) unknown_push: AtomicU64,
    pub(crate) missed_push: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A group's handle: its command channel, how many mailboxes it holds, and its endpoint
/// (which its members share rather than each holding a copy).
#[derive(Debug)]
pub(crate) struct GroupHandle {
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    pub(crate) size: usize,
    url: Arc<Url>,
    grouping: Option<Arc<str>>,
}

/// Mailboxes and groups.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    /// Lower-cased address → member and the name of the group it is in.
    pub(crate) members: HashMap<String, (Arc<Member>, Arc<str>)>,
    /// Group name → handle.
    pub(crate) groups: HashMap<Arc<str>, GroupHandle>,
    /// Base key (grouping + URL) → the names of the groups made for it, in order.
    pub(crate) splits: HashMap<String, Vec<Arc<str>>>,
}

/// The watcher's shared state.
pub(crate) struct Core {
    pub(crate) settings: WatchSettings,
    pub(crate) ews: Ews,
    pub(crate) store: Arc<dyn WatermarkStore>,
    pub(crate) relocate: Option<Arc<dyn Relocate>>,
    pub(crate) events: mpsc::Sender<WatchEvent>,
    pub(crate) registry: Mutex<Registry>,
    /// Push subscription id → member.
    pub(crate) push_ids: Mutex<HashMap<String, Arc<Member>>>,
    pub(crate) counters: Counters,
    /// `Subscribe` requests awaiting their answer: Exchange may call back a new push
    /// subscription before we know its id.
    pub(crate) subscribing: std::sync::atomic::AtomicUsize,
    /// Push notifications that came before their subscription's id was known.
    pub(crate) early: Mutex<crate::early::Early>,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("mode", &self.settings.mode.name())
            .field("relocate", &self.relocate.is_some())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// What became of a notification handed to [`Core::deliver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Its events are in the consumer's channel.
    Ok,
    /// The consumer is gone.
    Stopped,
}

impl Core {
    /// Sends a lifecycle event; a consumer that went away is not an error here.
    pub(crate) async fn emit(&self, event: WatchEvent) {
        let _ = self.events.send(event).await;
    }

    /// Hands `notification`'s events to the consumer (duplicates removed, heartbeats kept
    /// back, those of further folders marked), then saves the watermark after them.
    pub(crate) async fn deliver(&self, member: &Member, notification: Notification) -> Delivered {
        let window = self.settings.dedupe_window;
        let last_watermark = notification.last_watermark().cloned();
        let mut fresh = Vec::with_capacity(notification.events.len());
        let mut duplicates = 0;
        {
            let mut state = member.state();
            if state.removed {
                return Delivered::Ok; // unwatched: its events are no longer wanted
            }
            state.last_heard = Instant::now();
            for event in notification.events {
                if event.kind == EventType::Status {
                    continue;
                }
                if state.dedupe.is_duplicate(&event, window) {
                    duplicates += 1;
                    continue;
                }
                let further = !state.further_ids.is_empty()
                    && crate::folders::happened_in(&event, &state.further_ids);
                fresh.push((event, further));
            }
        }
        Counters::add(&self.counters.duplicates, duplicates);
        Counters::add(&self.counters.events, fresh.len() as u64);
        for (event, further) in fresh {
            let mut event = MailboxEvent::new(Arc::clone(&member.smtp), event);
            if further {
                event = event.in_further_folder();
            }
            if self.events.send(WatchEvent::Mail(event)).await.is_err() {
                return Delivered::Stopped;
            }
        }
        if let Some(watermark) = last_watermark {
            member.state().watermark = Some(watermark.clone());
            if self.checkpoint(member, watermark).await == Delivered::Stopped {
                return Delivered::Stopped;
            }
        }
        Delivered::Ok
    }

    /// Makes `watermark` the mailbox's resume point: saved in the store, or, when the consumer
    /// saves watermarks, handed to it after the events before it.
    pub(crate) async fn checkpoint(&self, member: &Member, watermark: Watermark) -> Delivered {
        if self.settings.consumer_saves_watermarks {
            let checkpoint = WatchEvent::Checkpoint {
                mailbox: Arc::clone(&member.smtp),
                watermark,
            };
            if self.events.send(checkpoint).await.is_err() {
                return Delivered::Stopped;
            }
        } else if let Err(error) = self.store.save(&member.smtp, &watermark).await {
            tracing::warn!(mailbox = %member.smtp, %error, "watermark not saved");
        }
        Delivered::Ok
    }

    /// Puts `member` in a group for its endpoint, making the group if needed.
    pub(crate) fn assign(self: &Arc<Self>, member: Arc<Member>) {
        let (url, grouping) = {
            let state = member.state();
            (Arc::clone(&state.url), state.grouping.clone())
        };
        let base = format!("{}|{}", grouping.as_deref().unwrap_or("-"), url.as_str());
        let key = member.smtp.to_ascii_lowercase();
        let mut registry = lock(&self.registry);
        let registry = &mut *registry;
        let limit = self.settings.group_size;
        let names = registry.splits.entry(base.clone()).or_default();
        let existing = names.iter().find(|name| {
            registry
                .groups
                .get(&***name)
                .is_some_and(|g| g.size < limit)
        });
        let name = match existing {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = if names.is_empty() {
                    Arc::from(base)
                } else {
                    Arc::from(format!("{base}#{}", names.len() + 1))
                };
                names.push(Arc::clone(&name));
                let (tx, rx) = mpsc::unbounded_channel();
                registry.groups.insert(
                    Arc::clone(&name),
                    GroupHandle {
                        commands: tx,
                        size: 0,
                        url: Arc::clone(&url),
                        grouping: grouping.clone(),
                    },
                );
                group::spawn(Arc::clone(self), name.to_string(), Arc::clone(&url), rx);
                name
            }
        };
        if let Some(group) = registry.groups.get_mut(&name) {
            {
                let mut state = member.state();
                state.url = Arc::clone(&group.url);
                state.grouping = group.grouping.clone();
            }
            group.size += 1;
            let _ = group.commands.send(Command::Add(Arc::clone(&member)));
        }
        registry.members.insert(key, (member, name));
    }

    /// Takes `smtp` out of the registry and its group; returns the member.
    pub(crate) fn take(&self, smtp: &str) -> Option<Arc<Member>> {
        let mut registry = lock(&self.registry);
        let (member, group) = registry.members.remove(&smtp.to_ascii_lowercase())?;
        if let Some(handle) = registry.groups.get_mut(&group) {
            handle.size = handle.size.saturating_sub(1);
            let _ = handle
                .commands
                .send(Command::Remove(Arc::clone(&member.smtp)));
        }
        Some(member)
    }

    /// A group gives `member` up (it must be rediscovered): find where it lives now and put it
    /// in that group.
    pub(crate) fn relocate(self: &Arc<Self>, member: Arc<Member>, reason: String) {
        {
            let mut registry = lock(&self.registry);
            let key = member.smtp.to_ascii_lowercase();
            let Some((current, group)) = registry.members.remove(&key) else {
                return; // unwatched meanwhile
            };
            if !Arc::ptr_eq(&current, &member) {
                registry.members.insert(key, (current, group));
                return;
            }
            if let Some(handle) = registry.groups.get_mut(&group) {
                handle.size = handle.size.saturating_sub(1);
            }
        }
        let core = Arc::clone(self);
        tokio::spawn(async move {
            let mut attempt = 0;
            loop {
                if core.shutdown.is_cancelled() || member.state().removed {
                    return;
                }
                match core.rediscover(&member).await {
                    Ok(()) => break,
                    Err(error) => {
                        tracing::warn!(mailbox = %member.smtp, %error, "rediscovery failed");
                        let limits = &core.settings.limits;
                        let wait = backoff(attempt, limits.backoff_initial, limits.backoff_max);
                        attempt += 1;
                        tokio::select! {
                            () = tokio::time::sleep(wait) => {}
                            () = core.shutdown.cancelled() => return,
                        }
                    }
                }
            }
            tracing::info!(mailbox = %member.smtp, %reason, "mailbox relocated");
            if member.state().removed {
                return;
            }
            core.assign(member);
        });
    }

    async fn rediscover(&self, member: &Member) -> Result<(), WatchError> {
        let Some(relocate) = &self.relocate else {
            return Ok(()); // nowhere else to look: subscribe at the same endpoint again
        };
        relocate.forget(&member.smtp);
        let found = relocate.locate(&member.smtp).await?;
        let moved = {
            let mut state = member.state();
            let grouping = found.grouping_information.as_deref().map(Arc::from);
            let moved = *state.url != found.ews_url || state.grouping != grouping;
            if moved {
                state.url = Arc::new(found.ews_url.clone());
                state.grouping = grouping;
            }
            moved
        };
        if moved {
            self.emit(WatchEvent::Moved {
                mailbox: Arc::clone(&member.smtp),
                ews_url: found.ews_url.to_string(),
            })
            .await;
        }
        Ok(())
    }

    /// Marks a member's subscription lost (its group subscribes it again on its next round).
    pub(crate) async fn lose(&self, member: &Member, reason: String) {
        let old = {
            let mut state = member.state();
            if state.phase != Phase::Subscribed || state.removed {
                return;
            }
            state.phase = Phase::Lost;
            state.subscription.take()
        };
        if let Some(id) = old {
            self.forget_push(&id);
        }
        Counters::add(&self.counters.losses, 1);
        tracing::info!(mailbox = %member.smtp, %reason, "subscription lost");
        self.emit(WatchEvent::Lost {
            mailbox: Arc::clone(&member.smtp),
            reason,
        })
        .await;
    }

    /// Wakes the group of `member` (its state changed outside the group).
    pub(crate) fn wake(&self, member: &Member) {
        let registry = lock(&self.registry);
        if let Some((_, group)) = registry.members.get(&member.smtp.to_ascii_lowercase())
            && let Some(handle) = registry.groups.get(group)
        {
            let _ = handle.commands.send(Command::Wake);
        }
    }

    /// Records a push subscription id, forgetting the member's previous one.
    pub(crate) fn register_push(&self, member: &Arc<Member>, id: &SubscriptionId) {
        lock(&self.push_ids).insert(id.as_str().to_owned(), Arc::clone(member));
    }

    /// Forgets a push subscription id: later notifications for it get `Unsubscribe`.
    pub(crate) fn forget_push(&self, id: &SubscriptionId) {
        lock(&self.push_ids).remove(id.as_str());
    }

    /// The member a push subscription id belongs to, if it is one of ours and current.
    pub(crate) fn push_member(&self, id: &SubscriptionId) -> Option<Arc<Member>> {
        let member = lock(&self.push_ids).get(id.as_str()).cloned()?;
        let current = {
            let state = member.state();
            !state.removed && state.subscription.as_ref() == Some(id)
        };
        current.then_some(member)
    }
}
