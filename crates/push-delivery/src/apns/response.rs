//! APNs answers as [`Outcome`]s: every documented status and reason, through a2's
//! `ErrorReason`, and unknown reasons by their status.
//!
//! <https://developer.apple.com/documentation/usernotifications/handling-notification-responses-from-apns>

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use a2::response::ErrorReason;
use serde::Deserialize;

use crate::{Outcome, Reason};

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    timestamp: Option<u64>,
}

/// What the sender does with an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Final for this attempt.
    Outcome(Outcome),
    /// 403 `ExpiredProviderToken`: re-sign, then try once more.
    ExpiredToken(Reason),
}

/// Maps a non-200 answer: `status`, its JSON body and `Retry-After`.
pub(crate) fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Answer {
    let parsed: Option<Body> = serde_json::from_slice(body).ok();
    let reason_text = parsed
        .as_ref()
        .and_then(|b| b.reason.clone())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let timestamp = parsed.as_ref().and_then(|b| b.timestamp);
    let typed: Option<ErrorReason> =
        serde_json::from_value(serde_json::Value::String(reason_text.clone())).ok();
    let reason = Reason::new(Some(status), reason_text.clone());
    use ErrorReason as R;
    let outcome = match typed {
        Some(R::Unregistered | R::BadDeviceToken | R::DeviceTokenNotForTopic) => {
            token_invalid(reason, timestamp)
        }
        Some(R::ExpiredProviderToken) => return Answer::ExpiredToken(reason),
        Some(
            R::TooManyRequests
            | R::TooManyProviderTokenUpdates
            | R::InternalServerError
            | R::ServiceUnavailable
            | R::Shutdown
            | R::IdleTimeout,
        ) => Outcome::Retry {
            reason,
            after: retry_after,
        },
        Some(
            R::BadCollapseId
            | R::BadExpirationDate
            | R::BadMessageId
            | R::BadPriority
            | R::BadTopic
            | R::DuplicateHeaders
            | R::MissingDeviceToken
            | R::MissingTopic
            | R::PayloadEmpty
            | R::TopicDisallowed
            | R::BadCertificate
            | R::BadCertificateEnvironment
            | R::Forbidden
            | R::InvalidProviderToken
            | R::MissingProviderToken
            | R::BadPath
            | R::MethodNotAllowed
            | R::PayloadTooLarge,
        ) => Outcome::Rejected { reason },
        // `ExpiredToken` (410) is newer than a2's list; other unknown reasons go by status.
        None if reason_text == "ExpiredToken" || status == 410 => token_invalid(reason, timestamp),
        None if status == 429 || status >= 500 => {
            tracing::debug!(status, reason = %reason_text, "unknown APNs reason; will retry");
            Outcome::Retry {
                reason,
                after: retry_after,
            }
        }
        None => {
            tracing::debug!(status, reason = %reason_text, "unknown APNs reason; rejected");
            Outcome::Rejected { reason }
        }
    };
    Answer::Outcome(outcome)
}

fn token_invalid(reason: Reason, timestamp_ms: Option<u64>) -> Outcome {
    Outcome::TokenInvalid {
        reason,
        since: timestamp_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
    }
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    let text = value?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds.min(24 * 3600)));
    }
    let format = time::format_description::well_known::Rfc2822;
    // IMF-fixdate ends in "GMT", which RFC 2822 parsers may only take as "+0000".
    let text = text
        .strip_suffix(" GMT")
        .map_or_else(|| text.to_owned(), |t| format!("{t} +0000"));
    let when = time::OffsetDateTime::parse(&text, &format).ok()?;
    let when = SystemTime::from(when);
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(Duration::from_secs(24 * 3600)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16, body: &str) -> Outcome {
        match classify(status, body.as_bytes(), None) {
            Answer::Outcome(o) => o,
            Answer::ExpiredToken(_) => panic!("expired"),
        }
    }

    #[test]
    fn dead_tokens() {
        let o = outcome(
            410,
            r#"{"reason":"Unregistered","timestamp":1700000000000}"#,
        );
        let Outcome::TokenInvalid { reason, since } = o else {
            panic!("{o:?}")
        };
        assert_eq!(reason.code, "Unregistered");
        assert_eq!(since, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        assert!(outcome(400, r#"{"reason":"BadDeviceToken"}"#).is_token_invalid());
        assert!(outcome(400, r#"{"reason":"DeviceTokenNotForTopic"}"#).is_token_invalid());
        assert!(outcome(410, r#"{"reason":"ExpiredToken"}"#).is_token_invalid());
    }

    #[test]
    fn not_dead() {
        for (status, reason) in [
            (400, "BadCollapseId"),
            (400, "BadTopic"),
            (400, "MissingTopic"),
            (400, "PayloadEmpty"),
            (403, "Forbidden"),
            (403, "InvalidProviderToken"),
            (403, "BadCertificate"),
            (404, "BadPath"),
            (405, "MethodNotAllowed"),
            (413, "PayloadTooLarge"),
            (400, "SomethingNew"),
        ] {
            let o = outcome(status, &format!(r#"{{"reason":"{reason}"}}"#));
            assert!(
                matches!(o, Outcome::Rejected { .. }),
                "{status} {reason}: {o:?}"
            );
        }
        for (status, reason) in [
            (429, "TooManyRequests"),
            (429, "TooManyProviderTokenUpdates"),
            (500, "InternalServerError"),
            (503, "ServiceUnavailable"),
            (503, "Shutdown"),
            (400, "IdleTimeout"),
            (502, "SomethingNew"),
        ] {
            let o = outcome(status, &format!(r#"{{"reason":"{reason}"}}"#));
            assert!(o.is_retryable(), "{status} {reason}: {o:?}");
        }
        // No body at all.
        assert!(outcome(503, "").is_retryable());
        assert_eq!(outcome(503, "").reason().unwrap().code, "HTTP503");
    }

    #[test]
    fn expired_provider_token() {
        let answer = classify(403, br#"{"reason":"ExpiredProviderToken"}"#, None);
        assert!(matches!(answer, Answer::ExpiredToken(_)));
    }

    #[test]
    fn retry_after_forms() {
        let secs = http::HeaderValue::from_static("7");
        assert_eq!(retry_after(Some(&secs)), Some(Duration::from_secs(7)));
        let past = http::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(retry_after(Some(&past)), Some(Duration::ZERO));
        let junk = http::HeaderValue::from_static("soon");
        assert_eq!(retry_after(Some(&junk)), None);
        assert_eq!(retry_after(None), None);
        let o = classify(
            429,
            br#"{"reason":"TooManyRequests"}"#,
            Some(Duration::from_secs(3)),
        );
        assert!(
            matches!(o, Answer::Outcome(Outcome::Retry { after: Some(d), .. }) if d.as_secs() == 3)
        );
    }
}
