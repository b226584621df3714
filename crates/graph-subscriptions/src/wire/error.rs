//! Graph's error body (`{"error": {"code", "message"}}`,
//! <https://learn.microsoft.com/graph/errors>) and `Retry-After`.

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc2822;

#[derive(Deserialize)]
struct Body {
    error: Inner,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The `code` and `message` of an error answer; empty when the body is not Graph's.
pub fn parse_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Body>(body) {
        Ok(body) => (body.error.code, body.error.message),
        Err(_) => (String::new(), String::new()),
    }
}

/// `Retry-After`: whole seconds, or an HTTP date (relative to `now`).
pub fn parse_retry_after(value: &str, now: OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    Some(Duration::try_from(at - now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_and_retry_after_parse() {
        let body = br#"{"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit.","innerError":{}}}"#;
        let (code, message) = parse_error(body);
        assert_eq!(code, "ApplicationThrottled");
        assert!(message.contains("MailboxConcurrency"));
        assert_eq!(parse_error(b"<html>"), (String::new(), String::new()));
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = (now + Duration::from_secs(30))
            .format(&Rfc2822)
            .expect("format");
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
