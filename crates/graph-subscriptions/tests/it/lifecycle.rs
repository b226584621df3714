//! Lifecycle notifications: each one handled so that no mail goes unreported.

use std::time::Duration;

use exchange_sim::LifecycleEvent;
use mailbox_watch::WatchEvent;

use crate::support::{Harness, MARA, Options, eventually, has_new_mail, new_mail, sim};

const QUIET: Duration = Duration::from_millis(300);

async fn subscription(sim: &exchange_sim::Sim) -> String {
    sim.graph().subscriptions(Some(MARA))[0].id.clone()
}

#[tokio::test]
async fn reauthorization_required_is_answered_and_mail_meanwhile_is_found() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let id = subscription(&sim).await;
    // The mail arrives while notifications are paused: Graph loses its notification.
    sim.graph()
        .lifecycle(&id, LifecycleEvent::ReauthorizationRequired)
        .expect("sent");
    let paused = sim
        .deliver_mail(MARA, "while paused", "a@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [paused]);
    let stats = sim.graph().stats();
    assert_eq!(stats.reauthorized, 1);
    assert_eq!(harness.watcher.counts().reauthorizations, 1);
    assert!(!sim.graph().subscriptions(Some(MARA))[0].paused);
    // Notifications flow again.
    let after = sim
        .deliver_mail(MARA, "after", "a@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [after]);
}

#[tokio::test]
async fn a_removed_subscription_is_made_anew_and_mail_in_between_is_found() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let old = subscription(&sim).await;
    sim.graph()
        .lifecycle(&old, LifecycleEvent::SubscriptionRemoved)
        .expect("sent");
    let between = sim
        .deliver_mail(MARA, "between", "a@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [between]);
    assert!(
        events.iter().any(|e| matches!(e, WatchEvent::Lost { .. })),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, WatchEvent::Subscribed { .. }))
    );
    let now = sim.graph().subscriptions(Some(MARA));
    assert_eq!(now.len(), 1);
    assert_ne!(now[0].id, old);
    assert_eq!(sim.graph().stats().created, 2);
    let after = sim
        .deliver_mail(MARA, "after", "a@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [after]);
}

#[tokio::test]
async fn missed_notifications_are_found_by_a_delta_round() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let reported = sim
        .deliver_mail(MARA, "reported", "a@contoso.com")
        .expect("mail");
    harness.collect(has_new_mail(1, MARA), QUIET).await;
    sim.graph().drop_notifications(MARA, 2).expect("drop");
    let mut lost = vec![
        sim.deliver_mail(MARA, "lost 1", "a@contoso.com")
            .expect("mail"),
        sim.deliver_mail(MARA, "lost 2", "a@contoso.com")
            .expect("mail"),
    ];
    eventually(Duration::from_secs(3), || sim.graph().stats().dropped >= 2).await;
    let events = harness.collect(|_| true, QUIET).await;
    assert!(new_mail(&events, MARA).is_empty(), "dropped: {events:#?}");
    sim.graph()
        .lifecycle(&subscription(&sim).await, LifecycleEvent::Missed)
        .expect("sent");
    let events = harness.collect(has_new_mail(2, MARA), QUIET).await;
    let mut found = new_mail(&events, MARA);
    found.sort();
    lost.sort();
    assert_eq!(
        found, lost,
        "the reported mail is not reported again ({reported})"
    );
    assert!(
        harness.watcher.counts().delta_rounds >= 2,
        "baseline and resync"
    );
}
