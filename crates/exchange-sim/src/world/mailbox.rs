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
use super::subscription::Subscription;

/// Most events a mailbox keeps, whatever their age.
const MAX_LOG: usize = 10_000;

/// The folders the simulator models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FolderKind {
    /// `msgfolderroot`, the parent of the mail folders.
    Root,
    /// `inbox`.
    Inbox,
    /// `deleteditems`.
    DeletedItems,
    /// `junkemail`.
    JunkEmail,
    /// `archive` (a user folder under the root).
    Archive,
}

impl FolderKind {
    /// Every folder.
    pub const ALL: [Self; 5] = [Self::Root, Self::Inbox, Self::DeletedItems, Self::JunkEmail, Self::Archive];

    /// The `DistinguishedFolderId` name, when the folder has one.
    pub fn distinguished_name(self) -> Option<&'static str> {
        match self {
            Self::Root => Some("msgfolderroot"),
            Self::Inbox => Some("inbox"),
            Self::DeletedItems => Some("deleteditems"),
            Self::JunkEmail => Some("junkemail"),
            Self::Archive => None,
        }
    }

    /// The folder's display name.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Root => "Top of Information Store",
            Self::Inbox => "Inbox",
            Self::DeletedItems => "Deleted Items",
            Self::JunkEmail => "Junk Email",
            Self::Archive => "Archive",
        }
    }

    /// The folder for a `DistinguishedFolderId` name.
    pub fn from_distinguished(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.distinguished_name() == Some(name))
    }

    fn code(self) -> u8 {
        match self {
            Self::Root => 0,
            Self::Inbox => 1,
            Self::DeletedItems => 2,
            Self::JunkEmail => 3,
            Self::Archive => 4,
        }
    }
}

/// A message in a mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Item {
    pub(crate) folder: FolderKind,
    pub(crate) read: bool,
    pub(crate) subject: String,
    pub(crate) from: String,
    /// Bumped on every change, for the `ChangeKey`.
    pub(crate) version: u32,
}

/// One event in the table.
#[derive(Debug, Clone)]
pub(crate) struct LogEntry {
    pub(crate) seq: u64,
    pub(crate) at: OffsetDateTime,
    pub(crate) event: Event,
    /// The folders the event concerns, for subscription filters.
    pub(crate) folders: [Option<FolderKind>; 3],
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

    fn wake(&self) {
        for subscription in self.subscriptions() {
            subscription.wake();
        }
    }

    /// The watermark for "after everything so far".
    pub(crate) fn current_watermark(&self) -> Watermark {
        let seq = self.lock().next_seq;
        self.watermark(seq)
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
            .with_change_key("AQAAAA==")
    }

    pub(crate) fn item_id(&self, item: u64, version: u32) -> ItemId {
        ItemId::new(STANDARD.encode(format!("AAMkI{}.{item}", self.id)))
            .with_change_key(STANDARD.encode(format!("CQ{version}")))
    }

    /// The item number an `ItemId` names, if it is one of this mailbox's.
    pub(crate) fn parse_item_id(&self, id: &str) -> Option<u64> {
        let text = String::from_utf8(STANDARD.decode(id).ok()?).ok()?;
        let (mailbox, item) = text.strip_prefix("AAMkI")?.split_once('.')?;
        (mailbox.parse::<u32>().ok()? == self.id).then_some(())?;
        item.parse().ok()
    }

    /// Unread messages in a folder.
    pub(crate) fn unread(&self, folder: FolderKind) -> i32 {
        count(&self.lock(), folder, true)
    }

    /// Delivers a new message to the inbox: `CreatedEvent`, `NewMailEvent`, and the inbox's
    /// `ModifiedEvent` with its unread count. Returns the item number.
    pub(crate) fn deliver(&self, now: OffsetDateTime, subject: &str, from: &str) -> u64 {
        let number = {
            let mut state = self.lock();
            let number = state.next_item;
            state.next_item += 1;
            state.items.insert(
                number,
                Item {
                    folder: FolderKind::Inbox,
                    read: false,
                    subject: subject.to_owned(),
                    from: from.to_owned(),
                    version: 0,
                },
            );
            let item = self.item_id(number, 0);
            let inbox = FolderKind::Inbox;
            self.push(&mut state, now, item_event(EventType::Created, &item, self.folder_id(inbox)), [Some(inbox), None, None]);
            self.push(&mut state, now, item_event(EventType::NewMail, &item, self.folder_id(inbox)), [Some(inbox), None, None]);
            self.folder_modified(&mut state, now, inbox);
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
            let id = self.item_id(number, version);
            self.push(&mut state, now, item_event(EventType::Modified, &id, self.folder_id(folder)), [Some(folder), None, None]);
            self.folder_modified(&mut state, now, folder);
        }
        self.wake();
        Some(())
    }

    /// Moves a message: `MovedEvent` (new id, old id, both parents) and both folders'
    /// `ModifiedEvent`.
    pub(crate) fn move_item(&self, now: OffsetDateTime, number: u64, to: FolderKind) -> Option<u64> {
        let new_number = {
            let mut state = self.lock();
            let item = state.items.remove(&number)?;
            let from = item.folder;
            if from == to {
                state.items.insert(number, item);
                return Some(number);
            }
            let old_id = self.item_id(number, item.version);
            let new_number = state.next_item;
            state.next_item += 1;
            let new_id = self.item_id(new_number, 0);
            state.items.insert(new_number, Item { folder: to, version: 0, ..item });
            let mut event = item_event(EventType::Moved, &new_id, self.folder_id(to));
            event.old_object = Some(ChangedObject::Item(old_id));
            event.old_parent_folder_id = Some(self.folder_id(from));
            self.push(&mut state, now, event, [Some(to), Some(from), None]);
            self.folder_modified(&mut state, now, from);
            self.folder_modified(&mut state, now, to);
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
            let id = self.item_id(number, item.version);
            self.push(&mut state, now, item_event(EventType::Deleted, &id, self.folder_id(item.folder)), [Some(item.folder), None, None]);
            self.folder_modified(&mut state, now, item.folder);
        }
        self.wake();
        Some(())
    }

    fn folder_modified(&self, state: &mut MailboxState, now: OffsetDateTime, folder: FolderKind) {
        let mut event = Event::new(EventType::Modified);
        event.object = Some(ChangedObject::Folder(self.folder_id(folder)));
        event.parent_folder_id = Some(self.folder_id(FolderKind::Root));
        event.unread_count = Some(count(state, folder, true));
        self.push(state, now, event, [Some(folder), None, None]);
    }

    fn push(&self, state: &mut MailboxState, now: OffsetDateTime, mut event: Event, folders: [Option<FolderKind>; 3]) {
        event.timestamp = Some(xs_datetime(now));
        let seq = state.next_seq;
        state.next_seq += 1;
        state.log.push_back(LogEntry {
            seq,
            at: now,
            event,
            folders,
        });
        if state.log.len() > MAX_LOG {
            state.log.pop_front();
            state.first_seq = state.log.front().map_or(state.next_seq, |e| e.seq);
        }
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

fn item_event(kind: EventType, item: &ItemId, parent: FolderId) -> Event {
    let mut event = Event::new(kind);
    event.object = Some(ChangedObject::Item(item.clone()));
    event.parent_folder_id = Some(parent);
    event
}

/// Total messages in a folder.
pub(crate) fn total(state: &MailboxState, folder: FolderKind) -> i32 {
    count(state, folder, false)
}
