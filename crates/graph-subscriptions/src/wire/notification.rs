//! What Graph POSTs to a webhook: a `changeNotificationCollection`
//! (<https://learn.microsoft.com/graph/api/resources/changenotificationcollection>) of change
//! notifications and lifecycle notifications
//! (<https://learn.microsoft.com/graph/change-notifications-lifecycle-events>).
//!
//! Each notification is read on its own: one that cannot be read is reported and the others
//! still count. Change types and lifecycle events Graph may add are kept as `Unknown`.

use std::fmt;

use serde_json::Value;
use time::OffsetDateTime;

use super::parse_datetime;

/// `changeType`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangeType {
    /// A message was created (new mail, or moved into the folder).
    Created,
    /// A message changed (read, flagged).
    Updated,
    /// A message was deleted or moved out.
    Deleted,
    /// A value this crate does not know.
    Unknown(String),
}

impl ChangeType {
    /// Reads a wire value.
    pub fn parse(text: &str) -> Self {
        match text {
            "created" => Self::Created,
            "updated" => Self::Updated,
            "deleted" => Self::Deleted,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Unknown(other) => other,
        }
    }
}

/// `lifecycleEvent`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LifecycleEvent {
    /// Reauthorize (`POST /subscriptions/{id}/reauthorize`) or renew the subscription.
    ReauthorizationRequired,
    /// The subscription is gone: create a new one and resync.
    SubscriptionRemoved,
    /// Notifications were lost: resync with a delta query.
    Missed,
    /// A value this crate does not know.
    Unknown(String),
}

impl LifecycleEvent {
    /// Reads a wire value.
    pub fn parse(text: &str) -> Self {
        match text {
            "reauthorizationRequired" => Self::ReauthorizationRequired,
            "subscriptionRemoved" => Self::SubscriptionRemoved,
            "missed" => Self::Missed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::ReauthorizationRequired => "reauthorizationRequired",
            Self::SubscriptionRemoved => "subscriptionRemoved",
            Self::Missed => "missed",
            Self::Unknown(other) => other,
        }
    }
}

/// What a notification says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A resource changed.
    Change {
        /// How.
        change_type: ChangeType,
        /// `resource`: `Users/{user}/Messages/{id}`.
        resource: String,
        /// `resourceData.id`, else the last segment of `resource`.
        id: Option<String>,
    },
    /// The subscription's state changed.
    Lifecycle(LifecycleEvent),
}

/// One notification of a collection.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Notification {
    /// `subscriptionId`.
    pub subscription_id: String,
    client_state: Option<String>,
    /// What happened.
    pub kind: Kind,
    /// `subscriptionExpirationDateTime`.
    pub subscription_expires: Option<OffsetDateTime>,
    /// `tenantId`.
    pub tenant_id: Option<String>,
}

impl fmt::Debug for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notification")
            .field("subscription_id", &self.subscription_id)
            .field(
                "client_state",
                &self.client_state.as_ref().map(|_| "[redacted]"),
            )
            .field("kind", &self.kind)
            .field("subscription_expires", &self.subscription_expires)
            .field("tenant_id", &self.tenant_id)
            .finish()
    }
}

impl Notification {
    /// `clientState`, to compare with the one the subscription was created with (a
    /// secret: never log it).
    pub fn client_state(&self) -> Option<&str> {
        self.client_state.as_deref()
    }

    fn from_value(value: &Value) -> Result<Self, String> {
        let text = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let subscription_id =
            text("subscriptionId").ok_or("a notification without subscriptionId")?;
        if !crate::ids::is_subscription_id(&subscription_id) {
            return Err("a notification whose subscriptionId is not a GUID".into());
        }
        let kind = match (text("lifecycleEvent"), text("changeType")) {
            (Some(event), _) => Kind::Lifecycle(LifecycleEvent::parse(&event)),
            (None, Some(change)) => {
                let resource = text("resource").unwrap_or_default();
                let id = value
                    .get("resourceData")
                    .and_then(|d| d.get("id"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .or_else(|| {
                        resource
                            .rsplit_once('/')
                            .map(|(_, id)| id.to_owned())
                            .filter(|id| !id.is_empty())
                    });
                if id
                    .as_deref()
                    .is_some_and(|id| !crate::ids::is_message_id(id))
                {
                    return Err("a notification whose message id is not a Graph id".into());
                }
                Kind::Change {
                    change_type: ChangeType::parse(&change),
                    resource,
                    id,
                }
            }
            (None, None) => {
                return Err("a notification with neither changeType nor lifecycleEvent".into());
            }
        };
        Ok(Self {
            subscription_id,
            client_state: text("clientState"),
            kind,
            subscription_expires: text("subscriptionExpirationDateTime")
                .as_deref()
                .and_then(parse_datetime),
            tenant_id: text("tenantId"),
        })
    }
}

/// Parses a collection: every notification, or why it could not be read. The whole body
/// fails only when it is not a JSON object with a `value` array.
pub fn parse_collection(body: &[u8]) -> Result<Vec<Result<Notification, String>>, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let items = value
        .get("value")
        .and_then(Value::as_array)
        .ok_or("no \"value\" array")?;
    Ok(items.iter().map(Notification::from_value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB_1: &str = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07";

    /// Microsoft's sample (change-notifications-delivery-webhooks.md) with its placeholders
    /// filled in (a GUID subscription id, a message id), a lifecycle notification, and broken
    /// ones added.
    const SAMPLE: &str = r##"{"value":[
        {"id":"lsgTZMr9KwAAA","subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2016-03-19T22:11:09.952Z",
         "clientState":"secretClientValue","changeType":"created",
         "resource":"users/{user_guid}@{tenant_guid}/messages/AAMkAGI2THVSAAA=",
         "tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95",
         "resourceData":{"@odata.type":"#Microsoft.Graph.Message","@odata.id":"Users/x/Messages/y","@odata.etag":"W/\"CQ\"","id":"AAMkAGI2THVSAAA="}},
        {"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","subscriptionExpirationDateTime":"2019-03-20T11:00:00.0000000Z","tenantId":"t",
         "clientState":"secretClientValue","lifecycleEvent":"missed"},
        {"subscriptionId":"8a2bf1c4-0000-4000-8000-000000000002","lifecycleEvent":"somethingNew"},
        {"changeType":"created"},
        {"subscriptionId":"8a2bf1c4-0000-4000-8000-000000000003"},
        {"subscriptionId":"../users/mara@contoso.com/messages/AAMk","lifecycleEvent":"missed"},
        {"subscriptionId":"sub-1","changeType":"created"},
        {"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","changeType":"created","resourceData":{"id":"AAMk/../x?y"}},
        42
    ]}"##;

    #[test]
    fn every_notification_is_read_on_its_own() {
        let items = parse_collection(SAMPLE.as_bytes()).expect("a collection");
        assert_eq!(items.len(), 9);
        let change = items[0].as_ref().expect("change");
        assert_eq!(change.subscription_id, SUB_1);
        assert_eq!(change.client_state(), Some("secretClientValue"));
        assert!(
            matches!(&change.kind, Kind::Change { change_type: ChangeType::Created, id: Some(id), .. } if id == "AAMkAGI2THVSAAA=")
        );
        assert!(change.subscription_expires.is_some());
        assert!(!format!("{change:?}").contains("secretClientValue"));
        let lifecycle = items[1].as_ref().expect("lifecycle");
        assert_eq!(lifecycle.kind, Kind::Lifecycle(LifecycleEvent::Missed));
        let unknown = items[2].as_ref().expect("unknown event");
        assert_eq!(
            unknown.kind,
            Kind::Lifecycle(LifecycleEvent::Unknown("somethingNew".into()))
        );
        // No subscription id, no kind, a path or a name for an id, a message id that is a path.
        for (i, item) in items.iter().enumerate().skip(3) {
            assert!(item.is_err(), "item {i} read: {item:?}");
        }
    }

    #[test]
    fn the_id_falls_back_to_the_resource() {
        let body = br#"{"value":[{"subscriptionId":"7f105c7d-2dc5-4530-97cd-4e7ae6534c07","changeType":"deleted","resource":"Users/u/Messages/AAMk-1"}]}"#;
        let items = parse_collection(body).expect("collection");
        assert!(
            matches!(&items[0], Ok(Notification { kind: Kind::Change { id: Some(id), change_type: ChangeType::Deleted, .. }, .. }) if id == "AAMk-1")
        );
    }

    #[test]
    fn bodies_that_are_not_collections_fail_without_panicking() {
        for bad in [
            &b""[..],
            b"{}",
            b"[]",
            br#"{"value":{}}"#,
            b"\xff\xfe",
            b"{\"value\":[",
            &[b'{'; 10_000][..],
        ] {
            assert!(parse_collection(bad).is_err());
        }
    }
}
