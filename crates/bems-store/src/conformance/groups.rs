//! Claims keep a mailbox's group (its Exchange `GroupingInformation`) on one node: one
//! subscription connection serves the whole group.

use std::sync::Arc;

use super::{LONG, contoso, node, stored};
use crate::Store;
use crate::model::{MailboxRecord, TenantId};

/// contoso's mailboxes in two groups and two without one, stored in no particular order, and
/// one of fabrikam.
async fn with_groups(store: &dyn Store) {
    for (mailbox, grouping) in [
        ("n2@contoso.com", None),
        ("g2b@contoso.com", Some("PRDEX02")),
        ("g1c@contoso.com", Some("PRDEX01")),
        ("n1@contoso.com", None),
        ("g1a@contoso.com", Some("PRDEX01")),
        ("g2a@contoso.com", Some("PRDEX02")),
        ("g1b@contoso.com", Some("PRDEX01")),
    ] {
        stored(store, mailbox, grouping).await;
    }
    store
        .upsert_mailbox(&MailboxRecord {
            tenant: TenantId::new("fabrikam").unwrap(),
            mailbox: "f@fabrikam.com".into(),
            ews_url: None,
            grouping: Some("A".into()),
            watermark: None,
        })
        .await
        .unwrap();
}

fn names(records: &[MailboxRecord]) -> Vec<&str> {
    records.iter().map(|r| r.mailbox.as_str()).collect()
}

/// A node holding nothing takes free mailboxes in (tenant, grouping, mailbox) order, those
/// without a grouping after the groups of their tenant, so whole groups as far as its limit
/// goes; the answer is in that order too.
pub async fn free_mailboxes_are_claimed_in_tenant_grouping_mailbox_order(store: Arc<dyn Store>) {
    with_groups(&*store).await;
    let a = node("node-a");
    let first = store.claim(&a, LONG, 4).await.unwrap();
    assert_eq!(
        names(&first),
        [
            "g1a@contoso.com",
            "g1b@contoso.com",
            "g1c@contoso.com",
            "g2a@contoso.com"
        ]
    );
    assert_eq!(first[0].grouping.as_deref(), Some("PRDEX01"));
    let rest = store.claim(&node("node-b"), LONG, 10).await.unwrap();
    assert_eq!(
        names(&rest),
        [
            "g2b@contoso.com",
            "n1@contoso.com",
            "n2@contoso.com",
            "f@fabrikam.com"
        ]
    );
}

/// A node that holds part of a group takes the rest of it before anything else; a mailbox
/// without a grouping is a group of its own.
pub async fn claim_takes_the_rest_of_a_group_it_holds_first(store: Arc<dyn Store>) {
    with_groups(&*store).await;
    let a = node("node-a");
    for mailbox in ["g2b@contoso.com", "n1@contoso.com"] {
        store
            .claim_mailbox(&a, &contoso(), mailbox, LONG)
            .await
            .unwrap()
            .unwrap();
    }
    let next = store.claim(&a, LONG, 1).await.unwrap();
    assert_eq!(
        names(&next),
        ["g2a@contoso.com"],
        "before PRDEX01, which sorts first"
    );
    let then = store.claim(&a, LONG, 1).await.unwrap();
    assert_eq!(
        names(&then),
        ["g1a@contoso.com"],
        "holding n1 draws no other mailbox without a grouping"
    );
}

/// A free mailbox whose group another node holds part of is taken only after every other free
/// mailbox.
pub async fn a_group_another_node_holds_is_claimed_last(store: Arc<dyn Store>) {
    with_groups(&*store).await;
    let (a, b) = (node("node-a"), node("node-b"));
    store
        .claim_mailbox(&b, &contoso(), "g1a@contoso.com", LONG)
        .await
        .unwrap()
        .unwrap();
    let first = store.claim(&a, LONG, 5).await.unwrap();
    assert_eq!(
        names(&first),
        [
            "g2a@contoso.com",
            "g2b@contoso.com",
            "n1@contoso.com",
            "n2@contoso.com",
            "f@fabrikam.com"
        ]
    );
    let last = store.claim(&a, LONG, 5).await.unwrap();
    assert_eq!(names(&last), ["g1b@contoso.com", "g1c@contoso.com"]);
}
