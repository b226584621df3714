//! The APNs provider token: one ES256 JWT shared by every request and connection, re-signed
//! on a fixed period between 20 and 60 minutes (Apple refuses tokens older than an hour with
//! 403 `ExpiredProviderToken` and refreshes more often than every 20 minutes with 429
//! `TooManyProviderTokenUpdates`).
//!
//! <https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns>

use std::sync::RwLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::{Error, ExposeSecret};

/// The shortest and longest re-signing periods Apple allows.
pub(crate) const MIN_REFRESH: Duration = Duration::from_secs(20 * 60);
pub(crate) const MAX_REFRESH: Duration = Duration::from_secs(60 * 60);

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: u64,
}

struct Current {
    /// `bearer <jwt>`, marked sensitive so `http` never prints it.
    header: HeaderValue,
    iat: u64,
    signed_at: Instant,
}

/// Signs and caches the provider token.
pub(crate) struct TokenSigner {
    key: EncodingKey,
    key_id: String,
    team_id: String,
    refresh: Duration,
    current: RwLock<Current>,
    on_signed: Option<crate::apns::OnSigned>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key_id", &self.key_id)
            .field("team_id", &self.team_id)
            .field("refresh", &self.refresh)
            .finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A signer for the .p8 key `p8_pem`; signs the first token now, so a bad key fails here,
    /// unless `cache` holds a token of this key and team younger than `refresh`.
    pub(crate) fn new(
        team_id: &str,
        key_id: &str,
        p8_pem: &str,
        refresh: Duration,
        cache: crate::apns::ProviderTokenCache,
    ) -> Result<Self, Error> {
        if !(MIN_REFRESH..=MAX_REFRESH).contains(&refresh) {
            return Err(Error::config(
                "token_refresh",
                "APNs tokens are re-signed between 20 and 60 minutes",
            ));
        }
        if team_id.len() != 10 || !team_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::config(
                "team_id",
                "a team id is 10 letters or digits",
            ));
        }
        if key_id.len() != 10 || !key_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Error::config("key_id", "a key id is 10 letters or digits"));
        }
        let key = EncodingKey::from_ec_pem(p8_pem.as_bytes())
            .map_err(|e| Error::config("p8_pem", format!("not a PKCS#8 P-256 private key: {e}")))?;
        let fresh = sign(&key, key_id, team_id)?;
        let kept = cache
            .last
            .as_ref()
            .and_then(|(jwt, iat)| reuse(jwt.expose_secret(), *iat, key_id, team_id, refresh));
        let current = match kept {
            Some(kept) => {
                tracing::debug!(
                    key_id,
                    iat = kept.iat,
                    "APNs provider token of an earlier run reused"
                );
                kept
            }
            None => {
                if let Some(report) = &cache.on_signed {
                    report(jwt_of(&fresh.header), fresh.iat);
                }
                fresh
            }
        };
        Ok(Self {
            key,
            key_id: key_id.to_owned(),
            team_id: team_id.to_owned(),
            refresh,
            current: RwLock::new(current),
            on_signed: cache.on_signed,
        })
    }

    /// The `authorization` header value and its `iat`, re-signed when the period has passed.
    pub(crate) fn header(&self) -> (HeaderValue, u64) {
        {
            let current = self.current.read().unwrap_or_else(|p| p.into_inner());
            if current.signed_at.elapsed() < self.refresh {
                return (current.header.clone(), current.iat);
            }
        }
        self.resign_if(|current| current.signed_at.elapsed() >= self.refresh)
    }

    /// Re-signs after APNs said the token with `rejected_iat` expired, unless another request
    /// already did: one refresh per rejection, never a burst of them.
    pub(crate) fn expired(&self, rejected_iat: u64) -> (HeaderValue, u64) {
        self.resign_if(|current| current.iat == rejected_iat)
    }

    fn resign_if(&self, stale: impl Fn(&Current) -> bool) -> (HeaderValue, u64) {
        let mut current = self.current.write().unwrap_or_else(|p| p.into_inner());
        if stale(&current) {
            match sign(&self.key, &self.key_id, &self.team_id) {
                Ok(fresh) => {
                    tracing::debug!(key_id = %self.key_id, iat = fresh.iat, "APNs provider token re-signed");
                    if let Some(report) = &self.on_signed {
                        report(jwt_of(&fresh.header), fresh.iat);
                    }
                    *current = fresh;
                }
                // The key signed before, so this does not happen; keep the old token and
                // let APNs say what it thinks of it.
                Err(error) => tracing::warn!(%error, "cannot re-sign the APNs provider token"),
            }
        }
        (current.header.clone(), current.iat)
    }
}

/// The JWT in a `bearer <jwt>` header value.
fn jwt_of(header: &HeaderValue) -> &str {
    header
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("bearer "))
        .unwrap_or_default()
}

/// A kept token, if it is this key's and team's and younger than `refresh` by a minute.
fn reuse(jwt: &str, iat: u64, key_id: &str, team_id: &str, refresh: Duration) -> Option<Current> {
    use base64::Engine as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = jwt.split('.');
    let header: serde_json::Value =
        serde_json::from_slice(&engine.decode(parts.next()?).ok()?).ok()?;
    let claims: serde_json::Value =
        serde_json::from_slice(&engine.decode(parts.next()?).ok()?).ok()?;
    parts.next()?;
    let matches = header["alg"] == "ES256"
        && header["kid"] == key_id
        && claims["iss"] == team_id
        && claims["iat"] == iat;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let age = Duration::from_secs(now.checked_sub(iat)?);
    if !matches || age + Duration::from_secs(60) >= refresh {
        return None;
    }
    let mut value = HeaderValue::try_from(format!("bearer {jwt}")).ok()?;
    value.set_sensitive(true);
    Some(Current {
        header: value,
        iat,
        signed_at: Instant::now().checked_sub(age)?,
    })
}

fn sign(key: &EncodingKey, key_id: &str, team_id: &str) -> Result<Current, Error> {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(key_id.to_owned());
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let jwt = jsonwebtoken::encode(&header, &Claims { iss: team_id, iat }, key)
        .map_err(|e| Error::config("p8_pem", format!("cannot sign with the key: {e}")))?;
    let mut value =
        HeaderValue::try_from(format!("bearer {jwt}")).map_err(|e| Error::config("p8_pem", e))?;
    value.set_sensitive(true);
    Ok(Current {
        header: value,
        iat,
        signed_at: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p8() -> String {
        rcgen::KeyPair::generate().unwrap().serialize_pem()
    }

    fn decode(value: &HeaderValue) -> (serde_json::Value, serde_json::Value) {
        use base64::Engine as _;
        let text = value.to_str().unwrap().strip_prefix("bearer ").unwrap();
        let mut parts = text.split('.');
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = engine.decode(parts.next().unwrap()).unwrap();
        let claims = engine.decode(parts.next().unwrap()).unwrap();
        (
            serde_json::from_slice(&header).unwrap(),
            serde_json::from_slice(&claims).unwrap(),
        )
    }

    #[test]
    fn signs_es256_with_kid_and_iss() {
        let signer = TokenSigner::new(
            "TEAM123456",
            "KEY1234567",
            &p8(),
            MIN_REFRESH,
            Default::default(),
        )
        .unwrap();
        let (value, iat) = signer.header();
        assert!(value.is_sensitive());
        let (header, claims) = decode(&value);
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY1234567");
        assert_eq!(claims["iss"], "TEAM123456");
        assert_eq!(claims["iat"], iat);
        // Cached: the same token until the period passes.
        assert_eq!(signer.header().0, value);
    }

    #[test]
    fn refuses_bad_settings() {
        let short = Duration::from_secs(60);
        let err = TokenSigner::new("TEAM123456", "KEY1234567", &p8(), short, Default::default())
            .unwrap_err();
        assert!(err.to_string().contains("token_refresh"), "{err}");
        let err = TokenSigner::new("TEAM", "KEY1234567", &p8(), MIN_REFRESH, Default::default())
            .unwrap_err();
        assert!(err.to_string().contains("team_id"), "{err}");
        let err = TokenSigner::new(
            "TEAM123456",
            "KEY1234567",
            "nope",
            MIN_REFRESH,
            Default::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("p8_pem"), "{err}");
        assert!(!err.to_string().contains("BEGIN"));
    }

    #[test]
    fn a_token_of_an_earlier_run_is_reused_while_young_and_new_ones_are_reported() {
        use std::sync::{Arc, Mutex};
        let key = p8();
        let reported: Arc<Mutex<Vec<u64>>> = Arc::default();
        let sink = Arc::clone(&reported);
        let cache = |last: Option<(String, u64)>| crate::apns::ProviderTokenCache {
            last: last.map(|(jwt, iat)| (crate::SecretString::from(jwt), iat)),
            on_signed: Some(Arc::new({
                let sink = Arc::clone(&sink);
                move |_: &str, iat: u64| sink.lock().unwrap().push(iat)
            })),
        };
        let first =
            TokenSigner::new("TEAM123456", "KEY1234567", &key, MIN_REFRESH, cache(None)).unwrap();
        let (value, iat) = first.header();
        assert_eq!(
            *reported.lock().unwrap(),
            vec![iat],
            "the first token is reported"
        );
        let jwt = jwt_of(&value).to_owned();
        // The next run presents the same token, and reports nothing new.
        let second = TokenSigner::new(
            "TEAM123456",
            "KEY1234567",
            &key,
            MIN_REFRESH,
            cache(Some((jwt.clone(), iat))),
        )
        .unwrap();
        assert_eq!(second.header(), (value.clone(), iat));
        assert_eq!(reported.lock().unwrap().len(), 1);
        // Another key id, a wrong iat, or garbage: a new token.
        for (kid, last) in [
            ("KEY7654321", (jwt.clone(), iat)),
            ("KEY1234567", (jwt.clone(), iat + 1)),
            ("KEY1234567", ("a.b.c".to_owned(), iat)),
        ] {
            let signer =
                TokenSigner::new("TEAM123456", kid, &key, MIN_REFRESH, cache(Some(last))).unwrap();
            assert_ne!(signer.header().0, value);
        }
    }

    #[test]
    fn expired_resigns_once_per_rejected_token() {
        let signer = TokenSigner::new(
            "TEAM123456",
            "KEY1234567",
            &p8(),
            MIN_REFRESH,
            Default::default(),
        )
        .unwrap();
        let (_, iat) = signer.header();
        // A token from another iat is not the one rejected: nothing changes.
        let (same, same_iat) = signer.expired(iat + 1);
        assert_eq!(same_iat, iat);
        assert_eq!(same, signer.header().0);
    }
}
