//! The one error of this crate: configuration problems, sealed content that does not open, and
//! a dispatcher that cannot take work.
//!
//! What happens to a push itself (delivered, dead token, retry, rejected) is an
//! [`Outcome`](crate::Outcome), not an error.

use crate::push::Push;

/// Why a sender could not be built, or a dispatcher did not take a push.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting cannot work; names the setting and the rule it breaks.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting, as named in the configuration struct.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A device token is malformed for its platform.
    #[error("invalid device token: {0}")]
    InvalidToken(String),
    /// Sealed content could not be made or opened: malformed text, the wrong key, content
    /// that was altered, or a different `aad` (see [`seal`](crate::seal)). Which of the last
    /// three it was is not told: HPKE cannot tell them apart, by design.
    #[error("sealed content: {0}")]
    Sealed(String),
    /// The dispatcher's queue is full; the push is handed back, unsent.
    #[error("the push queue is full")]
    QueueFull(Box<Push>),
    /// The dispatcher is shutting down; the push is handed back, unsent.
    #[error("the dispatcher is shutting down")]
    ShuttingDown(Box<Push>),
}

impl Error {
    pub(crate) fn config(setting: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Config {
            setting,
            reason: reason.to_string(),
        }
    }

    /// Whether submitting the same push again later may succeed (the queue was full).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::QueueFull(_))
    }

    /// The push that was not taken, for [`Error::QueueFull`] and [`Error::ShuttingDown`].
    pub fn into_push(self) -> Option<Push> {
        match self {
            Self::QueueFull(push) | Self::ShuttingDown(push) => Some(*push),
            Self::Config { .. } | Self::InvalidToken(_) | Self::Sealed(_) => None,
        }
    }
}
