//! The mock APNs: `POST /3/device/<token>` over HTTP/2 and TLS, checked as Apple checks it.
//!
//! <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>,
//! <https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns>

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, StatusCode};
use tokio_util::sync::CancellationToken;

use super::apns_auth::{TokenCheck, peek_iat};
use super::reply::{Reply, Scripts};
use super::serve::{self, Conn, Counters, MockStats, Response};
use crate::SimError;
use crate::tls::{CertifiedKey, Pki};

/// The largest payload APNs takes (VoIP 5120 is not modelled).
const MAX_PAYLOAD: usize = 4096;

/// How the mock APNs behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MockApnsConfig {
    /// The team id a provider token's `iss` must carry.
    pub team_id: String,
    /// The key id a provider token's `kid` must carry.
    pub key_id: String,
    /// The public key (PEM) provider tokens are verified with; `None` accepts only client
    /// certificates.
    pub public_key_pem: Option<String>,
    /// The bundle id `apns-topic` must name.
    pub topic: String,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (default 1000).
    pub max_concurrent_streams: u32,
    /// A token older than this is refused with 403 `ExpiredProviderToken` (default 1 h).
    pub token_max_age: Duration,
    /// A new token sooner than this after the previous one, while that one is still valid, is
    /// refused with 429 `TooManyProviderTokenUpdates` (default 20 min).
    pub min_token_refresh: Duration,
    /// Requests kept for [`MockApns::received`] (default 100,000; later ones are only counted).
    pub record_limit: usize,
    /// The listen address (default `127.0.0.1:0`).
    pub address: SocketAddr,
}

impl MockApnsConfig {
    /// A mock for token-based authentication with Apple's limits.
    pub fn new(
        team_id: impl Into<String>,
        key_id: impl Into<String>,
        public_key_pem: impl Into<String>,
        topic: impl Into<String>,
    ) -> Self {
        Self {
            public_key_pem: Some(public_key_pem.into()),
            ..Self::certificate_only(topic).with_ids(team_id.into(), key_id.into())
        }
    }

    /// A mock that accepts only client certificates signed by its CA.
    pub fn certificate_only(topic: impl Into<String>) -> Self {
        Self {
            team_id: String::new(),
            key_id: String::new(),
            public_key_pem: None,
            topic: topic.into(),
            max_concurrent_streams: 1000,
            token_max_age: Duration::from_secs(3600),
            min_token_refresh: Duration::from_secs(20 * 60),
            record_limit: 100_000,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }

    fn with_ids(mut self, team_id: String, key_id: String) -> Self {
        self.team_id = team_id;
        self.key_id = key_id;
        self
    }
}

/// One request the mock received, and what it answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApnsRequest {
    /// The device token from the path.
    pub token: String,
    /// Every header, by lower-case name (`authorization` included: test keys only).
    pub headers: Vec<(String, String)>,
    /// The payload as JSON (`Null` if it was not JSON).
    pub payload: serde_json::Value,
    /// The payload's size in bytes.
    pub payload_len: usize,
    /// The `iat` of the provider token, if one was sent.
    pub jwt_iat: Option<i64>,
    /// The status answered.
    pub status: u16,
    /// The reason answered, if not 200.
    pub reason: Option<String>,
    /// The connection it came on (numbered from 1).
    pub connection: u64,
    /// When it arrived.
    pub at: Instant,
}

impl ApnsRequest {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct State {
    config: MockApnsConfig,
    tokens: TokenCheck,
    scripts: Scripts,
    /// Shared, so a reader copies pointers, not requests, while it holds the lock the
    /// server's handlers take.
    received: Mutex<Vec<Arc<ApnsRequest>>>,
    counters: Arc<Counters>,
}

/// A running mock APNs. Stops when dropped.
#[derive(Debug)]
pub struct MockApns {
    addr: SocketAddr,
    pki: Pki,
    state: Arc<State>,
    shutdown: CancellationToken,
}

impl Drop for MockApns {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MockApns {
    /// Makes a CA and a certificate for `localhost` / 127.0.0.1, and starts listening.
    pub async fn start(config: MockApnsConfig) -> Result<Self, SimError> {
        let tokens = TokenCheck::new(
            config.public_key_pem.as_deref(),
            &config.team_id,
            &config.key_id,
            config.token_max_age,
            config.min_token_refresh,
        )
        .map_err(|e| SimError::Scenario(format!("public_key_pem: {e}")))?;
        let pki = Pki::new(&[])?;
        let tls = pki.server_config(&[b"h2"])?;
        let counters = Arc::new(Counters::default());
        let state = Arc::new(State {
            tokens,
            scripts: Scripts::default(),
            received: Mutex::new(Vec::new()),
            counters: Arc::clone(&counters),
            config: config.clone(),
        });
        let shutdown = CancellationToken::new();
        let handler_state = Arc::clone(&state);
        let handler: serve::Handler = Arc::new(move |request, conn| {
            let state = Arc::clone(&handler_state);
            Box::pin(async move { handle(&state, request, &conn).await })
        });
        let addr = serve::start(
            config.address,
            tls,
            true,
            config.max_concurrent_streams,
            counters,
            handler,
            shutdown.clone(),
        )
        .await?;
        tracing::info!(%addr, "mock APNs listening");
        Ok(Self {
            addr,
            pki,
            state,
            shutdown,
        })
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin to configure in a client: `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        self.pki.ca_pem()
    }

    /// A client certificate signed by the mock's CA, for certificate-based authentication.
    pub fn client_certificate(&self, common_name: &str) -> Result<CertifiedKey, SimError> {
        self.pki.client_certificate(common_name)
    }

    /// Answers the next requests for `token` with `replies`, in order, then normally.
    pub fn script(&self, token: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state.scripts.script(token, replies);
    }

    /// Answers every request for `token` with `reply` (after its scripted replies).
    pub fn script_always(&self, token: &str, reply: Reply) {
        self.state.scripts.always(token, reply);
    }

    /// Answers the next requests for any token with `replies`, in order.
    pub fn script_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.scripts.next(replies);
    }

    /// While down, every request is answered 503 `ServiceUnavailable`.
    pub fn set_down(&self, down: bool) {
        self.state.scripts.set_down(down);
    }

    /// The requests received so far, in order of arrival.
    pub fn received(&self) -> Vec<ApnsRequest> {
        let received = self
            .state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        received.iter().map(|r| ApnsRequest::clone(r)).collect()
    }

    /// The requests received after the first `from`, in order of arrival (a load generator
    /// reading as it goes takes each once, without holding up the server).
    pub fn received_since(&self, from: usize) -> Vec<Arc<ApnsRequest>> {
        let received = self
            .state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        received.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// How many requests were received so far.
    pub fn received_len(&self) -> usize {
        self.state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Counters.
    pub fn stats(&self) -> MockStats {
        self.state.counters.snapshot()
    }

    /// Closes every open connection abruptly, as a network failure would; keeps listening.
    pub fn drop_connections(&self) {
        self.state.counters.drop_connections();
    }

    /// Stops listening and closes every connection.
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }
}

fn answer(reply: &Reply, apns_id: &str) -> Response {
    let mut response = match &reply.reason {
        Some(reason) => {
            let mut body = serde_json::json!({ "reason": reason });
            if let Some(timestamp) = reply.timestamp {
                body["timestamp"] = timestamp.into();
            }
            serve::json(reply.status, &body)
        }
        None => {
            let mut response = http::Response::new(http_body_util::Full::new(bytes::Bytes::new()));
            *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
            response
        }
    };
    if let Ok(value) = http::HeaderValue::from_str(apns_id) {
        response.headers_mut().insert("apns-id", value);
    }
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The first check a request fails, as a reason; `None` when it passes.
fn check_headers(
    state: &State,
    headers: &HeaderMap,
    token: &str,
    conn: &Conn,
) -> Option<&'static str> {
    if token.is_empty() {
        return Some("MissingDeviceToken");
    }
    // Authentication: a client certificate, or a provider token.
    if conn.client_cert.is_none()
        && let Err(reason) = state.tokens.check(header(headers, "authorization"))
    {
        return Some(reason);
    }
    match header(headers, "apns-topic") {
        None if conn.client_cert.is_none() => return Some("MissingTopic"),
        Some(topic) if topic != state.config.topic => return Some("BadTopic"),
        _ => {}
    }
    let push_type = header(headers, "apns-push-type");
    if let Some(push_type) = push_type
        && !matches!(
            push_type,
            "alert"
                | "background"
                | "location"
                | "voip"
                | "complication"
                | "fileprovider"
                | "mdm"
                | "liveactivity"
                | "pushtotalk"
                | "widgets"
                | "controls"
        )
    {
        return Some("InvalidPushType");
    }
    match header(headers, "apns-priority") {
        None => {}
        Some("10") if push_type == Some("background") => return Some("BadPriority"),
        Some("1" | "5" | "10") => {}
        Some(_) => return Some("BadPriority"),
    }
    if let Some(expiration) = header(headers, "apns-expiration")
        && expiration.parse::<u64>().is_err()
    {
        return Some("BadExpirationDate");
    }
    if headers
        .get("apns-collapse-id")
        .is_some_and(|v| v.len() > 64)
    {
        return Some("BadCollapseId");
    }
    if let Some(id) = header(headers, "apns-id")
        && uuid::Uuid::try_parse(id).is_err()
    {
        return Some("BadMessageId");
    }
    let hex = (64..=200).contains(&token.len())
        && token.len().is_multiple_of(2)
        && token.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex {
        return Some("BadDeviceToken");
    }
    None
}

async fn handle(
    state: &State,
    request: http::Request<hyper::body::Incoming>,
    conn: &Conn,
) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let apns_id = header(&parts.headers, "apns-id")
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().hyphenated().to_string());
    let path = parts.uri.path();
    let token = path.strip_prefix("/3/device/").map(str::to_owned);
    let body = serve::read_body(body, 64 * 1024).await;
    let payload_len = match &body {
        Ok(bytes) => bytes.len(),
        Err(len) => *len,
    };
    let reply = if state.scripts.is_down() {
        Reply::apns("ServiceUnavailable")
    } else if parts.method != Method::POST {
        Reply::apns("MethodNotAllowed")
    } else if let Some(token) = &token {
        if let Some(reason) = check_headers(state, &parts.headers, token, conn) {
            Reply::apns(reason)
        } else if payload_len == 0 {
            Reply::apns("PayloadEmpty")
        } else if payload_len > MAX_PAYLOAD {
            Reply::apns("PayloadTooLarge")
        } else {
            state.scripts.take(token).unwrap_or_else(Reply::ok)
        }
    } else {
        Reply::apns("BadPath")
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    record(
        state,
        &parts.headers,
        token.unwrap_or_default(),
        body.ok(),
        payload_len,
        &reply,
        conn,
        at,
    );
    answer(&reply, &apns_id)
}

#[allow(clippy::too_many_arguments)]
fn record(
    state: &State,
    headers: &HeaderMap,
    token: String,
    body: Option<bytes::Bytes>,
    payload_len: usize,
    reply: &Reply,
    conn: &Conn,
    at: Instant,
) {
    let full = || {
        state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
            >= state.config.record_limit
    };
    if full() {
        return;
    }
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let jwt_iat = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .and_then(|(_, v)| peek_iat(v));
    let payload = body
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::Value::Null);
    let request = Arc::new(ApnsRequest {
        token,
        headers,
        payload,
        payload_len,
        jwt_iat,
        status: reply.status,
        reason: reply.reason.clone(),
        connection: conn.id,
        at,
    });
    let mut received = state.received.lock().unwrap_or_else(|p| p.into_inner());
    if received.len() < state.config.record_limit {
        received.push(request);
    }
}
