//! The service-wide sections: `[server]`, `[store]`, `[cluster]`, `[devices]`, `[admin]`,
//! `[push.apns]`, `[push.fcm]`.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;
use zeroize::Zeroizing;

/// `[server]`: where the HTTP API listens and how the outside reaches it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// The address the API listens on (`127.0.0.1:8443` by default).
    pub listen: SocketAddr,
    /// The URL Exchange and browsers reach this service at (through a reverse proxy,
    /// perhaps): push-subscription callbacks and the passive-authentication redirect URI
    /// are made from it. `https`, except on a loopback host.
    pub public_url: Option<Url>,
    /// The TLS certificate chain (PEM) the API serves; without it the API speaks plain HTTP
    /// (behind a TLS-terminating proxy).
    pub tls_cert_file: Option<PathBuf>,
    /// The TLS private key (PEM) of `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8443)),
            public_url: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// `[store]`: where the service keeps its data (a SQLite file for one node, or a PostgreSQL
/// database that several nodes share) and the key that encrypts the secrets kept there.
///
/// The key is never written in the settings file: it comes from `key_file`, from the
/// variable named by `key_env`, or from `BEMS_STORE_KEY`. The PostgreSQL URL may carry a
/// password, so it is a secret too: `url`, `url_file` or `url_env` (or `BEMS_STORE__URL`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// The SQLite file (`bems.db` by default, relative to the working directory). With a
    /// PostgreSQL `url` no SQLite file is opened; the node's own files (Graph's spool) are
    /// still placed next to this path.
    pub path: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host:5432/bems`) instead of the
    /// SQLite file: every node given the same URL and key shares tenants, devices, mailboxes,
    /// the outbox and the mailbox leases.
    pub url: Option<SecretString>,
    /// A file holding the PostgreSQL URL.
    pub url_file: Option<PathBuf>,
    /// An environment variable holding the PostgreSQL URL.
    pub url_env: Option<String>,
    /// A CA (PEM) trusted for the PostgreSQL server's certificate besides the system's roots.
    /// The URL's `sslmode` decides whether TLS is used (`require`, `prefer` (the default),
    /// `disable`); with TLS the certificate and the host name are always checked.
    pub ca_file: Option<PathBuf>,
    /// A file holding the AES-256-GCM key: 64 hexadecimal digits, or 32 bytes in base64.
    pub key_file: Option<PathBuf>,
    /// An environment variable holding the key (besides `BEMS_STORE_KEY`, always read).
    pub key_env: Option<String>,
    /// The key, once read from `key_file` or the environment.
    #[serde(skip)]
    pub key: Option<SecretString>,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            path: PathBuf::from("bems.db"),
            url: None,
            url_file: None,
            url_env: None,
            ca_file: None,
            key_file: None,
            key_env: None,
            key: None,
        }
    }
}

impl StoreSettings {
    /// The 32 key bytes, if a key was given; the error says what is wrong with its format.
    pub fn key_bytes(&self) -> Result<Option<Zeroizing<[u8; 32]>>, &'static str> {
        self.key
            .as_ref()
            .map(|key| decode_key(key.expose_secret()))
            .transpose()
    }
}

/// Decodes a store key: 64 hexadecimal digits, or base64 (standard alphabet) of 32 bytes.
pub(crate) fn decode_key(text: &str) -> Result<Zeroizing<[u8; 32]>, &'static str> {
    const RULE: &str = "the store key must be 64 hexadecimal digits or 32 bytes in base64";
    let text = text.trim();
    let mut key = Zeroizing::new([0u8; 32]);
    if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        for (byte, pair) in key.iter_mut().zip(text.as_bytes().chunks(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        return Ok(key);
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| RULE)?,
    );
    if decoded.len() != 32 {
        return Err(RULE);
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

fn hex_value(digit: u8) -> u8 {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
        .unwrap_or(0)
}

/// `[cluster]`: this node among the nodes that share one PostgreSQL store.
///
/// Each stored mailbox is watched by one node at a time, under a lease in the store that
/// its node renews every third of `lease_seconds`; a node that stops renewing (killed,
/// cut off) loses its mailboxes to the others when the leases run out. Each node takes a
/// fair share of the mailboxes, at most `capacity`; alarms are raised at 80% and 100% of it.
/// One node on SQLite uses the same machinery, alone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterSettings {
    /// The node's name in the cluster (letters, digits, `.`, `-`, `_`; at most 64), unique
    /// among the nodes: the host's name when left out (so two nodes on one host must each
    /// be given one). A node restarted under its name takes back at once what its last run
    /// held; a node refuses to start under the name of a live node elsewhere.
    pub node: Option<String>,
    /// The most mailboxes this node watches (10,000 by default, as in BlackBerry's example
    /// deployment): a warning at 80% of it, an error at 100%, when mailboxes beyond it wait.
    pub capacity: u32,
    /// How long a mailbox lease lasts unless renewed (30 s by default, 3 to 600): the
    /// longest a dead node's mailboxes, and the pushes it had taken, wait for another node.
    pub lease_seconds: u32,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            node: None,
            capacity: 10_000,
            lease_seconds: 30,
        }
    }
}

/// `[devices]`: bounds on what device registrations may hold and cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// The most devices one mailbox may have registered (10 by default); a registration
    /// beyond is refused with 409. Each mail costs one push per device.
    pub max_per_mailbox: u32,
    /// The most registrations one user may make per minute (10 by default); beyond, 429 with
    /// `Retry-After`. Apps register at each start; this bounds what a stolen bearer token
    /// can cost.
    pub registrations_per_minute: u32,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        Self {
            max_per_mailbox: 10,
            registrations_per_minute: 10,
        }
    }
}

/// `[admin]`: the bearer token of the administration API.
///
/// The token is never written in the settings file: it comes from `token_file`, from the
/// variable named by `token_env`, or from `BEMS_ADMIN_TOKEN`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminSettings {
    /// A file holding the token (at least 32 characters).
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token (besides `BEMS_ADMIN_TOKEN`, always read).
    pub token_env: Option<String>,
    /// The token, once read from `token_file` or the environment.
    #[serde(skip)]
    pub token: Option<SecretString>,
}

/// `[push]`: the providers pushes go through; at least one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Apple Push Notification service, for iOS devices.
    pub apns: Option<ApnsSettings>,
    /// Firebase Cloud Messaging, for Android devices.
    pub fcm: Option<FcmSettings>,
}

/// `[push.apns]`: token-based APNs ([Apple's documentation](https://developer.apple.com/documentation/usernotifications/establishing-a-token-based-connection-to-apns)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApnsSettings {
    /// The APNs origin: `https://api.push.apple.com` (production, the default),
    /// `https://api.sandbox.push.apple.com` (development builds), or a mock.
    pub endpoint: Url,
    /// The 10-character team id.
    pub team_id: String,
    /// The 10-character id of the signing key.
    pub key_id: String,
    /// The signing key's `.p8` file.
    pub key_file: Option<PathBuf>,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// An extra CA certificate (PEM) to trust for the endpoint: a mock's.
    pub ca_file: Option<PathBuf>,
}

/// APNs' production origin.
pub const APNS_PRODUCTION: &str = "https://api.push.apple.com";
/// APNs' development origin.
pub const APNS_SANDBOX: &str = "https://api.sandbox.push.apple.com";
/// FCM's origin.
pub const FCM_BASE_URL: &str = "https://fcm.googleapis.com";

impl Default for ApnsSettings {
    fn default() -> Self {
        Self {
            endpoint: fixed_url(APNS_PRODUCTION),
            team_id: String::new(),
            key_id: String::new(),
            key_file: None,
            topic: String::new(),
            ca_file: None,
        }
    }
}

/// `[push.fcm]`: FCM HTTP v1 ([Google's documentation](https://firebase.google.com/docs/cloud-messaging/send/v1-api)).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FcmSettings {
    /// The service account's JSON key file.
    pub service_account_file: Option<PathBuf>,
    /// The FCM origin (`https://fcm.googleapis.com`; settable for a mock).
    pub base_url: Url,
    /// Where to exchange the signed assertion for an access token, instead of the key
    /// file's `token_uri` (a mock).
    pub token_url: Option<Url>,
    /// An extra CA certificate (PEM) to trust for FCM and the token URL: a mock's.
    pub ca_file: Option<PathBuf>,
}

impl Default for FcmSettings {
    fn default() -> Self {
        Self {
            service_account_file: None,
            base_url: fixed_url(FCM_BASE_URL),
            token_url: None,
            ca_file: None,
        }
    }
}

/// A URL written in this file.
pub(crate) fn fixed_url(text: &'static str) -> Url {
    #[allow(clippy::expect_used)]
    Url::parse(text).expect("URL constants in this module parse")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keys_are_hex_or_base64_of_32_bytes() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let key = decode_key(hex).map(|k| *k);
        assert_eq!(
            key.map(|k| (k[0], k[1], k[15], k[31])),
            Ok((0x00, 0x11, 0xff, 0xff))
        );
        let base64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(decode_key(&base64).map(|k| *k), Ok([7u8; 32]));
        let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
        for bad in [
            "",
            "secret",
            &hex[..62],
            &short,
            &format!("{}zz", &hex[..62]),
        ] {
            assert!(decode_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let server = ServerSettings::default();
        assert_eq!(server.listen.to_string(), "127.0.0.1:8443");
        assert_eq!(StoreSettings::default().path, PathBuf::from("bems.db"));
        assert_eq!(
            ApnsSettings::default().endpoint.as_str(),
            "https://api.push.apple.com/"
        );
        assert_eq!(
            FcmSettings::default().base_url.as_str(),
            "https://fcm.googleapis.com/"
        );
    }
}
