use std::sync::Arc;

use super::{contoso, new_device};
use crate::model::{PendingPush, Platform, TenantId};
use crate::{Store, StoreError};

/// Devices are found by mailbox (lower-cased, in the order registered) and by tenant, and counted;
/// a tenant's mailboxes with devices are listed once each.
pub async fn devices_are_found_by_mailbox_and_tenant(store: Arc<dyn Store>) {
    let alice = store
        .register_device(&new_device("Alice@Contoso.com", "t1"), 10)
        .await
        .unwrap();
    assert_eq!(alice.device.mailbox, "alice@contoso.com");
    let mut android = new_device("alice@contoso.com", "t2");
    android.platform = Platform::Fcm;
    let android = store.register_device(&android, 10).await.unwrap();
    let bob = store
        .register_device(&new_device("bob@contoso.com", "t3"), 10)
        .await
        .unwrap();

    let found = store
        .devices_for(&contoso(), "ALICE@contoso.com")
        .await
        .unwrap();
    assert_eq!(found, vec![alice.clone(), android.clone()]);
    assert_eq!(
        store.devices(&contoso()).await.unwrap(),
        vec![alice, android, bob]
    );
    assert_eq!(store.device_count().await.unwrap(), 3);
    assert_eq!(
        store.mailboxes_with_devices(&contoso()).await.unwrap(),
        vec!["alice@contoso.com", "bob@contoso.com"],
        "each mailbox once, sorted"
    );
    let other = TenantId::new("fabrikam").unwrap();
    assert!(
        store
            .mailboxes_with_devices(&other)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .devices_for(&other, "alice@contoso.com")
            .await
            .unwrap()
            .is_empty()
    );
}

/// A token held by another mailbox or tenant is refused as a conflict and stays where it is, with
/// its pushes; registered again for its own mailbox it is refreshed in place.
pub async fn a_token_of_another_mailbox_or_tenant_is_refused_and_nothing_moves(
    store: Arc<dyn Store>,
) {
    let first = store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    let push = PendingPush {
        device_id: first.id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: "{}".into(),
        seen_at_ms: 1,
    };
    store.enqueue(&[push], 1, None).await.unwrap();

    let bob = new_device("bob@contoso.com", "tok");
    let mut elsewhere = new_device("alice@contoso.com", "tok");
    elsewhere.tenant = TenantId::new("fabrikam").unwrap();
    for thief in [bob, elsewhere] {
        let refused = store.register_device(&thief, 10).await;
        assert!(
            matches!(&refused, Err(StoreError::Conflict { rule, .. }) if rule.contains("another mailbox")),
            "{refused:?}"
        );
    }
    assert_eq!(
        store
            .devices_for(&contoso(), "alice@contoso.com")
            .await
            .unwrap(),
        vec![first.clone()],
        "the device stays alice's"
    );
    assert_eq!(store.outbox_len().await.unwrap(), 1, "alice's push stays");

    // Registering it again for alice refreshes it in place.
    let mut again = new_device("alice@contoso.com", "tok");
    again.locale = "de-CH".into();
    let second = store.register_device(&again, 10).await.unwrap();
    assert_eq!(second.id, first.id, "one token, one device");
    assert_eq!(second.device.locale, "de-CH");

    // Once alice's registration is gone, the token may be bob's.
    assert!(store.remove_device(first.id).await.unwrap());
    let moved = store
        .register_device(&new_device("bob@contoso.com", "tok"), 10)
        .await
        .unwrap();
    assert_eq!(moved.device.mailbox, "bob@contoso.com");

    // The same token on the other platform is another device.
    let mut fcm = new_device("alice@contoso.com", "tok");
    fcm.platform = Platform::Fcm;
    assert_ne!(store.register_device(&fcm, 10).await.unwrap().id, moved.id);
}

/// A mailbox holds at most `max_per_mailbox` devices; a device it holds may still refresh.
pub async fn a_mailbox_holds_at_most_its_bound_of_devices(store: Arc<dyn Store>) {
    for n in 0..3 {
        store
            .register_device(&new_device("alice@contoso.com", &format!("t{n}")), 3)
            .await
            .unwrap();
    }
    let refused = store
        .register_device(&new_device("alice@contoso.com", "t3"), 3)
        .await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { rule, .. }) if rule.contains("3 devices")),
        "{refused:?}"
    );
    // A device already registered may still refresh, and other mailboxes are not bound by
    // alice's.
    store
        .register_device(&new_device("alice@contoso.com", "t0"), 3)
        .await
        .unwrap();
    store
        .register_device(&new_device("bob@contoso.com", "t3"), 3)
        .await
        .unwrap();
    assert_eq!(store.device_count().await.unwrap(), 4);
}

/// Registering a device again keeps its pending pushes.
pub async fn registering_again_in_place_keeps_pending_pushes(store: Arc<dyn Store>) {
    let device = store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    let push = PendingPush {
        device_id: device.id,
        tenant: contoso(),
        mailbox: "alice@contoso.com".into(),
        payload: "{}".into(),
        seen_at_ms: 1,
    };
    store.enqueue(&[push], 1, None).await.unwrap();
    store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    assert_eq!(store.outbox_len().await.unwrap(), 1);
}

/// Each registration replaces the device's public key: a new key rotates it, a registration
/// without one clears it (the app no longer opens sealed alerts); an oversized key is refused
/// and the stored one kept.
pub async fn a_registration_rotates_or_clears_the_public_key(store: Arc<dyn Store>) {
    let mut device = new_device("alice@contoso.com", "tok");
    let stored = |store: Arc<dyn Store>| async move {
        store
            .devices_for(&contoso(), "alice@contoso.com")
            .await
            .unwrap()[0]
            .device
            .public_key
            .clone()
    };
    device.public_key = Some("A".repeat(43));
    store.register_device(&device, 10).await.unwrap();
    assert_eq!(stored(Arc::clone(&store)).await, Some("A".repeat(43)));
    device.public_key = Some("B".repeat(43));
    store.register_device(&device, 10).await.unwrap();
    assert_eq!(
        stored(Arc::clone(&store)).await,
        Some("B".repeat(43)),
        "rotated"
    );
    device.public_key = Some("C".repeat(65));
    let refused = store.register_device(&device, 10).await;
    assert!(
        matches!(refused, Err(StoreError::Invalid { .. })),
        "{refused:?}"
    );
    assert_eq!(
        stored(Arc::clone(&store)).await,
        Some("B".repeat(43)),
        "kept"
    );
    device.public_key = None;
    store.register_device(&device, 10).await.unwrap();
    assert_eq!(stored(store).await, None, "cleared");
}

/// Unregistering and removing a device delete it and its pending pushes, once.
pub async fn unregistering_and_removing_delete_the_device_and_its_pushes(store: Arc<dyn Store>) {
    let a = store
        .register_device(&new_device("alice@contoso.com", "ta"), 10)
        .await
        .unwrap();
    let b = store
        .register_device(&new_device("alice@contoso.com", "tb"), 10)
        .await
        .unwrap();
    let pushes: Vec<_> = [a.id, b.id]
        .map(|device_id| PendingPush {
            device_id,
            tenant: contoso(),
            mailbox: "alice@contoso.com".into(),
            payload: "{}".into(),
            seen_at_ms: 1,
        })
        .into();
    store.enqueue(&pushes, 1, None).await.unwrap();

    assert!(
        !store
            .unregister_device(&contoso(), "bob@contoso.com", "ta")
            .await
            .unwrap()
    );
    assert!(
        store
            .unregister_device(&contoso(), "Alice@contoso.com", "ta")
            .await
            .unwrap()
    );
    assert_eq!(store.outbox_len().await.unwrap(), 1);
    assert!(store.remove_device(b.id).await.unwrap());
    assert!(!store.remove_device(b.id).await.unwrap());
    assert_eq!(store.outbox_len().await.unwrap(), 0);
    assert_eq!(store.device_count().await.unwrap(), 0);
}

/// An empty token or a mailbox that is not an address is refused and changes nothing.
pub async fn a_bad_token_is_refused_and_changes_nothing(store: Arc<dyn Store>) {
    store
        .register_device(&new_device("alice@contoso.com", "tok"), 10)
        .await
        .unwrap();
    assert!(
        store
            .register_device(&new_device("alice@contoso.com", ""), 10)
            .await
            .is_err()
    );
    assert!(
        store
            .register_device(&new_device("not-an-address", "tok"), 10)
            .await
            .is_err()
    );
    assert_eq!(
        store.devices(&contoso()).await.unwrap()[0].device.mailbox,
        "alice@contoso.com"
    );
}
