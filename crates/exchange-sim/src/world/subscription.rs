//! Subscriptions: what a client asked to watch, and where it has read up to.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ews_proto::{Event, EventType, Notification, ResponseCode, SubscriptionId};
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::mailbox::{FolderKind, LogEntry, Mailbox};

/// Most events in one notification, as Exchange.
pub(crate) const MAX_EVENTS: usize = 50;

/// The kind of a subscription with its settings.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    Pull {
        timeout: Duration,
    },
    Push {
        url: String,
        status_frequency: Duration,
    },
    Streaming,
}

/// A subscription on one back end.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) id: SubscriptionId,
    pub(crate) mailbox: Arc<Mailbox>,
    /// (server, backend) that holds it.
    pub(crate) home: (usize, usize),
    /// Principal key of the creator: only it may read the subscription.
    pub(crate) owner: String,
    pub(crate) kind: Kind,
    folders: Vec<FolderKind>,
    all_folders: bool,
    event_types: Vec<EventType>,
    /// The sequence of the next event to deliver.
    cursor: AtomicU64,
    last_access: Mutex<Instant>,
    waker: Mutex<Option<Arc<Notify>>>,
    /// The streaming connection that holds the subscription (0: none). A subscription
    /// streams on one connection at a time: the newest.
    stream: AtomicU64,
    /// Set when the subscription can no longer deliver (mailbox moved, events lost).
    failure: Mutex<Option<ResponseCode>>,
    /// Cancelled when the subscription ends (push tasks stop).
    pub(crate) ended: CancellationToken,
}

/// A batch of events for one notification.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) notification: Notification,
    /// Whether at least one real event (not a status event) is in it.
    pub(crate) has_events: bool,
    /// Cursor after the batch, to commit once delivered.
    pub(crate) next_cursor: u64,
}

impl Subscription {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: SubscriptionId,
        mailbox: Arc<Mailbox>,
        home: (usize, usize),
        owner: String,
        kind: Kind,
        folders: Vec<FolderKind>,
        all_folders: bool,
        event_types: Vec<EventType>,
        cursor: u64,
    ) -> Self {
        Self {
            id,
            mailbox,
            home,
            owner,
            kind,
            folders,
            all_folders,
            event_types,
            cursor: AtomicU64::new(cursor),
            last_access: Mutex::new(Instant::now()),
            waker: Mutex::new(None),
            stream: AtomicU64::new(0),
            failure: Mutex::new(None),
            ended: CancellationToken::new(),
        }
    }

    /// Wakes whoever waits for this subscription's events.
    pub(crate) fn wake(&self) {
        if let Some(waker) = self
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            waker.notify_one();
        }
    }

    /// Who to wake when events arrive.
    pub(crate) fn set_waker(&self, waker: Option<Arc<Notify>>) {
        *self.waker.lock().unwrap_or_else(|p| p.into_inner()) = waker;
    }

    /// Moves the subscription to streaming connection `serial`, waking the connection that
    /// held it so that it lets go.
    pub(crate) fn attach(&self, serial: u64, waker: Arc<Notify>) {
        let mut slot = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(previous) = slot.replace(waker) {
            previous.notify_one();
        }
        self.stream.store(serial, Ordering::SeqCst);
    }

    /// Whether streaming connection `serial` holds the subscription.
    pub(crate) fn held_by(&self, serial: u64) -> bool {
        self.stream.load(Ordering::SeqCst) == serial
    }

    /// Streaming connection `serial` ends: the subscription is no longer streamed, unless a
    /// newer connection holds it.
    pub(crate) fn detach(&self, serial: u64) {
        let mut slot = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .stream
            .compare_exchange(serial, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            *slot = None;
        }
    }

    pub(crate) fn touch(&self) {
        *self.last_access.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    pub(crate) fn idle_for(&self) -> Duration {
        self.last_access
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
    }

    pub(crate) fn fail(&self, code: ResponseCode) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(code);
        self.wake();
    }

    pub(crate) fn failure(&self) -> Option<ResponseCode> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn cursor(&self) -> u64 {
        self.cursor.load(Ordering::Acquire)
    }

    pub(crate) fn set_cursor(&self, cursor: u64) {
        self.cursor.store(cursor, Ordering::Release);
    }

    fn wants(&self, entry: &LogEntry) -> bool {
        let kind_ok = self.event_types.contains(&entry.kind.event_type());
        let folder_ok = self.all_folders
            || entry
                .folders()
                .iter()
                .flatten()
                .any(|f| self.folders.contains(f));
        kind_ok && folder_ok
    }

    /// The events after `from` this subscription wants, at most [`MAX_EVENTS`], as a
    /// notification with watermarks. With `status_if_empty`, an empty batch carries a
    /// `StatusEvent` (pull and push do; streaming sends nothing).
    pub(crate) fn batch(
        &self,
        from: u64,
        retention_start: OffsetDateTime,
        with_watermarks: bool,
        status_if_empty: bool,
    ) -> Result<Batch, ResponseCode> {
        if let Some(code) = self.failure() {
            return Err(code);
        }
        let mut state = self.mailbox.lock();
        state.prune(retention_start);
        if from < state.first_seq() {
            return Err(ResponseCode::ErrorMissedNotificationEvents);
        }
        let mut notification = Notification::new(self.id.clone());
        if with_watermarks {
            notification.previous_watermark = Some(self.mailbox.watermark(from));
        }
        let mut cursor = from;
        let mut more = false;
        for entry in state.since(from) {
            if notification.events.len() == MAX_EVENTS {
                more = true;
                break;
            }
            cursor = entry.seq + 1;
            if self.wants(entry) {
                let mut event = self.mailbox.event(entry);
                if with_watermarks {
                    event.watermark = Some(self.mailbox.watermark(cursor));
                }
                notification.events.push(event);
            }
        }
        if !more {
            cursor = state.next_seq();
        }
        drop(state);
        let has_events = !notification.events.is_empty();
        if !has_events && status_if_empty {
            let watermark = with_watermarks.then(|| self.mailbox.watermark(cursor));
            notification.events.push(Event::status(watermark));
        }
        if with_watermarks {
            notification.more_events = Some(more);
        }
        Ok(Batch {
            notification,
            has_events,
            next_cursor: cursor,
        })
    }

    /// Whether events this subscription wants are waiting.
    pub(crate) fn has_pending(&self) -> bool {
        let from = self.cursor();
        let state = self.mailbox.lock();
        state.since(from).any(|entry| self.wants(entry))
    }
}
