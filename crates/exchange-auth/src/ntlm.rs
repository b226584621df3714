//! NTLM authentication for on-premises Exchange: NTLMv2 over connections we open and keep,
//! with TLS channel binding for Extended Protection.
//!
//! NTLM authenticates a **TCP connection**, not a request: the three messages
//! ([MS-NLMP](https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/b38c36ed-2804-4868-a9ff-8dd3182128e4))
//! travel on one connection, and IIS then treats every later request on it as the
//! authenticated account. So [`NtlmAuth`] owns its connections (HTTP/1.1 over rustls, built
//! with hyper's connection API, not a shared client pool that could hand an authenticated
//! connection to someone else):
//!
//! 1. the request goes out with `Authorization: NTLM <NEGOTIATE>` on a new connection;
//! 2. the server answers `401` with `WWW-Authenticate: NTLM <CHALLENGE>`;
//! 3. the same request goes out on the same connection with `Authorization: NTLM
//!    <AUTHENTICATE>`, and its answer is the caller's.
//!
//! **Every request on a connection waits until the connection is ready for it** (hyper's
//! `SendRequest::ready`), the AUTHENTICATE message included: after the challenge's body has
//! been read, hyper takes the connection back on its own task, and a request offered before
//! that is handed back unsent although the server kept the connection open.
//!
//! A server that offers only `Negotiate` (IIS with the NTLM provider removed) gets the same
//! messages under `Negotiate`, raw (not wrapped in SPNEGO), as Windows clients send them
//! when Kerberos is not available; `NTLM` is preferred when both are offered (see
//! `scheme.rs`).
//!
//! The connection is then kept (keep-alive) and later requests to the same host reuse it
//! without a handshake. A connection is lent to one request at a time, until its answer has
//! been read to the end: a request made while every connection is busy (a hanging
//! `GetStreamingEvents`) opens and authenticates another. If a reused connection is refused
//! (`401`), a new one is authenticated once.
//!
//! ## Errors
//!
//! | what happened | error | retryable |
//! |---|---|---|
//! | the server answered the AUTHENTICATE message with `401` (wrong password, unknown or disabled account, refused channel binding) | [`AuthError::Refused`], naming the account | no |
//! | the server offers neither `NTLM` nor `Negotiate` | [`AuthError::Config`] (`authentication_type`) | no |
//! | the connection closed or failed between the challenge and the AUTHENTICATE message | [`AuthError::Network`], saying so | yes |
//! | a challenge that cannot be read | [`AuthError::Protocol`] | no |
//!
//! ## Implemented
//! - NEGOTIATE with `UNICODE`, `REQUEST_TARGET`, `NTLM`, `ALWAYS_SIGN`,
//!   `EXTENDED_SESSIONSECURITY`, `TARGET_INFO`, `VERSION`, `128`; no key exchange.
//! - CHALLENGE parsed strictly: signature, type, every offset and length bounds-checked;
//!   servers without Unicode or target information (NTLMv1-only) are refused.
//! - AUTHENTICATE with the NTLMv2 response (`NTOWFv2`, `NTProofStr` over the server
//!   challenge and a blob holding the server's target information), the server's
//!   `MsvAvTimestamp` when it sent one (then LMv2 is zeroed, else LMv2 is sent), a random
//!   client challenge, `MsvAvTargetName` (`HTTP/<host>`), `MsvAvFlags` with the MIC bit, and
//!   the MIC (`HMAC_MD5(ExportedSessionKey, NEGOTIATE ‖ CHALLENGE ‖ AUTHENTICATE)`).
//! - User names: `DOMAIN\user` sends domain `DOMAIN` and user `user`; a UPN sends an empty
//!   domain and the whole UPN as the user, as Windows does.
//! - **Channel binding** (Extended Protection, default from Exchange 2019 CU14):
//!   `MsvAvChannelBindings` is the MD5 of a `gss_channel_bindings_struct` whose application
//!   data is `tls-server-end-point:` and the hash of the certificate the server presented on
//!   this connection (SHA-256, or SHA-384/512 when its signature uses them; RFC 5929). It
//!   can be turned off with [`NtlmAuth::channel_binding`] for a TLS-terminating device in
//!   front of Exchange in `Allow` mode; `Require` then refuses us.
//! - `TransportSettings::resolve` overrides, the connect timeout, the configured CAs; TLS
//!   only (credentials are never sent over plain HTTP).
//!
//! ## Not implemented
//! - Kerberos, and SPNEGO-wrapped tokens: under `Negotiate` only raw NTLM is sent and read.
//! - A proxy: NTLM needs a connection of its own to the server, and [`NtlmAuth::new`]
//!   refuses transport settings with a proxy rather than silently going around it.
//! - Signing and sealing (session security), key exchange, NTLMv1 and the OEM character set.
//!
//! Neither the password, the NT hash, the keys nor the messages are logged; the `NTOWFv2`
//! key is kept (not the password) and zeroed when dropped.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_auth::AuthError> {
//! use exchange_auth::*;
//!
//! let password = SecretString::from("...");
//! let auth = NtlmAuth::new("CONTOSO\\svc-bems", password, &TransportSettings::default())?;
//! let url = "https://mail.contoso.com/EWS/Exchange.asmx".parse().unwrap();
//! let response = auth.send(HttpRequest::post(url, b"<soap/>".to_vec())).await?;
//! println!("{}", response.status);
//! # Ok(()) }
//! ```

mod av;
mod binding;
mod conn;
mod crypto;
mod handshake;
mod message;
mod pool;
mod scheme;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::body::Incoming;
use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use crate::error::AuthError;
use crate::http::{HttpRequest, HttpResponse, TransportSettings};
use crate::username::{self, Target};
use crate::{AuthMethod, AuthStatus, Authenticator};
use conn::{Conn, Connector, Origin, SendError};
use handshake::{Context, Credentials};
use message::Challenge;
use pool::{Lease, Pool, ResponseBody};
use scheme::Scheme;

/// How long the first leg of a handshake (the 401 with the challenge) may take when the
/// request itself has no timeout.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a pooled connection may take to be ready before another is tried.
const READY_WAIT: Duration = Duration::from_secs(1);
/// The most a challenge answer's body may hold.
const CHALLENGE_BODY_LIMIT: usize = 64 * 1024;

/// Authenticates with NTLMv2 on connections it owns, keeps and reuses (see the
/// [module documentation](self)).
pub struct NtlmAuth {
    logon: String,
    credentials: Credentials,
    connector: Connector,
    pool: Arc<Pool>,
    schemes: scheme::Remembered,
    channel_binding: bool,
}

impl fmt::Debug for NtlmAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NtlmAuth")
            .field("user", &self.logon)
            .field("credentials", &"[redacted]")
            .field("channel_binding", &self.channel_binding)
            .finish_non_exhaustive()
    }
}

impl NtlmAuth {
    /// NTLM as `user` (`DOMAIN\user` or `user@domain`), checked as an on-premises user name.
    ///
    /// Refuses an empty password and transport settings with a proxy (not supported).
    pub fn new(
        user: impl Into<String>,
        password: SecretString,
        transport: &TransportSettings,
    ) -> Result<Self, AuthError> {
        let logon = user.into().trim().to_owned();
        username::validate(&logon, Target::OnPremises)?;
        if password.expose_secret().is_empty() {
            return Err(AuthError::config(
                "service_account_password",
                "the password is empty",
            ));
        }
        if transport.proxy.is_some() {
            return Err(AuthError::config(
                "proxy",
                "NTLM authentication cannot go through a proxy",
            ));
        }
        Ok(Self {
            credentials: Credentials::new(&logon, &password),
            logon,
            connector: Connector::new(transport)?,
            pool: Pool::new(8),
            schemes: scheme::Remembered::default(),
            channel_binding: true,
        })
    }

    /// Whether to send the TLS channel binding (on by default). Turn it off only when a
    /// TLS-terminating device stands between us and Exchange: the binding would name its
    /// certificate, and Exchange in Extended Protection `Allow` mode refuses a wrong binding
    /// but accepts none (`Require` refuses both).
    pub fn channel_binding(mut self, enabled: bool) -> Self {
        self.channel_binding = enabled;
        self
    }

    /// How many idle authenticated connections to keep per host (8 by default).
    pub fn max_idle_connections(mut self, max: usize) -> Self {
        self.pool = Pool::new(max);
        self
    }

    /// Authenticates a new connection with `request`, whose answer is returned.
    async fn handshake(
        &self,
        mut conn: Conn,
        request: &HttpRequest,
        origin: &Origin,
        body: Bytes,
        deadline: Option<Instant>,
    ) -> Result<HttpResponse, AuthError> {
        let leg_deadline = deadline.unwrap_or_else(|| Instant::now() + HANDSHAKE_TIMEOUT);
        let negotiate = message::negotiate();
        let mut scheme = self.schemes.get(origin);
        let mut switched = false;
        // 1. NEGOTIATE, under the scheme the server takes; its CHALLENGE.
        let (first, token) = loop {
            let header = format!("{} {}", scheme.name(), STANDARD.encode(&negotiate));
            let first = conn::build(request, origin, body.clone(), Some(&header))?;
            let first =
                conn.send(first, Some(leg_deadline))
                    .await
                    .map_err(|error| match error {
                        SendError::NotSent => AuthError::Network(
                            "the server closed the connection before the NTLM handshake".into(),
                        ),
                        SendError::Failed(error) => error,
                    })?;
            if let Some(token) = scheme::challenge_token(first.headers(), scheme) {
                let token = token.to_owned();
                break (first, token);
            }
            if first.status() != http::StatusCode::UNAUTHORIZED {
                // Not a challenge: the server took the request without authentication.
                tracing::debug!(host = %origin.host, status = first.status().as_u16(), "no NTLM challenge");
                return Ok(self.answer(first, None, origin, deadline));
            }
            let offered = scheme::offered(first.headers());
            if offered.contains(&scheme) {
                return Err(AuthError::Protocol(format!(
                    "the server answered the {} NEGOTIATE message with 401 and no challenge",
                    scheme.name()
                )));
            }
            let Some(next) = scheme::fallback(scheme, &offered).filter(|_| !switched) else {
                return Err(AuthError::config(
                    "authentication_type",
                    format!(
                        "the server {} offers neither NTLM nor Negotiate (it offers: {})",
                        origin.host,
                        scheme::offers_text(first.headers())
                    ),
                ));
            };
            tracing::debug!(host = %origin.host, scheme = next.name(), "the server offers NTLM only under another scheme");
            (scheme, switched) = (next, true);
            conn::drain(first.into_body(), CHALLENGE_BODY_LIMIT, leg_deadline).await?;
            // The same connection, unless the server closed it after its 401.
            if !conn.ready(READY_WAIT).await {
                conn = self.connector.connect(origin).await?;
            }
        };
        self.schemes.set(origin, scheme);
        let challenge_bytes = STANDARD.decode(token.as_bytes()).map_err(|_| {
            AuthError::Protocol(format!("the {} challenge is not base64", scheme.name()))
        })?;
        let challenge = Challenge::parse(&challenge_bytes).map_err(|e| match scheme {
            // A SPNEGO token (Kerberos offered) rather than the raw NTLM a server answers
            // raw NTLM with.
            Scheme::Negotiate => AuthError::Protocol(format!(
                "the Negotiate challenge is not a raw NTLM message ({e}; SPNEGO and Kerberos are not supported)"
            )),
            Scheme::Ntlm => AuthError::Protocol(e.to_string()),
        })?;
        conn::drain(first.into_body(), CHALLENGE_BODY_LIMIT, leg_deadline).await?;
        // 2. AUTHENTICATE, on the same connection once it is ready again.
        let spn = format!("HTTP/{}", origin.host);
        let context = Context {
            negotiate: &negotiate,
            challenge_bytes: &challenge_bytes,
            binding: conn.binding.as_deref().filter(|_| self.channel_binding),
            spn: &spn,
            client_challenge: rand::random(),
            now: crypto::filetime_now(),
        };
        let authenticate = self
            .credentials
            .authenticate(&challenge, &context)
            .map_err(|e| AuthError::Protocol(e.to_string()))?;
        let header = format!("{} {}", scheme.name(), STANDARD.encode(&authenticate));
        let second = conn::build(request, origin, body, Some(&header))?;
        let second = conn
            .send(second, deadline)
            .await
            .map_err(|error| after_challenge(error, &origin.host))?;
        if second.status() == http::StatusCode::UNAUTHORIZED {
            tracing::warn!(user = %self.logon, host = %origin.host, "the server refused the NTLM credentials");
            return Err(self.refused());
        }
        tracing::debug!(user = %self.logon, host = %origin.host, scheme = scheme.name(), "NTLM connection authenticated");
        Ok(self.answer(second, Some(conn), origin, deadline))
    }

    /// The server answered our AUTHENTICATE message with `401`.
    fn refused(&self) -> AuthError {
        let binding = if self.channel_binding {
            "a channel binding the server does not accept"
        } else {
            "Extended Protection requiring the TLS channel binding, which is turned off"
        };
        AuthError::Refused {
            account: self.logon.clone(),
            reason: format!(
                "NTLM authentication failed (a wrong password; an unknown, disabled or locked-out account; or {binding})"
            ),
        }
    }

    /// The caller's answer; `conn` goes back to the pool once its body has been read.
    fn answer(
        &self,
        response: http::Response<Incoming>,
        conn: Option<Conn>,
        origin: &Origin,
        deadline: Option<Instant>,
    ) -> HttpResponse {
        let (parts, incoming) = response.into_parts();
        let headers = parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let lease = conn.map(|conn| Lease {
            pool: Arc::downgrade(&self.pool),
            origin: origin.clone(),
            conn,
        });
        HttpResponse::from_stream(
            parts.status.as_u16(),
            headers,
            ResponseBody::new(incoming, lease, deadline),
        )
    }
}

#[async_trait]
impl Authenticator for NtlmAuth {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, AuthError> {
        if request.url.scheme() != "https" {
            return Err(AuthError::config(
                "url",
                "credentials are never sent over plain HTTP",
            ));
        }
        let origin = Origin::of(&request.url)?;
        let deadline = request.timeout.map(|t| Instant::now() + t);
        let body = Bytes::from(request.body.clone());
        while let Some(mut conn) = self.pool.take(&origin) {
            if !conn.ready(READY_WAIT).await {
                continue;
            }
            let http = conn::build(&request, &origin, body.clone(), None)?;
            match conn.send(http, deadline).await {
                Ok(response) if response.status() == http::StatusCode::UNAUTHORIZED => {
                    tracing::debug!(host = %origin.host, "an authenticated connection was refused; authenticating a new one");
                    break;
                }
                Ok(response) => return Ok(self.answer(response, Some(conn), &origin, deadline)),
                // Closed while idle: the request never left; try the next one.
                Err(SendError::NotSent) => {}
                Err(SendError::Failed(error)) => return Err(error),
            }
        }
        let conn = self.connector.connect(&origin).await?;
        self.handshake(conn, &request, &origin, body, deadline)
            .await
    }

    fn status(&self) -> AuthStatus {
        let mut status = AuthStatus::new(AuthMethod::Ntlm, self.logon.clone());
        if !self.channel_binding {
            status.note = Some("TLS channel binding (Extended Protection) is off".into());
        }
        status
    }
}

/// The AUTHENTICATE leg failed: the connection was lost after the challenge (retryable, and
/// never to be taken for refused credentials).
fn after_challenge(error: SendError, host: &str) -> AuthError {
    match error {
        SendError::NotSent => AuthError::Network(format!(
            "{host} closed the connection after the server's NTLM challenge, before the AUTHENTICATE message"
        )),
        SendError::Failed(AuthError::Network(cause)) => AuthError::Network(format!(
            "the connection to {host} failed after the server's NTLM challenge: {cause}"
        )),
        SendError::Failed(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_settings() {
        let transport = TransportSettings::default();
        let error = NtlmAuth::new("svc", SecretString::from("x"), &transport).unwrap_err();
        assert!(
            error.to_string().contains("service_account_username"),
            "{error}"
        );
        let error = NtlmAuth::new("CONTOSO\\svc", SecretString::from(""), &transport).unwrap_err();
        assert!(
            error.to_string().contains("service_account_password"),
            "{error}"
        );
        let proxied = TransportSettings {
            proxy: Some("http://proxy.contoso.com:8080".parse().expect("URL")),
            ..TransportSettings::default()
        };
        let error = NtlmAuth::new("CONTOSO\\svc", SecretString::from("x"), &proxied).unwrap_err();
        assert!(error.to_string().contains("proxy"), "{error}");
    }

    #[test]
    fn debug_and_status_show_no_secret() {
        let auth = NtlmAuth::new(
            "CONTOSO\\svc",
            SecretString::from("Pa55w.rd"),
            &TransportSettings::default(),
        )
        .expect("valid")
        .channel_binding(false);
        let shown = format!("{auth:?}");
        assert!(
            !shown.contains("Pa55w.rd") && shown.contains("redacted"),
            "{shown}"
        );
        let status = auth.status();
        assert_eq!(status.method, AuthMethod::Ntlm);
        assert_eq!(status.principal, "CONTOSO\\svc");
        assert!(status.note.is_some());
    }
}
