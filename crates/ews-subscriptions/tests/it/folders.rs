//! Further folders: watched in the mailbox's one subscription, resolved by one `GetFolder`,
//! their events marked; folders Exchange does not find left out; at most 19; re-watching
//! with another set.

use std::sync::Arc;

use ews_proto::operations::{BaseShape, Request, SubscriptionKind};
use ews_proto::{BaseFolderId, ChangedObject, DistinguishedFolder, EventType, FolderId};
use ews_subscriptions::WatchSettings;
use exchange_sim::{FolderKind, Sim};
use mailbox_watch::{MailboxEvent, MemoryWatermarks, WatchError, WatchEvent};

use crate::push::push_watch;
use crate::support::*;

fn junk() -> BaseFolderId {
    BaseFolderId::distinguished(DistinguishedFolder::JunkEmail)
}

/// The mail events seen.
fn mail(seen: &[WatchEvent]) -> Vec<&MailboxEvent> {
    seen.iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(mail) => Some(mail),
            _ => None,
        })
        .collect()
}

/// The folder an event happened in: a folder event's own id, an item event's parent.
fn folder_of(mail: &MailboxEvent) -> Option<&FolderId> {
    match &mail.event.object {
        Some(ChangedObject::Folder(id)) => Some(id),
        _ => mail.event.parent_folder_id.as_ref(),
    }
}

/// The `MovedEvent` of the item now called `item`, once seen.
fn moved<'a>(seen: &'a [WatchEvent], item: &str) -> Option<&'a MailboxEvent> {
    mail(seen).into_iter().find(|m| {
        m.event.kind == EventType::Moved && m.event.item_id().is_some_and(|id| id.id == item)
    })
}

/// The folder lists of every `Subscribe` sent, in order.
fn subscribed_folders(requests: &[Request]) -> Vec<Vec<BaseFolderId>> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::Subscribe(s) => Some(s.folder_ids.clone()),
            _ => None,
        })
        .collect()
}

fn get_folders(requests: &[Request]) -> Vec<&ews_proto::operations::GetFolder> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::GetFolder(g) => Some(g),
            _ => None,
        })
        .collect()
}

/// A watcher whose requests are recorded.
async fn recorded(sim: &Sim, settings: WatchSettings) -> (Watch, Arc<Recording>) {
    let recording = Recording::new(auth(sim));
    let watch = Watch::start_with(
        settings,
        recording.clone(),
        Arc::new(MemoryWatermarks::new()),
        locator(sim),
    );
    (watch, recording)
}

/// Delivers a message to Mara's inbox and moves it to junk e-mail; waits for its
/// `MovedEvent` and the junk folder's `ModifiedEvent`; returns (delivered id, moved id).
async fn deliver_and_move_to_junk(sim: &Sim, watch: &mut Watch) -> (String, String) {
    let delivered = deliver(sim, &[MARA], "filed by a rule").remove(0);
    watch.mail(std::slice::from_ref(&delivered)).await;
    let moved_id = sim
        .move_message(MARA, &delivered, FolderKind::JunkEmail)
        .expect("moved");
    watch
        .until("the move and the junk folder's change", |seen| {
            let Some(parent) =
                moved(seen, &moved_id).and_then(|m| m.event.parent_folder_id.clone())
            else {
                return false;
            };
            mail(seen).iter().any(|m| {
                m.event.kind == EventType::Modified && m.event.folder_id() == Some(&parent)
            })
        })
        .await;
    (delivered, moved_id)
}

/// Every event of the junk folder is marked, and only those.
fn assert_marked_in_junk_only(seen: &[WatchEvent], delivered: &str, moved_id: &str) {
    let moved = moved(seen, moved_id).expect("the move was seen");
    assert!(moved.further_folder, "{moved:?}");
    let junk_id = moved.event.parent_folder_id.clone().expect("a parent");
    let new_mail = mail(seen)
        .into_iter()
        .find(|m| m.is_new_mail() && m.event.item_id().is_some_and(|id| id.id == delivered))
        .expect("the new mail was seen");
    assert!(
        !new_mail.further_folder,
        "inbox mail is not marked: {new_mail:?}"
    );
    for event in mail(seen) {
        assert_eq!(
            event.further_folder,
            folder_of(event) == Some(&junk_id),
            "{event:?}"
        );
    }
    // The inbox's own folder change (its unread count, the badge) is not marked.
    assert!(
        mail(seen)
            .iter()
            .any(|m| m.event.kind == EventType::Modified
                && m.event.folder_id().is_some_and(|id| *id != junk_id)
                && !m.further_folder),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn a_further_folder_shares_the_one_subscription_and_its_events_are_marked() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, pull()).await;
    watch
        .watcher
        .watch(target(&locator, MARA).await.folders(vec![junk()]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    let (delivered, moved_id) = deliver_and_move_to_junk(&sim, &mut watch).await;
    assert_marked_in_junk_only(&watch.seen, &delivered, &moved_id);

    let requests = recording.requests();
    // One subscription naming both folders: one of the mailbox's 20.
    assert_eq!(
        subscribed_folders(&requests),
        vec![vec![BaseFolderId::inbox(), junk()]]
    );
    assert_eq!(sim.stats().subscriptions, 1);
    // One GetFolder, ids only, for that subscription.
    let resolutions = get_folders(&requests);
    assert_eq!(resolutions.len(), 1, "{requests:#?}");
    assert_eq!(resolutions[0].shape, BaseShape::IdOnly);
    assert!(resolutions[0].folder_ids.contains(&junk()));
}

#[tokio::test]
async fn streaming_marks_further_folder_events_too() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, streaming()).await;
    watch
        .watcher
        .watch(target(&locator, MARA).await.folders(vec![junk()]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    watch.streams_open(1).await;
    let (delivered, moved_id) = deliver_and_move_to_junk(&sim, &mut watch).await;
    assert_marked_in_junk_only(&watch.seen, &delivered, &moved_id);
    let requests = recording.requests();
    assert!(requests.iter().any(|r| matches!(
        r,
        Request::Subscribe(s) if s.kind == SubscriptionKind::Streaming
            && s.folder_ids == vec![BaseFolderId::inbox(), junk()]
    )));
}

#[tokio::test]
async fn push_marks_further_folder_events_too() {
    let (sim, locator, mut watch) = push_watch().await;
    watch
        .watcher
        .watch(target(&locator, MARA).await.folders(vec![junk()]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    let (delivered, moved_id) = deliver_and_move_to_junk(&sim, &mut watch).await;
    assert_marked_in_junk_only(&watch.seen, &delivered, &moved_id);
}

#[tokio::test]
async fn folders_exchange_does_not_find_are_left_out_and_the_rest_watched() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, pull()).await;
    // An id no folder of the mailbox has, and a folder a 2016 mailbox without Unified
    // Messaging lacks (ErrorFolderNotFound).
    let unknown = BaseFolderId::Folder(FolderId::new(
        "AAMkADk0N2Q1ZjQ2LTAwMDAtMDAwMC0wMDAwLTAwMDAwMDAwMDAwMAAuAAAAAAA=",
    ));
    let voicemail = BaseFolderId::distinguished(DistinguishedFolder::parse("voicemail"));
    watch
        .watcher
        .watch(target(&locator, MARA).await.folders(vec![
            unknown.clone(),
            voicemail.clone(),
            junk(),
        ]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    assert!(watch.watcher.is_subscribed(MARA));
    let (delivered, moved_id) = deliver_and_move_to_junk(&sim, &mut watch).await;
    assert_marked_in_junk_only(&watch.seen, &delivered, &moved_id);
    assert!(
        !watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Failed { .. } | WatchEvent::Lost { .. })),
        "{:#?}",
        watch.seen
    );
    let requests = recording.requests();
    let resolutions = get_folders(&requests);
    assert!(
        resolutions[0].folder_ids.contains(&unknown)
            && resolutions[0].folder_ids.contains(&voicemail),
        "{resolutions:#?}"
    );
    assert_eq!(
        subscribed_folders(&requests),
        vec![vec![BaseFolderId::inbox(), junk()]]
    );
}

#[tokio::test]
async fn only_the_inbox_is_watched_when_no_further_folder_is_found() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, pull()).await;
    let voicemail = BaseFolderId::distinguished(DistinguishedFolder::parse("voicemail"));
    watch
        .watcher
        .watch(target(&locator, MARA).await.folders(vec![voicemail]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    let items = deliver(&sim, &[MARA], "inbox still watched");
    watch.mail(&items).await;
    assert!(mail(&watch.seen).iter().all(|m| !m.further_folder));
    assert_eq!(
        subscribed_folders(&recording.requests()),
        vec![vec![BaseFolderId::inbox()]]
    );
}

#[tokio::test]
async fn more_than_19_further_folders_are_refused_naming_folders() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let watch = Watch::start(
        &sim,
        pull(),
        Arc::new(MemoryWatermarks::new()),
        Arc::clone(&locator),
    );
    let mut folders: Vec<BaseFolderId> = (0..19)
        .map(|n| BaseFolderId::Folder(FolderId::new(format!("folder-{n}"))))
        .collect();
    folders.push(junk());
    let mara = target(&locator, MARA).await;
    match watch.watcher.watch(mara.clone().folders(folders.clone())) {
        Err(WatchError::Config { field, .. }) => assert_eq!(field, "folders"),
        other => panic!("20 further folders: {other:?}"),
    }
    assert_eq!(watch.watcher.status().mailboxes, 0, "nothing watched");
    // Duplicates and the watcher's own inbox do not count.
    folders.pop();
    folders.extend([folders[0].clone(), BaseFolderId::inbox()]);
    watch.watcher.watch(mara.folders(folders)).unwrap();
    assert_eq!(watch.watcher.status().mailboxes, 1);
}

#[tokio::test]
async fn a_target_without_further_folders_sends_no_get_folder() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, pull()).await;
    watch.watcher.watch(target(&locator, MARA).await).unwrap();
    watch.subscribed(&[MARA], 1).await;
    let delivered = deliver(&sim, &[MARA], "plain").remove(0);
    watch.mail(std::slice::from_ref(&delivered)).await;
    // Moved out of the inbox: seen through the inbox subscription, and not marked.
    let moved_id = sim
        .move_message(MARA, &delivered, FolderKind::JunkEmail)
        .expect("moved");
    watch
        .until("the move", |seen| moved(seen, &moved_id).is_some())
        .await;
    assert!(mail(&watch.seen).iter().all(|m| !m.further_folder));
    let requests = recording.requests();
    assert!(get_folders(&requests).is_empty(), "{requests:#?}");
    assert_eq!(
        subscribed_folders(&requests),
        vec![vec![BaseFolderId::inbox()]]
    );
}

#[tokio::test]
async fn watching_again_with_other_folders_resubscribes_from_the_watermark() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, recording) = recorded(&sim, pull()).await;
    let mara = target(&locator, MARA).await;
    watch
        .watcher
        .watch(mara.clone().folders(vec![junk()]))
        .unwrap();
    watch.subscribed(&[MARA], 1).await;
    // The same set, in another form: nothing changes.
    watch
        .watcher
        .watch(
            mara.clone()
                .folders(vec![junk(), junk(), BaseFolderId::inbox()]),
        )
        .unwrap();
    // Another set: the subscription follows it.
    let sent = deliver(&sim, &[MARA], "before the change").remove(0);
    watch.watcher.watch(mara.clone()).unwrap();
    watch.subscribed(&[MARA], 2).await;
    watch.mail(std::slice::from_ref(&sent)).await;
    let resubscribed = watch
        .seen
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Subscribed { resumed, .. } => Some(*resumed),
            _ => None,
        })
        .collect::<Vec<_>>();
    assert_eq!(resubscribed.len(), 2);
    assert!(resubscribed[1], "pull resumes from the watermark reached");
    let moved_id = sim
        .move_message(MARA, &sent, FolderKind::JunkEmail)
        .expect("moved");
    watch
        .until("the move", |seen| moved(seen, &moved_id).is_some())
        .await;
    let moved = moved(&watch.seen, &moved_id).expect("seen");
    assert!(!moved.further_folder, "junk is no longer a further folder");
    let requests = recording.requests();
    assert_eq!(
        subscribed_folders(&requests),
        vec![
            vec![BaseFolderId::inbox(), junk()],
            vec![BaseFolderId::inbox()]
        ]
    );
    assert!(
        requests
            .iter()
            .any(|r| matches!(r, Request::Unsubscribe(_))),
        "the old subscription is ended"
    );
    assert_eq!(
        get_folders(&requests).len(),
        1,
        "the new set has no further folder"
    );
}

#[tokio::test]
async fn streaming_resubscribes_afresh_and_asks_for_a_resync_when_folders_change() {
    let sim = sim(None).await;
    let locator = locator(&sim);
    let (mut watch, _recording) = recorded(&sim, streaming()).await;
    let mara = target(&locator, MARA).await;
    watch.watcher.watch(mara.clone()).unwrap();
    watch.subscribed(&[MARA], 1).await;
    watch.watcher.watch(mara.folders(vec![junk()])).unwrap();
    watch.subscribed(&[MARA], 2).await;
    assert!(
        watch
            .seen
            .iter()
            .any(|e| matches!(e, WatchEvent::Resync { .. })),
        "{:#?}",
        watch.seen
    );
    let (delivered, moved_id) = deliver_and_move_to_junk(&sim, &mut watch).await;
    assert_marked_in_junk_only(&watch.seen, &delivered, &moved_id);
}
