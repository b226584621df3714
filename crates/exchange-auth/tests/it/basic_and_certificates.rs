//! Basic, client certificates, `.pfx` files.

use std::sync::Arc;

use exchange_auth::*;
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain,
};

use crate::support::{self, SVC, SVC_PASSWORD, ews_status, transport};

#[tokio::test]
async fn basic_on_premises() {
    let sim = support::start().await;
    let auth = BasicAuth::new(
        SVC,
        SecretString::from(SVC_PASSWORD),
        Target::OnPremises,
        &transport(&sim),
    )
    .expect("valid");
    assert_eq!(ews_status(&auth, &sim, true).await, 200);
    assert_eq!(auth.status().method, AuthMethod::Basic);
    let down_level = BasicAuth::new(
        "CONTOSO\\svc-bems",
        SecretString::from(SVC_PASSWORD),
        Target::OnPremises,
        &transport(&sim),
    )
    .expect("valid");
    assert_eq!(ews_status(&down_level, &sim, true).await, 200);
    let wrong = BasicAuth::new(
        SVC,
        SecretString::from("wrong"),
        Target::OnPremises,
        &transport(&sim),
    )
    .expect("valid");
    assert_eq!(ews_status(&wrong, &sim, true).await, 401);
}

#[tokio::test]
async fn basic_refuses_bad_settings() {
    let sim = support::start().await;
    let error = BasicAuth::new(
        "CONTOSO\\svc",
        SecretString::from("x"),
        Target::Microsoft365,
        &transport(&sim),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("service_account_username"),
        "{error}"
    );
    let error = BasicAuth::new(
        SVC,
        SecretString::from(""),
        Target::OnPremises,
        &transport(&sim),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains("service_account_password"),
        "{error}"
    );
    let auth = BasicAuth::new(
        SVC,
        SecretString::from(SVC_PASSWORD),
        Target::OnPremises,
        &transport(&sim),
    )
    .expect("valid");
    let plain = HttpRequest::post(
        "http://mail.contoso.com/EWS/Exchange.asmx".parse().unwrap(),
        vec![],
    );
    assert!(
        matches!(auth.send(plain).await, Err(AuthError::Config { .. })),
        "never over plain HTTP"
    );
}

fn pfx(cert_pem: &str, key_pem: &str, password: &str, algorithm: EncryptionAlgorithm) -> Vec<u8> {
    let cert = rustls_pem_der(cert_pem, "CERTIFICATE");
    let key = rustls_pem_der(key_pem, "PRIVATE KEY");
    let chain = PrivateKeyChain::new(
        b"key-1".to_vec(),
        PrivateKey::from_der(&key).expect("key"),
        [Certificate::from_der(&cert).expect("certificate")],
    );
    let mut store = KeyStore::new();
    store.add_entry("bems", KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password)
        .encryption_algorithm(algorithm)
        .write()
        .expect("pfx written")
}

fn rustls_pem_der(pem: &str, label: &str) -> Vec<u8> {
    use base64::Engine as _;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body: String = pem
        .split(&begin)
        .nth(1)
        .and_then(|rest| rest.split(&end).next())
        .expect("PEM block")
        .split_whitespace()
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64")
}

#[tokio::test]
async fn client_certificate_from_pfx_modern_and_legacy() {
    let sim = support::start().await;
    let issued = sim.client_certificate("svc-bems").expect("certificate");
    for algorithm in [
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
        EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc,
    ] {
        let file = pfx(&issued.cert_pem, &issued.key_pem, "pfx-Pa55", algorithm);
        let certificate =
            ClientCertificate::from_pfx(&file, &SecretString::from("pfx-Pa55")).expect("loads");
        assert!(certificate.subject().contains("svc-bems"));
        let auth = CertificateAuth::new(certificate, &transport(&sim)).expect("client");
        assert_eq!(ews_status(&auth, &sim, true).await, 200, "{algorithm:?}");
        let status = auth.status();
        assert_eq!(status.method, AuthMethod::ClientCertificate);
        assert!(status.expires_at.is_some());
    }
}

#[tokio::test]
async fn pfx_errors_say_what_is_wrong() {
    let sim = support::start().await;
    let issued = sim.client_certificate("svc-bems").expect("certificate");
    let file = pfx(
        &issued.cert_pem,
        &issued.key_pem,
        "right",
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
    );
    let error = ClientCertificate::from_pfx(&file, &SecretString::from("wrong"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("wrong password"), "{error}");
    let error = ClientCertificate::from_pfx(b"not a pfx", &SecretString::from("x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("not a readable .pfx"), "{error}");
    // A file with only a certificate, no key.
    let mut store = KeyStore::new();
    let cert = Certificate::from_der(&rustls_pem_der(&issued.cert_pem, "CERTIFICATE"))
        .expect("certificate");
    store.add_entry("ca", KeyStoreEntry::Certificate(cert));
    let only_cert = store.writer("x").write().expect("pfx");
    let error = ClientCertificate::from_pfx(&only_cert, &SecretString::from("x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("no private key"), "{error}");
    // An expired certificate.
    let mut params =
        rcgen::CertificateParams::new(vec!["old.contoso.com".to_owned()]).expect("params");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().expect("key");
    let old = params.self_signed(&key).expect("cert");
    let file = pfx(
        &old.pem(),
        &key.serialize_pem(),
        "x",
        EncryptionAlgorithm::PbeWithHmacSha256AndAes256,
    );
    let error = ClientCertificate::from_pfx(&file, &SecretString::from("x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("expired"), "{error}");
    let _ = Arc::new(());
}
