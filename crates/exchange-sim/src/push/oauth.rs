//! The mock Google OAuth 2.0 token endpoint for service accounts: checks the RS256 assertion
//! (signature, `iss`, `aud`, `scope`, `iat`/`exp`) and issues opaque access tokens.
//!
//! <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::serve::{self, Response};

#[derive(Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    scope: String,
    iat: i64,
    exp: i64,
}

/// Issued tokens and the checks of assertions.
pub(crate) struct Tokens {
    key: DecodingKey,
    client_email: String,
    lifetime: Duration,
    issued: Mutex<HashMap<String, Instant>>,
    pub(crate) count: AtomicU64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("client_email", &self.client_email)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    pub(crate) fn new(
        public_key_pem: &str,
        client_email: &str,
        lifetime: Duration,
    ) -> Result<Self, String> {
        Ok(Self {
            key: DecodingKey::from_rsa_pem(public_key_pem.as_bytes()).map_err(|e| e.to_string())?,
            client_email: client_email.to_owned(),
            lifetime,
            issued: Mutex::new(HashMap::new()),
            count: AtomicU64::new(0),
        })
    }

    /// Whether `authorization` carries a token we issued that has not expired.
    pub(crate) fn valid(&self, authorization: Option<&str>) -> bool {
        let Some(token) = authorization.and_then(|v| v.strip_prefix("Bearer ")) else {
            return false;
        };
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued
            .get(token)
            .is_some_and(|at| at.elapsed() < self.lifetime)
    }

    /// Forgets every issued token (as if they were revoked): the next sends get 401.
    pub(crate) fn revoke_all(&self) {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// `POST /token` with `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=...`.
    pub(crate) fn exchange(&self, form: &[u8], token_uri: &str) -> Response {
        let fields: HashMap<String, String> =
            url::form_urlencoded::parse(form).into_owned().collect();
        if fields.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return error(
                400,
                "unsupported_grant_type",
                "grant_type must be jwt-bearer",
            );
        }
        let Some(assertion) = fields.get("assertion") else {
            return error(400, "invalid_request", "no assertion");
        };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[token_uri]);
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
        validation.leeway = 30;
        let claims = match jsonwebtoken::decode::<Claims>(assertion, &self.key, &validation) {
            Ok(data) => data.claims,
            Err(e) => return error(400, "invalid_grant", &format!("Invalid JWT: {e}")),
        };
        if claims.iss != self.client_email {
            return error(401, "invalid_client", "The OAuth client was not found.");
        }
        if claims.aud != token_uri {
            return error(400, "invalid_grant", "Invalid JWT: audience");
        }
        if claims.exp - claims.iat > 3600 {
            return error(
                400,
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes)",
            );
        }
        let scopes: Vec<&str> = claims.scope.split(' ').collect();
        if !scopes.iter().any(|s| {
            *s == "https://www.googleapis.com/auth/firebase.messaging"
                || *s == "https://www.googleapis.com/auth/cloud-platform"
        }) {
            return error(400, "invalid_scope", "the scope does not allow FCM");
        }
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let token = format!("ya29.mock-{n}-{}", uuid::Uuid::new_v4().simple());
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token.clone(), Instant::now());
        serve::json(
            200,
            &serde_json::json!({
                "access_token": token,
                "expires_in": self.lifetime.as_secs(),
                "token_type": "Bearer",
            }),
        )
    }
}

fn error(status: u16, error: &str, description: &str) -> Response {
    serve::json(
        status,
        &serde_json::json!({ "error": error, "error_description": description }),
    )
}
