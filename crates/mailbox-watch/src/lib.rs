//! # mailbox-watch
//!
//! The seam between a service and the crates that keep Exchange mailboxes subscribed:
//! `ews-subscriptions` (EWS push, streaming and pull) and `graph-subscriptions` (Microsoft
//! Graph change notifications) both implement [`MailboxWatcher`], take [`WatchTarget`]s,
//! yield [`WatchEvent`]s through [`Events`], and keep their positions in a
//! [`WatermarkStore`]. A service holds any of them as `Arc<dyn MailboxWatcher>` and consumes
//! one kind of event, whichever backend a tenant uses.
//!
//! The traits a watcher needs from its consumer live here too, in the crate that uses them
//! (the way quinn owns its `Runtime` trait): [`WatermarkStore`] (where positions outlive the
//! process) and [`Relocate`] (where a mailbox went after a move), which `bems-service`
//! implements over its database and over Autodiscover. A watcher therefore depends on no
//! database and no locator.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use async_trait::async_trait;
//! use mailbox_watch::{Events, MailboxWatcher, WatchError, WatchEvent, WatchTarget, WatcherStatus};
//! use tokio::sync::mpsc;
//!
//! /// A watcher that subscribes every mailbox at once (a test double).
//! struct Instant {
//!     events: mpsc::Sender<WatchEvent>,
//!     watched: Mutex<Vec<String>>,
//! }
//!
//! #[async_trait]
//! impl MailboxWatcher for Instant {
//!     async fn watch(&self, target: WatchTarget) -> Result<(), WatchError> {
//!         self.watched.lock().unwrap().push(target.mailbox.clone());
//!         let subscribed = WatchEvent::Subscribed { mailbox: target.mailbox.into(), resumed: false };
//!         self.events.send(subscribed).await.map_err(|_| WatchError::Stopped)
//!     }
//!     async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError> {
//!         let mut watched = self.watched.lock().unwrap();
//!         let before = watched.len();
//!         watched.retain(|m| m != mailbox);
//!         Ok(watched.len() < before)
//!     }
//!     fn is_subscribed(&self, mailbox: &str) -> bool {
//!         self.watched.lock().unwrap().iter().any(|m| m == mailbox)
//!     }
//!     fn status(&self) -> WatcherStatus {
//!         let mut status = WatcherStatus::new("instant");
//!         status.mailboxes = self.watched.lock().unwrap().len();
//!         status.subscribed = status.mailboxes;
//!         status
//!     }
//!     async fn stop(&self, _within: Duration) {}
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let (tx, rx) = mpsc::channel(16);
//! let watcher: Arc<dyn MailboxWatcher> = Arc::new(Instant { events: tx, watched: Mutex::default() });
//! let mut events = Events::from_receiver(rx);
//! let ews = "https://mail.contoso.com/EWS/Exchange.asmx".parse().unwrap();
//! watcher.watch(WatchTarget::new("mara@contoso.com", ews).grouping("CONTOSO-1")).await?;
//! match events.recv().await {
//!     Some(WatchEvent::Subscribed { mailbox, resumed }) => {
//!         assert_eq!(&*mailbox, "mara@contoso.com");
//!         assert!(!resumed);
//!     }
//!     other => panic!("{other:?}"),
//! }
//! assert!(watcher.is_subscribed("mara@contoso.com"));
//! assert_eq!(watcher.status().subscribed, 1);
//! # Ok::<(), WatchError>(()) }).unwrap();
//! ```

mod error;
mod event;
mod events;
mod status;
mod store;
mod target;

use std::time::Duration;

use async_trait::async_trait;

pub use error::{BoxError, WatchError};
pub use event::{MailboxEvent, WatchEvent};
pub use events::Events;
pub use status::WatcherStatus;
pub use store::{MemoryWatermarks, WatermarkStore};
pub use target::{Relocate, WatchTarget};

/// Watches mailboxes and sends their changes to the [`Events`] it was started with.
///
/// What `bems-service` holds as `Arc<dyn MailboxWatcher>`: implemented by
/// `ews_subscriptions::Watcher` for EWS and by `graph_subscriptions::GraphWatcher` for
/// Exchange Online.
#[async_trait]
pub trait MailboxWatcher: Send + Sync {
    /// Starts watching a mailbox (again at a new endpoint, if it moved).
    async fn watch(&self, target: WatchTarget) -> Result<(), WatchError>;

    /// Stops watching a mailbox and forgets its watermark; false if it was not watched.
    async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError>;

    /// Whether `mailbox` is subscribed now.
    fn is_subscribed(&self, mailbox: &str) -> bool;

    /// Counts for health and metrics.
    fn status(&self) -> WatcherStatus;

    /// Stops watching every mailbox, waiting at most `within` for what the backend ends in
    /// order (EWS sends `Unsubscribe`; Graph keeps its subscriptions for the next start).
    /// The saved watermarks stay: a restarted watcher resumes from them.
    async fn stop(&self, within: Duration);
}
