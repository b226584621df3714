//! From validated settings to a running service: the store, the push senders, each tenant's
//! registration verifier, the service, and the HTTP API on its listener.

use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use push_delivery::{Dispatcher, DispatcherConfig, ProviderTokenCache};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::api::{ApiState, router};
use crate::cluster::Node;
use crate::courier::{Courier, PushRoutes};
use crate::error::StartError;
use crate::metrics::Metrics;
use crate::service::{Overrides, Service};
use crate::verify::{Caller, JwtSettings, JwtVerifier, RegistrationVerifier, VerifyError};
use bems_settings::{ServiceSettings, TenantSettings};
use bems_store::model::Platform;
use bems_store::{PostgresOptions, PostgresStore, SqliteStore, Store, StoreKey};

/// A running service.
pub struct Running {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// The service.
    pub service: Arc<Service>,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// Stops the API, the watchers and the senders (draining what they hold).
    pub async fn stop(self) {
        self.stop.cancel();
        let _ = self.server.await;
        self.service.shutdown().await;
    }

    /// Waits until the API server ends (it ends on [`stop`](Self::stop) or a fatal error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }
}

/// A tenant without `[tenants.registration]`: every registration is refused, saying why.
struct NotConfigured;

#[async_trait]
impl RegistrationVerifier for NotConfigured {
    async fn verify(&self, _bearer: &str) -> Result<Caller, VerifyError> {
        Err(VerifyError::Unavailable(
            "registration is not configured for this tenant ([tenants.registration])".into(),
        ))
    }
}

/// Where the service keeps what is not a tenant's (the APNs provider token).
fn service_scope() -> bems_store::model::TenantId {
    bems_store::model::TenantId::new("_service").unwrap_or_else(|_| unreachable!("a valid id"))
}

/// The APNs provider token of the previous run, and a hook that keeps each new one: a
/// restarted service presents the token it was using, as Apple refuses a new one within 20
/// minutes (`TooManyProviderTokenUpdates`).
async fn provider_token_cache(store: &Arc<dyn Store>, key_id: &str) -> ProviderTokenCache {
    let name = format!("apns-provider-token:{key_id}");
    let last = match store.secret(&service_scope(), &name).await {
        Ok(Some(kept)) => std::str::from_utf8(kept.expose_secret())
            .ok()
            .and_then(|text| {
                let (iat, jwt) = text.split_once('\n')?;
                Some((SecretString::from(jwt), iat.parse().ok()?))
            }),
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(%error, "kept APNs provider token not readable");
            None
        }
    };
    let keeper = Arc::clone(store);
    let mut cache = ProviderTokenCache::default();
    cache.last = last;
    cache.on_signed = Some(Arc::new(move |jwt: &str, iat: u64| {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (store, name) = (Arc::clone(&keeper), name.clone());
        let value = SecretSlice::from(format!("{iat}\n{jwt}").into_bytes());
        runtime.spawn(async move {
            if let Err(error) = store.put_secret(&service_scope(), &name, &value).await {
                tracing::warn!(%error, "APNs provider token not kept");
            }
        });
    }));
    cache
}

/// The push senders the settings describe.
pub async fn push_routes(
    settings: &ServiceSettings,
    store: &Arc<dyn Store>,
) -> Result<PushRoutes, StartError> {
    let mut routes = PushRoutes::default();
    if let Some(apns) = &settings.push.apns {
        let mut config = crate::files::apns_config(apns)?;
        config.provider_token = provider_token_cache(store, &apns.key_id).await;
        let sender = crate::files::apns_sender(config)?;
        let dispatcher = Dispatcher::new(Arc::new(sender), DispatcherConfig::default());
        routes.add(Platform::Apns, apns.topic.clone(), Arc::new(dispatcher));
    }
    if let Some(fcm) = &settings.push.fcm {
        let sender = crate::files::fcm_sender(fcm)?;
        let dispatcher = Dispatcher::new(Arc::new(sender), DispatcherConfig::default());
        // One Firebase project serves every Android package of the organisation.
        routes.add(Platform::Fcm, "*", Arc::new(dispatcher));
    }
    Ok(routes)
}

fn verifier(
    tenant: &TenantSettings,
    overrides: &Overrides,
) -> Result<Arc<dyn RegistrationVerifier>, StartError> {
    let registration = &tenant.registration;
    let (Some(issuer), Some(audience), Some(jwks_uri)) = (
        &registration.issuer,
        &registration.audience,
        &registration.jwks_uri,
    ) else {
        tracing::warn!(tenant = %tenant.id, "no [tenants.registration]: device registrations are refused");
        return Ok(Arc::new(NotConfigured));
    };
    let mut trusted = tenant.transport().trusted_ca_pem;
    trusted.extend(overrides.trusted_ca_pem.iter().cloned());
    let verifier = JwtVerifier::new(JwtSettings {
        issuer: issuer.clone(),
        audience: audience.clone(),
        jwks_uri: jwks_uri.clone(),
        trusted_ca_pem: trusted,
        resolve: overrides.resolve.clone(),
    })
    .map_err(|e| StartError::part(format!("tenants[{}].registration", tenant.id), e))?;
    Ok(Arc::new(verifier))
}

/// The store the settings name (the PostgreSQL database of `store.url`, else the SQLite file
/// of `store.path`), with their key (or a key of this run only, when no tenant keeps secrets
/// in a SQLite file).
pub async fn open_store(settings: &ServiceSettings) -> Result<Arc<dyn Store>, StartError> {
    let key = match settings.store.key_bytes() {
        Ok(Some(bytes)) => StoreKey::from_bytes(*bytes),
        Ok(None) => StoreKey::generate().map_err(|e| StartError::part("store key", e))?,
        Err(reason) => {
            return Err(StartError::Setting {
                field: "store.key",
                reason,
            });
        }
    };
    if let Some(url) = &settings.store.url {
        let mut options = PostgresOptions::default();
        if let Some(path) = &settings.store.ca_file {
            let pem = std::fs::read_to_string(path).map_err(|source| StartError::Read {
                field: "store.ca_file",
                path: path.clone(),
                source,
            })?;
            options = options.trusting(pem);
        }
        let store = PostgresStore::connect_with(url.expose_secret(), key, options)
            .await
            .map_err(|source| StartError::part("store.url", source))?;
        tracing::info!(database = %store.url(), "store: PostgreSQL");
        return Ok(Arc::new(store));
    }
    let store = SqliteStore::open(&settings.store.path, key)
        .await
        .map_err(|source| StartError::OpenStore {
            path: settings.store.path.clone(),
            source,
        })?;
    Ok(Arc::new(store))
}

/// Starts everything the settings describe; `overrides` carries what a test or a split-horizon
/// deployment adds.
pub async fn start(
    settings: &ServiceSettings,
    overrides: &Overrides,
) -> Result<Running, StartError> {
    let store = open_store(settings).await?;
    start_with_store(settings, overrides, store).await
}

/// The settings in force: the file's, with each tenant the admin API stored in its place
/// (checked again as the admin API checks them: a stored tenant that breaks today's rules is
/// refused, naming it).
pub async fn effective_settings(
    settings: &ServiceSettings,
    store: &dyn Store,
) -> Result<ServiceSettings, StartError> {
    let mut effective = settings.clone();
    // The files of the configuration first: a stored tenant may not name them.
    effective.read_files()?;
    for id in store.tenants().await? {
        let Some(json) = store.tenant(&id).await? else {
            continue;
        };
        let stored: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| StartError::StoredSettings {
                tenant: id.clone(),
                source: e.into(),
            })?;
        let Some(toml) = stored["toml"].as_str() else {
            continue;
        };
        effective =
            effective
                .with_admin_tenant(&id, toml)
                .map_err(|e| StartError::StoredSettings {
                    tenant: id.clone(),
                    source: e.into(),
                })?;
    }
    effective.validate()?;
    Ok(effective)
}

/// [`start`] on an open store.
pub async fn start_with_store(
    settings: &ServiceSettings,
    overrides: &Overrides,
    store: Arc<dyn Store>,
) -> Result<Running, StartError> {
    let settings = &effective_settings(settings, store.as_ref()).await?;
    let metrics = Arc::new(Metrics::default());
    let routes = Arc::new(push_routes(settings, &store).await?);
    let mut tenants = Vec::new();
    for tenant in &settings.tenants {
        let mut tenant = tenant.clone();
        // Graph's spool lives next to the store unless told otherwise.
        tenant.graph.spool_dir = Some(tenant.graph.spool_dir(&settings.store.path, &tenant.id));
        let verifier = verifier(&tenant, overrides)?;
        tenants.push((tenant, verifier));
    }
    let listen = |source| StartError::Listen {
        addr: settings.server.listen,
        source,
    };
    let listener = TcpListener::bind(settings.server.listen)
        .await
        .map_err(listen)?;
    let addr = listener.local_addr().map_err(listen)?;
    let public_url = settings.server.public_url.clone();
    let shown_url = public_url
        .as_ref()
        .map_or_else(|| format!("http://{addr}"), Url::to_string);
    let node = Arc::new(Node::new(&settings.cluster, Some(shown_url))?);
    crate::cluster::check_name(&node, &store.nodes().await?)?;
    let courier = Arc::new(Courier::new(
        Arc::clone(&store),
        routes,
        Arc::clone(&metrics),
        node.id().clone(),
        node.lease(),
    ));
    tracing::info!(node = %node.id(), capacity = settings.cluster.capacity, "cluster node");
    let service = Service::start(
        store,
        courier,
        metrics,
        node,
        tenants,
        settings.devices,
        public_url.as_ref(),
        overrides,
    )
    .await?;
    let admin_token = settings.admin.token.clone().map(Arc::new);
    let app = router(ApiState {
        service: Arc::clone(&service),
        admin_token,
        settings: Arc::new(settings.clone()),
    });
    let tls = match (
        &settings.server.tls_cert_file,
        &settings.server.tls_key_file,
    ) {
        (Some(cert), Some(key)) => Some(crate::files::tls_config(cert, key)?),
        _ => None,
    };
    let stop = CancellationToken::new();
    let server = tokio::spawn(crate::listener::serve(listener, app, tls, stop.clone()));
    tracing::info!(%addr, "bems listening");
    Ok(Running {
        addr,
        service,
        stop,
        server,
    })
}

/// `bems test-connection`: the step-by-step test for `email` with `tenant`'s settings (the
/// first tenant when `None`).
pub async fn test_connection(
    settings: &ServiceSettings,
    tenant: Option<&str>,
    email: &str,
) -> Result<exchange_check::Report, StartError> {
    let chosen = match tenant {
        Some(id) => settings
            .tenants
            .iter()
            .find(|t| t.id.as_str() == id)
            .ok_or_else(|| StartError::NoTenant(id.to_owned()))?,
        None => settings.tenants.first().ok_or(StartError::NoTenants)?,
    };
    let store = open_store(settings).await?;
    let public_url = settings.server.public_url.as_ref();
    let overrides = Overrides::default();
    // The version the tenant's watcher would send.
    let version = crate::service::watch_settings(chosen, public_url, &overrides)?.version;
    let (locator, auth) = crate::service::connect(chosen, &store, public_url, &overrides)?;
    Ok(exchange_check::test_connection(
        locator.as_ref(),
        auth.authenticator.as_ref(),
        email,
        version,
    )
    .await)
}
