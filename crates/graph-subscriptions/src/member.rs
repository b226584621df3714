//! One watched mailbox: its subscription, delta link, the messages already reported, and
//! the work due. Its task (in `manage`) does the work; the processor and the sweeper set
//! flags and kick it.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use time::OffsetDateTime;
use tokio::sync::{Notify, Semaphore};

use crate::persist::{Saved, SavedSubscription, Todo};
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

/// A mailbox's changing state.
#[derive(Debug)]
pub(crate) struct MemberState {
    pub(crate) phase: Phase,
    pub(crate) subscription: Option<SavedSubscription>,
    pub(crate) delta_link: Option<String>,
    /// The last spool record whose events were delivered.
    pub(crate) spool_seq: u64,
    seen: VecDeque<u64>,
    seen_set: HashSet<u64>,
    pub(crate) work: Work,
    pub(crate) loaded: bool,
    pub(crate) removed: bool,
    /// Records that arrived before the state was loaded.
    pub(crate) deferred: Vec<SpoolRecord>,
    /// New-mail events reported by notifications since the last delta round.
    pub(crate) reported_since_round: u32,
    pub(crate) last_round: Instant,
    /// When the round that gave `delta_link` began, by the watcher's clock.
    pub(crate) round_at: Option<OffsetDateTime>,
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

    /// What is saved.
    pub(crate) fn saved(&self) -> Saved {
        let todo = Todo {
            create: self.work.create,
            reauthorize: self.work.reauthorize,
            resync: self.work.resync,
        };
        Saved {
            subscription: self.subscription.clone(),
            delta_link: self.delta_link.clone(),
            spool_seq: self.spool_seq,
            seen: self.seen.iter().copied().collect(),
            round_at: self.round_at,
            todo,
        }
    }

    /// Takes over what was saved (at start).
    pub(crate) fn restore(&mut self, saved: Saved, now: OffsetDateTime) {
        for digest in saved.seen {
            self.first_sight(digest);
        }
        self.delta_link = saved.delta_link;
        self.round_at = saved.round_at;
        self.spool_seq = saved.spool_seq;
        self.work.reauthorize |= saved.todo.reauthorize;
        self.work.resync |= saved.todo.resync;
        match saved.subscription {
            // A minute of slack: a subscription about to expire is made anew.
            Some(subscription) if subscription.expires > now + time::Duration::minutes(1) => {
                self.subscription = Some(subscription);
                self.work.verify = true;
                self.work.create |= saved.todo.create;
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
    pub(crate) fn new(mailbox: &str, concurrency: usize) -> Self {
        Self {
            mailbox: Arc::from(mailbox),
            key: mailbox.to_ascii_lowercase(),
            permits: Semaphore::new(concurrency),
            kick: Notify::new(),
            emit: tokio::sync::Mutex::new(()),
            state: Mutex::new(MemberState {
                phase: Phase::Loading,
                subscription: None,
                delta_link: None,
                spool_seq: 0,
                seen: VecDeque::new(),
                seen_set: HashSet::new(),
                work: Work::default(),
                loaded: false,
                removed: false,
                deferred: Vec::new(),
                reported_since_round: 0,
                last_round: Instant::now(),
                round_at: None,
            }),
        }
    }

    pub(crate) fn state(&self) -> MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Asks the task for `work`.
    pub(crate) fn ask(&self, work: Work) {
        self.state().work.merge(work);
        self.kick.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::StateDigest;

    #[test]
    fn each_message_is_first_seen_once_and_old_ones_are_forgotten() {
        let member = Member::new("mara@contoso.com", 4);
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
        let member = Member::new("m@contoso.com", 4);
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
        assert!(state.work.verify && !state.work.create && !state.work.resync);
        drop(state);
        let member = Member::new("m@contoso.com", 4);
        let mut state = member.state();
        state.restore(
            Saved {
                subscription: Some(subscription(now - time::Duration::hours(5))),
                delta_link: Some("link".into()),
                ..Saved::default()
            },
            now,
        );
        assert!(state.work.create && state.work.resync && !state.work.verify);
    }
}
