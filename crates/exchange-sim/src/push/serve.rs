//! The mocks' listener: TLS on loopback, HTTP/2 (plus HTTP/1.1 where asked), one task per
//! connection, a configurable `SETTINGS_MAX_CONCURRENT_STREAMS`, and counters.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::SimError;

/// What a handler learns about the connection.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Numbered from 1 in accept order.
    pub(crate) id: u64,
    /// The verified client certificate (DER), if one was presented.
    pub(crate) client_cert: Option<Vec<u8>>,
}

pub(crate) type Response = http::Response<Full<Bytes>>;
pub(crate) type Handler = Arc<
    dyn Fn(http::Request<Incoming>, Arc<Conn>) -> Pin<Box<dyn Future<Output = Response> + Send>>
        + Send
        + Sync,
>;

/// Counters of a mock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MockStats {
    /// Requests received.
    pub requests: u64,
    /// Requests answered 200.
    pub ok: u64,
    /// Connections accepted (TLS done).
    pub connections: u64,
    /// Connections open now.
    pub open_connections: usize,
    /// The most requests in flight at once, all connections together.
    pub max_streams_in_flight: usize,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) requests: AtomicU64,
    pub(crate) ok: AtomicU64,
    connections: AtomicU64,
    open: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    /// Cancelled to drop every open connection; replaced by a fresh one.
    drop_all: std::sync::Mutex<CancellationToken>,
}

impl Counters {
    /// Closes every open connection (without GOAWAY, as a network failure would); the
    /// listener keeps accepting.
    pub(crate) fn drop_connections(&self) {
        let mut token = self.drop_all.lock().unwrap_or_else(|p| p.into_inner());
        token.cancel();
        *token = CancellationToken::new();
    }

    fn dropper(&self) -> CancellationToken {
        self.drop_all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn snapshot(&self) -> MockStats {
        MockStats {
            requests: self.requests.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            open_connections: self.open.load(Ordering::Relaxed),
            max_streams_in_flight: self.max_in_flight.load(Ordering::Relaxed),
        }
    }
}

struct InFlight<'a>(&'a Counters);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Binds `127.0.0.1:0` (or `address`) and serves until `shutdown`.
pub(crate) async fn start(
    address: SocketAddr,
    tls: Arc<rustls::ServerConfig>,
    http2_only: bool,
    max_concurrent_streams: u32,
    counters: Arc<Counters>,
    handler: Handler,
    shutdown: CancellationToken,
) -> Result<SocketAddr, SimError> {
    let listener = TcpListener::bind(address)
        .await
        .map_err(|source| SimError::Bind {
            address: address.to_string(),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| SimError::Bind {
        address: address.to_string(),
        source,
    })?;
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => accepted,
            };
            let Ok((stream, _peer)) = accepted else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let acceptor = acceptor.clone();
            let counters = Arc::clone(&counters);
            let handler = Arc::clone(&handler);
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                let Ok(Ok(tls)) = tokio::time::timeout(
                    std::time::Duration::from_secs(10),
                    acceptor.accept(stream),
                )
                .await
                else {
                    return;
                };
                let client_cert = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|chain| chain.first())
                    .map(|c| c.to_vec());
                let id = counters.connections.fetch_add(1, Ordering::Relaxed) + 1;
                counters.open.fetch_add(1, Ordering::Relaxed);
                let conn = Arc::new(Conn { id, client_cert });
                let dropped = counters.dropper();
                let service_counters = Arc::clone(&counters);
                let service = hyper::service::service_fn(move |request| {
                    let handler = Arc::clone(&handler);
                    let conn = Arc::clone(&conn);
                    let counters = Arc::clone(&service_counters);
                    async move {
                        counters.requests.fetch_add(1, Ordering::Relaxed);
                        let now = counters.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                        counters.max_in_flight.fetch_max(now, Ordering::Relaxed);
                        let _guard = InFlight(&counters);
                        let response = handler(request, conn).await;
                        if response.status() == http::StatusCode::OK {
                            counters.ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let mut builder = auto::Builder::new(TokioExecutor::new());
                builder
                    .http2()
                    .max_concurrent_streams(max_concurrent_streams)
                    .initial_stream_window_size(1 << 20)
                    .initial_connection_window_size(4 << 20);
                if http2_only {
                    builder = builder.http2_only();
                }
                let connection = builder.serve_connection(TokioIo::new(tls), service);
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = dropped.cancelled() => {}
                    _ = connection => {}
                }
                counters.open.fetch_sub(1, Ordering::Relaxed);
            });
        }
    });
    Ok(local)
}

/// A JSON response.
pub(crate) fn json(status: u16, body: &serde_json::Value) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads a body of at most `limit` bytes; `Err(len)` past it (the length read so far).
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, usize> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(limit + 1),
    }
}
