//! Push mode: Exchange calls our listener back over TLS.

use std::sync::Arc;
use std::time::Duration;

use mailbox_watch::{MemoryWatermarks, WatchEvent};

use crate::support::*;

/// A simulator, and a watcher whose listener it trusts, serving on loopback.
pub(crate) async fn push_watch() -> (exchange_sim::Sim, Arc<autodiscover::Autodiscover>, Watch) {
    let tls = ListenerTls::new();
    let sim = sim(Some(&tls.pem)).await;
    let locator = locator(&sim);
    let (listener, addr) = bind().await;
    let url = format!("https://localhost:{}/ews/notify", addr.port());
    let watch = Watch::start(
        &sim,
        push(&url),
        Arc::new(MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    tokio::spawn(
        watch
            .watcher
            .push_listener()
            .serve(listener, Some(tls.config)),
    );
    (sim, locator, watch)
}

#[tokio::test]
async fn push_notifications_arrive_over_tls_and_are_answered_ok() {
    let (sim, locator, mut watch) = push_watch().await;
    for mailbox in [MARA, ALFRED] {
        watch
            .watcher
            .watch(target(&locator, mailbox).await)
            .unwrap();
    }
    watch.subscribed(&[MARA, ALFRED], 1).await;
    let items = deliver(&sim, &[MARA, ALFRED, MARA], "pushed");
    watch.mail(&items).await;
    // Answered OK: the simulator counts only accepted callbacks (it reads our answer just
    // after we hand the events over, so give it a moment).
    let mut accepted = 0;
    for _ in 0..100 {
        accepted = sim.stats().push_notifications;
        if accepted >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted >= 2, "{accepted} callbacks answered OK");
    // Heartbeats (StatusEvent every scaled minute) keep the subscriptions alive: nothing is
    // lost while the watcher waits for longer than several StatusFrequency periods.
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let status = watch.watcher.status();
    assert_eq!((status.subscribed, status.losses), (2, 0), "{status:#?}");
    let later = deliver(&sim, &[ALFRED], "still there");
    watch.mail(&later).await;
}

#[tokio::test]
async fn silence_past_status_frequency_is_a_lost_subscription_and_the_watermark_replays() {
    let (sim, locator, mut watch) = push_watch().await;
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let first = deliver(&sim, &[MARA], "first");
    watch.mail(&first).await;
    // The restart loses the subscription silently: no more callbacks, not even heartbeats.
    sim.restart_server("mbx1").unwrap();
    let during = deliver(&sim, &[MARA, MARA], "while lost");
    watch
        .until("the loss", |seen| {
            seen.iter().any(|e| matches!(e, WatchEvent::Lost { .. }))
        })
        .await;
    watch.subscribed(&[MARA], 2).await;
    watch.mail(&during).await;
    let lost = watch.seen.iter().find_map(|e| match e {
        WatchEvent::Lost { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(lost.unwrap().contains("StatusFrequency"));
    assert!(
        watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Subscribed { resumed: true, .. }))
    );
    assert!(
        !watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Resync { .. }))
    );
}

#[tokio::test]
async fn a_lost_push_notification_is_seen_in_the_next_ones_previous_watermark_and_replayed() {
    let (sim, locator, mut watch) = push_watch().await;
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let first = deliver(&sim, &[MARA], "first");
    watch.mail(&first).await;
    // Exchange takes the next notification as delivered, but it never arrives.
    sim.lose_push_notifications(1);
    let lost = deliver(&sim, &[MARA], "lost on the way");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let next = deliver(&sim, &[MARA], "the next one");
    watch
        .until("the loss", |seen| {
            seen.iter().any(|e| matches!(e, WatchEvent::Lost { .. }))
        })
        .await;
    watch.subscribed(&[MARA], 2).await;
    watch.mail(&lost).await;
    watch.mail(&next).await;
    let status = watch.watcher.status();
    assert_eq!(status.missed_push, 1, "{status:#?}");
    let announced = new_mail_list(&watch.seen)
        .iter()
        .filter(|(_, id)| lost.contains(id))
        .count();
    assert_eq!(announced, 1, "the lost mail is announced once");
}

#[tokio::test]
async fn a_notification_before_its_subscribe_answer_is_kept_not_refused() {
    let (sim, locator, mut watch) = push_watch().await;
    // The subscription exists well before its answer arrives; mail comes meanwhile.
    sim.slow_subscribe_answers(Duration::from_millis(1500));
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early = deliver(&sim, &[MARA], "before the answer");
    watch.subscribed(&[MARA], 1).await;
    watch.mail(&early).await;
    assert_eq!(
        sim.stats().push_callbacks_failed,
        0,
        "a callback was refused, and Exchange would call again only 30 s later"
    );
    let status = watch.watcher.status();
    assert_eq!((status.subscribed, status.losses), (1, 0), "{status:#?}");
}

#[tokio::test]
async fn an_orderly_stop_unsubscribes_every_subscription() {
    let (sim, locator, mut watch) = push_watch().await;
    for mailbox in [MARA, ALFRED] {
        watch
            .watcher
            .watch(target(&locator, mailbox).await)
            .unwrap();
    }
    watch.subscribed(&[MARA, ALFRED], 1).await;
    assert_eq!(sim.stats().subscriptions, 2);
    let answered = watch.watcher.stop(Duration::from_secs(10)).await;
    assert!(answered >= 1);
    assert_eq!(
        sim.stats().subscriptions,
        0,
        "subscriptions left to call back until they time out"
    );
}
