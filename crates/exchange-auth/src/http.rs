//! The HTTP requests authenticators send, and the transport they send them on.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use url::Url;

use crate::error::AuthError;

/// An HTTP method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Method {
    /// `GET`.
    Get,
    /// `POST`.
    Post,
    /// `PATCH` (Microsoft Graph: renew a subscription).
    Patch,
    /// `DELETE` (Microsoft Graph: delete a subscription).
    Delete,
}

/// A request to send with authentication.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// Where.
    pub url: Url,
    /// Headers to send (besides `Authorization`, which the authenticator adds).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// A timeout for the whole request, overriding the transport's; `None` for none at all
    /// (a hanging `GetStreamingEvents` connection, bounded by the caller).
    pub timeout: Option<Duration>,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Header values may carry cookies; only names are shown.
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl HttpRequest {
    /// A `POST` of `body`.
    pub fn post(url: Url, body: Vec<u8>) -> Self {
        Self {
            method: Method::Post,
            url,
            headers: Vec::new(),
            body,
            timeout: Some(Duration::from_secs(100)),
        }
    }

    /// A `GET`.
    pub fn get(url: Url) -> Self {
        Self {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: Vec::new(),
            timeout: Some(Duration::from_secs(100)),
        }
    }

    /// A `PATCH` of `body`.
    pub fn patch(url: Url, body: Vec<u8>) -> Self {
        Self {
            method: Method::Patch,
            ..Self::post(url, body)
        }
    }

    /// A `DELETE`.
    pub fn delete(url: Url) -> Self {
        Self {
            method: Method::Delete,
            ..Self::get(url)
        }
    }

    /// The same request with one more header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The same request with this timeout (`None`: no timeout).
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Vec<u8>, AuthError>> + Send>>;

/// An answer, its body read as it arrives.
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The headers, in order (repeated names repeat).
    pub headers: Vec<(String, String)>,
    body: ChunkStream,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &names)
            .finish_non_exhaustive()
    }
}

impl HttpResponse {
    pub(crate) fn from_reqwest(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let body = response.bytes_stream().map(|chunk| {
            chunk
                .map(|b| b.to_vec())
                .map_err(|e| AuthError::Network(describe(&e)))
        });
        Self {
            status,
            headers,
            body: Box::pin(body),
        }
    }

    /// An answer whose body is read from `body` (a connection the caller drives itself).
    #[cfg_attr(not(feature = "ntlm"), allow(dead_code))]
    pub(crate) fn from_stream(
        status: u16,
        headers: Vec<(String, String)>,
        body: impl Stream<Item = Result<Vec<u8>, AuthError>> + Send + 'static,
    ) -> Self {
        Self {
            status,
            headers,
            body: Box::pin(body),
        }
    }

    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The next chunk of the body, `None` at its end.
    pub async fn chunk(&mut self) -> Result<Option<Vec<u8>>, AuthError> {
        self.body.next().await.transpose()
    }

    /// The whole body, refusing more than `limit` bytes.
    pub async fn bytes(mut self, limit: usize) -> Result<Vec<u8>, AuthError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if body.len() + chunk.len() > limit {
                return Err(AuthError::Protocol(format!(
                    "answer larger than {limit} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// How connections are made: trusted CAs, the Connectivity Node proxy, name overrides.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct TransportSettings {
    /// Extra trusted CA certificates (PEM).
    pub trusted_ca_pem: Vec<String>,
    /// Trust only `trusted_ca_pem`, not the system roots.
    pub trusted_ca_only: bool,
    /// A proxy for every connection (`http://host:port` or `socks5://host:port`).
    pub proxy: Option<Url>,
    /// Host names resolved to fixed addresses (tests, or split-horizon deployments).
    pub resolve: Vec<(String, SocketAddr)>,
    /// Connect timeout (10 s when zero).
    #[serde(skip)]
    pub connect_timeout: Duration,
}

/// A TLS client identity for connection-level authentication.
pub(crate) struct ClientTls {
    pub(crate) config: rustls::ClientConfig,
}

/// Builds a client: TLS 1.2 or newer, certificates validated, no redirects.
pub(crate) fn client(
    settings: &TransportSettings,
    tls: Option<ClientTls>,
) -> Result<reqwest::Client, AuthError> {
    let connect = if settings.connect_timeout.is_zero() {
        Duration::from_secs(10)
    } else {
        settings.connect_timeout
    };
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect)
        .min_tls_version(reqwest::tls::Version::TLS_1_2)
        // HTTP/1.1: every hanging GetStreamingEvents gets its own connection (over HTTP/2
        // they would share one and queue behind its concurrent-stream limit), and IIS
        // serves Windows authentication over HTTP/1.1 only.
        .http1_only()
        .user_agent(concat!("bems/", env!("CARGO_PKG_VERSION")));
    match tls {
        Some(tls) => builder = builder.tls_backend_preconfigured(tls.config),
        None => {
            let roots = roots(settings)?;
            builder = if settings.trusted_ca_only {
                builder.tls_certs_only(roots)
            } else {
                builder.tls_certs_merge(roots)
            };
        }
    }
    builder = match &settings.proxy {
        Some(proxy) => builder.proxy(
            reqwest::Proxy::all(proxy.as_str())
                .map_err(|e| AuthError::config("proxy", e.to_string()))?,
        ),
        None => builder.no_proxy(),
    };
    for (host, addr) in &settings.resolve {
        builder = builder.resolve(host, *addr);
    }
    builder
        .build()
        .map_err(|e| AuthError::config("transport", e.to_string()))
}

fn roots(settings: &TransportSettings) -> Result<Vec<reqwest::Certificate>, AuthError> {
    let mut roots = Vec::new();
    for pem in &settings.trusted_ca_pem {
        roots.extend(
            reqwest::Certificate::from_pem_bundle(pem.as_bytes())
                .map_err(|e| AuthError::config("trusted_ca_pem", e.to_string()))?,
        );
    }
    Ok(roots)
}

/// Sends a request on `client`, adding `authorization`.
pub(crate) async fn send(
    client: &reqwest::Client,
    request: &HttpRequest,
    authorization: Option<&str>,
) -> Result<HttpResponse, AuthError> {
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
    };
    let mut builder = client.request(method, request.url.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    if let Some(timeout) = request.timeout {
        builder = builder.timeout(timeout);
    }
    if !request.body.is_empty() || matches!(request.method, Method::Post | Method::Patch) {
        builder = builder.body(request.body.clone());
    }
    let response = builder
        .send()
        .await
        .map_err(|e| AuthError::Network(describe(&e)))?;
    Ok(HttpResponse::from_reqwest(response))
}

/// An error's chain as text, without URLs (they may carry query strings).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
