//! APNs settings: where, who, and how many connections.

use std::sync::Arc;
use std::time::Duration;

use crate::{SecretSlice, SecretString};

/// Which APNs server to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ApnsEndpoint {
    /// `https://api.push.apple.com`.
    #[default]
    Production,
    /// `https://api.sandbox.push.apple.com` (development builds).
    Sandbox,
    /// Any `https://host[:port]` origin: a mock, a relay.
    Url(String),
}

impl ApnsEndpoint {
    /// The origin URL.
    pub fn url(&self) -> &str {
        match self {
            Self::Production => "https://api.push.apple.com",
            Self::Sandbox => "https://api.sandbox.push.apple.com",
            Self::Url(url) => url,
        }
    }
}

/// How the provider proves who it is.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ApnsAuth {
    /// Token-based: an ES256 JWT signed with the team's .p8 key, shared by all requests.
    Token {
        /// The 10-character team id (`iss`).
        team_id: String,
        /// The 10-character key id (`kid`).
        key_id: String,
        /// The .p8 file's content (PKCS#8 PEM).
        p8_pem: SecretString,
    },
    /// Certificate-based: the TLS client certificate and key from a .p12 / .pfx file.
    Certificate {
        /// The .p12 file's bytes.
        p12: SecretSlice<u8>,
        /// Its password (may be empty).
        password: SecretString,
    },
}

impl ApnsAuth {
    /// Token-based authentication.
    pub fn token(
        team_id: impl Into<String>,
        key_id: impl Into<String>,
        p8_pem: impl Into<String>,
    ) -> Self {
        Self::Token {
            team_id: team_id.into(),
            key_id: key_id.into(),
            p8_pem: SecretString::from(p8_pem.into()),
        }
    }

    /// Certificate-based authentication.
    pub fn certificate(p12: Vec<u8>, password: impl Into<String>) -> Self {
        Self::Certificate {
            p12: SecretSlice::from(p12),
            password: SecretString::from(password.into()),
        }
    }
}

/// Told each newly signed provider token (the JWT without `bearer`) and its `iat`.
pub type OnSigned = Arc<dyn Fn(&str, u64) + Send + Sync>;

/// The provider token across restarts: a token signed by an earlier run, and where newly
/// signed tokens are reported so the next run can reuse them.
///
/// Apple answers 429 `TooManyProviderTokenUpdates` to a new token sooner than 20 minutes
/// after the previous one, so a service restarted more often than that must present the token
/// it was using.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct ProviderTokenCache {
    /// The last token (the JWT, without `bearer`) and its `iat`; used when it names this key
    /// and team and is younger than the re-signing period.
    pub last: Option<(SecretString, u64)>,
    /// Called with each newly signed token and its `iat`.
    pub on_signed: Option<OnSigned>,
}

impl std::fmt::Debug for ProviderTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokenCache")
            .field("last_iat", &self.last.as_ref().map(|(_, iat)| iat))
            .field("on_signed", &self.on_signed.is_some())
            .finish()
    }
}

/// Everything an [`ApnsSender`](crate::ApnsSender) needs.
///
/// ```
/// use push_delivery::{ApnsAuth, ApnsConfig, ApnsEndpoint};
/// let mut config = ApnsConfig::new(
///     ApnsAuth::token("TEAM123456", "KEY1234567", "-----BEGIN PRIVATE KEY-----..."),
///     "com.example.mail",
/// );
/// config.endpoint = ApnsEndpoint::Sandbox;
/// config.connections = 4;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApnsConfig {
    /// The server (default production).
    pub endpoint: ApnsEndpoint,
    /// Token or certificate authentication.
    pub auth: ApnsAuth,
    /// The app's bundle id, sent as `apns-topic` (mandatory with token authentication).
    pub topic: String,
    /// Extra CA certificates (PEM) to trust, besides the system's roots: a mock's CA.
    pub extra_ca_pem: Vec<String>,
    /// Whether to trust the operating system's roots too (default true). With `false`, only
    /// `extra_ca_pem` is trusted.
    pub trust_system_roots: bool,
    /// Long-lived HTTP/2 connections kept open (default 2; Apple asks for a few, reused for
    /// hours, never one per push).
    pub connections: usize,
    /// At most this many streams in flight per connection (default 1000). The server's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` lowers it; with token authentication a new connection
    /// carries one stream until a push succeeds on it, as Apple requires.
    pub max_streams_per_connection: usize,
    /// Time for one push, from waiting for a free stream to the response (default 20 s;
    /// connecting has its own `connect_timeout`). A stream still unanswered then is reset
    /// with `CANCEL` and the push is a `Retry`.
    pub request_timeout: Duration,
    /// Time to connect, including TLS and the HTTP/2 handshake (default 10 s).
    pub connect_timeout: Duration,
    /// A connection that carried no push for this long is sent a PING (default 60 s; checked
    /// once per interval, so after one to two intervals of silence).
    pub ping_interval: Duration,
    /// A PING unanswered this long closes the connection (default 10 s).
    pub ping_timeout: Duration,
    /// How often the provider token is re-signed (default 50 min; 20 to 60 min allowed).
    pub token_refresh: Duration,
    /// The token of an earlier run, and where new tokens are reported.
    pub provider_token: ProviderTokenCache,
}

impl ApnsConfig {
    /// Settings with defaults for everything but the credentials and the topic.
    pub fn new(auth: ApnsAuth, topic: impl Into<String>) -> Self {
        Self {
            endpoint: ApnsEndpoint::default(),
            auth,
            topic: topic.into(),
            extra_ca_pem: Vec::new(),
            trust_system_roots: true,
            connections: 2,
            max_streams_per_connection: 1000,
            request_timeout: Duration::from_secs(20),
            connect_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(10),
            token_refresh: Duration::from_secs(50 * 60),
            provider_token: ProviderTokenCache::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_keys_passwords_or_tokens() {
        let mut config = ApnsConfig::new(
            ApnsAuth::token("TEAM123456", "KEY1234567", "-----BEGIN PRIVATE KEY-----"),
            "com.example.mail",
        );
        config.provider_token.last = Some((SecretString::from("eyJ.provider.token"), 1));
        let certificate = ApnsAuth::certificate(b"p12-key-bytes".to_vec(), "p12-Pa55");
        let rendered = format!("{config:?} {config:#?} {certificate:?} {certificate:#?}");
        let p12_bytes = format!("{:?}", b"p12-key-bytes");
        let p12_bytes = p12_bytes.trim_matches(['[', ']']);
        for secret in [
            "BEGIN PRIVATE KEY",
            "eyJ.provider.token",
            p12_bytes,
            "p12-Pa55",
        ] {
            assert!(!rendered.contains(secret), "{rendered}");
        }
        assert!(rendered.contains("TEAM123456"), "{rendered}");
    }
}
