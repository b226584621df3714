//! Outbox claims belong to a node: a node that leaves (a clean stop, or a start after a crash
//! under the same name) gives back at once the pushes it was sending, and nothing else.
//!
//! Outbox times are the caller's; `leave` makes the pushes due at the store's "now", which is
//! this machine's clock (or the database's on the same host): the checks claim at their own
//! clock plus a second, an hour before any claim runs out.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::outbox::{push, with_device};
use super::{LONG, contoso, node, stored};
use crate::model::{Checkpoint, OutboxEntry, TenantId};
use crate::{NodeId, Store};

const ALICE: &str = "alice@contoso.com";
/// An hour in ms: no claim or retry in these checks runs out on its own.
const HOUR_MS: i64 = 60 * 60 * 1000;

/// Now, in Unix ms of this machine's clock.
fn wall_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// The time to claim at for "due now": a second ahead of this machine's clock, so a time the
/// store set a moment ago is due, and an hour before anything claimed or retried here is.
fn soon() -> i64 {
    wall_ms() + 1_000
}

/// An hour from now: when the claims and retries of these checks run out.
fn later() -> i64 {
    wall_ms() + HOUR_MS
}

fn ids(entries: &[OutboxEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.id).collect()
}

/// The pushes due for `node` soon.
async fn due_soon(store: &dyn Store, node: &NodeId) -> Vec<i64> {
    ids(&store.claim_due(node, soon(), 100, later()).await.unwrap())
}

/// alice stored and held by `holder`, her device registered; the device's id.
async fn alice_held_by(store: &dyn Store, holder: &NodeId) -> i64 {
    let device = with_device(store).await;
    stored(store, ALICE, None).await;
    assert_eq!(store.claim(holder, LONG, 10).await.unwrap().len(), 1);
    device
}

/// alice's pushes, written while `holder` holds her lease.
fn held<'a>(tenant: &'a TenantId, holder: &'a NodeId) -> Checkpoint<'a> {
    Checkpoint {
        tenant,
        mailbox: ALICE,
        watermark: None,
        unread: None,
        holder: Some(holder),
    }
}

/// Pushes enqueued with a lease holder are that node's: they wait for their time while it
/// sends them, and are due for any node at once when it leaves.
pub async fn leaving_gives_back_the_pushes_the_node_enqueued_at_once(store: Arc<dyn Store>) {
    let (a, b, tenant) = (node("node-a"), node("node-b"), contoso());
    let device = alice_held_by(&*store, &a).await;
    let enqueued = store
        .enqueue(
            &[push(device, 1), push(device, 2)],
            later(),
            Some(held(&tenant, &a)),
        )
        .await
        .unwrap();
    assert!(
        due_soon(&*store, &b).await.is_empty(),
        "node-a sends them itself"
    );
    store.leave(&a).await.unwrap();
    assert_eq!(
        due_soon(&*store, &b).await,
        enqueued,
        "due at once after node-a left"
    );
}

/// Pushes a node took with `claim_due` are due for any node at once when it leaves; a claim
/// of it that had already run out keeps its earlier time.
pub async fn leaving_gives_back_the_pushes_the_node_claimed_at_once(store: Arc<dyn Store>) {
    let (a, b) = (node("node-a"), node("node-b"));
    let device = with_device(&*store).await;
    let sending = store
        .enqueue(&[push(device, 1), push(device, 2)], 10, None)
        .await
        .unwrap();
    let ran_out = store.enqueue(&[push(device, 3)], 20, None).await.unwrap();
    assert_eq!(
        ids(&store.claim_due(&a, 10, 10, later()).await.unwrap()),
        sending
    );
    assert_eq!(
        ids(&store.claim_due(&a, 20, 10, 30).await.unwrap()),
        ran_out
    );
    store.leave(&a).await.unwrap();
    assert_eq!(
        ids(&store.claim_due(&b, 30, 10, later()).await.unwrap()),
        ran_out,
        "the claim that ran out at 30 is due at 30 still, the others not yet"
    );
    assert_eq!(
        due_soon(&*store, &b).await,
        sending,
        "due at once after node-a left"
    );
}

/// A node that leaves gives back its own pushes only: another node's claims, and pushes
/// nobody claimed, keep their time.
pub async fn leaving_gives_back_only_the_leaving_nodes_pushes(store: Arc<dyn Store>) {
    let (a, b, c) = (node("node-a"), node("node-b"), node("node-c"));
    let device = with_device(&*store).await;
    let of_a = store.enqueue(&[push(device, 1)], 10, None).await.unwrap();
    let of_b = store.enqueue(&[push(device, 2)], 10, None).await.unwrap();
    store
        .enqueue(&[push(device, 3)], later(), None)
        .await
        .unwrap();
    assert_eq!(
        ids(&store.claim_due(&a, 10, 1, later()).await.unwrap()),
        of_a
    );
    assert_eq!(
        ids(&store.claim_due(&b, 10, 1, later()).await.unwrap()),
        of_b
    );
    store.leave(&a).await.unwrap();
    assert_eq!(
        due_soon(&*store, &c).await,
        of_a,
        "node-b's push and nobody's wait"
    );
    store.leave(&b).await.unwrap();
    assert_eq!(due_soon(&*store, &c).await, of_b);
}

/// A push claimed again after its claim ran out is the new claimer's: the node that claimed it
/// first gives nothing back when it leaves.
pub async fn a_push_claimed_again_is_the_new_claimers(store: Arc<dyn Store>) {
    let (a, b, c) = (node("node-a"), node("node-b"), node("node-c"));
    let device = with_device(&*store).await;
    let pushed = store.enqueue(&[push(device, 1)], 10, None).await.unwrap();
    assert_eq!(ids(&store.claim_due(&a, 10, 10, 30).await.unwrap()), pushed);
    assert_eq!(
        ids(&store.claim_due(&b, 30, 10, later()).await.unwrap()),
        pushed
    );
    store.leave(&a).await.unwrap();
    assert!(due_soon(&*store, &c).await.is_empty(), "node-b's now");
    store.leave(&b).await.unwrap();
    assert_eq!(due_soon(&*store, &c).await, pushed);
}

/// `retry_later` makes a push nobody's, whoever claimed it (by enqueue or by claim_due): it
/// waits for its retry even when that node leaves.
pub async fn a_retried_push_is_nobodys_and_waits_when_its_node_leaves(store: Arc<dyn Store>) {
    let (a, b, tenant) = (node("node-a"), node("node-b"), contoso());
    let device = alice_held_by(&*store, &a).await;
    let enqueued = store
        .enqueue(&[push(device, 1)], later(), Some(held(&tenant, &a)))
        .await
        .unwrap();
    let claimed = store.enqueue(&[push(device, 2)], 10, None).await.unwrap();
    assert_eq!(
        ids(&store.claim_due(&a, 10, 10, later()).await.unwrap()),
        claimed
    );
    let retry_at = later();
    for id in [enqueued[0], claimed[0]] {
        assert!(store.retry_later(id, retry_at).await.unwrap());
    }
    store.leave(&a).await.unwrap();
    assert!(
        due_soon(&*store, &b).await.is_empty(),
        "they wait for their retry"
    );
    let retried = store.claim_due(&b, retry_at, 10, later()).await.unwrap();
    assert_eq!(ids(&retried), [enqueued[0], claimed[0]]);
    assert!(retried.iter().all(|e| e.attempts == 1), "{retried:?}");
}
