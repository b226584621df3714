//! Starting the simulator, and the handle tests and integrators drive it with.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::identity::Identity;
use crate::net::{self, Mode};
use crate::scenario::{HostBehaviour, Scenario};
use crate::tls::{CertifiedKey, Pki};
use crate::world::World;
use crate::world::mailbox::FolderKind;
use crate::{NewMessage, SimError, admin, autodiscover, ews, graph};

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) world: Arc<World>,
    pub(crate) pki: Pki,
    pub(crate) identity: Identity,
    /// The HTTP client push callbacks are sent with.
    pub(crate) push_client: reqwest::Client,
    pub(crate) shutdown: CancellationToken,
    /// Autodiscover's request log and run-time host behaviour.
    pub(crate) autodiscover: autodiscover::State,
    /// Microsoft Graph: subscriptions, throttling, the webhook client.
    pub(crate) graph: graph::GraphState,
}

/// Configures and starts a simulator.
#[derive(Debug)]
pub struct SimBuilder {
    scenario: Scenario,
    https: SocketAddr,
    http: SocketAddr,
    push_trusted_ca: Vec<String>,
    dns: Option<Option<SocketAddr>>,
    dns_records: Vec<crate::dns::DnsRecord>,
}

impl Default for SimBuilder {
    fn default() -> Self {
        Self {
            scenario: Scenario::default(),
            https: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            http: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            push_trusted_ca: Vec::new(),
            dns: None,
            dns_records: Vec::new(),
        }
    }
}

impl SimBuilder {
    /// The scenario to serve.
    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.scenario = scenario;
        self
    }

    /// The HTTPS listen address (default `127.0.0.1:0`, an ephemeral port).
    pub fn https(mut self, address: SocketAddr) -> Self {
        self.https = address;
        self
    }

    /// The plain HTTP listen address (default `127.0.0.1:0`).
    pub fn http(mut self, address: SocketAddr) -> Self {
        self.http = address;
        self
    }

    /// A CA (PEM) push callbacks and Graph webhooks trust, for subscribers that listen over
    /// TLS with a certificate of another CA (the simulator's own CA is always trusted).
    pub fn push_trusted_ca(mut self, pem: impl Into<String>) -> Self {
        self.push_trusted_ca.push(pem.into());
        self
    }

    /// Also serve DNS (on a free loopback port): every host name of the scenario resolves to
    /// the simulator (scripted hosts to their own address), plus the scenario's SRV records.
    pub fn dns(mut self, enabled: bool) -> Self {
        self.dns = enabled.then_some(None);
        self
    }

    /// Serve DNS on this address (UDP and TCP).
    pub fn dns_on(mut self, address: SocketAddr) -> Self {
        self.dns = Some(Some(address));
        self
    }

    /// An extra record for the simulator's DNS server (a host outside the scenario, ...).
    pub fn dns_record(mut self, record: crate::dns::DnsRecord) -> Self {
        self.dns_records.push(record);
        self
    }

    /// Binds the listeners and starts serving.
    pub async fn start(self) -> Result<Sim, SimError> {
        self.scenario.validate()?;
        let world = Arc::new(World::new(self.scenario));
        let pki = Pki::new(&host_names(&world.scenario))?;
        let identity = Identity::new(&world, &pki)?;
        let push_client = outbound_client(
            reqwest::Client::builder().timeout(Duration::from_secs(30)),
            &pki,
            &self.push_trusted_ca,
        )?;
        let graph_client = outbound_client(
            reqwest::Client::builder().connect_timeout(Duration::from_secs(10)),
            &pki,
            &self.push_trusted_ca,
        )?;
        let shutdown = CancellationToken::new();
        let ctx = Arc::new(Ctx {
            world: Arc::clone(&world),
            pki,
            identity,
            push_client,
            shutdown: shutdown.clone(),
            autodiscover: autodiscover::State::default(),
            graph: graph::GraphState::new(graph_client, &world, shutdown.clone()),
        });
        let router = router(Arc::clone(&ctx));
        let tls = TlsAcceptor::from(ctx.pki.server_config(&[b"http/1.1"])?);

        let https = bind(self.https).await?;
        let http = bind(self.http).await?;
        let https_addr = local(&https)?;
        let http_addr = local(&http)?;
        world.https_port.store(https_addr.port(), Ordering::Relaxed);
        world.http_port.store(http_addr.port(), Ordering::Relaxed);
        tokio::spawn(net::serve(
            https,
            Some(tls.clone()),
            router.clone(),
            Mode::Serve,
            shutdown.clone(),
        ));
        tokio::spawn(net::serve(
            http,
            None,
            router.clone(),
            Mode::Serve,
            shutdown.clone(),
        ));

        // Hosts with their own loopback address: served, black-holed, or refused.
        let mut extra = std::collections::BTreeSet::new();
        for host in &world.scenario.hosts {
            let Ok(ip) = host.address.parse::<Ipv4Addr>() else {
                continue;
            };
            if ip == Ipv4Addr::LOCALHOST || !extra.insert(ip) {
                continue;
            }
            let mode = match host.behaviour {
                HostBehaviour::Refuse => continue,
                HostBehaviour::Blackhole => Mode::Blackhole,
                _ => Mode::Serve,
            };
            let https = bind(SocketAddr::from((ip, https_addr.port()))).await?;
            let http = bind(SocketAddr::from((ip, http_addr.port()))).await?;
            tokio::spawn(net::serve(
                https,
                Some(tls.clone()),
                router.clone(),
                mode,
                shutdown.clone(),
            ));
            tokio::spawn(net::serve(
                http,
                None,
                router.clone(),
                mode,
                shutdown.clone(),
            ));
        }
        let dns = match self.dns {
            Some(address) => {
                let mut records = dns_records(&world.scenario);
                records.extend(self.dns_records);
                Some(crate::dns::DnsServer::start_on(address, records).await?)
            }
            None => None,
        };
        tracing::info!(%https_addr, %http_addr, dns = ?dns.as_ref().map(|d| d.addr), "exchange-sim listening");
        Ok(Sim {
            ctx,
            https_addr,
            http_addr,
            dns,
        })
    }
}

/// A client for the simulator's own calls out (EWS push notifications, Graph's validation
/// requests and notifications): it follows no redirect and trusts the simulator's CA
/// (listeners with [`Sim::issue_server_certificate`]) and `push_trusted_ca`.
fn outbound_client(
    builder: reqwest::ClientBuilder,
    pki: &Pki,
    trusted: &[String],
) -> Result<reqwest::Client, SimError> {
    let mut builder = builder.redirect(reqwest::redirect::Policy::none());
    for pem in std::iter::once(pki.ca_pem()).chain(trusted.iter().map(String::as_str)) {
        let cert = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|e| SimError::Tls(e.to_string()))?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build().map_err(|e| SimError::Tls(e.to_string()))
}

async fn bind(address: SocketAddr) -> Result<TcpListener, SimError> {
    TcpListener::bind(address)
        .await
        .map_err(|source| SimError::Bind {
            address: address.to_string(),
            source,
        })
}

fn local(listener: &TcpListener) -> Result<SocketAddr, SimError> {
    listener.local_addr().map_err(|source| SimError::Bind {
        address: "listener".into(),
        source,
    })
}

/// Every host name a client may reach the simulator by: the certificate covers them all.
fn host_names(scenario: &Scenario) -> Vec<String> {
    let mut names = vec![scenario.login_host.clone()];
    for domain in &scenario.domains {
        names.push(domain.name.clone());
        names.push(format!("autodiscover.{}", domain.name));
        names.push(domain.external_host());
        names.push(domain.internal_host());
    }
    names.extend(scenario.hosts.iter().map(|h| h.name.clone()));
    names.push("outlook.office365.com".into());
    names.push(graph::GRAPH_HOST.into());
    names.retain(|n| !n.is_empty());
    names
}

/// A records for every host name (scripted hosts at their own address) and the SRV records.
fn dns_records(scenario: &Scenario) -> Vec<crate::dns::DnsRecord> {
    use crate::dns::DnsRecord;
    let own: std::collections::BTreeMap<String, Ipv4Addr> = scenario
        .hosts
        .iter()
        .filter_map(|h| Some((h.name.to_ascii_lowercase(), h.address.parse().ok()?)))
        .collect();
    let mut names: Vec<String> = host_names(scenario)
        .into_iter()
        .map(|n| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let mut records: Vec<DnsRecord> = names
        .iter()
        .map(|name| DnsRecord::a(name, own.get(name).copied().unwrap_or(Ipv4Addr::LOCALHOST)))
        .collect();
    records.extend(
        scenario
            .srv
            .iter()
            .map(|s| DnsRecord::srv(&s.name, s.priority, s.weight, s.port, &s.target)),
    );
    records
}

fn router(ctx: Arc<Ctx>) -> Router {
    Router::new()
        .merge(ews::routes())
        .merge(autodiscover::routes())
        .merge(identity::routes())
        .merge(graph::routes())
        .nest("/_sim", admin::routes())
        .with_state(ctx)
}

use crate::identity;

/// Counts for load reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Subscriptions held by all back ends.
    pub subscriptions: usize,
    /// Open streaming connections.
    pub streaming_connections: usize,
    /// Envelopes written to streaming connections.
    pub streamed_envelopes: u64,
    /// Events written to streaming connections.
    pub streamed_events: u64,
    /// Push notifications answered OK.
    pub push_notifications: u64,
    /// Push callbacks that failed or were not answered OK (each is retried 30 s later,
    /// doubling).
    pub push_callbacks_failed: u64,
    /// EWS `GetItem` requests answered (an injected [`Sim::fail_item_reads`] failure
    /// included): with [`GraphStats::message_reads`](crate::GraphStats::message_reads), the
    /// calls a client made for message details.
    pub item_reads: u64,
    /// Messages EWS `GetItem` returned (ids answered with an error not counted).
    pub items_read: u64,
}

/// A running simulator. Dropping it stops every listener and connection.
#[derive(Debug)]
pub struct Sim {
    pub(crate) ctx: Arc<Ctx>,
    https_addr: SocketAddr,
    http_addr: SocketAddr,
    dns: Option<crate::dns::DnsServer>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.ctx.shutdown.cancel();
    }
}

impl Sim {
    /// A builder with an empty scenario and ephemeral loopback ports.
    pub fn builder() -> SimBuilder {
        SimBuilder::default()
    }

    /// The HTTPS listener's address.
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The plain HTTP listener's address.
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// The DNS server's address, when [`SimBuilder::dns`] started one.
    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns.as_ref().map(|d| d.addr)
    }

    /// The DNS server, when [`SimBuilder::dns`] started one (its query log shows every name
    /// clients looked up).
    pub fn dns(&self) -> Option<&crate::dns::DnsServer> {
        self.dns.as_ref()
    }

    /// The CA certificate (PEM) clients must trust.
    pub fn ca_pem(&self) -> &str {
        self.ctx.pki.ca_pem()
    }

    /// The scenario being served.
    pub fn scenario(&self) -> &Scenario {
        &self.ctx.world.scenario
    }

    /// `https://<host>:<port>` for a host name (resolve it to 127.0.0.1).
    pub fn https_base(&self, host: &str) -> String {
        format!("https://{host}:{}", self.https_addr.port())
    }

    /// The external EWS URL Autodiscover gives for a mailbox.
    pub fn ews_url(&self, smtp: &str) -> Result<String, SimError> {
        let user = self.user(smtp)?;
        Ok(self.ctx.world.external_ews_url(user))
    }

    /// The internal EWS URL Autodiscover gives for a mailbox.
    pub fn internal_ews_url(&self, smtp: &str) -> Result<String, SimError> {
        let user = self.user(smtp)?;
        Ok(self.ctx.world.internal_ews_url(user))
    }

    /// `GroupingInformation` of a mailbox (its server's).
    pub fn grouping_information(&self, smtp: &str) -> Result<String, SimError> {
        let user = self.user(smtp)?;
        Ok(self.ctx.world.grouping_information(user))
    }

    fn user(&self, smtp: &str) -> Result<usize, SimError> {
        self.ctx
            .world
            .directory
            .user_by_smtp(smtp)
            .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))
    }

    fn mailbox(&self, smtp: &str) -> Result<&Arc<crate::world::mailbox::Mailbox>, SimError> {
        self.ctx
            .world
            .mailbox(smtp)
            .ok_or_else(|| SimError::NotFound(format!("mailbox {smtp}")))
    }

    /// Delivers a new message to a mailbox's inbox; returns its EWS item id.
    pub fn deliver_mail(&self, smtp: &str, subject: &str, from: &str) -> Result<String, SimError> {
        let mailbox = self.mailbox(smtp)?;
        let number = mailbox.deliver(self.ctx.world.clock.now(), subject, from);
        Ok(mailbox.item_id(number, 0).id)
    }

    /// Delivers `message` (subject, sender with an optional display name, importance) to a
    /// mailbox's inbox; returns its EWS item id.
    pub fn deliver_message(&self, smtp: &str, message: &NewMessage) -> Result<String, SimError> {
        let mailbox = self.mailbox(smtp)?;
        let number = mailbox.deliver_message(self.ctx.world.clock.now(), message);
        Ok(mailbox.item_id(number, 0).id)
    }

    /// Marks a message read (or unread).
    pub fn mark_read(&self, smtp: &str, item_id: &str, read: bool) -> Result<(), SimError> {
        let mailbox = self.mailbox(smtp)?;
        let number = mailbox
            .parse_item_id(item_id)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))?;
        mailbox
            .set_read(self.ctx.world.clock.now(), number, read)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))
    }

    /// Moves a message to another folder; returns its new item id.
    pub fn move_message(
        &self,
        smtp: &str,
        item_id: &str,
        to: FolderKind,
    ) -> Result<String, SimError> {
        let mailbox = self.mailbox(smtp)?;
        let number = mailbox
            .parse_item_id(item_id)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))?;
        let new = mailbox
            .move_item(self.ctx.world.clock.now(), number, to)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))?;
        Ok(mailbox.item_id(new, 0).id)
    }

    /// Deletes a message for good.
    pub fn delete_message(&self, smtp: &str, item_id: &str) -> Result<(), SimError> {
        let mailbox = self.mailbox(smtp)?;
        let number = mailbox
            .parse_item_id(item_id)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))?;
        mailbox
            .delete_item(self.ctx.world.clock.now(), number)
            .ok_or_else(|| SimError::NotFound(format!("item {item_id}")))
    }

    /// Unread messages in a mailbox's inbox.
    pub fn unread_count(&self, smtp: &str) -> Result<i32, SimError> {
        Ok(self.mailbox(smtp)?.unread(FolderKind::Inbox))
    }

    /// Restarts every back end of a server: its subscriptions are lost, its connections cut.
    pub fn restart_server(&self, server: &str) -> Result<usize, SimError> {
        admin::restart_server(&self.ctx.world, server)
    }

    /// Moves a mailbox to another server: its subscriptions fail with
    /// `ErrorInvalidSubscription` and Autodiscover gives the new `GroupingInformation`.
    pub fn move_mailbox(&self, smtp: &str, server: &str) -> Result<(), SimError> {
        admin::move_mailbox(&self.ctx.world, smtp, server)
    }

    /// The next `n` EWS requests get `ErrorServerBusy` with `BackOffMilliseconds`.
    pub fn server_busy(&self, n: u64) {
        self.ctx.world.faults.busy(n);
    }

    /// The next `n` EWS requests have their connection dropped without an answer.
    pub fn drop_connections(&self, n: u64) {
        self.ctx.world.faults.drop_connections(n);
    }

    /// The next `n` EWS answers are malformed XML.
    pub fn malformed_answers(&self, n: u64) {
        self.ctx.world.faults.malformed(n);
    }

    /// The next `n` EWS requests that replay an `X-BackEndOverrideCookie` lose it on the way
    /// and land on another back end of the cookie's server, which does not hold the group's
    /// subscriptions (`ErrorSubscriptionNotFound`).
    pub fn ignore_affinity(&self, n: u64) {
        self.ctx.world.faults.ignore_affinity(n);
    }

    /// The next `n` push notifications that carry events are lost on the way to the subscriber
    /// while the server takes them as delivered (a proxy answered for it): the subscriber
    /// learns of the gap only from the next notification's `PreviousWatermark`.
    pub fn lose_push_notifications(&self, n: u64) {
        self.ctx.world.faults.lose_push(n);
    }

    /// Every `Subscribe` answer waits `delay` after the subscription is made (zero to stop):
    /// a push subscription's first callback may then come before the subscriber has read its
    /// id.
    pub fn slow_subscribe_answers(&self, delay: Duration) {
        self.ctx.world.faults.slow_subscribe_answers(delay);
    }

    /// Every EWS answer waits `delay` first (zero to stop).
    pub fn slow_answers(&self, delay: Duration) {
        self.ctx.world.faults.slow(delay);
    }

    /// Every item read, EWS `GetItem` and Graph's `GET /users/{id}/messages/{id}`, waits
    /// `delay` before it is answered (zero to stop); other requests are not slowed.
    pub fn slow_item_reads(&self, delay: Duration) {
        self.ctx.world.faults.slow_item_reads(delay);
    }

    /// The next `n` item reads fail: EWS `GetItem` with `ErrorServerBusy` (as
    /// [`server_busy`](Self::server_busy) answers), Graph's message GET with 503.
    pub fn fail_item_reads(&self, n: u64) {
        self.ctx.world.faults.fail_item_reads(n);
    }

    /// Cuts every open streaming connection now.
    pub fn cut_streams(&self) {
        self.ctx.world.faults.cut_streams();
    }

    /// Moves simulated time forward: events older than the retention window disappear and
    /// watermarks pointing at them become invalid.
    pub fn advance_clock(&self, by: Duration) {
        self.ctx.world.clock.advance(by);
    }

    /// Changes the budgets in force.
    pub fn set_budgets(&self, budgets: crate::scenario::Budgets) {
        *self
            .ctx
            .world
            .throttle
            .limits
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = budgets;
    }

    /// A TLS client certificate for a service account (mapped to it by its common name).
    pub fn client_certificate(&self, account: &str) -> Result<CertifiedKey, SimError> {
        let exists = self
            .ctx
            .world
            .directory
            .accounts
            .iter()
            .any(|a| a.name == account && a.client_certificate);
        if !exists {
            return Err(SimError::NotFound(format!(
                "service account {account} with client_certificate = true"
            )));
        }
        self.ctx.pki.client_certificate(account)
    }

    /// The identity platform's handle: token endpoint URLs, app certificates, revocation.
    pub fn identity(&self) -> identity::IdentityHandle<'_> {
        identity::IdentityHandle::new(&self.ctx, self.https_addr.port())
    }

    /// Microsoft Graph's handle: subscriptions, lifecycle notifications, throttling, counts.
    pub fn graph(&self) -> graph::GraphHandle<'_> {
        graph::GraphHandle::new(&self.ctx, self.https_addr.port())
    }

    /// The simulator's clock now: wall time plus every [`advance_clock`](Self::advance_clock)
    /// (subscription expiries follow it).
    pub fn now(&self) -> time::OffsetDateTime {
        self.ctx.world.clock.now()
    }

    /// A server certificate for `names` (and 127.0.0.1) signed by the simulator's CA, which
    /// Graph's webhook client trusts: for a webhook listener over TLS.
    pub fn issue_server_certificate(&self, names: &[&str]) -> Result<CertifiedKey, SimError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        self.ctx.pki.server_certificate(&names)
    }

    /// Counts for load reports.
    pub fn stats(&self) -> Stats {
        ews::stats(&self.ctx.world)
    }
}
