//! Settings: the service's sections and the tenant configuration of BlackBerry's "Configure
//! email notifications for BlackBerry Work" page, from a TOML file and the environment,
//! validated by the page's rules.
//!
//! # The file
//!
//! ```toml
//! [server]
//! listen = "0.0.0.0:8443"                  # default 127.0.0.1:8443
//! public_url = "https://bems.contoso.com"  # push callbacks, passive redirect URI
//!
//! [store]
//! path = "/var/lib/bems/bems.db"           # default bems.db
//! key_file = "/etc/bems/store.key"         # or BEMS_STORE_KEY
//!
//! [admin]
//! token_file = "/etc/bems/admin.token"     # or BEMS_ADMIN_TOKEN
//!
//! [secrets]
//! directories = ["/etc/bems"]              # default: this file's directory
//!
//! [push.apns]
//! team_id = "ABCDE12345"
//! key_id = "KEY1234567"
//! key_file = "/etc/bems/AuthKey_KEY1234567.p8"
//! topic = "com.contoso.mail"
//!
//! [[tenants]]
//! id = "contoso"
//! exchange = "on_premises"                 # on_premises | microsoft365 | hybrid
//! authentication = "credential"            # credential | client_certificate | passive
//! service_account_username = 'CONTOSO\svc-bems'
//! service_account_password_env = "CONTOSO_SVC_PASSWORD"
//! ```
//!
//! `crates/bems-settings/config/bems.example.toml` shows every setting. Unknown keys are
//! refused with their name, line and column.
//!
//! # Secrets
//!
//! Secrets are [`secrecy::SecretString`]s: zeroed when dropped, redacted in `Debug`.
//! A tenant's secret `X` (`service_account_password`, `client_certificate.password`,
//! `passive.client_secret`) is given one way of three: `X = "..."` in the file, `X_file =
//! "/run/secrets/..."` (a file; trailing line breaks dropped) or `X_env = "VARIABLE"`. The
//! store key and the admin token are never written in the file: `key_file` / `key_env`,
//! `token_file` / `token_env`, or `BEMS_STORE_KEY` / `BEMS_ADMIN_TOKEN`. Loading reads the
//! files and variables and keeps their content in `X` (and clears `X_file`, `X_env`).
//!
//! Files holding secrets (every `X_file`, a tenant's `.pfx`, the APNs `.p8`, the FCM service
//! account, the TLS key) are read only from the secret directories, `[secrets] directories`
//! (default: the configuration file's directory), once links and `..` are resolved
//! ([`SecretsSettings`]). A tenant's settings given through the admin API take secrets only
//! as such files, never `X = "..."` nor `X_env` ([`tenant_from_admin`]).
//!
//! # Environment overrides
//!
//! A variable `BEMS_<PATH>` whose name has `__` after `BEMS_` overrides one setting; `__`
//! separates the path's parts, and names compare without regard to case:
//!
//! | variable | setting |
//! |---|---|
//! | `BEMS_SERVER__LISTEN=0.0.0.0:8443` | `[server] listen` |
//! | `BEMS_PUSH__APNS__TOPIC=com.contoso.mail` | `[push.apns] topic` (creates `[push.apns]`) |
//! | `BEMS_TENANTS__CONTOSO__SERVICE_ACCOUNT_PASSWORD=...` | tenant `contoso`'s password |
//! | `BEMS_TENANTS__CONTOSO_EU__MODERN_AUTHENTICATION__ENABLED=true` | tenant `contoso-eu`'s table |
//! | `BEMS_STORE_KEY`, `BEMS_ADMIN_TOKEN` | the store key, the admin token |
//!
//! - A tenant is named by its id in upper case with `-` written `_`; tenants are declared in
//!   the file (an override cannot add one), and `id` and `trusted_certificates` are set only
//!   there.
//! - Values: text as is; `true` / `false`; whole numbers; lists comma-separated
//!   (`dc1.example.com,dc2.example.com`); the empty value clears an optional setting.
//! - Setting a secret (`X`, `X_FILE` or `X_ENV`) replaces however the file gave it; setting
//!   two of them is refused.
//! - Variables without `__` (`BEMS_LOG` and `RUST_LOG`, the log filter; a variable an
//!   `X_env` names) are not overrides.
//!   A `BEMS_..__..` variable that names no setting is refused, naming the variable.
//!
//! # Tenants and nodes
//!
//! Settings are per tenant and shared by every node of a cluster: "when you configure modern
//! authentication, all nodes use the specified configuration". Nothing here is per node.
//!
//! # Validation
//!
//! [`ServiceSettings::validate`] lists every broken rule, each naming its field
//! (`tenants[contoso].scp_ssl`) and the rule. [`ServiceSettings::load`] reads the file,
//! applies the environment, reads the referenced files and validates, and reports every
//! problem of the three steps at once.
//!
//! ```
//! use bems_settings::ServiceSettings;
//!
//! let mut settings = ServiceSettings::from_toml_str(r#"
//!     [push.fcm]
//!     service_account_file = "/etc/bems/fcm.json"
//!
//!     [[tenants]]
//!     id = "contoso"
//!     exchange = "microsoft365"
//!     service_account_username = "svc-bems@contoso.com"
//!     service_account_password_env = "CONTOSO_SVC_PASSWORD"
//! "#)?;
//! settings.apply_env([
//!     ("BEMS_ADMIN_TOKEN", "0123456789abcdef0123456789abcdef"),
//!     ("CONTOSO_SVC_PASSWORD", "Passw0rd!"),
//! ])?;
//! let error = settings.validate().unwrap_err();
//! assert_eq!(error.problems()[0].field, "tenants[contoso].modern_authentication.enabled");
//! # Ok::<(), bems_settings::SettingsError>(())
//! ```

mod admin;
mod alerts;
mod convert;
mod directory;
mod env;
mod error;
mod graph;
mod list;
mod secret_dirs;
mod secrets;
mod service;
mod tenant;
pub(crate) mod validate;

use std::path::Path;

use serde::Deserialize;

pub use self::admin::{redacted, tenant_from_admin, tenant_json};
pub use self::alerts::{AlertContent, AlertSettings};
pub use self::directory::{
    DEFAULT_QUERY_TEMPLATE, DirectoryBackendKind, DirectorySettings, FollowMeSettings,
    GRAPH_BASE_URL, GraphDirectorySettings, LdapDirectorySettings, QUERY_KEY, UserIdProperty,
};
pub use self::env::ENV_PREFIX;
use self::error::Problems;
pub use self::error::{Problem, SettingsError};
pub use self::graph::{GRAPH_ENDPOINT, GraphTenantSettings};
pub use self::list::CommaList;
pub use self::secret_dirs::SecretsSettings;
pub use self::service::{
    APNS_PRODUCTION, APNS_SANDBOX, AdminSettings, ApnsSettings, ClusterSettings, DeviceSettings,
    FCM_BASE_URL, FcmSettings, PushSettings, ServerSettings, StoreSettings,
};
pub use self::tenant::{
    AuthenticationType, CertificatePurpose, ClientCertificateSettings, EntitlementMode,
    EntitlementSettings, ExchangeTarget, ModernAuthSettings, OFFICE365_SERVER, PassiveSettings,
    SIGN_IN_REMINDER_DAYS, SubscriptionMode, SubscriptionSettings, TenantSettings,
    TrustedCertificate,
};
pub use self::validate::MIN_ADMIN_TOKEN_LEN;
pub use self::validate::checks::is_host_name;
use bems_store::model::TenantId;

/// Everything the service is configured with: the `[server]`, `[store]`, `[admin]`,
/// `[secrets]` and `[push]` sections and one or more `[[tenants]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSettings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[store]`.
    pub store: StoreSettings,
    /// `[cluster]`.
    pub cluster: ClusterSettings,
    /// `[devices]`.
    pub devices: DeviceSettings,
    /// `[admin]`.
    pub admin: AdminSettings,
    /// `[secrets]`: where files holding secrets may be.
    pub secrets: SecretsSettings,
    /// `[push]`.
    pub push: PushSettings,
    /// `[[tenants]]`.
    pub tenants: Vec<TenantSettings>,
}

impl ServiceSettings {
    /// Parses settings from TOML text (nothing is read from files or the environment, and
    /// nothing is validated).
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        parse(text, None)
    }

    /// Reads and parses the TOML file at `path`; errors name the file, and TOML errors the
    /// line and column. The file's directory is the secret directory unless `[secrets]`
    /// names others.
    pub fn from_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut settings = parse(&text, Some(path))?;
        settings.secrets.config_dir = Some(secret_dirs::directory_of(path));
        if let Ok(real) = std::fs::canonicalize(path) {
            settings
                .secrets
                .record("the configuration file".into(), real);
        }
        Ok(settings)
    }

    /// The settings the service runs with: the file at `path`, then the process's
    /// environment ([`apply_env`](Self::apply_env)), then the files secrets and certificates
    /// name ([`read_files`](Self::read_files)), then [`validate`](Self::validate). Every
    /// problem of the last three steps is reported at once.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let mut settings = Self::from_file(path)?;
        let mut problems = Problems::default();
        let vars = process_env(&mut problems);
        for step in [
            settings.apply_env(vars),
            settings.read_files(),
            settings.validate(),
        ] {
            if let Err(error) = step {
                problems.0.extend(error.problems().iter().cloned());
            }
        }
        problems.finish().map(|()| settings)
    }

    /// The tenant with this id.
    pub fn tenant(&self, id: &TenantId) -> Option<&TenantSettings> {
        self.tenants.iter().find(|tenant| &tenant.id == id)
    }
}

fn parse(text: &str, file: Option<&Path>) -> Result<ServiceSettings, SettingsError> {
    toml::from_str(text).map_err(|error: toml::de::Error| {
        let (line, column) = match error.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        SettingsError::Parse {
            file: file.map(Path::to_owned),
            line,
            column,
            message: error.message().trim_end().to_owned(),
            source: Box::new(error),
        }
    })
}

/// The line and column (from 1; the column in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// The process's environment; a `BEMS_` variable that is not Unicode is a problem, others are
/// skipped.
fn process_env(problems: &mut Problems) -> Vec<(String, String)> {
    let mut vars = Vec::new();
    for (name, value) in std::env::vars_os() {
        match (name.into_string(), value.into_string()) {
            (Ok(name), Ok(value)) => vars.push((name, value)),
            (Ok(name), Err(_))
                if name
                    .get(..ENV_PREFIX.len())
                    .is_some_and(|prefix| prefix.eq_ignore_ascii_case(ENV_PREFIX)) =>
            {
                problems.push(name, "the value is not valid Unicode");
            }
            _ => {}
        }
    }
    vars
}

#[cfg(test)]
mod tests;
