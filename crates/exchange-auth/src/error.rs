//! The one error of this crate.

use std::time::Duration;

/// Why authentication (or the request it carried) failed.
///
/// Callers branch on the accessors: [`AuthError::allows_fallback`] (modern authentication may
/// fall back to credentials), [`AuthError::needs_sign_in`] (an administrator must sign in
/// again), [`AuthError::credentials_refused`] (the password or secret is wrong: retrying
/// cannot help and may lock the account out), [`AuthError::is_network`] and
/// [`AuthError::is_retryable`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A setting cannot work; names it and says why.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The identity platform refused the credentials (wrong password, secret or assertion).
    #[error("credentials refused: {description}")]
    Credentials {
        /// The OAuth error (`invalid_grant`, `invalid_client`, ...).
        error: String,
        /// The identity platform's description (with its AADSTS code).
        description: String,
    },
    /// The app is not consented, not registered, or asks for a scope it may not have: a
    /// configuration problem the administrator must fix.
    #[error("modern authentication is not configured for this app: {description}")]
    NotConfigured {
        /// The OAuth error.
        error: String,
        /// The identity platform's description.
        description: String,
    },
    /// The refresh token expired or was revoked: an administrator must sign in again.
    #[error("sign-in required: {description}")]
    SignInRequired {
        /// The identity platform's description.
        description: String,
    },
    /// A client certificate could not be used.
    #[error("client certificate: {0}")]
    Certificate(String),
    /// The server refused the credentials (HTTP 401) even after a refresh.
    #[error("the server refused the credentials (HTTP 401)")]
    Unauthorized,
    /// The server refused the account's credentials: it answered NTLM's AUTHENTICATE message
    /// with `401` (a wrong password; an unknown, disabled or locked-out account; a channel
    /// binding it does not accept). Not retryable: an administrator must fix the account.
    #[error("the server refused the credentials of {account}: {reason}")]
    Refused {
        /// The account as configured (`DOMAIN\user` or a UPN); never the password.
        account: String,
        /// Why, as far as the server lets us know.
        reason: String,
    },
    /// The network failed: connection, TLS, timeout, or a 5xx from the identity platform.
    #[error("network error: {0}")]
    Network(String),
    /// The identity platform asked us to wait.
    #[error("identity platform throttled the request; retry after {0:?}")]
    Throttled(Duration),
    /// An answer could not be understood.
    #[error("unexpected answer: {0}")]
    Protocol(String),
}

impl AuthError {
    /// Whether "use credentials if modern authentication fails" may fall back: only for
    /// configuration and consent problems, never for network errors or bad credentials.
    pub fn allows_fallback(&self) -> bool {
        matches!(self, Self::NotConfigured { .. })
    }

    /// Whether an administrator must sign in again (passive authentication).
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::SignInRequired { .. })
    }

    /// Whether the server or the identity platform refused the credentials themselves
    /// (wrong password, secret or assertion; unknown or disabled account): not retryable.
    pub fn credentials_refused(&self) -> bool {
        matches!(
            self,
            Self::Credentials { .. } | Self::Unauthorized | Self::Refused { .. }
        )
    }

    /// Whether the failure is the network's (retry later).
    pub fn is_network(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Throttled(_))
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.is_network()
    }

    pub(crate) fn config(setting: &'static str, reason: impl Into<String>) -> Self {
        Self::Config {
            setting,
            reason: reason.into(),
        }
    }
}
