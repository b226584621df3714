//! The unread count of `enqueue`'s checkpoint ([`Checkpoint::unread`]): written with the pushes
//! it is the badge of, or not at all.

use std::sync::Arc;

use super::outbox::{push, with_device};
use super::{LONG, contoso, node, stored};
use crate::model::{Checkpoint, TenantId};
use crate::{NodeId, Store, StoreError};

const ALICE: &str = "alice@contoso.com";

/// alice's checkpoint with `watermark` and `unread`, written only while `holder` holds her
/// lease (when given).
fn counted<'a>(
    tenant: &'a TenantId,
    watermark: Option<&'a str>,
    unread: Option<u32>,
    holder: Option<&'a NodeId>,
) -> Checkpoint<'a> {
    Checkpoint {
        tenant,
        mailbox: ALICE,
        watermark,
        unread,
        holder,
    }
}

/// alice stored with watermark `w1` and unread count 3, her device registered; the device's id.
async fn alice(store: &dyn Store) -> i64 {
    let device = with_device(store).await;
    stored(store, ALICE, None).await;
    store.save_watermark(&contoso(), ALICE, "w1").await.unwrap();
    store
        .save_unread_counts(&contoso(), &[(ALICE.into(), 3)])
        .await
        .unwrap();
    device
}

/// The unread count saved for `mailbox` of contoso, as `unread_counts_of` reads it.
async fn saved_count(store: &dyn Store, mailbox: &str) -> Option<u32> {
    let counts = store
        .unread_counts_of(&contoso(), &[mailbox.to_owned()])
        .await
        .unwrap();
    match counts.as_slice() {
        [] => None,
        [(saved, count)] if saved == mailbox => Some(*count),
        other => panic!("one count for {mailbox} at most, got {other:?}"),
    }
}

/// The count of a checkpoint is written with its pushes, by the lease holder: with the
/// watermark, and without one.
pub async fn the_unread_count_is_written_with_its_pushes(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, tenant) = (node("node-a"), contoso());
    assert_eq!(store.claim(&a, LONG, 10).await.unwrap().len(), 1);
    store
        .enqueue(
            &[push(device, 1)],
            1,
            Some(counted(&tenant, Some("w2"), Some(5), Some(&a))),
        )
        .await
        .unwrap();
    assert_eq!(saved_count(&*store, ALICE).await, Some(5));
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w2"));
    assert_eq!(
        store.unread_counts(&tenant).await.unwrap(),
        [(ALICE.to_owned(), 5)],
        "the count unread_counts reads too"
    );

    store
        .enqueue(
            &[push(device, 2)],
            2,
            Some(counted(&tenant, None, Some(6), Some(&a))),
        )
        .await
        .unwrap();
    assert_eq!(
        saved_count(&*store, ALICE).await,
        Some(6),
        "without a watermark"
    );
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w2"), "the watermark kept");
    assert_eq!(store.outbox_len().await.unwrap(), 2);
}

/// A write refused by the fence leaves the saved count as it was, like the watermark.
pub async fn a_fenced_write_leaves_the_saved_unread_count(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, b, tenant) = (node("node-a"), node("node-b"), contoso());
    assert_eq!(store.claim(&b, LONG, 10).await.unwrap().len(), 1);
    let error = store
        .enqueue(
            &[push(device, 1)],
            1,
            Some(counted(&tenant, Some("w2"), Some(9), Some(&a))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Conflict { op: "enqueue", .. }),
        "{error:?}"
    );
    assert_eq!(saved_count(&*store, ALICE).await, Some(3), "the old count");
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w1"));
}

/// A checkpoint without a count writes its pushes and watermark and keeps the saved count.
pub async fn a_checkpoint_without_a_count_keeps_the_saved_one(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, tenant) = (node("node-a"), contoso());
    assert_eq!(store.claim(&a, LONG, 10).await.unwrap().len(), 1);
    store
        .enqueue(
            &[push(device, 1)],
            1,
            Some(counted(&tenant, Some("w2"), None, Some(&a))),
        )
        .await
        .unwrap();
    assert_eq!(saved_count(&*store, ALICE).await, Some(3));
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w2"));
    assert_eq!(store.outbox_len().await.unwrap(), 1);
}

/// Without a holder, a count for a mailbox not stored adds the mailbox (compared lower-cased),
/// as a watermark does: with the count and no watermark.
pub async fn an_unread_count_for_a_mailbox_not_stored_adds_it(store: Arc<dyn Store>) {
    let tenant = contoso();
    let dave = Checkpoint {
        mailbox: "Dave@contoso.com",
        ..counted(&tenant, None, Some(2), None)
    };
    assert!(store.enqueue(&[], 1, Some(dave)).await.unwrap().is_empty());
    assert_eq!(saved_count(&*store, "dave@contoso.com").await, Some(2));
    let record = store
        .mailbox(&tenant, "dave@contoso.com")
        .await
        .unwrap()
        .expect("dave@ added");
    assert_eq!((record.watermark, record.ews_url), (None, None));
    assert_eq!(store.mailbox_count().await.unwrap(), 1);
}

/// A push that fails `enqueue` half way leaves the saved count as it was.
pub async fn a_failure_half_way_leaves_the_saved_unread_count(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let tenant = contoso();
    // The second push names a device that does not exist: the foreign key fails it.
    let pushes = [push(device, 1), push(device + 1000, 2)];
    let error = store
        .enqueue(
            &pushes,
            1,
            Some(counted(&tenant, Some("w2"), Some(7), None)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Database { op: "enqueue", .. }),
        "{error:?}"
    );
    assert_eq!(saved_count(&*store, ALICE).await, Some(3));
}
