//! The store as the watchers' `WatermarkStore` and passive authentication's
//! `RefreshTokenStore`, per tenant.

use std::sync::Arc;

use bems_service::adapters::{KeepRecords, TenantRefreshTokens, TenantWatermarks};
use bems_store::model::TenantId;
use bems_store::{SqliteStore, Store, StoreKey};
use ews_proto::Watermark;
use exchange_auth::RefreshTokenStore;
use mailbox_watch::{WatchError, WatermarkStore};
use secrecy::{ExposeSecret, SecretString};

async fn store() -> Arc<dyn Store> {
    Arc::new(
        SqliteStore::in_memory(StoreKey::generate().unwrap())
            .await
            .unwrap(),
    )
}

fn tenant(id: &str) -> TenantId {
    TenantId::new(id).unwrap()
}

#[tokio::test]
async fn watermarks_are_kept_per_tenant() {
    let store = store().await;
    let contoso = TenantWatermarks::new(store.clone(), tenant("contoso"));
    let fabrikam = TenantWatermarks::new(store.clone(), tenant("fabrikam"));
    contoso
        .save("Alice@contoso.com", &Watermark::new("w1"))
        .await
        .unwrap();
    assert_eq!(
        contoso.load("alice@contoso.com").await.unwrap(),
        Some(Watermark::new("w1"))
    );
    assert_eq!(fabrikam.load("alice@contoso.com").await.unwrap(), None);
    contoso.remove("alice@contoso.com").await.unwrap();
    assert_eq!(contoso.load("alice@contoso.com").await.unwrap(), None);
    assert!(store.mailboxes().await.unwrap().is_empty());
    let error = contoso
        .save("no address", &Watermark::new("w"))
        .await
        .unwrap_err();
    assert!(
        matches!(error, WatchError::Store(ref source) if source.to_string().contains("no address"))
    );
}

/// A watcher letting go of a mailbox (handed to another node, moved to Graph) removes
/// nothing: the next holder resumes from the watermark.
#[tokio::test]
async fn a_watcher_letting_go_keeps_the_record_and_its_watermark() {
    let store = store().await;
    let kept = KeepRecords(TenantWatermarks::new(store.clone(), tenant("contoso")));
    kept.save("alice@contoso.com", &Watermark::new("w1"))
        .await
        .unwrap();
    kept.remove("alice@contoso.com").await.unwrap();
    assert_eq!(
        kept.load("alice@contoso.com").await.unwrap(),
        Some(Watermark::new("w1"))
    );
    assert_eq!(store.mailboxes().await.unwrap().len(), 1);
}

#[tokio::test]
async fn refresh_tokens_round_trip_encrypted_and_per_tenant() {
    let store = store().await;
    let tokens = TenantRefreshTokens::new(store.clone(), tenant("contoso"));
    assert!(tokens.load().await.unwrap().is_none());
    tokens
        .save(&SecretString::from("0.ARoA-refresh"))
        .await
        .unwrap();
    tokens
        .save(&SecretString::from("0.ARoA-rotated"))
        .await
        .unwrap();
    assert_eq!(
        tokens.load().await.unwrap().unwrap().expose_secret(),
        "0.ARoA-rotated"
    );
    let other = TenantRefreshTokens::new(store.clone(), tenant("fabrikam"));
    assert!(other.load().await.unwrap().is_none());
    let named = tokens.clone().with_name("second-sign-in");
    assert!(named.load().await.unwrap().is_none());
    let stored = store
        .secret(&tenant("contoso"), TenantRefreshTokens::DEFAULT_NAME)
        .await;
    assert_eq!(stored.unwrap().unwrap().expose_secret(), b"0.ARoA-rotated");
    assert!(!format!("{tokens:?}").contains("ARoA"));
}
