//! The relay: subscriptions published for any node to check notifications against, and notes
//! kept for the node holding their mailbox's lease.

use std::sync::Arc;

use super::{LONG, SHORT, contoso, expire, node, stored};
use crate::model::TenantId;
use crate::{NodeBeat, NodeId, RelayedNote, SharedSubscription, Store, StoreError};

const ALICE: &str = "alice@contoso.com";
const BOB: &str = "bob@contoso.com";
const CAROL: &str = "carol@contoso.com";

/// The digest of a `clientState` numbered `n`: 64 lowercase hex digits.
fn digest(n: u32) -> String {
    format!("{n:064x}")
}

/// Subscription `id` of `tenant`'s `mailbox`, its digest numbered `n`.
fn subscription(tenant: &TenantId, id: &str, mailbox: &str, n: u32) -> SharedSubscription {
    SharedSubscription {
        tenant: tenant.clone(),
        id: id.into(),
        mailbox: mailbox.into(),
        digest: digest(n),
    }
}

/// The published subscriptions of `tenant` among `ids`, by id.
async fn shared(store: &dyn Store, tenant: &TenantId, ids: &[&str]) -> Vec<SharedSubscription> {
    let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    let mut found = store.shared_subscriptions(tenant, &ids).await.unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    found
}

/// `node` says it is alive (as a node does before it claims).
async fn alive(store: &dyn Store, node: &NodeId) {
    let beat = NodeBeat {
        node: node.clone(),
        capacity: 100,
        url: None,
    };
    store.heartbeat(&beat, LONG).await.unwrap();
}

/// Stores `tenant`'s `mailbox` and leases it to `node` for `ttl`.
async fn held(
    store: &dyn Store,
    node: &NodeId,
    tenant: &TenantId,
    mailbox: &str,
    ttl: std::time::Duration,
) {
    store.save_watermark(tenant, mailbox, "w1").await.unwrap();
    let claimed = store
        .claim_mailbox(node, tenant, mailbox, ttl)
        .await
        .unwrap();
    assert!(claimed.is_some(), "{node} holds {mailbox}");
}

/// Notes (mailbox, body).
fn notes(notes: &[(&str, &str)]) -> Vec<(String, String)> {
    notes
        .iter()
        .map(|(mailbox, body)| ((*mailbox).to_owned(), (*body).to_owned()))
        .collect()
}

/// The bodies of `notes`, in order.
fn bodies(notes: &[RelayedNote]) -> Vec<&str> {
    notes.iter().map(|note| note.body.as_str()).collect()
}

/// What `node` is handed of `tenant`'s notes (at most 100).
async fn handed(store: &dyn Store, node: &NodeId, tenant: &TenantId) -> Vec<RelayedNote> {
    store.relayed_to(node, tenant, 100).await.unwrap()
}

/// A published subscription is found by its id among unknown ones (its mailbox lower-cased),
/// replaced by a new share of its id, and gone once withdrawn; another tenant's is apart.
pub async fn a_shared_subscription_is_found_replaced_and_withdrawn(store: Arc<dyn Store>) {
    let (tenant, fabrikam) = (contoso(), TenantId::new("fabrikam").unwrap());
    store
        .share_subscription(&subscription(&tenant, "sub-1", "Alice@Contoso.COM", 1))
        .await
        .unwrap();
    store
        .share_subscription(&subscription(&tenant, "sub-2", BOB, 2))
        .await
        .unwrap();
    assert_eq!(
        shared(&*store, &tenant, &["unknown", "sub-1", "also-unknown"]).await,
        [subscription(&tenant, "sub-1", ALICE, 1)]
    );
    assert!(shared(&*store, &tenant, &[]).await.is_empty());
    assert!(
        shared(&*store, &fabrikam, &["sub-1"]).await.is_empty(),
        "another tenant's is not found"
    );

    // Shared again (renewed for another mailbox, with another clientState): replaced.
    store
        .share_subscription(&subscription(&tenant, "sub-1", CAROL, 3))
        .await
        .unwrap();
    store
        .share_subscription(&subscription(&fabrikam, "sub-1", "dan@fabrikam.com", 4))
        .await
        .unwrap();
    assert_eq!(
        shared(&*store, &tenant, &["sub-1", "sub-2"]).await,
        [
            subscription(&tenant, "sub-1", CAROL, 3),
            subscription(&tenant, "sub-2", BOB, 2),
        ]
    );

    assert!(store.unshare_subscription(&tenant, "sub-1").await.unwrap());
    assert!(!store.unshare_subscription(&tenant, "sub-1").await.unwrap());
    assert!(
        !store
            .unshare_subscription(&tenant, "unknown")
            .await
            .unwrap()
    );
    assert_eq!(
        shared(&*store, &tenant, &["sub-1", "sub-2"]).await,
        [subscription(&tenant, "sub-2", BOB, 2)]
    );
    assert_eq!(
        shared(&*store, &fabrikam, &["sub-1"]).await,
        [subscription(&fabrikam, "sub-1", "dan@fabrikam.com", 4)],
        "another tenant's of the same id stays"
    );
}

/// A subscription with an empty or over-long id, an empty mailbox or a digest that is not 64
/// lowercase hex digits is refused as invalid, naming the field, and nothing is stored.
pub async fn a_bad_subscription_is_refused_and_nothing_is_stored(store: Arc<dyn Store>) {
    let tenant = contoso();
    let long = "i".repeat(257);
    let good = digest(0xab_cdef);
    let mut bad = Vec::new();
    for digest in [
        good.to_uppercase(),
        good[1..].to_owned(),
        format!("{good}0"),
        format!("{}g", &good[1..]),
        String::new(),
    ] {
        let subscription = SharedSubscription {
            digest,
            ..subscription(&tenant, "sub-1", ALICE, 0)
        };
        bad.push((subscription, "digest"));
    }
    bad.push((subscription(&tenant, "", ALICE, 1), "id"));
    bad.push((subscription(&tenant, &long, ALICE, 1), "id"));
    bad.push((subscription(&tenant, "sub-1", "", 1), "mailbox"));
    for (subscription, field) in bad {
        let error = store.share_subscription(&subscription).await.unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::Invalid {
                    op: "share subscription",
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
    assert!(
        shared(&*store, &tenant, &["sub-1", "", &long])
            .await
            .is_empty(),
        "nothing stored"
    );

    // At the bounds: an id of 256 bytes is kept.
    let longest = "i".repeat(256);
    store
        .share_subscription(&subscription(&tenant, &longest, ALICE, 1))
        .await
        .unwrap();
    assert_eq!(shared(&*store, &tenant, &[&longest]).await.len(), 1);
}

/// Notes reach only the node holding their mailbox's unexpired lease, oldest first, bounded by
/// the limit, and stay until dropped; a note for a mailbox nobody holds waits for a node to
/// claim it.
pub async fn relayed_notes_reach_only_the_holder_oldest_first(store: Arc<dyn Store>) {
    let (tenant, fabrikam) = (contoso(), TenantId::new("fabrikam").unwrap());
    let (a, b) = (node("node-a"), node("node-b"));
    alive(&*store, &a).await;
    alive(&*store, &b).await;
    held(&*store, &a, &tenant, ALICE, LONG).await;
    held(&*store, &b, &tenant, BOB, LONG).await;
    stored(&*store, CAROL, None).await;
    held(&*store, &a, &fabrikam, "dan@fabrikam.com", LONG).await;

    store.relay(&tenant, &[], 500).await.unwrap();
    let first = notes(&[
        (ALICE, r#"{"n":1}"#),
        ("BOB@contoso.com", r#"{"n":2}"#),
        ("Alice@Contoso.com", r#"{"n":3}"#),
        (CAROL, r#"{"n":4}"#),
    ]);
    store.relay(&tenant, &first, 1_000).await.unwrap();
    store
        .relay(&tenant, &notes(&[(ALICE, r#"{"n":5}"#)]), 2_000)
        .await
        .unwrap();

    let to_a = handed(&*store, &a, &tenant).await;
    assert_eq!(
        bodies(&to_a),
        [r#"{"n":1}"#, r#"{"n":3}"#, r#"{"n":5}"#],
        "a's, oldest first"
    );
    assert!(to_a.windows(2).all(|pair| pair[0].id < pair[1].id));
    assert!(
        to_a.iter()
            .all(|n| n.tenant == tenant && n.mailbox == ALICE)
    );
    assert_eq!(
        to_a.iter().map(|n| n.at_ms).collect::<Vec<_>>(),
        [1_000, 1_000, 2_000]
    );
    let to_b = handed(&*store, &b, &tenant).await;
    assert_eq!(bodies(&to_b), [r#"{"n":2}"#]);
    assert_eq!(to_b[0].mailbox, BOB);

    // Bounded by the limit, and not removed by reading.
    let two = store.relayed_to(&a, &tenant, 2).await.unwrap();
    assert_eq!(two, to_a[..2]);
    assert!(store.relayed_to(&a, &tenant, 0).await.unwrap().is_empty());
    assert_eq!(handed(&*store, &a, &tenant).await, to_a);
    // a holds a mailbox of fabrikam too, which has no notes; contoso's are not fabrikam's.
    assert!(handed(&*store, &a, &fabrikam).await.is_empty());
    assert!(handed(&*store, &node("node-c"), &tenant).await.is_empty());

    // carol's note goes to nobody until a node claims her.
    held(&*store, &b, &tenant, CAROL, LONG).await;
    assert_eq!(
        bodies(&handed(&*store, &b, &tenant).await),
        [r#"{"n":2}"#, r#"{"n":4}"#]
    );
    assert_eq!(handed(&*store, &a, &tenant).await, to_a);
}

/// A dropped note is gone; when its holder leaves, or its lease runs out, the notes of its
/// mailboxes go to nobody, then to the next holder.
pub async fn dropped_notes_are_gone_and_the_next_holder_gets_the_rest(store: Arc<dyn Store>) {
    let tenant = contoso();
    let (a, b) = (node("node-a"), node("node-b"));
    alive(&*store, &a).await;
    alive(&*store, &b).await;
    held(&*store, &a, &tenant, ALICE, LONG).await;
    let relayed = notes(&[(ALICE, "one"), (ALICE, "two"), (ALICE, "three")]);
    store.relay(&tenant, &relayed, 1_000).await.unwrap();
    let to_a = handed(&*store, &a, &tenant).await;
    assert_eq!(bodies(&to_a), ["one", "two", "three"]);

    assert_eq!(store.drop_relayed(&[]).await.unwrap(), 0);
    let gone = [to_a[0].id, to_a[1].id, to_a[1].id, i64::MAX];
    assert_eq!(store.drop_relayed(&gone).await.unwrap(), 2);
    assert_eq!(
        store.drop_relayed(&gone).await.unwrap(),
        0,
        "dropped already"
    );
    assert_eq!(bodies(&handed(&*store, &a, &tenant).await), ["three"]);

    // a leaves: its mailboxes' notes are nobody's until b takes alice.
    store.leave(&a).await.unwrap();
    assert!(handed(&*store, &a, &tenant).await.is_empty());
    assert!(handed(&*store, &b, &tenant).await.is_empty());
    held(&*store, &b, &tenant, ALICE, SHORT).await;
    let to_b = handed(&*store, &b, &tenant).await;
    assert_eq!(to_b, to_a[2..], "the same note, to the next holder");

    // b's lease runs out: not renewed, it is handed nothing more.
    expire().await;
    assert!(handed(&*store, &b, &tenant).await.is_empty());
    assert_eq!(store.drop_relayed(&[to_b[0].id]).await.unwrap(), 1);
}

/// `expire_relayed` removes the tenant's notes accepted before the bound, and no others.
pub async fn expire_relayed_removes_only_the_tenants_notes_before_the_bound(store: Arc<dyn Store>) {
    let (tenant, fabrikam) = (contoso(), TenantId::new("fabrikam").unwrap());
    let a = node("node-a");
    alive(&*store, &a).await;
    held(&*store, &a, &tenant, ALICE, LONG).await;
    held(&*store, &a, &fabrikam, "dan@fabrikam.com", LONG).await;
    for (at_ms, body) in [(1_000, "old"), (2_000, "at the bound"), (3_000, "new")] {
        store
            .relay(&tenant, &notes(&[(ALICE, body)]), at_ms)
            .await
            .unwrap();
    }
    store
        .relay(&tenant, &notes(&[(BOB, "nobody's, old")]), 1_500)
        .await
        .unwrap();
    store
        .relay(
            &fabrikam,
            &notes(&[("dan@fabrikam.com", "fabrikam's")]),
            1_000,
        )
        .await
        .unwrap();

    assert_eq!(store.expire_relayed(&tenant, 2_000).await.unwrap(), 2);
    assert_eq!(store.expire_relayed(&tenant, 2_000).await.unwrap(), 0);
    assert_eq!(
        bodies(&handed(&*store, &a, &tenant).await),
        ["at the bound", "new"]
    );
    assert_eq!(
        bodies(&handed(&*store, &a, &fabrikam).await),
        ["fabrikam's"],
        "another tenant's stay"
    );
}

/// Deleting a tenant deletes its shared subscriptions and relayed notes, not another tenant's;
/// removing a mailbox leaves its subscriptions and notes.
pub async fn deleting_a_tenant_deletes_its_subscriptions_and_notes(store: Arc<dyn Store>) {
    let (tenant, fabrikam) = (contoso(), TenantId::new("fabrikam").unwrap());
    let a = node("node-a");
    alive(&*store, &a).await;
    for tenant in [&tenant, &fabrikam] {
        store.put_tenant(tenant, "{}").await.unwrap();
        store
            .share_subscription(&subscription(tenant, "sub-1", ALICE, 1))
            .await
            .unwrap();
        held(&*store, &a, tenant, ALICE, LONG).await;
        store
            .relay(tenant, &notes(&[(ALICE, "note")]), 1_000)
            .await
            .unwrap();
    }

    // Removing a mailbox leaves them: stored and claimed again, its note is handed out.
    assert!(store.remove_mailbox(&fabrikam, ALICE).await.unwrap());
    assert!(handed(&*store, &a, &fabrikam).await.is_empty());
    assert_eq!(shared(&*store, &fabrikam, &["sub-1"]).await.len(), 1);
    held(&*store, &a, &fabrikam, ALICE, LONG).await;
    assert_eq!(bodies(&handed(&*store, &a, &fabrikam).await), ["note"]);

    assert!(store.delete_tenant(&tenant).await.unwrap());
    assert!(shared(&*store, &tenant, &["sub-1"]).await.is_empty());
    held(&*store, &a, &tenant, ALICE, LONG).await;
    assert!(handed(&*store, &a, &tenant).await.is_empty());
    assert_eq!(store.expire_relayed(&tenant, i64::MAX).await.unwrap(), 0);
    assert_eq!(shared(&*store, &fabrikam, &["sub-1"]).await.len(), 1);
    assert_eq!(bodies(&handed(&*store, &a, &fabrikam).await), ["note"]);
}
