//! DNS: SRV lookups ordered per RFC 2782, and A/AAAA resolution for HTTP, through the
//! system's resolver or one configured server.
//!
//! # How SRV answers are used
//!
//! The last Autodiscover route asks for `_autodiscover._tcp.<domain>` SRV records
//! ([MS-OXDISCO](https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxdisco/)).
//! [`Dns::srv`] returns them in the order [RFC 2782](https://www.rfc-editor.org/rfc/rfc2782)
//! says to try them (see [`order_srv`]): lowest priority first, weighted random within a
//! priority, with the trailing dot stripped from each target and a lone `.` target read as
//! "no service" (an empty list).
//!
//! The engine, not this module, turns a record into a candidate: it builds
//! `https://<target>/autodiscover/autodiscover.xml` on the configured HTTPS port and **never
//! on the SRV port**, as the EWS Managed API and Outlook do (an SRV record says *which host*
//! answers Autodiscover; it is not allowed to move credentials to another port or to plain
//! HTTP). An SRV target is a host the mailbox's domain did not necessarily vouch for over
//! TLS, so the engine's credential rules (same registrable domain or allow-list) apply to it
//! like to any redirect.
//!
//! The order is the targets' **precedence**, not a suggestion: the engine asks them all at
//! once, but a target's answer is used only when every target before it failed, so a
//! higher priority number never wins over a lower one that answers, however slowly (see the
//! `precedence` module).
//!
//! # Which server
//!
//! With no server configured, the system's configuration (`/etc/resolv.conf`, hosts file,
//! search domains) is read once. With a server, exactly that server is asked, over UDP and
//! TCP, with no search domains and no hosts file, and [`Dns::http_resolver`] gives reqwest
//! a resolver that uses it too, so every lookup of a discovery goes to the same place.

mod http;
#[cfg(test)]
mod loopback_tests;
mod order;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{Name, RData};

pub(crate) use order::order_srv;

/// One SRV record of an `_autodiscover._tcp.<domain>` lookup. Discovery uses its `target`
/// only, on the configured HTTPS port (see the settings), never its `port`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SrvRecord {
    /// Priority: lower first.
    pub priority: u16,
    /// Weight among equal priorities.
    pub weight: u16,
    /// Port. Autodiscover does not use it: the HTTPS port of the settings is used instead.
    pub port: u16,
    /// Target host, lower-case, without the trailing dot (empty for the root, `.`).
    pub target: String,
}

impl SrvRecord {
    /// A record; the target's trailing dot, if any, is stripped and it is lower-cased.
    pub fn new(priority: u16, weight: u16, port: u16, target: impl Into<String>) -> Self {
        let mut target: String = target.into();
        if target.ends_with('.') {
            target.pop();
        }
        target.make_ascii_lowercase();
        Self {
            priority,
            weight,
            port,
            target,
        }
    }

    fn from_rdata(srv: &hickory_resolver::proto::rr::rdata::SRV) -> Self {
        // `to_ascii` gives the IDNA (punycode) form, which is what URLs and TLS use.
        Self::new(srv.priority, srv.weight, srv.port, srv.target.to_ascii())
    }
}

/// The resolver discovery uses. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Dns {
    resolver: Arc<TokioResolver>,
    /// Bound on one whole lookup (retries and both address families included).
    timeout: Duration,
    /// Whether a server was configured (and so whether reqwest needs our resolver).
    custom: bool,
}

/// Entries kept in the resolver's cache; discovery asks for a handful of names.
const CACHE_SIZE: u64 = 64;

impl Dns {
    /// A resolver asking `server` (UDP and TCP), or the system's servers when `None`.
    ///
    /// `timeout` bounds each lookup this type makes, retries included.
    pub(crate) fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Self, crate::Error> {
        if timeout.is_zero() {
            return Err(crate::Error::Config {
                setting: "timeouts.dns",
                reason: "must be more than zero".to_owned(),
            });
        }
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                if addr.port() == 0 || addr.ip().is_unspecified() {
                    return Err(crate::Error::Config {
                        setting: "dns_server",
                        reason: format!("{addr} is not a server address"),
                    });
                }
                let mut name_server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut name_server.connections {
                    connection.port = addr.port();
                }
                let config = ResolverConfig::from_name_servers(vec![name_server]);
                let mut builder = TokioResolver::builder_with_config(config, provider);
                builder.options_mut().use_hosts_file = ResolveHosts::Never;
                builder
            }
            None => TokioResolver::builder(provider).map_err(|e| crate::Error::Config {
                setting: "dns_server",
                reason: format!(
                    "none set, and the system's DNS configuration cannot be read ({e})"
                ),
            })?,
        };
        let options: &mut ResolverOpts = builder.options_mut();
        // Two tries (one retry) per server, each with half the budget; `timeout` below bounds
        // the whole lookup whatever the system configuration says.
        options.timeout = (timeout / 2).max(Duration::from_millis(50));
        options.attempts = 1;
        options.cache_size = CACHE_SIZE;
        options.try_tcp_on_error = true;
        let resolver = builder.build().map_err(|e| crate::Error::Config {
            setting: "dns_server",
            reason: e.to_string(),
        })?;
        Ok(Self {
            resolver: Arc::new(resolver),
            timeout,
            custom: server.is_some(),
        })
    }

    /// SRV records of `name`, in RFC 2782 order (see [`order_srv`]).
    ///
    /// A name that does not exist or has no SRV record gives an empty list; a lone `.`
    /// target ("no service") too. Timeouts, refusals and server failures are errors.
    pub(crate) async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, String> {
        // Absolute: `_autodiscover._tcp.<domain>` is never a search-list candidate.
        let fqdn = absolute(name)?;
        let lookup = tokio::time::timeout(self.timeout, self.resolver.srv_lookup(fqdn)).await;
        let records: Vec<SrvRecord> = match lookup {
            Err(_) => return Err(format!("SRV {name}: no answer within {:?}", self.timeout)),
            Ok(Err(e)) if e.is_no_records_found() => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(describe("SRV", name, &e)),
            Ok(Ok(lookup)) => lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::SRV(srv) => Some(SrvRecord::from_rdata(srv)),
                    _ => None,
                })
                .collect(),
        };
        Ok(order_srv(records, &mut rand::rng()))
    }

    /// The IPv6 and IPv4 addresses of `host` (an IP literal is returned as is).
    ///
    /// A host that does not exist or has no address gives an empty list; failures to get an
    /// answer are errors.
    pub(crate) async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        let lookup = tokio::time::timeout(self.timeout, self.resolver.lookup_ip(host)).await;
        match lookup {
            Err(_) => Err(format!("{host}: no DNS answer within {:?}", self.timeout)),
            Ok(Err(e)) if e.is_no_records_found() => Ok(Vec::new()),
            Ok(Err(e)) => Err(describe("A/AAAA", host, &e)),
            Ok(Ok(ips)) => Ok(ips.iter().collect()),
        }
    }

    /// A resolver for reqwest (`ClientBuilder::dns_resolver`) when a DNS server is
    /// configured; `None` when the system's resolver is used, which reqwest already does.
    pub(crate) fn http_resolver(&self) -> Option<Arc<dyn reqwest::dns::Resolve>> {
        self.custom.then(|| {
            Arc::new(http::HttpResolver::new(self.clone())) as Arc<dyn reqwest::dns::Resolve>
        })
    }
}

/// `name` as an absolute DNS name (so no search domain is appended).
fn absolute(name: &str) -> Result<Name, String> {
    let mut parsed =
        Name::from_utf8(name).map_err(|e| format!("{name:?} is not a DNS name: {e}"))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

fn describe(kind: &str, name: &str, error: &NetError) -> String {
    format!("{kind} {name}: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_lose_the_trailing_dot_and_case() {
        let srv = hickory_resolver::proto::rr::rdata::SRV::new(
            1,
            2,
            443,
            Name::from_ascii("Mail.Contoso.COM.").unwrap(),
        );
        assert_eq!(
            SrvRecord::from_rdata(&srv),
            SrvRecord {
                priority: 1,
                weight: 2,
                port: 443,
                target: "mail.contoso.com".to_owned(),
            }
        );
    }

    #[test]
    fn the_root_target_becomes_empty() {
        let srv = hickory_resolver::proto::rr::rdata::SRV::new(0, 0, 0, Name::root());
        assert_eq!(SrvRecord::from_rdata(&srv).target, "");
    }

    #[test]
    fn names_are_made_absolute() {
        let name = absolute("_autodiscover._tcp.contoso.com").unwrap();
        assert!(name.is_fqdn());
        assert_eq!(name.to_ascii(), "_autodiscover._tcp.contoso.com.");
        assert!(absolute("bad..name").is_err());
    }

    #[tokio::test]
    async fn bad_settings_are_config_errors() {
        let zero_port = "127.0.0.1:0".parse().ok();
        let err = Dns::new(zero_port, Duration::from_secs(1)).unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::Config {
                    setting: "dns_server",
                    ..
                }
            ),
            "{err}"
        );
        let unspecified = "0.0.0.0:53".parse().ok();
        assert!(Dns::new(unspecified, Duration::from_secs(1)).is_err());
        let server = "127.0.0.1:53".parse().ok();
        let err = Dns::new(server, Duration::ZERO).unwrap_err();
        assert!(
            matches!(
                err,
                crate::Error::Config {
                    setting: "timeouts.dns",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn lookups_can_be_spawned() {
        fn assert_send<T: Send + 'static>(_: T) {}
        let dns = Dns::new("127.0.0.1:5353".parse().ok(), Duration::from_secs(1)).unwrap();
        let (a, b) = (dns.clone(), dns);
        assert_send(async move { a.srv("_autodiscover._tcp.contoso.test").await });
        assert_send(async move { b.lookup_ip("contoso.test").await });
    }

    #[tokio::test]
    async fn a_configured_server_replaces_reqwests_resolver() {
        let server = "127.0.0.1:5353".parse().ok();
        let dns = Dns::new(server, Duration::from_secs(1)).unwrap();
        assert!(dns.http_resolver().is_some());
    }
}
