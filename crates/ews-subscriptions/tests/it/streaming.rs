//! Streaming mode: groups, affinity, connection lifetime, reopening.

use std::sync::Arc;
use std::time::Duration;

use mailbox_watch::{MemoryWatermarks, WatchEvent};

use crate::support::*;

#[tokio::test]
async fn one_connection_per_group_delivers_each_mailboxs_new_mail() {
    let sim = sim(None).await;
    let mut watch = watching(&sim, streaming(), &[MARA, SADIE, ALFRED]).await;
    let items = deliver(&sim, &[MARA, SADIE, ALFRED], "hello");
    watch.mail(&items).await;
    // Each event names the mailbox its item was delivered to.
    let list = new_mail_list(&watch.seen);
    for (mailbox, item) in [MARA, SADIE, ALFRED].iter().zip(&items) {
        assert!(
            list.contains(&(mailbox.to_string(), item.clone())),
            "{mailbox}: {list:?}"
        );
    }
    let status = watch.watcher.status();
    assert_eq!(
        (status.mailboxes, status.subscribed, status.groups),
        (3, 3, 2),
        "{status:#?}"
    );
    // Two groups (CONTOSO-1: Mara and Sadie; CONTOSO-2: Alfred), one connection each.
    assert_eq!(status.streams_open, 2, "{status:#?}");
    assert_eq!(sim.stats().streaming_connections, 2);
}

#[tokio::test]
async fn a_full_group_splits_and_each_part_streams() {
    let sim = sim(None).await;
    let mut settings = streaming();
    settings.group_size = 2;
    let mut watch = watching(&sim, settings, &[MARA, SADIE, TOM]).await;
    let items = deliver(&sim, &[MARA, SADIE, TOM], "split");
    watch.mail(&items).await;
    let status = watch.watcher.status();
    assert_eq!(
        status.groups, 2,
        "three mailboxes in groups of two: {status:#?}"
    );
    assert_eq!(sim.stats().streaming_connections, 2);
}

#[tokio::test]
async fn connections_are_reopened_at_connection_timeout_without_losing_mail() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let mut watch = Watch::start(
        &sim,
        streaming(),
        Arc::new(MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    // The scaled ConnectionTimeout is 600 ms: mail goes out across several connections.
    let mut items = Vec::new();
    for n in 0..8 {
        items.extend(deliver(&sim, &[MARA], &format!("mail {n}")));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    watch.mail(&items).await;
    let status = watch.watcher.status();
    // Closed at ConnectionTimeout is a clean reopen: no break, no loss, one subscription.
    assert_eq!(
        (status.reconnects, status.losses, status.subscribe_requests),
        (0, 0, 1),
        "{status:#?}"
    );
    assert!(sim.stats().streamed_envelopes > 4);
}

#[tokio::test]
async fn adding_a_mailbox_reopens_its_group() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let mut watch = Watch::start(
        &sim,
        streaming(),
        Arc::new(MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    watch.watcher.watch(target(&locator, SADIE).await).unwrap();
    watch.subscribed(&[SADIE], 1).await;
    // Mara sorts before Sadie: she becomes the anchor of the live group.
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let items = deliver(&sim, &[MARA, SADIE], "after join");
    watch.mail(&items).await;
    assert_eq!(watch.watcher.status().groups, 1);
    assert_eq!(
        sim.stats().streaming_connections,
        1,
        "the group's old connection was closed"
    );
    // Watching the same mailbox at the same place again changes nothing.
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    assert_eq!(watch.watcher.status().mailboxes, 2);
}

#[tokio::test]
async fn unwatching_stops_its_events() {
    let sim = sim(None).await;
    let mut watch = watching(&sim, streaming(), &[MARA, SADIE]).await;
    assert!(watch.watcher.unwatch(SADIE).await.unwrap());
    assert!(!watch.watcher.unwatch(SADIE).await.unwrap());
    let ignored = deliver(&sim, &[SADIE], "not watched");
    let items = deliver(&sim, &[MARA], "watched");
    watch.mail(&items).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    while let Ok(Some(event)) =
        tokio::time::timeout(Duration::from_millis(50), watch.events.recv()).await
    {
        watch.seen.push(event);
    }
    assert!(
        !new_mail(&watch.seen).contains(&ignored[0]),
        "{:#?}",
        watch.seen
    );
    assert_eq!(watch.watcher.status().mailboxes, 1);
    assert!(
        !watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Lost { .. })),
        "{:#?}",
        watch.seen
    );
}

#[tokio::test]
async fn bad_mailbox_addresses_are_refused_by_name() {
    let sim = sim(None).await;
    let watch = Watch::start(
        &sim,
        streaming(),
        Arc::new(MemoryWatermarks::new()),
        locator(&sim),
    );
    let url = sim.ews_url(MARA).unwrap().parse().unwrap();
    let error = watch
        .watcher
        .watch(mailbox_watch::WatchTarget::new("not an address", url))
        .unwrap_err();
    assert!(error.to_string().contains("not an address"), "{error}");
    assert_eq!(watch.watcher.status().mailboxes, 0);
}
