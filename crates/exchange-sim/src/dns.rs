//! An in-process authoritative DNS server (hickory-server, UDP and TCP on `127.0.0.1`), which
//! remembers every question it was asked; and a "silent" server that never answers.
//!
//! [`SimBuilder::dns`](crate::SimBuilder::dns) starts one that resolves every host name of the
//! scenario to the simulator (scripted hosts to their own loopback addresses) and serves the
//! scenario's SRV records, so Autodiscover clients can be pointed at a real DNS server.
//!
//! The server is authoritative for the whole name space (the root zone): every name it was
//! not given is NXDOMAIN, so a test controls exactly what exists. Records have a TTL of 0, so
//! resolvers do not cache them and [`DnsServer::queries`] shows every lookup.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_sim::SimError> {
//! use exchange_sim::dns::{DnsRecord, DnsServer};
//! let dns = DnsServer::start([
//!     DnsRecord::a("autodiscover.contoso.test", [127, 0, 0, 1]),
//!     DnsRecord::srv("_autodiscover._tcp.contoso.test", 0, 0, 443, "mail.contoso.test"),
//! ])
//! .await?;
//! // point the code under test at dns.addr, then:
//! assert!(!dns.was_queried("autodiscover.com"));
//! # Ok(()) }
//! ```

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, CNAME, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::Server;
use hickory_server::net::runtime::{Time, TokioRuntimeProvider};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

use crate::SimError;

pub use hickory_proto::rr::RecordType;

/// One record the server serves. Names may be given with or without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsRecord {
    /// `name A ip`.
    A {
        /// Owner name.
        name: String,
        /// Address.
        ip: Ipv4Addr,
    },
    /// `name AAAA ip`.
    Aaaa {
        /// Owner name.
        name: String,
        /// Address.
        ip: Ipv6Addr,
    },
    /// `name SRV priority weight port target`; a target of `.` means "no service".
    Srv {
        /// Owner name (`_autodiscover._tcp.contoso.com`).
        name: String,
        /// Priority: lower is tried first.
        priority: u16,
        /// Weight among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host.
        target: String,
    },
    /// `name CNAME target` (no other record may have the same name).
    Cname {
        /// Owner name.
        name: String,
        /// Canonical name.
        target: String,
    },
}

impl DnsRecord {
    /// An A record, e.g. `DnsRecord::a("mail.contoso.test", [127, 0, 0, 2])`.
    pub fn a(name: &str, ip: impl Into<Ipv4Addr>) -> Self {
        Self::A {
            name: name.to_owned(),
            ip: ip.into(),
        }
    }

    /// An AAAA record, e.g. `DnsRecord::aaaa("mail.contoso.test", Ipv6Addr::LOCALHOST)`.
    pub fn aaaa(name: &str, ip: impl Into<Ipv6Addr>) -> Self {
        Self::Aaaa {
            name: name.to_owned(),
            ip: ip.into(),
        }
    }

    /// An SRV record.
    pub fn srv(name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        Self::Srv {
            name: name.to_owned(),
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    /// A CNAME record.
    pub fn cname(name: &str, target: &str) -> Self {
        Self::Cname {
            name: name.to_owned(),
            target: target.to_owned(),
        }
    }

    fn to_record(&self) -> Result<Record, SimError> {
        let (name, data) = match self {
            Self::A { name, ip } => (name, RData::A(A(*ip))),
            Self::Aaaa { name, ip } => (name, RData::AAAA(AAAA(*ip))),
            Self::Srv {
                name,
                priority,
                weight,
                port,
                target,
            } => (
                name,
                RData::SRV(SRV::new(*priority, *weight, *port, fqdn(target)?)),
            ),
            Self::Cname { name, target } => (name, RData::CNAME(CNAME(fqdn(target)?))),
        };
        Ok(Record::from_rdata(fqdn(name)?, 0, data))
    }
}

/// A question the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuery {
    /// Lower-case, without the trailing dot.
    pub name: String,
    /// The record type asked for.
    pub rtype: RecordType,
}

type QueryLog = Arc<Mutex<Vec<DnsQuery>>>;

/// A running authoritative server. Stops when dropped.
pub struct DnsServer {
    /// Where it listens, on UDP and TCP (the same port).
    pub addr: SocketAddr,
    queries: QueryLog,
    server: Server<Recorder>,
}

impl DnsServer {
    /// Starts a server answering with `records` (and NXDOMAIN for every other name).
    ///
    /// Records that cannot coexist (a CNAME beside other data) are an error.
    pub async fn start(records: impl IntoIterator<Item = DnsRecord>) -> Result<Self, SimError> {
        Self::start_on(None, records).await
    }

    /// Starts a server on `address` (UDP and TCP), or on a free loopback port when `None`.
    pub async fn start_on(
        address: Option<SocketAddr>,
        records: impl IntoIterator<Item = DnsRecord>,
    ) -> Result<Self, SimError> {
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(fqdn("ns.test")?, fqdn("hostmaster.test")?, 1, 60, 60, 60, 0);
        zone.upsert_mut(Record::from_rdata(Name::root(), 0, RData::SOA(soa)), 1);
        for record in records {
            if !zone.upsert_mut(record.to_record()?, 1) {
                return Err(SimError::Scenario(format!(
                    "DNS record refused: {record:?}"
                )));
            }
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(Name::root()), vec![Arc::new(zone)]);

        let queries = QueryLog::default();
        let recorder = Recorder {
            catalog,
            queries: queries.clone(),
        };
        let (udp, tcp) = match address {
            Some(address) => {
                let udp = UdpSocket::bind(address).await.map_err(bind_error)?;
                let tcp = TcpListener::bind(address).await.map_err(bind_error)?;
                (udp, tcp)
            }
            None => bind_udp_and_tcp().await?,
        };
        let addr = udp.local_addr().map_err(|source| SimError::Bind {
            address: "127.0.0.1:0 (DNS)".into(),
            source,
        })?;
        let mut server = Server::new(recorder);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Ok(Self {
            addr,
            queries,
            server,
        })
    }

    /// Every question received so far, in order.
    pub fn queries(&self) -> Vec<DnsQuery> {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `name` (any case, trailing dot or not) was asked about, for any type.
    pub fn was_queried(&self, name: &str) -> bool {
        let name = normalise(name);
        self.queries().iter().any(|q| q.name == name)
    }
}

impl std::fmt::Debug for DnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Stops the accept loops; dropping `server` then aborts its tasks.
        self.server.shutdown_token().cancel();
    }
}

/// A DNS "server" that never answers: a UDP socket bound and never read.
pub struct SilentDnsServer {
    /// Where it (does not) listen.
    pub addr: SocketAddr,
    _socket: UdpSocket,
}

impl std::fmt::Debug for SilentDnsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SilentDnsServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SilentDnsServer {
    /// Binds the socket on `127.0.0.1:0`.
    pub async fn start() -> Result<Self, SimError> {
        let socket = UdpSocket::bind("127.0.0.1:0").await.map_err(bind_error)?;
        let addr = socket.local_addr().map_err(bind_error)?;
        Ok(Self {
            addr,
            _socket: socket,
        })
    }
}

/// Logs each question, then lets the catalog answer.
struct Recorder {
    catalog: Catalog,
    queries: QueryLog,
}

#[async_trait::async_trait]
impl RequestHandler for Recorder {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        {
            let mut log = self.queries.lock().unwrap_or_else(PoisonError::into_inner);
            for query in request.queries.queries() {
                log.push(DnsQuery {
                    name: normalise(&query.name().to_string()),
                    rtype: query.query_type(),
                });
            }
        }
        self.catalog
            .handle_request::<R, T>(request, response_handle)
            .await
    }
}

fn bind_error(source: std::io::Error) -> SimError {
    SimError::Bind {
        address: "127.0.0.1:0 (DNS)".into(),
        source,
    }
}

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_udp_and_tcp() -> Result<(UdpSocket, TcpListener), SimError> {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.map_err(bind_error)?;
        let addr = udp.local_addr().map_err(bind_error)?;
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return Ok((udp, tcp));
        }
    }
    Err(bind_error(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no loopback port free for both UDP and TCP",
    )))
}

fn fqdn(name: &str) -> Result<Name, SimError> {
    let mut name = Name::from_utf8(name)
        .map_err(|e| SimError::Scenario(format!("bad DNS name {name:?}: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
