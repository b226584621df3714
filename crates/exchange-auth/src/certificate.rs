//! Client certificates from a `.pfx` (PKCS#12) file and its password, in pure Rust: modern
//! files (PBES2 with AES-256, as OpenSSL 3 and current Windows write them) and legacy ones
//! (3DES, RC2).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha1::Digest as _;
use time::OffsetDateTime;

use crate::error::AuthError;

/// A certificate with its private key and chain.
#[derive(Clone)]
pub struct ClientCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: SecretSlice<u8>,
    subject: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject)
            .field("not_after", &self.not_after)
            .field("key", &"[redacted]")
            .finish()
    }
}

impl ClientCertificate {
    /// Loads a `.pfx` file's first key and its certificate chain.
    ///
    /// Errors say what is wrong: the password (the file's integrity check fails), a file without
    /// a private key, a certificate that expired or is not yet valid.
    pub fn from_pfx(pfx: &[u8], password: &SecretString) -> Result<Self, AuthError> {
        let store =
            p12_keystore::KeyStore::from_pkcs12(pfx, password.expose_secret(), Default::default())
                .map_err(pfx_error)?;
        let (_, chain) = store.private_key_chain().ok_or_else(|| {
            AuthError::Certificate("the .pfx file holds no private key with its certificate".into())
        })?;
        let certs: Vec<CertificateDer<'static>> = chain
            .certs()
            .iter()
            .map(|c| CertificateDer::from(c.as_der().to_vec()))
            .collect();
        Self::new(certs, chain.key().as_der().to_vec())
    }

    /// A certificate chain and PKCS#8 key, in PEM.
    pub fn from_pem(chain_pem: &str, key_pem: &str) -> Result<Self, AuthError> {
        use rustls_pki_types::pem::PemObject;
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(chain_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| AuthError::Certificate(format!("certificate PEM: {e}")))?;
        let key = PrivatePkcs8KeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| {
            AuthError::Certificate("the key PEM holds no PKCS#8 private key".into())
        })?;
        Self::new(chain, key.secret_pkcs8_der().to_vec())
    }

    fn new(chain: Vec<CertificateDer<'static>>, key: Vec<u8>) -> Result<Self, AuthError> {
        let leaf = chain
            .first()
            .ok_or_else(|| AuthError::Certificate("no certificate with the private key".into()))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(leaf)
            .map_err(|e| AuthError::Certificate(format!("unreadable certificate: {e}")))?;
        let subject = parsed.subject().to_string();
        let validity = parsed.validity();
        let not_before = validity.not_before.to_datetime();
        let not_after = validity.not_after.to_datetime();
        let now = OffsetDateTime::now_utc();
        if now > not_after {
            return Err(AuthError::Certificate(format!(
                "the certificate {subject} expired on {not_after}"
            )));
        }
        if now < not_before {
            return Err(AuthError::Certificate(format!(
                "the certificate {subject} is not valid before {not_before}"
            )));
        }
        Ok(Self {
            chain,
            key: SecretSlice::from(key),
            subject,
            not_before,
            not_after,
        })
    }

    /// The certificate chain, leaf first.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    pub(crate) fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.expose_secret().to_vec()))
    }

    pub(crate) fn key_der(&self) -> &[u8] {
        self.key.expose_secret()
    }

    /// The leaf certificate's subject.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// When the leaf certificate expires.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// `x5t#S256`: base64url SHA-256 of the leaf certificate.
    pub fn thumbprint_sha256(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(self.leaf()))
    }

    /// `x5t`: base64url SHA-1 of the leaf certificate (AD FS, older Entra).
    pub fn thumbprint_sha1(&self) -> String {
        URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(self.leaf()))
    }

    fn leaf(&self) -> &[u8] {
        self.chain.first().map_or(&[], |c| c.as_ref())
    }

    /// Not valid before.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
}

fn pfx_error(error: p12_keystore::error::Error) -> AuthError {
    use p12_keystore::error::Error;
    match error {
        Error::MacError(_) => AuthError::Certificate(
            "wrong password for the .pfx file (its integrity check fails)".into(),
        ),
        Error::UnpadError | Error::Pkcs5Error(_) => AuthError::Certificate(
            "wrong password for the .pfx file (its contents do not decrypt)".into(),
        ),
        Error::UnsupportedEncryptionScheme | Error::UnsupportedMacAlgorithm => {
            AuthError::Certificate(format!("unsupported .pfx protection: {error}"))
        }
        other => AuthError::Certificate(format!("not a readable .pfx file: {other}")),
    }
}
