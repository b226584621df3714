//! # ews-subscriptions
//!
//! Keep Exchange mailboxes subscribed, through restarts, dropped connections, throttling and
//! mailbox moves, and yield one stream of typed mailbox events.
//!
//! A [`Watcher`] is given [`WatchSettings`] (push, streaming or pull; folders; budgets), an
//! [`Authenticator`](exchange_auth::Authenticator) and, per mailbox, a [`WatchTarget`] (what
//! Autodiscover found). It puts mailboxes in affinity groups of at most 200 by
//! `GroupingInformation` and EWS URL, subscribes each as itself (`ExchangeImpersonation`)
//! with the group's anchor and back-end cookie, and then:
//!
//! - **push**: Exchange POSTs `SendNotification` to the [`PushListener`]; ids we did not
//!   create get `Unsubscribe`; a subscription silent past `StatusFrequency` is lost;
//! - **streaming**: one `GetStreamingEvents` connection per group, reopened at its
//!   `ConnectionTimeout`, when members change, after refused ids are evicted, and after a
//!   jittered backoff when it breaks or is silent for twice the heartbeat;
//! - **pull**: `GetEvents` with each mailbox's watermark at a fixed interval.
//!
//! Every error code gets the recovery of the [`recovery`] table: wait exactly
//! `BackOffMilliseconds`, subscribe again from the saved watermark, subscribe again without
//! it and emit [`WatchEvent::Resync`], or ask Autodiscover again (through the
//! [`MailboxLocator`](autodiscover::MailboxLocator)) and subscribe where the mailbox is now.
//! `Subscribe` is rate-limited and requests are bounded in number, so a cold start of 100,000
//! mailboxes stays within Exchange's budgets.
//!
//! Watermarks are saved through a [`WatermarkStore`] after their events are in the
//! consumer's channel, and used to resume after a restart: delivery is at least once, with
//! duplicates removed by (mailbox, object, kind, time stamp). Streaming notifications carry no
//! watermark, so a streaming subscription lost to a restart or a move cannot be replayed: the
//! watcher emits [`WatchEvent::Resync`] for the consumer to look at the mailbox itself.
//!
//! ```no_run
//! # async fn demo(auth: std::sync::Arc<dyn exchange_auth::Authenticator>) -> Result<(), ews_subscriptions::WatchError> {
//! use ews_subscriptions::*;
//!
//! let settings = WatchSettings::new(Mode::Streaming(StreamingSettings::default()));
//! let (watcher, mut events) = Watcher::builder(settings, auth).start()?;
//! watcher.watch(WatchTarget::new(
//!     "mara@contoso.com",
//!     "https://mail.contoso.com/EWS/Exchange.asmx".parse().unwrap(),
//! ).grouping("CONTOSO-1"))?;
//! while let Some(event) = events.recv().await {
//!     match event {
//!         WatchEvent::Mail(mail) if mail.is_new_mail() => println!("new mail for {}", mail.mailbox),
//!         other => println!("{other:?}"),
//!     }
//! }
//! # Ok(()) }
//! ```

mod core;
mod early;
mod error;
mod event;
mod ews;
mod group;
mod pace;
mod push;
pub mod recovery;
mod settings;
mod store;
mod streaming;
mod watcher;

use async_trait::async_trait;

pub use error::WatchError;
pub use event::{MailboxEvent, WatchEvent};
pub use push::PushListener;
pub use settings::{
    Limits, MAX_GROUP, Mode, PullSettings, PushSettings, StreamingSettings, WatchSettings,
};
pub use store::{MemoryWatermarks, WatermarkStore};
pub use watcher::{Events, WatchTarget, Watcher, WatcherBuilder, WatcherStatus};

/// Watches mailboxes; what `bems-service` holds as `Arc<dyn MailboxWatcher>`, implemented
/// by [`Watcher`] for EWS and by the Graph backend for Exchange Online.
#[async_trait]
pub trait MailboxWatcher: Send + Sync {
    /// Starts watching a mailbox (again at a new endpoint, if it moved).
    async fn watch(&self, target: WatchTarget) -> Result<(), WatchError>;

    /// Stops watching a mailbox; false if it was not watched.
    async fn unwatch(&self, mailbox: &str) -> Result<bool, WatchError>;

    /// Counts for health and metrics.
    fn status(&self) -> WatcherStatus;
}
