//! Why the service, a tenant or one of their parts could not start: each error names the
//! setting, the file or the part, in the words `bems serve` and `bems check-config` print.

use std::net::SocketAddr;
use std::path::PathBuf;

use bems_settings::SettingsError;
use bems_store::StoreError;
use bems_store::model::TenantId;

/// Any error of a library the service composes, kept as the source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the service, a tenant or one of their parts could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting the service needs is not given.
    #[error("{0} is required")]
    Required(&'static str),
    /// A setting cannot work as given.
    #[error("{field}: {reason}")]
    Setting {
        /// The setting (`server.public_url`).
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The settings break a rule of the settings page.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A file a setting names cannot be read.
    #[error("{field}: cannot read {}: {source}", path.display())]
    Read {
        /// The setting (`push.apns.key_file`).
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file a setting names is not what the setting needs.
    #[error("{field} {}: {source}", path.display())]
    File {
        /// The setting (`server.tls_cert_file`).
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: BoxError,
    },
    /// A part built from the settings refused them (`push.apns`, `autodiscover`, ...).
    #[error("{part}: {source}")]
    Part {
        /// The part, named as in the settings where it has a section.
        part: String,
        /// The library's error.
        source: BoxError,
    },
    /// The store could not be opened.
    #[error("store {}: {source}", path.display())]
    OpenStore {
        /// The store's file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// Another node, alive, beats under this node's name.
    #[error(
        "cluster.node: {node} is the name of a live node at {url}: give each node a name of its own ([cluster] node, or BEMS_CLUSTER__NODE)"
    )]
    NodeNameTaken {
        /// The name.
        node: String,
        /// Where the other node's API is.
        url: String,
    },
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Settings the admin API stored for a tenant are no longer accepted.
    #[error("stored settings of {tenant}: {source}")]
    StoredSettings {
        /// The tenant.
        tenant: TenantId,
        /// Why.
        source: BoxError,
    },
    /// The API's address cannot be listened on.
    #[error("server.listen {addr}: {source}")]
    Listen {
        /// `server.listen`.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// One tenant could not start.
    #[error("tenant {tenant}: {part}: {source}")]
    Tenant {
        /// The tenant.
        tenant: TenantId,
        /// Its part that failed (`connection`, `subscription`, `watcher`, `Microsoft Graph`).
        part: &'static str,
        /// Why.
        source: Box<Self>,
    },
    /// The mailboxes the store says are watched could not be resumed.
    #[error("resuming mailboxes: {0}")]
    Resume(#[source] StoreError),
    /// No tenant has the id asked for.
    #[error("no tenant {0} in the settings")]
    NoTenant(String),
    /// The settings have no tenant at all.
    #[error("the settings have no tenant")]
    NoTenants,
}

impl StartError {
    /// `source` as the error of `part`.
    pub fn part(part: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Part {
            part: part.into(),
            source: source.into(),
        }
    }

    /// This error as the failure of `tenant`'s `part`.
    pub fn of_tenant(self, tenant: &TenantId, part: &'static str) -> Self {
        Self::Tenant {
            tenant: tenant.clone(),
            part,
            source: Box::new(self),
        }
    }
}
