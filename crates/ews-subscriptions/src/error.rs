//! Errors the watcher's callers see.

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
}

impl WatchError {
    pub(crate) fn config(field: &'static str, rule: impl Into<String>) -> Self {
        Self::Config {
            field,
            rule: rule.into(),
        }
    }
}
