//! A push as an FCM HTTP v1 `messages:send` body.
//!
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages>

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::{Outcome, Push, PushKind};

/// FCM's limit on a message's data and notification, keys and values together.
pub(crate) const MAX_PAYLOAD: usize = 4096;

#[derive(Serialize)]
pub(crate) struct SendRequest<'a> {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    validate_only: bool,
    message: Message<'a>,
}

#[derive(Serialize)]
struct Message<'a> {
    token: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<Notification<'a>>,
    #[serde(skip_serializing_if = "Data::is_empty")]
    data: Data<'a>,
    android: Android<'a>,
}

/// `message.data`: the notification's custom data and, in a data-only message that carries a
/// badge (a [badge update](crate::Notification::badge_update)), `badge` as a string, since
/// FCM data values are strings and the app sets the badge itself. A `badge` key of the
/// caller's own wins.
struct Data<'a> {
    custom: &'a BTreeMap<String, String>,
    badge: Option<String>,
}

impl Data<'_> {
    fn is_empty(&self) -> bool {
        self.custom.is_empty() && self.badge.is_none()
    }
}

impl Serialize for Data<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = self.custom.len() + usize::from(self.badge.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        for (key, value) in self.custom {
            map.serialize_entry(key, value)?;
        }
        if let Some(badge) = &self.badge {
            map.serialize_entry("badge", badge)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct Notification<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
}

#[derive(Serialize)]
struct Android<'a> {
    priority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    collapse_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification: Option<AndroidNotification<'a>>,
}

#[derive(Serialize)]
struct AndroidNotification<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sound: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_count: Option<u32>,
    /// From the [`InterruptionLevel`](crate::InterruptionLevel):
    /// <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages#notificationpriority>
    #[serde(skip_serializing_if = "Option::is_none")]
    notification_priority: Option<&'static str>,
}

/// The request body, or the outcome that stops it before sending.
pub(crate) fn body(push: &Push, validate_only: bool) -> Result<Vec<u8>, Outcome> {
    let n = &push.notification;
    let alert = n.kind == PushKind::Alert && (n.title.is_some() || n.body.is_some());
    let data = Data {
        custom: &n.data,
        badge: n
            .badge
            .filter(|_| !alert && !n.data.contains_key("badge"))
            .map(|badge| badge.to_string()),
    };
    let size: usize = n.data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + data.badge.as_deref().map_or(0, |b| "badge".len() + b.len())
        + n.title.as_deref().map_or(0, str::len)
        + n.body.as_deref().map_or(0, str::len);
    if size > MAX_PAYLOAD {
        return Err(Outcome::rejected(
            None,
            "PayloadTooLarge",
            format!("{size} bytes of data and text, FCM takes at most {MAX_PAYLOAD}"),
        ));
    }
    let android_notification = (alert
        && (n.sound.is_some() || n.badge.is_some() || n.interruption_level.is_some()))
    .then_some(AndroidNotification {
        sound: n.sound.as_deref(),
        notification_count: n.badge,
        notification_priority: n
            .interruption_level
            .map(crate::InterruptionLevel::fcm_notification_priority),
    });
    let request = SendRequest {
        validate_only,
        message: Message {
            token: push.token.as_str(),
            notification: alert.then_some(Notification {
                title: n.title.as_deref(),
                body: n.body.as_deref(),
            }),
            data,
            android: Android {
                priority: match n.priority {
                    crate::Priority::Normal => "NORMAL",
                    _ => "HIGH",
                },
                collapse_key: n.collapse_id.as_deref(),
                ttl: n.ttl.map(|ttl| format!("{}s", ttl.as_secs())),
                notification: android_notification,
            },
        },
    };
    serde_json::to_vec(&request).map_err(|e| Outcome::rejected(None, "BadPayload", e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{DeviceToken, Notification as N, Priority};

    fn push(n: N) -> Push {
        Push::new(DeviceToken::fcm("tok-1").unwrap(), n)
    }

    #[test]
    fn alert_message() {
        let p = push(
            N::alert("New mail", "From Mara")
                .badge(4)
                .collapse_id("mbx")
                .ttl(Duration::from_secs(600))
                .data("mailbox", "m@c.com"),
        );
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        let m = &json["message"];
        assert_eq!(m["token"], "tok-1");
        assert_eq!(m["notification"]["title"], "New mail");
        assert_eq!(m["data"]["mailbox"], "m@c.com");
        assert_eq!(m["android"]["priority"], "HIGH");
        assert_eq!(m["android"]["collapse_key"], "mbx");
        assert_eq!(m["android"]["ttl"], "600s");
        assert_eq!(m["android"]["notification"]["notification_count"], 4);
        assert!(json.get("validate_only").is_none());
    }

    #[test]
    fn background_is_data_only_and_normal() {
        let p = push(N::background().data("k", "v"));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, true).unwrap()).unwrap();
        assert!(json["message"].get("notification").is_none());
        assert_eq!(json["message"]["android"]["priority"], "NORMAL");
        assert_eq!(json["validate_only"], true);
        let p = push(N::background().priority(Priority::High));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        assert_eq!(json["message"]["android"]["priority"], "HIGH");
    }

    #[test]
    fn interruption_levels_set_the_android_notification_priority() {
        use crate::InterruptionLevel as L;
        for (level, priority) in [
            (L::Passive, "PRIORITY_LOW"),
            (L::Active, "PRIORITY_DEFAULT"),
            (L::TimeSensitive, "PRIORITY_HIGH"),
            (L::Critical, "PRIORITY_MAX"),
        ] {
            // No sound and no badge: the level alone brings `android.notification`.
            let p = push(N::alert("New mail", "From: the CEO").interruption_level(level));
            let json: serde_json::Value =
                serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
            let android = &json["message"]["android"];
            assert_eq!(
                android["notification"],
                serde_json::json!({ "notification_priority": priority })
            );
            assert_eq!(json["message"]["notification"]["title"], "New mail");
        }
        let p = push(N::alert("t", "b"));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        assert!(json["message"]["android"].get("notification").is_none());
    }

    #[test]
    fn a_badge_update_is_data_only_normal_with_the_count_as_a_string() {
        let p = push(N::badge_update(7));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        let m = &json["message"];
        assert!(m.get("notification").is_none(), "{m}");
        assert_eq!(m["data"], serde_json::json!({ "badge": "7" }));
        assert_eq!(
            m["android"],
            serde_json::json!({ "priority": "NORMAL" }),
            "no android.notification either"
        );
        // Custom data stays beside it; a `badge` of the caller's own is not written twice.
        let p = push(N::badge_update(0).data("mailbox", "m@c.com"));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        assert_eq!(
            json["message"]["data"],
            serde_json::json!({ "badge": "0", "mailbox": "m@c.com" })
        );
        let p = push(N::badge_update(3).data("badge", "custom"));
        let text = String::from_utf8(body(&p, false).unwrap()).unwrap();
        assert_eq!(text.matches("\"badge\"").count(), 1, "{text}");
        assert!(text.contains("\"badge\":\"custom\""), "{text}");
        // An alert's badge stays `notification_count`, not data.
        let p = push(N::alert("t", "b").badge(2));
        let json: serde_json::Value = serde_json::from_slice(&body(&p, false).unwrap()).unwrap();
        assert!(json["message"].get("data").is_none());
    }

    #[test]
    fn too_large_is_caught_before_sending() {
        let p = push(N::background().data("k", "v".repeat(4096)));
        let outcome = body(&p, false).unwrap_err();
        assert_eq!(outcome.reason().unwrap().code, "PayloadTooLarge");
    }
}
