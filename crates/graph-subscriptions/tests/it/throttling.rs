//! 429 with Retry-After, at most four requests in flight per mailbox, and backpressure on
//! the webhook when the queue is full.

use std::time::Duration;

use mailbox_watch::WatchEvent;

use crate::support::{Harness, MARA, Options, SADIE, eventually, has_new_mail, new_mail, sim};

#[tokio::test]
async fn throttled_requests_wait_for_retry_after_and_then_succeed() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    sim.graph().throttle(2, Duration::from_secs(1));
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let stats = sim.graph().stats();
    assert_eq!(stats.throttled, 2);
    assert_eq!(
        stats.early_retries, 0,
        "no request came before its Retry-After"
    );
    assert_eq!(harness.watcher.status().throttled, 2);
    let mail = sim
        .deliver_mail(MARA, "after throttling", "a@contoso.com")
        .expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(100))
        .await;
    assert_eq!(new_mail(&events, MARA), [mail]);
    let told = events
        .iter()
        .filter(
            |e| matches!(e, WatchEvent::Throttled { wait, .. } if *wait == Duration::from_secs(1)),
        )
        .count();
    assert_eq!(told, 2, "{events:#?}");
}

#[tokio::test]
async fn no_more_than_four_requests_are_in_flight_on_a_mailbox() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    for n in 0..3 {
        sim.deliver_mail(MARA, &format!("m{n}"), "a@contoso.com")
            .expect("mail");
    }
    sim.graph().slow_answers(Duration::from_millis(100));
    let counts = (0..12).map(|_| harness.watcher.unread_count(MARA));
    let counts = futures_util::future::join_all(counts).await;
    for count in counts {
        assert_eq!(count.expect("answered"), 3);
    }
    let stats = sim.graph().stats();
    assert_eq!(stats.max_in_flight, 4);
    assert_eq!(stats.throttled, 0, "the simulator never had to refuse one");
}

/// Backpressure: with the queue full (two places, and Graph slow to answer the processor's
/// unread-count reads), a notification request waits for room and is accepted, rather than
/// answered 503 (which Graph would retry only 30 s later); a collection larger than the whole
/// queue is accepted too.
#[tokio::test]
async fn a_full_queue_holds_the_request_instead_of_refusing_it() {
    let sim = sim().await;
    let mut harness = Harness::start(
        &sim,
        Options {
            adjust: |s| s.queue_capacity = 2,
            ..Options::default()
        },
    )
    .await;
    for mailbox in [MARA, SADIE] {
        harness.watch(mailbox);
    }
    for mailbox in [MARA, SADIE] {
        harness.subscribed(mailbox).await;
    }
    sim.graph().slow_answers(Duration::from_millis(150));
    let mut sent = Vec::new();
    for i in 0..4 {
        for mailbox in [MARA, SADIE] {
            sent.push(
                sim.deliver_mail(mailbox, &format!("mail {i}"), "boss@contoso.com")
                    .expect("mail"),
            );
        }
    }
    let events = harness
        .collect(
            |e| new_mail(e, MARA).len() + new_mail(e, SADIE).len() >= sent.len(),
            Duration::from_millis(100),
        )
        .await;
    let mut reported = [new_mail(&events, MARA), new_mail(&events, SADIE)].concat();
    reported.sort();
    sent.sort();
    assert_eq!(reported, sent, "every mail once");
    let counts = harness.watcher.counts();
    assert_eq!(counts.busy, 0, "no request refused: {counts:?}");
    assert!(counts.held >= 1, "a request waited for room: {counts:?}");
    assert_eq!(sim.graph().stats().failed_posts, 0);
}

/// A mailbox whose reads are slow holds back only itself: mail to another mailbox, notified
/// while the slow mailbox's unread-count read waits, is announced before the slow one's.
#[tokio::test]
async fn a_slow_mailbox_holds_back_only_itself() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    for mailbox in [MARA, SADIE] {
        harness.watch(mailbox);
    }
    for mailbox in [MARA, SADIE] {
        harness.subscribed(mailbox).await;
    }
    sim.graph()
        .slow_mailbox(MARA, Duration::from_secs(2))
        .expect("mara's mailbox");
    let slow = sim
        .deliver_mail(MARA, "slow to count", "a@contoso.com")
        .expect("mail");
    // Mara's notification is taken and her read is waiting.
    let accepted = || harness.watcher.counts().accepted;
    eventually(Duration::from_secs(5), || accepted() >= 1).await;
    assert_eq!(accepted(), 1, "mara's notification came");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let quick = sim
        .deliver_mail(SADIE, "quick to count", "a@contoso.com")
        .expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(100))
        .await;
    let order: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(m) if m.is_new_mail() => Some(&*m.mailbox),
            _ => None,
        })
        .collect();
    assert_eq!(new_mail(&events, SADIE), [quick]);
    assert_eq!(new_mail(&events, MARA), [slow]);
    assert_eq!(
        order,
        [SADIE, MARA],
        "sadie's mail did not wait for mara's read"
    );
}
