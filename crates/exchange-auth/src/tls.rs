//! rustls configurations: TLS 1.2 and 1.3, the configured CAs (with or without the system's),
//! and an optional client certificate.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::certificate::ClientCertificate;
use crate::error::AuthError;
use crate::http::TransportSettings;

/// A client configuration for `settings`, presenting `identity` when given.
pub(crate) fn client_config(
    settings: &TransportSettings,
    identity: Option<&ClientCertificate>,
) -> Result<ClientConfig, AuthError> {
    let cas = parse_cas(&settings.trusted_ca_pem)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| AuthError::config("tls", e.to_string()))?;
    let builder = if settings.trusted_ca_only {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca)
                .map_err(|e| AuthError::config("trusted_ca_pem", e.to_string()))?;
        }
        builder.with_root_certificates(roots)
    } else {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(cas, provider)
            .map_err(|e| AuthError::config("trusted_ca_pem", e.to_string()))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    };
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain().to_vec(), identity.private_key())
            .map_err(|e| {
                AuthError::Certificate(format!("the key does not fit the certificate: {e}"))
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn parse_cas(pems: &[String]) -> Result<Vec<CertificateDer<'static>>, AuthError> {
    let mut cas = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let before = cas.len();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            cas.push(cert.map_err(|e| {
                AuthError::config("trusted_ca_pem", format!("certificate {i}: {e}"))
            })?);
        }
        if cas.len() == before {
            return Err(AuthError::config(
                "trusted_ca_pem",
                format!("entry {i} holds no PEM certificate"),
            ));
        }
    }
    Ok(cas)
}
