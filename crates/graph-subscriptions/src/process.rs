//! From spooled notifications to events: new messages become new-mail events (each message
//! once, however often Graph sends it), followed by the inbox's unread count and the state
//! that says they were delivered; lifecycle notifications become work for the mailbox's
//! task, on the subscription they name.
//!
//! A record's folder is the one its subscription is on: the folder the webhook recorded, else
//! the one the mailbox's state gives that subscription (records handed on by other nodes,
//! records spooled before further folders), else the inbox. New mail of a further folder is
//! marked `in_further_folder()` and no unread count follows it (the badge is the inbox's);
//! a record of a folder the target no longer names is dropped.
//!
//! Each mailbox has at most one task at a time, which takes all of its records waiting then,
//! in the order they were accepted; up to [`CONCURRENT`] mailboxes are handled at once, and a
//! mailbox whose records arrive while its task runs is taken again when it ends, with one
//! inbox read for all of them. So a slow mailbox holds back only itself.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::FuturesUnordered;
use tokio::sync::mpsc;

use crate::core::{Core, Counters, folder_count, new_mail};
use crate::folders::FolderName;
use crate::ids::{rest_to_ews, short};
use crate::member::{MemberState, Phase, Work};
use crate::spool::{RecordKind, SpoolRecord};
use crate::wire::notification::LifecycleEvent;

/// Mailboxes handled at once. Each still has one request at a time, within Graph's four.
const CONCURRENT: usize = 128;

/// Records taken from the queue and not yet handed to a mailbox's task, at most. Beyond it the
/// queue fills and the webhook holds its callers (backpressure before 503).
const HOLD: usize = 4096;

/// Runs until the watcher stops.
pub(crate) async fn run(core: Arc<Core>, mut queue: mpsc::Receiver<SpoolRecord>) {
    let mut waiting = Waiting::default();
    let mut running = FuturesUnordered::new();
    loop {
        while running.len() < CONCURRENT {
            let Some((key, records)) = waiting.next() else {
                break;
            };
            let core = Arc::clone(&core);
            running.push(async move {
                apply(&core, &key, records).await;
                key
            });
        }
        tokio::select! {
            biased;
            () = core.shutdown.cancelled() => return,
            Some(key) = running.next(), if !running.is_empty() => waiting.done(key),
            record = queue.recv(), if waiting.held < HOLD => {
                let Some(record) = record else {
                    return;
                };
                waiting.add(record);
                while waiting.held < HOLD {
                    match queue.try_recv() {
                        Ok(record) => waiting.add(record),
                        Err(_) => break,
                    }
                }
            }
        }
    }
}

/// Records waiting for their mailbox's task, and which mailboxes have one.
#[derive(Debug, Default)]
struct Waiting {
    /// Records not yet handed to a task, by mailbox, in the order they were accepted.
    records: HashMap<String, Vec<SpoolRecord>>,
    /// Mailboxes with records and no task, in the order their first record came.
    ready: VecDeque<String>,
    /// Mailboxes with a task.
    busy: HashSet<String>,
    /// How many records `records` holds.
    held: usize,
}

impl Waiting {
    fn add(&mut self, record: SpoolRecord) {
        self.held += 1;
        if let Some(records) = self.records.get_mut(&record.mailbox) {
            records.push(record);
            return;
        }
        let key = record.mailbox.clone();
        if !self.busy.contains(&key) {
            self.ready.push_back(key.clone());
        }
        self.records.insert(key, vec![record]);
    }

    /// The next mailbox to start a task for, with its records; it is busy until [`done`].
    ///
    /// [`done`]: Self::done
    fn next(&mut self) -> Option<(String, Vec<SpoolRecord>)> {
        let key = self.ready.pop_front()?;
        let records = self.records.remove(&key).unwrap_or_default();
        self.held -= records.len();
        self.busy.insert(key.clone());
        Some((key, records))
    }

    /// The task of `key` ended: it is ready again if records came meanwhile.
    fn done(&mut self, key: String) {
        self.busy.remove(&key);
        if self.records.contains_key(&key) {
            self.ready.push_back(key);
        }
    }
}

/// One mailbox's records.
async fn apply(core: &Core, key: &str, records: Vec<SpoolRecord>) {
    let Some(member) = core.member(key) else {
        tracing::debug!(
            mailbox = key,
            records = records.len(),
            "Graph: records of a mailbox no longer watched"
        );
        return;
    };
    let _emit = member.emit.lock().await;
    // (EWS id, received, whether of a further folder), in the order accepted.
    let mut fresh: Vec<(String, time::OffsetDateTime, bool)> = Vec::new();
    let mut lost = None;
    {
        let mut state = member.state();
        if !state.loaded {
            state.deferred.extend(records);
            return;
        }
        for record in records {
            if record.seq <= state.spool_seq {
                continue;
            }
            state.spool_seq = record.seq;
            let Some(folder) = folder_of(&state, &record) else {
                continue;
            };
            let folder = folder.as_ref();
            if state.slot(folder).is_none() {
                tracing::debug!(
                    mailbox = key,
                    folder = folder.map(FolderName::as_str),
                    "Graph: a record of a folder no longer watched"
                );
                continue;
            }
            match record.kind {
                RecordKind::Change { change, id } if change == "created" => {
                    let ews = rest_to_ews(&id);
                    if !state.first_sight(short(&ews)) {
                        Counters::add(&core.counters.duplicates, 1);
                        continue;
                    }
                    let at = time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(record.at_ms) * 1_000_000,
                    )
                    .unwrap_or_else(|_| core.settings.clock.now());
                    fresh.push((ews, at, folder.is_some()));
                    if let Some(slot) = state.slot_mut(folder) {
                        slot.reported_since_round = slot.reported_since_round.saturating_add(1);
                        if slot.reported_since_round >= core.settings.catch_up_after {
                            slot.work.resync = true;
                        }
                    }
                }
                RecordKind::Change { change, .. } => {
                    tracing::debug!(mailbox = key, change, "Graph: change not reported");
                }
                RecordKind::Lifecycle { event } => {
                    let ours = state
                        .slot(folder)
                        .and_then(|slot| slot.subscription.as_ref())
                        .is_some_and(|s| s.id == record.subscription);
                    let mut work = Work::default();
                    match LifecycleEvent::parse(&event) {
                        LifecycleEvent::ReauthorizationRequired if ours => {
                            work.reauthorize = true;
                            work.resync = true;
                        }
                        LifecycleEvent::SubscriptionRemoved if ours => {
                            work.create = true;
                            work.resync = true;
                            let reason =
                                format!("Graph removed subscription {}", record.subscription);
                            match folder {
                                None => {
                                    state.phase = Phase::Lost;
                                    lost = Some(reason);
                                }
                                Some(folder) => {
                                    Counters::add(&core.counters.losses, 1);
                                    tracing::info!(mailbox = key, %folder, reason, "Graph: further folder's subscription removed; making a new one");
                                }
                            }
                        }
                        LifecycleEvent::Missed => work.resync = true,
                        other => {
                            tracing::info!(mailbox = key, event = other.as_str(), subscription = %record.subscription, "Graph: lifecycle notification not acted on");
                        }
                    }
                    if let Some(slot) = state.slot_mut(folder) {
                        slot.work.merge(work);
                    }
                }
            }
        }
    }
    let mut events = Vec::new();
    if let Some(reason) = lost {
        Counters::add(&core.counters.losses, 1);
        events.push(mailbox_watch::WatchEvent::Lost {
            mailbox: Arc::clone(&member.mailbox),
            reason,
        });
    }
    // The badge follows the inbox's new mail only.
    let inbox = if fresh.iter().any(|(_, _, further)| !further) {
        core.inbox(&member).await
    } else {
        None
    };
    for (id, at, further) in &fresh {
        events.push(new_mail(&member.mailbox, id, *at, *further));
    }
    if let Some((folder, count)) = inbox {
        events.push(folder_count(&member.mailbox, &folder, count));
    }
    core.deliver(&member, events).await;
    if member.state().has_work() {
        member.kick.notify_one();
    }
}

/// The folder of `record`'s subscription (`Some(None)`: the inbox): as the webhook recorded
/// it, else as the mailbox's state knows the subscription, else the inbox; `None` for a
/// recorded folder that is no folder name (a damaged spool).
fn folder_of(state: &MemberState, record: &SpoolRecord) -> Option<Option<FolderName>> {
    match record.folder.as_deref() {
        Some(folder) => FolderName::read(folder).map(Some),
        None => Some(state.folder_of(&record.subscription).flatten()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::RecordKind;

    fn record(seq: u64, mailbox: &str) -> SpoolRecord {
        let kind = RecordKind::Change {
            change: "created".into(),
            id: format!("id-{seq}"),
        };
        SpoolRecord::new(seq, mailbox.into(), "sub".into(), 1, kind)
    }

    fn seqs(taken: &(String, Vec<SpoolRecord>)) -> (&str, Vec<u64>) {
        (&taken.0, taken.1.iter().map(|r| r.seq).collect())
    }

    #[test]
    fn mailboxes_are_taken_in_the_order_their_first_record_came_with_all_their_records() {
        let mut waiting = Waiting::default();
        for (seq, mailbox) in [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "b")] {
            waiting.add(record(seq, mailbox));
        }
        assert_eq!(waiting.held, 5);
        let taken: Vec<_> = std::iter::from_fn(|| waiting.next()).collect();
        let taken: Vec<_> = taken.iter().map(seqs).collect();
        assert_eq!(
            taken,
            [("a", vec![1, 3]), ("b", vec![2, 5]), ("c", vec![4])]
        );
        assert_eq!(waiting.held, 0);
    }

    #[test]
    fn a_busy_mailbox_waits_for_its_task_and_then_takes_what_came_meanwhile() {
        let mut waiting = Waiting::default();
        waiting.add(record(1, "a"));
        let first = waiting.next().expect("a is ready");
        assert_eq!(seqs(&first), ("a", vec![1]));
        waiting.add(record(2, "a"));
        waiting.add(record(3, "b"));
        waiting.add(record(4, "a"));
        // b may start; a may not while its task runs.
        assert_eq!(seqs(&waiting.next().expect("b is ready")), ("b", vec![3]));
        assert!(waiting.next().is_none(), "a is still busy");
        assert_eq!(waiting.held, 2);
        waiting.done(first.0);
        assert_eq!(seqs(&waiting.next().expect("a again")), ("a", vec![2, 4]));
        assert!(waiting.next().is_none());
    }

    #[test]
    fn a_task_that_ends_with_nothing_new_leaves_its_mailbox_idle() {
        let mut waiting = Waiting::default();
        waiting.add(record(1, "a"));
        let (key, _) = waiting.next().expect("a is ready");
        waiting.done(key);
        assert!(waiting.next().is_none());
        waiting.add(record(2, "a"));
        assert_eq!(seqs(&waiting.next().expect("a is ready")), ("a", vec![2]));
    }
}
