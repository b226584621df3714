//! Bearer tokens on every request, refreshed once after a 401, with the optional fallback to
//! credentials ("use credentials if modern authentication fails").

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use secrecy::ExposeSecret;

use crate::error::AuthError;
use crate::http::{self, HttpRequest, HttpResponse, TransportSettings};
use crate::token::TokenSource;
use crate::{AuthMethod, AuthStatus, Authenticator};

/// Sends requests with an access token from a [`TokenSource`].
#[derive(Debug)]
pub struct BearerAuth {
    tokens: Arc<dyn TokenSource>,
    method: AuthMethod,
    principal: String,
    client: reqwest::Client,
    fallback: Option<Arc<dyn Authenticator>>,
    /// Why the fallback is in use, once it is.
    falling_back: Mutex<Option<String>>,
}

impl BearerAuth {
    /// Tokens from `tokens`; `method` and `principal` describe them in status reports.
    pub fn new(
        tokens: Arc<dyn TokenSource>,
        method: AuthMethod,
        principal: impl Into<String>,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        Ok(Self {
            tokens,
            method,
            principal: principal.into(),
            client: http::client(transport, None)?,
            fallback: None,
            falling_back: Mutex::new(None),
        })
    }

    /// Falls back to `credentials` when modern authentication is not configured or not
    /// consented; never on network errors or refused credentials.
    pub fn with_fallback(mut self, credentials: Arc<dyn Authenticator>) -> Self {
        self.fallback = Some(credentials);
        self
    }

    fn fall_back(&self, error: &AuthError) -> Option<&Arc<dyn Authenticator>> {
        let fallback = self.fallback.as_ref().filter(|_| error.allows_fallback())?;
        let mut reason = self.falling_back.lock().unwrap_or_else(|p| p.into_inner());
        if reason.is_none() {
            tracing::warn!(error = %error, "modern authentication failed; using the service account credentials");
            *reason = Some(error.to_string());
        }
        Some(fallback)
    }
}

#[async_trait]
impl Authenticator for BearerAuth {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        let token = match self.tokens.token().await {
            Ok(token) => token,
            Err(error) => match self.fall_back(&error) {
                Some(fallback) => return fallback.send(request).await,
                None => return Err(error),
            },
        };
        *self.falling_back.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let response = http::send(
            &self.client,
            &request,
            Some(&format!("Bearer {}", token.secret().expose_secret())),
        )
        .await?;
        if response.status != 401 {
            return Ok(response);
        }
        // The token was refused: drop it, get a new one, try once more.
        tracing::debug!("EWS answered 401; refreshing the access token once");
        self.tokens.invalidate(&token);
        let token = self.tokens.token().await?;
        http::send(
            &self.client,
            &request,
            Some(&format!("Bearer {}", token.secret().expose_secret())),
        )
        .await
    }

    fn status(&self) -> AuthStatus {
        let reason = self
            .falling_back
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        match (reason, &self.fallback) {
            (Some(reason), Some(fallback)) => {
                let mut status = fallback.status();
                status.method = AuthMethod::CredentialsFallback;
                status.note = Some(format!("modern authentication failed: {reason}"));
                status
            }
            _ => {
                let mut status = AuthStatus::new(self.method, self.principal.clone());
                status.expires_at = self.tokens.expires_at();
                status
            }
        }
    }
}
