//! TLS to the database: rustls (aws-lc-rs), the server's certificate always verified.
//!
//! The URL's `sslmode` decides whether TLS is used (tokio-postgres reads it): `disable` never,
//! `prefer` (the default) when the server offers it, `require` always (a server without TLS
//! is refused). When TLS is used, the server's certificate is verified against the platform's
//! roots (`rustls-platform-verifier`) and the CAs of [`PostgresOptions::trusted_ca_pem`], and
//! must name the URL's host (an IP address host must be an IP address of the certificate):
//! rustls does not encrypt without verifying, so `require` here is libpq's `verify-full`, and
//! `prefer` fails on a server whose certificate is not trusted rather than go on unverified.
//! The connector is tokio-postgres-rustls's; it also gives SCRAM its channel binding
//! (`tls-server-end-point`).

use std::io;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{CertificateError, ClientConfig};
use serde::{Deserialize, Serialize};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How [`PostgresStore::connect_with`](super::PostgresStore::connect_with) connects, beyond
/// its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// CAs trusted besides the platform's roots for the server's certificate, each entry a PEM
    /// text of one or more certificates (a private CA of the database's certificate).
    pub trusted_ca_pem: Vec<String>,
}

impl PostgresOptions {
    /// These options trusting the CA certificates of `pem` too.
    #[must_use]
    pub fn trusting(mut self, pem: impl Into<String>) -> Self {
        self.trusted_ca_pem.push(pem.into());
        self
    }
}

/// The TLS connector of the pool and the listening connection, for `options`.
pub(super) fn connector(options: &PostgresOptions) -> Result<MakeRustlsConnect, TlsSetupError> {
    let cas = parse_cas(&options.trusted_ca_pem)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(cas, provider.clone())
        .map_err(|e| TlsSetupError(format!("the trusted CAs cannot be used: {e}")))?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsSetupError(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// Why TLS cannot be set up (before connecting).
#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub(super) struct TlsSetupError(String);

/// Every certificate of `pems`; an entry without one is refused.
fn parse_cas(pems: &[String]) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let mut cas = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let before = cas.len();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            cas.push(
                cert.map_err(|e| {
                    TlsSetupError(format!("trusted_ca_pem entry {i} is not PEM: {e}"))
                })?,
            );
        }
        if cas.len() == before {
            return Err(TlsSetupError(format!(
                "trusted_ca_pem entry {i} holds no PEM certificate"
            )));
        }
    }
    Ok(cas)
}

/// What went wrong with TLS in `error`, in words, when it is a TLS failure: the rustls error
/// the handshake ended with, or tokio-postgres's own (a server without TLS under `require`).
pub(super) fn explain(error: &tokio_postgres::Error) -> Option<String> {
    let cause = std::error::Error::source(error)?;
    let rustls = cause.downcast_ref::<rustls::Error>().or_else(|| {
        cause
            .downcast_ref::<io::Error>()?
            .get_ref()?
            .downcast_ref::<rustls::Error>()
    });
    match rustls {
        Some(rustls::Error::InvalidCertificate(problem)) => {
            Some(format!("TLS: {}", certificate_problem(problem)))
        }
        Some(other) => Some(format!("TLS: the handshake failed: {other}")),
        None if cause.to_string().contains("server does not support TLS") => {
            Some("TLS: the server does not offer TLS and the URL says sslmode=require".to_owned())
        }
        None => None,
    }
}

/// The words for a refused server certificate.
fn certificate_problem(problem: &CertificateError) -> String {
    match problem {
        CertificateError::UnknownIssuer => "the server's certificate is not trusted (unknown \
            issuer): no CA of the platform's roots or of the trusted CAs given \
            (PostgresOptions::trusted_ca_pem) issued it"
            .to_owned(),
        CertificateError::NotValidForName => {
            "name mismatch: the server's certificate does not name the URL's host".to_owned()
        }
        CertificateError::NotValidForNameContext {
            expected,
            presented,
        } => format!(
            "name mismatch: the server's certificate names {}, not the URL's host {}",
            presented
                .iter()
                .map(|name| bare_name(name))
                .collect::<Vec<_>>()
                .join(", "),
            expected.to_str()
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "the server's certificate has expired".to_owned()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "the server's certificate is not valid yet".to_owned()
        }
        CertificateError::Revoked => "the server's certificate is revoked".to_owned(),
        other => format!("the server's certificate is refused: {other:?}"),
    }
}

/// `DnsName("db.example")` or `IpAddress(10.0.0.1)` (how rustls shows a certificate's names)
/// as `db.example` or `10.0.0.1`.
fn bare_name(shown: &str) -> &str {
    shown
        .split_once('(')
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .map_or(shown, |inner| inner.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_names_are_shown_bare() {
        assert_eq!(bare_name("DnsName(\"db.example\")"), "db.example");
        assert_eq!(bare_name("IpAddress(127.0.0.1)"), "127.0.0.1");
        assert_eq!(bare_name("odd"), "odd");
    }

    #[test]
    fn trusted_cas_must_be_pem_certificates() {
        let options = PostgresOptions::default().trusting("not a certificate");
        let error = connector(&options).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("TLS: trusted_ca_pem entry 0 holds no PEM certificate")
        );
        assert!(connector(&PostgresOptions::default()).is_ok());
    }
}
