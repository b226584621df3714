use std::sync::Arc;

use secrecy::{ExposeSecret, SecretSlice};

use super::contoso;
use crate::Store;
use crate::model::TenantId;

const PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/// A secret is kept per tenant and name, replaced by the next save, and deleted once.
pub async fn secrets_are_kept_replaced_and_deleted(store: Arc<dyn Store>) {
    assert!(store.secret(&contoso(), "oauth").await.unwrap().is_none());
    store
        .put_secret(&contoso(), "oauth", &SecretSlice::from(b"one".to_vec()))
        .await
        .unwrap();
    store
        .put_secret(&contoso(), "oauth", &SecretSlice::from(b"two".to_vec()))
        .await
        .unwrap();
    let secret = store.secret(&contoso(), "oauth").await.unwrap().unwrap();
    assert_eq!(secret.expose_secret(), b"two");
    let fabrikam = TenantId::new("fabrikam").unwrap();
    assert!(store.secret(&fabrikam, "oauth").await.unwrap().is_none());
    assert!(store.delete_secret(&contoso(), "oauth").await.unwrap());
    assert!(!store.delete_secret(&contoso(), "oauth").await.unwrap());
    assert!(store.secret(&contoso(), "oauth").await.unwrap().is_none());
}

/// A certificate that is not PEM is refused; certificates are listed by name and deleted once.
pub async fn certificates_are_listed_by_name_and_deleted(store: Arc<dyn Store>) {
    store
        .put_certificate(&contoso(), "root", PEM)
        .await
        .unwrap();
    store
        .put_certificate(&contoso(), "issuing", "x")
        .await
        .unwrap_err();
    store
        .put_certificate(&contoso(), "issuing", PEM)
        .await
        .unwrap();
    let names: Vec<_> = store
        .certificates(&contoso())
        .await
        .unwrap()
        .into_iter()
        .map(|(name, pem)| {
            assert_eq!(pem, PEM);
            name
        })
        .collect();
    assert_eq!(names, ["issuing", "root"]);
    assert!(store.delete_certificate(&contoso(), "root").await.unwrap());
    assert!(!store.delete_certificate(&contoso(), "root").await.unwrap());
    assert_eq!(store.certificates(&contoso()).await.unwrap().len(), 1);
}
