//! The running service: its tenants (each with its locator, authenticator, watcher and
//! pipeline), device registration, and start-up from what the store holds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use autodiscover::MailboxLocator;
use ews_proto::soap::ExchangeVersion;
use ews_subscriptions::{
    Mode, PullSettings, PushSettings as EwsPushSettings, StreamingSettings, WatchSettings, Watcher,
};
use exchange_auth::{AuthStatus, Authenticator, PassiveAuth, TransportSettings};
use mailbox_watch::{Events, MailboxWatcher, WatcherStatus};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::alerts::decide::Alerting;
use crate::cluster::Node;
pub use crate::compose::{connect, transport};
use crate::courier::Courier;
use crate::details::{EwsDetails, TenantDetails};
use crate::metrics::{Gauges, Metrics};
use crate::pipeline::{Pipeline, UnreadCounts};
use crate::registration::{self, RegistrationLimit};
use bems_settings::{DeviceSettings, SubscriptionMode, TenantSettings};
use bems_store::model::{MailboxRecord, NewDevice, TenantId};
use bems_store::{MailboxStore, NodeId, Store, StoreError};

use crate::adapters::{KeepRecords, TenantWatermarks};
use crate::error::StartError;
use crate::relocate::Rediscover;
use crate::unread::EwsUnread;
use crate::verify::{RegistrationVerifier, VerifyError};

/// Why a registration was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The tenant is not configured here.
    #[error("unknown tenant {0}")]
    UnknownTenant(String),
    /// The caller's token was refused.
    #[error(transparent)]
    Unauthenticated(#[from] VerifyError),
    /// The token is someone else's.
    #[error(
        "the token is {caller}'s, not {mailbox}'s: a device registers only for its own user's mailbox"
    )]
    Forbidden {
        /// Who the token names.
        caller: String,
        /// The mailbox asked for.
        mailbox: String,
    },
    /// The user is not entitled to notifications.
    #[error(
        "{0} is not entitled to email notifications: users without the entitlement receive none, and the tenant's [tenants.entitlement] names neither the mailbox nor its domain (no one is entitled until it does; mode = \"all\" entitles everyone)"
    )]
    Unentitled(String),
    /// The request is malformed.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The registration conflicts with what is stored: the push token is another mailbox's,
    /// or the mailbox has its most devices.
    #[error("{0}")]
    Conflict(String),
    /// The user registered too often in the last minute.
    #[error(
        "at most {per_minute} registrations a minute per user: try again in {} s",
        retry_after.as_secs().max(1)
    )]
    TooFrequent {
        /// The bound.
        per_minute: u32,
        /// How long until the next minute begins.
        retry_after: Duration,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

impl RegisterError {
    fn from_store(error: StoreError) -> Self {
        match error {
            StoreError::Conflict { rule, .. } => Self::Conflict(rule),
            StoreError::Invalid { rule, .. } => Self::Invalid {
                field: "device",
                reason: rule,
            },
            other => Self::Store(other.to_string()),
        }
    }
}

/// One tenant at run time.
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Its settings.
    pub settings: TenantSettings,
    /// Finds its mailboxes.
    pub locator: Arc<dyn MailboxLocator>,
    /// Authenticates to its Exchange.
    pub auth: Arc<dyn Authenticator>,
    /// The `RequestServerVersion` of its EWS calls: its watcher's ([`WatchSettings::version`]),
    /// which the unread count, Directory Lookup and test connection send too.
    pub ews_version: ExchangeVersion,
    /// Passive authentication's sign-in, when that is the authentication type.
    pub passive: Option<Arc<PassiveAuth>>,
    /// Passive authentication's redirect URI (`<server.public_url>/oauth/<tenant>/callback`),
    /// when the service has a public URL; other sign-ins of the tenant (Graph's) use it too.
    pub redirect_uri: Option<Url>,
    /// Watches its mailboxes (on EWS).
    pub watcher: Arc<dyn MailboxWatcher>,
    /// What Exchange calls back for the watcher's push subscriptions, mounted at
    /// `/ews/<tenant>` by the API.
    pub callbacks: Option<axum::Router>,
    /// Checks registrations.
    pub verifier: Arc<dyn RegistrationVerifier>,
    /// With "use Microsoft Graph": the Graph watcher and the move from EWS.
    pub graph: Option<crate::graph::GraphTenant>,
    /// How it reaches Exchange and Graph: its settings' trusted certificates and proxy, with
    /// the overrides' trusted CAs and fixed addresses ([`transport`]).
    pub transport: TransportSettings,
    /// What its new mail's alerts say, and the counts of details asked.
    pub alerting: Arc<Alerting>,
}

impl std::fmt::Debug for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenant")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a tenant is made of, each part behind its trait, for [`Service::compose`].
///
/// [`Service::start`] makes them from the tenant's settings (Autodiscover, the authenticator,
/// an EWS watcher, with "use Microsoft Graph" a Graph watcher merged into the same events);
/// a test composes a tenant of stubs.
#[non_exhaustive]
pub struct TenantParts {
    /// Its settings (the id, the entitlement, the devices' rules).
    pub settings: TenantSettings,
    /// Finds its mailboxes.
    pub locator: Arc<dyn MailboxLocator>,
    /// Authenticates to its Exchange.
    pub auth: Arc<dyn Authenticator>,
    /// Watches its mailboxes (on EWS).
    pub watcher: Arc<dyn MailboxWatcher>,
    /// The events the pipeline reads: the watcher's, merged with the Graph watcher's.
    pub events: Events,
    /// Checks registrations.
    pub verifier: Arc<dyn RegistrationVerifier>,
    /// Asks a mailbox's unread count when the events do not say it (by default `GetFolder`
    /// through EWS with `auth`, at the URL the store records).
    pub counts: Option<Arc<dyn UnreadCounts>>,
    /// Asks the details of new mail (by default `GetItem` through EWS with `auth`).
    pub details: Option<Arc<dyn crate::details::MailDetails>>,
    /// Passive authentication's sign-in, when that is the authentication type.
    pub passive: Option<Arc<PassiveAuth>>,
    /// Passive authentication's redirect URI.
    pub redirect_uri: Option<Url>,
    /// What Exchange calls back for the watcher's push subscriptions.
    pub callbacks: Option<axum::Router>,
    /// With "use Microsoft Graph": the Graph watcher and the move from EWS.
    pub graph: Option<crate::graph::GraphTenant>,
    /// How it reaches Exchange and Graph (by default its settings' transport).
    pub transport: TransportSettings,
    /// The `RequestServerVersion` of its EWS calls (by default Exchange2013, the watchers' default).
    pub ews_version: ExchangeVersion,
}

impl TenantParts {
    /// A tenant of `settings` whose mailboxes `locator` finds and `watcher` watches,
    /// reporting to `events`; `auth` authenticates to Exchange, `verifier` checks
    /// registrations. Nothing else: no Graph, no callbacks, no passive sign-in.
    pub fn new(
        settings: TenantSettings,
        locator: Arc<dyn MailboxLocator>,
        auth: Arc<dyn Authenticator>,
        watcher: Arc<dyn MailboxWatcher>,
        events: Events,
        verifier: Arc<dyn RegistrationVerifier>,
    ) -> Self {
        Self {
            transport: settings.transport(),
            settings,
            locator,
            auth,
            watcher,
            events,
            verifier,
            counts: None,
            details: None,
            passive: None,
            redirect_uri: None,
            callbacks: None,
            graph: None,
            ews_version: ExchangeVersion::Exchange2013,
        }
    }
}

impl std::fmt::Debug for TenantParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantParts")
            .field("id", &self.settings.id)
            .field("graph", &self.graph.is_some())
            .finish_non_exhaustive()
    }
}

/// What a tenant looks like to the administrator.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantStatus {
    /// The tenant.
    pub tenant: String,
    /// The authenticator: method, principal, token expiry, fallback note.
    pub authentication: AuthStatus,
    /// The watcher's counts.
    pub subscriptions: WatcherStatus,
    /// The Graph watcher's counts, when the tenant uses Microsoft Graph.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph: Option<WatcherStatus>,
    /// Devices registered.
    pub devices: usize,
}

/// Test hooks and deployment overrides that the settings file does not carry.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// DNS server for Autodiscover.
    pub dns_server: Option<std::net::SocketAddr>,
    /// Port of Autodiscover's HTTPS candidates.
    pub https_port: Option<u16>,
    /// Port of Autodiscover's plain-HTTP redirect probe.
    pub http_port: Option<u16>,
    /// Host names resolved to fixed addresses, for EWS.
    pub resolve: Vec<(String, std::net::SocketAddr)>,
    /// Extra trusted CAs for Exchange and Autodiscover.
    pub trusted_ca_pem: Vec<String>,
    /// A shorter push `StatusFrequency` clock (simulators running faster).
    pub watch: Option<fn(&mut WatchSettings)>,
    /// Graph watcher timings (simulators running faster).
    pub graph: Option<fn(&mut graph_subscriptions::GraphSettings)>,
}

/// The service's shared state.
pub struct Service {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Sends the outbox.
    pub courier: Arc<Courier>,
    /// This node: the mailboxes it holds among the nodes sharing the store.
    pub node: Arc<Node>,
    tenants: HashMap<TenantId, Arc<Tenant>>,
    devices: DeviceSettings,
    registrations: RegistrationLimit,
    pub(crate) shutdown: CancellationToken,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("tenants", &self.tenants.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// How a tenant's watcher is set up from its settings.
pub(crate) fn watch_settings(
    settings: &TenantSettings,
    public_url: Option<&Url>,
    overrides: &Overrides,
) -> Result<WatchSettings, StartError> {
    let subscription = &settings.subscription;
    let mode = match subscription.mode {
        SubscriptionMode::Streaming => {
            let mut streaming = StreamingSettings::default();
            streaming.connection_timeout_minutes = subscription.connection_timeout_minutes;
            Mode::Streaming(streaming)
        }
        SubscriptionMode::Pull => {
            let mut pull = PullSettings::default();
            pull.interval = Duration::from_secs(u64::from(subscription.pull_interval_seconds));
            Mode::Pull(pull)
        }
        SubscriptionMode::Push => {
            let base = public_url.ok_or(StartError::Setting {
                field: "server.public_url",
                reason: "push subscriptions need it",
            })?;
            let url = callback_url(base, &settings.id)?;
            let mut push = EwsPushSettings::new(url);
            push.status_frequency_minutes = subscription.status_frequency_minutes;
            push.status_frequency =
                Duration::from_secs(u64::from(subscription.status_frequency_minutes) * 60);
            Mode::Push(push)
        }
    };
    let mut watch = WatchSettings::new(mode);
    // The pipeline writes each checkpoint with the pushes its events produced.
    watch.consumer_saves_watermarks = true;
    if let Some(adjust) = overrides.watch {
        adjust(&mut watch);
    }
    Ok(watch)
}

/// Where Exchange calls back a tenant's push subscriptions: `<public_url>/ews/<tenant>`.
pub fn callback_url(public_url: &Url, tenant: &TenantId) -> Result<Url, StartError> {
    let mut url = public_url.clone();
    url.path_segments_mut()
        .map_err(|()| StartError::Setting {
            field: "server.public_url",
            reason: "cannot carry a path",
        })?
        .pop_if_empty()
        .extend(["ews", tenant.as_str()]);
    Ok(url)
}

impl Service {
    /// Starts every tenant of `tenants`: its watcher, its pipeline, and this node's share
    /// of the mailboxes the store holds (resumed from their watermarks).
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        store: Arc<dyn Store>,
        courier: Arc<Courier>,
        metrics: Arc<Metrics>,
        node: Arc<Node>,
        tenants: Vec<(TenantSettings, Arc<dyn RegistrationVerifier>)>,
        devices: DeviceSettings,
        public_url: Option<&Url>,
        overrides: &Overrides,
    ) -> Result<Arc<Self>, StartError> {
        let mut parts = Vec::new();
        for (settings, verifier) in tenants {
            let tenant = tenant_parts(&store, settings, verifier, public_url, node.id(), overrides);
            parts.push(tenant.await?);
        }
        Self::compose(store, courier, metrics, node, parts, devices)
            .await
            .map_err(StartError::Resume)
    }

    /// Runs `tenants` as they are given: each one's pipeline from its events to `courier`,
    /// then `node`'s first lease round (its share of the mailboxes `store` holds, resumed
    /// from their watermarks), the rounds after it, and the outbox.
    /// [`start`](Self::start) composes the tenants of the settings here.
    pub async fn compose(
        store: Arc<dyn Store>,
        courier: Arc<Courier>,
        metrics: Arc<Metrics>,
        node: Arc<Node>,
        tenants: Vec<TenantParts>,
        devices: DeviceSettings,
    ) -> Result<Arc<Self>, StoreError> {
        let running = tenants
            .into_iter()
            .map(|parts| {
                let tenant = run_tenant(parts, &store, &courier, &metrics, &node);
                (tenant.id.clone(), tenant)
            })
            .collect();
        let service = Arc::new(Self {
            store,
            metrics,
            courier,
            node,
            tenants: running,
            devices,
            registrations: RegistrationLimit::new(devices.registrations_per_minute),
            shutdown: CancellationToken::new(),
        });
        // A node back under its name watches nothing yet: what its last run held is free.
        service.store.leave(service.node.id()).await?;
        service.lease_round().await?;
        service.spawn_lease_loop();
        service.spawn_settings_listener();
        service.spawn_outbox_loop();
        Ok(service)
    }

    /// A running tenant.
    pub fn tenant(&self, id: &TenantId) -> Option<&Arc<Tenant>> {
        self.tenants.get(id)
    }

    /// Every running tenant.
    pub fn tenants(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.tenants.values()
    }

    /// Sends what the outbox holds that is due, every second, until shut down.
    fn spawn_outbox_loop(self: &Arc<Self>) {
        let courier = Arc::clone(&self.courier);
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                courier.send_due(1000).await;
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = shutdown.cancelled() => return,
                }
            }
        });
    }

    /// Finds a mailbox through Autodiscover and watches it while this node holds it, a
    /// bounded number at once ([`LOCATING`](crate::cluster::LOCATING)): a node taking
    /// thousands of new mailboxes neither floods Autodiscover nor holds a whole lookup's
    /// state for each mailbox still waiting (it waits in the node's queue as its arguments).
    /// When Autodiscover fails the node gives the mailbox back: the next lease round (this
    /// node's or another's) tries again.
    pub(crate) fn locate_and_watch(&self, tenant: &Arc<Tenant>, mailbox: String) {
        let tenant = Arc::clone(tenant);
        let store = Arc::clone(&self.store);
        let node = Arc::clone(&self.node);
        self.node.locating().push(Box::new(move || {
            Box::pin(locate_now(tenant, store, node, mailbox))
        }));
    }

    /// Registers a device for the caller's own mailbox and starts watching it.
    pub async fn register(
        &self,
        tenant: &TenantId,
        bearer: &str,
        mut device: NewDevice,
    ) -> Result<i64, RegisterError> {
        let running = self
            .tenants
            .get(tenant)
            .ok_or_else(|| RegisterError::UnknownTenant(tenant.to_string()))?;
        device.mailbox = registration::mailbox(&device.mailbox)?;
        device.tenant = tenant.clone();
        let caller = running.verifier.verify(bearer).await.inspect_err(|_| {
            self.metrics.registration("unauthenticated");
        })?;
        if caller.address != device.mailbox {
            self.metrics.registration("forbidden");
            return Err(RegisterError::Forbidden {
                caller: caller.address,
                mailbox: device.mailbox,
            });
        }
        if !running.settings.entitlement.allows(&device.mailbox) {
            self.metrics.registration("unentitled");
            return Err(RegisterError::Unentitled(device.mailbox));
        }
        self.registrations
            .count(tenant, &device.mailbox, std::time::Instant::now())
            .inspect_err(|_| self.metrics.registration("too_frequent"))?;
        registration::check_device(&mut device, self.courier.routes())?;
        let registered = self
            .store
            .register_device(&device, self.devices.max_per_mailbox)
            .await
            .map_err(RegisterError::from_store)
            .inspect_err(|e| {
                if matches!(e, RegisterError::Conflict(_)) {
                    self.metrics.registration("conflict");
                }
            })?;
        let known = self
            .store
            .mailbox(tenant, &device.mailbox)
            .await
            .map_err(|e| RegisterError::Store(e.to_string()))?;
        if known.is_none() {
            // A tenant on Graph watches new mailboxes there, without Autodiscover.
            let record = match &running.graph {
                Some(graph) => graph.record(tenant, &device.mailbox),
                None => MailboxRecord {
                    tenant: tenant.clone(),
                    mailbox: device.mailbox.clone(),
                    ews_url: None,
                    grouping: None,
                    watermark: None,
                },
            };
            self.store
                .upsert_mailbox(&record)
                .await
                .map_err(|e| RegisterError::Store(e.to_string()))?;
            // This node watches it when it has room; else a node with room takes it.
            let taken = self
                .take_new(tenant, &device.mailbox)
                .await
                .map_err(|e| RegisterError::Store(e.to_string()))?;
            match (taken, &running.graph) {
                (Some(_), Some(graph)) => {
                    let folders = running.alerting.folders_of(&device.mailbox).await;
                    graph.watch(&device.mailbox, folders).await.map_err(|e| {
                        RegisterError::Invalid {
                            field: "mailbox",
                            reason: e.to_string(),
                        }
                    })?
                }
                (Some(record), None) => self.start_watching(record).await,
                (None, _) => {}
            }
        }
        self.metrics.registration("accepted");
        Ok(registered.id)
    }

    /// Unregisters the caller's device; the mailbox is no longer watched once it has none.
    pub async fn unregister(
        &self,
        tenant: &TenantId,
        bearer: &str,
        mailbox: &str,
        token: &str,
    ) -> Result<bool, RegisterError> {
        let running = self
            .tenants
            .get(tenant)
            .ok_or_else(|| RegisterError::UnknownTenant(tenant.to_string()))?;
        let mailbox = registration::mailbox(mailbox)?;
        let caller = running.verifier.verify(bearer).await?;
        if caller.address != mailbox {
            return Err(RegisterError::Forbidden {
                caller: caller.address,
                mailbox,
            });
        }
        let removed = self
            .store
            .unregister_device(tenant, &mailbox, token)
            .await
            .map_err(RegisterError::from_store)?;
        self.release_if_unused(running, &mailbox).await?;
        Ok(removed)
    }

    /// Removes a device of `tenant` by its id, as an administrator does (its token may then
    /// be registered for another mailbox); false if the tenant has no such device.
    pub async fn remove_device(&self, tenant: &TenantId, id: i64) -> Result<bool, RegisterError> {
        let running = self
            .tenants
            .get(tenant)
            .ok_or_else(|| RegisterError::UnknownTenant(tenant.to_string()))?;
        let devices = self
            .store
            .devices(tenant)
            .await
            .map_err(RegisterError::from_store)?;
        let Some(device) = devices.into_iter().find(|d| d.id == id) else {
            return Ok(false);
        };
        let removed = self
            .store
            .remove_device(id)
            .await
            .map_err(RegisterError::from_store)?;
        self.release_if_unused(running, &device.device.mailbox)
            .await?;
        Ok(removed)
    }

    /// Stops watching `mailbox` once it has no device left.
    async fn release_if_unused(
        &self,
        running: &Tenant,
        mailbox: &str,
    ) -> Result<(), RegisterError> {
        let devices = self
            .store
            .devices_for(&running.id, mailbox)
            .await
            .map_err(RegisterError::from_store)?;
        if devices.is_empty() {
            // Its lease goes with its row; the node holding it (this one or another) stops
            // watching it at its next round.
            crate::leases::stop(running, mailbox).await;
            self.node
                .drop_held(&[(running.id.clone(), mailbox.to_owned())]);
            self.store
                .remove_mailbox(&running.id, mailbox)
                .await
                .map_err(RegisterError::from_store)?;
        }
        Ok(())
    }

    /// Where each tenant stands.
    pub async fn status(&self) -> Vec<TenantStatus> {
        let mut out = Vec::new();
        for tenant in self.tenants.values() {
            let devices = self
                .store
                .devices(&tenant.id)
                .await
                .map(|d| d.len())
                .unwrap_or(0);
            out.push(TenantStatus {
                tenant: tenant.id.to_string(),
                authentication: tenant.auth.status(),
                subscriptions: tenant.watcher.status(),
                graph: tenant.graph.as_ref().map(crate::graph::GraphTenant::status),
                devices,
            });
        }
        out.sort_by(|a, b| a.tenant.cmp(&b.tenant));
        out
    }

    /// The gauges of `/metrics`.
    pub async fn gauges(&self) -> Gauges {
        let mut gauges = Gauges::default();
        for tenant in self.tenants.values() {
            let s = tenant.watcher.status();
            let g = tenant.graph.as_ref().map(crate::graph::GraphTenant::status);
            let g = g.as_ref();
            let name = tenant.id.to_string();
            for (state, n) in [
                ("subscribed", s.subscribed + g.map_or(0, |g| g.subscribed)),
                ("pending", s.pending + g.map_or(0, |g| g.pending)),
                ("lost", s.lost + g.map_or(0, |g| g.lost)),
                ("failed", s.failed + g.map_or(0, |g| g.failed)),
            ] {
                gauges.subscriptions.push((name.clone(), state, n as u64));
            }
            if let Some(details) = tenant.alerting.details() {
                gauges.mail_details.extend(
                    details
                        .counts
                        .by_outcome()
                        .map(|(outcome, n)| (name.clone(), outcome, n)),
                );
            }
            if let Some(graph) = &tenant.graph {
                let c = graph.watcher.counts();
                for (outcome, n) in [
                    ("accepted", c.accepted),
                    ("forwarded", c.forwarded),
                    ("taken", c.taken),
                    ("refused", c.refused),
                    ("unknown", c.unknown),
                    ("busy", c.busy),
                ] {
                    gauges.graph_notifications.push((name.clone(), outcome, n));
                }
            }
            gauges.streams_open.push((name, s.streams_open));
        }
        gauges.devices = self.store.device_count().await.unwrap_or(0);
        gauges.outbox = self.store.outbox_len().await.unwrap_or(0);
        gauges.node = Some(self.node.status());
        gauges
    }

    /// Stops watching and sending: each tenant's EWS subscriptions are ended with
    /// `Unsubscribe` (their watermarks stay saved, and the node that takes them next
    /// subscribes again from them), the pushes in flight are given 5 s, then the node leaves
    /// the cluster (its mailboxes, and the pushes it had not settled, free for the others at
    /// once).
    pub async fn shutdown(&self) {
        self.shutdown.cancel();
        let stops = self.tenants.values().map(|tenant| async move {
            tenant.watcher.stop(crate::leases::STOP_WATCHERS).await;
            if let Some(graph) = &tenant.graph {
                graph.shutdown().await;
            }
        });
        futures_util::future::join_all(stops).await;
        // The pushes in flight settle before the node gives back what it still holds.
        self.courier.routes().shutdown(Duration::from_secs(5)).await;
        if let Err(error) = self.store.leave(self.node.id()).await {
            tracing::warn!(node = %self.node.id(), %error, "not left the cluster: its leases run out instead");
        }
    }
}

/// Starts `parts`' pipeline and makes the running tenant.
fn run_tenant(
    parts: TenantParts,
    store: &Arc<dyn Store>,
    courier: &Arc<Courier>,
    metrics: &Arc<Metrics>,
    node: &Arc<Node>,
) -> Arc<Tenant> {
    let id = parts.settings.id.clone();
    let counts = parts.counts.unwrap_or_else(|| {
        Arc::new(EwsUnread::new(
            Arc::clone(&parts.auth),
            Arc::clone(store) as Arc<dyn MailboxStore>,
            id.clone(),
            parts.ews_version.clone(),
        ))
    });
    let fetch = parts.details.unwrap_or_else(|| {
        let ews = EwsUnread::new(
            Arc::clone(&parts.auth),
            Arc::clone(store) as Arc<dyn MailboxStore>,
            id.clone(),
            parts.ews_version.clone(),
        );
        Arc::new(EwsDetails::new(Arc::new(ews)))
    });
    let alerting = Arc::new(Alerting::of_tenant(&parts.settings, store, fetch));
    let pipeline = Pipeline::new(
        id.clone(),
        Arc::clone(store),
        Arc::clone(courier),
        Arc::clone(metrics),
        counts,
        Arc::clone(node),
    )
    .with_alerts(Arc::clone(&alerting));
    tokio::spawn(pipeline.run(parts.events));
    Arc::new(Tenant {
        id,
        settings: parts.settings,
        locator: parts.locator,
        auth: parts.auth,
        ews_version: parts.ews_version,
        passive: parts.passive,
        redirect_uri: parts.redirect_uri,
        watcher: parts.watcher,
        callbacks: parts.callbacks,
        verifier: parts.verifier,
        graph: parts.graph,
        transport: parts.transport,
        alerting,
    })
}

/// A tenant's parts as its settings describe them: Autodiscover, the authenticator, the EWS
/// watcher (asking Autodiscover where moved mailboxes went), and with "use Microsoft Graph"
/// the Graph watcher and the move from EWS.
async fn tenant_parts(
    store: &Arc<dyn Store>,
    settings: TenantSettings,
    verifier: Arc<dyn RegistrationVerifier>,
    public_url: Option<&Url>,
    node: &NodeId,
    overrides: &Overrides,
) -> Result<TenantParts, StartError> {
    let id = settings.id.clone();
    let (locator, auth) = connect(&settings, store, public_url, overrides)
        .map_err(|e| e.of_tenant(&id, "connection"))?;
    let watch = watch_settings(&settings, public_url, overrides)
        .map_err(|e| e.of_tenant(&id, "subscription"))?;
    // A watcher letting go of a mailbox (handed over, moved to Graph) keeps its record.
    let watermarks: Arc<dyn mailbox_watch::WatermarkStore> = Arc::new(KeepRecords(
        TenantWatermarks::new(Arc::clone(store) as Arc<dyn MailboxStore>, id.clone()),
    ));
    let ews_version = watch.version.clone();
    let (watcher, events) = Watcher::builder(watch, Arc::clone(&auth.authenticator))
        .store(watermarks)
        .relocate(Arc::new(Rediscover::new(Arc::clone(&locator))))
        .start()
        .map_err(|e| StartError::part("the EWS watcher", e).of_tenant(&id, "watcher"))?;
    let callbacks = watcher.push_listener().router();
    let watcher: Arc<dyn MailboxWatcher> = Arc::new(watcher);
    let ews_counts = Arc::new(EwsUnread::new(
        Arc::clone(&auth.authenticator),
        Arc::clone(store) as Arc<dyn MailboxStore>,
        id.clone(),
        ews_version.clone(),
    ));
    // The badge's counts and the details of new mail are asked the same way.
    type Asks = (Arc<dyn UnreadCounts>, Arc<dyn crate::details::MailDetails>);
    let (graph, events, (counts, details)): (_, _, Asks) = if settings.graph.enabled {
        let (graph, events) = crate::graph::GraphTenant::start(crate::graph::Start {
            settings: &settings,
            store,
            public_url,
            node,
            overrides,
            ews: Arc::clone(&watcher),
            ews_events: events,
        })
        .await
        .map_err(|e| e.of_tenant(&id, "Microsoft Graph"))?;
        let counts = crate::graph::unread::TenantUnread::new(
            ews_counts,
            Arc::clone(&graph.watcher),
            Arc::clone(store) as Arc<dyn MailboxStore>,
            id.clone(),
            graph.prefix().to_owned(),
        );
        let counts = Arc::new(counts);
        let details = Arc::new(TenantDetails::new(Arc::clone(&counts)));
        (Some(graph), events, (counts, details))
    } else {
        let details = Arc::new(EwsDetails::new(Arc::clone(&ews_counts)));
        (None, events, (ews_counts, details))
    };
    let transport = transport(&settings, overrides);
    let redirect_uri = public_url.and_then(|u| settings.redirect_uri(u));
    let mut parts = TenantParts::new(
        settings,
        locator,
        auth.authenticator,
        watcher,
        events,
        verifier,
    );
    parts.counts = Some(counts);
    parts.details = Some(details);
    parts.ews_version = ews_version;
    parts.passive = auth.passive;
    parts.redirect_uri = redirect_uri;
    parts.callbacks = Some(callbacks);
    parts.graph = graph;
    parts.transport = transport;
    Ok(parts)
}

/// [`Service::locate_and_watch`] when its turn has come.
async fn locate_now(tenant: Arc<Tenant>, store: Arc<dyn Store>, node: Arc<Node>, mailbox: String) {
    let found = match tenant.locator.locate(&mailbox).await {
        Ok(found) => found,
        Err(error) => {
            tracing::warn!(tenant = %tenant.id, %mailbox, %error, "Autodiscover failed; the mailbox is given back for the next round to try again");
            let key = (tenant.id.clone(), mailbox);
            node.drop_held(std::slice::from_ref(&key));
            if let Err(error) = store.release(node.id(), &[key]).await {
                tracing::warn!(%error, "not given back: its lease runs out instead");
            }
            return;
        }
    };
    let record = MailboxRecord {
        tenant: tenant.id.clone(),
        mailbox: mailbox.clone(),
        ews_url: Some(found.ews_url.to_string()),
        grouping: found.grouping_information.clone(),
        watermark: None,
    };
    if let Err(error) = store.upsert_mailbox(&record).await {
        tracing::warn!(%mailbox, %error, "mailbox not recorded");
    }
    let target = crate::relocate::target(&mailbox, &found);
    crate::leases::watch_held(&node, &tenant, target).await;
}
