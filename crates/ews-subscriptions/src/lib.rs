//! # ews-subscriptions
//!
//! Keep Exchange mailboxes subscribed, through restarts, dropped connections, throttling and
//! mailbox moves, and yield one stream of typed mailbox events.
//!
//! A [`Watcher`] is given [`WatchSettings`] (push, streaming or pull; folders; budgets), an
//! [`Authenticator`](exchange_auth::Authenticator) and, per mailbox, a
//! [`WatchTarget`](mailbox_watch::WatchTarget) (what Autodiscover found). It implements
//! [`MailboxWatcher`](mailbox_watch::MailboxWatcher), and its events, watermarks and errors
//! are the types of the `mailbox-watch` crate, imported from there. It puts mailboxes in affinity groups of at most 200 by
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
//! A target may name further folders besides the watcher's own (the inbox): they join the
//! mailbox's one subscription (at most 19 of them; Exchange Online allows 20 subscriptions
//! per mailbox), are resolved to ids by one `GetFolder` before each subscription (a folder
//! Exchange does not find is logged and left out), and their events come out marked
//! [`further_folder`](mailbox_watch::MailboxEvent::further_folder). See [`Watcher::watch`].
//!
//! Every error code gets the recovery of the [`recovery`] table: wait exactly
//! `BackOffMilliseconds`, subscribe again from the saved watermark, subscribe again without
//! it and emit [`WatchEvent::Resync`](mailbox_watch::WatchEvent::Resync), or ask where the
//! mailbox is now (through the consumer's [`Relocate`](mailbox_watch::Relocate), which
//! `bems-service` implements over Autodiscover) and subscribe there.
//! `Subscribe` is rate-limited and requests are bounded in number, so a cold start of 100,000
//! mailboxes stays within Exchange's budgets.
//!
//! Watermarks are saved through a [`WatermarkStore`](mailbox_watch::WatermarkStore) after
//! their events are in the consumer's channel, and used to resume after a restart: delivery
//! is at least once, with duplicates removed by (mailbox, object, kind, time stamp). Streaming
//! notifications carry no watermark, so a streaming subscription lost to a restart or a move
//! cannot be replayed: the watcher emits [`WatchEvent::Resync`](mailbox_watch::WatchEvent::Resync)
//! for the consumer to look at the mailbox itself.
//!
//! ```no_run
//! # async fn demo(auth: std::sync::Arc<dyn exchange_auth::Authenticator>) -> Result<(), mailbox_watch::WatchError> {
//! use ews_subscriptions::{Mode, StreamingSettings, WatchSettings, Watcher};
//! use mailbox_watch::{WatchEvent, WatchTarget};
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
mod ews;
mod folders;
mod group;
mod pace;
mod push;
pub mod recovery;
mod settings;
mod streaming;
mod watcher;

pub use push::PushListener;
pub use settings::{
    Limits, MAX_GROUP, Mode, PullSettings, PushSettings, StreamingSettings, WatchSettings,
};
pub use watcher::{Watcher, WatcherBuilder};
