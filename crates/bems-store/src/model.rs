//! The records the service keeps: tenants, devices, watched mailboxes, pending pushes.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::cluster::NodeId;

/// A tenant's name (`contoso`): letters, digits, `-` and `_`, 1-64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// A tenant id, checked.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidId> {
        let id = id.into();
        let valid = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(id))
        } else {
            Err(InvalidId(id))
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidId;

    fn try_from(value: String) -> Result<Self, InvalidId> {
        Self::new(value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

/// A tenant id that breaks the rules.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a tenant id (1-64 letters, digits, '-' or '_')")]
pub struct InvalidId(pub String);

/// Where a device's pushes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// Apple Push Notification service (iOS, iPadOS).
    Apns,
    /// Firebase Cloud Messaging (Android).
    Fcm,
}

impl Platform {
    /// `apns` or `fcm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Apns => "apns",
            Self::Fcm => "fcm",
        }
    }

    /// Parses `apns` / `ios` or `fcm` / `android`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "apns" | "ios" => Some(Self::Apns),
            "fcm" | "android" => Some(Self::Fcm),
            _ => None,
        }
    }
}

/// A device to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDevice {
    /// The tenant.
    pub tenant: TenantId,
    /// The mailbox whose mail the device is told about (lower-cased SMTP address).
    pub mailbox: String,
    /// APNs or FCM.
    pub platform: Platform,
    /// The push token (APNs device token in hex, or FCM registration token).
    pub token: String,
    /// The app: APNs topic (bundle id) or the FCM app's package.
    pub app_id: String,
    /// The user's locale (`en`, `de-CH`), for the notification's text.
    pub locale: String,
    /// The device's X25519 public key (URL-safe base64, 32 bytes), when its app opens sealed
    /// alerts: the alert's content is then sealed to it. Each registration replaces it (a
    /// registration without one clears it): that is how a device rotates its key.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// A registered device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// The store's id.
    pub id: i64,
    /// What was registered.
    #[serde(flatten)]
    pub device: NewDevice,
    /// When it was (last) registered.
    #[serde(with = "time::serde::rfc3339")]
    pub registered_at: OffsetDateTime,
}

/// A mailbox the service watches, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxRecord {
    /// The tenant.
    pub tenant: TenantId,
    /// The mailbox (lower-cased SMTP address).
    pub mailbox: String,
    /// Its EWS URL, once discovered.
    pub ews_url: Option<String>,
    /// Its `GroupingInformation`, once discovered.
    pub grouping: Option<String>,
    /// The last watermark saved (pull and push subscriptions resume from it).
    pub watermark: Option<String>,
}

/// A push waiting to be sent: written before the watermark that follows its event, deleted
/// once the provider accepted it (or the token was found dead).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPush {
    /// The device it goes to.
    pub device_id: i64,
    /// The tenant.
    pub tenant: TenantId,
    /// The mailbox it is about.
    pub mailbox: String,
    /// The notification, as JSON (the orchestrator's own format).
    pub payload: String,
    /// When the event that caused it was seen (Unix milliseconds), for latency.
    pub seen_at_ms: i64,
}

/// Where a batch's events leave a mailbox, written with their pushes by
/// [`Outbox::enqueue`](crate::Outbox::enqueue). Re-exported at the root.
#[derive(Debug, Clone, Copy)]
pub struct Checkpoint<'a> {
    /// The tenant.
    pub tenant: &'a TenantId,
    /// The mailbox (compared without regard to ASCII case).
    pub mailbox: &'a str,
    /// The watermark after the events, when the subscription has one (written; the mailbox
    /// row is added if it is not stored, as today).
    pub watermark: Option<&'a str>,
    /// The inbox's unread count after the events (the badge of the pushes), written with them
    /// as the mailbox's saved count (what [`unread_counts`](crate::MailboxStore::unread_counts)
    /// and [`unread_counts_of`](crate::MailboxStore::unread_counts_of) read; the mailbox row is
    /// added if it is not stored, like the watermark's). `None` leaves the saved count as it is.
    ///
    /// A node that takes a mailbox whose subscription cannot resume announces the difference
    /// between the inbox's count and the saved one: written with the pushes, the count never
    /// falls behind what they announced, so that mail is not announced twice.
    pub unread: Option<u32>,
    /// When set, nothing at all is written (no push, no watermark, no count) unless this node holds the
    /// mailbox's unexpired lease: StoreError::Conflict whose rule says the lease is another
    /// node's or expired (fencing: a node that lost its lease cannot announce what the new
    /// holder will announce).
    pub holder: Option<&'a NodeId>,
}

/// A pending push as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxEntry {
    /// The store's id.
    pub id: i64,
    /// The push.
    pub push: PendingPush,
    /// Attempts so far.
    pub attempts: u32,
    /// Not to be sent before this time (Unix milliseconds).
    pub not_before_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_ids_are_checked() {
        assert!(TenantId::new("contoso").is_ok());
        assert!(TenantId::new("contoso-eu_1").is_ok());
        for bad in ["", "con toso", "contoso/..", &"x".repeat(65)] {
            assert!(TenantId::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn platforms_parse_by_either_name() {
        assert_eq!(Platform::parse("iOS"), Some(Platform::Apns));
        assert_eq!(Platform::parse("fcm"), Some(Platform::Fcm));
        assert_eq!(Platform::parse("blackberry"), None);
    }
}
