//! A push as an FCM HTTP v1 `messages:send` body.
//!
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages>

use std::collections::BTreeMap;

use serde::Serialize;

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
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    data: &'a BTreeMap<String, String>,
    android: Android<'a>,
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
}

/// The request body, or the outcome that stops it before sending.
pub(crate) fn body(push: &Push, validate_only: bool) -> Result<Vec<u8>, Outcome> {
    let n = &push.notification;
    let size: usize = n.data.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
        + n.title.as_deref().map_or(0, str::len)
        + n.body.as_deref().map_or(0, str::len);
    if size > MAX_PAYLOAD {
        return Err(Outcome::rejected(
            None,
            "PayloadTooLarge",
            format!("{size} bytes of data and text, FCM takes at most {MAX_PAYLOAD}"),
        ));
    }
    let alert = n.kind == PushKind::Alert && (n.title.is_some() || n.body.is_some());
    let android_notification =
        (alert && (n.sound.is_some() || n.badge.is_some())).then_some(AndroidNotification {
            sound: n.sound.as_deref(),
            notification_count: n.badge,
        });
    let request = SendRequest {
        validate_only,
        message: Message {
            token: push.token.as_str(),
            notification: alert.then_some(Notification {
                title: n.title.as_deref(),
                body: n.body.as_deref(),
            }),
            data: &n.data,
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
    fn too_large_is_caught_before_sending() {
        let p = push(N::background().data("k", "v".repeat(4096)));
        let outcome = body(&p, false).unwrap_err();
        assert_eq!(outcome.reason().unwrap().code, "PayloadTooLarge");
    }
}
