//! Environment overrides: `BEMS_<SECTION>__<FIELD>`; the scheme is described in the
//! [module documentation](super#environment-overrides).

mod directory;
mod graph;
mod tenant;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use serde::de::value::{Error as ValueError, StrDeserializer};
use url::Url;
use zeroize::Zeroizing;

use super::ServiceSettings;
use super::error::{Problems, SettingsError};
use super::list::CommaList;
use super::service::{
    AdminSettings, ApnsSettings, ClusterSettings, FcmSettings, ServerSettings, StoreSettings,
};

/// The prefix of every variable this module reads.
pub const ENV_PREFIX: &str = "BEMS_";

impl ServiceSettings {
    /// Applies the environment `vars` (name, value): every `BEMS_<SECTION>__<FIELD>`
    /// override, `BEMS_STORE_KEY` and `BEMS_ADMIN_TOKEN`, then every `*_env` reference of
    /// the settings. Variables without `__` after `BEMS_` are not overrides and are left
    /// alone (a `*_env` reference may name one).
    ///
    /// Every variable that names no setting, or whose value does not fit its setting, is a
    /// problem naming the variable; so is a `*_env` reference to a variable that is not set.
    pub fn apply_env<I, K, V>(&mut self, vars: I) -> Result<(), SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let vars: BTreeMap<String, Zeroizing<String>> = vars
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), Zeroizing::new(v.as_ref().to_owned())))
            .collect();
        let mut problems = Problems::default();
        let mut bases: BTreeMap<String, &str> = BTreeMap::new();
        for (name, value) in &vars {
            let Some(path) = override_path(name) else {
                continue;
            };
            // `X`, `X_FILE` and `X_ENV` set one secret three ways: only one may be given.
            let base = path
                .strip_suffix("_file")
                .or_else(|| path.strip_suffix("_env"))
                .unwrap_or(&path)
                .to_owned();
            if let Some(other) = bases.insert(base, name.as_str()) {
                problems.push(
                    name.as_str(),
                    format!("{other} sets the same setting: give only one of them"),
                );
                continue;
            }
            match self.set(&path, value) {
                Ok(()) => {}
                Err(SetError::Unknown) => problems.push(
                    name.as_str(),
                    format!(
                        "names no setting that can be set from the environment ({})",
                        path.replace("__", ".")
                    ),
                ),
                Err(SetError::Invalid(rule)) => problems.push(name.as_str(), rule),
            }
        }
        self.resolve_env_refs(&vars, &mut problems);
        problems.finish()
    }

    /// Sets the setting at `path` (`server__listen`, lower case) from an environment value.
    fn set(&mut self, path: &str, value: &str) -> Result<(), SetError> {
        if let Some(rest) = path.strip_prefix("tenants__") {
            return tenant::set(&mut self.tenants, rest, value);
        }
        let segments: Vec<&str> = path.split("__").collect();
        match segments.as_slice() {
            ["server", field] => set_server(&mut self.server, field, value),
            ["store", field] => set_store(&mut self.store, field, value),
            ["cluster", field] => set_cluster(&mut self.cluster, field, value),
            ["admin", field] => set_admin(&mut self.admin, field, value),
            ["secrets", "directories"] => {
                let directories = list(value)?;
                self.secrets.directories = directories.iter().map(PathBuf::from).collect();
                Ok(())
            }
            ["push", "apns", field] => {
                set_apns(self.push.apns.get_or_insert_default(), field, value)
            }
            ["push", "fcm", field] => set_fcm(self.push.fcm.get_or_insert_default(), field, value),
            _ => Err(SetError::Unknown),
        }
    }
}

/// The setting path a variable overrides (lower case, `__`-separated), or `None` when the
/// variable is not an override.
fn override_path(name: &str) -> Option<String> {
    let prefix = name.get(..ENV_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(ENV_PREFIX) {
        return None;
    }
    let rest = name[ENV_PREFIX.len()..].to_ascii_lowercase();
    match rest.as_str() {
        "store_key" => Some("store__key".into()),
        "admin_token" => Some("admin__token".into()),
        _ if rest.contains("__") => Some(rest),
        _ => None,
    }
}

fn set_server(server: &mut ServerSettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "listen" => server.listen = socket_addr(value)?,
        "public_url" => server.public_url = optional(value, url)?,
        "tls_cert_file" => server.tls_cert_file = optional(value, path)?,
        "tls_key_file" => server.tls_key_file = optional(value, path)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_store(store: &mut StoreSettings, field: &str, value: &str) -> Result<(), SetError> {
    let (key, file, env) = (&mut store.key, &mut store.key_file, &mut store.key_env);
    let (url, url_file, url_env) = (&mut store.url, &mut store.url_file, &mut store.url_env);
    match field {
        "path" => store.path = path(value)?,
        "key" => set_secret_value(key, file, env, value),
        "key_file" => set_secret_file(key, file, env, value)?,
        "key_env" => set_secret_env(key, file, env, value),
        "url" => set_secret_value(url, url_file, url_env, value),
        "url_file" => set_secret_file(url, url_file, url_env, value)?,
        "url_env" => set_secret_env(url, url_file, url_env, value),
        "ca_file" => store.ca_file = optional(value, path)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_cluster(cluster: &mut ClusterSettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "node" => cluster.node = (!value.is_empty()).then(|| value.to_owned()),
        "capacity" => cluster.capacity = number(value)?,
        "lease_seconds" => cluster.lease_seconds = number(value)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_admin(admin: &mut AdminSettings, field: &str, value: &str) -> Result<(), SetError> {
    let (token, file, env) = (
        &mut admin.token,
        &mut admin.token_file,
        &mut admin.token_env,
    );
    match field {
        "token" => set_secret_value(token, file, env, value),
        "token_file" => set_secret_file(token, file, env, value)?,
        "token_env" => set_secret_env(token, file, env, value),
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_apns(apns: &mut ApnsSettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "endpoint" => apns.endpoint = url(value)?,
        "team_id" => apns.team_id = value.to_owned(),
        "key_id" => apns.key_id = value.to_owned(),
        "key_file" => apns.key_file = optional(value, path)?,
        "topic" => apns.topic = value.to_owned(),
        "ca_file" => apns.ca_file = optional(value, path)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

fn set_fcm(fcm: &mut FcmSettings, field: &str, value: &str) -> Result<(), SetError> {
    match field {
        "service_account_file" => fcm.service_account_file = optional(value, path)?,
        "base_url" => fcm.base_url = url(value)?,
        "token_url" => fcm.token_url = optional(value, url)?,
        "ca_file" => fcm.ca_file = optional(value, path)?,
        _ => return Err(SetError::Unknown),
    }
    Ok(())
}

/// A secret's value from the environment: replaces the file's value, file or variable.
fn set_secret_value(
    value: &mut Option<SecretString>,
    file: &mut Option<PathBuf>,
    env: &mut Option<String>,
    text: &str,
) {
    *value = (!text.is_empty()).then(|| SecretString::from(text));
    *file = None;
    *env = None;
}

/// A secret's file from the environment: replaces the file's value, file or variable.
fn set_secret_file(
    value: &mut Option<SecretString>,
    file: &mut Option<PathBuf>,
    env: &mut Option<String>,
    text: &str,
) -> Result<(), SetError> {
    *file = optional(text, path)?;
    *value = None;
    *env = None;
    Ok(())
}

/// A secret's variable from the environment: replaces the file's value, file or variable.
fn set_secret_env(
    value: &mut Option<SecretString>,
    file: &mut Option<PathBuf>,
    env: &mut Option<String>,
    text: &str,
) {
    *env = (!text.is_empty()).then(|| text.to_owned());
    *value = None;
    *file = None;
}

/// Why a variable could not be applied.
enum SetError {
    /// It names no setting.
    Unknown,
    /// Its value does not fit the setting: the rule.
    Invalid(String),
}

impl From<String> for SetError {
    fn from(rule: String) -> Self {
        Self::Invalid(rule)
    }
}

/// An optional setting: the empty string clears it.
fn optional<T>(value: &str, parse: fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

fn url(value: &str) -> Result<Url, String> {
    Url::parse(value).map_err(|e| format!("{value:?} is not a URL: {e}"))
}

fn path(value: &str) -> Result<PathBuf, String> {
    if value.is_empty() {
        Err("the path is empty".into())
    } else {
        Ok(PathBuf::from(value))
    }
}

fn socket_addr(value: &str) -> Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not an address and port (127.0.0.1:8443, [::]:8443)"))
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{value:?} is not true or false")),
    }
}

fn number(value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| format!("{value:?} is not a whole number"))
}

fn list(value: &str) -> Result<CommaList, String> {
    CommaList::parse(value)
}

/// One of an enum's names, as in the TOML file (`on_premises`).
fn variant<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    T::deserialize(StrDeserializer::<ValueError>::new(value)).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
