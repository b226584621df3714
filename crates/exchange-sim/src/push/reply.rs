//! Scripted answers: per device token, for the next requests, or "down" for everything.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The APNs `reason` or FCM `errorCode`; `None` with 200.
    pub reason: Option<String>,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// APNs 410: the `timestamp` (ms since the epoch) at which the token became invalid.
    pub timestamp: Option<u64>,
    /// Wait this long before answering.
    pub delay: Option<Duration>,
}

impl Reply {
    /// Success.
    pub fn ok() -> Self {
        Self {
            status: 200,
            reason: None,
            retry_after: None,
            timestamp: None,
            delay: None,
        }
    }

    /// Any status and reason.
    pub fn status(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: Some(reason.into()),
            ..Self::ok()
        }
    }

    /// An APNs reason with the status Apple sends it with (unknown reasons: 400).
    pub fn apns(reason: &str) -> Self {
        Self::status(apns_status(reason), reason)
    }

    /// An FCM `errorCode` with the status Google sends it with (unknown codes: 500).
    pub fn fcm(code: &str) -> Self {
        Self::status(fcm_status(code), code)
    }

    /// Adds `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds the 410 `timestamp` (ms).
    pub fn timestamp(mut self, ms: u64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Answers after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }
}

/// Apple's status for each documented reason.
pub(crate) fn apns_status(reason: &str) -> u16 {
    match reason {
        "BadCertificate"
        | "BadCertificateEnvironment"
        | "ExpiredProviderToken"
        | "Forbidden"
        | "InvalidProviderToken"
        | "MissingProviderToken"
        | "UnrelatedKeyIdInToken"
        | "BadEnvironmentKeyIdInToken" => 403,
        "BadPath" => 404,
        "MethodNotAllowed" => 405,
        "ExpiredToken" | "Unregistered" => 410,
        "PayloadTooLarge" => 413,
        "TooManyProviderTokenUpdates" | "TooManyRequests" => 429,
        "InternalServerError" => 500,
        "ServiceUnavailable" | "Shutdown" => 503,
        _ => 400,
    }
}

/// Google's status for each documented FCM error code.
pub(crate) fn fcm_status(code: &str) -> u16 {
    match code {
        "INVALID_ARGUMENT" => 400,
        "THIRD_PARTY_AUTH_ERROR" | "UNAUTHENTICATED" => 401,
        "SENDER_ID_MISMATCH" | "PERMISSION_DENIED" => 403,
        "UNREGISTERED" | "NOT_FOUND" => 404,
        "QUOTA_EXCEEDED" | "RESOURCE_EXHAUSTED" => 429,
        "UNAVAILABLE" => 503,
        _ => 500,
    }
}

/// The canonical `google.rpc.Status` name for an HTTP status.
pub(crate) fn rpc_status(status: u16) -> &'static str {
    match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

/// The scripts of one mock.
#[derive(Debug, Default)]
pub(crate) struct Scripts {
    scripted: AtomicBool,
    per_token: Mutex<HashMap<String, VecDeque<Reply>>>,
    always: Mutex<HashMap<String, Reply>>,
    next: Mutex<VecDeque<Reply>>,
    down: AtomicBool,
}

impl Scripts {
    pub(crate) fn script(&self, token: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut map = self.per_token.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(token.to_owned()).or_default().extend(replies);
        self.scripted.store(true, Ordering::Release);
    }

    pub(crate) fn always(&self, token: &str, reply: Reply) {
        let mut map = self.always.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(token.to_owned(), reply);
        self.scripted.store(true, Ordering::Release);
    }

    pub(crate) fn next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(replies);
        self.scripted.store(true, Ordering::Release);
    }

    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
    }

    pub(crate) fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// The scripted answer for a request to `token`, if any: the token's queue first, then
    /// its permanent answer, then the queue for any token.
    pub(crate) fn take(&self, token: &str) -> Option<Reply> {
        if !self.scripted.load(Ordering::Acquire) {
            return None;
        }
        if let Some(queue) = self
            .per_token
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(token)
            && let Some(reply) = queue.pop_front()
        {
            return Some(reply);
        }
        if let Some(reply) = self
            .always
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            return Some(reply.clone());
        }
        self.next
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(Reply::apns("Unregistered").status, 410);
        assert_eq!(Reply::apns("BadDeviceToken").status, 400);
        assert_eq!(Reply::apns("ExpiredProviderToken").status, 403);
        assert_eq!(Reply::apns("TooManyRequests").status, 429);
        assert_eq!(Reply::apns("Shutdown").status, 503);
        assert_eq!(Reply::fcm("UNREGISTERED").status, 404);
        assert_eq!(Reply::fcm("QUOTA_EXCEEDED").status, 429);
        assert_eq!(Reply::fcm("SENDER_ID_MISMATCH").status, 403);
    }

    #[test]
    fn order_of_scripts() {
        let scripts = Scripts::default();
        assert_eq!(scripts.take("a"), None);
        scripts.script("a", [Reply::apns("TooManyRequests"), Reply::ok()]);
        scripts.always("b", Reply::apns("Unregistered"));
        scripts.next([Reply::apns("InternalServerError")]);
        assert_eq!(scripts.take("a").unwrap().status, 429);
        assert_eq!(scripts.take("a").unwrap().status, 200);
        assert_eq!(scripts.take("b").unwrap().status, 410);
        assert_eq!(scripts.take("b").unwrap().status, 410);
        assert_eq!(scripts.take("a").unwrap().status, 500);
        assert_eq!(scripts.take("a"), None);
    }
}
