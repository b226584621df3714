//! Proxies for tests, on `127.0.0.1:0`, that remember where they were asked to go: an HTTP
//! proxy ([`HttpProxy`]: `CONNECT host:port` tunnels, and plain `GET http://...` requests
//! forwarded one per connection) and a SOCKS5 proxy ([`Socks5Proxy`], in [`socks`]).
//!
//! Like the "Connectivity Node" route of the settings, the proxy resolves target names
//! itself: through [`ProxyBuilder::dns_server`] (the [`DnsServer`](exchange_sim::dns)
//! fixture) or else the system's resolver.
//!
//! ```ignore
//! let proxy = HttpProxy::builder().dns_server(dns.addr).require_basic_auth("u", "p").start().await;
//! // settings.proxy = Some(proxy.url().parse()?);
//! assert_eq!(proxy.connect_targets(), ["autodiscover.contoso.test:8443"]);
//! ```

mod socks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub(crate) use socks::Socks5Proxy;

/// Largest request or response head the HTTP proxy reads.
const MAX_HEAD: usize = 16 * 1024;

/// One request a proxy received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProxiedRequest {
    /// `CONNECT`, the forwarded method (`GET`, ...), or `SOCKS5`.
    pub(crate) method: String,
    /// `host:port` as the client named it (`[v6]:port` for IPv6 literals).
    pub(crate) target: String,
    /// Whether it was let through (the credentials were right, or none were required).
    pub(crate) allowed: bool,
}

/// How to start a proxy.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProxyBuilder {
    dns_server: Option<SocketAddr>,
    basic_auth: Option<String>,
}

impl ProxyBuilder {
    /// Resolves target names through this DNS server (exactly, no hosts file).
    pub(crate) fn dns_server(mut self, addr: SocketAddr) -> Self {
        self.dns_server = Some(addr);
        self
    }

    /// HTTP proxy only: answers `407` unless `Proxy-Authorization: Basic <user:password>`.
    pub(crate) fn require_basic_auth(mut self, user: &str, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.basic_auth = Some(format!("Basic {token}"));
        self
    }

    /// Starts an HTTP proxy.
    pub(crate) async fn start(self) -> HttpProxy {
        let shared = Arc::new(Shared::new(&self));
        let (addr, task) = serve(shared.clone(), |stream, shared| async move {
            // A broken client connection only ends that connection.
            let _ = http_connection(stream, &shared).await;
        })
        .await;
        HttpProxy { addr, shared, task }
    }

    /// Starts a SOCKS5 proxy (no authentication; `require_basic_auth` does not apply).
    pub(crate) async fn start_socks5(self) -> Socks5Proxy {
        Socks5Proxy::start_with(self).await
    }
}

/// A running HTTP proxy. Stops when dropped.
pub(crate) struct HttpProxy {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl HttpProxy {
    /// A proxy with no authentication, resolving through the system.
    pub(crate) async fn start() -> Self {
        Self::builder().start().await
    }

    /// Options: DNS server, required credentials.
    pub(crate) fn builder() -> ProxyBuilder {
        ProxyBuilder::default()
    }

    /// `http://127.0.0.1:<port>`, for `reqwest::Proxy::all` or the proxy setting.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request, in arrival order (refused ones too).
    pub(crate) fn requests(&self) -> Vec<ProxiedRequest> {
        self.shared.requests()
    }

    /// The `host:port` of every `CONNECT`, in arrival order (refused ones too).
    pub(crate) fn connect_targets(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "CONNECT")
            .map(|r| r.target)
            .collect()
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a proxy's connections share.
struct Shared {
    log: Mutex<Vec<ProxiedRequest>>,
    basic_auth: Option<String>,
    resolver: Option<TokioResolver>,
}

impl Shared {
    fn new(options: &ProxyBuilder) -> Self {
        let resolver = options.dns_server.map(|addr| {
            let mut server = NameServerConfig::udp_and_tcp(addr.ip());
            for connection in &mut server.connections {
                connection.port = addr.port();
            }
            let config = ResolverConfig::from_name_servers(vec![server]);
            let mut builder =
                TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
            builder.options_mut().use_hosts_file = ResolveHosts::Never;
            builder.build().expect("proxy resolver")
        });
        Self {
            log: Mutex::new(Vec::new()),
            basic_auth: options.basic_auth.clone(),
            resolver,
        }
    }

    fn record(&self, method: &str, target: String, allowed: bool) {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(ProxiedRequest {
                method: method.to_owned(),
                target,
                allowed,
            });
    }

    fn requests(&self) -> Vec<ProxiedRequest> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Connects to `host:port`, resolving `host` the configured way.
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<TcpStream> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse() {
            return TcpStream::connect(SocketAddr::new(ip, port)).await;
        }
        let addrs: Vec<SocketAddr> = match &self.resolver {
            Some(resolver) => resolver
                .lookup_ip(host)
                .await
                .map_err(std::io::Error::other)?
                .iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect(),
            None => tokio::net::lookup_host((host, port)).await?.collect(),
        };
        let mut last = std::io::Error::other(format!("{host}: no address"));
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

/// Binds `127.0.0.1:0` and runs `handle` for each connection.
async fn serve<F, Fut>(shared: Arc<Shared>, handle: F) -> (SocketAddr, JoinHandle<()>)
where
    F: Fn(TcpStream, Arc<Shared>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            while connections.try_join_next().is_some() {}
            connections.spawn(handle(stream, shared.clone()));
        }
    });
    (addr, task)
}

async fn http_connection(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (head, rest) = read_head(&mut client).await?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (method, target) = match (parts.next(), parts.next()) {
        (Some(m), Some(t)) => (m.to_owned(), t.to_owned()),
        _ => return reply(&mut client, "400 Bad Request").await,
    };
    let headers: Vec<(&str, &str)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect();
    let authorised = shared.basic_auth.as_deref().is_none_or(|expected| {
        headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("proxy-authorization") && *v == expected)
    });

    if method == "CONNECT" {
        shared.record("CONNECT", target.clone(), authorised);
        if !authorised {
            return reply(&mut client, "407 Proxy Authentication Required").await;
        }
        let Some((host, port)) = split_host_port(&target) else {
            return reply(&mut client, "400 Bad Request").await;
        };
        let Ok(mut upstream) = shared.connect(host, port).await else {
            return reply(&mut client, "502 Bad Gateway").await;
        };
        client
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .await?;
        upstream.write_all(&rest).await?;
        tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
        return Ok(());
    }

    // Absolute-form request (`GET http://host:port/path HTTP/1.1`): one per connection.
    let Ok(url) = url::Url::parse(&target) else {
        return reply(&mut client, "400 Bad Request").await;
    };
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return reply(&mut client, "400 Bad Request").await;
    };
    shared.record(&method, format!("{host}:{port}"), authorised);
    if !authorised {
        return reply(&mut client, "407 Proxy Authentication Required").await;
    }
    let Ok(upstream) = shared.connect(host, port).await else {
        return reply(&mut client, "502 Bad Gateway").await;
    };
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path = format!("{path}?{query}");
    }
    let mut forwarded = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &headers {
        if !is_hop_by_hop(name) {
            forwarded.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    forwarded.push_str("Connection: close\r\n\r\n");

    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_upstream, mut to_upstream) = upstream.into_split();
    to_upstream.write_all(forwarded.as_bytes()).await?;
    to_upstream.write_all(&rest).await?;
    // The request body, if any, keeps flowing while the answer comes back.
    let body = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_upstream).await;
    });
    let (head, rest) = read_head(&mut from_upstream).await?;
    let mut answer = String::new();
    for line in head.split("\r\n") {
        let name = line.split_once(':').map_or("", |(n, _)| n.trim());
        if !is_hop_by_hop(name) {
            answer.push_str(line);
            answer.push_str("\r\n");
        }
    }
    answer.push_str("Connection: close\r\n\r\n");
    to_client.write_all(answer.as_bytes()).await?;
    to_client.write_all(&rest).await?;
    tokio::io::copy(&mut from_upstream, &mut to_client).await?;
    to_client.shutdown().await?;
    body.abort();
    Ok(())
}

/// Reads up to the end of an HTTP head; returns it (without the blank line) and what
/// followed it.
async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 2048];
    loop {
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).into_owned();
            return Ok((head, data[end + 4..].to_vec()));
        }
        if data.len() > MAX_HEAD {
            return Err(std::io::Error::other("head too long"));
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&buf[..n]);
    }
}

async fn reply(client: &mut TcpStream, status: &str) -> std::io::Result<()> {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n");
    if status.starts_with("407") {
        text.push_str("Proxy-Authenticate: Basic realm=\"bems-test\"\r\n");
    }
    text.push_str("\r\n");
    client.write_all(text.as_bytes()).await?;
    client.shutdown().await
}

/// `host:port` or `[v6]:port`.
fn split_host_port(target: &str) -> Option<(&str, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

fn is_hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "proxy-connection",
        "keep-alive",
        "proxy-authorization",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}
