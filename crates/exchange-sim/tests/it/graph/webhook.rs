//! A webhook over TLS (with a certificate of the simulator's CA) that answers Graph's
//! validation requests and records the notifications it is sent.

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tokio_rustls::TlsAcceptor;

use exchange_sim::Sim;

/// How the webhook answers validation requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Validation {
    /// The decoded token, `text/plain`, 200.
    Echo,
    /// Something else.
    Wrong,
}

#[derive(Default)]
pub(crate) struct Seen {
    /// (path, decoded token) of validation requests.
    pub(crate) validations: Vec<(String, String)>,
    /// (path, body) of notification POSTs that were answered 2xx.
    pub(crate) accepted: Vec<(String, serde_json::Value)>,
    /// Notification POSTs refused.
    pub(crate) refused: usize,
}

struct Shared {
    validation: Validation,
    /// The status notification POSTs get.
    status: AtomicU16,
    /// While true, notification POSTs wait (see [`Webhook::hold`]).
    held: tokio::sync::watch::Sender<bool>,
    /// Notification POSTs waiting now.
    waiting: AtomicUsize,
    seen: Mutex<Seen>,
}

/// A running webhook.
pub(crate) struct Webhook {
    pub(crate) base: String,
    shared: Arc<Shared>,
    _task: tokio::task::JoinHandle<()>,
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let token = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "validationToken")
        .map(|(_, v)| v.into_owned());
    let path = uri.path().to_owned();
    if token.is_none() {
        shared.waiting.fetch_add(1, Ordering::SeqCst);
        let mut held = shared.held.subscribe();
        let _ = held.wait_for(|held| !held).await;
        shared.waiting.fetch_sub(1, Ordering::SeqCst);
    }
    let mut seen = shared.seen.lock().expect("lock");
    if let Some(token) = token {
        seen.validations.push((path, token.clone()));
        return match shared.validation {
            Validation::Echo => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain")],
                token,
            )
                .into_response(),
            Validation::Wrong => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "text/plain")],
                "nope",
            )
                .into_response(),
        };
    }
    let status =
        StatusCode::from_u16(shared.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::ACCEPTED);
    if status.is_success() {
        let value = serde_json::from_slice(&body).expect("notifications are JSON");
        seen.accepted.push((path, value));
    } else {
        seen.refused += 1;
    }
    status.into_response()
}

impl Webhook {
    pub(crate) async fn start(sim: &Sim, validation: Validation) -> Self {
        let key = sim
            .issue_server_certificate(&["localhost"])
            .expect("certificate");
        let chain = vec![CertificateDer::from(key.cert_der.clone())];
        let private = PrivateKeyDer::from_pem_slice(key.key_pem.as_bytes()).expect("private key");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .expect("server config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let shared = Arc::new(Shared {
            validation,
            status: AtomicU16::new(202),
            held: tokio::sync::watch::Sender::new(false),
            waiting: AtomicUsize::new(0),
            seen: Mutex::new(Seen::default()),
        });
        let router = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
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
        Self {
            base: format!("https://localhost:{port}"),
            shared,
            _task: task,
        }
    }

    /// Notification POSTs wait unanswered from now on, until [`release`](Self::release).
    pub(crate) fn hold(&self) {
        self.shared.held.send_replace(true);
    }

    /// Answers the POSTs held, and the next at once.
    pub(crate) fn release(&self) {
        self.shared.held.send_replace(false);
    }

    /// Notification POSTs held now.
    pub(crate) fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::SeqCst)
    }

    /// The status notification POSTs get from now on.
    pub(crate) fn answer(&self, status: u16) {
        self.shared.status.store(status, Ordering::SeqCst);
    }

    pub(crate) fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.shared.seen.lock().expect("lock"))
    }

    /// Every notification accepted on `path`, flattened.
    pub(crate) fn notifications(&self, path: &str) -> Vec<serde_json::Value> {
        self.seen(|s| {
            s.accepted
                .iter()
                .filter(|(p, _)| p == path)
                .flat_map(|(_, v)| v["value"].as_array().cloned().unwrap_or_default())
                .collect()
        })
    }

    /// Waits (bounded) until `path` has at least `n` notifications.
    pub(crate) async fn wait_for(&self, path: &str, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..1000 {
            let seen = self.notifications(path);
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!(
            "{path}: fewer than {n} notifications: {:?}",
            self.notifications(path)
        );
    }
}
