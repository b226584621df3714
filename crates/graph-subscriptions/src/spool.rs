//! The spool: where accepted notifications are kept, durably, before the webhook answers
//! 202. Graph does not send a notification again once it was acknowledged, so what the
//! webhook accepted must survive a crash until its events are delivered: records are kept
//! until the mailbox's saved state says they were (see the watcher's compaction).
//!
//! [`FileSpool`] appends JSON lines to a file and syncs it before answering; [`MemorySpool`]
//! keeps them in memory (tests, or consumers that accept losing them in a crash).

mod file;

use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use file::FileSpool;

use crate::error::GraphError;

/// What a record says happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum RecordKind {
    /// A change notification.
    Change {
        /// `changeType`.
        change: String,
        /// The message's Graph id.
        id: String,
    },
    /// A lifecycle notification.
    Lifecycle {
        /// `lifecycleEvent`.
        event: String,
    },
}

/// One accepted notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SpoolRecord {
    /// Increasing over the spool's life, across restarts.
    pub seq: u64,
    /// The mailbox (as watched).
    pub mailbox: String,
    /// The subscription that sent it.
    pub subscription: String,
    /// When it was accepted (Unix milliseconds).
    pub at_ms: i64,
    /// The further folder the subscription is on (its Graph name: `junkemail`, or a folder
    /// id in REST form), when the webhook knew it; `None` for the inbox's, and for records
    /// written before further folders or handed on by another node (the watcher that holds
    /// the mailbox knows its subscriptions' folders).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub kind: RecordKind,
}

impl SpoolRecord {
    /// A record.
    pub fn new(
        seq: u64,
        mailbox: String,
        subscription: String,
        at_ms: i64,
        kind: RecordKind,
    ) -> Self {
        Self {
            seq,
            mailbox,
            subscription,
            at_ms,
            folder: None,
            kind,
        }
    }

    /// The same record, of a further folder's subscription.
    pub fn in_folder(mut self, folder: impl Into<String>) -> Self {
        self.folder = Some(folder.into());
        self
    }
}

/// Keeps accepted notifications until their events are delivered.
#[async_trait]
pub trait Spool: Send + Sync + std::fmt::Debug {
    /// Adds `records`; returns once they would survive a crash.
    async fn append(&self, records: &[SpoolRecord]) -> Result<(), GraphError>;

    /// Every record kept (read at start, to replay what was not delivered).
    async fn records(&self) -> Result<Vec<SpoolRecord>, GraphError>;

    /// Drops the records for which `keep` is false.
    async fn retain(
        &self,
        keep: &(dyn for<'r> Fn(&'r SpoolRecord) -> bool + Send + Sync),
    ) -> Result<(), GraphError>;
}

/// Records in memory: lost in a crash.
#[derive(Debug, Default)]
pub struct MemorySpool {
    records: Mutex<Vec<SpoolRecord>>,
}

impl MemorySpool {
    /// An empty spool.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<SpoolRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Spool for MemorySpool {
    async fn append(&self, records: &[SpoolRecord]) -> Result<(), GraphError> {
        self.lock().extend_from_slice(records);
        Ok(())
    }

    async fn records(&self) -> Result<Vec<SpoolRecord>, GraphError> {
        Ok(self.lock().clone())
    }

    async fn retain(
        &self,
        keep: &(dyn for<'r> Fn(&'r SpoolRecord) -> bool + Send + Sync),
    ) -> Result<(), GraphError> {
        self.lock().retain(|r| keep(r));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn record(seq: u64, mailbox: &str) -> SpoolRecord {
        SpoolRecord::new(
            seq,
            mailbox.into(),
            "sub".into(),
            1,
            RecordKind::Change {
                change: "created".into(),
                id: format!("id-{seq}"),
            },
        )
    }

    #[tokio::test]
    async fn memory_keeps_what_is_retained() {
        let spool = MemorySpool::new();
        spool
            .append(&[record(1, "a"), record(2, "b"), record(3, "a")])
            .await
            .expect("append");
        spool.retain(&|r| r.mailbox == "a").await.expect("retain");
        let seqs: Vec<u64> = spool
            .records()
            .await
            .expect("records")
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(seqs, [1, 3]);
    }

    #[test]
    fn records_are_json_lines_with_their_kind() {
        let json = serde_json::to_string(&record(7, "m")).expect("JSON");
        assert!(json.contains(r#""kind":"change""#), "{json}");
        let lifecycle = SpoolRecord::new(
            8,
            "m".into(),
            "s".into(),
            2,
            RecordKind::Lifecycle {
                event: "missed".into(),
            },
        );
        let back: SpoolRecord =
            serde_json::from_str(&serde_json::to_string(&lifecycle).expect("JSON"))
                .expect("parses");
        assert_eq!(back, lifecycle);
    }

    #[test]
    fn a_further_folders_record_keeps_its_folder_and_old_lines_still_read() {
        let junk = record(9, "m").in_folder("junkemail");
        let json = serde_json::to_string(&junk).expect("JSON");
        assert!(json.contains(r#""folder":"junkemail""#), "{json}");
        let back: SpoolRecord = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.folder.as_deref(), Some("junkemail"));
        // An inbox record is written as before; a line written before folders reads as one.
        assert!(
            !serde_json::to_string(&record(1, "m"))
                .expect("JSON")
                .contains("folder")
        );
        let old = r#"{"seq":3,"mailbox":"m","subscription":"s","at_ms":1,"kind":"change","change":"created","id":"AAMk"}"#;
        let old: SpoolRecord = serde_json::from_str(old).expect("an old line parses");
        assert_eq!(old.folder, None);
        let kind = RecordKind::Change {
            change: "created".into(),
            id: "AAMk".into(),
        };
        assert_eq!(old, SpoolRecord::new(3, "m".into(), "s".into(), 1, kind));
    }
}
