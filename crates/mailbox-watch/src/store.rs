//! Where watermarks outlive the process.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use ews_proto::Watermark;

use crate::error::WatchError;

/// Keeps each mailbox's last watermark, so that a restarted watcher subscribes from there and
/// Exchange replays what happened in between.
///
/// The watcher saves a watermark after the events before it are in the consumer's channel;
/// `bems-service` implements this over its database.
#[async_trait]
pub trait WatermarkStore: Send + Sync {
    /// The saved watermark of `mailbox`, if any.
    async fn load(&self, mailbox: &str) -> Result<Option<Watermark>, WatchError>;

    /// Saves `watermark` as `mailbox`'s position.
    async fn save(&self, mailbox: &str, watermark: &Watermark) -> Result<(), WatchError>;

    /// Forgets `mailbox` (it is no longer watched).
    async fn remove(&self, mailbox: &str) -> Result<(), WatchError>;
}

/// Watermarks in memory: for tests and for consumers with no database. Lost on restart.
#[derive(Debug, Default)]
pub struct MemoryWatermarks {
    marks: Mutex<HashMap<String, Watermark>>,
}

impl MemoryWatermarks {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many mailboxes have a watermark.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no mailbox has a watermark.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watermark>> {
        self.marks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl WatermarkStore for MemoryWatermarks {
    async fn load(&self, mailbox: &str) -> Result<Option<Watermark>, WatchError> {
        Ok(self.lock().get(mailbox).cloned())
    }

    async fn save(&self, mailbox: &str, watermark: &Watermark) -> Result<(), WatchError> {
        self.lock().insert(mailbox.to_owned(), watermark.clone());
        Ok(())
    }

    async fn remove(&self, mailbox: &str) -> Result<(), WatchError> {
        self.lock().remove(mailbox);
        Ok(())
    }
}
