//! A mailbox that stops for good is worse than one that is late: an expired delta link, a
//! round Graph refuses, and a notification Graph drops without telling must each end with
//! every mail announced once and the subscription alive.

use std::sync::Arc;
use std::time::Duration;

use exchange_sim::LifecycleEvent;
use graph_subscriptions::Clock;
use mailbox_watch::WatchEvent;

use crate::support::{Harness, MARA, Options, eventually, has_new_mail, new_mail, sim};

/// Mara's mail `m1` is announced; `m2`'s notification is dropped and every delta link of the
/// mailbox expires (answered `410` when `gone`, else `400 syncStateNotFound`); `missed` then
/// asks for a round.
async fn expired_link_after_a_dropped_notification(gone: bool) {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let m1 = sim.deliver_mail(MARA, "m1", "a@contoso.com").expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(100))
        .await;
    assert_eq!(new_mail(&events, MARA), [m1]);

    sim.graph().drop_notifications(MARA, 1).expect("drop");
    let m2 = sim.deliver_mail(MARA, "m2", "a@contoso.com").expect("mail");
    sim.graph().expire_delta_links(MARA, gone).expect("expire");
    let id = sim.graph().subscriptions(Some(MARA))[0].id.clone();
    sim.graph()
        .lifecycle(&id, LifecycleEvent::Missed)
        .expect("missed");

    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(500))
        .await;
    assert_eq!(
        new_mail(&events, MARA),
        [m2],
        "the gap is announced, and m1 not again: {events:#?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, WatchEvent::Failed { .. } | WatchEvent::Resync { .. })),
        "{events:#?}"
    );
    let status = harness.watcher.status();
    assert_eq!((status.subscribed, status.failed), (1, 0), "{status:?}");

    // The mailbox goes on: the next mail comes through the webhook as before.
    let m3 = sim.deliver_mail(MARA, "m3", "a@contoso.com").expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(100))
        .await;
    assert_eq!(new_mail(&events, MARA), [m3]);
}

#[tokio::test]
async fn a_delta_link_answered_400_sync_state_not_found_is_read_again_from_its_round() {
    expired_link_after_a_dropped_notification(false).await;
}

#[tokio::test]
async fn a_delta_link_answered_410_gone_is_read_again_from_its_round() {
    expired_link_after_a_dropped_notification(true).await;
}

#[tokio::test]
async fn a_mailbox_whose_rounds_are_refused_keeps_its_subscription_alive() {
    let sim = Arc::new(sim().await);
    let clock = {
        let sim = Arc::clone(&sim);
        Clock::new(move || sim.now())
    };
    let mut harness = Harness::start(
        &sim,
        Options {
            clock: Some(clock),
            ..Options::default()
        },
    )
    .await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    let first = sim.graph().subscriptions(Some(MARA))[0].clone();

    // Graph refuses the mailbox's rounds (an application access policy, say): it fails.
    sim.graph().refuse_delta(MARA, u64::MAX).expect("refuse");
    sim.graph()
        .lifecycle(&first.id, LifecycleEvent::Missed)
        .expect("missed");
    harness
        .collect(
            |events| {
                events
                    .iter()
                    .any(|e| matches!(e, WatchEvent::Failed { .. }))
            },
            Duration::from_millis(100),
        )
        .await;
    assert_eq!(harness.watcher.status().failed, 1);

    // Past half the subscription's life, it is renewed all the same.
    let lifetime = first.expires - sim.now();
    sim.advance_clock(Duration::try_from(lifetime * 0.6).expect("duration"));
    let renewed = eventually(Duration::from_secs(10), || sim.graph().stats().renewed >= 1).await;
    assert!(
        renewed,
        "a failed mailbox's subscription was left to expire"
    );
    let kept = sim.graph().subscriptions(Some(MARA))[0].clone();
    assert_eq!(kept.id, first.id);
    assert!(kept.expires > first.expires);

    // Past the first expiry, mail is still announced, and once Graph answers rounds again the
    // mailbox is subscribed again.
    sim.advance_clock(Duration::try_from(lifetime * 0.5).expect("duration"));
    sim.graph().refuse_delta(MARA, 0).expect("allow");
    let mail = sim
        .deliver_mail(MARA, "still watched", "a@contoso.com")
        .expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(100))
        .await;
    assert_eq!(new_mail(&events, MARA), [mail]);
    let back = eventually(Duration::from_secs(10), || {
        let status = harness.watcher.status();
        status.subscribed == 1 && status.failed == 0
    })
    .await;
    assert!(back, "{:?}", harness.watcher.status());
    assert_eq!(sim.graph().stats().expired, 0);
}

#[tokio::test]
async fn a_notification_dropped_without_missed_is_announced_within_the_catch_up_interval() {
    let sim = sim().await;
    let options = Options {
        adjust: |settings| settings.catch_up_interval = Duration::from_millis(300),
        ..Options::default()
    };
    let mut harness = Harness::start(&sim, options).await;
    harness.watch(MARA);
    harness.subscribed(MARA).await;
    // Graph drops the notification and says nothing (no `missed`), and no other mail follows.
    sim.graph().drop_notifications(MARA, 1).expect("drop");
    let mail = sim
        .deliver_mail(MARA, "dropped", "a@contoso.com")
        .expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(700))
        .await;
    assert_eq!(new_mail(&events, MARA), [mail], "announced once");
    assert_eq!(sim.graph().stats().dropped, 1);
}
