use std::sync::Arc;

use super::{LONG, SHORT, contoso, expire, node, stored};
use crate::model::{MailboxRecord, TenantId};
use crate::{NodeId, Store};

/// Stores `mailboxes` of contoso, without a grouping.
async fn with_mailboxes(store: &dyn Store, mailboxes: &[&str]) {
    for mailbox in mailboxes {
        stored(store, mailbox, None).await;
    }
}

fn names(records: &[MailboxRecord]) -> Vec<&str> {
    records.iter().map(|r| r.mailbox.as_str()).collect()
}

async fn holder_of(store: &dyn Store, mailbox: &str) -> Option<NodeId> {
    store.holder(&contoso(), mailbox).await.unwrap()
}

/// `claim` takes free mailboxes up to its limit, and never one another node holds unexpired.
pub async fn claim_takes_free_mailboxes_up_to_the_limit_and_never_a_held_one(
    store: Arc<dyn Store>,
) {
    let all = [
        "a@contoso.com",
        "b@contoso.com",
        "c@contoso.com",
        "d@contoso.com",
        "e@contoso.com",
    ];
    with_mailboxes(&*store, &all).await;
    assert_eq!(store.mailbox_count().await.unwrap(), 5);
    let (a, b) = (node("node-a"), node("node-b"));
    assert!(store.claim(&a, LONG, 0).await.unwrap().is_empty());
    let first = store.claim(&a, LONG, 3).await.unwrap();
    assert_eq!(
        names(&first),
        ["a@contoso.com", "b@contoso.com", "c@contoso.com"]
    );
    assert_eq!(first[0].tenant, contoso());
    let second = store.claim(&b, LONG, 10).await.unwrap();
    assert_eq!(names(&second), ["d@contoso.com", "e@contoso.com"]);
    assert!(store.claim(&a, LONG, 10).await.unwrap().is_empty());
    assert!(store.claim(&b, LONG, 10).await.unwrap().is_empty());
    assert_eq!(holder_of(&*store, "A@contoso.com").await, Some(a));
    assert_eq!(holder_of(&*store, "e@contoso.com").await, Some(b));
    assert_eq!(holder_of(&*store, "ghost@contoso.com").await, None);
}

/// A lease that was not renewed in time expires: its old holder holds it no more, and another
/// node claims the mailbox.
pub async fn an_expired_lease_is_claimable_by_another_node(store: Arc<dyn Store>) {
    with_mailboxes(&*store, &["a@contoso.com", "b@contoso.com"]).await;
    let (a, b) = (node("node-a"), node("node-b"));
    assert_eq!(store.claim(&a, SHORT, 10).await.unwrap().len(), 2);
    assert!(store.claim(&b, LONG, 10).await.unwrap().is_empty());
    expire().await;
    assert_eq!(holder_of(&*store, "a@contoso.com").await, None);
    let taken = store.claim(&b, LONG, 10).await.unwrap();
    assert_eq!(names(&taken), ["a@contoso.com", "b@contoso.com"]);
    assert_eq!(holder_of(&*store, "a@contoso.com").await, Some(b));
    assert!(store.renew(&a, LONG).await.unwrap().is_empty());
}

/// `renew` extends the leases still held and answers them, by tenant then mailbox; a lease
/// that expired meanwhile is not renewed, and stays free.
pub async fn renew_returns_what_is_held_and_drops_what_expired(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    with_mailboxes(&*store, &["b@contoso.com", "c@contoso.com"]).await;
    store
        .save_watermark(&fabrikam, "a@fabrikam.com", "w1")
        .await
        .unwrap();
    let a = node("node-a");
    for (tenant, mailbox, ttl) in [
        (&contoso(), "c@contoso.com", LONG),
        (&fabrikam, "a@fabrikam.com", SHORT),
        (&contoso(), "b@contoso.com", SHORT),
    ] {
        store
            .claim_mailbox(&a, tenant, mailbox, ttl)
            .await
            .unwrap()
            .unwrap();
    }
    // Renewed in time, a@fabrikam.com stays; b@contoso.com is not renewed and expires.
    assert_eq!(store.renew(&a, LONG).await.unwrap().len(), 3);
    store
        .claim_mailbox(&a, &contoso(), "b@contoso.com", SHORT)
        .await
        .unwrap()
        .unwrap();
    expire().await;
    let held = store.renew(&a, LONG).await.unwrap();
    assert_eq!(
        held,
        [
            (contoso(), "c@contoso.com".to_owned()),
            (fabrikam.clone(), "a@fabrikam.com".to_owned()),
        ]
    );
    assert_eq!(holder_of(&*store, "b@contoso.com").await, None);
    assert_eq!(
        store.holder(&fabrikam, "a@fabrikam.com").await.unwrap(),
        Some(a)
    );
}

/// `release` frees the caller's leases at once (another node claims them), and leaves other
/// nodes' leases alone.
pub async fn release_frees_at_once_and_only_the_callers_leases(store: Arc<dyn Store>) {
    with_mailboxes(
        &*store,
        &["a@contoso.com", "b@contoso.com", "c@contoso.com"],
    )
    .await;
    let (a, b, c) = (node("node-a"), node("node-b"), node("node-c"));
    assert_eq!(store.claim(&a, LONG, 2).await.unwrap().len(), 2);
    assert_eq!(store.claim(&b, LONG, 1).await.unwrap().len(), 1);
    let asked = [
        (contoso(), "A@contoso.com".to_owned()),
        (contoso(), "c@contoso.com".to_owned()),
        (contoso(), "ghost@contoso.com".to_owned()),
    ];
    assert_eq!(store.release(&a, &asked).await.unwrap(), 1);
    assert_eq!(holder_of(&*store, "a@contoso.com").await, None);
    assert_eq!(holder_of(&*store, "b@contoso.com").await, Some(a.clone()));
    assert_eq!(holder_of(&*store, "c@contoso.com").await, Some(b));
    let taken = store.claim(&c, LONG, 10).await.unwrap();
    assert_eq!(names(&taken), ["a@contoso.com"]);
    assert_eq!(store.release(&a, &asked).await.unwrap(), 0);
}

/// `claim_mailbox` takes a free mailbox, renews one the node holds, and refuses one another
/// node holds or that is not stored.
pub async fn claim_mailbox_takes_a_free_one_refuses_a_held_one_and_renews_its_own(
    store: Arc<dyn Store>,
) {
    with_mailboxes(&*store, &["a@contoso.com"]).await;
    let (a, b) = (node("node-a"), node("node-b"));
    let tenant = contoso();
    let taken = store
        .claim_mailbox(&a, &tenant, "A@Contoso.com", SHORT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.mailbox, "a@contoso.com");
    assert!(
        store
            .claim_mailbox(&b, &tenant, "a@contoso.com", LONG)
            .await
            .unwrap()
            .is_none()
    );
    // Renewed for long by its holder, it outlives the short lease it had.
    let renewed = store
        .claim_mailbox(&a, &tenant, "a@contoso.com", LONG)
        .await
        .unwrap();
    assert_eq!(renewed, Some(taken));
    expire().await;
    assert_eq!(holder_of(&*store, "a@contoso.com").await, Some(a.clone()));
    assert!(
        store
            .claim_mailbox(&a, &tenant, "ghost@contoso.com", LONG)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.mailbox_count().await.unwrap(), 1, "nothing is added");
}

/// Saving a mailbox or its watermark leaves its lease as it is; removing the mailbox removes
/// its lease with it.
pub async fn saving_a_mailbox_keeps_its_lease_and_removing_it_drops_it(store: Arc<dyn Store>) {
    with_mailboxes(&*store, &["a@contoso.com"]).await;
    let a = node("node-a");
    let tenant = contoso();
    store.claim(&a, LONG, 1).await.unwrap();
    stored(&*store, "a@contoso.com", Some("PRDEX01")).await;
    store
        .save_watermark(&tenant, "a@contoso.com", "w1")
        .await
        .unwrap();
    assert_eq!(holder_of(&*store, "a@contoso.com").await, Some(a.clone()));
    assert!(
        store
            .remove_mailbox(&tenant, "a@contoso.com")
            .await
            .unwrap()
    );
    stored(&*store, "a@contoso.com", None).await;
    assert_eq!(
        holder_of(&*store, "a@contoso.com").await,
        None,
        "stored again, it is free"
    );
    assert!(store.renew(&a, LONG).await.unwrap().is_empty());
}
