//! Moves: the events a move raises (`MovedEvent`, both folders' `ModifiedEvent`) and
//! `MoveItem`.

use ews_proto::operations::{GetEvents, Subscribe};
use ews_proto::{BaseFolderId, ChangedObject, EventType};
use exchange_sim::FolderKind;

use super::*;
use crate::ews::{affine, subscribe};

#[tokio::test]
async fn a_move_raises_moved_and_both_folders_modified() {
    let sim = support::start().await;
    let ews = affine(&sim, MARA);
    let folders = all_folders(&sim, MARA).await;
    let id = |k: FolderKind| folders[&k].id.clone().expect("id");
    let pull = Subscribe::pull(
        vec![
            BaseFolderId::inbox(),
            BaseFolderId::distinguished(ews_proto::DistinguishedFolder::DeletedItems),
        ],
        EventType::SUBSCRIBABLE.to_vec(),
        10,
        None,
    );
    let (subscription, cookie, watermark) = subscribe(&ews, MARA, &pull).await;
    let ews = ews.header(
        "Cookie",
        ews_proto::affinity::cookie_header(&cookie.expect("cookie")),
    );
    let item = sim
        .deliver_mail(MARA, "to junk", "x@contoso.com")
        .expect("delivered");
    let watermark = watermark.expect("watermark");
    let (_, parsed) = ews
        .call(MARA, &GetEvents::new(subscription.clone(), watermark))
        .await;
    let after_delivery = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n");
    let last = after_delivery
        .events
        .last()
        .and_then(|e| e.watermark.clone())
        .expect("watermark");
    let moved = sim
        .move_message(MARA, &item, FolderKind::DeletedItems)
        .expect("moved");
    let (_, parsed) = ews.call(MARA, &GetEvents::new(subscription, last)).await;
    let events = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n")
        .events;
    let kinds: Vec<_> = events.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(
        kinds,
        [EventType::Moved, EventType::Modified, EventType::Modified]
    );
    let moved_event = &events[0];
    assert!(matches!(&moved_event.object, Some(ChangedObject::Item(new)) if new.id == moved));
    assert!(matches!(&moved_event.old_object, Some(ChangedObject::Item(old)) if old.id == item));
    assert_eq!(
        moved_event.parent_folder_id.as_ref().map(|f| f.id.clone()),
        Some(id(FolderKind::DeletedItems))
    );
    assert_eq!(
        moved_event
            .old_parent_folder_id
            .as_ref()
            .map(|f| f.id.clone()),
        Some(id(FolderKind::Inbox))
    );
    let modified: Vec<_> = events[1..]
        .iter()
        .map(|e| match &e.object {
            Some(ChangedObject::Folder(f)) => (
                f.id.clone(),
                e.parent_folder_id.as_ref().map(|p| p.id.clone()),
                e.unread_count,
            ),
            other => panic!("folder event expected, got {other:?}"),
        })
        .collect();
    let top = Some(id(FolderKind::MsgFolderRoot));
    assert_eq!(
        modified,
        [
            (id(FolderKind::Inbox), top.clone(), Some(0)),
            (id(FolderKind::DeletedItems), top, Some(1))
        ]
    );
    let after = all_folders(&sim, MARA).await;
    assert_eq!(after[&FolderKind::Inbox].total, Some(0));
    assert_eq!(after[&FolderKind::DeletedItems].total, Some(1));
}

fn move_item(to: &str, items: &[&str]) -> String {
    let ids: String = items
        .iter()
        .map(|id| format!("<t:ItemId Id=\"{id}\"/>"))
        .collect();
    format!(
        "<m:MoveItem><m:ToFolderId>{to}</m:ToFolderId><m:ItemIds>{ids}</m:ItemIds></m:MoveItem>"
    )
}

/// The new ids a `MoveItemResponse` returns, per message (`None` for errors).
fn new_item_ids(answer: &Answer) -> Vec<(String, Option<String>)> {
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let doc = roxmltree::Document::parse(&text).expect("well-formed answer");
    doc.descendants()
        .filter(|n| n.has_tag_name((M, "MoveItemResponseMessage")))
        .map(|m| {
            let code = m
                .descendants()
                .find(|n| n.has_tag_name((M, "ResponseCode")))
                .map(text_of)
                .unwrap_or_default();
            let id = m
                .descendants()
                .find(|n| n.has_tag_name((T, "ItemId")))
                .and_then(|n| n.attribute("Id").map(Into::into));
            (code, id)
        })
        .collect()
}

#[tokio::test]
async fn move_item_moves_within_a_mailbox_and_raises_the_events() {
    let sim = support::start_with(delegating()).await;
    let ews = affine(&sim, MARA);
    let folders = all_folders(&sim, MARA).await;
    let id = |k: FolderKind| folders[&k].id.clone().expect("id");
    let pull = Subscribe::pull(
        vec![BaseFolderId::inbox()],
        EventType::SUBSCRIBABLE.to_vec(),
        10,
        None,
    );
    let (subscription, cookie, watermark) = subscribe(&ews, MARA, &pull).await;
    let ews = ews.header(
        "Cookie",
        ews_proto::affinity::cookie_header(&cookie.expect("cookie")),
    );
    let item = sim
        .deliver_mail(MARA, "junk", "x@contoso.com")
        .expect("delivered");
    let (_, parsed) = ews
        .call(
            MARA,
            &GetEvents::new(subscription.clone(), watermark.expect("w")),
        )
        .await;
    let events = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n")
        .events;
    let last = events
        .last()
        .and_then(|e| e.watermark.clone())
        .expect("watermark");

    let mara = as_user(&sim, MARA, MARA_LOGON);
    let answer = mara
        .post(envelope(
            "",
            &move_item(&distinguished("junkemail", None), &[&item, "bm90LWFuLWlk"]),
        ))
        .await;
    let results = new_item_ids(&answer);
    assert_eq!(results[0].0, "NoError");
    let new = results[0].1.clone().expect("the new item's id");
    assert_ne!(new, item, "a moved item has a new id");
    assert_eq!(results[1], ("ErrorInvalidIdMalformed".to_owned(), None));

    let (_, parsed) = ews.call(MARA, &GetEvents::new(subscription, last)).await;
    let events = parsed
        .expect("parses")
        .body
        .into_first()
        .expect("m")
        .notification
        .expect("n")
        .events;
    let moved = events
        .iter()
        .find(|e| e.kind == EventType::Moved)
        .expect("MovedEvent");
    assert!(matches!(&moved.object, Some(ChangedObject::Item(i)) if i.id == new));
    assert!(matches!(&moved.old_object, Some(ChangedObject::Item(i)) if i.id == item));
    assert_eq!(
        moved.old_parent_folder_id.as_ref().map(|f| f.id.clone()),
        Some(id(FolderKind::Inbox))
    );
    assert_eq!(
        moved.parent_folder_id.as_ref().map(|f| f.id.clone()),
        Some(id(FolderKind::JunkEmail))
    );
    let after = all_folders(&sim, MARA).await;
    assert_eq!(
        (
            after[&FolderKind::Inbox].total,
            after[&FolderKind::JunkEmail].total
        ),
        (Some(0), Some(1))
    );

    // Into another mailbox (Mara has FullAccess on Sadie's): refused, the item stays.
    let answer = mara
        .post(envelope(
            "",
            &move_item(&distinguished("inbox", Some(SADIE)), &[&new]),
        ))
        .await;
    assert_eq!(new_item_ids(&answer)[0].0, "ErrorCrossMailboxMoveCopy");
    // Sadie holds nothing on Mara's mailbox: the item is not found.
    let sadie = as_user(&sim, MARA, SADIE_LOGON);
    let answer = sadie
        .post(envelope(
            "",
            &move_item(&distinguished("inbox", Some(MARA)), &[&new]),
        ))
        .await;
    assert_eq!(
        new_item_ids(&answer)[0].0,
        "ErrorFolderNotFound",
        "nor the destination"
    );
    let answer = sadie
        .post(envelope(
            "",
            &move_item(&distinguished("inbox", None), &[&new]),
        ))
        .await;
    assert_eq!(new_item_ids(&answer)[0].0, "ErrorItemNotFound");
    assert_eq!(
        all_folders(&sim, MARA).await[&FolderKind::JunkEmail].total,
        Some(1)
    );
}
