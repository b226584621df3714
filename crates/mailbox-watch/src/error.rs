//! Errors the watcher's callers see.

/// What [`Relocate`](crate::Relocate) failed with: the locator's own error, kept as the source.
pub type LocateError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a watcher call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WatchError {
    /// A setting breaks a rule.
    #[error("invalid setting {field}: {rule}")]
    Config {
        /// The setting's name.
        field: &'static str,
        /// The rule it breaks.
        rule: String,
    },
    /// The mailbox address is not one.
    #[error("{0:?} is not a mailbox address")]
    InvalidMailbox(String),
    /// The watcher has been shut down.
    #[error("the watcher has stopped")]
    Stopped,
    /// The watermark store failed.
    #[error("watermark store: {0}")]
    Store(String),
    /// The push listener could not start.
    #[error("push listener: {0}")]
    Listener(String),
    /// Where the mailbox is now could not be found (see [`Relocate`](crate::Relocate)).
    #[error("locating {mailbox}: {source}")]
    Locate {
        /// The mailbox.
        mailbox: String,
        /// The locator's error.
        source: LocateError,
    },
}

impl WatchError {
    /// A [`Config`](Self::Config) error: `field` breaks `rule`.
    pub fn config(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Config {
            field,
            rule: rule.into(),
        }
    }

    /// A [`Locate`](Self::Locate) error: `mailbox` could not be located, for `source`.
    pub fn locate(mailbox: impl Into<String>, source: impl Into<LocateError>) -> Self {
        Self::Locate {
            mailbox: mailbox.into(),
            source: source.into(),
        }
    }
}
