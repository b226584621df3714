//! Client assertions: a JWT signed with the app's certificate key instead of a secret.
//!
//! PS256 with `x5t#S256` by default, as Entra now documents; RS256 with `x5t` (SHA-1) for AD FS
//! and older tenants. Claims: `aud` = the token endpoint, `iss` = `sub` = the client id, a fresh
//! `jti`, `nbf`/`iat` now and `exp` ten minutes on.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use time::OffsetDateTime;

use crate::certificate::ClientCertificate;
use crate::error::AuthError;

/// How the assertion is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// PS256 with `x5t#S256` (the default).
    #[default]
    Ps256,
    /// RS256 with `x5t` (AD FS, older tenants).
    Rs256,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    iss: &'a str,
    sub: &'a str,
    jti: String,
    nbf: i64,
    iat: i64,
    exp: i64,
}

/// A signed assertion for `client_id` at `token_endpoint`.
pub(crate) fn sign(
    certificate: &ClientCertificate,
    algorithm: AssertionAlgorithm,
    client_id: &str,
    token_endpoint: &str,
) -> Result<String, AuthError> {
    let mut header = match algorithm {
        AssertionAlgorithm::Ps256 => {
            let mut header = Header::new(Algorithm::PS256);
            header.x5t_s256 = Some(certificate.thumbprint_sha256());
            header
        }
        AssertionAlgorithm::Rs256 => {
            let mut header = Header::new(Algorithm::RS256);
            header.x5t = Some(certificate.thumbprint_sha1());
            header
        }
    };
    header.typ = Some("JWT".into());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let claims = Claims {
        aud: token_endpoint,
        iss: client_id,
        sub: client_id,
        jti: uuid::Uuid::new_v4().to_string(),
        nbf: now,
        iat: now,
        exp: now + 600,
    };
    let key =
        EncodingKey::from_rsa_pem(pkcs8_pem(certificate.key_der()).as_bytes()).map_err(|e| {
            AuthError::Certificate(format!("the certificate's key is not an RSA key: {e}"))
        })?;
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| {
        AuthError::Certificate(format!(
            "cannot sign the client assertion (an RSA key is needed): {e}"
        ))
    })
}

/// A PKCS#8 key as PEM (what `jsonwebtoken` reads RSA keys from).
fn pkcs8_pem(der: &[u8]) -> zeroize::Zeroizing<String> {
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = zeroize::Zeroizing::new(String::from("-----BEGIN PRIVATE KEY-----\n"));
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    pem
}
