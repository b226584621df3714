//! RSA keys with self-signed certificates: the platform's token-signing key (published in the
//! JWKS) and the certificate credential of every app registered with `certificate = true`.
//!
//! Entra takes app certificates as uploaded public keys and does not chain them to a CA, and it
//! only accepts RSA keys for client assertions (RS256, PS256). The simulator's CA issues P-256
//! keys, so app certificates are made here, self-signed, as `New-SelfSignedCertificate` would.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{DecodingKey, EncodingKey};
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};
use x509_parser::public_key::PublicKey;

use crate::SimError;
use crate::tls::CertifiedKey;

/// An RSA key pair and its certificate, with what JWTs need of them.
pub(crate) struct RsaCredential {
    /// The certificate and its PKCS#8 private key.
    pub(crate) cert: CertifiedKey,
    /// base64url SHA-1 thumbprint of the certificate DER (`x5t`).
    pub(crate) x5t: String,
    /// base64url SHA-256 thumbprint of the certificate DER (`x5t#S256`).
    pub(crate) x5t_s256: String,
    /// Modulus, big-endian, no leading zero.
    n: Vec<u8>,
    /// Public exponent, big-endian.
    e: Vec<u8>,
    /// Verifies signatures made with this key.
    pub(crate) decoding: DecodingKey,
    /// Signs with this key.
    pub(crate) encoding: EncodingKey,
}

impl std::fmt::Debug for RsaCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaCredential")
            .field("x5t", &self.x5t)
            .field("x5t_s256", &self.x5t_s256)
            .field("private_key", &"[redacted]")
            .finish_non_exhaustive()
    }
}

fn tls_error(error: impl std::fmt::Display) -> SimError {
    SimError::Tls(error.to_string())
}

impl RsaCredential {
    /// A new 2048-bit RSA key with a self-signed certificate for `common_name`, valid from a day
    /// ago for two years.
    pub(crate) fn generate(common_name: &str) -> Result<Self, SimError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).map_err(tls_error)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_error)?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, common_name);
        params.distinguished_name = name;
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(730);
        let cert = params.self_signed(&key).map_err(tls_error)?;
        Self::from_parts(CertifiedKey {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
        })
    }

    fn from_parts(cert: CertifiedKey) -> Result<Self, SimError> {
        let (n, e) = rsa_components(&cert.cert_der)?;
        let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
        let encoding = EncodingKey::from_rsa_pem(cert.key_pem.as_bytes()).map_err(tls_error)?;
        Ok(Self {
            x5t: URL_SAFE_NO_PAD.encode(Sha1::digest(&cert.cert_der)),
            x5t_s256: URL_SAFE_NO_PAD.encode(Sha256::digest(&cert.cert_der)),
            n,
            e,
            decoding,
            encoding,
            cert,
        })
    }

    /// The key as a JWK (RFC 7517), as Entra publishes its signing keys.
    pub(crate) fn jwk(&self, kid: &str, issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "kid": kid,
            "x5t": self.x5t,
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
            "x5c": [STANDARD.encode(&self.cert.cert_der)],
            "issuer": issuer,
        })
    }
}

/// The RSA modulus and exponent of a certificate's public key.
fn rsa_components(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), SimError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(tls_error)?;
    match cert.public_key().parsed().map_err(tls_error)? {
        PublicKey::RSA(rsa) => Ok((strip_zeros(rsa.modulus), strip_zeros(rsa.exponent))),
        _ => Err(SimError::Tls("certificate key is not RSA".into())),
    }
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes[start..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Algorithm, Header, Validation};

    #[test]
    fn signs_and_verifies_rs256_and_ps256_and_publishes_matching_components() {
        let credential = RsaCredential::generate("unit").expect("key");
        for alg in [Algorithm::RS256, Algorithm::PS256] {
            let token = jsonwebtoken::encode(
                &Header::new(alg),
                &serde_json::json!({"exp": 4_000_000_000u64}),
                &credential.encoding,
            )
            .expect("sign");
            let mut validation = Validation::new(alg);
            validation.validate_aud = false;
            jsonwebtoken::decode::<serde_json::Value>(&token, &credential.decoding, &validation)
                .expect("verify");
        }
        let jwk = credential.jwk("kid-1", "iss");
        assert_eq!(jwk["kid"], "kid-1");
        assert_eq!(jwk["e"], "AQAB");
        assert_eq!(credential.n.len(), 256);
        assert_eq!(credential.x5t.len(), 27);
        assert_eq!(credential.x5t_s256.len(), 43);
        assert!(!format!("{credential:?}").contains("PRIVATE"));
    }
}
