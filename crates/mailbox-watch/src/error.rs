//! Errors the watcher's callers see.

/// The error of what a watcher uses (its watermark store, the consumer's
/// [`Relocate`](crate::Relocate)), kept as the [`WatchError`]'s source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

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
    Store(#[source] BoxError),
    /// Where the mailbox is now could not be found (see [`Relocate`](crate::Relocate)).
    #[error("locating {mailbox}: {source}")]
    Locate {
        /// The mailbox.
        mailbox: String,
        /// The locator's error.
        source: BoxError,
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

    /// A [`Store`](Self::Store) error: the watermark store failed with `source`.
    pub fn store(source: impl Into<BoxError>) -> Self {
        Self::Store(source.into())
    }

    /// A [`Locate`](Self::Locate) error: `mailbox` could not be located, for `source`.
    pub fn locate(mailbox: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Locate {
            mailbox: mailbox.into(),
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_dependency_error_is_the_source_and_named_in_the_message() {
        let store = WatchError::store(std::io::Error::other("disk full"));
        assert_eq!(store.to_string(), "watermark store: disk full");
        assert_eq!(store.source().unwrap().to_string(), "disk full");
        let locate = WatchError::locate("mara@contoso.com", "no Autodiscover answer");
        assert_eq!(
            locate.to_string(),
            "locating mara@contoso.com: no Autodiscover answer"
        );
        assert!(locate.source().is_some());
        let config = WatchError::config("group_size", "at most 200");
        assert!(matches!(
            config,
            WatchError::Config {
                field: "group_size",
                ..
            }
        ));
        assert!(config.source().is_none());
    }
}
