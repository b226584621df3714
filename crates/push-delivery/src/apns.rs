//! The APNs sender: a2's payload model and reasons over our own HTTP/2 transport, so that the
//! endpoint and the trusted CAs are configurable (a2's client reaches only Apple's two hosts
//! with the public roots).
//!
//! <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>

mod config;
mod http2;
mod jwt;
mod pool;
mod request;
mod response;
mod tls;

use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::HeaderValue;
use rustls_pki_types::ServerName;

pub use config::{ApnsAuth, ApnsConfig, ApnsEndpoint, OnSigned, ProviderTokenCache};
pub(crate) use response::retry_after;

#[cfg(feature = "fuzzing")]
pub use http2::fuzzing;

use crate::{Error, ExposeSecret, Outcome, Platform, Push, PushSender};
use jwt::TokenSigner;
use pool::{Connector, Pool};
use response::Answer;

/// The largest error body read from APNs.
const MAX_ERROR_BODY: usize = 4096;

/// Sends pushes to APNs over a few long-lived HTTP/2 connections.
///
/// Cheap to share: hold it as `Arc<ApnsSender>` or `Arc<dyn PushSender>`. Connections open on
/// the first push and stay open (with PINGs when idle) until the sender is dropped.
pub struct ApnsSender {
    pool: Pool,
    signer: Option<TokenSigner>,
    authority: http::uri::Authority,
    topic: String,
    topic_header: HeaderValue,
    request_timeout: Duration,
}

impl std::fmt::Debug for ApnsSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApnsSender")
            .field("authority", &self.authority)
            .field("topic", &self.topic)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

/// What an [`ApnsSender`]'s connections are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApnsStats {
    /// Connections open now.
    pub connections_open: usize,
    /// Connections opened since the start (reconnects included).
    pub connections_opened: u64,
    /// Streams in flight now, all connections together.
    pub streams_in_flight: usize,
    /// The most streams ever in flight at once, all connections together.
    pub max_streams_in_flight: usize,
    /// The largest `SETTINGS_MAX_CONCURRENT_STREAMS` a server announced.
    pub server_max_streams: usize,
    /// PINGs sent to idle connections.
    pub pings: u64,
}

impl ApnsSender {
    /// Checks the settings and loads the credentials; connects on the first push.
    ///
    /// Building needs no runtime; sending needs a Tokio runtime.
    pub fn new(config: ApnsConfig) -> Result<Self, Error> {
        let (host, port, authority) = pool::parse_origin(config.endpoint.url())?;
        let authority: http::uri::Authority = authority
            .parse()
            .map_err(|e| Error::config("endpoint", format!("bad authority: {e}")))?;
        if config.topic.is_empty() {
            return Err(Error::config("topic", "the app's bundle id is required"));
        }
        let topic_header = HeaderValue::from_str(&config.topic)
            .map_err(|_| Error::config("topic", "not a valid header value"))?;
        if config.connections == 0 || config.connections > 64 {
            return Err(Error::config("connections", "between 1 and 64"));
        }
        if config.max_streams_per_connection == 0 {
            return Err(Error::config("max_streams_per_connection", "at least 1"));
        }
        let (signer, identity) = match &config.auth {
            ApnsAuth::Token {
                team_id,
                key_id,
                p8_pem,
            } => (
                Some(TokenSigner::new(
                    team_id,
                    key_id,
                    p8_pem.expose_secret(),
                    config.token_refresh,
                    config.provider_token.clone(),
                )?),
                None,
            ),
            ApnsAuth::Certificate { p12, password } => (
                None,
                Some(tls::identity_from_p12(p12.expose_secret(), password)?),
            ),
        };
        let tls = tls::client_config(&config.extra_ca_pem, config.trust_system_roots, identity)?;
        let server_name = ServerName::try_from(host.clone())
            .map_err(|e| Error::config("endpoint", format!("bad host name: {e}")))?;
        let connector = Connector {
            host,
            port,
            server_name,
            tls: tokio_rustls::TlsConnector::from(tls),
            connect_timeout: config.connect_timeout,
            ping_interval: config.ping_interval,
            ping_timeout: config.ping_timeout,
            max_streams: config.max_streams_per_connection,
            prove_first: signer.is_some(),
        };
        Ok(Self {
            pool: Pool::new(connector, config.connections),
            signer,
            authority,
            topic: config.topic,
            topic_header,
            request_timeout: config.request_timeout,
        })
    }

    fn timed_out(&self) -> Answer {
        let detail = format!("no answer within {:?}", self.request_timeout);
        Answer::Outcome(Outcome::retry(None, "Timeout", detail))
    }

    /// Counters of the connections and streams.
    pub fn stats(&self) -> ApnsStats {
        let s = &self.pool.stats;
        ApnsStats {
            connections_open: self.pool.live(),
            connections_opened: s.opened.load(Ordering::Relaxed),
            streams_in_flight: s.in_flight.load(Ordering::Relaxed),
            max_streams_in_flight: s.max_in_flight.load(Ordering::Relaxed),
            server_max_streams: s.server_max_streams.load(Ordering::Relaxed),
            pings: s.pings.load(Ordering::Relaxed),
        }
    }

    async fn attempt(&self, push: &Push, body: &Bytes, auth: Option<HeaderValue>) -> Answer {
        let head = match request::head(push, &self.authority, &self.topic, &self.topic_header, auth)
        {
            Ok(head) => head,
            Err(outcome) => return Answer::Outcome(outcome),
        };
        // One deadline for the whole attempt: the wait for a stream, and then the answer (the
        // connection holds to it, with one timer for all its streams).
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let stream = match self.pool.stream(deadline).await {
            Ok(stream) => stream,
            Err(pool::Wait::Failed(detail)) => {
                return Answer::Outcome(Outcome::retry(None, "Connection", detail));
            }
            Err(pool::Wait::TimedOut) => return self.timed_out(),
        };
        let conn = &stream.conn;
        let response = match conn.handle().request(head, body.clone(), deadline).await {
            Ok(Ok(response)) => response,
            Ok(Err(http2::StreamError::TimedOut)) => return self.timed_out(),
            Ok(Err(error)) => {
                return Answer::Outcome(Outcome::retry(None, "Connection", error.to_string()));
            }
            Err(_) => {
                conn.kill();
                let detail = "the connection ended before the answer";
                return Answer::Outcome(Outcome::retry(None, "Connection", detail));
            }
        };
        let after = retry_after(response.headers.get(http::header::RETRY_AFTER));
        if response.status == 200 {
            conn.proven();
            let id = response
                .headers
                .get("apns-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return Answer::Outcome(Outcome::Delivered { id });
        }
        response::classify(response.status, &response.body, after)
    }
}

#[async_trait]
impl PushSender for ApnsSender {
    async fn send(&self, push: &Push) -> Outcome {
        if push.token.platform() != Platform::Apns {
            return Outcome::rejected(None, "WrongPlatform", "not an APNs device token");
        }
        let body = match request::payload(push) {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };
        let (auth, iat) = match &self.signer {
            Some(signer) => {
                let (value, iat) = signer.header();
                (Some(value), Some(iat))
            }
            None => (None, None),
        };
        let outcome = match self.attempt(push, &body, auth).await {
            Answer::Outcome(outcome) => outcome,
            Answer::ExpiredToken(reason) => match (&self.signer, iat) {
                (Some(signer), Some(iat)) => {
                    let (fresh, _) = signer.expired(iat);
                    match self.attempt(push, &body, Some(fresh)).await {
                        Answer::Outcome(outcome) => outcome,
                        Answer::ExpiredToken(reason) => Outcome::Retry {
                            reason,
                            after: None,
                        },
                    }
                }
                _ => Outcome::Rejected { reason },
            },
        };
        // No span per push: at hundreds of thousands a second its cost shows. What was not
        // delivered is told with the push's id.
        if let Some(reason) = outcome.reason() {
            tracing::debug!(push = %push.id(), outcome = outcome.kind(), %reason, "APNs push not delivered");
        }
        outcome
    }

    fn platform(&self) -> Platform {
        Platform::Apns
    }
}
