//! `enqueue` fenced by a lease: a node that does not hold a mailbox's unexpired lease writes
//! nothing for it.

use std::sync::Arc;

use super::outbox::{push, with_device};
use super::{LONG, SHORT, contoso, expire, node, stored};
use crate::model::{Checkpoint, TenantId};
use crate::{NodeId, Store, StoreError};

const ALICE: &str = "alice@contoso.com";

/// alice's watermark `watermark`, to be written only while `holder` holds her lease.
fn fenced<'a>(tenant: &'a TenantId, watermark: &'a str, holder: &'a NodeId) -> Checkpoint<'a> {
    Checkpoint {
        tenant,
        mailbox: ALICE,
        watermark: Some(watermark),
        unread: None,
        holder: Some(holder),
    }
}

/// alice stored with watermark `w1`, her device registered; the device's id.
async fn alice(store: &dyn Store) -> i64 {
    let device = with_device(store).await;
    stored(store, ALICE, None).await;
    store.save_watermark(&contoso(), ALICE, "w1").await.unwrap();
    device
}

/// Asserts that `error` is enqueue's conflict saying `why`, and that nothing was written.
async fn refused(store: &dyn Store, error: StoreError, why: &str) {
    assert!(
        matches!(error, StoreError::Conflict { op: "enqueue", .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains(why) && text.contains(ALICE), "{text}");
    assert_eq!(store.outbox_len().await.unwrap(), 0, "no push written");
    let mark = store.load_watermark(&contoso(), ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w1"), "the watermark unchanged");
}

/// A node writes nothing for a mailbox another node holds: a conflict naming the holder.
pub async fn enqueue_for_a_mailbox_another_node_holds_is_refused_and_writes_nothing(
    store: Arc<dyn Store>,
) {
    let device = alice(&*store).await;
    let (a, b, tenant) = (node("node-a"), node("node-b"), contoso());
    assert_eq!(store.claim(&b, LONG, 10).await.unwrap().len(), 1);
    let error = store
        .enqueue(&[push(device, 1)], 1, Some(fenced(&tenant, "w2", &a)))
        .await
        .unwrap_err();
    refused(&*store, error, "node node-b's, not node node-a's").await;
}

/// A node whose lease ran out writes nothing, even when nobody has taken the mailbox since.
pub async fn enqueue_after_the_lease_expired_is_refused_and_writes_nothing(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, tenant) = (node("node-a"), contoso());
    assert_eq!(store.claim(&a, SHORT, 10).await.unwrap().len(), 1);
    expire().await;
    let error = store
        .enqueue(&[push(device, 1)], 1, Some(fenced(&tenant, "w2", &a)))
        .await
        .unwrap_err();
    refused(&*store, error, "expired").await;
}

/// A node writes nothing for a mailbox nobody holds (released, or not stored: it is not added).
pub async fn enqueue_for_a_mailbox_nobody_holds_is_refused(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, tenant) = (node("node-a"), contoso());
    let error = store
        .enqueue(&[push(device, 1)], 1, Some(fenced(&tenant, "w2", &a)))
        .await
        .unwrap_err();
    refused(&*store, error, "holds no lease").await;
    let ghost = Checkpoint {
        mailbox: "ghost@contoso.com",
        ..fenced(&tenant, "w2", &a)
    };
    let error = store.enqueue(&[], 1, Some(ghost)).await.unwrap_err();
    assert!(matches!(error, StoreError::Conflict { .. }), "{error:?}");
    assert_eq!(
        store.mailbox_count().await.unwrap(),
        1,
        "ghost@ is not added"
    );
}

/// The holder of a mailbox's unexpired lease writes its pushes and watermark together; without
/// a watermark, its pushes alone.
pub async fn enqueue_by_the_holder_is_written(store: Arc<dyn Store>) {
    let device = alice(&*store).await;
    let (a, tenant) = (node("node-a"), contoso());
    assert_eq!(store.claim(&a, LONG, 10).await.unwrap().len(), 1);
    let ids = store
        .enqueue(&[push(device, 1)], 1, Some(fenced(&tenant, "w2", &a)))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w2"));
    let pushes_only = Checkpoint {
        watermark: None,
        ..fenced(&tenant, "unused", &a)
    };
    store
        .enqueue(&[push(device, 2)], 2, Some(pushes_only))
        .await
        .unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 2);
    let mark = store.load_watermark(&tenant, ALICE).await.unwrap();
    assert_eq!(mark.as_deref(), Some("w2"));
}
