//! The simulator in Graph mode, app-only tokens from its identity platform, a webhook over
//! TLS with a certificate of the simulator's CA (that records what it is sent and can be
//! taken down), and time-scaled settings that read the simulator's clock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use ews_proto::EventType;
use exchange_auth::{
    AuthMethod, Authenticator, BearerAuth, Grant, ModernAuth, OAuthTokens, SecretString,
    TransportSettings,
};
use exchange_sim::{GRAPH_HOST, Scenario, Sim};
use graph_subscriptions::{Clock, GraphSettings, GraphWatcher, MemorySpool, Peers, Spool};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use mailbox_watch::{Events, MemoryWatermarks, WatchEvent, WatchTarget, WatermarkStore};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::TlsAcceptor;

pub(crate) const MARA: &str = "mara@contoso.com";
pub(crate) const SADIE: &str = "sadie@contoso.com";
pub(crate) const APP: &str = "33333333-3333-3333-3333-333333333333";

/// Time runs 1000 times faster on the simulator (Graph's 30 s retry is 30 ms).
const SCENARIO: &str = r#"
time_scale = 1000.0
tenant = "contoso"

[[domains]]
name = "contoso.com"

[[servers]]
name = "exo"

[[users]]
smtp = "mara@contoso.com"

[[users]]
smtp = "sadie@contoso.com"

[[apps]]
client_id = "33333333-3333-3333-3333-333333333333"
secret = "graph-app-secret"
roles = ["Mail.Read"]
"#;

pub(crate) async fn sim() -> Sim {
    // `RUST_LOG=graph_subscriptions=debug` shows what a failing test did.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Sim::builder()
        .scenario(Scenario::from_toml(SCENARIO).expect("scenario"))
        .start()
        .await
        .expect("simulator starts")
}

/// App-only bearer tokens for Graph, from the simulator's token endpoint.
pub(crate) fn auth(sim: &Sim) -> Arc<dyn Authenticator> {
    let mut transport = TransportSettings::default();
    transport.trusted_ca_pem = vec![sim.ca_pem().to_owned()];
    transport.trusted_ca_only = true;
    for host in [sim.scenario().login_host.as_str(), GRAPH_HOST] {
        transport.resolve.push((host.to_owned(), sim.https_addr()));
    }
    let authority = sim.identity().authority().parse().expect("authority");
    let config = ModernAuth::new(authority, APP, "https://graph.microsoft.com");
    let tokens = OAuthTokens::new(
        config,
        Grant::ClientSecret(SecretString::from("graph-app-secret")),
        &transport,
    )
    .expect("tokens");
    Arc::new(
        BearerAuth::new(
            Arc::new(tokens),
            AuthMethod::ModernClientSecret,
            APP,
            &transport,
        )
        .expect("bearer"),
    )
}

/// What the webhook was sent, and whether it is up.
#[derive(Default)]
pub(crate) struct Tap {
    pub(crate) down: AtomicBool,
    /// Bodies of notification POSTs (not validations), as received.
    pub(crate) bodies: Mutex<Vec<Bytes>>,
    /// Another node's webhook (its base) that notification POSTs go to instead, as a load
    /// balancer in front of both would send them.
    pub(crate) elsewhere: Mutex<Option<(reqwest::Client, String)>>,
}

async fn tap(
    axum::extract::State(tap): axum::extract::State<Arc<Tap>>,
    request: Request,
    next: Next,
) -> Response {
    if tap.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let validation = request
        .uri()
        .query()
        .is_some_and(|q| q.contains("validationToken"));
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if !validation {
        tap.bodies.lock().expect("lock").push(bytes.clone());
        let elsewhere = tap.elsewhere.lock().expect("lock").clone();
        if let Some((http, base)) = elsewhere {
            let leaf = parts.uri.path().rsplit('/').next().unwrap_or_default();
            let answer = http
                .post(format!("{base}/{leaf}"))
                .header("Content-Type", "application/json")
                .body(bytes)
                .send()
                .await;
            return match answer {
                Ok(answer) => StatusCode::from_u16(answer.status().as_u16())
                    .unwrap_or(StatusCode::BAD_GATEWAY)
                    .into_response(),
                Err(_) => StatusCode::BAD_GATEWAY.into_response(),
            };
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A watcher with its webhook served over TLS on loopback.
pub(crate) struct Harness {
    pub(crate) watcher: GraphWatcher,
    pub(crate) events: Events,
    pub(crate) tap: Arc<Tap>,
    /// `https://localhost:<port>/graph/contoso`.
    pub(crate) base: String,
    /// Trusts the webhook's certificate.
    pub(crate) http: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

/// Settings for `sim` with the webhook at `base`: its clock, fast ticks and backoff.
pub(crate) fn settings(sim: &Sim, base: &str) -> GraphSettings {
    let mut settings = GraphSettings::new(&base.parse().expect("base")).expect("settings");
    settings.api = format!("{}/v1.0/", sim.graph().origin())
        .parse()
        .expect("api");
    settings.tick = Duration::from_millis(50);
    settings.backoff_initial = Duration::from_millis(20);
    settings.backoff_max = Duration::from_millis(500);
    settings.startup_grace = Duration::ZERO;
    // Orphan sweeps (listing the app's subscriptions) only where a test asks for them.
    settings.orphan_sweep = Duration::from_secs(3600);
    settings
}

pub(crate) struct Options {
    pub(crate) store: Arc<dyn WatermarkStore>,
    pub(crate) spool: Arc<dyn Spool>,
    pub(crate) peers: Option<Arc<dyn Peers>>,
    pub(crate) adjust: fn(&mut GraphSettings),
    pub(crate) clock: Option<Clock>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            store: Arc::new(MemoryWatermarks::new()),
            spool: Arc::new(MemorySpool::new()),
            peers: None,
            adjust: |_| {},
            clock: None,
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        // Connections kept alive by Graph's client would reach this webhook still.
        self.tap.down.store(true, Ordering::SeqCst);
        self._server.abort();
    }
}

impl Harness {
    pub(crate) async fn start(sim: &Sim, options: Options) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base = format!("https://localhost:{port}/graph/contoso");
        let mut settings = settings(sim, &base);
        if let Some(clock) = options.clock {
            settings.clock = clock;
        }
        (options.adjust)(&mut settings);
        let mut builder = GraphWatcher::builder(settings, auth(sim))
            .store(options.store)
            .spool(options.spool);
        if let Some(peers) = options.peers {
            builder = builder.peers(peers);
        }
        let (watcher, events) = builder.start().await.expect("watcher starts");
        let tap = Arc::new(Tap::default());
        let router = Router::new()
            .nest_service("/graph/contoso", watcher.webhook().router())
            .layer(middleware::from_fn_with_state(Arc::clone(&tap), self::tap));
        let key = sim
            .issue_server_certificate(&["localhost"])
            .expect("certificate");
        let chain = vec![CertificateDer::from(key.cert_der.clone())];
        let private = PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).expect("key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(stream) = acceptor.accept(stream).await else {
                        return;
                    };
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(stream), TowerToHyperService::new(router))
                        .await;
                });
            }
        });
        let ca = reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).expect("CA");
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .expect("client");
        Self {
            watcher,
            events,
            tap,
            base,
            http,
            _server: server,
        }
    }

    pub(crate) fn watch(&self, mailbox: &str) {
        let url = "https://graph.microsoft.com/v1.0/".parse().expect("url");
        self.watcher
            .watch(WatchTarget::new(mailbox, url))
            .expect("watch");
    }

    /// Waits (bounded) until `mailbox` is subscribed.
    pub(crate) async fn subscribed(&self, mailbox: &str) {
        let subscribed = || self.watcher.is_subscribed(mailbox);
        if !eventually(Duration::from_secs(5), subscribed).await {
            panic!("{mailbox} not subscribed: {:?}", self.watcher.status());
        }
    }

    /// Events until `done` says enough (at most 10 s), then whatever follows within `quiet`.
    pub(crate) async fn collect(
        &mut self,
        done: impl Fn(&[WatchEvent]) -> bool,
        quiet: Duration,
    ) -> Vec<WatchEvent> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done(&seen) {
            match tokio::time::timeout_at(deadline, self.events.recv()).await {
                Ok(Some(event)) => seen.push(event),
                _ => panic!("events so far: {seen:#?}"),
            }
        }
        while let Ok(Some(event)) = tokio::time::timeout(quiet, self.events.recv()).await {
            seen.push(event);
        }
        seen
    }

    /// POSTs `body` to the webhook's notification URL; the status.
    pub(crate) async fn post(&self, body: impl Into<reqwest::Body>) -> u16 {
        self.http
            .post(format!("{}/notifications", self.base))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("webhook answers")
            .status()
            .as_u16()
    }
}

/// The ids of the new-mail events for `mailbox`, in order.
pub(crate) fn new_mail(events: &[WatchEvent], mailbox: &str) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(m) if m.is_new_mail() && &*m.mailbox == mailbox => {
                m.event.item_id().map(|id| id.id.clone())
            }
            _ => None,
        })
        .collect()
}

/// Polls `done` every 10 ms until it holds or `limit` has passed; whether it held.
pub(crate) async fn eventually(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let until = tokio::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The unread counts reported for `mailbox`, in order.
pub(crate) fn unread(events: &[WatchEvent], mailbox: &str) -> Vec<i32> {
    events
        .iter()
        .filter_map(|e| match e {
            WatchEvent::Mail(m)
                if m.event.kind == EventType::Modified && &*m.mailbox == mailbox =>
            {
                m.event.folder_id().and(m.event.unread_count)
            }
            _ => None,
        })
        .collect()
}

/// Whether `n` new-mail events for `mailbox` are in `events`.
pub(crate) fn has_new_mail(n: usize, mailbox: &'static str) -> impl Fn(&[WatchEvent]) -> bool {
    move |events| new_mail(events, mailbox).len() >= n
}
