//! A few long-lived HTTP/2 connections to APNs, each carrying many concurrent streams.
//!
//! - A request takes a free stream on its runtime thread's connection, else on any live
//!   connection, else goes round-robin over `connections` slots; a slot whose connection
//!   died is reconnected by the next request that picks it (one connect at a time per slot).
//! - A connection carries at most `max_streams_per_connection` streams, and the connection
//!   (`http2`) also holds to the server's `SETTINGS_MAX_CONCURRENT_STREAMS`. With token
//!   authentication a new connection carries one stream until a push on it succeeds
//!   (Apple's rule).
//! - A connection that carried no request for a whole `ping_interval` (checked at each
//!   interval's end, so one to two intervals of silence) is sent a PING; no PONG within
//!   `ping_timeout`, a GOAWAY or an I/O error closes it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;
use tokio_rustls::TlsConnector;
use tracing::Instrument as _;

use super::http2::{self, Handle, Options};
use crate::Error;

/// What the connections keep of APNs responses, and which request headers are unique to a
/// push (sent without indexing, so they do not push the provider token out of the table).
const OPTIONS: Options = Options {
    keep: &["apns-id", "retry-after"],
    unindexed: &["apns-id", "apns-expiration", "apns-collapse-id"],
    max_body: super::MAX_ERROR_BODY,
};

/// Where and how to connect.
pub(crate) struct Connector {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) server_name: ServerName<'static>,
    pub(crate) tls: TlsConnector,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_streams: usize,
    /// Start each connection with one stream until a push succeeds on it.
    pub(crate) prove_first: bool,
}

/// Counters shared by the pool and its connections.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    pub(crate) opened: AtomicU64,
    pub(crate) open: AtomicUsize,
    pub(crate) pings: AtomicU64,
    pub(crate) in_flight: AtomicUsize,
    pub(crate) max_in_flight: AtomicUsize,
    pub(crate) server_max_streams: AtomicUsize,
}

/// One HTTP/2 connection.
pub(crate) struct Conn {
    handle: Handle,
    streams: Arc<Semaphore>,
    proven: AtomicBool,
    settings_seen: AtomicBool,
    /// Killed by us (the connection's own end is in its status).
    dead: AtomicBool,
    /// Streams taken, counted so the keepalive can tell a busy connection without a clock
    /// read per request.
    uses: AtomicU64,
    driver: AbortHandle,
    max_streams: usize,
    stats: Arc<PoolStats>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why no stream was had.
#[derive(Debug)]
pub(crate) enum Wait {
    /// No connection: why.
    Failed(String),
    /// Every stream stayed busy until the deadline.
    TimedOut,
}

/// A stream slot on a connection, held for one request.
pub(crate) struct Stream {
    pub(crate) conn: Arc<Conn>,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.conn.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Conn {
    pub(crate) fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Relaxed) || self.handle.status().is_closed()
    }

    /// Closes the connection: after a GOAWAY, an I/O error, an unanswered PING.
    pub(crate) fn kill(&self) {
        self.dead.store(true, Ordering::Relaxed);
        self.driver.abort();
    }

    /// The handle to send on.
    pub(crate) fn handle(&self) -> &Handle {
        &self.handle
    }

    /// A push succeeded: the connection may carry its full number of streams, and the
    /// server's SETTINGS have arrived.
    pub(crate) fn proven(&self) {
        if !self.proven.swap(true, Ordering::Relaxed) {
            self.streams.add_permits(self.max_streams.saturating_sub(1));
        }
        if !self.settings_seen.load(Ordering::Relaxed)
            && let Some(server_max) = self.handle.status().server_max_streams()
        {
            self.settings_seen.store(true, Ordering::Relaxed);
            if server_max != usize::MAX {
                self.stats
                    .server_max_streams
                    .fetch_max(server_max, Ordering::Relaxed);
            }
        }
    }

    fn count_use(&self) {
        self.uses.fetch_add(1, Ordering::Relaxed);
    }
}

struct Slot {
    conn: RwLock<Option<Arc<Conn>>>,
    connecting: tokio::sync::Mutex<()>,
}

/// The connections.
pub(crate) struct Pool {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    connector: Connector,
    pub(crate) stats: Arc<PoolStats>,
}

impl Pool {
    pub(crate) fn new(connector: Connector, connections: usize) -> Self {
        let slots = (0..connections.max(1))
            .map(|_| Slot {
                conn: RwLock::new(None),
                connecting: tokio::sync::Mutex::new(()),
            })
            .collect();
        Self {
            slots,
            next: AtomicUsize::new(0),
            connector,
            stats: Arc::new(PoolStats::default()),
        }
    }

    /// A stream on a live connection, connecting when needed; waiting for a free stream
    /// until `deadline` at most (a free one is taken with no timer).
    pub(crate) async fn stream(&self, deadline: tokio::time::Instant) -> Result<Stream, Wait> {
        let conn = self.conn().await.map_err(Wait::Failed)?;
        let closed = || Wait::Failed("connection closed".to_owned());
        let permit = match Arc::clone(&conn.streams).try_acquire_owned() {
            Ok(permit) => permit,
            Err(tokio::sync::TryAcquireError::Closed) => return Err(closed()),
            Err(tokio::sync::TryAcquireError::NoPermits) => {
                let wait = Arc::clone(&conn.streams).acquire_owned();
                match tokio::time::timeout_at(deadline, wait).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(closed()),
                    Err(_) => return Err(Wait::TimedOut),
                }
            }
        };
        conn.count_use();
        let in_flight = self.stats.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.stats
            .max_in_flight
            .fetch_max(in_flight, Ordering::Relaxed);
        Ok(Stream {
            conn,
            _permit: permit,
        })
    }

    /// The number of slots with a live connection.
    pub(crate) fn live(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| {
                slot.conn
                    .read()
                    .map(|c| c.as_ref().is_some_and(|c| !c.is_dead()))
                    .unwrap_or(false)
            })
            .count()
    }

    async fn conn(&self) -> Result<Arc<Conn>, String> {
        // Each runtime thread prefers its own connection while it has free streams: requests
        // from one thread then wake one connection task, and their batches stay whole.
        // Failing that, any live connection with a free stream: waiting on a full one while
        // another has room would idle that one.
        let preferred = THREAD_SLOT.with(|slot| *slot);
        for offset in 0..self.slots.len() {
            let slot = &self.slots[(preferred + offset) % self.slots.len()];
            if let Some(conn) = live(slot)
                && conn.streams.available_permits() > 0
            {
                return Ok(conn);
            }
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[index];
        if let Some(conn) = live(slot) {
            return Ok(conn);
        }
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(slot) {
            return Ok(conn);
        }
        let conn = self.connect().await?;
        if let Ok(mut guard) = slot.conn.write() {
            *guard = Some(Arc::clone(&conn));
        }
        Ok(conn)
    }

    async fn connect(&self) -> Result<Arc<Conn>, String> {
        let c = &self.connector;
        let started = Instant::now();
        let span = tracing::debug_span!("apns_connect", host = %c.host, port = c.port);
        let (handle, connection) = tokio::time::timeout(c.connect_timeout, handshake(c))
            .instrument(span)
            .await
            .map_err(|_| format!("connect to {}:{} timed out", c.host, c.port))??;
        let host = c.host.clone();
        let driver = tokio::spawn(async move {
            if let Err(error) = connection.run().await {
                tracing::debug!(%host, %error, "APNs connection closed");
            }
        })
        .abort_handle();
        let first = if c.prove_first { 1 } else { c.max_streams };
        let conn = Arc::new(Conn {
            handle,
            streams: Arc::new(Semaphore::new(first)),
            proven: AtomicBool::new(!c.prove_first),
            settings_seen: AtomicBool::new(false),
            dead: AtomicBool::new(false),
            uses: AtomicU64::new(0),
            driver,
            max_streams: c.max_streams,
            stats: Arc::clone(&self.stats),
        });
        self.stats.opened.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(keepalive(
            Arc::downgrade(&conn),
            c.ping_interval,
            c.ping_timeout,
            Arc::clone(&self.stats),
        ));
        tracing::debug!(
            host = %c.host,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "APNs connection open"
        );
        Ok(conn)
    }
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_SLOT: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

fn live(slot: &Slot) -> Option<Arc<Conn>> {
    let guard = slot.conn.read().ok()?;
    guard.as_ref().filter(|c| !c.is_dead()).cloned()
}

type Handshake = (
    Handle,
    http2::Connection<tokio_rustls::client::TlsStream<TcpStream>>,
);

async fn handshake(c: &Connector) -> Result<Handshake, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((c.host.as_str(), c.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", c.host))?
        .collect();
    let mut last = format!("no address for {}", c.host);
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last = format!("connect to {addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    let _ = tcp.set_nodelay(true);
    let tls = c
        .tls
        .connect(c.server_name.clone(), tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", c.host))?;
    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
        return Err(format!("{} did not agree to HTTP/2 (ALPN h2)", c.host));
    }
    Ok(http2::client(tls, OPTIONS))
}

async fn keepalive(conn: Weak<Conn>, interval: Duration, timeout: Duration, stats: Arc<PoolStats>) {
    let mut seen = None;
    loop {
        tokio::time::sleep(interval).await;
        let pong = match conn.upgrade() {
            Some(conn) if !conn.is_dead() => {
                let uses = conn.uses.load(Ordering::Relaxed);
                if seen.replace(uses) != Some(uses) {
                    continue;
                }
                conn.handle.ping()
            }
            _ => return,
        };
        stats.pings.fetch_add(1, Ordering::Relaxed);
        let pong = tokio::time::timeout(timeout, pong).await;
        let Some(conn) = conn.upgrade() else { return };
        match pong {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                tracing::debug!("APNs connection ended before its PING was answered");
                conn.kill();
                return;
            }
            Err(_) => {
                tracing::debug!("APNs PING unanswered; closing the connection");
                conn.kill();
                return;
            }
        }
    }
}

/// Splits an `https://host[:port]` origin.
pub(crate) fn parse_origin(url: &str) -> Result<(String, u16, String), Error> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| Error::config("endpoint", format!("not a URL: {e}")))?;
    if uri.scheme_str() != Some("https") {
        return Err(Error::config("endpoint", "APNs is reached over https"));
    }
    let authority = uri
        .authority()
        .ok_or_else(|| Error::config("endpoint", "no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(443);
    Ok((host, port, authority.as_str().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let (host, port, authority) = parse_origin("https://api.push.apple.com").unwrap();
        assert_eq!((host.as_str(), port), ("api.push.apple.com", 443));
        assert_eq!(authority, "api.push.apple.com");
        let (host, port, _) = parse_origin("https://127.0.0.1:8443/").unwrap();
        assert_eq!((host.as_str(), port), ("127.0.0.1", 8443));
        let (host, _, _) = parse_origin("https://[::1]:9").unwrap();
        assert_eq!(host, "::1");
        assert!(parse_origin("http://example.com").is_err());
        assert!(parse_origin("not a url").is_err());
    }
}
