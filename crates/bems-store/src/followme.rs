//! Follow-Me documents as the store keeps them: opaque JSON per (tenant, user, key), each
//! with a version that every write raises, written only by compare-and-set.

use super::StoreError;

/// The longest document key.
pub const KEY_MAX: usize = 128;

/// Keys that begin with this are the service's own documents of a user (its alert rules,
/// `bems.alert-rules`): they do not count toward the user's bound of documents, and the
/// Follow-Me routes neither list nor write them.
pub const RESERVED_PREFIX: &str = "bems.";

/// One user's stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FollowMeDocument {
    /// Its key (`launcher`, `launcher.layout`).
    pub key: String,
    /// Its version: 1 when created, one more at each write.
    pub version: i64,
    /// The JSON text, as written.
    pub body: String,
    /// When it was last written, in Unix milliseconds.
    pub updated_at_ms: i64,
}

/// What a write expects to find: the condition of its compare-and-set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowMeExpect {
    /// No document under the key (a create).
    Absent,
    /// The document at this version (an update or delete of what the caller read).
    Version(i64),
}

/// How a write went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowMeWrite {
    /// Written (or deleted); the document's new version (the deleted one's, for a delete).
    Written {
        /// The version now stored.
        version: i64,
    },
    /// The document is not as expected: nothing was written.
    Conflict {
        /// The version stored, `None` when there is no document.
        current: Option<i64>,
    },
    /// The user already keeps the most documents allowed: nothing was written.
    Full,
}

/// Checks a document key: 1 to 128 letters, digits, `.`, `_` or `-`.
pub(crate) fn check_key(op: &'static str, key: &str) -> Result<(), StoreError> {
    let valid = (1..=KEY_MAX).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(StoreError::invalid(
            op,
            &format!("follow-me document {key:?}"),
            "a key has 1 to 128 letters, digits, '.', '_' or '-'",
        ))
    }
}

/// Checks a document body: JSON, at most 1 MiB.
pub(crate) fn check_body(op: &'static str, key: &str, body: &str) -> Result<(), StoreError> {
    let record = format!("follow-me document {key:?}");
    super::check::size(op, &record, body.len())?;
    serde_json::from_str::<serde::de::IgnoredAny>(body)
        .map(drop)
        .map_err(|error| StoreError::invalid(op, &record, format!("not JSON: {error}")))
}
