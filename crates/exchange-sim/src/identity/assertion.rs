//! Client assertions (`private_key_jwt`): a JWT the app signs with its certificate's key
//! (<https://learn.microsoft.com/entra/identity-platform/certificate-credentials>).
//!
//! Checked as Entra does: `alg` PS256 or RS256; the header's `x5t#S256` (base64url SHA-256 of
//! the certificate DER) or else `x5t` (SHA-1) names the app's certificate; the signature; `iss`
//! and `sub` equal the client id; `aud` is this token endpoint; `exp` in the future and `nbf`
//! in the past (five minutes of clock skew allowed), at most ten minutes between them; and a
//! `jti` the client has not used before.
//!
//! Entra's code for a replayed `jti` is not documented; the simulator answers AADSTS50027
//! ("JWT token is invalid or malformed") with the reason in the message.

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::Identity;
use super::errors::{AadError, timestamp};

/// Clock skew allowed on `nbf` and `exp`, in seconds.
pub(crate) const SKEW_SECS: i64 = 300;
/// The longest `exp - nbf` accepted, in seconds (ten minutes, plus the skew a client's
/// `iat` may lag its `exp` computation by).
const MAX_LIFETIME_SECS: i64 = 600 + 60;

#[derive(Debug, Deserialize)]
struct Claims {
    aud: Option<serde_json::Value>,
    iss: Option<String>,
    sub: Option<String>,
    jti: Option<String>,
    exp: Option<f64>,
    nbf: Option<f64>,
    iat: Option<f64>,
}

fn invalid_key(client_id: &str, reason: &str, thumbprint: Option<&str>) -> AadError {
    let used = thumbprint
        .map(|t| format!(" Thumbprint of key used by client: '{t}'."))
        .unwrap_or_default();
    AadError::new(
        "invalid_client",
        700_027,
        format!(
            "The certificate with identifier used to sign the client assertion is not registered on application. \
             [Reason - {reason}{used} Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see \
             configured keys for app Id '{client_id}'.]"
        ),
    )
}

fn malformed(reason: &str) -> AadError {
    AadError::new(
        "invalid_client",
        50_027,
        format!("JWT token is invalid or malformed. [Reason - {reason}]"),
    )
}

fn missing_claim(claim: &str) -> AadError {
    AadError::new(
        "invalid_client",
        90_014,
        format!(
            "The required field '{claim}' is missing from the credential. Ensure that you have all the necessary parameters for the login request."
        ),
    )
}

/// Upper-case hex of a base64url thumbprint, as Entra prints it.
fn hex_thumbprint(b64: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64.trim_end_matches('='))
        .map(|bytes| bytes.iter().map(|b| format!("{b:02X}")).collect())
        .unwrap_or_else(|_| "(not base64url)".to_owned())
}

fn unix(seconds: f64) -> i64 {
    // Saturating float-to-int conversion: NaN becomes 0, out-of-range values clamp.
    seconds as i64
}

fn format_time(unix_seconds: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map_or_else(|_| unix_seconds.to_string(), timestamp)
}

/// Verifies `assertion` for `client_id`. `audience_ok` decides whether an `aud` value names this
/// token endpoint.
pub(crate) fn verify(
    identity: &Identity,
    client_id: &str,
    assertion: &str,
    audience_ok: impl Fn(&str) -> bool,
    now: i64,
) -> Result<(), AadError> {
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| malformed("The assertion is not a JWS."))?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(malformed(&format!(
            "The algorithm {:?} is not supported; use PS256 or RS256.",
            header.alg
        )));
    }
    let Some(credential) = identity.apps.get(client_id) else {
        return Err(invalid_key(client_id, "The key was not found.", None));
    };
    let (presented, expected) = match (&header.x5t_s256, &header.x5t) {
        (Some(s256), _) => (s256, &credential.x5t_s256),
        (None, Some(sha1)) => (sha1, &credential.x5t),
        (None, None) => return Err(invalid_key(client_id, "The key was not found.", None)),
    };
    if presented.trim_end_matches('=') != expected {
        return Err(invalid_key(
            client_id,
            "The key was not found.",
            Some(&hex_thumbprint(presented)),
        ));
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &credential.decoding, &validation)
    {
        Ok(data) => data.claims,
        Err(error) => {
            return Err(match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => AadError::new(
                    "invalid_client",
                    700_027,
                    format!(
                        "Client assertion failed signature validation. [Reason - The provided signature value did \
                         not match the expected signature value., Thumbprint of key used by client: '{}']",
                        hex_thumbprint(presented)
                    ),
                ),
                _ => malformed("The assertion's claims cannot be read."),
            });
        }
    };
    check_claims(identity, client_id, &claims, audience_ok, now)
}

fn check_claims(
    identity: &Identity,
    client_id: &str,
    claims: &Claims,
    audience_ok: impl Fn(&str) -> bool,
    now: i64,
) -> Result<(), AadError> {
    let iss = claims.iss.as_deref().ok_or_else(|| missing_claim("iss"))?;
    let sub = claims.sub.as_deref().ok_or_else(|| missing_claim("sub"))?;
    let aud = claims.aud.as_ref().ok_or_else(|| missing_claim("aud"))?;
    let exp = unix(claims.exp.ok_or_else(|| missing_claim("exp"))?);
    let jti = claims
        .jti
        .as_deref()
        .filter(|j| !j.is_empty())
        .ok_or_else(|| missing_claim("jti"))?;
    if iss != client_id || sub != client_id {
        return Err(AadError::new(
            "invalid_client",
            700_021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at \
             https://learn.microsoft.com/entra/identity-platform/certificate-credentials",
        ));
    }
    let audiences: Vec<&str> = match aud {
        serde_json::Value::String(one) => vec![one.as_str()],
        serde_json::Value::Array(many) => {
            many.iter().filter_map(serde_json::Value::as_str).collect()
        }
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| audience_ok(a)) {
        return Err(AadError::new(
            "invalid_client",
            700_023,
            "Client assertion audience claim does not match Realm issuer. Review the documentation at \
             https://learn.microsoft.com/entra/identity-platform/certificate-credentials.",
        ));
    }
    let start = claims.nbf.or(claims.iat).map(unix);
    let out_of_range = now - SKEW_SECS >= exp
        || start.is_some_and(|s| s > now + SKEW_SECS || exp - s > MAX_LIFETIME_SECS);
    if out_of_range {
        return Err(AadError::new(
            "invalid_client",
            700_024,
            format!(
                "Client assertion is not within its valid time range. Current time: {}, assertion valid from {}, \
                 expiry time of assertion {}. Review the documentation at \
                 https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
                format_time(now),
                format_time(start.unwrap_or(0)),
                format_time(exp)
            ),
        ));
    }
    if !identity.store.remember_assertion(client_id, jti, exp, now) {
        return Err(malformed(&format!(
            "The assertion id (jti) '{jti}' was already used."
        )));
    }
    Ok(())
}
