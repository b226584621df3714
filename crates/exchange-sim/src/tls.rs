//! Certificates: a simulator CA made at start, a server certificate for every host name the
//! scenario uses, and client certificates for service accounts and apps.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::SimError;

/// A certificate and its private key, in PEM.
#[derive(Clone)]
pub struct CertifiedKey {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
    /// The PKCS#8 private key, PEM.
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[redacted]")
            .finish()
    }
}

/// The simulator's certificate authority.
pub(crate) struct Pki {
    issuer: Issuer<'static, KeyPair>,
    ca_pem: String,
    ca_der: CertificateDer<'static>,
    server: CertifiedKey,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pem", &self.ca_pem)
            .finish_non_exhaustive()
    }
}

fn rcgen_error(error: rcgen::Error) -> SimError {
    SimError::Tls(error.to_string())
}

impl Pki {
    /// A new CA, and a server certificate for `hosts` plus `localhost` and 127.0.0.1.
    pub(crate) fn new(hosts: &[String]) -> Result<Self, SimError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, "exchange-sim test CA");
        name.push(DnType::OrganizationName, "bems exchange-sim");
        params.distinguished_name = name;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let ca = params.self_signed(&key).map_err(rcgen_error)?;
        let issuer = Issuer::new(params, key);
        let mut pki = Self {
            issuer,
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
            server: CertifiedKey {
                cert_pem: String::new(),
                cert_der: Vec::new(),
                key_pem: String::new(),
            },
        };
        let mut names: Vec<String> = hosts.to_vec();
        names.push("localhost".into());
        names.sort();
        names.dedup();
        pki.server = pki.issue(&names, &names[0], ExtendedKeyUsagePurpose::ServerAuth)?;
        Ok(pki)
    }

    /// The CA certificate, PEM: what clients trust.
    pub(crate) fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The server certificate (DER), which NTLM channel bindings name.
    pub(crate) fn server_cert_der(&self) -> &[u8] {
        &self.server.cert_der
    }

    /// A server certificate for `names` (and 127.0.0.1), signed by the CA.
    pub(crate) fn server_certificate(&self, names: &[String]) -> Result<CertifiedKey, SimError> {
        let common_name = names.first().map_or("localhost", String::as_str);
        self.issue(names, common_name, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate for `common_name`, signed by the CA.
    pub(crate) fn client_certificate(&self, common_name: &str) -> Result<CertifiedKey, SimError> {
        self.issue(&[], common_name, ExtendedKeyUsagePurpose::ClientAuth)
    }

    fn issue(
        &self,
        names: &[String],
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> Result<CertifiedKey, SimError> {
        let dns: Vec<String> = names
            .iter()
            .filter(|n| n.parse::<std::net::IpAddr>().is_err())
            .cloned()
            .collect();
        let mut params = CertificateParams::new(dns).map_err(rcgen_error)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv4Addr::LOCALHOST.into()));
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(CertifiedKey {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The rustls configuration of every HTTPS listener: the server certificate, TLS 1.2 and
    /// 1.3, and optional client certificates checked against the CA.
    pub(crate) fn server_config(
        &self,
        alpn: &[&[u8]],
    ) -> Result<Arc<rustls::ServerConfig>, SimError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.ca_der.clone())
            .map_err(|e| SimError::Tls(e.to_string()))?;
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .allow_unauthenticated()
                .build()
                .map_err(|e| SimError::Tls(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            rustls_pki_types::pem::PemObject::from_pem_slice(self.server.key_pem.as_bytes())
                .map(|k: PrivatePkcs8KeyDer<'static>| k.secret_pkcs8_der().to_vec())
                .map_err(|e| SimError::Tls(e.to_string()))?,
        ));
        let chain = vec![CertificateDer::from(self.server.cert_der.clone())];
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| SimError::Tls(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| SimError::Tls(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}
