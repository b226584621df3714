//! Settings, mirroring the email-notification page of the seed document.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

/// Microsoft's Exchange Online Autodiscover hosts: credentials may go to them whatever the
/// mailbox's domain (hybrid and cloud mailboxes redirect there).
pub const MICROSOFT_HOSTS: &[&str] = &[
    "outlook.office365.com",
    "autodiscover-s.outlook.com",
    "outlook.office.com",
    "autodiscover.outlook.com",
    "outlook.com",
    "office365.com",
];

/// Where to look and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Settings {
    /// "Autodiscover URL override": when set, only this URL is asked (and SCP is not used).
    ///
    /// It is the administrator's own choice, so credentials go to its origin (scheme, host
    /// and port) even outside the mailbox's domain; never over plain HTTP, and never to
    /// `autodiscover.<public suffix>`. A redirect it answers is judged like any other (same
    /// registrable domain or the allow-list).
    pub override_url: Option<Url>,
    /// "Allow HTTP redirection and DNS SRV record" (on by default).
    pub allow_redirect_and_srv: bool,
    /// "Enable SCP lookup": Active Directory service connection points.
    pub scp: Option<ScpSettings>,
    /// "Use internal EWS URL": prefer the internal URL when Autodiscover gives one.
    pub use_internal_ews_url: bool,
    /// "Use the Connectivity Node route": every connection goes through this proxy
    /// (`http://host:port` for HTTP CONNECT, `socks5://host:port`), credentials included,
    /// wherever the proxy is. It tunnels TLS to the target, so the credential rules apply to
    /// the target, not to the route.
    pub proxy: Option<Url>,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Extra trusted CA certificates (PEM), beside the system's (the Exchange and AD CAs).
    pub trusted_ca_pem: Vec<String>,
    /// Trust only `trusted_ca_pem`, not the system roots (for tests and closed networks).
    pub trusted_ca_only: bool,
    /// Hosts (and their subdomains) credentials may go to whatever the mailbox's domain
    /// (besides hosts of its own registrable domain and the override URL). Microsoft's
    /// Exchange Online hosts by default.
    pub credential_allow_list: Vec<String>,
    /// Port of HTTPS candidates (443; settable for tests).
    pub https_port: u16,
    /// Port of the plain-HTTP redirect probe (80; settable for tests).
    pub http_port: u16,
    /// A DNS server used for every lookup (A, AAAA, SRV) instead of the system's.
    pub dns_server: Option<SocketAddr>,
    /// Which Autodiscover protocols to use.
    pub protocols: Protocols,
    /// How long answers are remembered.
    pub cache: CacheSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            override_url: None,
            allow_redirect_and_srv: true,
            scp: None,
            use_internal_ews_url: false,
            proxy: None,
            timeouts: Timeouts::default(),
            trusted_ca_pem: Vec::new(),
            trusted_ca_only: false,
            credential_allow_list: MICROSOFT_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
            https_port: 443,
            http_port: 80,
            dns_server: None,
            protocols: Protocols::default(),
            cache: CacheSettings::default(),
        }
    }
}

/// SCP lookup in Active Directory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ScpSettings {
    /// "Domain controllers for SCP", tried in order (`dc1.corp.example.com`, or `host:port`).
    pub domain_controllers: Vec<String>,
    /// "Enable SSL for SCP": LDAPS (port 636) instead of LDAP (389).
    pub ldaps: bool,
    /// StartTLS on the LDAP port (ignored with `ldaps`).
    pub starttls: bool,
    /// Bind as this user (`user@domain` or `DOMAIN\user`); anonymous when absent.
    pub bind_user: Option<String>,
    /// Password of `bind_user`. Never printed by `Debug`.
    #[serde(default, skip_serializing)]
    pub bind_password: Option<SecretString>,
    /// The Active Directory site of this host: its SCPs rank first.
    pub site: Option<String>,
}

/// Timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Timeouts {
    /// One candidate: connect, TLS and answer.
    #[serde(with = "seconds")]
    pub candidate: Duration,
    /// A whole discovery, redirects included.
    #[serde(with = "seconds")]
    pub overall: Duration,
    /// LDAP connect and search, per domain controller.
    #[serde(with = "seconds")]
    pub ldap: Duration,
    /// One DNS query.
    #[serde(with = "seconds")]
    pub dns: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            candidate: Duration::from_secs(10),
            overall: Duration::from_secs(60),
            ldap: Duration::from_secs(5),
            dns: Duration::from_secs(4),
        }
    }
}

/// Which Autodiscover protocols are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Protocols {
    /// POX (`autodiscover.xml`).
    pub pox: bool,
    /// SOAP `GetUserSettings` (`autodiscover.svc`).
    pub soap: bool,
    /// Autodiscover v2 (`autodiscover.json`), unauthenticated.
    pub v2: bool,
}

impl Default for Protocols {
    fn default() -> Self {
        Self {
            pox: true,
            soap: true,
            v2: true,
        }
    }
}

/// Cache lifetimes and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct CacheSettings {
    /// How long a success is reused (1 hour, as Outlook).
    #[serde(with = "seconds")]
    pub success_ttl: Duration,
    /// How long a failure is remembered (5 minutes).
    #[serde(with = "seconds")]
    pub failure_ttl: Duration,
    /// The most mailboxes' answers kept (1,000, about a megabyte): past it, the oldest half is
    /// forgotten. A service that records where each mailbox is (as bems does in its store)
    /// needs the cache for the lookups of the moment, not for every mailbox it watches; the
    /// endpoint that answered for each domain is kept regardless.
    pub max_mailboxes: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            success_ttl: Duration::from_secs(3600),
            failure_ttl: Duration::from_secs(300),
            max_mailboxes: 1_000,
        }
    }
}

/// Serialises durations as (fractional) seconds.
pub(crate) mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let seconds = f64::deserialize(deserializer)?;
        Duration::try_from_secs_f64(seconds).map_err(serde::de::Error::custom)
    }
}
