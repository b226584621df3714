use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::{contoso, new_device};
use crate::model::TenantId;
use crate::{Store, StoreError};

/// Settings are saved, replaced by the next save, and the tenants listed in order.
pub async fn tenant_settings_are_saved_replaced_and_listed(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    assert_eq!(store.tenant(&contoso()).await.unwrap(), None);
    store.put_tenant(&fabrikam, r#"{"v":1}"#).await.unwrap();
    store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
    store.put_tenant(&contoso(), r#"{"v":2}"#).await.unwrap();
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some(r#"{"v":2}"#)
    );
    assert_eq!(store.tenants().await.unwrap(), vec![contoso(), fabrikam]);
}

/// Settings that are not JSON are refused as [`StoreError::Invalid`](crate::StoreError::Invalid)
/// and the saved ones stay.
pub async fn settings_that_are_not_json_leave_the_old_ones(store: Arc<dyn Store>) {
    store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
    let error = store.put_tenant(&contoso(), "v = 2").await.unwrap_err();
    assert!(
        matches!(
            error,
            StoreError::Invalid {
                op: "put tenant",
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        store.tenant(&contoso()).await.unwrap().as_deref(),
        Some(r#"{"v":1}"#)
    );
}

/// Deleting a tenant deletes its devices, mailboxes, secrets and certificates, and nothing of
/// another tenant.
pub async fn deleting_a_tenant_deletes_everything_of_it_and_nothing_else(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    for tenant in [contoso(), fabrikam.clone()] {
        store.put_tenant(&tenant, "{}").await.unwrap();
        let mut device = new_device("alice@contoso.com", "token");
        device.token = format!("token-{tenant}");
        device.tenant = tenant.clone();
        store.register_device(&device, 10).await.unwrap();
        store
            .save_watermark(&tenant, "alice@contoso.com", "w1")
            .await
            .unwrap();
        let secret = crate::SecretSlice::from(b"s".to_vec());
        store.put_secret(&tenant, "oauth", &secret).await.unwrap();
        store
            .put_certificate(&tenant, "ca", "-----BEGIN CERTIFICATE-----")
            .await
            .unwrap();
    }
    assert!(store.delete_tenant(&contoso()).await.unwrap());
    assert!(!store.delete_tenant(&contoso()).await.unwrap());
    assert_eq!(store.tenants().await.unwrap(), vec![fabrikam.clone()]);
    assert!(store.devices(&contoso()).await.unwrap().is_empty());
    assert!(
        store
            .mailboxes()
            .await
            .unwrap()
            .iter()
            .all(|m| m.tenant == fabrikam)
    );
    assert!(store.secret(&contoso(), "oauth").await.unwrap().is_none());
    assert!(store.certificates(&contoso()).await.unwrap().is_empty());
    assert_eq!(store.devices(&fabrikam).await.unwrap().len(), 1);
    assert!(store.secret(&fabrikam, "oauth").await.unwrap().is_some());
}

/// The next tenant change, waited for at most ten seconds (PostgreSQL's come back from the
/// database).
async fn next_change(changes: &mut broadcast::Receiver<TenantId>) -> TenantId {
    tokio::time::timeout(Duration::from_secs(10), changes.recv())
        .await
        .expect("a tenant change within 10 s")
        .expect("a tenant change")
}

/// A receiver of `tenant_changes` made before hears of every save and delete of tenant
/// settings, in order; a delete of a tenant without settings is no change.
pub async fn tenant_changes_report_saves_and_deletes(store: Arc<dyn Store>) {
    let fabrikam = TenantId::new("fabrikam").unwrap();
    let mut changes = store.tenant_changes();
    store.put_tenant(&contoso(), r#"{"v":1}"#).await.unwrap();
    assert_eq!(next_change(&mut changes).await, contoso());
    store.put_tenant(&fabrikam, "{}").await.unwrap();
    assert!(
        !store
            .delete_tenant(&TenantId::new("ghost").unwrap())
            .await
            .unwrap()
    );
    assert!(store.delete_tenant(&contoso()).await.unwrap());
    assert_eq!(next_change(&mut changes).await, fabrikam);
    assert_eq!(next_change(&mut changes).await, contoso());
    // A refused write is no change.
    assert!(store.put_tenant(&fabrikam, "not json").await.is_err());
    let mut later = store.tenant_changes();
    store.put_tenant(&fabrikam, r#"{"v":2}"#).await.unwrap();
    assert_eq!(next_change(&mut changes).await, fabrikam);
    assert_eq!(
        next_change(&mut later).await,
        fabrikam,
        "a receiver made later"
    );
}
