//! The mock FCM HTTP v1 service: `POST /v1/projects/{project}/messages:send` and the OAuth
//! `token_uri` (`POST /token`), over HTTP/2 (or HTTP/1.1) and TLS.
//!
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>,
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::Method;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::oauth::Tokens;
use super::reply::{Reply, Scripts, rpc_status};
use super::serve::{self, Counters, MockStats, Response};
use crate::SimError;
use crate::tls::Pki;

/// FCM's limit on a message's data and notification, keys and values together.
const MAX_PAYLOAD: usize = 4096;

/// How the mock FCM behaves.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MockFcmConfig {
    /// The Firebase project.
    pub project_id: String,
    /// The service account that may get tokens (`iss` of the assertion).
    pub client_email: String,
    /// Its public key (PEM), for the RS256 assertion.
    pub public_key_pem: String,
    /// The `expires_in` of issued access tokens (default 1 h).
    pub token_lifetime: Duration,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (default 1000).
    pub max_concurrent_streams: u32,
    /// Requests kept for [`MockFcm::received`] (default 100,000).
    pub record_limit: usize,
    /// The listen address (default `127.0.0.1:0`).
    pub address: SocketAddr,
}

impl MockFcmConfig {
    /// A mock for one project and service account.
    pub fn new(
        project_id: impl Into<String>,
        client_email: impl Into<String>,
        public_key_pem: impl Into<String>,
    ) -> Self {
        Self {
            project_id: project_id.into(),
            client_email: client_email.into(),
            public_key_pem: public_key_pem.into(),
            token_lifetime: Duration::from_secs(3600),
            max_concurrent_streams: 1000,
            record_limit: 100_000,
            address: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        }
    }
}

/// One send request the mock received, and what it answered.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct FcmRequest {
    /// `message.token`, if present.
    pub token: Option<String>,
    /// The whole request body (`Null` if it was not JSON).
    pub body: Value,
    /// The `authorization` header (test tokens only).
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
    /// The FCM error code or `google.rpc` status answered, if not 200.
    pub code: Option<String>,
    /// When it arrived.
    pub at: Instant,
}

#[derive(Debug)]
struct State {
    config: MockFcmConfig,
    token_uri: String,
    tokens: Tokens,
    scripts: Scripts,
    received: Mutex<Vec<FcmRequest>>,
    counters: Arc<Counters>,
    sequence: AtomicU64,
}

/// A running mock FCM. Stops when dropped.
#[derive(Debug)]
pub struct MockFcm {
    addr: SocketAddr,
    pki: Pki,
    state: Arc<State>,
    shutdown: CancellationToken,
}

impl Drop for MockFcm {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl MockFcm {
    /// Makes a CA and a certificate for `localhost` / 127.0.0.1, and starts listening.
    pub async fn start(config: MockFcmConfig) -> Result<Self, SimError> {
        let pki = Pki::new(&[])?;
        let tls = pki.server_config(&[b"h2", b"http/1.1"])?;
        let listener =
            std::net::TcpListener::bind(config.address).map_err(|source| SimError::Bind {
                address: config.address.to_string(),
                source,
            })?;
        // Learn the port first: the token endpoint's URL is the assertion's audience.
        let address = listener.local_addr().map_err(|source| SimError::Bind {
            address: config.address.to_string(),
            source,
        })?;
        drop(listener);
        let token_uri = format!("https://{address}/token");
        let tokens = Tokens::new(
            &config.public_key_pem,
            &config.client_email,
            config.token_lifetime,
        )
        .map_err(|e| SimError::Scenario(format!("public_key_pem: {e}")))?;
        let counters = Arc::new(Counters::default());
        let state = Arc::new(State {
            token_uri,
            tokens,
            scripts: Scripts::default(),
            received: Mutex::new(Vec::new()),
            counters: Arc::clone(&counters),
            sequence: AtomicU64::new(0),
            config: config.clone(),
        });
        let shutdown = CancellationToken::new();
        let handler_state = Arc::clone(&state);
        let handler: serve::Handler = Arc::new(move |request, _conn| {
            let state = Arc::clone(&handler_state);
            Box::pin(async move { handle(&state, request).await })
        });
        let addr = serve::start(
            address,
            tls,
            false,
            config.max_concurrent_streams,
            counters,
            handler,
            shutdown.clone(),
        )
        .await?;
        tracing::info!(%addr, "mock FCM listening");
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

    /// The FCM base URL: `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The OAuth token endpoint: `https://127.0.0.1:<port>/token`.
    pub fn token_uri(&self) -> &str {
        &self.state.token_uri
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        self.pki.ca_pem()
    }

    /// A service-account JSON file for this mock, with `private_key_pem` (the private half of
    /// the configured public key) and `token_uri` pointing here.
    pub fn service_account_json(&self, private_key_pem: &str) -> String {
        serde_json::json!({
            "type": "service_account",
            "project_id": self.state.config.project_id,
            "private_key_id": "mock-key-1",
            "private_key": private_key_pem,
            "client_email": self.state.config.client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.state.token_uri,
        })
        .to_string()
    }

    /// Answers the next sends to `token` with `replies` (FCM error codes), then normally.
    pub fn script(&self, token: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state.scripts.script(token, replies);
    }

    /// Answers every send to `token` with `reply` (after its scripted replies).
    pub fn script_always(&self, token: &str, reply: Reply) {
        self.state.scripts.always(token, reply);
    }

    /// Answers the next sends to any token with `replies`, in order.
    pub fn script_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.scripts.next(replies);
    }

    /// While down, every send is answered 503 `UNAVAILABLE` (tokens are still issued).
    pub fn set_down(&self, down: bool) {
        self.state.scripts.set_down(down);
    }

    /// Forgets every access token issued so far: the next sends get 401 `UNAUTHENTICATED`.
    pub fn revoke_tokens(&self) {
        self.state.tokens.revoke_all();
    }

    /// How many access tokens were issued.
    pub fn tokens_issued(&self) -> u64 {
        self.state.tokens.count.load(Ordering::Relaxed)
    }

    /// The send requests received so far, in order of arrival.
    pub fn received(&self) -> Vec<FcmRequest> {
        self.state
            .received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Counters (token requests included).
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

fn fcm_error(reply: &Reply, message: &str) -> Response {
    let code = reply.reason.clone().unwrap_or_default();
    let mut error = serde_json::json!({
        "code": reply.status,
        "message": message,
        "status": rpc_status(reply.status),
    });
    // Codes that are google.rpc statuses themselves carry no FcmError detail.
    if code != rpc_status(reply.status) {
        error["details"] = serde_json::json!([{
            "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
            "errorCode": code,
        }]);
    }
    let mut response = serve::json(reply.status, &serde_json::json!({ "error": error }));
    if let Some(seconds) = reply.retry_after {
        response
            .headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
    }
    response
}

/// The first rule `message` breaks, if any.
fn check_message(message: &Value) -> Option<&'static str> {
    let Some(message) = message.as_object() else {
        return Some("message is required");
    };
    let targets = ["token", "topic", "condition"]
        .iter()
        .filter(|k| message.contains_key(**k))
        .count();
    if targets != 1 {
        return Some("exactly one of token, topic or condition is required");
    }
    let mut size = 0;
    if let Some(data) = message.get("data") {
        let Some(data) = data.as_object() else {
            return Some("data must be a map");
        };
        for (key, value) in data {
            let Some(value) = value.as_str() else {
                return Some("data values must be strings");
            };
            size += key.len() + value.len();
        }
    }
    if let Some(notification) = message.get("notification") {
        for field in ["title", "body"] {
            size += notification
                .get(field)
                .and_then(Value::as_str)
                .map_or(0, str::len);
        }
    }
    if size > MAX_PAYLOAD {
        return Some("Message is too big");
    }
    if let Some(android) = message.get("android") {
        if let Some(priority) = android.get("priority")
            && !matches!(priority.as_str(), Some("NORMAL" | "HIGH"))
        {
            return Some("android.priority must be NORMAL or HIGH");
        }
        if let Some(ttl) = android.get("ttl") {
            let ok = ttl
                .as_str()
                .and_then(|t| t.strip_suffix('s'))
                .is_some_and(|n| {
                    !n.is_empty()
                        && n.split_once('.')
                            .map_or(n, |(whole, _)| whole)
                            .bytes()
                            .all(|b| b.is_ascii_digit())
                });
            if !ok {
                return Some("android.ttl must be a duration like \"3600s\"");
            }
        }
    }
    None
}

async fn handle(state: &State, request: http::Request<hyper::body::Incoming>) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let Ok(body) = serve::read_body(body, 64 * 1024).await else {
        return fcm_error(&Reply::fcm("INVALID_ARGUMENT"), "request too large");
    };
    let path = parts.uri.path();
    if parts.method == Method::POST && path == "/token" {
        return state.tokens.exchange(&body, &state.token_uri);
    }
    let authorization = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let token = json
        .pointer("/message/token")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let expected = format!("/v1/projects/{}/messages:send", state.config.project_id);
    let (reply, message) = if parts.method != Method::POST || !path.starts_with("/v1/projects/") {
        (Reply::status(404, "NOT_FOUND"), "no such method")
    } else if !state.tokens.valid(authorization.as_deref()) {
        (
            Reply::status(401, "UNAUTHENTICATED"),
            "Request had invalid authentication credentials.",
        )
    } else if path != expected {
        (
            Reply::status(403, "PERMISSION_DENIED"),
            "Permission denied for this project.",
        )
    } else if state.scripts.is_down() {
        (
            Reply::fcm("UNAVAILABLE"),
            "The service is currently unavailable.",
        )
    } else if let Some(rule) = json
        .get("message")
        .map_or(Some("message is required"), check_message)
    {
        (Reply::fcm("INVALID_ARGUMENT"), rule)
    } else {
        match token.as_deref().and_then(|t| state.scripts.take(t)) {
            Some(reply) => (reply, "scripted"),
            None => (Reply::ok(), ""),
        }
    };
    if let Some(delay) = reply.delay {
        tokio::time::sleep(delay).await;
    }
    {
        let mut received = state.received.lock().unwrap_or_else(|p| p.into_inner());
        if received.len() < state.config.record_limit {
            received.push(FcmRequest {
                token,
                body: json,
                authorization,
                status: reply.status,
                code: reply.reason.clone(),
                at,
            });
        }
    }
    if reply.status == 200 {
        let n = state.sequence.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("projects/{}/messages/0:{n}%mock", state.config.project_id);
        return serve::json(200, &serde_json::json!({ "name": name }));
    }
    fcm_error(&reply, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_rules() {
        let ok = serde_json::json!({"token": "t", "data": {"k": "v"}, "android": {"priority": "HIGH", "ttl": "3.5s"}});
        assert_eq!(check_message(&ok), None);
        assert!(check_message(&serde_json::json!({"token": "t", "topic": "x"})).is_some());
        assert!(check_message(&serde_json::json!({"data": {}})).is_some());
        assert!(check_message(&serde_json::json!({"token": "t", "data": {"k": 1}})).is_some());
        assert!(
            check_message(&serde_json::json!({"token": "t", "android": {"priority": "high"}}))
                .is_some()
        );
        assert!(
            check_message(&serde_json::json!({"token": "t", "android": {"ttl": "60"}})).is_some()
        );
        let big = "x".repeat(5000);
        assert!(check_message(&serde_json::json!({"token": "t", "data": {"k": big}})).is_some());
    }
}
