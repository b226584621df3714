//! What can go wrong talking to Graph.

use std::time::Duration;

/// Why a Graph request, or the spool, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Graph answered with an error status.
    #[error("Graph answered HTTP {status} {code}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The error's `code` (`ApplicationThrottled`, `ResourceNotFound`, ...), or empty.
        code: String,
        /// The error's `message`.
        message: String,
        /// `Retry-After`, when given.
        retry_after: Option<Duration>,
    },
    /// The request could not be sent or answered (network, TLS, token).
    #[error("request failed: {message}")]
    Transport {
        /// What happened.
        message: String,
        /// The cause.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Graph's answer could not be read.
    #[error("unreadable answer: {0}")]
    Protocol(String),
    /// A value cannot be sent to Graph (it would not stay one path segment of a URL).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The notification spool failed.
    #[error("spool: {0}")]
    Spool(String),
    /// The watcher has stopped.
    #[error("the watcher has stopped")]
    Stopped,
}

impl GraphError {
    pub(crate) fn transport(source: exchange_auth::AuthError) -> Self {
        Self::Transport {
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The HTTP status, when Graph answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Graph's error code, when Graph answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Status { code, .. } if !code.is_empty() => Some(code),
            _ => None,
        }
    }

    /// Whether the same request may succeed later: throttling, server errors, timeouts,
    /// network failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Status { status, .. } => matches!(status, 408 | 429 | 500..=599),
            Self::Transport { .. } | Self::Protocol(_) | Self::Spool(_) => true,
            Self::Stopped | Self::Invalid(_) => false,
        }
    }

    /// How long Graph asked us to wait (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the subscription (or the object) no longer exists.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether Graph no longer has the state a delta link names: `410 Gone`, or any 4xx whose
    /// code is `syncStateNotFound`, `syncStateInvalid` or `resyncRequired` ("in case of an
    /// expired token, the service should respond with a 40X-series error with error codes
    /// such as `syncStateNotFound`",
    /// <https://learn.microsoft.com/graph/delta-query-overview#synchronization-reset>).
    pub fn is_sync_state_gone(&self) -> bool {
        const CODES: [&str; 3] = ["syncStateNotFound", "syncStateInvalid", "resyncRequired"];
        match self {
            Self::Status { status: 410, .. } => true,
            Self::Status { status, code, .. } if (400..500).contains(status) => {
                CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_delta_state_is_410_or_a_4xx_naming_it() {
        let answer = |status, code: &str| GraphError::Status {
            status,
            code: code.into(),
            message: String::new(),
            retry_after: None,
        };
        assert!(answer(410, "").is_sync_state_gone());
        assert!(answer(400, "syncStateNotFound").is_sync_state_gone());
        assert!(answer(400, "SyncStateNotFound").is_sync_state_gone());
        assert!(answer(404, "resyncRequired").is_sync_state_gone());
        assert!(!answer(400, "BadRequest").is_sync_state_gone());
        assert!(!answer(500, "syncStateNotFound").is_sync_state_gone());
        assert!(!GraphError::Stopped.is_sync_state_gone());
    }

    #[test]
    fn retryable_errors_are_throttling_server_and_network_failures() {
        let status = |status| GraphError::Status {
            status,
            code: String::new(),
            message: String::new(),
            retry_after: None,
        };
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(403).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(status(404).is_not_found());
        assert!(GraphError::Protocol("x".into()).is_retryable());
        assert!(!GraphError::Stopped.is_retryable());
        assert_eq!(status(429).code(), None);
    }
}
