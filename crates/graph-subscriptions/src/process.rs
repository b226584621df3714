//! From spooled notifications to events: new messages become new-mail events (each message
//! once, however often Graph sends it), followed by the inbox's unread count and the state
//! that says they were delivered; lifecycle notifications become work for the mailbox's
//! task.
//!
//! Records are taken in batches (whatever waits, after the first) and grouped by mailbox;
//! mailboxes are handled concurrently, each in the order its records were accepted.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::StreamExt as _;
use tokio::sync::mpsc;

use crate::core::{Core, Counters, folder_count, new_mail};
use crate::ids::{rest_to_ews, short};
use crate::member::{Phase, Work};
use crate::spool::{RecordKind, SpoolRecord};
use crate::wire::notification::LifecycleEvent;

/// Records taken at once.
const BATCH: usize = 256;

/// Mailboxes handled at once. A batch ends when its last mailbox does (that keeps each
/// mailbox's records in order across batches), so with 32 a batch of 256 mailboxes took eight
/// rounds of inbox reads; with 128, two. At 10,000 notifications/s (`service_load 5000 100000
/// 10000 --graph`) that took 8,337-8,586 events/s to 8,882-9,361, and p99 from 2.0-2.6 s to
/// 1.0-1.7 s. Each mailbox still has one request at a time, within Graph's four.
const CONCURRENT: usize = 128;

/// Runs until the watcher stops.
pub(crate) async fn run(core: Arc<Core>, mut queue: mpsc::Receiver<SpoolRecord>) {
    loop {
        let first = tokio::select! {
            record = queue.recv() => record,
            () = core.shutdown.cancelled() => None,
        };
        let Some(first) = first else {
            return;
        };
        let mut groups: BTreeMap<String, Vec<SpoolRecord>> = BTreeMap::new();
        groups.entry(first.mailbox.clone()).or_default().push(first);
        for _ in 1..BATCH {
            match queue.try_recv() {
                Ok(record) => groups
                    .entry(record.mailbox.clone())
                    .or_default()
                    .push(record),
                Err(_) => break,
            }
        }
        futures_util::stream::iter(groups)
            .for_each_concurrent(CONCURRENT, |(key, records)| {
                let core = &core;
                async move { apply(core, &key, records).await }
            })
            .await;
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
    let mut fresh = Vec::new();
    let mut work = Work::default();
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
            match record.kind {
                RecordKind::Change { change, id } if change == "created" => {
                    let ews = rest_to_ews(&id);
                    if state.first_sight(short(&ews)) {
                        let at = time::OffsetDateTime::from_unix_timestamp_nanos(
                            i128::from(record.at_ms) * 1_000_000,
                        )
                        .unwrap_or_else(|_| core.settings.clock.now());
                        fresh.push((ews, at));
                    } else {
                        Counters::add(&core.counters.duplicates, 1);
                    }
                }
                RecordKind::Change { change, .. } => {
                    tracing::debug!(mailbox = key, change, "Graph: change not reported");
                }
                RecordKind::Lifecycle { event } => {
                    let current = state.subscription.as_ref().map(|s| s.id.as_str());
                    let ours = current == Some(record.subscription.as_str());
                    match LifecycleEvent::parse(&event) {
                        LifecycleEvent::ReauthorizationRequired if ours => {
                            work.reauthorize = true;
                            work.resync = true;
                        }
                        LifecycleEvent::SubscriptionRemoved if ours => {
                            work.create = true;
                            work.resync = true;
                            state.phase = Phase::Lost;
                            lost = Some(format!(
                                "Graph removed subscription {}",
                                record.subscription
                            ));
                        }
                        LifecycleEvent::Missed => work.resync = true,
                        other => {
                            tracing::info!(mailbox = key, event = other.as_str(), subscription = %record.subscription, "Graph: lifecycle notification not acted on");
                        }
                    }
                }
            }
        }
        state.work.merge(work);
        state.reported_since_round += u32::try_from(fresh.len()).unwrap_or(u32::MAX);
        if state.reported_since_round >= core.settings.catch_up_after {
            state.work.resync = true;
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
    if !fresh.is_empty() {
        let inbox = core.inbox(&member).await;
        for (id, at) in &fresh {
            events.push(new_mail(&member.mailbox, id, *at));
        }
        if let Some((folder, count)) = inbox {
            events.push(folder_count(&member.mailbox, &folder, count));
        }
    }
    core.deliver(&member, events).await;
    if !member.state().work.is_empty() {
        member.kick.notify_one();
    }
}
