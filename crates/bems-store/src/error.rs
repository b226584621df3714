//! The store's one error: which operation, on which record, and why.

use std::error::Error as StdError;
use std::path::PathBuf;

/// A database error, kept as the [`StoreError`]'s `source()` without naming its type.
pub(crate) type Source = Box<dyn StdError + Send + Sync>;

/// Why a store operation failed.
///
/// Each variant names the operation (`register device`, `enqueue`) and the record (a tenant, a
/// mailbox, a secret's name, never a secret's value). A failed operation has written nothing:
/// every write is one transaction. Callers branch on [`StoreError::is_retryable`] and
/// [`StoreError::is_key_problem`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The input breaks a rule; nothing was written.
    #[error("{op} {record}: {rule}")]
    Invalid {
        /// The operation.
        op: &'static str,
        /// The record.
        record: String,
        /// The rule the input breaks.
        rule: String,
    },
    /// The input conflicts with what is stored (a push token registered for another mailbox,
    /// a mailbox with its most devices); nothing was written.
    #[error("{op} {record}: {rule}")]
    Conflict {
        /// The operation.
        op: &'static str,
        /// The record.
        record: String,
        /// What it conflicts with.
        rule: String,
    },
    /// The database stayed locked by another writer longer than the busy timeout.
    #[error("{op} {record}: the database is busy")]
    Busy {
        /// The operation.
        op: &'static str,
        /// The record.
        record: String,
    },
    /// The database refused or failed the operation (a constraint, a full disk, a stored value
    /// that cannot be read back); nothing of the operation was written.
    #[error("{op} {record}: {source}")]
    Database {
        /// The operation.
        op: &'static str,
        /// The record.
        record: String,
        /// The database's error.
        #[source]
        source: Source,
    },
    /// A secret does not decrypt: the store key is not the one it was sealed with, or the stored
    /// value (or its tenant or name) was altered.
    #[error(
        "secret {name:?} of tenant {tenant} cannot be decrypted: the store key is wrong or the \
         stored value was altered"
    )]
    Decrypt {
        /// The tenant.
        tenant: String,
        /// The secret's name.
        name: String,
    },
    /// A secret was sealed with another key id than the store key's.
    #[error(
        "secret {name:?} of tenant {tenant} was sealed with key id {sealed}, the store key has id {current}"
    )]
    KeyMismatch {
        /// The tenant.
        tenant: String,
        /// The secret's name.
        name: String,
        /// The key id the secret was sealed with.
        sealed: u32,
        /// The store key's id.
        current: u32,
    },
    /// The store key could not be loaded or is not 32 bytes.
    #[error("store key: {0}")]
    Key(String),
    /// The database file could not be opened, set up or migrated.
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The file (`:memory:` for an in-memory store).
        path: PathBuf,
        /// Why.
        #[source]
        source: Source,
    },
    /// The PostgreSQL database could not be reached, set up or migrated.
    #[error("cannot connect to the store {url}: {source}")]
    Connect {
        /// The database's URL, without its password.
        url: String,
        /// Why.
        #[source]
        source: Source,
    },
    /// The database was written by a newer version of bems.
    #[error(
        "the store {path} has schema version {found}, newer than the {supported} this bems \
         knows: upgrade bems or restore a backup"
    )]
    TooNew {
        /// The file (for PostgreSQL, the database's URL without its password).
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// The file is an SQLite database of another application (for PostgreSQL: the schema
    /// holds another application's tables).
    #[error("{path} is not a bems store (it holds another application's tables)")]
    NotBems {
        /// The file (for PostgreSQL, the database's URL without its password).
        path: PathBuf,
    },
    /// The store's worker thread has stopped (nothing more can be read or written), or the
    /// operation panicked there (a bug, logged; the store goes on).
    #[error("{op}: the store has stopped")]
    Stopped {
        /// The operation.
        op: &'static str,
    },
}

impl StoreError {
    /// Whether trying the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Busy { .. })
    }

    /// Whether the store key is missing, malformed or not the one the secrets were sealed with
    /// (an operator must supply the right key; retrying does not help).
    pub fn is_key_problem(&self) -> bool {
        matches!(
            self,
            Self::Decrypt { .. } | Self::KeyMismatch { .. } | Self::Key(_)
        )
    }

    /// The operation that failed, where one was under way.
    pub fn operation(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { op, .. }
            | Self::Conflict { op, .. }
            | Self::Busy { op, .. }
            | Self::Database { op, .. }
            | Self::Stopped { op } => Some(op),
            _ => None,
        }
    }

    pub(crate) fn invalid(op: &'static str, record: &str, rule: impl Into<String>) -> Self {
        Self::Invalid {
            op,
            record: record.to_owned(),
            rule: rule.into(),
        }
    }

    /// Attaches the operation and record to a database error.
    pub(crate) fn database(op: &'static str, record: String, error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{DatabaseBusy, DatabaseLocked};
        match error.sqlite_error_code() {
            Some(DatabaseBusy | DatabaseLocked) => Self::Busy { op, record },
            _ => Self::Database {
                op,
                record,
                source: Box::new(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_databases_are_retryable_and_constraints_are_not() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let error = StoreError::database("enqueue", "mailbox a@b".into(), busy);
        assert!(error.is_retryable(), "{error:?}");
        assert_eq!(error.operation(), Some("enqueue"));

        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            Some("FOREIGN KEY constraint failed".into()),
        );
        let error = StoreError::database("enqueue", "mailbox a@b".into(), constraint);
        assert!(!error.is_retryable());
        let text = error.to_string();
        assert!(text.starts_with("enqueue mailbox a@b: "), "{text}");
        assert!(text.contains("FOREIGN KEY"), "{text}");
        assert!(error.source().is_some());
    }

    #[test]
    fn key_problems_are_told_apart() {
        let decrypt = StoreError::Decrypt {
            tenant: "contoso".into(),
            name: "oauth".into(),
        };
        assert!(decrypt.is_key_problem());
        assert!(!decrypt.is_retryable());
        assert!(!StoreError::Stopped { op: "tenants" }.is_key_problem());
    }
}
