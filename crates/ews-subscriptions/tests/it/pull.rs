//! Pull mode: `GetEvents` with watermarks, resuming after a restart, a watermark too old.

use std::sync::Arc;
use std::time::Duration;

use mailbox_watch::{MemoryWatermarks, WatchEvent, WatermarkStore};

use crate::support::*;

#[tokio::test]
async fn pull_delivers_events_and_saves_the_watermark() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let store = Arc::new(MemoryWatermarks::new());
    let mut watch = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    assert!(!watch.watcher.is_subscribed(MARA), "not watched yet");
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    assert!(watch.watcher.is_subscribed(MARA));
    assert!(watch.watcher.is_subscribed("Mara@Contoso.com"), "any case");
    assert!(!watch.watcher.is_subscribed(SADIE));
    let before = store.load(MARA).await.unwrap();
    let items = deliver(&sim, &[MARA, MARA, MARA], "pulled");
    watch.mail(&items).await;
    // In order, each once.
    let list: Vec<String> = new_mail_list(&watch.seen)
        .into_iter()
        .map(|(_, i)| i)
        .collect();
    assert_eq!(list, items);
    let after = store.load(MARA).await.unwrap();
    assert!(
        after.is_some() && after != before,
        "{before:?} -> {after:?}"
    );
}

#[tokio::test]
async fn a_restarted_watcher_resumes_from_the_saved_watermark() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let store = Arc::new(MemoryWatermarks::new());
    let mut first = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    first.watcher.watch(target(&locator, MARA).await).unwrap();
    first.subscribed(&[MARA], 1).await;
    let seen = deliver(&sim, &[MARA], "before the restart");
    first.mail(&seen).await;
    first.watcher.shutdown();
    drop(first);
    // Mail that arrives while nothing watches.
    let missed = deliver(&sim, &[MARA, MARA], "while down");
    let mut second = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    second.watcher.watch(target(&locator, MARA).await).unwrap();
    second.mail(&missed).await;
    assert!(
        second
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Subscribed { resumed: true, .. })),
        "{:#?}",
        second.seen
    );
    assert!(
        !new_mail(&second.seen).contains(&seen[0]),
        "mail before the saved watermark is not replayed"
    );
}

#[tokio::test]
async fn a_watermark_too_old_resubscribes_without_it_and_asks_for_a_resync() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let store = Arc::new(MemoryWatermarks::new());
    let mut first = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    first.watcher.watch(target(&locator, MARA).await).unwrap();
    first.subscribed(&[MARA], 1).await;
    first.watcher.shutdown();
    drop(first);
    deliver(&sim, &[MARA], "a month ago");
    // Events older than the 30-day window are gone, and the watermark with them.
    sim.advance_clock(Duration::from_secs(31 * 86_400));
    let mut second = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    second.watcher.watch(target(&locator, MARA).await).unwrap();
    second
        .until("a resync", |seen| {
            seen.iter().any(|e| matches!(e, WatchEvent::Resync { .. }))
        })
        .await;
    second.subscribed(&[MARA], 1).await;
    let resync = second.seen.iter().find_map(|e| match e {
        WatchEvent::Resync { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert!(resync.unwrap().contains("ErrorInvalidWatermark"));
    assert!(
        second
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Subscribed { resumed: false, .. }))
    );
    let fresh = deliver(&sim, &[MARA], "today");
    second.mail(&fresh).await;
}

#[tokio::test]
async fn a_consumer_that_saves_watermarks_gets_each_after_its_events() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let store = Arc::new(MemoryWatermarks::new());
    let mut settings = pull();
    settings.consumer_saves_watermarks = true;
    let mut watch = Watch::start(&sim, settings, store.clone(), Arc::clone(&locator));
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let items = deliver(&sim, &[MARA, MARA], "checkpointed");
    watch.mail(&items).await;
    watch
        .until("the checkpoint after the mail", |seen| {
            let last_mail = seen.iter().rposition(|e| matches!(e, WatchEvent::Mail(_)));
            last_mail.is_some_and(|at| {
                seen[at..]
                    .iter()
                    .any(|e| matches!(e, WatchEvent::Checkpoint { .. }))
            })
        })
        .await;
    assert!(store.is_empty(), "the watcher left saving to the consumer");
    // The consumer saves the last checkpoint; a new watcher resumes from it.
    let Some(WatchEvent::Checkpoint { watermark, .. }) = watch
        .seen
        .iter()
        .rev()
        .find(|e| matches!(e, WatchEvent::Checkpoint { .. }))
    else {
        unreachable!("waited for it above");
    };
    store.save(MARA, watermark).await.unwrap();
    watch.watcher.shutdown();
    let missed = deliver(&sim, &[MARA], "after the checkpoint");
    let mut again = Watch::start(&sim, pull(), store.clone(), Arc::clone(&locator));
    again.watcher.watch(target(&locator, MARA).await).unwrap();
    again.mail(&missed).await;
    assert!(
        !new_mail(&again.seen).iter().any(|i| items.contains(i)),
        "nothing before the checkpoint again"
    );
}
