//! Renewal before expiry, by the simulator's clock.

use std::sync::Arc;
use std::time::Duration;

use graph_subscriptions::Clock;

use crate::support::{Harness, MARA, Options, eventually, has_new_mail, new_mail, sim};

#[tokio::test]
async fn subscriptions_are_renewed_before_they_expire() {
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
    let lifetime = first.expires - sim.now();
    // Past half the lifetime (when the watcher renews), short of the expiry.
    sim.advance_clock(Duration::try_from(lifetime * 0.6).expect("duration"));
    eventually(Duration::from_secs(10), || sim.graph().stats().renewed >= 1).await;
    assert_eq!(sim.graph().stats().renewed, 1);
    assert_eq!(harness.watcher.counts().renewals, 1);
    let renewed = sim.graph().subscriptions(Some(MARA))[0].clone();
    assert_eq!(renewed.id, first.id);
    assert!(renewed.expires > first.expires);
    // Past the first expiry the subscription lives on and mail is reported.
    sim.advance_clock(Duration::try_from(lifetime * 0.5).expect("duration"));
    assert!(sim.now() > first.expires);
    let mail = sim
        .deliver_mail(MARA, "still here", "a@contoso.com")
        .expect("mail");
    let events = harness
        .collect(has_new_mail(1, MARA), Duration::from_millis(200))
        .await;
    assert_eq!(new_mail(&events, MARA), [mail]);
    assert_eq!(sim.graph().stats().expired, 0);
    assert_eq!(sim.graph().stats().created, 1);
}
