//! Every fault of the simulator, and the "nothing lost" runs across a sequence of them.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use ews_proto::ResponseCode;
use exchange_sim::Sim;
use exchange_sim::scenario::{Budgets, Profile};
use mailbox_watch::{MemoryWatermarks, WatchEvent};

use crate::push::push_watch;
use crate::support::*;

fn busy_budgets(back_off_ms: u64) -> Budgets {
    let mut budgets = Budgets::for_profile(Profile::Exchange2019);
    budgets.back_off_ms = back_off_ms;
    budgets
}

fn losses(seen: &[WatchEvent], mailbox: &str) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            WatchEvent::Lost { mailbox: m, reason } if &**m == mailbox => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

async fn streaming_watch(sim: &Sim, mailboxes: &[&str]) -> Watch {
    let watch = watching(sim, streaming(), mailboxes).await;
    watch.streams_open(1).await;
    watch
}

#[tokio::test]
async fn a_server_busy_storm_waits_exactly_back_off_milliseconds() {
    let sim = sim(None).await;
    sim.set_budgets(busy_budgets(120));
    sim.server_busy(4);
    let locator = locator(&sim);
    let mut watch = Watch::start(
        &sim,
        streaming(),
        Arc::new(MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let waits: Vec<(Duration, ResponseCode)> = watch
        .seen
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Throttled { wait, code, .. } => Some((*wait, code.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        waits,
        vec![(Duration::from_millis(120), ResponseCode::ErrorServerBusy); 4]
    );
    let items = deliver(&sim, &[MARA], "after the storm");
    watch.mail(&items).await;
    assert_eq!(watch.watcher.status().throttled, 4);
}

#[tokio::test]
async fn a_connection_cut_mid_stream_reconnects_and_loses_nothing() {
    let sim = sim(None).await;
    let mut watch = streaming_watch(&sim, &[MARA, SADIE]).await;
    sim.cut_streams();
    // Mail that arrives while the connection is down waits in the subscriptions.
    let items = deliver(&sim, &[MARA, SADIE], "during the cut");
    watch.mail(&items).await;
    let status = watch.watcher.status();
    assert!(status.reconnects >= 1, "{status:#?}");
    assert_eq!(
        (status.losses, status.subscribe_requests),
        (0, 2),
        "{status:#?}"
    );
}

#[tokio::test]
async fn a_server_restart_in_streaming_mode_resubscribes_and_asks_for_a_resync() {
    let sim = sim(None).await;
    let mut watch = streaming_watch(&sim, &[MARA, SADIE]).await;
    sim.restart_server("mbx1").unwrap();
    watch.subscribed(&[MARA, SADIE], 2).await;
    for mailbox in [MARA, SADIE] {
        let lost = losses(&watch.seen, mailbox);
        assert_eq!(lost.len(), 1, "{mailbox}: {lost:?}");
        assert!(lost[0].contains("ErrorSubscriptionNotFound"), "{lost:?}");
        assert_eq!(
            count(
                &watch.seen,
                |e| matches!(e, WatchEvent::Resync { mailbox: m, .. } if &**m == mailbox)
            ),
            1
        );
    }
    let items = deliver(&sim, &[MARA, SADIE], "after the restart");
    watch.mail(&items).await;
}

#[tokio::test]
async fn a_lost_affinity_cookie_starts_the_group_over() {
    let sim = sim(None).await;
    let mut watch = streaming_watch(&sim, &[MARA, SADIE]).await;
    // The reconnection's cookie is lost on the way: another back end, which holds none of
    // the group's subscriptions, answers.
    sim.ignore_affinity(1);
    sim.cut_streams();
    watch.subscribed(&[MARA, SADIE], 2).await;
    for mailbox in [MARA, SADIE] {
        assert!(losses(&watch.seen, mailbox)[0].contains("ErrorSubscriptionNotFound"));
    }
    let items = deliver(&sim, &[MARA, SADIE], "after the new cookie");
    watch.mail(&items).await;
}

#[tokio::test]
async fn a_mailbox_move_is_rediscovered_and_followed() {
    let sim = sim(None).await;
    let mut watch = streaming_watch(&sim, &[MARA, SADIE]).await;
    assert_eq!(watch.watcher.status().groups, 1);
    sim.move_mailbox(SADIE, "mbx2").unwrap();
    watch.subscribed(&[SADIE], 2).await;
    // The move ends Sadie's subscription (ErrorInvalidSubscription on the stream, or
    // ErrorSubscriptionNotFound on reconnecting); the old server then refuses her
    // (ErrorProxyRequestNotAllowed) and Autodiscover finds her new home.
    assert_eq!(losses(&watch.seen, SADIE).len(), 1, "{:#?}", watch.seen);
    assert!(
        watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Moved { mailbox, .. } if &**mailbox == SADIE))
    );
    // Sadie now streams in CONTOSO-2's group; Mara stays where she was.
    assert_eq!(watch.watcher.status().groups, 2);
    assert!(losses(&watch.seen, MARA).is_empty());
    let items = deliver(&sim, &[MARA, SADIE], "after the move");
    watch.mail(&items).await;
}

/// Delivers mail to `mailboxes` between faults, and checks that every item arrives once.
async fn nothing_lost(sim: &Sim, watch: &mut Watch, mailboxes: &[&str], streaming: bool) {
    let mut sent = Vec::new();
    let mut round = |sim: &Sim, name: &str| {
        for n in 0..3 {
            sent.extend(deliver(sim, mailboxes, &format!("{name} {n}")));
        }
    };
    round(sim, "calm");
    sim.set_budgets(busy_budgets(80));
    sim.server_busy(5);
    round(sim, "busy storm");
    sim.drop_connections(2);
    round(sim, "dropped connections");
    sim.cut_streams();
    round(sim, "cut streams");
    tokio::time::sleep(Duration::from_millis(300)).await;
    round(sim, "after the cuts");
    if !streaming {
        // Faults that lose the subscription itself: only watermarks bring back what
        // happened meanwhile.
        sim.restart_server("mbx1").unwrap();
        round(sim, "restart");
        tokio::time::sleep(Duration::from_millis(300)).await;
        sim.move_mailbox(MARA, "mbx2").unwrap();
        round(sim, "move");
    }
    round(sim, "last");
    watch.mail(&sent).await;
    // Give late duplicates a chance to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(50), watch.events.recv()).await
    {
        watch.seen.push(event);
    }
    let list = new_mail_list(&watch.seen);
    let unique: BTreeSet<_> = list.iter().collect();
    assert_eq!(
        list.len(),
        unique.len(),
        "duplicates reached the consumer: {list:?}"
    );
    assert_eq!(
        list.len(),
        sent.len(),
        "sent {} mails, saw {}",
        sent.len(),
        list.len()
    );
    assert!(
        !watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Resync { .. })),
        "nothing needed a resync: {:#?}",
        watch.seen
    );
}

#[tokio::test]
async fn nothing_lost_in_push_mode_across_restart_move_busy_storm_and_drops() {
    let (sim, locator, mut watch) = push_watch().await;
    for mailbox in [MARA, SADIE, ALFRED] {
        watch
            .watcher
            .watch(target(&locator, mailbox).await)
            .unwrap();
    }
    watch.subscribed(&[MARA, SADIE, ALFRED], 1).await;
    nothing_lost(&sim, &mut watch, &[MARA, SADIE, ALFRED], false).await;
    assert!(
        !losses(&watch.seen, MARA).is_empty(),
        "the faults did cost subscriptions"
    );
}

#[tokio::test]
async fn nothing_lost_in_pull_mode_across_restart_move_busy_storm_and_drops() {
    let sim = sim(None).await;
    let mut watch = watching(&sim, pull(), &[MARA, SADIE, ALFRED]).await;
    nothing_lost(&sim, &mut watch, &[MARA, SADIE, ALFRED], false).await;
    assert!(
        !losses(&watch.seen, MARA).is_empty(),
        "the faults did cost subscriptions"
    );
}

#[tokio::test]
async fn nothing_lost_in_streaming_mode_across_cuts_busy_storm_and_drops() {
    let sim = sim(None).await;
    let mut watch = watching(&sim, streaming(), &[MARA, SADIE, ALFRED]).await;
    watch.streams_open(2).await;
    nothing_lost(&sim, &mut watch, &[MARA, SADIE, ALFRED], true).await;
    assert!(watch.watcher.status().reconnects >= 1);
}
