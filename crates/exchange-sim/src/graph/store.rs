//! Graph subscriptions: what an app asked to be told about, until when, and where.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::world::mailbox::{FolderKind, Mailbox};

/// The shortest lifetime: a request for less is raised to this.
pub(crate) const MIN_LIFETIME: Duration = Duration::from_secs(45 * 60);

/// Most subscriptions to one mailbox's Outlook resources, across apps.
pub(crate) const MAILBOX_QUOTA: usize = 1000;

/// A kind of change a subscription asks for (`changeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Updated,
    Deleted,
}

impl Change {
    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "created" => Some(Self::Created),
            "updated" => Some(Self::Updated),
            "deleted" => Some(Self::Deleted),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
        }
    }
}

/// One subscription.
#[derive(Debug)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    /// The creating app: only it may read, renew or delete the subscription.
    pub(crate) app: String,
    pub(crate) mailbox: Arc<Mailbox>,
    /// The user's Graph id (notifications name it).
    pub(crate) user_id: String,
    /// `resource`, as given.
    pub(crate) resource: String,
    /// The folder watched (`None`: every folder).
    pub(crate) folder: Option<FolderKind>,
    pub(crate) changes: Vec<Change>,
    pub(crate) notification_url: String,
    pub(crate) lifecycle_url: Option<String>,
    pub(crate) client_state: Option<String>,
    pub(crate) tls_version: String,
    pub(crate) state: Mutex<SubscriptionState>,
    /// Woken by the mailbox's changes and by lifecycle changes.
    pub(crate) waker: Arc<Notify>,
    /// Cancelled when the subscription is deleted, removed or expires.
    pub(crate) ended: CancellationToken,
}

/// What changes during a subscription's life.
#[derive(Debug)]
pub(crate) struct SubscriptionState {
    pub(crate) expires: OffsetDateTime,
    /// A `reauthorizationRequired` was sent and not answered: notifications are not sent
    /// (and are lost, as Microsoft documents) until the app reauthorizes or renews.
    pub(crate) paused: bool,
    /// The next change notifications that are dropped (as Graph drops them when throttling).
    pub(crate) drop_next: u64,
}

impl Subscription {
    pub(crate) fn state(&self) -> MutexGuard<'_, SubscriptionState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn wants(&self, change: Change) -> bool {
        self.changes.contains(&change)
    }

    /// `changeType` as sent.
    pub(crate) fn change_type(&self) -> String {
        self.changes
            .iter()
            .map(|c| c.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The JSON of the subscription resource
    /// (<https://learn.microsoft.com/graph/api/resources/subscription>).
    pub(crate) fn json(&self, with_client_state: bool) -> serde_json::Value {
        let state = self.state();
        serde_json::json!({
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.app,
            "changeType": self.change_type(),
            "clientState": if with_client_state { self.client_state.clone() } else { None },
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": graph_datetime(state.expires),
            "creatorId": self.app,
            "includeResourceData": false,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": null,
            "encryptionCertificateId": null,
            "notificationQueryOptions": null,
            "notificationUrlAppId": null,
        })
    }
}

/// Every subscription, by id.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    by_id: Mutex<BTreeMap<String, Arc<Subscription>>>,
}

impl Subscriptions {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Arc<Subscription>>> {
        self.by_id.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Subscription>> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn insert(&self, subscription: Arc<Subscription>) {
        self.lock().insert(subscription.id.clone(), subscription);
    }

    /// Removes a subscription and ends its delivery.
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Subscription>> {
        let removed = self.lock().remove(id);
        if let Some(subscription) = &removed {
            subscription.ended.cancel();
        }
        removed
    }

    pub(crate) fn all(&self) -> Vec<Arc<Subscription>> {
        self.lock().values().cloned().collect()
    }

    /// How many subscriptions watch `mailbox`.
    pub(crate) fn count_for(&self, mailbox: &Mailbox) -> usize {
        self.lock()
            .values()
            .filter(|s| s.mailbox.id == mailbox.id)
            .count()
    }

    /// Removes every subscription whose expiry is before `now`; how many.
    pub(crate) fn expire(&self, now: OffsetDateTime) -> usize {
        let expired: Vec<String> = self
            .lock()
            .values()
            .filter(|s| s.state().expires <= now)
            .map(|s| s.id.clone())
            .collect();
        for id in &expired {
            tracing::debug!(subscription = %id, "Graph subscription expired");
            self.remove(id);
        }
        expired.len()
    }
}

/// The expiry a request for `requested` gets at `now`: refused past `max`, raised to 45
/// minutes when shorter.
pub(crate) fn expiry(
    now: OffsetDateTime,
    requested: OffsetDateTime,
    max: Duration,
) -> Result<OffsetDateTime, String> {
    if requested <= now {
        return Err("Subscription expiration date time must be in the future.".into());
    }
    // A second of slack for the time the request took to arrive.
    if requested > now + max + Duration::from_secs(1) {
        return Err(format!(
            "Subscription expiration can only be {} minutes in the future.",
            max.as_secs() / 60
        ));
    }
    Ok(requested.max(now + MIN_LIFETIME))
}

/// A date and time as Graph writes them: UTC, seven fractional digits, `Z`.
pub(crate) fn graph_datetime(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

/// Parses an ISO 8601 date and time with an offset (`2016-03-20T11:00:00.0000000Z`).
pub(crate) fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_follow_the_documented_rules() {
        let now = OffsetDateTime::now_utc();
        let max = Duration::from_secs(10_080 * 60);
        assert!(expiry(now, now - Duration::from_secs(1), max).is_err());
        let short = expiry(now, now + Duration::from_secs(60), max).expect("raised");
        assert_eq!(short, now + MIN_LIFETIME);
        let day = now + Duration::from_secs(86_400);
        assert_eq!(expiry(now, day, max), Ok(day));
        let error = expiry(now, now + max + Duration::from_secs(120), max).expect_err("too long");
        assert!(error.contains("10080 minutes"), "{error}");
    }

    #[test]
    fn datetimes_are_written_as_graph_writes_them_and_read_back() {
        let at = parse_datetime("2016-03-20T11:00:00.1234567Z").expect("parses");
        assert_eq!(graph_datetime(at), "2016-03-20T11:00:00.1234567Z");
        assert!(parse_datetime("2016-03-20T11:00:00+02:00").is_some());
        assert!(parse_datetime("tomorrow").is_none());
    }
}
