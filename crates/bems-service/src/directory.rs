//! BlackBerry Directory Lookup for the service's tenants: each tenant's
//! [`exchange_directory::Directory`], built from its settings, and the HTTP routes ([`api`]).
//!
//! The directory crate knows nothing of tenants. This module turns a tenant's
//! `[tenants.directory]` into the crate's settings ([`settings`], [`ldap_settings`]), gives the
//! EWS backend the caller's EWS URL (the store's record of the mailbox, else Autodiscover's:
//! `MailboxUrls`), and the Graph backend an authenticator whose tokens are for Graph.

pub mod api;

use std::sync::Arc;

use async_trait::async_trait;
use autodiscover::MailboxLocator;
use exchange_auth::{AuthError, Authenticator};
use exchange_directory::{
    BackendKind, ConfigError, Directory, DirectoryBackend, DirectoryError, EwsDirectory,
    EwsLocator, GraphDirectory, Hit, LdapDirectory, LdapSettings, LocateError, SearchQuery,
};
use url::Url;

use crate::service::{Service, Tenant};
use bems_settings::{
    AuthenticationType, CertificatePurpose, DirectoryBackendKind, DirectorySettings,
    TenantSettings, UserIdProperty,
};
use bems_store::model::TenantId;
use bems_store::{MailboxStore, TenantStore};

use crate::adapters::TenantRefreshTokens;

/// Why one of a tenant's directory backends could not be set up.
#[derive(Debug, thiserror::Error)]
enum SetupError {
    /// The backend's settings cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No authenticator for Graph could be made.
    #[error("Graph authentication: {0}")]
    GraphAuth(#[source] AuthError),
}

/// `tenant`'s directory, with the backends its settings name (a backend that cannot be set
/// up answers every request with why).
pub fn directory(service: &Service, tenant: &Tenant) -> Directory {
    let settings = &tenant.settings;
    let bounds = self::settings(&settings.directory);
    let timeout = bounds.timeout();
    let backends = settings
        .directory
        .backends
        .iter()
        .map(|kind| -> Arc<dyn DirectoryBackend> {
            let built = match kind {
                DirectoryBackendKind::Ews => {
                    let urls = MailboxUrls {
                        store: Arc::clone(&service.store) as Arc<dyn MailboxStore>,
                        tenant: tenant.id.clone(),
                        locator: Arc::clone(&tenant.locator) as Arc<dyn MailboxLocator>,
                    };
                    Ok(Arc::new(EwsDirectory::new(
                        Arc::clone(&tenant.auth),
                        Arc::new(urls),
                        timeout,
                        tenant.ews_version.clone(),
                    )) as Arc<dyn DirectoryBackend>)
                }
                DirectoryBackendKind::Ldap => ldap_directory(settings)
                    .map(|ldap| Arc::new(ldap) as Arc<dyn DirectoryBackend>)
                    .map_err(SetupError::from),
                DirectoryBackendKind::Graph => graph_auth(service, tenant)
                    .map(|auth| {
                        let base = &settings.directory.graph.base_url;
                        Arc::new(GraphDirectory::new(auth, base, timeout))
                            as Arc<dyn DirectoryBackend>
                    })
                    .map_err(SetupError::GraphAuth),
            };
            built.unwrap_or_else(|error| {
                let reason = error.to_string();
                tracing::error!(tenant = %tenant.id, backend = kind.as_str(), %reason, "directory backend not set up");
                Arc::new(NotSetUp {
                    kind: backend_kind(*kind),
                    reason,
                })
            })
        })
        .collect();
    Directory::new(bounds, backends)
}

/// The directory crate's name for a backend of the settings.
fn backend_kind(kind: DirectoryBackendKind) -> BackendKind {
    match kind {
        DirectoryBackendKind::Ews => BackendKind::Ews,
        DirectoryBackendKind::Graph => BackendKind::Graph,
        DirectoryBackendKind::Ldap => BackendKind::Ldap,
    }
}

/// The bounds and merge rule of `[tenants.directory]`.
pub fn settings(directory: &DirectorySettings) -> exchange_directory::DirectorySettings {
    exchange_directory::DirectorySettings {
        user_id_property: match directory.user_id_property {
            UserIdProperty::Alias => exchange_directory::UserIdProperty::Alias,
            UserIdProperty::Email => exchange_directory::UserIdProperty::Email,
        },
        max_results: directory.max_results,
        min_query_length: directory.min_query_length,
        max_photo_bytes: directory.max_photo_bytes,
        cache_ttl_seconds: directory.cache_ttl_seconds,
        timeout_seconds: directory.timeout_seconds,
    }
}

/// `tenant`'s `[tenants.directory.ldap]`, with the tenant's `active_directory` trusted
/// certificates; it binds as `bind_user`, or as the service account when none is set
/// (anonymously without either).
pub fn ldap_settings(tenant: &TenantSettings) -> LdapSettings {
    let ldap = &tenant.directory.ldap;
    let (bind_user, bind_password) = match &ldap.bind_user {
        Some(user) => (Some(user.clone()), ldap.bind_password.clone()),
        None => tenant
            .service_account_username
            .clone()
            .zip(tenant.service_account_password.clone())
            .map_or((None, None), |(user, password)| {
                (Some(user), Some(password))
            }),
    };
    LdapSettings {
        servers: ldap.servers.iter().cloned().collect(),
        port: ldap.port,
        ssl: ldap.ssl,
        trusted_ca_pem: tenant
            .trusted_certificates
            .iter()
            .filter(|c| c.purpose == CertificatePurpose::ActiveDirectory)
            .filter_map(|c| c.pem.clone())
            .collect(),
        base_dn: ldap.base_dn.clone(),
        query_template: ldap.query_template.clone(),
        photo_query_template: ldap.photo_query_template.clone(),
        bind_user,
        bind_password,
    }
}

/// The LDAP backend `tenant`'s settings describe.
pub fn ldap_directory(tenant: &TenantSettings) -> Result<LdapDirectory, ConfigError> {
    let bounds = settings(&tenant.directory);
    LdapDirectory::new(&ldap_settings(tenant), &bounds)
}

/// An authenticator whose tokens are for Graph, sent through the tenant's `transport` (which
/// carries the overrides' trusted CAs and fixed addresses): under passive authentication, the
/// administrator's sign-in (the tenant's refresh token in the store, redeemed for Graph);
/// otherwise the tenant's modern authentication with Graph's resource (its origin without a
/// port) and scope `<resource>/.default`, never Basic.
fn graph_auth(service: &Service, tenant: &Tenant) -> Result<Arc<dyn Authenticator>, AuthError> {
    let settings = &tenant.settings;
    let base = &settings.directory.graph.base_url;
    if settings.authentication == AuthenticationType::Passive {
        let refresh = Arc::new(TenantRefreshTokens::new(
            Arc::clone(&service.store) as Arc<dyn TenantStore>,
            tenant.id.clone(),
        ));
        return crate::graph::auth::passive_graph_authenticator(
            settings,
            &tenant.transport,
            tenant.redirect_uri.clone(),
            refresh,
            base,
        );
    }
    crate::graph::auth::directory_graph_authenticator(settings, &tenant.transport, base)
}

/// The EWS URL of a tenant's mailbox: the one the store recorded, else Autodiscover's.
struct MailboxUrls {
    store: Arc<dyn MailboxStore>,
    tenant: TenantId,
    locator: Arc<dyn MailboxLocator>,
}

#[async_trait]
impl EwsLocator for MailboxUrls {
    async fn ews_url(&self, mailbox: &str) -> Result<Url, LocateError> {
        if let Ok(Some(record)) = self.store.mailbox(&self.tenant, mailbox).await
            && let Some(Ok(url)) = record.ews_url.as_deref().map(Url::parse)
        {
            return Ok(url);
        }
        let found = self
            .locator
            .locate(mailbox)
            .await
            .map_err(LocateError::new)?;
        Ok(found.ews_url)
    }
}

/// A backend whose settings could not be applied.
struct NotSetUp {
    kind: BackendKind,
    reason: String,
}

#[async_trait]
impl DirectoryBackend for NotSetUp {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    async fn search(&self, _: &str, _: &SearchQuery, _: usize) -> Result<Vec<Hit>, DirectoryError> {
        Err(DirectoryError::unavailable(self.kind, &self.reason))
    }

    async fn photo(&self, _: &str, _: &str, _: usize) -> Result<Option<Vec<u8>>, DirectoryError> {
        Err(DirectoryError::unavailable(self.kind, &self.reason))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use bems_settings::{LdapDirectorySettings, ServiceSettings, TrustedCertificate};

    /// A tenant with a service account.
    fn tenant() -> TenantSettings {
        let text = r#"
            [[tenants]]
            id = "contoso"
            exchange = "microsoft365"
            service_account_username = 'CONTOSO\svc-bems'
            service_account_password = "service"
            "#;
        let settings = ServiceSettings::from_toml_str(text).unwrap_or_else(|e| panic!("{e}"));
        settings.tenants.into_iter().next().expect("a tenant")
    }

    #[test]
    fn the_ldap_defaults_are_the_crates() {
        let ours = LdapDirectorySettings::default();
        let crates = LdapSettings::default();
        assert_eq!(ours.query_template, crates.query_template);
        assert_eq!(ours.photo_query_template, crates.photo_query_template);
        assert_eq!(ours.default_port(), crates.default_port());
        assert_eq!(
            bems_settings::DEFAULT_QUERY_TEMPLATE,
            exchange_directory::DEFAULT_QUERY_TEMPLATE
        );
        assert_eq!(bems_settings::QUERY_KEY, exchange_directory::QUERY_KEY);
        assert_eq!(
            settings(&DirectorySettings::default()),
            exchange_directory::DirectorySettings::default()
        );
    }

    #[test]
    fn ldap_binds_as_the_bind_user_else_the_service_account() {
        let mut tenant = tenant();
        let ldap = ldap_settings(&tenant);
        assert_eq!(ldap.bind_user.as_deref(), Some("CONTOSO\\svc-bems"));
        let password = ldap.bind_password.as_ref().map(|p| p.expose_secret());
        assert_eq!(password, Some("service"));
        tenant.directory.ldap.bind_user = Some("reader".into());
        let ldap = ldap_settings(&tenant);
        assert_eq!(ldap.bind_user.as_deref(), Some("reader"));
        assert!(ldap.bind_password.is_none(), "never the service account's");
        tenant.directory.ldap.bind_user = None;
        tenant.service_account_password = None;
        let ldap = ldap_settings(&tenant);
        assert_eq!(ldap.bind_user, None);
        assert!(ldap.bind_password.is_none());
    }

    #[test]
    fn ldaps_trusts_the_active_directory_certificates_only() {
        let mut tenant = tenant();
        for (name, purpose) in [
            ("ad", CertificatePurpose::ActiveDirectory),
            ("other", CertificatePurpose::Exchange),
        ] {
            tenant.trusted_certificates.push(TrustedCertificate {
                name: name.into(),
                purpose,
                pem_file: None,
                pem: Some(format!("{name} pem")),
            });
        }
        assert_eq!(ldap_settings(&tenant).trusted_ca_pem, ["ad pem"]);
    }
}
