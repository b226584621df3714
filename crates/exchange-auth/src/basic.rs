//! HTTP Basic, for on-premises Exchange.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};

use crate::error::AuthError;
use crate::http::{self, HttpRequest, HttpResponse, TransportSettings};
use crate::username::{self, Target};
use crate::{AuthMethod, AuthStatus, Authenticator};

/// A user name and password sent with every request (over TLS only).
pub struct BasicAuth {
    user: String,
    password: SecretString,
    client: reqwest::Client,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl BasicAuth {
    /// Basic credentials for `target` (the user name format is checked).
    pub fn new(
        user: impl Into<String>,
        password: SecretString,
        target: Target,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        let user = user.into();
        username::validate(&user, target)?;
        if password.expose_secret().is_empty() {
            return Err(AuthError::config(
                "service_account_password",
                "the password is empty",
            ));
        }
        Ok(Self {
            user,
            password,
            client: http::client(transport, None)?,
        })
    }

    fn header(&self) -> String {
        let pair =
            zeroize::Zeroizing::new(format!("{}:{}", self.user, self.password.expose_secret()));
        format!("Basic {}", STANDARD.encode(pair.as_bytes()))
    }
}

#[async_trait]
impl Authenticator for BasicAuth {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        if request.url.scheme() != "https" {
            return Err(AuthError::config(
                "url",
                "credentials are never sent over plain HTTP",
            ));
        }
        http::send(&self.client, &request, Some(&self.header())).await
    }

    fn status(&self) -> AuthStatus {
        AuthStatus::new(AuthMethod::Basic, self.user.clone())
    }
}
