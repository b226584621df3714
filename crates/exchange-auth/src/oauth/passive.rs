//! Passive authentication: an administrator signs in at the identity provider once
//! (authorization code with PKCE and `state`); the refresh token is kept through a
//! [`RefreshTokenStore`] and used to refresh automatically. BEMS Cloud does not refresh and lets
//! notifications stop after about 90 days; this does, and rotates the refresh token each time.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, Scope,
};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use url::Url;

use super::{ModernAuth, OAuthHttp, accept, refusal, token_client};
use crate::error::AuthError;
use crate::http::TransportSettings;
use crate::token::{AccessToken, TokenCache, TokenSource};

/// How long a pending sign-in (its `state` and PKCE verifier) is remembered.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(600);

/// Keeps the refresh token between restarts. The service stores it encrypted.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + fmt::Debug {
    /// The stored refresh token, if any.
    async fn load(&self) -> Result<Option<SecretString>, AuthError>;
    /// Replaces the stored refresh token (written before the old one is forgotten).
    async fn save(&self, token: &SecretString) -> Result<(), AuthError>;
}

/// A store in memory (tests, examples).
#[derive(Debug, Default)]
pub struct MemoryStore {
    token: Mutex<Option<SecretString>>,
}

#[async_trait]
impl RefreshTokenStore for MemoryStore {
    async fn load(&self) -> Result<Option<SecretString>, AuthError> {
        Ok(self.token.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn save(&self, token: &SecretString) -> Result<(), AuthError> {
        *self.token.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(())
    }
}

/// Where to send the administrator, and the `state` that comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignIn {
    /// The identity provider's sign-in URL.
    pub url: Url,
    /// The `state` the redirect carries back.
    pub state: String,
}

/// Passive authentication.
pub struct PassiveAuth {
    config: ModernAuth,
    redirect_uri: Url,
    client_secret: Option<SecretString>,
    store: Arc<dyn RefreshTokenStore>,
    http: OAuthHttp,
    cache: TokenCache,
    pending: Mutex<HashMap<String, (PkceCodeVerifier, std::time::Instant)>>,
    signed_in_at: Mutex<Option<OffsetDateTime>>,
}

impl fmt::Debug for PassiveAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassiveAuth")
            .field("config", &self.config)
            .field("redirect_uri", &self.redirect_uri.as_str())
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .finish_non_exhaustive()
    }
}

impl PassiveAuth {
    /// Passive authentication for `config`, redirecting to `redirect_uri`; `client_secret` for
    /// a confidential client (its refresh tokens survive the administrator's password changes).
    pub fn new(
        config: ModernAuth,
        redirect_uri: Url,
        client_secret: Option<SecretString>,
        store: Arc<dyn RefreshTokenStore>,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        config.authorize_endpoint()?;
        Ok(Self {
            config,
            redirect_uri,
            client_secret,
            store,
            http: OAuthHttp(crate::http::client(transport, None)?),
            cache: TokenCache::default(),
            pending: Mutex::new(HashMap::new()),
            signed_in_at: Mutex::new(None),
        })
    }

    /// Asks for `scope` instead of `<resource>/EWS.AccessAsUser.All`, at sign-in and at each
    /// refresh. The identity platform's refresh tokens are multi-resource: a second
    /// `PassiveAuth` over the same [`RefreshTokenStore`], with `https://graph.microsoft.com/.default`,
    /// redeems the refresh token of the administrator's sign-in for Graph tokens (with the
    /// delegated permissions the app was consented for there). The same as giving `config`
    /// [`ModernAuth::with_delegated_scope`].
    #[must_use]
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.config = self.config.with_delegated_scope(scope);
        self
    }

    fn scopes(&self) -> Vec<String> {
        vec![self.config.delegated_scope(), "offline_access".to_owned()]
    }

    /// The sign-in URL for the administrator (a fresh `state` and PKCE challenge each time).
    pub fn sign_in_url(&self) -> Result<SignIn, AuthError> {
        let authorize = AuthUrl::new(self.config.authorize_endpoint()?.to_string())
            .map_err(|e| AuthError::config("authority", e.to_string()))?;
        let redirect = RedirectUrl::new(self.redirect_uri.to_string())
            .map_err(|e| AuthError::config("redirect_uri", e.to_string()))?;
        let client = BasicClient::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(authorize)
            .set_redirect_uri(redirect);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(self.scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(challenge)
            .url();
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.retain(|_, (_, at)| at.elapsed() < SIGN_IN_WINDOW);
        pending.insert(
            state.secret().clone(),
            (verifier, std::time::Instant::now()),
        );
        Ok(SignIn {
            url,
            state: state.secret().clone(),
        })
    }

    /// Completes a sign-in with the `code` and `state` the redirect brought: the tokens are
    /// obtained and the refresh token stored.
    pub async fn complete(&self, code: &str, state: &str) -> Result<AccessToken, AuthError> {
        let verifier = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            match pending.remove(state) {
                Some((verifier, at)) if at.elapsed() < SIGN_IN_WINDOW => verifier,
                _ => {
                    return Err(AuthError::config(
                        "state",
                        "the sign-in's state is unknown or expired; start the sign-in again",
                    ));
                }
            }
        };
        let endpoint = self.config.token_endpoint()?;
        let redirect = RedirectUrl::new(self.redirect_uri.to_string())
            .map_err(|e| AuthError::config("redirect_uri", e.to_string()))?;
        let client = token_client(
            &endpoint,
            &self.config.client_id,
            self.client_secret.as_ref(),
        )?
        .set_redirect_uri(redirect);
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(refusal)?;
        let (token, refresh) = accept(&response, &self.scopes());
        let refresh = refresh.ok_or_else(|| {
            AuthError::Protocol(
                "no refresh token in the answer (is offline_access granted?)".into(),
            )
        })?;
        self.store.save(&refresh).await?;
        *self.signed_in_at.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(OffsetDateTime::now_utc());
        self.cache.get(|| async { Ok(token.clone()) }).await
    }

    /// When the administrator last signed in (this process), if known.
    pub fn signed_in_at(&self) -> Option<OffsetDateTime> {
        *self.signed_in_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn refresh(&self) -> Result<AccessToken, AuthError> {
        let Some(refresh) = self.store.load().await? else {
            return Err(AuthError::SignInRequired {
                description: "no refresh token: an administrator must sign in".into(),
            });
        };
        let endpoint = self.config.token_endpoint()?;
        let client = token_client(
            &endpoint,
            &self.config.client_id,
            self.client_secret.as_ref(),
        )?;
        let scopes = self.scopes();
        let response = client
            .exchange_refresh_token(&RefreshToken::new(refresh.expose_secret().to_owned()))
            .add_scopes(scopes.iter().cloned().map(Scope::new))
            .request_async(&self.http)
            .await
            .map_err(refusal)?;
        let (token, rotated) = accept(&response, &scopes);
        if let Some(rotated) = rotated {
            // The new refresh token is written before the old one is forgotten.
            self.store.save(&rotated).await?;
        }
        Ok(token)
    }
}

#[async_trait]
impl TokenSource for PassiveAuth {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        self.cache.get(|| self.refresh()).await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.cache.invalidate(token);
    }

    fn expires_at(&self) -> Option<OffsetDateTime> {
        self.cache.expires_at()
    }
}
