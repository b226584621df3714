//! One HTTP/1.1 connection over TLS, opened by us so that we know which TCP connection NTLM
//! authenticates and which certificate the server showed on it (for channel binding).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::{Host, Url};

use crate::error::AuthError;
use crate::http::{HttpRequest, Method, TransportSettings};

/// How long a request without a deadline waits for its connection to be ready.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a connection goes: connections are pooled per origin.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Origin {
    /// The host as in the URL (a name, or an IP address without brackets).
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Origin {
    /// The origin of an `https` URL.
    pub(crate) fn of(url: &Url) -> Result<Self, AuthError> {
        let host = match url.host() {
            Some(Host::Domain(name)) => name.to_ascii_lowercase(),
            Some(Host::Ipv4(ip)) => ip.to_string(),
            Some(Host::Ipv6(ip)) => ip.to_string(),
            None => return Err(AuthError::config("url", "the URL has no host")),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| AuthError::config("url", "the URL has no port"))?;
        Ok(Self { host, port })
    }
}

/// An open connection.
pub(crate) struct Conn {
    pub(crate) sender: SendRequest<Full<Bytes>>,
    /// `tls-server-end-point:` and the hash of the certificate the server presented.
    pub(crate) binding: Option<Vec<u8>>,
}

/// A request could not be sent: either it never left (safe to send elsewhere) or it failed.
pub(crate) enum SendError {
    /// The connection was closed before the request was written.
    NotSent,
    /// The request failed once written (or timed out).
    Failed(AuthError),
}

impl Conn {
    /// Whether the connection is open and ready for a request within `wait`.
    pub(crate) async fn ready(&mut self, wait: Duration) -> bool {
        matches!(
            tokio::time::timeout(wait, self.sender.ready()).await,
            Ok(Ok(()))
        )
    }

    /// Sends `request` once the connection is ready for it, and waits for the answer's head
    /// until `deadline`.
    ///
    /// Every request waits for readiness, not only those on a reused connection: after an
    /// answer's body has been read, hyper takes the connection back on its own task, and a
    /// request offered before that is handed back unsent ("connection was not ready") although
    /// the connection is open. The wait ends at `deadline`, or after [`READY_TIMEOUT`] for a
    /// request without one.
    pub(crate) async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
        deadline: Option<Instant>,
    ) -> Result<http::Response<Incoming>, SendError> {
        let ready_by = deadline.unwrap_or_else(|| Instant::now() + READY_TIMEOUT);
        match tokio::time::timeout_at(ready_by, self.sender.ready()).await {
            Ok(Ok(())) => {}
            // The connection closed: the request never left.
            Ok(Err(_)) => return Err(SendError::NotSent),
            Err(_) => {
                return Err(SendError::Failed(AuthError::Network(
                    "timed out waiting for the connection to be ready".into(),
                )));
            }
        }
        let sending = self.sender.try_send_request(request);
        let sent = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, sending)
                .await
                .map_err(|_| SendError::Failed(AuthError::Network("timed out".into())))?,
            None => sending.await,
        };
        sent.map_err(|mut error| match error.take_message() {
            Some(_) => SendError::NotSent,
            None => SendError::Failed(network("request failed", error.error())),
        })
    }
}

/// Opens connections: TCP with the name overrides, TLS with the configured CAs, HTTP/1.1.
pub(crate) struct Connector {
    tls: TlsConnector,
    resolve: Vec<(String, SocketAddr)>,
    connect_timeout: Duration,
}

impl Connector {
    pub(crate) fn new(settings: &TransportSettings) -> Result<Self, AuthError> {
        let config = crate::tls::client_config(settings, None)?;
        Ok(Self {
            tls: TlsConnector::from(Arc::new(config)),
            resolve: settings.resolve.clone(),
            connect_timeout: if settings.connect_timeout.is_zero() {
                Duration::from_secs(10)
            } else {
                settings.connect_timeout
            },
        })
    }

    /// A new connection to `origin`, TCP and TLS within the connect timeout.
    pub(crate) async fn connect(&self, origin: &Origin) -> Result<Conn, AuthError> {
        tokio::time::timeout(self.connect_timeout, self.open(origin))
            .await
            .map_err(|_| AuthError::Network("connection failed: timed out".into()))?
    }

    async fn open(&self, origin: &Origin) -> Result<Conn, AuthError> {
        let tcp = self.tcp(origin).await?;
        let _ = tcp.set_nodelay(true);
        let name = ServerName::try_from(origin.host.clone())
            .map_err(|e| AuthError::config("url", format!("invalid host name: {e}")))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| network("TLS handshake failed", &e))?;
        let binding = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| super::binding::tls_server_end_point(leaf));
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| network("HTTP handshake failed", &e))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "NTLM connection ended");
            }
        });
        Ok(Conn { sender, binding })
    }

    async fn tcp(&self, origin: &Origin) -> Result<TcpStream, AuthError> {
        // As reqwest: an override fixes the address, the URL keeps its port.
        let overridden = self
            .resolve
            .iter()
            .find(|(host, _)| host.eq_ignore_ascii_case(&origin.host))
            .map(|(_, addr)| vec![SocketAddr::new(addr.ip(), origin.port)]);
        let addresses = match overridden {
            Some(addresses) => addresses,
            None => tokio::net::lookup_host((origin.host.as_str(), origin.port))
                .await
                .map_err(|e| network("name resolution failed", &e))?
                .collect(),
        };
        let mut last = None;
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(error) => last = Some(error),
            }
        }
        Err(match last {
            Some(error) => network("connection failed", &error),
            None => AuthError::Network("connection failed: the name has no address".into()),
        })
    }
}

/// The HTTP/1.1 request for `request`, with `authorization` when given.
pub(crate) fn build(
    request: &HttpRequest,
    origin: &Origin,
    body: Bytes,
    authorization: Option<&str>,
) -> Result<http::Request<Full<Bytes>>, AuthError> {
    let method = match request.method {
        Method::Get => http::Method::GET,
        Method::Post => http::Method::POST,
        Method::Patch => http::Method::PATCH,
        Method::Delete => http::Method::DELETE,
    };
    let url = &request.url;
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let host = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => origin.host.clone(),
    };
    let mut builder = http::Request::builder()
        .method(method)
        .uri(target)
        .header(http::header::HOST, host)
        .header(
            http::header::USER_AGENT,
            concat!("bems/", env!("CARGO_PKG_VERSION")),
        );
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(value) = authorization {
        builder = builder.header(http::header::AUTHORIZATION, value);
    }
    if matches!(request.method, Method::Post | Method::Patch) || !body.is_empty() {
        builder = builder.header(http::header::CONTENT_LENGTH, body.len());
    }
    builder
        .body(Full::new(body))
        .map_err(|e| AuthError::config("request", e.to_string()))
}

/// Reads and discards a (401) body so the connection can carry the next request; refuses
/// more than `limit` bytes.
pub(crate) async fn drain(
    body: Incoming,
    limit: usize,
    deadline: Instant,
) -> Result<(), AuthError> {
    let collect = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout_at(deadline, collect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(AuthError::Network(format!(
            "reading the challenge failed: {error}"
        ))),
        Err(_) => Err(AuthError::Network("timed out".into())),
    }
}

/// An error and its causes as text (no URLs: they are not in these errors).
pub(crate) fn network(what: &str, error: &(dyn std::error::Error + 'static)) -> AuthError {
    let mut text = format!("{what}: {error}");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    AuthError::Network(text)
}
