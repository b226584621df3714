//! Further folders: one subscription each on `mailFolders('{folder}')/messages`, their mail
//! marked `further_folder` with no unread count after it, their lifecycle handled like the
//! inbox's, and the set followed when the mailbox is watched again.

use std::sync::Arc;
use std::time::Duration;

use ews_proto::{BaseFolderId, DistinguishedFolder, FolderId};
use exchange_sim::{FolderKind, GraphSubscriptionInfo, LifecycleEvent, NewMessage, Sim};
use mailbox_watch::{MemoryWatermarks, WatchError, WatchEvent, WatchTarget, WatermarkStore};

use crate::support::{Harness, MARA, Options, eventually, has_new_mail, new_mail, sim, unread};

const QUIET: Duration = Duration::from_millis(300);

fn folder(id: DistinguishedFolder) -> BaseFolderId {
    BaseFolderId::distinguished(id)
}

fn target(folders: Vec<BaseFolderId>) -> WatchTarget {
    let url = "https://graph.microsoft.com/v1.0/".parse().expect("url");
    WatchTarget::new(MARA, url).folders(folders)
}

/// Mara's subscriptions whose resource names `folder` (`inbox`, `junkemail`).
fn on(sim: &Sim, folder: &str) -> Vec<GraphSubscriptionInfo> {
    let key = format!("mailFolders('{folder}')/messages");
    sim.graph()
        .subscriptions(Some(MARA))
        .into_iter()
        .filter(|s| s.resource.ends_with(&key))
        .collect()
}

/// Waits (bounded) until Mara has `n` subscriptions; they are returned.
async fn subscriptions(sim: &Sim, n: usize) -> Vec<GraphSubscriptionInfo> {
    let held = || sim.graph().subscriptions(Some(MARA)).len() == n;
    let reached = eventually(Duration::from_secs(5), held).await;
    let now = sim.graph().subscriptions(Some(MARA));
    assert!(reached, "{n} subscriptions expected: {now:#?}");
    now
}

/// Waits (bounded) until the inbox's and the junk folder's first delta rounds are done: mail
/// that arrives after them is found by the next round, even without its notification.
async fn baselines(harness: &Harness) {
    let done = || harness.watcher.counts().delta_rounds >= 2;
    let done = eventually(Duration::from_secs(5), done).await;
    assert!(done, "{:?}", harness.watcher.counts());
}

/// Whether each new-mail event for Mara is marked as one of a further folder, in order.
fn marks(events: &[WatchEvent]) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(m) if m.is_new_mail() && &*m.mailbox == MARA => Some(m.further_folder),
            _ => None,
        })
        .collect()
}

fn junk_mail(sim: &Sim, subject: &str) -> String {
    let message =
        NewMessage::new(subject, "spammer@fabrikam.com").into_folder(FolderKind::JunkEmail);
    sim.deliver_message(MARA, &message).expect("mail")
}

#[tokio::test]
async fn a_further_folder_has_its_own_subscription_and_its_mail_is_marked_without_a_badge() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness
        .watcher
        .watch(target(vec![folder(DistinguishedFolder::JunkEmail)]))
        .expect("watch");
    harness.subscribed(MARA).await;
    subscriptions(&sim, 2).await;
    let (inbox, junk) = (on(&sim, "inbox"), on(&sim, "junkemail"));
    assert_eq!((inbox.len(), junk.len()), (1, 1));
    let (inbox, junk) = (&inbox[0], &junk[0]);
    assert_eq!(junk.change_type, "created");
    assert_eq!(junk.notification_url, inbox.notification_url);
    assert_eq!(junk.lifecycle_url, inbox.lifecycle_url);
    let apart = (junk.expires - inbox.expires).abs();
    assert!(
        apart < time::Duration::minutes(1),
        "the same lifetime asked for: {apart}"
    );
    assert!(junk.client_state.is_some());
    assert_ne!(
        junk.client_state, inbox.client_state,
        "a secret per subscription"
    );

    // Mail filed into the junk folder: marked, and no unread count follows it.
    let spam = junk_mail(&sim, "You won");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [spam]);
    assert_eq!(marks(&events), [true]);
    assert!(
        unread(&events, MARA).is_empty(),
        "the badge is the inbox's: {events:#?}"
    );

    // The inbox's mail as before; moved into the junk folder, it is that folder's mail.
    let real = sim
        .deliver_mail(MARA, "Quarterly numbers", "boss@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), std::slice::from_ref(&real));
    assert_eq!(marks(&events), [false]);
    assert_eq!(unread(&events, MARA), [1]);
    let moved = sim
        .move_message(MARA, &real, FolderKind::JunkEmail)
        .expect("moved");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [moved]);
    assert_eq!(marks(&events), [true]);
    assert!(unread(&events, MARA).is_empty(), "{events:#?}");

    // Unwatching deletes both.
    assert!(harness.watcher.unwatch(MARA).await.expect("unwatch"));
    assert!(sim.graph().subscriptions(Some(MARA)).is_empty());
}

#[tokio::test]
async fn watching_again_follows_the_set_of_folders() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    let junk = folder(DistinguishedFolder::JunkEmail);
    let archive = folder(DistinguishedFolder::Unknown("archive".into()));
    harness
        .watcher
        .watch(target(vec![junk.clone(), archive.clone()]))
        .expect("watch");
    harness.subscribed(MARA).await;
    let before = subscriptions(&sim, 3).await;
    let created = sim.graph().stats().created;

    // The same set, in another order and with a duplicate: nothing changes.
    harness
        .watcher
        .watch(target(vec![archive.clone(), junk.clone(), archive.clone()]))
        .expect("watch");
    tokio::time::sleep(QUIET).await;
    let ids = |subs: &[GraphSubscriptionInfo]| {
        let mut ids: Vec<String> = subs.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(ids(&sim.graph().subscriptions(Some(MARA))), ids(&before));
    assert_eq!(sim.graph().stats().created, created);

    // Fewer folders: the junk folder's subscription is deleted, the others stay.
    harness
        .watcher
        .watch(target(vec![archive.clone()]))
        .expect("watch");
    let after = subscriptions(&sim, 2).await;
    assert!(on(&sim, "junkemail").is_empty(), "{after:#?}");
    let kept: Vec<&GraphSubscriptionInfo> = before
        .iter()
        .filter(|s| !s.resource.contains("junkemail"))
        .collect();
    assert_eq!(ids(&after), {
        let mut kept: Vec<String> = kept.iter().map(|s| s.id.clone()).collect();
        kept.sort();
        kept
    });
    assert_eq!(sim.graph().stats().deleted, 1);
    assert_eq!(sim.graph().stats().created, created);
    // Junk mail is no longer announced; the inbox's still is.
    junk_mail(&sim, "unwatched folder");
    let real = sim
        .deliver_mail(MARA, "still here", "boss@contoso.com")
        .expect("mail");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [real]);

    // A folder added back gets a subscription again; none at all leaves the inbox's.
    harness
        .watcher
        .watch(target(vec![archive.clone(), junk.clone()]))
        .expect("watch");
    subscriptions(&sim, 3).await;
    assert_eq!(on(&sim, "junkemail").len(), 1);
    harness.watcher.watch(target(Vec::new())).expect("watch");
    subscriptions(&sim, 1).await;
    assert_eq!(on(&sim, "inbox").len(), 1);
    assert!(harness.watcher.is_subscribed(MARA));
}

#[tokio::test]
async fn twenty_further_folders_are_refused() {
    let sim = sim().await;
    let harness = Harness::start(&sim, Options::default()).await;
    let twenty: Vec<BaseFolderId> = (0..20)
        .map(|n| BaseFolderId::Folder(FolderId::new(format!("AQMkFolder{n}"))))
        .collect();
    let refused = harness.watcher.watch(target(twenty.clone()));
    assert!(
        matches!(
            refused,
            Err(WatchError::Config {
                field: "folders",
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(harness.watcher.status().mailboxes, 0, "nothing watched");
    // A folder id that would leave its quotes is refused too.
    let hostile = BaseFolderId::Folder(FolderId::new("AQMk')/messages?x"));
    assert!(matches!(
        harness.watcher.watch(target(vec![hostile])),
        Err(WatchError::Config {
            field: "folders",
            ..
        })
    ));
    // Nineteen are taken.
    harness
        .watcher
        .watch(target(twenty[..19].to_vec()))
        .expect("19 further folders");
    assert_eq!(harness.watcher.status().mailboxes, 1);
    assert!(sim.graph().subscriptions(None).len() <= 20);
}

#[tokio::test]
async fn a_folder_graph_does_not_find_is_left_out_and_the_others_are_watched() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    let missing = BaseFolderId::Folder(FolderId::new("AQMkNoSuchFolder"));
    harness
        .watcher
        .watch(target(vec![
            missing,
            folder(DistinguishedFolder::JunkEmail),
        ]))
        .expect("watch");
    harness.subscribed(MARA).await;
    subscriptions(&sim, 2).await;
    let spam = junk_mail(&sim, "still watched");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [spam]);
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, WatchEvent::Failed { .. } | WatchEvent::Lost { .. })),
        "{events:#?}"
    );
    let status = harness.watcher.status();
    assert_eq!((status.subscribed, status.failed), (1, 0), "{status:?}");
}

#[tokio::test]
async fn a_further_folders_missed_round_reads_that_folder_and_marks_what_it_finds() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness
        .watcher
        .watch(target(vec![folder(DistinguishedFolder::JunkEmail)]))
        .expect("watch");
    harness.subscribed(MARA).await;
    subscriptions(&sim, 2).await;
    // The folder's baseline round is done before its notification is lost.
    baselines(&harness).await;
    let first = junk_mail(&sim, "first");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [first]);

    sim.graph().drop_notifications(MARA, 1).expect("drop");
    let dropped = junk_mail(&sim, "dropped");
    let junk = on(&sim, "junkemail")[0].id.clone();
    assert!(
        eventually(Duration::from_secs(5), || sim.graph().stats().dropped >= 1).await,
        "Graph dropped the notification"
    );
    sim.graph()
        .lifecycle(&junk, LifecycleEvent::Missed)
        .expect("missed");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(
        new_mail(&events, MARA),
        [dropped],
        "found by the junk folder's round"
    );
    assert_eq!(marks(&events), [true]);
    assert!(unread(&events, MARA).is_empty(), "{events:#?}");
}

#[tokio::test]
async fn a_further_folders_reauthorization_is_answered_and_mail_meanwhile_is_found() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness
        .watcher
        .watch(target(vec![folder(DistinguishedFolder::JunkEmail)]))
        .expect("watch");
    harness.subscribed(MARA).await;
    subscriptions(&sim, 2).await;
    baselines(&harness).await;
    let junk = on(&sim, "junkemail")[0].id.clone();
    // Graph holds the folder's notifications back until the app reauthorizes.
    sim.graph()
        .lifecycle(&junk, LifecycleEvent::ReauthorizationRequired)
        .expect("sent");
    let paused = junk_mail(&sim, "while paused");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [paused]);
    assert_eq!(marks(&events), [true]);
    assert_eq!(sim.graph().stats().reauthorized, 1);
    assert!(!on(&sim, "junkemail")[0].paused);
    assert_eq!(on(&sim, "inbox").len(), 1);
}

#[tokio::test]
async fn a_further_folders_removed_subscription_is_made_anew_without_losing_the_mailbox() {
    let sim = sim().await;
    let mut harness = Harness::start(&sim, Options::default()).await;
    harness
        .watcher
        .watch(target(vec![folder(DistinguishedFolder::JunkEmail)]))
        .expect("watch");
    harness.subscribed(MARA).await;
    subscriptions(&sim, 2).await;
    baselines(&harness).await;
    let old = on(&sim, "junkemail")[0].id.clone();
    sim.graph()
        .lifecycle(&old, LifecycleEvent::SubscriptionRemoved)
        .expect("removed");
    let between = junk_mail(&sim, "between");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(
        new_mail(&events, MARA),
        [between],
        "found by the round after"
    );
    assert_eq!(marks(&events), [true]);
    assert!(
        !events.iter().any(|e| matches!(e, WatchEvent::Lost { .. })),
        "the inbox is still subscribed: {events:#?}"
    );
    let junk = on(&sim, "junkemail");
    assert_eq!(junk.len(), 1);
    assert_ne!(junk[0].id, old);
    assert!(harness.watcher.is_subscribed(MARA));
    let after = junk_mail(&sim, "after");
    let events = harness.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [after]);
    assert_eq!(marks(&events), [true]);
}

#[tokio::test]
async fn a_restarted_watcher_knows_its_folders_subscriptions() {
    let sim = sim().await;
    let store = Arc::new(MemoryWatermarks::new());
    let options = || Options {
        store: Arc::clone(&store) as _,
        ..Options::default()
    };
    let junk = || vec![folder(DistinguishedFolder::JunkEmail)];
    let first = Harness::start(&sim, options()).await;
    first.watcher.watch(target(junk())).expect("watch");
    first.subscribed(MARA).await;
    let before = subscriptions(&sim, 2).await;
    let junk_id = on(&sim, "junkemail")[0].id.clone();
    let mut named = false;
    for _ in 0..500 {
        named = saved(&store)
            .await
            .is_some_and(|text| text.contains("junkemail") && text.contains(&junk_id));
        if named {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(named, "the saved state names the folder's subscription");
    first.watcher.shutdown();
    drop(first);

    // The new watcher's webhook has another URL: it takes over both saved subscriptions,
    // finds they notify elsewhere, and replaces each; none is left behind.
    let mut second = Harness::start(&sim, options()).await;
    second.watcher.watch(target(junk())).expect("watch");
    second.subscribed(MARA).await;
    let replaced = || {
        let now = sim.graph().subscriptions(Some(MARA));
        now.len() == 2 && now.iter().all(|s| before.iter().all(|b| b.id != s.id))
    };
    let done = eventually(Duration::from_secs(5), replaced).await;
    assert!(done, "{:#?}", sim.graph().subscriptions(Some(MARA)));
    assert_eq!(on(&sim, "junkemail").len(), 1);
    let spam = junk_mail(&sim, "after the restart");
    let events = second.collect(has_new_mail(1, MARA), QUIET).await;
    assert_eq!(new_mail(&events, MARA), [spam]);
    assert_eq!(marks(&events), [true]);
}

/// What the store holds for Mara now.
async fn saved(store: &MemoryWatermarks) -> Option<String> {
    let saved = store.load(MARA).await.expect("the store answers");
    saved.map(|w| w.as_str().to_owned())
}
