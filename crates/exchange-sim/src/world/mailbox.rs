//! Mailboxes: folders, items, unread counts, and the event table subscriptions read.
//!
//! Every change appends the events real Exchange produces to the mailbox's event table, each
//! with a sequence number. A watermark encodes (mailbox, next sequence); the table keeps
//! events for the retention window (30 days by default) and a watermark older than that is
//! invalid.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ews_proto::{ChangedObject, Event, EventType, FolderId, ItemId, Watermark};
use time::OffsetDateTime;

use super::clock::xs_datetime;
use super::message::{Importance, NewMessage};
use super::subscription::Subscription;

/// Most events a mailbox keeps, whatever their age.
const MAX_LOG: usize = 10_000;

pub use super::folders::FolderKind;

/// A message in a mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) folder: FolderKind,
    pub(crate) read: bool,
    pub(crate) subject: String,
    /// The sender's SMTP address.
    pub(crate) from: String,
    /// The sender's display name, when the `From` header carried one.
    pub(crate) from_name: Option<String>,
    /// `Low`, `Normal` or `High`.
    pub(crate) importance: Importance,
    /// Bumped on every change, for the `ChangeKey`.
    pub(crate) version: u32,
    /// When it was delivered (Microsoft Graph's `receivedDateTime`).
    pub(crate) received: OffsetDateTime,
}

/// What an event is about, compactly: ids are built when the event is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    /// An item: its number and version (for the change key).
    Item(u64, u32),
    /// A folder.
    Folder(FolderKind),
}

/// One event in the table, kept small (a mailbox may hold thousands).
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub(crate) seq: u64,
    pub(crate) at: OffsetDateTime,
    pub(crate) kind: Kind,
    pub(crate) object: Object,
    pub(crate) parent: FolderKind,
    /// The old object and its parent, for moves and copies.
    pub(crate) old: Option<(Object, FolderKind)>,
    pub(crate) unread: Option<i32>,
}

/// The kinds of event the simulator produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Created,
    NewMail,
    Modified,
    Moved,
    Deleted,
}

impl Kind {
    pub(crate) fn event_type(self) -> EventType {
        match self {
            Self::Created => EventType::Created,
            Self::NewMail => EventType::NewMail,
            Self::Modified => EventType::Modified,
            Self::Moved => EventType::Moved,
            Self::Deleted => EventType::Deleted,
        }
    }
}

impl LogEntry {
    /// The folders the event concerns, for subscription filters.
    pub(crate) fn folders(&self) -> [Option<FolderKind>; 3] {
        let own = match self.object {
            Object::Folder(folder) => Some(folder),
            Object::Item(..) => None,
        };
        [Some(self.parent), self.old.map(|(_, parent)| parent), own]
    }
}

/// What changes and the table.
#[derive(Debug, Default)]
pub(crate) struct MailboxState {
    pub(crate) items: BTreeMap<u64, Item>,
    next_item: u64,
    log: VecDeque<LogEntry>,
    /// The sequence number of the next event.
    next_seq: u64,
    /// Events below this sequence are gone.
    first_seq: u64,
}

/// A mailbox.
#[derive(Debug)]
pub(crate) struct Mailbox {
    pub(crate) id: u32,
    /// Primary SMTP address as configured.
    pub(crate) address: String,
    /// Index of its server.
    server: AtomicUsize,
    state: Mutex<MailboxState>,
    subscriptions: Mutex<Vec<Weak<Subscription>>>,
    /// Others woken on every change (Microsoft Graph's change notifications).
    observers: Mutex<Vec<Weak<tokio::sync::Notify>>>,
}

/// The `ChangeKey` of every folder: the simulator never changes a folder's own properties.
pub(crate) const FOLDER_CHANGE_KEY: &str = "AQAAAA==";

/// The mailbox number and folder a folder id names, if it is one the simulator handed out.
/// Ids carry their mailbox, as Exchange's do, so a delegate's `FolderId` finds its store.
pub(crate) fn parse_folder_id(id: &str) -> Option<(u32, FolderKind)> {
    let text = String::from_utf8(STANDARD.decode(id.trim()).ok()?).ok()?;
    let (mailbox, code) = text.strip_prefix("AQMkF")?.split_once('.')?;
    Some((
        mailbox.parse().ok()?,
        FolderKind::from_code(code.parse().ok()?)?,
    ))
}

/// The mailbox number and item number an item id names, if it is one the simulator handed
/// out (ids carry their mailbox, as Exchange's do).
pub(crate) fn parse_item_id(id: &str) -> Option<(u32, u64)> {
    let text = String::from_utf8(STANDARD.decode(id.trim()).ok()?).ok()?;
    let (mailbox, item) = text.strip_prefix("AAMkI")?.split_once('.')?;
    Some((mailbox.parse().ok()?, item.parse().ok()?))
}

/// Why a watermark cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatermarkError {
    /// Not one of ours, or of another mailbox.
    Malformed,
    /// Older than the retention window.
    Expired,
}

impl Mailbox {
    pub(crate) fn new(id: u32, address: String, server: usize) -> Self {
        Self {
            id,
            address,
            server: AtomicUsize::new(server),
            state: Mutex::new(MailboxState::default()),
            subscriptions: Mutex::new(Vec::new()),
            observers: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn server(&self) -> usize {
        self.server.load(Ordering::Acquire)
    }

    pub(crate) fn set_server(&self, server: usize) {
        self.server.store(server, Ordering::Release);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MailboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a subscription to be woken when events arrive.
    pub(crate) fn attach(&self, subscription: &Arc<Subscription>) {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.strong_count() > 0);
        subs.push(Arc::downgrade(subscription));
    }

    /// The live subscriptions on this mailbox.
    pub(crate) fn subscriptions(&self) -> Vec<Arc<Subscription>> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|p| p.into_inner());
        subs.retain(|s| s.strong_count() > 0);
        subs.iter().filter_map(Weak::upgrade).collect()
    }

    /// Wakes `observer` on every change of the mailbox, while it lives.
    pub(crate) fn observe(&self, observer: &Arc<tokio::sync::Notify>) {
        let mut observers = self.observers.lock().unwrap_or_else(|p| p.into_inner());
        observers.retain(|o| o.strong_count() > 0);
        observers.push(Arc::downgrade(observer));
    }

    fn wake(&self) {
        for subscription in self.subscriptions() {
            subscription.wake();
        }
        let observers = self.observers.lock().unwrap_or_else(|p| p.into_inner());
        for observer in observers.iter().filter_map(Weak::upgrade) {
            observer.notify_one();
        }
    }

    /// The watermark for "next event is `seq`".
    pub(crate) fn watermark(&self, seq: u64) -> Watermark {
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&self.id.to_le_bytes());
        bytes[4..].copy_from_slice(&seq.to_le_bytes());
        Watermark::new(STANDARD.encode(bytes))
    }

    /// The sequence a watermark points at, if it is this mailbox's and still in the table.
    pub(crate) fn resolve_watermark(
        &self,
        watermark: &Watermark,
        retention_start: OffsetDateTime,
    ) -> Result<u64, WatermarkError> {
        let bytes = STANDARD
            .decode(watermark.as_str().trim())
            .map_err(|_| WatermarkError::Malformed)?;
        let bytes: [u8; 12] = bytes.try_into().map_err(|_| WatermarkError::Malformed)?;
        let (id, seq) = bytes.split_at(4);
        let id = u32::from_le_bytes(id.try_into().map_err(|_| WatermarkError::Malformed)?);
        let seq = u64::from_le_bytes(seq.try_into().map_err(|_| WatermarkError::Malformed)?);
        if id != self.id {
            return Err(WatermarkError::Malformed);
        }
        let mut state = self.lock();
        state.prune(retention_start);
        if seq > state.next_seq {
            return Err(WatermarkError::Malformed);
        }
        if seq < state.first_seq {
            return Err(WatermarkError::Expired);
        }
        Ok(seq)
    }

    pub(crate) fn folder_id(&self, folder: FolderKind) -> FolderId {
        FolderId::new(STANDARD.encode(format!("AQMkF{}.{}", self.id, folder.code())))
            .with_change_key(FOLDER_CHANGE_KEY)
    }

    pub(crate) fn item_id(&self, item: u64, version: u32) -> ItemId {
        ItemId::new(STANDARD.encode(format!("AAMkI{}.{item}", self.id)))
            .with_change_key(STANDARD.encode(format!("CQ{version}")))
    }

    /// The item number an `ItemId` names, if it is one of this mailbox's.
    pub(crate) fn parse_item_id(&self, id: &str) -> Option<u64> {
        let (mailbox, item) = parse_item_id(id)?;
        (mailbox == self.id).then_some(item)
    }

    /// The folder an item is in, and its version, if it exists.
    pub(crate) fn item_place(&self, number: u64) -> Option<(FolderKind, u32)> {
        self.lock()
            .items
            .get(&number)
            .map(|item| (item.folder, item.version))
    }

    /// A copy of an item, if it exists (for answers written without holding the lock).
    pub(crate) fn item(&self, number: u64) -> Option<Item> {
        self.lock().items.get(&number).cloned()
    }

    /// Unread messages in a folder.
    pub(crate) fn unread(&self, folder: FolderKind) -> i32 {
        count(&self.lock(), folder, true)
    }

    /// Delivers a new message of `Normal` importance from `from` (no display name) to the
    /// inbox; see [`Self::deliver_message`].
    pub(crate) fn deliver(&self, now: OffsetDateTime, subject: &str, from: &str) -> u64 {
        self.deliver_message(now, &NewMessage::new(subject, from))
    }

    /// Delivers a new message to the inbox (or the folder an inbox rule files it in):
    /// `CreatedEvent`, `NewMailEvent`, and the folder's `ModifiedEvent` with its unread
    /// count. Returns the item number.
    pub(crate) fn deliver_message(&self, now: OffsetDateTime, message: &NewMessage) -> u64 {
        let number = {
            let mut state = self.lock();
            let number = state.next_item;
            state.next_item += 1;
            state.items.insert(
                number,
                Item {
                    folder: message.folder(),
                    read: false,
                    subject: message.subject().to_owned(),
                    from: message.from().to_owned(),
                    from_name: message.from_name().map(str::to_owned),
                    importance: message.importance(),
                    version: 0,
                    received: now,
                },
            );
            let inbox = message.folder();
            push(
                &mut state,
                now,
                Kind::Created,
                Object::Item(number, 0),
                inbox,
                None,
                None,
            );
            push(
                &mut state,
                now,
                Kind::NewMail,
                Object::Item(number, 0),
                inbox,
                None,
                None,
            );
            folder_modified(&mut state, now, inbox);
            number
        };
        self.wake();
        number
    }

    /// Marks a message read or unread: the item's and its folder's `ModifiedEvent`.
    pub(crate) fn set_read(&self, now: OffsetDateTime, number: u64, read: bool) -> Option<()> {
        {
            let mut state = self.lock();
            let item = state.items.get_mut(&number)?;
            if item.read == read {
                return Some(());
            }
            item.read = read;
            item.version += 1;
            let (folder, version) = (item.folder, item.version);
            push(
                &mut state,
                now,
                Kind::Modified,
                Object::Item(number, version),
                folder,
                None,
                None,
            );
            folder_modified(&mut state, now, folder);
        }
        self.wake();
        Some(())
    }

    /// Moves a message: `MovedEvent` (new id, old id, both parents) and both folders'
    /// `ModifiedEvent` with their unread counts. A moved item gets a new id, as in Exchange
    /// ([MovedEvent](https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/movedevent):
    /// `ItemId`, `ParentFolderId`, `OldItemId`, `OldParentFolderId`;
    /// [Notification subscriptions, mailbox events](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange)).
    /// A folder's `ModifiedEvent` carries the folder's own parent as `ParentFolderId`.
    pub(crate) fn move_item(
        &self,
        now: OffsetDateTime,
        number: u64,
        to: FolderKind,
    ) -> Option<u64> {
        let new_number = {
            let mut state = self.lock();
            let item = state.items.remove(&number)?;
            let from = item.folder;
            if from == to {
                state.items.insert(number, item);
                return Some(number);
            }
            let old = Object::Item(number, item.version);
            let new_number = state.next_item;
            state.next_item += 1;
            state.items.insert(
                new_number,
                Item {
                    folder: to,
                    version: 0,
                    ..item
                },
            );
            push(
                &mut state,
                now,
                Kind::Moved,
                Object::Item(new_number, 0),
                to,
                Some((old, from)),
                None,
            );
            folder_modified(&mut state, now, from);
            folder_modified(&mut state, now, to);
            new_number
        };
        self.wake();
        Some(new_number)
    }

    /// Deletes a message for good: `DeletedEvent` and its folder's `ModifiedEvent`.
    pub(crate) fn delete_item(&self, now: OffsetDateTime, number: u64) -> Option<()> {
        {
            let mut state = self.lock();
            let item = state.items.remove(&number)?;
            push(
                &mut state,
                now,
                Kind::Deleted,
                Object::Item(number, item.version),
                item.folder,
                None,
                None,
            );
            folder_modified(&mut state, now, item.folder);
        }
        self.wake();
        Some(())
    }

    /// The EWS event for a table entry, with identifiers and time stamp.
    pub(crate) fn event(&self, entry: &LogEntry) -> Event {
        let mut event = Event::new(entry.kind.event_type());
        event.timestamp = Some(xs_datetime(entry.at));
        event.object = Some(self.changed(entry.object));
        event.parent_folder_id = Some(self.folder_id(entry.parent));
        if let Some((old, parent)) = entry.old {
            event.old_object = Some(self.changed(old));
            event.old_parent_folder_id = Some(self.folder_id(parent));
        }
        event.unread_count = entry.unread;
        event
    }

    fn changed(&self, object: Object) -> ChangedObject {
        match object {
            Object::Item(number, version) => ChangedObject::Item(self.item_id(number, version)),
            Object::Folder(folder) => ChangedObject::Folder(self.folder_id(folder)),
        }
    }
}

fn folder_modified(state: &mut MailboxState, now: OffsetDateTime, folder: FolderKind) {
    let unread = count(state, folder, true);
    push(
        state,
        now,
        Kind::Modified,
        Object::Folder(folder),
        folder.parent().unwrap_or(FolderKind::Root),
        None,
        Some(unread),
    );
}

fn push(
    state: &mut MailboxState,
    now: OffsetDateTime,
    kind: Kind,
    object: Object,
    parent: FolderKind,
    old: Option<(Object, FolderKind)>,
    unread: Option<i32>,
) {
    let seq = state.next_seq;
    state.next_seq += 1;
    state.log.push_back(LogEntry {
        seq,
        at: now,
        kind,
        object,
        parent,
        old,
        unread,
    });
    if state.log.len() > MAX_LOG {
        state.log.pop_front();
        state.first_seq = state.log.front().map_or(state.next_seq, |e| e.seq);
    }
}

impl MailboxState {
    /// Drops events older than `retention_start`.
    pub(crate) fn prune(&mut self, retention_start: OffsetDateTime) {
        while self.log.front().is_some_and(|e| e.at < retention_start) {
            self.log.pop_front();
        }
        self.first_seq = self.log.front().map_or(self.next_seq, |e| e.seq);
    }

    /// The sequence of the next event.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest sequence still in the table.
    pub(crate) fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// Events from `seq` on.
    pub(crate) fn since(&self, seq: u64) -> impl Iterator<Item = &LogEntry> {
        let skip = usize::try_from(seq.saturating_sub(self.first_seq)).unwrap_or(usize::MAX);
        self.log.iter().skip(skip)
    }
}

fn count(state: &MailboxState, folder: FolderKind, unread: bool) -> i32 {
    let n = state
        .items
        .values()
        .filter(|i| i.folder == folder && (!unread || !i.read))
        .count();
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Total messages in a folder.
pub(crate) fn total(state: &MailboxState, folder: FolderKind) -> i32 {
    count(state, folder, false)
}

/// Unread messages in a folder.
pub(crate) fn unread(state: &MailboxState, folder: FolderKind) -> i32 {
    count(state, folder, true)
}
