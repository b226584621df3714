use std::sync::Arc;

use super::{contoso, new_device};
use crate::model::PendingPush;
use crate::{Store, StoreError};

fn push(device_id: i64, seen_at_ms: i64) -> PendingPush {
    PendingPush {
        device_id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: format!(r#"{{"seen":{seen_at_ms}}}"#),
        seen_at_ms,
    }
}

/// Registers alice's device and returns its id.
async fn with_device(store: &dyn Store) -> i64 {
    let device = store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    device.id
}

/// Pushes come due at their `seen_at_ms`, oldest first, and leave the outbox when completed, once.
pub async fn pushes_come_due_oldest_first_and_leave_when_completed(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let ids = store
        .enqueue(&[push(device, 30), push(device, 10)], None)
        .await
        .unwrap();
    let more = store.enqueue(&[push(device, 20)], None).await.unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 3);

    assert!(store.due(9, 10).await.unwrap().is_empty());
    let due: Vec<_> = store
        .due(25, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(due, [ids[1], more[0]]);
    let first = &store.due(100, 1).await.unwrap()[0];
    assert_eq!(
        (first.id, first.attempts, first.not_before_ms),
        (ids[1], 0, 10)
    );
    assert_eq!(first.push, push(device, 10));

    assert!(store.complete(ids[1]).await.unwrap());
    assert!(!store.complete(ids[1]).await.unwrap());
    assert_eq!(store.outbox_len().await.unwrap(), 2);
}

/// A push's id is never handed to a later push, even when the outbox was emptied.
pub async fn an_id_names_one_push_for_good(store: Arc<dyn Store>) {
    // The courier keeps ids of pushes on their way: an emptied outbox must not hand the
    // last id to the next push.
    let device = with_device(&*store).await;
    let first = store.enqueue(&[push(device, 1)], None).await.unwrap()[0];
    assert!(store.complete(first).await.unwrap());
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    let next = store.enqueue(&[push(device, 2)], None).await.unwrap()[0];
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
        .enqueue(&[push(device, 10), push(device, 20)], None)
        .await
        .unwrap();
    assert!(store.retry_later(ids[0], 1_000).await.unwrap());
    assert!(store.retry_later(ids[0], 2_000).await.unwrap());
    assert!(!store.retry_later(ids[0] + 100, 2_000).await.unwrap());
    let due = store.due(1_500, 10).await.unwrap();
    assert_eq!(due.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[1]]);
    let later = store.due(2_000, 10).await.unwrap();
    assert_eq!(later[1].id, ids[0]);
    assert_eq!((later[1].attempts, later[1].not_before_ms), (2, 2_000));
}

/// The watermark given to `enqueue` is saved with its pushes, and without any.
pub async fn the_watermark_advances_with_its_pushes(store: Arc<dyn Store>) {
    let device = with_device(&*store).await;
    let mark = Some((&contoso(), "Alice@contoso.com", "w1"));
    let ids = store.enqueue(&[push(device, 1)], mark).await.unwrap();
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
        .enqueue(&[], Some((&contoso(), "alice@contoso.com", "w2")))
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
        .enqueue(&pushes, Some((&contoso(), "alice@contoso.com", "w2")))
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
        store.enqueue(&[push(device, 4)], None).await.unwrap().len(),
        1
    );
}
