//! DNS: SRV lookups chosen per RFC 2782, and A/AAAA resolution for HTTP, through the system's
//! resolver or a configured server.
//!
//! STUB: replaced by the full implementation.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrvRecord {
    /// Priority: lower first.
    pub priority: u16,
    /// Weight among equal priorities.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host, without the trailing dot.
    pub target: String,
}

/// The resolver discovery uses.
#[derive(Debug, Clone)]
pub(crate) struct Dns {
    _server: Option<SocketAddr>,
}

impl Dns {
    pub(crate) fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, crate::Error> {
        let _ = timeout;
        Ok(Self { _server: server })
    }

    /// SRV records of `name`, in RFC 2782 order (lowest priority first, weighted random
    /// within a priority).
    pub(crate) async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, String> {
        let _ = name;
        Ok(Vec::new())
    }

    /// A/AAAA resolution for the HTTP client, when a DNS server is configured.
    pub(crate) fn http_resolver(&self) -> Option<Arc<dyn reqwest::dns::Resolve>> {
        None
    }
}
