//! The API's listener: plain TCP or TLS, HTTP/1.1 and HTTP/2, each connection on its own task,
//! with bounds so that clients that connect and stall cannot hold the service.
//!
//! | bound | value | when it is reached |
//! |---|---|---|
//! | connections open at once | [`MAX_CONNECTIONS`] | a new connection is closed at once (logged) |
//! | the TLS handshake | [`HANDSHAKE_TIMEOUT`] | the connection is closed |
//! | a request's headers (HTTP/1.1) | [`HEADER_TIMEOUT`] | the connection is closed |
//! | an HTTP/2 peer's answer to a keep-alive ping | [`HEADER_TIMEOUT`], pinged every 20 s | the connection is closed |

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 10_000;

/// The longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` (TLS when `tls` is given) until `stop` is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: CancellationToken,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let places = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(HEADER_TIMEOUT);
    let builder = Arc::new(builder);
    loop {
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
        };
        let Ok(place) = Arc::clone(&places).try_acquire_owned() else {
            tracing::warn!(%peer, limit = MAX_CONNECTIONS, "too many connections; closing a new one");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, acceptor, stop, builder) = (
            app.clone(),
            acceptor.clone(),
            stop.clone(),
            Arc::clone(&builder),
        );
        tokio::spawn(async move {
            let _place = place;
            let service = TowerToHyperService::new(app);
            match acceptor {
                Some(acceptor) => {
                    let stream = match tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            tracing::debug!(%peer, %error, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake took too long");
                            return;
                        }
                    };
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! { _ = connection => {}, () = stop.cancelled() => {} }
                }
                None => {
                    let connection = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! { _ = connection => {}, () = stop.cancelled() => {} }
                }
            }
        });
    }
}
