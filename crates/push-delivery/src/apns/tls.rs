//! The TLS client configuration: roots (system plus extra CAs), ALPN `h2`, and the client
//! certificate of certificate-based authentication, read from a .p12 / .pfx file.

use std::sync::Arc;

use p12_keystore::{KeyStore, Pkcs12ImportPolicy};
use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{Error, ExposeSecret, SecretString};

/// The client certificate chain and key of a .p12 file.
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// Reads the first private key and its certificate chain from a PKCS#12 file.
pub(crate) fn identity_from_p12(p12: &[u8], password: &SecretString) -> Result<Identity, Error> {
    let store = KeyStore::from_pkcs12(p12, password.expose_secret(), Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| Error::config("p12", format!("cannot read the PKCS#12 file: {e}")))?;
    let (_, chain) = store
        .private_key_chain()
        .ok_or_else(|| Error::config("p12", "no private key with a certificate in the file"))?;
    if chain.certs().is_empty() {
        return Err(Error::config("p12", "the private key has no certificate"));
    }
    let certs = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok(Identity { chain: certs, key })
}

/// The client configuration.
pub(crate) fn client_config(
    extra_ca_pem: &[String],
    trust_system_roots: bool,
    identity: Option<Identity>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut extra = Vec::new();
    for pem in extra_ca_pem {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| Error::config("extra_ca_pem", format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(Error::config("extra_ca_pem", "no certificate in the PEM"));
        }
        extra.extend(certs);
    }
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config("tls", e))?;
    let builder = if trust_system_roots {
        let verifier =
            rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
                .map_err(|e| Error::config("extra_ca_pem", e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
    } else {
        if extra.is_empty() {
            return Err(Error::config(
                "extra_ca_pem",
                "without the system's roots, at least one CA must be trusted",
            ));
        }
        let mut roots = rustls::RootCertStore::empty();
        for cert in extra {
            roots
                .add(cert)
                .map_err(|e| Error::config("extra_ca_pem", e))?;
        }
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| Error::config("extra_ca_pem", e))?;
        builder.with_webpki_verifier(verifier)
    };
    let mut config = match identity {
        Some(identity) => builder
            .with_client_auth_cert(identity.chain, identity.key)
            .map_err(|e| Error::config("p12", format!("unusable key or certificate: {e}")))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_name_the_setting() {
        let err = client_config(&["junk".into()], false, None).unwrap_err();
        assert!(err.to_string().contains("extra_ca_pem"), "{err}");
        let err = client_config(&[], false, None).unwrap_err();
        assert!(err.to_string().contains("extra_ca_pem"), "{err}");
        let err = identity_from_p12(b"not a p12", &SecretString::from("pw"))
            .err()
            .unwrap();
        assert!(err.to_string().contains("p12"), "{err}");
        assert!(!err.to_string().contains("pw"));
    }

    #[test]
    fn system_roots_with_an_extra_ca() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let config = client_config(&[ca.pem()], true, None).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
        client_config(&[ca.pem()], false, None).unwrap();
    }
}
