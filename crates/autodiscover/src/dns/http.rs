//! reqwest's resolver hook: A and AAAA through the configured DNS server.

use std::net::SocketAddr;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::Dns;

/// Resolves the hosts reqwest connects to with [`Dns::lookup_ip`], so that HTTP goes where
/// the configured DNS server says (and nowhere the system resolver would say instead).
#[derive(Debug)]
pub(super) struct HttpResolver {
    dns: Dns,
}

impl HttpResolver {
    pub(super) fn new(dns: Dns) -> Self {
        Self { dns }
    }
}

impl Resolve for HttpResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let dns = self.dns.clone();
        Box::pin(async move {
            let host = name.as_str();
            let ips = dns.lookup_ip(host).await?;
            if ips.is_empty() {
                return Err(format!("{host}: no A or AAAA record").into());
            }
            // Port 0: reqwest puts the URL's port (or the scheme's) in its place.
            let addrs: Addrs = Box::new(
                ips.into_iter()
                    .map(|ip| SocketAddr::new(ip, 0))
                    .collect::<Vec<_>>()
                    .into_iter(),
            );
            Ok(addrs)
        })
    }
}
