//! One watched mailbox: its subscriptions (the inbox's and one per further folder), each
//! with its delta link and the work due on it, and the messages already reported. Its task (in `manage`) does the work; the processor and the sweeper set
//! flags and kick it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use crate::folders::FolderName;
use crate::persist::{Saved, SavedFolder, SavedSubscription, Todo};
use crate::spool::SpoolRecord;

/// Most message digests remembered, to report each message once.
const SEEN: usize = 512;

/// Where a mailbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Its saved state is being read.
    Loading,
    /// Waiting for its first subscription.
    Pending,
    /// Subscribed.
    Subscribed,
    /// The subscription is gone; a new one is being made.
    Lost,
    /// It cannot be watched now (the task tries again later).
    Failed,
}

/// What a mailbox's task is asked to do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Work {
    /// Check that the saved subscription still exists.
    pub(crate) verify: bool,
    pub(crate) create: bool,
    pub(crate) reauthorize: bool,
    pub(crate) renew: bool,
    pub(crate) resync: bool,
}

impl Work {
    pub(crate) fn is_empty(self) -> bool {
        self == Self::default()
    }

    pub(crate) fn merge(&mut self, other: Self) {
        self.verify |= other.verify;
        self.create |= other.create;
        self.reauthorize |= other.reauthorize;
        self.renew |= other.renew;
        self.resync |= other.resync;
    }
}

/// One subscription of a mailbox (the inbox's, or a further folder's) and what goes with it:
/// its delta link, the work due on it, and its catch-up bookkeeping.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) subscription: Option<SavedSubscription>,
    pub(crate) delta_link: Option<String>,
    /// When the round that gave `delta_link` began, by the watcher's clock.
    pub(crate) round_at: Option<OffsetDateTime>,
    pub(crate) work: Work,
    /// New-mail events reported by notifications since the last delta round.
    pub(crate) reported_since_round: u32,
    pub(crate) last_round: Instant,
    /// Since when Graph refused this (further) folder's work, and the work: it is left out
    /// and tried again after `catch_up_interval`.
    pub(crate) left_out: Option<(Instant, Work)>,
}

impl Default for Slot {
    fn default() -> Self {
        Self {
            subscription: None,
            delta_link: None,
            round_at: None,
            work: Work::default(),
            reported_since_round: 0,
            last_round: Instant::now(),
            left_out: None,
        }
    }
}

impl Slot {
    fn todo(&self) -> Todo {
        Todo {
            create: self.work.create,
            reauthorize: self.work.reauthorize,
            resync: self.work.resync,
        }
    }

    /// Takes over what was saved of this subscription (at start).
    fn restore(
        &mut self,
        subscription: Option<SavedSubscription>,
        delta_link: Option<String>,
        round_at: Option<OffsetDateTime>,
        todo: Todo,
        now: OffsetDateTime,
    ) {
        self.delta_link = delta_link;
        self.round_at = round_at;
        self.work.reauthorize |= todo.reauthorize;
        self.work.resync |= todo.resync;
        match subscription {
            // A minute of slack: a subscription about to expire is made anew.
            Some(subscription) if subscription.expires > now + time::Duration::minutes(1) => {
                self.subscription = Some(subscription);
                self.work.verify = true;
                self.work.create |= todo.create;
            }
            Some(_) => {
                // Expired while we were away: anything since the delta link is recovered.
                self.work.create = true;
                self.work.resync |= self.delta_link.is_some();
            }
            None => self.work.create = true,
        }
    }
}

/// Most subscription ids remembered after they were replaced or deleted, so that their late
/// notifications are still placed in their folder.
const FORMER: usize = 64;

/// A mailbox's changing state.
#[derive(Debug)]
pub(crate) struct MemberState {
    pub(crate) phase: Phase,
    /// The inbox's subscription.
    pub(crate) inbox: Slot,
    /// The further folders the target names, each with its subscription, in the order given.
    pub(crate) further: Vec<(FolderName, Slot)>,
    /// Subscriptions of folders the target no longer names, to delete.
    pub(crate) retired: Vec<String>,
    /// Subscriptions replaced or deleted lately, with their folder (`None`: the inbox).
    former: VecDeque<(String, Option<FolderName>)>,
    /// The last spool record whose events were delivered.
    pub(crate) spool_seq: u64,
    seen: VecDeque<u64>,
    seen_set: HashSet<u64>,
    pub(crate) loaded: bool,
    pub(crate) removed: bool,
    /// Records that arrived before the state was loaded.
    pub(crate) deferred: Vec<SpoolRecord>,
}

impl MemberState {
    /// Whether `digest` (of a message id) is reported for the first time; remembers it.
    pub(crate) fn first_sight(&mut self, digest: u64) -> bool {
        if !self.seen_set.insert(digest) {
            return false;
        }
        self.seen.push_back(digest);
        if self.seen.len() > SEEN
            && let Some(old) = self.seen.pop_front()
        {
            self.seen_set.remove(&old);
        }
        true
    }

    /// The inbox's slot (`None`) or a further folder's; `None` for a folder not watched.
    pub(crate) fn slot(&self, folder: Option<&FolderName>) -> Option<&Slot> {
        match folder {
            None => Some(&self.inbox),
            Some(name) => self.further.iter().find(|(f, _)| f == name).map(|(_, s)| s),
        }
    }

    /// The inbox's slot (`None`) or a further folder's, to change.
    pub(crate) fn slot_mut(&mut self, folder: Option<&FolderName>) -> Option<&mut Slot> {
        match folder {
            None => Some(&mut self.inbox),
            Some(name) => self
                .further
                .iter_mut()
                .find(|(f, _)| f == name)
                .map(|(_, s)| s),
        }
    }

    /// Every slot with its folder, the inbox's first.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (Option<&FolderName>, &Slot)> {
        std::iter::once((None, &self.inbox)).chain(self.further.iter().map(|(f, s)| (Some(f), s)))
    }

    /// Whose subscription `id` is: `Some(None)` the inbox's, `Some(Some(folder))` a further
    /// folder's (now, or lately), `None` unknown.
    pub(crate) fn folder_of(&self, id: &str) -> Option<Option<FolderName>> {
        self.slots()
            .find(|(_, slot)| slot.subscription.as_ref().is_some_and(|s| s.id == id))
            .map(|(folder, _)| folder.cloned())
            .or_else(|| {
                self.former
                    .iter()
                    .find(|(former, _)| former == id)
                    .map(|(_, folder)| folder.clone())
            })
    }

    /// Remembers that subscription `id` of `folder` was replaced or deleted.
    pub(crate) fn remember_former(&mut self, id: String, folder: Option<FolderName>) {
        self.former.push_back((id, folder));
        if self.former.len() > FORMER {
            self.former.pop_front();
        }
    }

    /// Takes the work due: per slot (the inbox's first), and the subscriptions to delete.
    pub(crate) fn take_work(&mut self) -> (Vec<(Option<FolderName>, Work)>, Vec<String>) {
        let mut jobs = Vec::new();
        let inbox = std::mem::take(&mut self.inbox.work);
        if !inbox.is_empty() {
            jobs.push((None, inbox));
        }
        for (folder, slot) in &mut self.further {
            let work = std::mem::take(&mut slot.work);
            if !work.is_empty() {
                jobs.push((Some(folder.clone()), work));
            }
        }
        (jobs, std::mem::take(&mut self.retired))
    }

    /// Whether any work is due.
    pub(crate) fn has_work(&self) -> bool {
        !self.retired.is_empty() || self.slots().any(|(_, s)| !s.work.is_empty())
    }

    /// Follows a target's new set of further folders: new ones get a slot (and a creation
    /// once the state is loaded), dropped ones' subscriptions are retired. Returns the ids
    /// retired.
    pub(crate) fn set_further(&mut self, folders: &[FolderName]) -> Vec<String> {
        let mut retired = Vec::new();
        let old = std::mem::take(&mut self.further);
        for (folder, slot) in old {
            if folders.contains(&folder) {
                self.further.push((folder, slot));
            } else if let Some(subscription) = slot.subscription {
                retired.push(subscription.id.clone());
                self.remember_former(subscription.id, Some(folder));
            }
        }
        for folder in folders {
            if self.slot(Some(folder)).is_none() {
                let mut slot = Slot::default();
                slot.work.create = self.loaded;
                self.further.push((folder.clone(), slot));
            }
        }
        // In the order the target gives.
        self.further
            .sort_by_key(|(f, _)| folders.iter().position(|g| g == f));
        self.retired.extend(retired.iter().cloned());
        retired
    }

    /// What is saved.
    pub(crate) fn saved(&self) -> Saved {
        Saved {
            subscription: self.inbox.subscription.clone(),
            delta_link: self.inbox.delta_link.clone(),
            spool_seq: self.spool_seq,
            seen: self.seen.iter().copied().collect(),
            round_at: self.inbox.round_at,
            todo: self.inbox.todo(),
            folders: self
                .further
                .iter()
                .map(|(folder, slot)| SavedFolder {
                    folder: folder.clone(),
                    subscription: slot.subscription.clone(),
                    delta_link: slot.delta_link.clone(),
                    round_at: slot.round_at,
                    todo: slot.todo(),
                })
                .collect(),
        }
    }

    /// Takes over what was saved (at start): the folders the target names now take their
    /// saved subscriptions; those of folders it no longer names are retired.
    pub(crate) fn restore(&mut self, saved: Saved, now: OffsetDateTime) {
        for digest in saved.seen {
            self.first_sight(digest);
        }
        self.spool_seq = saved.spool_seq;
        self.inbox.restore(
            saved.subscription,
            saved.delta_link,
            saved.round_at,
            saved.todo,
            now,
        );
        let mut restored = Vec::new();
        for folder in saved.folders {
            match self.slot_mut(Some(&folder.folder)) {
                Some(slot) => {
                    slot.restore(
                        folder.subscription,
                        folder.delta_link,
                        folder.round_at,
                        folder.todo,
                        now,
                    );
                    restored.push(folder.folder);
                }
                None => {
                    if let Some(subscription) = folder.subscription {
                        self.retired.push(subscription.id.clone());
                        self.remember_former(subscription.id, Some(folder.folder));
                    }
                }
            }
        }
        for (folder, slot) in &mut self.further {
            if !restored.contains(folder) {
                slot.work.create = true;
            }
        }
    }
}

/// One watched mailbox.
#[derive(Debug)]
pub(crate) struct Member {
    /// The address as given.
    pub(crate) mailbox: Arc<str>,
    /// Lower case, the registry's key.
    pub(crate) key: String,
    /// Places for requests in flight on this mailbox.
    pub(crate) permits: Semaphore,
    /// Wakes the mailbox's task.
    pub(crate) kick: Notify,
    /// Held while the state changes together with events sent for it, so that saved states
    /// follow each other in order.
    pub(crate) emit: tokio::sync::Mutex<()>,
    state: Mutex<MemberState>,
}

impl Member {
    pub(crate) fn new(mailbox: &str, concurrency: usize, further: &[FolderName]) -> Self {
        Self {
            mailbox: Arc::from(mailbox),
            key: mailbox.to_ascii_lowercase(),
            permits: Semaphore::new(concurrency),
            kick: Notify::new(),
            emit: tokio::sync::Mutex::new(()),
            state: Mutex::new(MemberState {
                phase: Phase::Loading,
                inbox: Slot::default(),
                further: further
                    .iter()
                    .map(|f| (f.clone(), Slot::default()))
                    .collect(),
                retired: Vec::new(),
                former: VecDeque::new(),
                spool_seq: 0,
                seen: VecDeque::new(),
                seen_set: HashSet::new(),
                loaded: false,
                removed: false,
                deferred: Vec::new(),
            }),
        }
    }

    /// The further folders watched now.
    pub(crate) fn further(&self) -> Vec<FolderName> {
        self.state()
            .further
            .iter()
            .map(|(f, _)| f.clone())
            .collect()
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::StateDigest;

    #[test]
    fn each_message_is_first_seen_once_and_old_ones_are_forgotten() {
        let member = Member::new("mara@contoso.com", 4, &[]);
        let mut state = member.state();
        assert!(state.first_sight(1));
        assert!(!state.first_sight(1));
        for n in 2..=(SEEN as u64 + 1) {
            assert!(state.first_sight(n));
        }
        assert!(state.first_sight(1), "the oldest was forgotten");
        assert!(!state.first_sight(SEEN as u64));
    }

    #[test]
    fn restoring_decides_what_to_do() {
        let now = OffsetDateTime::now_utc();
        let member = Member::new("m@contoso.com", 4, &[]);
        let subscription = |expires| SavedSubscription {
            id: "s".into(),
            digest: StateDigest::of("x"),
            expires,
            renew_at: expires,
        };
        let mut state = member.state();
        state.restore(
            Saved {
                subscription: Some(subscription(now + time::Duration::hours(5))),
                delta_link: Some("link".into()),
                ..Saved::default()
            },
            now,
        );
        let work = state.inbox.work;
        assert!(work.verify && !work.create && !work.resync);
        drop(state);
        let member = Member::new("m@contoso.com", 4, &[]);
        let mut state = member.state();
        state.restore(
            Saved {
                subscription: Some(subscription(now - time::Duration::hours(5))),
                delta_link: Some("link".into()),
                ..Saved::default()
            },
            now,
        );
        let work = state.inbox.work;
        assert!(work.create && work.resync && !work.verify);
    }

    #[test]
    fn saved_folders_go_to_the_folders_named_now_and_the_others_are_retired() {
        let now = OffsetDateTime::now_utc();
        let name = |n: &str| FolderName::read(n).expect("a name");
        let subscription = |id: &str| SavedSubscription {
            id: id.into(),
            digest: StateDigest::of("x"),
            expires: now + time::Duration::hours(5),
            renew_at: now + time::Duration::hours(2),
        };
        let folder = |n: &str, id: &str| SavedFolder {
            folder: name(n),
            subscription: Some(subscription(id)),
            delta_link: Some(format!("link-{n}")),
            round_at: None,
            todo: Todo::default(),
        };
        let member = Member::new("m@contoso.com", 4, &[name("junkemail"), name("archive")]);
        let mut state = member.state();
        state.restore(
            Saved {
                subscription: Some(subscription("inbox")),
                folders: vec![folder("junkemail", "junk"), folder("sentitems", "sent")],
                ..Saved::default()
            },
            now,
        );
        let junk = state.slot(Some(&name("junkemail"))).expect("junk");
        assert!(junk.work.verify && !junk.work.create);
        assert_eq!(junk.delta_link.as_deref(), Some("link-junkemail"));
        let archive = state.slot(Some(&name("archive"))).expect("archive");
        assert!(archive.work.create, "no saved subscription: made");
        assert_eq!(state.retired, ["sent"]);
        assert_eq!(state.folder_of("junk"), Some(Some(name("junkemail"))));
        assert_eq!(state.folder_of("inbox"), Some(None));
        assert_eq!(
            state.folder_of("sent"),
            Some(Some(name("sentitems"))),
            "a late notification"
        );
        assert_eq!(state.folder_of("other"), None);
        // The state saved names each folder's subscription.
        let saved = state.saved();
        assert_eq!(saved.folders.len(), 2);
        assert_eq!(
            saved.folders[0]
                .subscription
                .as_ref()
                .map(|s| s.id.as_str()),
            Some("junk")
        );
        assert!(saved.folders[1].todo.create);
        // Watched again without junkemail: its subscription is retired, archive kept.
        state.loaded = true;
        let retired = state.set_further(&[name("archive"), name("drafts")]);
        assert_eq!(retired, ["junk"]);
        assert!(state.slot(Some(&name("junkemail"))).is_none());
        assert!(
            state
                .slot(Some(&name("drafts")))
                .expect("drafts")
                .work
                .create
        );
        let (jobs, retired) = state.take_work();
        assert_eq!(retired, ["sent", "junk"]);
        let folders: Vec<_> = jobs
            .iter()
            .map(|(f, _)| f.as_ref().map(FolderName::as_str))
            .collect();
        assert_eq!(folders, [None, Some("archive"), Some("drafts")]);
        assert!(!state.has_work());
    }
}
