//! Modern authentication against the Microsoft identity platform (v2 endpoints), configured
//! as the seed's page does: authentication authority, client application id, server name.
//!
//! - [`Grant::Password`]: the "Credential" type for Microsoft 365 (resource-owner password),
//!   delegated scope `https://<server>/EWS.AccessAsUser.All`, or the one of
//!   [`ModernAuth::with_delegated_scope`];
//! - [`Grant::ClientSecret`] and [`Grant::ClientCertificate`]: app-only client credentials,
//!   scope `https://<server>/.default` (the token carries `full_access_as_app`);
//! - [`PassiveAuth`](crate::PassiveAuth): an administrator signs in once (authorization code with
//!   PKCE); the refresh token is kept and used, so notifications do not stop.
//!
//! For hybrid modern authentication, the server is the on-premises EWS host.

mod assertion;
mod client;
pub(crate) mod passive;

use std::fmt;

use async_trait::async_trait;
use oauth2::{ResourceOwnerPassword, ResourceOwnerUsername, Scope};
use secrecy::{ExposeSecret, SecretString};
use tracing::Instrument as _;
use url::Url;

pub use assertion::AssertionAlgorithm;
pub(crate) use client::{OAuthHttp, accept, refusal, token_client};

use crate::certificate::ClientCertificate;
use crate::error::AuthError;
use crate::http::TransportSettings;
use crate::token::{AccessToken, TokenCache, TokenSource};

/// Where and as whom to ask for tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModernAuth {
    /// "Authentication authority": `https://login.microsoftonline.com/<tenant>` (or `common`,
    /// `organizations`).
    pub authority: Url,
    /// "Client application ID".
    pub client_id: String,
    /// "Server name": the resource EWS tokens are for (`https://outlook.office365.com`, or the
    /// on-premises host with hybrid modern authentication).
    pub server: String,
    /// The delegated scope, when not `<resource>/EWS.AccessAsUser.All`.
    delegated_scope: Option<String>,
}

impl ModernAuth {
    /// A configuration; the server defaults to `https://outlook.office365.com` when empty.
    pub fn new(authority: Url, client_id: impl Into<String>, server: impl Into<String>) -> Self {
        let server = server.into();
        Self {
            authority,
            client_id: client_id.into(),
            server: if server.trim().is_empty() {
                "https://outlook.office365.com".to_owned()
            } else {
                server
            },
            delegated_scope: None,
        }
    }

    /// Asks delegated grants (the password grant, [`PassiveAuth`](crate::PassiveAuth)) for
    /// `scope` instead of `<resource>/EWS.AccessAsUser.All`: `https://graph.microsoft.com/.default`
    /// for Graph, which has no EWS permission (the token then carries the delegated permissions
    /// the app was consented for on Graph).
    #[must_use]
    pub fn with_delegated_scope(mut self, scope: impl Into<String>) -> Self {
        self.delegated_scope = Some(scope.into());
        self
    }

    fn endpoint(&self, leaf: &str) -> Result<Url, AuthError> {
        let base = self.authority.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}/oauth2/v2.0/{leaf}"))
            .map_err(|e| AuthError::config("authority", e.to_string()))
    }

    /// The v2 token endpoint.
    pub fn token_endpoint(&self) -> Result<Url, AuthError> {
        self.endpoint("token")
    }

    /// The v2 authorize endpoint.
    pub fn authorize_endpoint(&self) -> Result<Url, AuthError> {
        self.endpoint("authorize")
    }

    /// The resource: the server name as an `https://` origin, without a trailing slash.
    pub fn resource(&self) -> String {
        let server = self.server.trim().trim_end_matches('/');
        if server.starts_with("https://") || server.starts_with("http://") {
            server.to_owned()
        } else {
            format!("https://{server}")
        }
    }

    /// The app-only scope: `<resource>/.default`.
    pub fn app_scope(&self) -> String {
        format!("{}/.default", self.resource())
    }

    /// The delegated scope: the one [`with_delegated_scope`](Self::with_delegated_scope) set,
    /// else EWS's, `<resource>/EWS.AccessAsUser.All`.
    pub fn delegated_scope(&self) -> String {
        match &self.delegated_scope {
            Some(scope) => scope.clone(),
            None => format!("{}/EWS.AccessAsUser.All", self.resource()),
        }
    }
}

/// How the service account proves itself to the identity platform.
#[derive(Clone)]
#[non_exhaustive]
pub enum Grant {
    /// The service account's user name and password (resource-owner password grant).
    Password {
        /// User principal name.
        user: String,
        /// Password.
        password: SecretString,
    },
    /// The app's client secret (client credentials).
    ClientSecret(SecretString),
    /// The app's certificate (client credentials with a signed assertion).
    ClientCertificate {
        /// Certificate and RSA key.
        certificate: ClientCertificate,
        /// PS256 + `x5t#S256` (default) or RS256 + `x5t`.
        algorithm: AssertionAlgorithm,
    },
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password { user, .. } => f
                .debug_struct("Password")
                .field("user", user)
                .field("password", &"[redacted]")
                .finish(),
            Self::ClientSecret(_) => f.write_str("ClientSecret([redacted])"),
            Self::ClientCertificate {
                certificate,
                algorithm,
            } => f
                .debug_struct("ClientCertificate")
                .field("certificate", certificate)
                .field("algorithm", algorithm)
                .finish(),
        }
    }
}

/// Tokens from a password or client-credentials grant, cached.
#[derive(Debug)]
pub struct OAuthTokens {
    config: ModernAuth,
    grant: Grant,
    http: OAuthHttp,
    cache: TokenCache,
}

impl OAuthTokens {
    /// A token source for `grant`, sending on a client built from `transport`.
    pub fn new(
        config: ModernAuth,
        grant: Grant,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        if config.client_id.trim().is_empty() {
            return Err(AuthError::config(
                "client_id",
                "the client application ID is empty",
            ));
        }
        config.token_endpoint()?;
        let http = OAuthHttp(crate::http::client(transport, None)?);
        Ok(Self {
            config,
            grant,
            http,
            cache: TokenCache::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ModernAuth {
        &self.config
    }

    /// The grant's kind, for status reports.
    pub(crate) fn method(&self) -> crate::AuthMethod {
        match self.grant {
            Grant::Password { .. } => crate::AuthMethod::ModernPassword,
            Grant::ClientSecret(_) => crate::AuthMethod::ModernClientSecret,
            Grant::ClientCertificate { .. } => crate::AuthMethod::ModernClientCertificate,
        }
    }

    async fn fetch(&self) -> Result<AccessToken, AuthError> {
        let span = tracing::debug_span!("oauth.token", client_id = %self.config.client_id, grant = ?self.method());
        self.request_token().instrument(span).await
    }

    async fn request_token(&self) -> Result<AccessToken, AuthError> {
        let endpoint = self.config.token_endpoint()?;
        match &self.grant {
            Grant::Password { user, password } => {
                let scopes = vec![self.config.delegated_scope()];
                let client = token_client(&endpoint, &self.config.client_id, None)?;
                let username = ResourceOwnerUsername::new(user.clone());
                let password = ResourceOwnerPassword::new(password.expose_secret().to_owned());
                let response = client
                    .exchange_password(&username, &password)
                    .add_scope(Scope::new(scopes[0].clone()))
                    .request_async(&self.http)
                    .await
                    .map_err(refusal)?;
                Ok(accept(&response, &scopes).0)
            }
            Grant::ClientSecret(secret) => {
                let scopes = vec![self.config.app_scope()];
                let client = token_client(&endpoint, &self.config.client_id, Some(secret))?;
                let response = client
                    .exchange_client_credentials()
                    .add_scope(Scope::new(scopes[0].clone()))
                    .request_async(&self.http)
                    .await
                    .map_err(refusal)?;
                Ok(accept(&response, &scopes).0)
            }
            Grant::ClientCertificate {
                certificate,
                algorithm,
            } => {
                let scopes = vec![self.config.app_scope()];
                let assertion = assertion::sign(
                    certificate,
                    *algorithm,
                    &self.config.client_id,
                    endpoint.as_str(),
                )?;
                let client = token_client(&endpoint, &self.config.client_id, None)?;
                let response = client
                    .exchange_client_credentials()
                    .add_scope(Scope::new(scopes[0].clone()))
                    .add_extra_param(
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    )
                    .add_extra_param("client_assertion", assertion)
                    .request_async(&self.http)
                    .await
                    .map_err(refusal)?;
                Ok(accept(&response, &scopes).0)
            }
        }
    }
}

#[async_trait]
impl TokenSource for OAuthTokens {
    async fn token(&self) -> Result<AccessToken, AuthError> {
        self.cache.get(|| self.fetch()).await
    }

    fn invalidate(&self, token: &AccessToken) {
        self.cache.invalidate(token);
    }

    fn expires_at(&self) -> Option<time::OffsetDateTime> {
        self.cache.expires_at()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delegated_scope_is_ews_unless_set() {
        let authority = Url::parse("https://login.microsoftonline.com/contoso.com").unwrap();
        let ews = ModernAuth::new(authority.clone(), "app", "");
        assert_eq!(
            ews.delegated_scope(),
            "https://outlook.office365.com/EWS.AccessAsUser.All"
        );
        let graph = ModernAuth::new(authority, "app", "https://graph.microsoft.com")
            .with_delegated_scope("https://graph.microsoft.com/.default");
        assert_eq!(
            graph.delegated_scope(),
            "https://graph.microsoft.com/.default"
        );
        assert_eq!(graph.app_scope(), "https://graph.microsoft.com/.default");
        assert_ne!(graph, ews.clone().with_delegated_scope("other"));
    }
}
