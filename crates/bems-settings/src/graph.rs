//! `[tenants.graph]`: "Use Microsoft Graph". Microsoft 365 tenants are watched through Graph
//! change notifications (webhooks) instead of EWS, which Exchange Online blocks from
//! 1 October 2026 and removes on 1 April 2027.
//!
//! ```toml
//! [tenants.graph]
//! enabled = true
//! notification_url = "https://bems.contoso.com/graph/contoso"  # the External Notification URL
//! client_secret_env = "CONTOSO_GRAPH_SECRET"   # unless authentication = "client_certificate"
//! ```

use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::service::fixed_url;
use bems_store::model::TenantId;

/// Graph's origin in the global cloud.
pub const GRAPH_ENDPOINT: &str = "https://graph.microsoft.com";

/// `[tenants.graph]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct GraphTenantSettings {
    /// "Use Microsoft Graph": watch the tenant's mailboxes through Graph. It needs Exchange
    /// Online (`exchange = "microsoft365"`), modern authentication (the Entra app's authority
    /// and client application id, with the `Mail.Read` application permission) and app-only
    /// credentials: Client Certificate authentication, or `client_secret`. Mailboxes watched
    /// through EWS before move to Graph `migration_batch` at a time.
    pub enabled: bool,
    /// "External Notification URL": where Graph reaches this service for the tenant, through
    /// the reverse proxy (`https://bems.contoso.com/graph/contoso`); Graph POSTs to
    /// `<url>/notifications` and `<url>/lifecycle`, which the proxy forwards to
    /// `/graph/<tenant>/...` here. `<server.public_url>/graph/<tenant>` when not set. `https`.
    pub notification_url: Option<Url>,
    /// Graph's origin (`https://graph.microsoft.com`; national clouds have their own).
    pub endpoint: Url,
    /// The Entra app's client secret, written in the file (app-only tokens).
    #[serde(skip_serializing)]
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// An environment variable holding the client secret.
    pub client_secret_env: Option<String>,
    /// Mailboxes moved from EWS to Graph at a time (50, as BEMS does).
    pub migration_batch: u32,
    /// Seconds between two batches (300: BEMS moves 50 users every 5 minutes).
    pub migration_interval_seconds: u32,
    /// Where accepted notifications are kept until delivered (`<store.path>.graph/<tenant>`
    /// when not set).
    pub spool_dir: Option<PathBuf>,
}

impl Default for GraphTenantSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            notification_url: None,
            endpoint: fixed_url(GRAPH_ENDPOINT),
            client_secret: None,
            client_secret_file: None,
            client_secret_env: None,
            migration_batch: 50,
            migration_interval_seconds: 300,
            spool_dir: None,
        }
    }
}

impl GraphTenantSettings {
    /// The webhook base Graph is given: `notification_url`, else
    /// `<public_url>/graph/<tenant>`.
    pub fn webhook_base(&self, public_url: Option<&Url>, tenant: &TenantId) -> Option<Url> {
        if let Some(url) = &self.notification_url {
            return Some(url.clone());
        }
        let mut url = public_url?.clone();
        url.path_segments_mut()
            .ok()?
            .pop_if_empty()
            .extend(["graph", tenant.as_str()]);
        Some(url)
    }

    /// The spool directory: `spool_dir`, else `<store path>.graph/<tenant>`.
    pub fn spool_dir(&self, store_path: &Path, tenant: &TenantId) -> PathBuf {
        self.spool_dir.clone().unwrap_or_else(|| {
            let mut base = store_path.as_os_str().to_owned();
            base.push(".graph");
            PathBuf::from(base).join(tenant.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_and_the_spool_have_defaults() {
        let tenant = TenantId::new("contoso").expect("id");
        let settings = GraphTenantSettings::default();
        let public = Url::parse("https://bems.contoso.com/").expect("url");
        assert_eq!(
            settings
                .webhook_base(Some(&public), &tenant)
                .map(|u| u.to_string()),
            Some("https://bems.contoso.com/graph/contoso".into())
        );
        assert_eq!(settings.webhook_base(None, &tenant), None);
        assert_eq!(
            settings.spool_dir(Path::new("/var/lib/bems/bems.db"), &tenant),
            PathBuf::from("/var/lib/bems/bems.db.graph/contoso")
        );
        let given = GraphTenantSettings {
            notification_url: Some(Url::parse("https://proxy.contoso.com/n").expect("url")),
            ..GraphTenantSettings::default()
        };
        assert_eq!(
            given
                .webhook_base(Some(&public), &tenant)
                .map(|u| u.to_string()),
            Some("https://proxy.contoso.com/n".into())
        );
    }
}
