//! The TLS client configuration for LDAPS and StartTLS: TLS 1.2 or 1.3, the domain controller's
//! certificate verified against the configured CAs, plus the system's roots unless told
//! otherwise (the same trust as the HTTPS side).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::{ClientConfig, RootCertStore};

/// Builds the configuration handed to ldap3.
pub(crate) fn client_config(
    trusted_ca_pem: &[String],
    trusted_ca_only: bool,
) -> Result<Arc<ClientConfig>, String> {
    let cas = parse_cas(trusted_ca_pem)?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup: {e}"))?;
    let config = if trusted_ca_only {
        if cas.is_empty() {
            return Err("trusted_ca_only is set but trusted_ca_pem holds no certificate".into());
        }
        let mut roots = RootCertStore::empty();
        for (i, ca) in cas.into_iter().enumerate() {
            roots
                .add(ca)
                .map_err(|e| format!("trusted CA certificate {i}: {e}"))?;
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(cas, provider)
            .map_err(|e| format!("trusted CA certificates: {e}"))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Every certificate of every PEM string; a string without any is an error.
fn parse_cas(trusted_ca_pem: &[String]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut cas = Vec::new();
    for (i, pem) in trusted_ca_pem.iter().enumerate() {
        let before = cas.len();
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            cas.push(cert.map_err(|e| format!("trusted_ca_pem[{i}]: {e}"))?);
        }
        if cas.len() == before {
            return Err(format!("trusted_ca_pem[{i}] holds no PEM certificate"));
        }
    }
    Ok(cas)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjjCCATWgAwIBAgIUQoZ7zQd4DCN4MLm4ecdiS2SPNN8wCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRYmVtcyB1bml0IHRlc3QgQ0EwIBcNMjYxMTI5MTE1NzQxWhgP
MjEyNjExMDUxMTU3NDFaMBwxGjAYBgNVBAMMEWJlbXMgdW5pdCB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE75bLN+hfy1G3iMu1ZVxBiandjRzdKuSL
zY8fsAHpPBPlA7Ud5UE4luPFX1VUeXIMor7iVpTsl3JjRK2Tfn/HgKNTMFEwHQYD
VR0OBBYEFNrQ+BYAo74IjQ0cPTL/2tX87YNMMB8GA1UdIwQYMBaAFNrQ+BYAo74I
jQ0cPTL/2tX87YNMMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIg
BAtMXHc7PCNcOHmZQRdUPMGv7/DDhFzZT3pTRS9acoACIEqcAGmKhUkFtlsgF7Mq
7mHk3Og+tj0sStlnTpV0TRYo
-----END CERTIFICATE-----
";

    #[test]
    fn bundles_and_single_certificates_parse() {
        let bundle = format!("{CA}{CA}");
        assert_eq!(parse_cas(&[CA.into(), bundle]).map(|c| c.len()), Ok(3));
    }

    #[test]
    fn text_without_a_certificate_is_an_error() {
        let err = parse_cas(&[CA.into(), "not a certificate".into()]).expect_err("parsed");
        assert!(err.contains("trusted_ca_pem[1]"), "{err}");
    }

    #[test]
    fn only_the_configured_cas_need_one() {
        assert!(client_config(&[], true).is_err());
        assert!(client_config(&[CA.into()], true).is_ok());
    }

    #[test]
    fn system_roots_plus_configured_cas() {
        // Works even on a host without a system CA bundle: the configured CA is enough.
        assert!(client_config(&[CA.into()], false).is_ok());
        assert!(client_config(&["junk".into()], false).is_err());
    }
}
