//! OAuth 2.0 access tokens for FCM: an RS256 assertion signed with the service account's key,
//! exchanged at its `token_uri`, cached until shortly before it expires, refreshed by one
//! request at a time.
//!
//! <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>

use std::sync::RwLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::account::ServiceAccount;
use crate::{Error, ExposeSecret, SecretString};

#[derive(Serialize)]
struct Assertion<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: SecretString,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Clone)]
pub(crate) struct AccessToken {
    /// `Bearer <token>`.
    pub(crate) header: SecretString,
    refresh_at: Instant,
}

/// Why no token could be had.
#[derive(Debug)]
pub(crate) struct TokenError {
    /// Whether trying later may help (a 5xx or no answer) rather than bad credentials.
    pub(crate) retryable: bool,
    pub(crate) detail: String,
}

/// Signs assertions and caches the access token.
pub(crate) struct TokenSource {
    key: EncodingKey,
    key_id: Option<String>,
    client_email: String,
    scope: String,
    token_url: String,
    margin: Duration,
    cached: RwLock<Option<AccessToken>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl TokenSource {
    pub(crate) fn new(
        account: &ServiceAccount,
        token_url: String,
        scope: String,
        margin: Duration,
    ) -> Result<Self, Error> {
        let key = EncodingKey::from_rsa_pem(account.private_key.expose_secret().as_bytes())
            .map_err(|e| {
                Error::config(
                    "service_account_json",
                    format!("private_key is not an RSA key: {e}"),
                )
            })?;
        Ok(Self {
            key,
            key_id: account.private_key_id.clone(),
            client_email: account.client_email.clone(),
            scope,
            token_url,
            margin,
            cached: RwLock::new(None),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    fn fresh(&self) -> Option<AccessToken> {
        let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|t| Instant::now() < t.refresh_at)
            .cloned()
    }

    /// Forgets the cached token if it is `rejected` (FCM answered 401 with it).
    pub(crate) fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
        if cached
            .as_ref()
            .is_some_and(|t| t.header.expose_secret() == rejected.header.expose_secret())
        {
            *cached = None;
        }
    }

    /// A valid token, from the cache or a new exchange.
    pub(crate) async fn token(&self, http: &reqwest::Client) -> Result<AccessToken, TokenError> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let token = self.exchange(http).await?;
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    async fn exchange(&self, http: &reqwest::Client) -> Result<AccessToken, TokenError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.key_id.clone();
        let claims = Assertion {
            iss: &self.client_email,
            scope: &self.scope,
            aud: &self.token_url,
            iat: now,
            exp: now + 3600,
        };
        let assertion =
            jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| TokenError {
                retryable: false,
                detail: format!("cannot sign the assertion: {e}"),
            })?;
        let started = Instant::now();
        let response = http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| TokenError {
                retryable: true,
                detail: format!("token endpoint: {}", without_url(&e)),
            })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| TokenError {
            retryable: true,
            detail: format!("token endpoint: {}", without_url(&e)),
        })?;
        if !status.is_success() {
            #[derive(Deserialize)]
            struct OAuthError {
                error: String,
                #[serde(default)]
                error_description: Option<String>,
            }
            let what = serde_json::from_slice::<OAuthError>(&body)
                .map(|e| format!("{} {}", e.error, e.error_description.unwrap_or_default()))
                .unwrap_or_default();
            return Err(TokenError {
                retryable: status.is_server_error() || status.as_u16() == 429,
                detail: format!("token endpoint answered {status}: {}", what.trim()),
            });
        }
        let parsed: TokenResponse = serde_json::from_slice(&body).map_err(|e| TokenError {
            retryable: true,
            detail: format!("token endpoint: unreadable answer: {e}"),
        })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        // Refresh `margin` before expiry, or halfway through a short-lived token.
        let early = self.margin.min(lifetime / 2);
        tracing::debug!(
            lifetime_s = lifetime.as_secs(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "FCM access token obtained"
        );
        Ok(AccessToken {
            header: SecretString::from(format!("Bearer {}", parsed.access_token.expose_secret())),
            refresh_at: started + lifetime - early,
        })
    }
}

/// A reqwest error's text without the URL's query (no secrets are in our URLs, but keep
/// messages short).
fn without_url(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(source) = std::error::Error::source(error) {
        text.push_str(": ");
        text.push_str(&source.to_string());
    }
    text
}
