//! How the mock APNs checks a provider token: ES256 signed by the configured key, `kid` the key
//! id, `iss` the team id, `iat` no older than an hour (else 403 `ExpiredProviderToken`), and a
//! new token no sooner than 20 minutes after the previous one (else 429
//! `TooManyProviderTokenUpdates`). A token already verified is recognised without checking
//! its signature again, as a server holding many streams on one token would.
//!
//! <https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns>

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Deserialize)]
struct Claims {
    iss: String,
    iat: i64,
}

/// Why a token was refused: the APNs reason.
pub(crate) type Refusal = &'static str;

#[derive(Debug)]
struct Accepted {
    token: String,
    iat: i64,
    first_seen: Instant,
}

pub(crate) struct TokenCheck {
    key: Option<DecodingKey>,
    team_id: String,
    key_id: String,
    max_age: Duration,
    min_refresh: Duration,
    current: Mutex<Option<Accepted>>,
}

impl std::fmt::Debug for TokenCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCheck")
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl TokenCheck {
    pub(crate) fn new(
        public_key_pem: Option<&str>,
        team_id: &str,
        key_id: &str,
        max_age: Duration,
        min_refresh: Duration,
    ) -> Result<Self, String> {
        let key = public_key_pem
            .map(|pem| DecodingKey::from_ec_pem(pem.as_bytes()).map_err(|e| e.to_string()))
            .transpose()?;
        Ok(Self {
            key,
            team_id: team_id.to_owned(),
            key_id: key_id.to_owned(),
            max_age,
            min_refresh,
            current: Mutex::new(None),
        })
    }

    /// Checks `authorization`; the token's `iat` when accepted.
    pub(crate) fn check(&self, authorization: Option<&str>) -> Result<i64, Refusal> {
        let Some(value) = authorization else {
            return Err("MissingProviderToken");
        };
        let Some(token) = value
            .strip_prefix("bearer ")
            .or_else(|| value.strip_prefix("Bearer "))
        else {
            return Err("InvalidProviderToken");
        };
        let now = unix_now();
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(accepted) = current.as_ref()
            && accepted.token == token
        {
            return self.fresh(accepted.iat, now);
        }
        let iat = self.verify(token)?;
        self.fresh(iat, now)?;
        if let Some(previous) = current.as_ref()
            && previous.first_seen.elapsed() < self.min_refresh
            && now - previous.iat <= self.max_age.as_secs() as i64
        {
            return Err("TooManyProviderTokenUpdates");
        }
        *current = Some(Accepted {
            token: token.to_owned(),
            iat,
            first_seen: Instant::now(),
        });
        Ok(iat)
    }

    fn fresh(&self, iat: i64, now: i64) -> Result<i64, Refusal> {
        if now - iat > self.max_age.as_secs() as i64 {
            return Err("ExpiredProviderToken");
        }
        Ok(iat)
    }

    fn verify(&self, token: &str) -> Result<i64, Refusal> {
        let Some(key) = &self.key else {
            return Err("InvalidProviderToken");
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| "InvalidProviderToken")?;
        if header.alg != Algorithm::ES256 {
            return Err("InvalidProviderToken");
        }
        if header.kid.as_deref() != Some(self.key_id.as_str()) {
            return Err("InvalidProviderToken");
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|_| "InvalidProviderToken")?;
        if data.claims.iss != self.team_id {
            return Err("InvalidProviderToken");
        }
        Ok(data.claims.iat)
    }
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The `iat` of a JWT, read without checking anything (for the request log).
pub(crate) fn peek_iat(authorization: &str) -> Option<i64> {
    use base64::Engine as _;
    let token = authorization.split_once(' ')?.1;
    let claims = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(claims)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iat")?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn sign(private_pem: &str, kid: &str, iss: &str, iat: i64) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.into());
        let claims = serde_json::json!({ "iss": iss, "iat": iat });
        let key = EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap();
        format!(
            "bearer {}",
            jsonwebtoken::encode(&header, &claims, &key).unwrap()
        )
    }

    #[test]
    fn checks_what_apple_checks() {
        let keys = crate::push::keys::p8_key_pair().unwrap();
        let other = crate::push::keys::p8_key_pair().unwrap();
        let hour = Duration::from_secs(3600);
        let check = TokenCheck::new(
            Some(&keys.public_pem),
            "TEAM123456",
            "KEY1234567",
            hour,
            Duration::from_secs(1200),
        )
        .unwrap();
        let now = unix_now();
        assert_eq!(check.check(None), Err("MissingProviderToken"));
        assert_eq!(
            check.check(Some("bearer junk")),
            Err("InvalidProviderToken")
        );
        let wrong_key = sign(&other.private_pem, "KEY1234567", "TEAM123456", now);
        assert_eq!(check.check(Some(&wrong_key)), Err("InvalidProviderToken"));
        let wrong_kid = sign(&keys.private_pem, "KEY0000000", "TEAM123456", now);
        assert_eq!(check.check(Some(&wrong_kid)), Err("InvalidProviderToken"));
        let wrong_iss = sign(&keys.private_pem, "KEY1234567", "TEAM000000", now);
        assert_eq!(check.check(Some(&wrong_iss)), Err("InvalidProviderToken"));
        let old = sign(&keys.private_pem, "KEY1234567", "TEAM123456", now - 3700);
        assert_eq!(check.check(Some(&old)), Err("ExpiredProviderToken"));
        let good = sign(&keys.private_pem, "KEY1234567", "TEAM123456", now);
        assert_eq!(check.check(Some(&good)), Ok(now));
        assert_eq!(check.check(Some(&good)), Ok(now));
        assert_eq!(peek_iat(&good), Some(now));
        let newer = sign(&keys.private_pem, "KEY1234567", "TEAM123456", now - 1);
        assert_eq!(
            check.check(Some(&newer)),
            Err("TooManyProviderTokenUpdates")
        );
    }
}
