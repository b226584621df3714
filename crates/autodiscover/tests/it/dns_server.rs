//! An in-process authoritative DNS server for tests (hickory-server, UDP and TCP on
//! `127.0.0.1`), which remembers every question it was asked; and a "silent" server that
//! never answers.
//!
//! The server is authoritative for the whole name space (the root zone): every name it was
//! not given is NXDOMAIN, so a test controls exactly what exists. Records have a TTL of 0, so
//! resolvers do not cache them and [`DnsServer::queries`] shows every lookup.
//!
//! ```ignore
//! let dns = DnsServer::start([
//!     DnsRecord::a("autodiscover.contoso.test", [127, 0, 0, 1]),
//!     DnsRecord::srv("_autodiscover._tcp.contoso.test", 0, 0, 443, "mail.contoso.test"),
//! ])
//! .await;
//! // point the code under test at dns.addr, then:
//! assert!(!dns.was_queried("autodiscover.com"));
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

pub(crate) use hickory_proto::rr::RecordType;

/// One record the server serves. Names may be given with or without the trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DnsRecord {
    /// `name A ip`.
    A { name: String, ip: Ipv4Addr },
    /// `name AAAA ip`.
    Aaaa { name: String, ip: Ipv6Addr },
    /// `name SRV priority weight port target`; a target of `.` means "no service".
    Srv {
        name: String,
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// `name CNAME target` (no other record may have the same name).
    Cname { name: String, target: String },
}

impl DnsRecord {
    /// An A record, e.g. `DnsRecord::a("mail.contoso.test", [127, 0, 0, 2])`.
    pub(crate) fn a(name: &str, ip: impl Into<Ipv4Addr>) -> Self {
        Self::A {
            name: name.to_owned(),
            ip: ip.into(),
        }
    }

    /// An AAAA record, e.g. `DnsRecord::aaaa("mail.contoso.test", Ipv6Addr::LOCALHOST)`.
    pub(crate) fn aaaa(name: &str, ip: impl Into<Ipv6Addr>) -> Self {
        Self::Aaaa {
            name: name.to_owned(),
            ip: ip.into(),
        }
    }

    /// An SRV record.
    pub(crate) fn srv(name: &str, priority: u16, weight: u16, port: u16, target: &str) -> Self {
        Self::Srv {
            name: name.to_owned(),
            priority,
            weight,
            port,
            target: target.to_owned(),
        }
    }

    /// A CNAME record.
    pub(crate) fn cname(name: &str, target: &str) -> Self {
        Self::Cname {
            name: name.to_owned(),
            target: target.to_owned(),
        }
    }

    fn to_record(&self) -> Record {
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
                RData::SRV(SRV::new(*priority, *weight, *port, fqdn(target))),
            ),
            Self::Cname { name, target } => (name, RData::CNAME(CNAME(fqdn(target)))),
        };
        Record::from_rdata(fqdn(name), 0, data)
    }
}

/// A question the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DnsQuery {
    /// Lower-case, without the trailing dot.
    pub(crate) name: String,
    /// The record type asked for.
    pub(crate) rtype: RecordType,
}

type QueryLog = Arc<Mutex<Vec<DnsQuery>>>;

/// A running authoritative server. Stops when dropped.
pub(crate) struct DnsServer {
    /// Where it listens, on UDP and TCP (the same port).
    pub(crate) addr: SocketAddr,
    queries: QueryLog,
    server: Server<Recorder>,
}

impl DnsServer {
    /// Starts a server answering with `records` (and NXDOMAIN for every other name).
    ///
    /// Panics on records that cannot coexist (a CNAME beside other data) or unparsable names.
    pub(crate) async fn start(records: impl IntoIterator<Item = DnsRecord>) -> Self {
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            Name::root(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(fqdn("ns.test"), fqdn("hostmaster.test"), 1, 60, 60, 60, 0);
        assert!(zone.upsert_mut(Record::from_rdata(Name::root(), 0, RData::SOA(soa)), 1));
        for record in records {
            assert!(
                zone.upsert_mut(record.to_record(), 1),
                "the fixture refused {record:?}"
            );
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::from(Name::root()), vec![Arc::new(zone)]);

        let queries = QueryLog::default();
        let recorder = Recorder {
            catalog,
            queries: queries.clone(),
        };
        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().expect("UDP socket address");
        let mut server = Server::new(recorder);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Self {
            addr,
            queries,
            server,
        }
    }

    /// Every question received so far, in order.
    pub(crate) fn queries(&self) -> Vec<DnsQuery> {
        self.queries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether `name` (any case, trailing dot or not) was asked about, for any type.
    pub(crate) fn was_queried(&self, name: &str) -> bool {
        let name = normalise(name);
        self.queries().iter().any(|q| q.name == name)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Stops the accept loops; dropping `server` then aborts its tasks.
        self.server.shutdown_token().cancel();
    }
}

/// A DNS "server" that never answers: a UDP socket bound and never read.
pub(crate) struct SilentDnsServer {
    /// Where it (does not) listen.
    pub(crate) addr: SocketAddr,
    _socket: UdpSocket,
}

impl SilentDnsServer {
    /// Binds the socket on `127.0.0.1:0`.
    pub(crate) async fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = socket.local_addr().expect("UDP socket address");
        Self {
            addr,
            _socket: socket,
        }
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

/// A UDP socket and a TCP listener on the same free loopback port.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind UDP");
        let addr = udp.local_addr().expect("UDP socket address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

fn fqdn(name: &str) -> Name {
    let mut name = Name::from_utf8(name).unwrap_or_else(|e| panic!("bad name {name:?}: {e}"));
    name.set_fqdn(true);
    name
}

fn normalise(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
