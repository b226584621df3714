//! The rules: the seed page's, per tenant (in `tenant`), and the service's own sanity rules.

pub(crate) mod checks;
mod directory;
mod discovery;
mod graph;
mod tenant;

use std::collections::BTreeSet;
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use url::{Host, Url};

use self::checks::check_https;
use super::ServiceSettings;
use super::error::{Problems, SettingsError};
use super::service::{ApnsSettings, FcmSettings, decode_key};
use super::tenant::AuthenticationType;

/// The shortest admin token accepted.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

impl ServiceSettings {
    /// Checks every rule; the error lists every broken rule, each naming its field
    /// (`tenants[contoso].scp_ssl`) and the rule in plain words.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Problems::default();
        self.validate_into(&mut problems);
        problems.finish()
    }

    pub(crate) fn validate_into(&self, problems: &mut Problems) {
        self.check_server(problems);
        self.check_store(problems);
        self.check_cluster(problems);
        self.check_devices(problems);
        if self
            .secrets
            .directories
            .iter()
            .any(|d| d.as_os_str().is_empty())
        {
            problems.push(
                "secrets.directories",
                "an entry is empty: name each directory that holds secret files",
            );
        }
        let admin = &self.admin;
        let given = secret(
            problems,
            "admin.token",
            (&admin.token, &admin.token_file, &admin.token_env),
            Some("the admin API's bearer token is required (admin.token_file or BEMS_ADMIN_TOKEN)"),
        );
        if given
            && admin
                .token
                .as_ref()
                .is_some_and(|t| t.expose_secret().len() < MIN_ADMIN_TOKEN_LEN)
        {
            problems.push(
                "admin.token",
                format!("the admin token must be at least {MIN_ADMIN_TOKEN_LEN} characters long"),
            );
        }
        self.check_push(problems);
        if self.tenants.is_empty() {
            problems.push("tenants", "at least one [[tenants]] table is required");
        }
        let mut seen = BTreeSet::new();
        for tenant in &self.tenants {
            if !seen.insert(&tenant.id) {
                problems.push(
                    format!("tenants[{}].id", tenant.id),
                    "another tenant has the same id",
                );
            }
            tenant::check(tenant, self.server.public_url.as_ref(), problems);
        }
    }

    fn check_server(&self, problems: &mut Problems) {
        let server = &self.server;
        if let Some(url) = &server.public_url
            && let Err(rule) = check_public_url(url)
        {
            problems.push("server.public_url", rule);
        }
        match (&server.tls_cert_file, &server.tls_key_file) {
            (Some(_), None) => problems.push(
                "server.tls_key_file",
                "is required with server.tls_cert_file (both or neither)",
            ),
            (None, Some(_)) => problems.push(
                "server.tls_cert_file",
                "is required with server.tls_key_file (both or neither)",
            ),
            _ => {}
        }
    }

    fn check_cluster(&self, problems: &mut Problems) {
        let cluster = &self.cluster;
        if let Some(node) = &cluster.node
            && let Err(invalid) = bems_store::NodeId::new(node.as_str())
        {
            problems.push("cluster.node", invalid.to_string());
        }
        if !(1..=1_000_000).contains(&cluster.capacity) {
            problems.push(
                "cluster.capacity",
                "must be 1 to 1,000,000 mailboxes a node watches",
            );
        }
        if !(3..=600).contains(&cluster.lease_seconds) {
            problems.push(
                "cluster.lease_seconds",
                "must be 3 to 600 (a lease is renewed every third of it)",
            );
        }
    }

    fn check_devices(&self, problems: &mut Problems) {
        let devices = &self.devices;
        if !(1..=1000).contains(&devices.max_per_mailbox) {
            problems.push(
                "devices.max_per_mailbox",
                "must be 1 to 1000 (each mail costs one push per device)",
            );
        }
        if !(1..=600).contains(&devices.registrations_per_minute) {
            problems.push("devices.registrations_per_minute", "must be 1 to 600");
        }
    }

    fn check_store(&self, problems: &mut Problems) {
        let store = &self.store;
        if store.path.as_os_str().is_empty() {
            problems.push("store.path", "the SQLite file's path is empty");
        }
        secret(
            problems,
            "store.url",
            (&store.url, &store.url_file, &store.url_env),
            None,
        );
        let shared = store.url.as_ref().filter(|u| !u.expose_secret().is_empty());
        if let Some(url) = shared {
            // The URL may hold a password: the rule never quotes it.
            let scheme = Url::parse(url.expose_secret()).map(|u| u.scheme().to_owned());
            if !matches!(scheme.as_deref(), Ok("postgres" | "postgresql")) {
                problems.push(
                    "store.url",
                    "must be a PostgreSQL URL: postgres://user:password@host:5432/database",
                );
            }
        }
        let passive = self
            .tenants
            .iter()
            .find(|t| t.authentication == AuthenticationType::Passive);
        let needed = match (passive, shared) {
            (_, Some(_)) => Some(
                "a PostgreSQL store is shared by nodes that must all read the secrets sealed in \
                 it: a store key is required, the same on every node (store.key_file or \
                 BEMS_STORE_KEY)"
                    .to_owned(),
            ),
            (Some(tenant), None) => Some(format!(
                "tenant {} uses passive authentication, whose refresh token is stored \
                 encrypted: a store key is required (store.key_file or BEMS_STORE_KEY)",
                tenant.id
            )),
            (None, None) => None,
        };
        secret(
            problems,
            "store.key",
            (&store.key, &store.key_file, &store.key_env),
            needed.as_deref(),
        );
        if let Some(key) = &store.key
            && !key.expose_secret().is_empty()
            && let Err(rule) = decode_key(key.expose_secret())
        {
            problems.push("store.key", rule);
        }
    }

    fn check_push(&self, problems: &mut Problems) {
        let push = &self.push;
        if push.apns.is_none() && push.fcm.is_none() {
            problems.push(
                "push",
                "no push provider: configure [push.apns], [push.fcm] or both",
            );
        }
        if let Some(apns) = &push.apns {
            check_apns(apns, problems);
        }
        if let Some(fcm) = &push.fcm {
            check_fcm(fcm, problems);
        }
    }
}

/// `server.public_url`: `https`, or `http` on a loopback host (tests); no query or fragment.
fn check_public_url(url: &Url) -> Result<(), String> {
    let loopback = match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && loopback {
        checks::check_plain(url)?;
    } else {
        check_https(url)?;
    }
    if url.query().is_some() {
        return Err(format!("{url} has a query (?...)"));
    }
    Ok(())
}

fn check_apns(apns: &ApnsSettings, problems: &mut Problems) {
    if let Err(rule) = check_https(&apns.endpoint) {
        problems.push("push.apns.endpoint", rule);
    }
    for (field, value) in [("team_id", &apns.team_id), ("key_id", &apns.key_id)] {
        if !(value.len() == 10 && value.bytes().all(|b| b.is_ascii_alphanumeric())) {
            problems.push(
                format!("push.apns.{field}"),
                "Apple's ids are 10 letters or digits (from the developer account)",
            );
        }
    }
    if apns.key_file.is_none() {
        problems.push(
            "push.apns.key_file",
            "the APNs signing key (.p8 file) is required",
        );
    }
    if apns.topic.is_empty() || apns.topic.contains(char::is_whitespace) {
        problems.push(
            "push.apns.topic",
            "the app's bundle id (com.example.mail) is required, without spaces",
        );
    }
}

fn check_fcm(fcm: &FcmSettings, problems: &mut Problems) {
    if fcm.service_account_file.is_none() {
        problems.push(
            "push.fcm.service_account_file",
            "the Firebase service account's JSON key file is required",
        );
    }
    if let Err(rule) = check_https(&fcm.base_url) {
        problems.push("push.fcm.base_url", rule);
    }
    if let Some(url) = &fcm.token_url
        && let Err(rule) = check_https(url)
    {
        problems.push("push.fcm.token_url", rule);
    }
}

/// Checks a secret's sources (value, `_file`, `_env`): at most one, `required` says why one
/// is needed, a value is not empty. Returns whether one is given.
fn secret(
    problems: &mut Problems,
    field: &str,
    (value, file, env): (&Option<SecretString>, &Option<PathBuf>, &Option<String>),
    required: Option<&str>,
) -> bool {
    let count =
        usize::from(value.is_some()) + usize::from(file.is_some()) + usize::from(env.is_some());
    if count > 1 {
        let key = field.rsplit('.').next().unwrap_or(field);
        problems.push(
            field,
            format!("give only one of {key}, {key}_file and {key}_env"),
        );
    }
    if count == 0
        && let Some(rule) = required
    {
        problems.push(field, rule);
    }
    if value.as_ref().is_some_and(|s| s.expose_secret().is_empty()) {
        problems.push(field, "is empty");
    }
    count > 0
}

#[cfg(test)]
mod tests;
