//! The TOML scenario a simulator starts from: domains, mailbox servers, users, service
//! accounts, app registrations, and scripted Autodiscover behaviour per host.
//!
//! ```toml
//! profile = "exchange-2019"
//!
//! [[domains]]
//! name = "contoso.com"
//!
//! [[servers]]
//! name = "mbx1"
//! backends = 2
//!
//! [[users]]
//! smtp = "mara@contoso.com"
//! display_name = "Mara Whitley"
//! first_name = "Mara"
//! last_name = "Whitley"
//! server = "mbx1"
//!
//! [[service_accounts]]
//! name = "svc-bems"
//! upn = "svc-bems@contoso.com"
//! password = "Pa55w.rd"
//! rights = ["ApplicationImpersonation"]
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::SimError;

/// Which Exchange the simulator behaves like: its budgets and version numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Profile {
    /// Exchange Online: 10 hanging connections, 20 subscriptions per mailbox.
    ExchangeOnline,
    /// Exchange Server 2019: 10 hanging connections, 5000 subscriptions per mailbox.
    #[default]
    #[serde(rename = "exchange-2019")]
    Exchange2019,
    /// Exchange Server 2016 (the same budgets as 2019).
    #[serde(rename = "exchange-2016")]
    Exchange2016,
    /// Exchange Server 2013: 3 hanging connections.
    #[serde(rename = "exchange-2013")]
    Exchange2013,
}

/// Throttling numbers (Exchange's own by default, from the profile).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Budgets {
    /// Open `GetStreamingEvents` connections per account (`HangingConnectionLimit`).
    pub hanging_connections: usize,
    /// Non-streaming requests in flight per account (`EWSMaxConcurrency`).
    pub max_concurrency: usize,
    /// Subscriptions per target mailbox (`EWSMaxSubscriptions`).
    pub subscriptions_per_mailbox: usize,
    /// Subscription ids per `GetStreamingEvents` request.
    pub ids_per_request: usize,
    /// `BackOffMilliseconds` sent with `ErrorServerBusy`.
    pub back_off_ms: u64,
}

impl Budgets {
    /// Exchange's numbers for `profile`.
    pub fn for_profile(profile: Profile) -> Self {
        let (hanging, subscriptions) = match profile {
            Profile::ExchangeOnline => (10, 20),
            Profile::Exchange2019 | Profile::Exchange2016 => (10, 5000),
            Profile::Exchange2013 => (3, 5000),
        };
        Self {
            hanging_connections: hanging,
            max_concurrency: 27,
            subscriptions_per_mailbox: subscriptions,
            ids_per_request: 200,
            back_off_ms: 5000,
        }
    }
}

impl Default for Budgets {
    fn default() -> Self {
        Self::for_profile(Profile::default())
    }
}

/// A mail domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Domain {
    /// The domain (`contoso.com`).
    pub name: String,
    /// Host of the external EWS URL; `mail.<domain>` when empty.
    pub external_ews_host: String,
    /// Host of the internal EWS URL; `internal.mail.<domain>` when empty.
    pub internal_ews_host: String,
}

impl Domain {
    /// The external EWS host.
    pub fn external_host(&self) -> String {
        if self.external_ews_host.is_empty() {
            format!("mail.{}", self.name)
        } else {
            self.external_ews_host.clone()
        }
    }

    /// The internal EWS host.
    pub fn internal_host(&self) -> String {
        if self.internal_ews_host.is_empty() {
            format!("internal.mail.{}", self.name)
        } else {
            self.internal_ews_host.clone()
        }
    }
}

/// A mailbox server (a database availability group member): the unit of affinity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Server {
    /// The server name (`mbx1`).
    pub name: String,
    /// `GroupingInformation` Autodiscover returns for its mailboxes; the name upper-cased
    /// when empty.
    pub grouping_information: String,
    /// Back-end processes behind the front end. A request without affinity lands on one of
    /// them in turn; a subscription lives in one of them only.
    pub backends: usize,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            name: String::new(),
            grouping_information: String::new(),
            backends: 1,
        }
    }
}

/// A mailbox user.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct User {
    /// Primary SMTP address.
    pub smtp: String,
    /// Display name.
    pub display_name: String,
    /// Given name.
    pub first_name: String,
    /// Surname.
    pub last_name: String,
    /// Job title.
    pub job_title: String,
    /// Department.
    pub department: String,
    /// The mailbox server; the first server when empty.
    pub server: String,
    /// Password, for Basic and the password grant as this user.
    pub password: String,
    /// A photo file (JPEG or PNG); a generated one when empty and `photo` is true.
    pub photo_path: String,
    /// Whether the user has a photo.
    pub photo: bool,
    /// Who holds FullAccess on this user's mailbox (`Add-MailboxPermission -AccessRights
    /// FullAccess`): other users' SMTP addresses, service accounts' names or UPNs. They reach
    /// its folders by delegate access, naming the mailbox in `DistinguishedFolderId`; see
    /// [Delegate access and EWS](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/delegate-access-and-ews-in-exchange).
    /// Empty by default: only the owner (and impersonation) reaches the mailbox.
    pub full_access: Vec<String>,
    /// Delegates with permission on some folders only (as `AddDelegate` or Outlook's delegate
    /// settings grant them): each reaches exactly the folders listed.
    pub delegates: Vec<Delegate>,
}

/// A delegate with permission on some of a mailbox's folders
/// ([Delegate access and EWS](https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/delegate-access-and-ews-in-exchange)).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Delegate {
    /// The delegate: a user's SMTP address or a service account's name or UPN.
    pub user: String,
    /// The folders it may reach, by distinguished name (`inbox`, `calendar`, ...).
    pub folders: Vec<crate::world::mailbox::FolderKind>,
}

/// A right a service account can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Right {
    /// The `ApplicationImpersonation` RBAC role.
    ApplicationImpersonation,
}

/// A service account (on-premises style: Basic, NTLM, client certificate).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceAccount {
    /// Account name (`svc-bems`).
    pub name: String,
    /// User principal name (`svc-bems@contoso.com`).
    pub upn: String,
    /// Down-level logon domain (`CONTOSO`); the first label of the first domain, upper-cased,
    /// when empty.
    pub netbios_domain: String,
    /// Password.
    pub password: String,
    /// Rights.
    pub rights: Vec<Right>,
    /// Whether the simulator issues a TLS client certificate for this account.
    pub client_certificate: bool,
}

/// An application registered with the mock identity platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct App {
    /// Application (client) id.
    pub client_id: String,
    /// Client secret, for confidential clients.
    pub secret: String,
    /// Whether the simulator issues a certificate the app signs assertions with.
    pub certificate: bool,
    /// Application permissions granted (`full_access_as_app`).
    pub roles: Vec<String>,
    /// Delegated permissions granted (`EWS.AccessAsUser.All`, `User.ReadBasic.All`), each on
    /// the resources that expose it (EWS's on Exchange, `User.*` on Graph, `Mail.*` on both).
    pub scopes: Vec<String>,
    /// Redirect URIs for the authorization-code flow.
    pub redirect_uris: Vec<String>,
    /// Whether an administrator consented; without it token requests fail with AADSTS65001.
    pub consented: bool,
    /// Whether the app is a public client (no secret needed).
    pub public_client: bool,
}

impl Default for App {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            secret: String::new(),
            certificate: false,
            roles: Vec::new(),
            scopes: Vec::new(),
            redirect_uris: Vec::new(),
            consented: true,
            public_client: false,
        }
    }
}

/// What a host does when Autodiscover probes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum HostBehaviour {
    /// Answer with the mailbox's settings (the default).
    #[default]
    Settings,
    /// Answer `redirectAddr` / `RedirectAddress` to this address.
    RedirectAddr(String),
    /// Answer `redirectUrl` / `RedirectUrl` to this URL.
    RedirectUrl(String),
    /// Answer with this HTTP status and no Autodiscover body.
    HttpError(u16),
    /// Answer `200` with a body that is not Autodiscover XML.
    Malformed,
    /// Answer `200` with a body of this many bytes.
    Oversized(usize),
    /// A host that only redirects: plain HTTP answers 302 to this URL, HTTPS answers 404.
    HttpRedirect(String),
    /// Accept connections and never answer.
    Blackhole,
    /// Refuse connections (nothing listens on the host's address).
    Refuse,
}

/// Scripted behaviour of one host name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Host {
    /// Host name (`autodiscover.contoso.com`).
    pub name: String,
    /// The loopback address this host is served on when it needs its own (blackhole, refuse);
    /// `127.0.0.1` otherwise.
    pub address: String,
    /// What it does.
    pub behaviour: HostBehaviour,
    /// Delay before answering, in milliseconds.
    pub delay_ms: u64,
}

/// An SRV record the simulator's DNS server serves.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SrvEntry {
    /// Owner name (`_autodiscover._tcp.contoso.com`).
    pub name: String,
    /// Priority.
    pub priority: u16,
    /// Weight.
    pub weight: u16,
    /// Port.
    pub port: u16,
    /// Target host.
    pub target: String,
}

/// Microsoft Graph's behaviour (`[graph]`): subscription lifetimes and throttling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Graph {
    /// The longest lifetime of a subscription to Outlook messages, in minutes. Microsoft's
    /// pages say 10,080 (under 7 days) now and 4,230 before: a request for more is refused.
    pub max_lifetime_minutes: u32,
    /// Requests one app may have in flight per mailbox; more are answered 429
    /// (`MailboxConcurrency`).
    pub mailbox_concurrency: usize,
    /// `Retry-After` (seconds) of a 429 for too many concurrent requests.
    pub retry_after_seconds: u32,
    /// Most change notifications in one POST to a webhook.
    pub batch_size: usize,
    /// POSTs in flight at once to one notification URL; notifications that become ready
    /// meanwhile, of any subscription with that URL, wait and go together. Microsoft does not
    /// document the number.
    pub posts_per_url: usize,
}

impl Default for Graph {
    fn default() -> Self {
        Self {
            max_lifetime_minutes: 10_080,
            mailbox_concurrency: 4,
            retry_after_seconds: 1,
            batch_size: 100,
            posts_per_url: 4,
        }
    }
}

/// Extended Protection for Authentication on EWS (on by default from Exchange 2019 CU14):
/// whether NTLM must carry the TLS channel binding of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ExtendedProtection {
    /// Channel bindings are ignored.
    None,
    /// A binding, when sent, must match; none at all is accepted.
    #[default]
    Allow,
    /// A matching binding is required.
    Require,
}

/// A provider of IIS's Windows authentication on EWS (`<windowsAuthentication><providers>`):
/// each one is offered as a `WWW-Authenticate` scheme, in the configured order, and only the
/// offered schemes are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum WindowsAuthProvider {
    /// `Negotiate` (SPNEGO). Without Kerberos, Windows clients send raw NTLM tokens inside
    /// it, and IIS answers with raw NTLM tokens under the same scheme.
    #[serde(rename = "Negotiate")]
    Negotiate,
    /// `NTLM`.
    #[serde(rename = "NTLM")]
    Ntlm,
}

impl WindowsAuthProvider {
    /// The scheme's name in `WWW-Authenticate` and `Authorization`.
    pub fn scheme(self) -> &'static str {
        match self {
            Self::Negotiate => "Negotiate",
            Self::Ntlm => "NTLM",
        }
    }
}

fn default_windows_auth_providers() -> Vec<WindowsAuthProvider> {
    vec![WindowsAuthProvider::Negotiate, WindowsAuthProvider::Ntlm]
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Scenario {
    /// Which Exchange to behave like.
    pub profile: Profile,
    /// Budget overrides; the profile's numbers when absent.
    pub budgets: Option<Budgets>,
    /// Seconds between streaming heartbeats (45 as Exchange).
    pub heartbeat_seconds: u64,
    /// Divides every protocol delay (heartbeats, push retries, connection timeouts): 1000
    /// makes 30 s take 30 ms. For tests.
    pub time_scale: f64,
    /// Days an event stays in a mailbox's event table; older watermarks are invalid.
    pub watermark_retention_days: u64,
    /// Identity tenant id (a GUID or a name).
    pub tenant: String,
    /// Host name of the identity platform.
    pub login_host: String,
    /// Mail domains.
    pub domains: Vec<Domain>,
    /// Mailbox servers.
    pub servers: Vec<Server>,
    /// Users with mailboxes.
    pub users: Vec<User>,
    /// Service accounts.
    pub service_accounts: Vec<ServiceAccount>,
    /// Registered applications.
    pub apps: Vec<App>,
    /// Scripted hosts.
    pub hosts: Vec<Host>,
    /// A token the admin endpoint (`/_sim/...`) requires, when set.
    pub admin_token: Option<String>,
    /// SRV records for the simulator's DNS server.
    pub srv: Vec<SrvEntry>,
    /// Extended Protection for NTLM on EWS (`none`, `allow`, `require`).
    pub extended_protection: ExtendedProtection,
    /// The Windows authentication providers of EWS, in the order offered: `["Negotiate",
    /// "NTLM"]` as IIS installs them; `["Negotiate"]` is IIS with the NTLM provider removed
    /// (a common hardening), where NTLM still works inside `Negotiate`.
    pub windows_auth_providers: Vec<WindowsAuthProvider>,
    /// Microsoft Graph's subscription lifetimes and throttling.
    pub graph: Graph,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            profile: Profile::default(),
            budgets: None,
            heartbeat_seconds: 45,
            time_scale: 1.0,
            watermark_retention_days: 30,
            tenant: "contoso".to_owned(),
            login_host: "login.microsoftonline.test".to_owned(),
            domains: Vec::new(),
            servers: Vec::new(),
            users: Vec::new(),
            service_accounts: Vec::new(),
            apps: Vec::new(),
            hosts: Vec::new(),
            admin_token: None,
            srv: Vec::new(),
            extended_protection: ExtendedProtection::default(),
            windows_auth_providers: default_windows_auth_providers(),
            graph: Graph::default(),
        }
    }
}

impl Scenario {
    /// The text of the sample scenario, `scenarios/contoso.toml`: Contoso's on-premises
    /// Exchange with a few users, its identity platform app and DNS.
    pub const CONTOSO_TOML: &'static str = include_str!("../scenarios/contoso.toml");

    /// The sample scenario ([`Scenario::CONTOSO_TOML`]), read.
    pub fn contoso() -> Result<Self, SimError> {
        Self::from_toml(Self::CONTOSO_TOML)
    }

    /// Reads a scenario from TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SimError> {
        let scenario: Self = toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Reads a scenario file.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SimError::Scenario(format!("{}: {e}", path.display())))?;
        Self::from_toml(&text)
    }

    /// The budgets in force: the overrides, else the profile's.
    pub fn budgets(&self) -> Budgets {
        self.budgets
            .clone()
            .unwrap_or_else(|| Budgets::for_profile(self.profile))
    }

    /// Checks references between sections; names the first problem.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |what: String| Err(SimError::Scenario(what));
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return bad(format!(
                "time_scale must be positive, got {}",
                self.time_scale
            ));
        }
        if self.heartbeat_seconds == 0 {
            return bad("heartbeat_seconds must be at least 1".into());
        }
        for (i, server) in self.servers.iter().enumerate() {
            if server.name.is_empty() {
                return bad(format!("servers[{i}] has no name"));
            }
            if server.backends == 0 {
                return bad(format!("server {} needs at least one backend", server.name));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for user in &self.users {
            let Some((_, domain)) = user.smtp.rsplit_once('@') else {
                return bad(format!("user {:?} has no @domain", user.smtp));
            };
            if !self
                .domains
                .iter()
                .any(|d| d.name.eq_ignore_ascii_case(domain))
            {
                return bad(format!(
                    "user {} is in domain {domain}, which is not in [[domains]]",
                    user.smtp
                ));
            }
            if !user.server.is_empty() && !self.servers.iter().any(|s| s.name == user.server) {
                return bad(format!(
                    "user {} is on server {}, which is not in [[servers]]",
                    user.smtp, user.server
                ));
            }
            if !seen.insert(user.smtp.to_ascii_lowercase()) {
                return bad(format!("user {} appears twice", user.smtp));
            }
        }
        if !self.users.is_empty() && self.servers.is_empty() {
            return bad("users need at least one [[servers]] entry".into());
        }
        for app in &self.apps {
            if app.client_id.is_empty() {
                return bad("an [[apps]] entry has no client_id".into());
            }
        }
        if self.graph.max_lifetime_minutes < 45 {
            return bad(format!(
                "graph.max_lifetime_minutes must be at least 45 (the shortest lifetime), got {}",
                self.graph.max_lifetime_minutes
            ));
        }
        if self.graph.mailbox_concurrency == 0
            || self.graph.batch_size == 0
            || self.graph.posts_per_url == 0
        {
            return bad(
                "graph.mailbox_concurrency, graph.batch_size and graph.posts_per_url must be at least 1"
                    .into(),
            );
        }
        for host in &self.hosts {
            if !host.address.is_empty() && host.address.parse::<std::net::Ipv4Addr>().is_err() {
                return bad(format!(
                    "host {} has an invalid address {:?}",
                    host.name, host.address
                ));
            }
        }
        Ok(())
    }
}
