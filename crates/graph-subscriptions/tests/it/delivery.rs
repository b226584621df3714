//! From Graph's notifications to events: new mail with its badge, duplicates and batches,
//! spoofed notifications, a webhook that is down for a while, and a crash after 202.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use graph_subscriptions::{FileSpool, GraphSettings};
use mailbox_watch::{MemoryWatermarks, WatchEvent};
use serde_json::Value;

use crate::support::{
    Harness, MARA, Options, SADIE, eventually, has_new_mail, new_mail, sim, unread,
};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn new_mail_becomes_one_new_mail_event_then_the_unread_count() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let first = sim
        .deliver_mail(MARA, "Quarterly numbers", "boss@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(
        new_mail(&events, MARA),
        [first],
        "the EWS form of the message id"
    );
    assert_eq!(unread(&events, MARA), [1]);
    let second = sim
        .deliver_mail(MARA, "Re: Quarterly numbers", "boss@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [second]);
    assert_eq!(unread(&events, MARA), [2]);
    assert!(new_mail(&events, SADIE).is_empty());
    assert_eq!(harness.watcher.status().events, 4);
}

/// The notification bodies the webhook accepted, as Graph sent them.
fn bodies(harness: &Harness) -> Vec<Value> {
    harness
        .tap
        .bodies
        .lock()
        .expect("lock")
        .iter()
        .map(|b| serde_json::from_slice(b).expect("JSON"))
        .collect()
}

#[tokio::test]
async fn duplicates_and_batches_are_reported_once_each() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let first = sim
        .deliver_mail(MARA, "one", "a@contoso.com")
        .expect("mail");
    harness.collect(has_new_mail(1, MARA), QUIET).await;
    let sent = bodies(&harness);
    assert_eq!(sent.len(), 1);
    // Graph sends the same notification again (its answer was lost): 202, nothing new.
    assert_eq!(harness.post(sent[0].to_string()).await, 202);
    let second = sim
        .deliver_mail(MARA, "two", "a@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [second]);
    // One POST carrying both notifications and the first again.
    let sent = bodies(&harness);
    let mut batch = sent[0].clone();
    let items: Vec<Value> = sent
        .iter()
        .flat_map(|b| b["value"].as_array().cloned().unwrap_or_default())
        .collect();
    batch["value"] = Value::Array(items);
    assert_eq!(harness.post(batch.to_string()).await, 202);
    let events = harness.collect(|_| true, QUIET).await;
    assert!(new_mail(&events, MARA).is_empty(), "{events:#?}");
    assert!(harness.watcher.status().duplicates >= 3);
    assert!(!first.is_empty());
}

#[tokio::test]
async fn a_client_state_mismatch_is_refused_and_nothing_is_acted_on() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    sim.deliver_mail(MARA, "real", "a@contoso.com")
        .expect("mail");
    harness.collect(has_new_mail(1, MARA), QUIET).await;
    let mut forged = bodies(&harness)[0].clone();
    forged["value"][0]["resourceData"]["id"] = Value::from("AAMk-forged");
    forged["value"][0]["resource"] = Value::from("Users/x/Messages/AAMk-forged");
    let genuine = forged["value"][0].clone();
    forged["value"][0]["clientState"] = Value::from("guessed");
    assert_eq!(harness.post(forged.to_string()).await, 403);
    // Without clientState at all, and with a genuine notification beside a forged one.
    let mut missing = forged.clone();
    missing["value"][0]
        .as_object_mut()
        .expect("object")
        .remove("clientState");
    assert_eq!(harness.post(missing.to_string()).await, 403);
    let mut mixed = forged.clone();
    mixed["value"] = Value::Array(vec![genuine, forged["value"][0].clone()]);
    assert_eq!(harness.post(mixed.to_string()).await, 403);
    let events = harness.collect(|_| true, QUIET).await;
    assert!(new_mail(&events, MARA).is_empty(), "{events:#?}");
    assert_eq!(harness.watcher.counts().refused, 3);
    assert_eq!(harness.post("not json").await, 400);
}

#[tokio::test]
async fn a_webhook_down_for_a_while_loses_nothing() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    harness.tap.down.store(true, Ordering::SeqCst);
    let mut sent = Vec::new();
    for n in 0..3 {
        sent.push(
            sim.deliver_mail(MARA, &format!("m{n}"), "a@contoso.com")
                .expect("mail"),
        );
    }
    eventually(Duration::from_secs(5), || {
        sim.graph().stats().failed_posts >= 3
    })
    .await;
    assert!(
        sim.graph().stats().failed_posts >= 3,
        "Graph tried and failed"
    );
    harness.tap.down.store(false, Ordering::SeqCst);
    let events = harness.collect(has_new_mail(3, MARA), QUIET).await;
    let mut got = new_mail(&events, MARA);
    got.sort();
    sent.sort();
    assert_eq!(got, sent, "every mail once");
    assert_eq!(sim.graph().stats().dropped, 0);
}

#[tokio::test]
async fn notifications_accepted_before_a_crash_are_delivered_after_the_restart() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("dir");
    let store = Arc::new(MemoryWatermarks::new());
    let options = || Options {
        store: Arc::clone(&store) as _,
        spool: Arc::new(FileSpool::open(dir.path()).expect("spool")),
        // One event fits in the channel: the consumer below reads nothing, like a service
        // that accepted notifications and died before its pipeline ran.
        adjust: |s: &mut GraphSettings| s.channel_capacity = 1,
        ..Options::default()
    };
    let first = Harness::start(&sim, options()).await;
    first.watch(MARA);
    first.subscribed(MARA).await;
    let mut sent = Vec::new();
    for n in 0..2 {
        sent.push(
            sim.deliver_mail(MARA, &format!("m{n}"), "a@contoso.com")
                .expect("mail"),
        );
    }
    eventually(Duration::from_secs(5), || {
        first.watcher.counts().accepted >= 2
    })
    .await;
    assert_eq!(first.watcher.counts().accepted, 2, "202 given for both");
    first.watcher.shutdown();
    drop(first);

    let mut second = Harness::start(
        &sim,
        Options {
            adjust: |_| {},
            ..options()
        },
    )
    .await;
    second.watch(MARA);
    let events = second.collect(has_new_mail(2, MARA), QUIET).await;
    let mut got = new_mail(&events, MARA);
    got.sort();
    sent.sort();
    assert_eq!(got, sent);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WatchEvent::Subscribed { resumed: true, .. })),
        "the saved subscription is taken over: {events:#?}"
    );
    assert_eq!(sim.graph().subscriptions(Some(MARA)).len(), 1);
    // Once delivered, the records leave the spool.
    second.watcher.compact_spool().await.expect("compaction");
    let left = std::fs::read_to_string(dir.path().join("spool.jsonl")).expect("spool file");
    assert!(left.trim().is_empty(), "{left}");
}
