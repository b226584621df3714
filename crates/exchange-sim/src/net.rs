//! Listeners: plain TCP or TLS on loopback, one task per connection, with the connection's
//! facts (peer, local address, client certificate) handed to handlers as an extension.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

/// What handlers learn about the connection a request came on.
#[derive(Debug, Clone)]
pub(crate) struct ConnInfo {
    /// The client's address.
    #[allow(dead_code)]
    pub(crate) peer: SocketAddr,
    /// The address the client connected to (which host behaviour applies).
    pub(crate) local: SocketAddr,
    /// Whether the connection is TLS.
    pub(crate) tls: bool,
    /// The client certificate (DER), when one was presented and verified.
    pub(crate) client_cert: Option<Arc<Vec<u8>>>,
    /// NTLM authenticates the connection: its state, shared by the connection's requests.
    pub(crate) ntlm: Arc<crate::ews::ConnNtlm>,
}

/// How a listener treats connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Serve HTTP.
    Serve,
    /// Accept and never answer: a black-holed host.
    Blackhole,
}

/// Accepts connections until `shutdown` and serves each with `router`.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    mode: Mode,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let Ok((stream, peer)) = accepted else {
            continue;
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let tls = tls.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if mode == Mode::Blackhole {
                // Hold the connection open without reading until the simulator stops.
                shutdown.cancelled().await;
                drop(stream);
                return;
            }
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(stream)) = tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        acceptor.accept(stream),
                    )
                    .await
                    else {
                        return;
                    };
                    let client_cert = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|cert| Arc::new(cert.to_vec()));
                    let info = ConnInfo {
                        peer,
                        local,
                        tls: true,
                        client_cert,
                        ntlm: Arc::default(),
                    };
                    serve_connection(TokioIo::new(stream), router, info, shutdown).await;
                }
                None => {
                    let info = ConnInfo {
                        peer,
                        local,
                        tls: false,
                        client_cert: None,
                        ntlm: Arc::default(),
                    };
                    serve_connection(TokioIo::new(stream), router, info, shutdown).await;
                }
            }
        });
    }
}

async fn serve_connection<I>(io: I, router: Router, info: ConnInfo, shutdown: CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = router.map_request(move |mut request: http::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(info.clone());
        normalize_path(&mut request);
        request
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let connection = builder.serve_connection_with_upgrades(io, TowerToHyperService::new(service));
    tokio::select! {
        () = shutdown.cancelled() => {}
        _ = connection => {}
    }
}

/// Exchange's virtual directories are case-insensitive (`/EWS/Exchange.asmx`,
/// `/Autodiscover/Autodiscover.xml`, `/ews/exchange.asmx`): route them in lower case.
fn normalize_path<B>(request: &mut http::Request<B>) {
    let path = request.uri().path();
    let lower = path.to_ascii_lowercase();
    if lower == path || !(lower.starts_with("/ews/") || lower.starts_with("/autodiscover/")) {
        return;
    }
    let mut parts = request.uri().clone().into_parts();
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if let Ok(path_and_query) = format!("{lower}{query}").parse() {
        parts.path_and_query = Some(path_and_query);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
}
