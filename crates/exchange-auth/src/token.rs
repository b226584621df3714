//! Access tokens and the cache every token source shares: absolute expiry, refresh five
//! minutes early, one refresh at a time however many callers wait, the still-valid token kept
//! when an early refresh fails, and dropped on a 401.

use std::fmt;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use crate::error::AuthError;

/// How early a token is refreshed.
pub const REFRESH_EARLY: Duration = Duration::from_secs(300);

/// An OAuth access token with its absolute expiry.
#[derive(Clone)]
pub struct AccessToken {
    secret: SecretString,
    expires_at: OffsetDateTime,
    scopes: Vec<String>,
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish()
    }
}

impl AccessToken {
    /// A token valid until `expires_at`.
    pub fn new(secret: SecretString, expires_at: OffsetDateTime, scopes: Vec<String>) -> Self {
        Self {
            secret,
            expires_at,
            scopes,
        }
    }

    /// The bearer value: use it, never log it.
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// When it expires.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.expires_at
    }

    /// The scopes granted.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    fn remaining(&self, now: OffsetDateTime) -> Duration {
        let left = self.expires_at - now;
        left.try_into().unwrap_or(Duration::ZERO)
    }
}

/// Where access tokens come from; what the bearer authenticator holds.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// A valid token (from the cache when it has one).
    async fn token(&self) -> Result<AccessToken, AuthError>;

    /// Forgets `token` (the server refused it with a 401); the next call fetches a new one.
    fn invalidate(&self, token: &AccessToken);

    /// When the cached token expires, if there is one.
    fn expires_at(&self) -> Option<OffsetDateTime>;
}

/// The cache.
#[derive(Debug)]
pub(crate) struct TokenCache {
    current: Mutex<Option<AccessToken>>,
    refreshing: tokio::sync::Mutex<()>,
    early: Duration,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self {
            current: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            early: REFRESH_EARLY,
        }
    }
}

impl TokenCache {
    fn fresh(&self) -> Option<AccessToken> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current
            .as_ref()
            .filter(|t| t.remaining(OffsetDateTime::now_utc()) > self.early)
            .cloned()
    }

    /// The cached token, or the one `fetch` gets; only one fetch runs at a time.
    pub(crate) async fn get<F, Fut>(&self, fetch: F) -> Result<AccessToken, AuthError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<AccessToken, AuthError>>,
    {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        match fetch().await {
            Ok(token) => {
                *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
                Ok(token)
            }
            Err(error) => {
                // An early refresh failed: the old token still works until it expires.
                let current = self
                    .current
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                match current
                    .filter(|t| t.remaining(OffsetDateTime::now_utc()) > Duration::from_secs(5))
                {
                    Some(token) => {
                        tracing::warn!(error = %error, "token refresh failed; the current token is still valid");
                        Ok(token)
                    }
                    None => Err(error),
                }
            }
        }
    }

    pub(crate) fn invalidate(&self, token: &AccessToken) {
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if current
            .as_ref()
            .is_some_and(|t| t.secret.expose_secret() == token.secret.expose_secret())
        {
            *current = None;
        }
    }

    pub(crate) fn expires_at(&self) -> Option<OffsetDateTime> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(AccessToken::expires_at)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn token(minutes: i64) -> AccessToken {
        AccessToken::new(
            SecretString::from(format!("t{minutes}")),
            OffsetDateTime::now_utc() + time::Duration::minutes(minutes),
            vec![],
        )
    }

    #[tokio::test]
    async fn one_fetch_for_many_waiters() {
        let cache = Arc::new(TokenCache::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tokio::spawn(async move {
                    cache
                        .get(|| async {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(token(60))
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refreshes_early_and_keeps_a_valid_token_when_refresh_fails() {
        let cache = TokenCache::default();
        cache.get(|| async { Ok(token(3)) }).await.unwrap();
        // 3 minutes left is inside the 5-minute window: a refresh is attempted...
        let kept = cache
            .get(|| async { Err(AuthError::Network("down".into())) })
            .await
            .expect("the still-valid token");
        assert_eq!(kept.secret().expose_secret(), "t3");
        // ...and succeeds when it can.
        let new = cache.get(|| async { Ok(token(60)) }).await.unwrap();
        assert_eq!(new.secret().expose_secret(), "t60");
    }

    #[tokio::test]
    async fn invalidate_drops_only_that_token() {
        let cache = TokenCache::default();
        let first = cache.get(|| async { Ok(token(60)) }).await.unwrap();
        cache.invalidate(&token(61));
        assert_eq!(cache.expires_at(), Some(first.expires_at()));
        cache.invalidate(&first);
        assert_eq!(cache.expires_at(), None);
        let err = cache
            .get(|| async { Err(AuthError::Network("down".into())) })
            .await;
        assert!(err.is_err(), "nothing valid to fall back on");
    }
}
