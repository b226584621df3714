use std::sync::Arc;

use super::contoso;
use crate::Store;
use crate::model::{MailboxRecord, TenantId};

fn record(mailbox: &str, watermark: Option<&str>) -> MailboxRecord {
    MailboxRecord {
        tenant: contoso(),
        mailbox: mailbox.into(),
        ews_url: Some("https://mail.contoso.com/EWS/Exchange.asmx".into()),
        grouping: Some("PRDEX01".into()),
        watermark: watermark.map(str::to_owned),
    }
}

/// Saving a mailbox without a watermark keeps the saved watermark; with one, replaces it.
pub async fn an_upsert_without_a_watermark_keeps_the_saved_one(store: Arc<dyn Store>) {
    store
        .upsert_mailbox(&record("Alice@Contoso.com", Some("w1")))
        .await
        .unwrap();
    let mut moved = record("alice@contoso.com", None);
    moved.ews_url = Some("https://mail2.contoso.com/EWS/Exchange.asmx".into());
    store.upsert_mailbox(&moved).await.unwrap();
    let saved = store
        .mailbox(&contoso(), "alice@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.ews_url, moved.ews_url);
    assert_eq!(saved.watermark.as_deref(), Some("w1"));

    store
        .upsert_mailbox(&record("alice@contoso.com", Some("w2")))
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

/// Unread counts are kept per tenant, lower-cased, for saved mailboxes only; a bad address is named
/// in the error.
pub async fn unread_counts_are_kept_per_tenant_for_saved_mailboxes_only(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    store
        .upsert_mailbox(&record("alice@contoso.com", None))
        .await
        .unwrap();
    let mut carol = record("carol@fabrikam.com", None);
    carol.tenant = fabrikam.clone();
    store.upsert_mailbox(&carol).await.unwrap();
    assert!(store.unread_counts(&contoso()).await.unwrap().is_empty());
    store
        .save_unread_counts(
            &contoso(),
            &[
                ("Alice@Contoso.com".into(), 3),
                ("ghost@contoso.com".into(), 9),
            ],
        )
        .await
        .unwrap();
    store
        .save_unread_counts(&fabrikam, &[("carol@fabrikam.com".into(), 1)])
        .await
        .unwrap();
    assert_eq!(
        store.unread_counts(&contoso()).await.unwrap(),
        [("alice@contoso.com".to_owned(), 3)],
        "lower-cased, and a mailbox not saved is not added"
    );
    store
        .save_unread_counts(&contoso(), &[("alice@contoso.com".into(), 0)])
        .await
        .unwrap();
    assert_eq!(
        store.unread_counts(&contoso()).await.unwrap(),
        [("alice@contoso.com".to_owned(), 0)]
    );
    assert_eq!(
        store.unread_counts(&fabrikam).await.unwrap(),
        [("carol@fabrikam.com".to_owned(), 1)]
    );
    let error = store
        .save_unread_counts(&contoso(), &[("not an address".into(), 1)])
        .await
        .unwrap_err();
    assert!(error.to_string().contains("not an address"), "{error}");
}

/// The mailboxes of all tenants are listed, by tenant and mailbox.
pub async fn mailboxes_of_all_tenants_are_listed_for_start_up(store: Arc<dyn Store>) {
    store
        .upsert_mailbox(&record("bob@contoso.com", None))
        .await
        .unwrap();
    let mut other = record("carol@fabrikam.com", Some("w9"));
    other.tenant = TenantId::new("fabrikam").unwrap();
    store.upsert_mailbox(&other).await.unwrap();
    store
        .upsert_mailbox(&record("alice@contoso.com", Some("w1")))
        .await
        .unwrap();
    let all = store.mailboxes().await.unwrap();
    let names: Vec<_> = all.iter().map(|m| m.mailbox.as_str()).collect();
    assert_eq!(
        names,
        ["alice@contoso.com", "bob@contoso.com", "carol@fabrikam.com"]
    );
    assert_eq!(all[2], other);
}

/// A watermark is saved (adding a bare mailbox), loaded, and removed with its mailbox.
pub async fn watermarks_are_saved_loaded_and_removed_with_their_mailbox(store: Arc<dyn Store>) {
    let tenant = contoso();
    assert_eq!(
        store
            .load_watermark(&tenant, "dave@contoso.com")
            .await
            .unwrap(),
        None
    );
    store
        .save_watermark(&tenant, "Dave@contoso.com", "w1")
        .await
        .unwrap();
    store
        .save_watermark(&tenant, "dave@contoso.com", "w2")
        .await
        .unwrap();
    assert_eq!(
        store
            .load_watermark(&tenant, "dave@contoso.com")
            .await
            .unwrap()
            .as_deref(),
        Some("w2")
    );
    let saved = store
        .mailbox(&tenant, "dave@contoso.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.ews_url, None, "a watermark alone adds a bare record");

    assert!(
        store
            .remove_mailbox(&tenant, "dave@contoso.com")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_mailbox(&tenant, "dave@contoso.com")
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .load_watermark(&tenant, "dave@contoso.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.mailbox(&tenant, "dave@contoso.com").await.unwrap(),
        None
    );
}

/// `unread_counts_of` answers the saved counts of the mailboxes asked for (compared
/// lower-cased), of that tenant, and no others.
pub async fn unread_counts_of_returns_only_the_asked_saved_ones(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    for mailbox in [
        "a@contoso.com",
        "b@contoso.com",
        "c@contoso.com",
        "d@contoso.com",
    ] {
        store.upsert_mailbox(&record(mailbox, None)).await.unwrap();
    }
    let mut other = record("a@contoso.com", None);
    other.tenant = fabrikam.clone();
    store.upsert_mailbox(&other).await.unwrap();
    store
        .save_unread_counts(
            &contoso(),
            &[
                ("a@contoso.com".into(), 1),
                ("b@contoso.com".into(), 2),
                ("c@contoso.com".into(), 3),
            ],
        )
        .await
        .unwrap();
    store
        .save_unread_counts(&fabrikam, &[("a@contoso.com".into(), 9)])
        .await
        .unwrap();
    let asked: Vec<String> = [
        "A@Contoso.com",
        "c@contoso.com",
        "d@contoso.com",
        "ghost@contoso.com",
    ]
    .map(String::from)
    .to_vec();
    let mut counts = store.unread_counts_of(&contoso(), &asked).await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        [
            ("a@contoso.com".to_owned(), 1),
            ("c@contoso.com".to_owned(), 3)
        ],
        "d@ has no count saved, ghost@ is not stored, b@ was not asked for"
    );
    assert!(
        store
            .unread_counts_of(&contoso(), &[])
            .await
            .unwrap()
            .is_empty()
    );
    // More than one statement's worth (SQLite asks in chunks).
    let many: Vec<String> = (0..1200)
        .map(|n| format!("user{n}@contoso.com"))
        .chain(["b@contoso.com".to_owned()])
        .collect();
    assert_eq!(
        store.unread_counts_of(&contoso(), &many).await.unwrap(),
        [("b@contoso.com".to_owned(), 2)]
    );
}
