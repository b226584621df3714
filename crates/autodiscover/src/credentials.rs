//! How POX and SOAP requests are authenticated.
//!
//! Discovery asks for an `Authorization` value per URL, after checking that credentials may go
//! there at all; the unauthenticated probes (v2 JSON, the plain-HTTP redirect) never ask.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use url::Url;

use secrecy::{ExposeSecret, SecretString};

/// Gives the `Authorization` header value for a request to `url`.
///
/// `exchange-auth`'s authenticators implement this through a small adapter; [`Basic`] is here
/// for the example and tests.
#[async_trait]
pub trait Credentials: Send + Sync + std::fmt::Debug {
    /// The header value (`Basic ...`, `Bearer ...`), or `None` to send the request without one.
    async fn authorization(&self, url: &Url) -> Result<Option<String>, String>;
}

/// HTTP Basic credentials.
#[derive(Clone, Debug)]
pub struct Basic {
    user: String,
    password: SecretString,
}

impl Basic {
    /// A user (`DOMAIN\user` or `user@domain`) and password.
    pub fn new(user: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            user: user.into(),
            password: SecretString::from(password.into()),
        }
    }
}

#[async_trait]
impl Credentials for Basic {
    async fn authorization(&self, _url: &Url) -> Result<Option<String>, String> {
        let pair = format!("{}:{}", self.user, self.password.expose_secret());
        Ok(Some(format!("Basic {}", STANDARD.encode(pair))))
    }
}
