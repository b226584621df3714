//! A push as an APNs request: the payload through a2's model, the `apns-*` headers.
//!
//! <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>

use std::time::{SystemTime, UNIX_EPOCH};

use a2::request::notification::{
    CollapseId, DefaultNotificationBuilder, NotificationBuilder, NotificationOptions, Priority,
    PushType,
};
use bytes::Bytes;
use http::Method;
use http::header::{AUTHORIZATION, HeaderName, HeaderValue};

use super::http2::Head;

use crate::{Notification, Outcome, Push, PushKind};

/// The largest payload APNs takes (VoIP: 5120, not sent by this crate).
pub(crate) const MAX_PAYLOAD: usize = 4096;

static APNS_ID: HeaderName = HeaderName::from_static("apns-id");
static APNS_TOPIC: HeaderName = HeaderName::from_static("apns-topic");
static APNS_PUSH_TYPE: HeaderName = HeaderName::from_static("apns-push-type");
static APNS_PRIORITY: HeaderName = HeaderName::from_static("apns-priority");
static APNS_EXPIRATION: HeaderName = HeaderName::from_static("apns-expiration");
static APNS_COLLAPSE_ID: HeaderName = HeaderName::from_static("apns-collapse-id");

/// The a2 options of a notification. Background pushes are priority 5 as Apple requires.
fn options<'a>(push: &'a Push, topic: &'a str) -> Result<NotificationOptions<'a>, Outcome> {
    let n = &push.notification;
    let (push_type, priority) = match n.kind {
        PushKind::Background => (PushType::Background, Priority::Normal),
        _ => (
            PushType::Alert,
            match n.priority {
                crate::Priority::Normal => Priority::Normal,
                _ => Priority::High,
            },
        ),
    };
    let collapse_id = match &n.collapse_id {
        Some(id) => Some(CollapseId::new(id).map_err(|_| {
            Outcome::rejected(
                None,
                "BadCollapseId",
                "apns-collapse-id is longer than 64 bytes",
            )
        })?),
        None => None,
    };
    let expiration = n.ttl.map(|ttl| {
        if ttl.is_zero() {
            0
        } else {
            (SystemTime::now() + ttl)
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        }
    });
    Ok(NotificationOptions {
        apns_id: Some(push.id()),
        apns_push_type: Some(push_type),
        apns_expiration: expiration,
        apns_priority: Some(priority),
        apns_topic: Some(topic),
        apns_collapse_id: collapse_id,
    })
}

/// The JSON payload, through a2's builder; at most [`MAX_PAYLOAD`] bytes.
pub(crate) fn payload(push: &Push) -> Result<Bytes, Outcome> {
    let n: &Notification = &push.notification;
    let mut builder = DefaultNotificationBuilder::new();
    if let Some(title) = &n.title {
        builder = builder.set_title(title);
    }
    if let Some(body) = &n.body {
        builder = builder.set_body(body);
    }
    if let Some(badge) = n.badge {
        builder = builder.set_badge(badge);
    }
    if let Some(sound) = &n.sound {
        builder = builder.set_sound(sound);
    }
    if let Some(category) = &n.category {
        builder = builder.set_category(category);
    }
    if n.mutable_content {
        builder = builder.set_mutable_content();
    }
    if n.kind == PushKind::Background {
        builder = builder.set_content_available();
    }
    let payload = builder.build(push.token.as_str(), NotificationOptions::default());
    // `{"aps":…, custom keys…}`: a2's `Payload` flattens its data map into the object, and
    // serde's flatten goes through a slower generic path; this writes the same object (the
    // keys in the map's order, after `aps`) straight.
    let mut json = Vec::with_capacity(256);
    let bad = |e: serde_json::Error| Outcome::rejected(None, "BadPayload", e.to_string());
    json.extend_from_slice(b"{\"aps\":");
    serde_json::to_writer(&mut json, &payload.aps).map_err(bad)?;
    if let Some(level) = n.interruption_level {
        add_to_aps(&mut json, b"interruption-level", level.as_str().as_bytes());
    }
    for (key, value) in &n.data {
        if key == "aps" {
            return Err(Outcome::rejected(
                None,
                "BadPayload",
                "custom data cannot use the key \"aps\"",
            ));
        }
        json.push(b',');
        serde_json::to_writer(&mut json, key).map_err(bad)?;
        json.push(b':');
        serde_json::to_writer(&mut json, value).map_err(bad)?;
    }
    json.push(b'}');
    if json.len() > MAX_PAYLOAD {
        return Err(Outcome::rejected(
            None,
            "PayloadTooLarge",
            format!("{} bytes, APNs takes at most {MAX_PAYLOAD}", json.len()),
        ));
    }
    Ok(Bytes::from(json))
}

/// Adds `"key":"value"` to the `aps` object just written at the end of `json`, before its
/// closing brace: a2 0.10 has no field for it (`interruption-level`), and going through a
/// `serde_json::Value` would cost what the hand-written payload saves. `key` and `value` are
/// this crate's constants, plain ASCII that needs no escaping.
fn add_to_aps(json: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    debug_assert_eq!(json.last(), Some(&b'}'));
    json.pop();
    if json.last() != Some(&b'{') {
        json.push(b',');
    }
    json.push(b'"');
    json.extend_from_slice(key);
    json.extend_from_slice(b"\":\"");
    json.extend_from_slice(value);
    json.extend_from_slice(b"\"}");
}

/// The request head: `POST /3/device/<token>` with the `apns-*` headers. (The token is
/// 64 hex digits, checked when the `DeviceToken` was made, so the path needs no encoding.)
pub(crate) fn head(
    push: &Push,
    authority: &http::uri::Authority,
    topic: &str,
    topic_header: &HeaderValue,
    authorization: Option<HeaderValue>,
) -> Result<Head, Outcome> {
    let options = options(push, topic)?;
    let mut headers = Vec::with_capacity(7);
    headers.push((APNS_TOPIC.clone(), topic_header.clone()));
    if let Some(value) = authorization {
        headers.push((AUTHORIZATION, value));
    }
    if let Some(id) = options.apns_id
        && let Ok(value) = HeaderValue::from_str(id)
    {
        headers.push((APNS_ID.clone(), value));
    }
    if let Some(push_type) = options.apns_push_type {
        headers.push((APNS_PUSH_TYPE.clone(), push_type_value(push_type)));
    }
    if let Some(priority) = options.apns_priority {
        let value = match priority {
            Priority::Normal => HeaderValue::from_static("5"),
            Priority::High => HeaderValue::from_static("10"),
        };
        headers.push((APNS_PRIORITY.clone(), value));
    }
    if let Some(expiration) = options.apns_expiration {
        headers.push((APNS_EXPIRATION.clone(), HeaderValue::from(expiration)));
    }
    if let Some(collapse_id) = options.apns_collapse_id {
        let value = HeaderValue::from_str(collapse_id.value).map_err(|_| {
            Outcome::rejected(
                None,
                "BadCollapseId",
                "apns-collapse-id is not a header value",
            )
        })?;
        headers.push((APNS_COLLAPSE_ID.clone(), value));
    }
    Ok(Head {
        method: Method::POST,
        authority: authority.clone(),
        path: format!("/3/device/{}", push.token.as_str()),
        headers,
    })
}

fn push_type_value(push_type: PushType) -> HeaderValue {
    match push_type {
        PushType::Alert => HeaderValue::from_static("alert"),
        PushType::Background => HeaderValue::from_static("background"),
        other => HeaderValue::from_str(&other.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("alert")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{DeviceToken, Priority as P};

    fn push(n: Notification) -> Push {
        Push::new(DeviceToken::apns(&"ab".repeat(32)).unwrap(), n)
    }

    #[test]
    fn alert_payload_and_headers() {
        let p = push(
            Notification::alert("New mail", "From Mara")
                .badge(2)
                .sound("default")
                .collapse_id("mbx-1")
                .ttl(Duration::from_secs(60))
                .data("mailbox", "mara@contoso.com"),
        );
        let json: serde_json::Value = serde_json::from_slice(&payload(&p).unwrap()).unwrap();
        assert_eq!(json["aps"]["alert"]["title"], "New mail");
        assert_eq!(json["aps"]["alert"]["body"], "From Mara");
        assert_eq!(json["aps"]["badge"], 2);
        assert_eq!(json["aps"]["sound"], "default");
        assert_eq!(json["mailbox"], "mara@contoso.com");
        let authority: http::uri::Authority = "api.push.apple.com".parse().unwrap();
        let topic = HeaderValue::from_static("com.example");
        let req = head(&p, &authority, "com.example", &topic, None).unwrap();
        assert_eq!(
            format!("https://{}{}", req.authority, req.path),
            format!("https://api.push.apple.com/3/device/{}", "ab".repeat(32))
        );
        let h = |name| req.header(name);
        assert_eq!(h("apns-topic"), "com.example");
        assert_eq!(h("apns-push-type"), "alert");
        assert_eq!(h("apns-priority"), "10");
        assert_eq!(h("apns-collapse-id"), "mbx-1");
        assert_eq!(h("apns-id"), p.id());
        let expiration: u64 = h("apns-expiration").to_str().unwrap().parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now + 59..=now + 61).contains(&expiration));
    }

    /// Byte for byte what a2's `Payload` serializes to, custom keys and escapes included.
    #[test]
    fn the_payload_is_what_a2_writes() {
        let n = Notification::alert("Re: \"Q3\" numbers", "From: Zoë <z@contoso.com>\n…")
            .badge(3)
            .sound("default")
            .data("mailbox", "mara@contoso.com")
            .data("b\\key", "line\u{1}");
        let p = push(n.clone());
        let mut payload = DefaultNotificationBuilder::new()
            .set_title(n.title.as_deref().unwrap())
            .set_body(n.body.as_deref().unwrap())
            .set_badge(3)
            .set_sound("default")
            .build(p.token.as_str(), NotificationOptions::default());
        for (key, value) in &n.data {
            payload
                .data
                .insert(key, serde_json::Value::from(value.as_str()));
        }
        let a2 = serde_json::to_vec(&payload).unwrap();
        assert_eq!(
            String::from_utf8(payload_of(&p)).unwrap(),
            String::from_utf8(a2).unwrap()
        );
    }

    fn payload_of(p: &Push) -> Vec<u8> {
        payload(p).unwrap().to_vec()
    }

    #[test]
    fn background_is_priority_5_with_content_available() {
        let p = push(Notification::background().priority(P::High));
        let json: serde_json::Value = serde_json::from_slice(&payload(&p).unwrap()).unwrap();
        assert_eq!(json["aps"]["content-available"], 1);
        let authority: http::uri::Authority = "h".parse().unwrap();
        let topic = HeaderValue::from_static("t");
        let req = head(&p, &authority, "t", &topic, None).unwrap();
        assert_eq!(req.header("apns-push-type"), "background");
        assert_eq!(req.header("apns-priority"), "5");
        let p = push(Notification::background().ttl(Duration::ZERO));
        let req = head(&p, &authority, "t", &topic, None).unwrap();
        assert_eq!(req.header("apns-expiration"), "0");
    }

    #[test]
    fn the_interruption_level_goes_inside_aps() {
        use crate::InterruptionLevel as L;
        for (level, name) in [
            (L::Passive, "passive"),
            (L::Active, "active"),
            (L::TimeSensitive, "time-sensitive"),
            (L::Critical, "critical"),
        ] {
            let p = push(
                Notification::alert("New mail", "From: the CEO")
                    .badge(1)
                    .interruption_level(level)
                    .data("mailbox", "mara@contoso.com"),
            );
            let bytes = payload(&p).unwrap();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["aps"]["interruption-level"], name);
            assert_eq!(json["aps"]["alert"]["title"], "New mail");
            assert_eq!(json["aps"]["badge"], 1);
            assert_eq!(json["mailbox"], "mara@contoso.com");
            assert!(json.get("interruption-level").is_none());
            // Everything else is byte for byte what it was without the level.
            let mut without = p.clone();
            without.notification.interruption_level = None;
            let key = format!(",\"interruption-level\":\"{name}\"");
            assert_eq!(
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .replacen(&key, "", 1),
                String::from_utf8(payload_of(&without)).unwrap()
            );
        }
        // No level, no key.
        let bytes = payload_of(&push(Notification::alert("t", "b")));
        assert!(
            !String::from_utf8(bytes)
                .unwrap()
                .contains("interruption-level")
        );
    }

    #[test]
    fn adding_to_an_empty_aps_writes_no_comma() {
        let mut json = b"{\"aps\":{}".to_vec();
        add_to_aps(&mut json, b"interruption-level", b"passive");
        json.push(b'}');
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"aps": {"interruption-level": "passive"}})
        );
    }

    #[test]
    fn a_badge_update_is_an_alert_with_only_a_badge_at_priority_5() {
        let p = push(Notification::badge_update(9));
        let json: serde_json::Value = serde_json::from_slice(&payload(&p).unwrap()).unwrap();
        let aps = json["aps"].as_object().unwrap();
        assert_eq!(aps.get("badge"), Some(&serde_json::json!(9)));
        assert!(aps.get("alert").is_none(), "{aps:?}");
        assert!(aps.get("sound").is_none(), "{aps:?}");
        assert!(aps.get("content-available").is_none(), "{aps:?}");
        // a2 writes `mutable-content: 0`, which is the same as leaving it out.
        assert!(aps.keys().all(|k| k == "badge" || k == "mutable-content"));
        assert_eq!(json.as_object().unwrap().len(), 1, "nothing outside aps");
        let authority: http::uri::Authority = "h".parse().unwrap();
        let topic = HeaderValue::from_static("t");
        let req = head(&p, &authority, "t", &topic, None).unwrap();
        assert_eq!(req.header("apns-push-type"), "alert");
        assert_eq!(req.header("apns-priority"), "5");
    }

    #[test]
    fn too_large_and_bad_collapse_ids_are_caught_before_sending() {
        let p = push(Notification::alert("t", "x".repeat(4100)));
        let outcome = payload(&p).unwrap_err();
        assert_eq!(outcome.reason().unwrap().code, "PayloadTooLarge");
        assert!(matches!(outcome, Outcome::Rejected { .. }));
        // Exactly at the limit is fine.
        let base = payload(&push(Notification::alert("t", ""))).unwrap().len();
        let p = push(Notification::alert("t", "x".repeat(MAX_PAYLOAD - base)));
        assert_eq!(payload(&p).unwrap().len(), MAX_PAYLOAD);

        let p = push(Notification::alert("t", "b").collapse_id("c".repeat(65)));
        let authority: http::uri::Authority = "h".parse().unwrap();
        let topic = HeaderValue::from_static("t");
        let outcome = head(&p, &authority, "t", &topic, None).unwrap_err();
        assert_eq!(outcome.reason().unwrap().code, "BadCollapseId");
        let p = push(Notification::alert("t", "b").data("aps", "x"));
        assert_eq!(
            payload(&p).unwrap_err().reason().unwrap().code,
            "BadPayload"
        );
    }
}
