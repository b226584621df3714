//! What became of a push: [`Outcome`] and its [`Reason`].

use std::fmt;
use std::time::{Duration, SystemTime};

/// Why a push was not delivered, as the provider (or the sender) said it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reason {
    /// The HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// The provider's reason: an APNs `reason` (`BadDeviceToken`, `Unregistered`, ...), an FCM
    /// `errorCode` (`UNREGISTERED`, `QUOTA_EXCEEDED`, ...), or one of the sender's own:
    /// `PayloadTooLarge` (caught before sending), `Connection`, `Timeout`, `WrongPlatform`,
    /// `Auth` (credentials could not be used), `GaveUp`, `Shutdown`.
    pub code: String,
    /// More detail (the provider's message, the transport error), never a secret.
    pub detail: Option<String>,
}

impl Reason {
    /// A reason with a status and a code.
    pub fn new(status: Option<u16>, code: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            detail: None,
        }
    }

    /// Adds detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Whether this says the provider itself is failing (no answer, or a 5xx), as opposed to a
    /// problem with this one push. The dispatcher's breaker counts these.
    pub fn is_provider_failure(&self) -> bool {
        match self.status {
            None => matches!(self.code.as_str(), "Connection" | "Timeout"),
            Some(status) => status >= 500,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "{status} ")?;
        }
        f.write_str(&self.code)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// What became of one push.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The provider accepted it.
    Delivered {
        /// The provider's id: APNs `apns-id`, FCM message `name`.
        id: Option<String>,
    },
    /// The token is dead: the caller deletes the device (APNs 410 `Unregistered` /
    /// `ExpiredToken`, 400 `BadDeviceToken` / `DeviceTokenNotForTopic`; FCM `UNREGISTERED`,
    /// `SENDER_ID_MISMATCH`).
    TokenInvalid {
        /// The provider's reason.
        reason: Reason,
        /// APNs: when the token was last confirmed invalid. Keep the device only if it
        /// registered again after this time.
        since: Option<SystemTime>,
    },
    /// Not delivered now; may succeed later (throttling, 5xx, a lost connection).
    Retry {
        /// Why.
        reason: Reason,
        /// The provider's `Retry-After`, when it gave one.
        after: Option<Duration>,
    },
    /// Never deliverable as it is (a bad payload, a bad topic, credentials refused): do not
    /// retry; the token is not known to be dead.
    Rejected {
        /// Why.
        reason: Reason,
    },
}

impl Outcome {
    /// Whether the push was delivered.
    pub fn is_delivered(&self) -> bool {
        matches!(self, Self::Delivered { .. })
    }

    /// Whether the caller should delete the device.
    pub fn is_token_invalid(&self) -> bool {
        matches!(self, Self::TokenInvalid { .. })
    }

    /// Whether trying again later may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retry { .. })
    }

    /// The reason, unless delivered.
    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Self::Delivered { .. } => None,
            Self::TokenInvalid { reason, .. }
            | Self::Retry { reason, .. }
            | Self::Rejected { reason } => Some(reason),
        }
    }

    pub(crate) fn retry(status: Option<u16>, code: &str, detail: impl Into<String>) -> Self {
        Self::Retry {
            reason: Reason::new(status, code).with_detail(detail),
            after: None,
        }
    }

    pub(crate) fn rejected(status: Option<u16>, code: &str, detail: impl Into<String>) -> Self {
        Self::Rejected {
            reason: Reason::new(status, code).with_detail(detail),
        }
    }

    /// A short label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Delivered { .. } => "delivered",
            Self::TokenInvalid { .. } => "token_invalid",
            Self::Retry { .. } => "retry",
            Self::Rejected { .. } => "rejected",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_failures() {
        assert!(Reason::new(Some(503), "ServiceUnavailable").is_provider_failure());
        assert!(Reason::new(Some(500), "INTERNAL").is_provider_failure());
        assert!(Reason::new(None, "Connection").is_provider_failure());
        assert!(!Reason::new(Some(429), "TooManyRequests").is_provider_failure());
        assert!(!Reason::new(Some(400), "BadDeviceToken").is_provider_failure());
        assert!(!Reason::new(None, "PayloadTooLarge").is_provider_failure());
    }

    #[test]
    fn display() {
        let reason = Reason::new(Some(410), "Unregistered").with_detail("since 1700000000000");
        assert_eq!(reason.to_string(), "410 Unregistered: since 1700000000000");
        assert_eq!(Reason::new(None, "Timeout").to_string(), "Timeout");
    }
}
