//! # exchange-auth
//!
//! Every way the service account can authenticate to Exchange, behind one small object-safe
//! trait that the other crates and `bems-service` hold as `Arc<dyn Authenticator>`:
//!
//! | seed setting | here |
//! |---|---|
//! | Credential, on-premises | [`BasicAuth`] (`DOMAIN\user` or UPN), or [`NtlmAuth`] (NTLMv2 with channel binding; feature `ntlm`, on by default) |
//! | Credential, Microsoft 365 (modern authentication) | [`BearerAuth`] over [`OAuthTokens`] with [`Grant::Password`] |
//! | Client Certificate | [`CertificateAuth`] (TLS), or app-only [`Grant::ClientCertificate`] (PS256 / RS256 assertion) |
//! | app registration with a secret | [`Grant::ClientSecret`] |
//! | Passive authentication | [`BearerAuth`] over [`PassiveAuth`] (code + PKCE, refresh token kept and refreshed) |
//! | "use credentials if modern authentication fails" | [`BearerAuth::with_fallback`] |
//!
//! An [`Authenticator`] *sends* the request: request-level schemes add a header, connection
//! schemes shape the connection (a client certificate) or authenticate it once and keep it
//! ([`NtlmAuth`]), and a bearer authenticator refreshes its token once when the server
//! answers 401. Tokens are cached with their absolute expiry,
//! refreshed five minutes early, one refresh at a time however many callers wait.
//! Secrets are `secrecy` types ([`SecretString`]): zeroed when dropped, redacted in `Debug`,
//! read only through [`ExposeSecret::expose_secret`], and never logged. TLS 1.2 or newer
//! everywhere.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_auth::AuthError> {
//! use std::sync::Arc;
//! use exchange_auth::*;
//!
//! let transport = TransportSettings::default();
//! let config = ModernAuth::new(
//!     "https://login.microsoftonline.com/contoso.onmicrosoft.com".parse().unwrap(),
//!     "11111111-1111-1111-1111-111111111111",
//!     "https://outlook.office365.com",
//! );
//! let tokens = OAuthTokens::new(config, Grant::ClientSecret(SecretString::from("...")), &transport)?;
//! let auth: Arc<dyn Authenticator> = Arc::new(BearerAuth::new(
//!     Arc::new(tokens), AuthMethod::ModernClientSecret, "bems app", &transport)?);
//! let request = HttpRequest::post("https://outlook.office365.com/EWS/Exchange.asmx".parse().unwrap(), b"<soap/>".to_vec());
//! let response = auth.send(request).await?;
//! println!("{} via {:?}", response.status, auth.status().method);
//! # Ok(()) }
//! ```

mod basic;
mod bearer;
mod certificate;
mod client_cert;
mod error;
mod http;
#[cfg(feature = "ntlm")]
pub mod ntlm;
mod oauth;
mod tls;
mod token;
mod username;

use std::fmt;

use async_trait::async_trait;
use time::OffsetDateTime;

pub use basic::BasicAuth;
pub use bearer::BearerAuth;
pub use certificate::ClientCertificate;
pub use client_cert::CertificateAuth;
pub use error::AuthError;
pub use http::{HttpRequest, HttpResponse, Method, TransportSettings};
#[cfg(feature = "ntlm")]
pub use ntlm::NtlmAuth;
pub use oauth::passive::{MemoryStore, PassiveAuth, RefreshTokenStore, SignIn};
pub use oauth::{AssertionAlgorithm, Grant, ModernAuth, OAuthTokens};
pub use secrecy::{ExposeSecret, SecretString};
pub use token::{AccessToken, REFRESH_EARLY, TokenSource};
pub use username::{Target, validate as validate_username};

/// Sends requests as the service account.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Sends `request` with this account's authentication. A bearer authenticator that gets a
    /// 401 refreshes its token and sends once more; the answer is returned whatever its status.
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError>;

    /// What is in use, for whom, and until when (for the administrator's status page).
    fn status(&self) -> AuthStatus;
}

/// Which way an authenticator authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuthMethod {
    /// HTTP Basic.
    Basic,
    /// NTLM (NTLMv2 on connections authenticated once and reused).
    Ntlm,
    /// A TLS client certificate.
    ClientCertificate,
    /// OAuth password grant (Credential with modern authentication).
    ModernPassword,
    /// OAuth client credentials with a secret.
    ModernClientSecret,
    /// OAuth client credentials with a certificate assertion.
    ModernClientCertificate,
    /// Passive authentication (an administrator signed in; refresh token).
    Passive,
    /// Modern authentication failed and the credentials are in use.
    CredentialsFallback,
}

/// An authenticator's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct AuthStatus {
    /// The method in use.
    pub method: AuthMethod,
    /// Who (user, certificate subject, client id).
    pub principal: String,
    /// When the current token or certificate expires, if known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Anything the administrator should know (why the fallback is in use).
    pub note: Option<String>,
}

impl AuthStatus {
    /// A status with no expiry or note.
    pub fn new(method: AuthMethod, principal: String) -> Self {
        Self {
            method,
            principal,
            expires_at: None,
            note: None,
        }
    }
}
