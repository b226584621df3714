use std::sync::Arc;

use super::{contoso, new_device, node};
use crate::model::{Checkpoint, PendingPush, TenantId};
use crate::{NodeId, Store, StoreError};

/// The node claiming pushes in these checks.
pub(super) fn sender() -> NodeId {
    node("node-a")
}

pub(super) fn push(device_id: i64, seen_at_ms: i64) -> PendingPush {
    PendingPush {
        device_id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: format!(r#"{{"seen":{seen_at_ms}}}"#),
        seen_at_ms,
    }
}

/// A checkpoint of `tenant`'s `mailbox` with `watermark`, fenced by no node.
fn mark<'a>(tenant: &'a TenantId, mailbox: &'a str, watermark: &'a str) -> Checkpoint<'a> {
    Checkpoint {
        tenant,
        mailbox,
        watermark: Some(watermark),
        unread: None,
        holder: None,
    }
}

/// Registers alice's device and returns its id.
pub(super) async fn with_device(store: &dyn Store) -> i64 {
    let device = store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    device.id
}

/// `claim_due` hands out the pushes due (their `not_before_ms` reached), oldest first, each
/// carrying its new time; a claimed push is not handed out again before it.
pub async fn claimed_pushes_come_oldest_first_and_only_when_due(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let late = store.enqueue(&[push(device, 3)], 30, None).await.unwrap();
    let early = store
        .enqueue(&[push(device, 1), push(device, 2)], 10, None)
        .await
        .unwrap();
    let middle = store.enqueue(&[push(device, 4)], 20, None).await.unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 4);

    assert!(
        store
            .claim_due(&sender(), 9, 10, 1_000)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_due(&sender(), 25, 10, 1_000).await.unwrap();
    let ids: Vec<_> = claimed.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        [early[0], early[1], middle[0]],
        "by not_before_ms, then id"
    );
    assert_eq!(
        (claimed[0].attempts, claimed[0].not_before_ms),
        (0, 1_000),
        "the claim's new time, attempts untouched"
    );
    assert_eq!(claimed[0].push, push(device, 1));
    let rest = store.claim_due(&sender(), 100, 10, 1_000).await.unwrap();
    assert_eq!(
        rest.iter().map(|e| e.id).collect::<Vec<_>>(),
        late,
        "the pushes claimed before are not due again yet"
    );
    assert_eq!(
        store
            .claim_due(&sender(), 100, 2, 1_000)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        store.outbox_len().await.unwrap(),
        4,
        "a claim removes nothing"
    );
}

/// A claimed push is due again at the claim's `until_ms` unless completed; a completed one is
/// gone for good.
pub async fn a_claimed_push_is_due_again_at_its_until_unless_completed(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let ids = store
        .enqueue(&[push(device, 1), push(device, 2)], 1, None)
        .await
        .unwrap();
    assert_eq!(
        store.claim_due(&sender(), 1, 10, 500).await.unwrap().len(),
        2
    );
    assert!(store.complete(ids[0]).await.unwrap());
    assert!(!store.complete(ids[0]).await.unwrap());
    assert!(
        store
            .claim_due(&sender(), 499, 10, 900)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due(&sender(), 500, 10, 900).await.unwrap();
    assert_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
    assert_eq!(again[0].attempts, 0);
    assert_eq!(store.outbox_len().await.unwrap(), 1);
}

/// Pushes are not due before the `not_before_ms` they were enqueued with, whenever they were
/// seen.
pub async fn enqueued_pushes_wait_for_their_not_before(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let ids = store
        .enqueue(&[push(device, 5)], 1_000, None)
        .await
        .unwrap();
    assert!(
        store
            .claim_due(&sender(), 999, 10, 2_000)
            .await
            .unwrap()
            .is_empty()
    );
    let due = store.claim_due(&sender(), 1_000, 10, 2_000).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), ids);
    assert_eq!(due[0].push.seen_at_ms, 5);
}

/// A push's id is never handed to a later push, even when the outbox was emptied.
pub async fn an_id_names_one_push_for_good(store: Arc<dyn Store>) {
    // The courier keeps ids of pushes on their way: an emptied outbox must not hand the
    // last id to the next push.
    let device = with_device(&*store).await;
    let first = store.enqueue(&[push(device, 1)], 1, None).await.unwrap()[0];
    assert!(store.complete(first).await.unwrap());
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let next = store.enqueue(&[push(device, 2)], 2, None).await.unwrap()[0];
    assert!(next > first, "{next} after {first}");
    assert!(
        !store.complete(first).await.unwrap(),
        "the old id settles nothing"
    );
    assert_eq!(store.outbox_len().await.unwrap(), 1);
}

/// A retried push counts its attempts and is not due before its new time.
pub async fn a_retried_push_counts_its_attempts_and_waits(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let ids = store
        .enqueue(&[push(device, 10), push(device, 20)], 10, None)
        .await
        .unwrap();
    assert_eq!(
        store.claim_due(&sender(), 10, 1, 100).await.unwrap()[0].id,
        ids[0]
    );
    assert!(store.retry_later(ids[0], 1_000).await.unwrap());
    assert!(store.retry_later(ids[0], 2_000).await.unwrap());
    assert!(!store.retry_later(ids[0] + 100, 2_000).await.unwrap());
    let due = store.claim_due(&sender(), 1_500, 10, 5_000).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
    let later = store.claim_due(&sender(), 2_000, 10, 5_000).await.unwrap();
    assert_eq!(later.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!((later[0].attempts, later[0].not_before_ms), (2, 5_000));
}

/// The watermark of `enqueue`'s checkpoint (without a holder) is saved with its pushes, and
/// without any.
pub async fn the_watermark_advances_with_its_pushes(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let tenant = contoso();
    let ids = store
        .enqueue(
            &[push(device, 1)],
            1,
            Some(mark(&tenant, "Alice@contoso.com", "w1")),
        )
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(
        store
            .load_watermark(&contoso(), "alice@contoso.com")
            .await
            .unwrap()
            .as_deref(),
        Some("w1")
    );
    // Events that produce no push still move the watermark.
    store
        .enqueue(&[], 1, Some(mark(&tenant, "alice@contoso.com", "w2")))
        .await
        .unwrap();
    assert_eq!(
        store
            .load_watermark(&contoso(), "alice@contoso.com")
            .await
            .unwrap()
            .as_deref(),
        Some("w2")
    );
}

/// A push of a device that does not exist fails the whole `enqueue` as
/// [`StoreError::Database`](crate::StoreError::Database) naming the mailbox: no push and no
/// watermark are written, and the store goes on.
pub async fn a_failure_half_way_writes_neither_pushes_nor_watermark(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    store
        .save_watermark(&contoso(), "alice@contoso.com", "w1")
        .await
        .unwrap();
    // The second push names a device that does not exist: the foreign key fails it.
    let pushes = [push(device, 1), push(device + 1000, 2), push(device, 3)];
    let error = store
        .enqueue(
            &pushes,
            1,
            Some(mark(&contoso(), "alice@contoso.com", "w2")),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Database { op: "enqueue", .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("alice@contoso.com"), "{error}");
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    assert_eq!(
        store
            .load_watermark(&contoso(), "alice@contoso.com")
            .await
            .unwrap()
            .as_deref(),
        Some("w1")
    );
    // The store goes on.
    assert_eq!(
        store
            .enqueue(&[push(device, 4)], 4, None)
            .await
            .unwrap()
            .len(),
        1
    );
}
