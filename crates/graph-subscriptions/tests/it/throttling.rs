//! 429 with Retry-After, and at most four requests in flight per mailbox.

use std::time::Duration;

use mailbox_watch::WatchEvent;

use crate::support::{Harness, MARA, Options, has_new_mail, new_mail, sim};

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
