//! FCM errors as [`Outcome`]s. Only `UNREGISTERED` and `SENDER_ID_MISMATCH` mean the token is
//! dead; `INVALID_ARGUMENT` (which also covers a bad payload) does not.
//!
//! <https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>

use std::time::Duration;

use serde::Deserialize;

use crate::{Outcome, Reason};

#[derive(Deserialize)]
struct Envelope {
    error: Status,
}

/// `google.rpc.Status`.
#[derive(Deserialize)]
struct Status {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    details: Vec<Detail>,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "@type", default)]
    kind: String,
    #[serde(rename = "errorCode", default)]
    error_code: Option<String>,
}

/// What the sender does with an answer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Final for this attempt.
    Outcome(Outcome),
    /// 401 for our access token: drop it, get a new one, try once more.
    Unauthenticated(Reason),
}

/// Maps a non-2xx answer.
pub(crate) fn classify(status: u16, body: &[u8], retry_after: Option<Duration>) -> Answer {
    let parsed = serde_json::from_slice::<Envelope>(body)
        .ok()
        .map(|e| e.error);
    let fcm_code = parsed.as_ref().and_then(|s| {
        s.details
            .iter()
            .find(|d| d.kind.ends_with("google.firebase.fcm.v1.FcmError"))
            .and_then(|d| d.error_code.clone())
    });
    let rpc_status = parsed.as_ref().and_then(|s| s.status.clone());
    let message = parsed.as_ref().and_then(|s| s.message.clone());
    let code = fcm_code
        .clone()
        .or_else(|| rpc_status.clone())
        .unwrap_or_else(|| format!("HTTP{status}"));
    let mut reason = Reason::new(Some(status), code.clone());
    if let Some(message) = message {
        reason = reason.with_detail(message);
    }
    let outcome = match code.as_str() {
        "UNREGISTERED" | "SENDER_ID_MISMATCH" => Outcome::TokenInvalid {
            reason,
            since: None,
        },
        "QUOTA_EXCEEDED" | "RESOURCE_EXHAUSTED" | "UNAVAILABLE" | "INTERNAL" => Outcome::Retry {
            reason,
            after: retry_after,
        },
        "UNAUTHENTICATED" => return Answer::Unauthenticated(reason),
        // INVALID_ARGUMENT, THIRD_PARTY_AUTH_ERROR, UNSPECIFIED_ERROR, PERMISSION_DENIED,
        // NOT_FOUND without an FCM code (a wrong project), ...
        _ if status == 429 || status >= 500 => Outcome::Retry {
            reason,
            after: retry_after,
        },
        _ if status == 401 && fcm_code.is_none() => return Answer::Unauthenticated(reason),
        _ => Outcome::Rejected { reason },
    };
    Answer::Outcome(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(status: &str, code: Option<&str>) -> String {
        let details = code.map_or(String::new(), |c| {
            format!(r#"{{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"{c}"}}"#)
        });
        format!(
            r#"{{"error":{{"code":0,"message":"m","status":"{status}","details":[{details}]}}}}"#
        )
    }

    fn outcome(status: u16, rpc: &str, code: Option<&str>) -> Outcome {
        match classify(status, body(rpc, code).as_bytes(), None) {
            Answer::Outcome(o) => o,
            Answer::Unauthenticated(r) => panic!("unauthenticated {r}"),
        }
    }

    #[test]
    fn only_two_codes_kill_a_token() {
        let o = outcome(404, "NOT_FOUND", Some("UNREGISTERED"));
        assert!(o.is_token_invalid());
        assert_eq!(o.reason().unwrap().code, "UNREGISTERED");
        assert!(outcome(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH")).is_token_invalid());
        let o = outcome(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"));
        assert!(matches!(o, Outcome::Rejected { .. }), "{o:?}");
        assert!(matches!(
            outcome(401, "UNAUTHENTICATED", Some("THIRD_PARTY_AUTH_ERROR")),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            outcome(500, "UNKNOWN", Some("UNSPECIFIED_ERROR")),
            Outcome::Retry { .. }
        ));
        assert!(matches!(
            outcome(400, "UNKNOWN", Some("UNSPECIFIED_ERROR")),
            Outcome::Rejected { .. }
        ));
        assert!(matches!(
            outcome(404, "NOT_FOUND", None),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn retryable_codes_keep_retry_after() {
        let answer = classify(
            429,
            body("RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED")).as_bytes(),
            Some(Duration::from_secs(5)),
        );
        let Answer::Outcome(Outcome::Retry { reason, after }) = answer else {
            panic!()
        };
        assert_eq!(reason.code, "QUOTA_EXCEEDED");
        assert_eq!(after, Some(Duration::from_secs(5)));
        assert!(outcome(503, "UNAVAILABLE", Some("UNAVAILABLE")).is_retryable());
        assert!(outcome(500, "INTERNAL", Some("INTERNAL")).is_retryable());
        // Not JSON at all.
        let Answer::Outcome(o) = classify(502, b"<html>", None) else {
            panic!()
        };
        assert!(o.is_retryable());
        assert_eq!(o.reason().unwrap().code, "HTTP502");
    }

    #[test]
    fn our_token_refused() {
        let answer = classify(401, body("UNAUTHENTICATED", None).as_bytes(), None);
        assert!(matches!(answer, Answer::Unauthenticated(_)));
    }
}
