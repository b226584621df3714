use std::sync::Arc;

use super::contoso;
use crate::{FollowMeExpect, FollowMeWrite, Store, StoreError};

const MARA: &str = "Mara@contoso.com";

/// A Follow-Me document is created once, then written only at the version read; users are compared
/// without case.
pub async fn documents_are_created_then_updated_only_at_the_version_read(store: Arc<dyn Store>) {
    let t = contoso();
    let put = |body: &'static str, expect| {
        let (store, t) = (&store, &t);
        async move {
            store
                .put_follow_me(t, MARA, "launcher", body, expect, 10)
                .await
                .unwrap()
        }
    };
    assert_eq!(
        put("{\"a\":1}", FollowMeExpect::Absent).await,
        FollowMeWrite::Written { version: 1 }
    );
    assert_eq!(
        put("{\"a\":2}", FollowMeExpect::Absent).await,
        FollowMeWrite::Conflict { current: Some(1) }
    );
    assert_eq!(
        put("{\"a\":2}", FollowMeExpect::Version(1)).await,
        FollowMeWrite::Written { version: 2 }
    );
    // A second device that read version 1 is refused.
    assert_eq!(
        put("{\"a\":3}", FollowMeExpect::Version(1)).await,
        FollowMeWrite::Conflict { current: Some(2) }
    );
    let document = store
        .follow_me(&t, "mara@CONTOSO.com", "launcher")
        .await
        .unwrap();
    let document = document.expect("stored");
    assert_eq!((document.version, document.body.as_str()), (2, "{\"a\":2}"));
    let listed = store.follow_me_keys(&t, MARA).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].key.as_str(), listed[0].version), ("launcher", 2));
}

/// A Follow-Me document is deleted only at its current version; other users do not see it, and it
/// goes with its tenant.
pub async fn deletes_need_the_current_version_and_users_and_tenants_are_apart(
    store: Arc<dyn Store>,
) {
    let t = contoso();
    store
        .put_follow_me(&t, MARA, "k", "[]", FollowMeExpect::Absent, 10)
        .await
        .unwrap();
    assert!(
        store
            .follow_me(&t, "sadie@contoso.com", "k")
            .await
            .unwrap()
            .is_none()
    );
    let wrong = store.delete_follow_me(&t, MARA, "k", 7).await.unwrap();
    assert_eq!(wrong, FollowMeWrite::Conflict { current: Some(1) });
    let done = store.delete_follow_me(&t, MARA, "k", 1).await.unwrap();
    assert_eq!(done, FollowMeWrite::Written { version: 1 });
    assert!(store.follow_me(&t, MARA, "k").await.unwrap().is_none());
    store
        .put_follow_me(&t, MARA, "k", "[]", FollowMeExpect::Absent, 10)
        .await
        .unwrap();
    assert!(store.delete_tenant(&t).await.is_ok());
    assert!(
        store.follow_me(&t, MARA, "k").await.unwrap().is_none(),
        "gone with the tenant"
    );
}

/// A user's document count is bounded; bad keys and bodies that are not JSON are refused as
/// invalid.
pub async fn the_document_count_bad_keys_and_bad_bodies_are_refused(store: Arc<dyn Store>) {
    let t = contoso();
    for key in ["a", "b"] {
        let written = store
            .put_follow_me(&t, MARA, key, "{}", FollowMeExpect::Absent, 2)
            .await
            .unwrap();
        assert!(matches!(written, FollowMeWrite::Written { .. }));
    }
    let full = store
        .put_follow_me(&t, MARA, "c", "{}", FollowMeExpect::Absent, 2)
        .await;
    assert_eq!(full.unwrap(), FollowMeWrite::Full);
    // The service's own documents of a user do not count toward the bound.
    let reserved = store
        .put_follow_me(
            &t,
            MARA,
            "bems.alert-rules",
            "{}",
            FollowMeExpect::Absent,
            2,
        )
        .await;
    assert_eq!(reserved.unwrap(), FollowMeWrite::Written { version: 1 });
    let still_full = store
        .put_follow_me(&t, MARA, "c", "{}", FollowMeExpect::Absent, 3)
        .await;
    assert!(
        matches!(still_full.unwrap(), FollowMeWrite::Written { .. }),
        "two documents of the user's own and the reserved one: a third of the user's fits under 3"
    );
    for (key, body) in [("../x", "{}"), ("", "{}"), ("ok", "not json")] {
        let refused = store
            .put_follow_me(&t, MARA, key, body, FollowMeExpect::Absent, 10)
            .await;
        assert!(
            matches!(refused, Err(StoreError::Invalid { .. })),
            "{key:?} {body:?}"
        );
    }
}
