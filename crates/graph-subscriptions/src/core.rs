//! What the watcher's tasks share: the mailboxes, the event channel, the client, the
//! spool, and the counters; delivering events with the state that follows them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ews_proto::{ChangedObject, Event, EventType, FolderId, ItemId, ResponseCode, Watermark};
use mailbox_watch::{MailboxEvent, WatchEvent, WatermarkStore};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::client::{GraphClient, Verb};
use crate::error::GraphError;
use crate::folders::FolderName;
use crate::member::Member;
use crate::peers::Peers;
use crate::secret::StateDigest;
use crate::settings::GraphSettings;
use crate::spool::{Spool, SpoolRecord};
use crate::wire::folder::MailFolder;

/// Counts for status and tests.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) events: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) subscribe_requests: AtomicU64,
    pub(crate) losses: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) throttled: AtomicU64,
    pub(crate) unknown: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) accepted: AtomicU64,
    pub(crate) validations: AtomicU64,
    pub(crate) renewals: AtomicU64,
    pub(crate) reauthorizations: AtomicU64,
    pub(crate) delta_rounds: AtomicU64,
    pub(crate) busy: AtomicU64,
    pub(crate) held: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) taken: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// A subscription this watcher holds: whose it is.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The digest of its `clientState`.
    pub(crate) digest: StateDigest,
    pub(crate) member: Arc<Member>,
    /// The further folder it is on (`None`: the inbox).
    pub(crate) folder: Option<FolderName>,
}

/// Mailboxes by address and by subscription.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub(crate) members: HashMap<String, Arc<Member>>,
    /// Subscription id → mailbox and folder, with the digest of its `clientState`.
    pub(crate) subscriptions: HashMap<String, Held>,
    /// Subscriptions being created, by the digest of their `clientState`: mailbox and folder.
    pub(crate) pending: HashMap<StateDigest, (Arc<Member>, Option<FolderName>)>,
}

/// The shared state.
pub(crate) struct Core {
    pub(crate) settings: GraphSettings,
    pub(crate) client: GraphClient,
    pub(crate) store: Arc<dyn WatermarkStore>,
    pub(crate) spool: Arc<dyn Spool>,
    /// The other watchers behind the same notification URL, if any ([`crate::peers`]).
    pub(crate) peers: Option<Arc<dyn Peers>>,
    pub(crate) events: mpsc::Sender<WatchEvent>,
    pub(crate) queue: mpsc::Sender<SpoolRecord>,
    pub(crate) registry: Mutex<Registry>,
    /// Spool records found at start, by mailbox key, until the mailbox is watched.
    pub(crate) replay: Mutex<HashMap<String, Vec<SpoolRecord>>>,
    pub(crate) next_seq: AtomicU64,
    pub(crate) counters: Counters,
    /// Places for subscription creations.
    pub(crate) subscribing: Semaphore,
    /// Mailboxes whose saved state is being read.
    pub(crate) loading: AtomicUsize,
    pub(crate) started: Instant,
    /// Subscriptions the last orphan sweep found held by no mailbox ([`crate::orphans`]).
    pub(crate) suspects: Mutex<HashSet<String>>,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A new-mail event for a message (its EWS id) received at `at`; one of a further folder is
/// marked so (`in_further_folder`).
pub(crate) fn new_mail(
    mailbox: &Arc<str>,
    ews_id: &str,
    at: time::OffsetDateTime,
    further: bool,
) -> WatchEvent {
    let mut event = Event::new(EventType::NewMail);
    event.object = Some(ChangedObject::Item(ItemId::new(ews_id)));
    event.timestamp = Some(crate::wire::format_datetime(at));
    let event = MailboxEvent::new(Arc::clone(mailbox), event);
    WatchEvent::Mail(if further {
        event.in_further_folder()
    } else {
        event
    })
}

/// The inbox's unread count as a modified-folder event, as EWS reports it.
pub(crate) fn folder_count(mailbox: &Arc<str>, folder: &MailFolder, count: u32) -> WatchEvent {
    let mut event = Event::new(EventType::Modified);
    event.object = Some(ChangedObject::Folder(FolderId::new(
        crate::ids::rest_to_ews(&folder.id),
    )));
    event.unread_count = Some(i32::try_from(count).unwrap_or(i32::MAX));
    WatchEvent::Mail(MailboxEvent::new(Arc::clone(mailbox), event))
}

impl Core {
    pub(crate) fn member(&self, key: &str) -> Option<Arc<Member>> {
        lock(&self.registry).members.get(key).cloned()
    }

    /// Sends one event; false when the consumer is gone.
    pub(crate) async fn send(&self, event: WatchEvent) -> bool {
        if let WatchEvent::Mail(_) = &event {
            Counters::add(&self.counters.events, 1);
        }
        self.events.send(event).await.is_ok()
    }

    /// Sends `events`, then saves `member`'s state (as a checkpoint after them, or in the
    /// store). Call with `member.emit` held since the state changed.
    pub(crate) async fn deliver(&self, member: &Member, events: Vec<WatchEvent>) {
        for event in events {
            if !self.send(event).await {
                return;
            }
        }
        let saved = member.state().saved().encode();
        if self.settings.consumer_saves_state {
            let checkpoint = WatchEvent::Checkpoint {
                mailbox: Arc::clone(&member.mailbox),
                watermark: Watermark::new(saved),
            };
            let _ = self.events.send(checkpoint).await;
        } else if let Err(error) = self
            .store
            .save(&member.mailbox, &Watermark::new(saved))
            .await
        {
            tracing::warn!(mailbox = %member.mailbox, %error, "Graph watcher: state not saved");
        }
    }

    /// Tells the consumer Graph asked to wait (best effort: never blocks).
    pub(crate) fn throttled(&self, member: &Member, wait: Duration, error: &GraphError) {
        Counters::add(&self.counters.throttled, 1);
        let code = ResponseCode::parse(error.code().unwrap_or("TooManyRequests"));
        let _ = self.events.try_send(WatchEvent::Throttled {
            mailbox: Arc::clone(&member.mailbox),
            wait,
            code,
        });
    }

    /// A request on `member`'s mailbox, within its places, telling of throttling.
    pub(crate) async fn call(
        &self,
        member: &Member,
        verb: Verb,
        url: url::Url,
    ) -> Result<crate::client::Answer, GraphError> {
        let on_throttle = |wait: Duration, error: &GraphError| self.throttled(member, wait, error);
        self.client
            .call(verb, url, Some(&member.permits), &on_throttle)
            .await
    }

    /// The inbox and its unread count, asked once (no waiting on throttling: the consumer
    /// has other ways to the badge).
    pub(crate) async fn inbox(&self, member: &Member) -> Option<(MailFolder, u32)> {
        let mut url = self
            .client
            .endpoint(&["users", &member.mailbox, "mailFolders", "inbox"])
            .ok()?;
        url.set_query(Some("$select=unreadItemCount"));
        let answer = self
            .client
            .call_once(Verb::Get, url, Some(&member.permits))
            .await;
        match answer.map(|a| MailFolder::parse(&a.body)) {
            Ok(Ok(folder)) => {
                let count = folder.unread_item_count?;
                Some((folder, count))
            }
            Ok(Err(error)) => {
                tracing::info!(mailbox = %member.mailbox, %error, "Graph: unreadable inbox");
                None
            }
            Err(error) => {
                tracing::info!(mailbox = %member.mailbox, %error, "Graph: unread count not available");
                None
            }
        }
    }

    /// The next spool sequence numbers.
    pub(crate) fn sequence(&self, n: usize) -> u64 {
        self.next_seq
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::SeqCst)
    }

    /// Whether notifications for unknown subscriptions may be for mailboxes not loaded yet.
    pub(crate) fn warming_up(&self) -> bool {
        self.started.elapsed() < self.settings.startup_grace
            || self.loading.load(Ordering::SeqCst) > 0
    }
}
