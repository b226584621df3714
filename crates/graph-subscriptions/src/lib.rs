//! # graph-subscriptions
//!
//! Keep Exchange Online mailboxes subscribed through Microsoft Graph change notifications
//! (webhooks), and yield the same events as `ews-subscriptions`: a [`GraphWatcher`]
//! implements [`MailboxWatcher`](mailbox_watch::MailboxWatcher), so a service chooses
//! EWS or Graph per tenant and consumes one kind of [`Events`](mailbox_watch::Events).
//! The watch types (targets, events, watermark store, errors) are `mailbox-watch`'s,
//! imported from there; this crate does not depend on `ews-subscriptions`.
//! EWS in Exchange Online is blocked from 1 October 2026 and gone on 1 April 2027; this is
//! the path for Microsoft 365.
//!
//! - **Subscriptions** on each user's inbox messages (`changeType` `created`), with a
//!   `notificationUrl`, a `lifecycleNotificationUrl` and a random `clientState` per
//!   subscription (only its digest is kept); the expiry Graph answers is honoured and the
//!   subscription renewed halfway through it
//!   (<https://learn.microsoft.com/graph/change-notifications-delivery-webhooks>).
//! - **Further folders** (`WatchTarget::folders`): one subscription each, on
//!   `/users/{id}/mailFolders('{folder}')/messages`, with the same rules; at most 19, so 20
//!   with the inbox's. Their new mail is marked `in_further_folder()`, with no unread count
//!   after it; watching again with another set adds and deletes subscriptions to follow it.
//! - **Lifecycle notifications**: `reauthorizationRequired` → reauthorize (or renew);
//!   `subscriptionRemoved` → a new subscription and a delta round; `missed` → a delta round,
//!   each on the subscription's own folder
//!   (<https://learn.microsoft.com/graph/change-notifications-lifecycle-events>).
//! - **The [`Webhook`]**: the validation handshake, the `clientState` check (a mismatch is
//!   refused and nothing acted on), 202 once notifications are written to the [`Spool`]
//!   (durably with [`FileSpool`]), duplicates and batches handled.
//! - **Several nodes behind one URL**: with [`Peers`], a webhook accepts notifications of
//!   subscriptions another node holds, and that node delivers them (the [`peers`] module).
//! - **Events**: a new message is `WatchEvent::Mail` of kind `NewMail` (with its id in EWS
//!   form), followed by the inbox's `unreadItemCount` as a modified-folder event (the badge).
//! - **Budgets**: at most 4 requests in flight per mailbox, `Retry-After` honoured on 429,
//!   bounded attempts with jittered backoff.
//!
//! Authentication is app-only (client credentials with a secret or a certificate) through
//! `exchange-auth`, scope [`GRAPH_SCOPE`]; the app needs the `Mail.Read` application
//! permission.
//!
//! ```no_run
//! # async fn demo(auth: std::sync::Arc<dyn exchange_auth::Authenticator>) -> Result<(), mailbox_watch::WatchError> {
//! use graph_subscriptions::{GraphSettings, GraphWatcher};
//! use mailbox_watch::{WatchEvent, WatchTarget};
//!
//! let webhook = "https://bems.contoso.com/graph/contoso".parse().unwrap();
//! let settings = GraphSettings::new(&webhook)?;
//! let (watcher, mut events) = GraphWatcher::builder(settings, auth).start().await?;
//! // Serve watcher.webhook().router() at https://bems.contoso.com/graph/contoso.
//! let _router = watcher.webhook().router();
//! let target = WatchTarget::new("mara@contoso.com", "https://graph.microsoft.com/v1.0/".parse().unwrap());
//! watcher.watch(target)?;
//! while let Some(event) = events.recv().await {
//!     if let WatchEvent::Mail(mail) = &event && mail.is_new_mail() {
//!         println!("new mail for {}", mail.mailbox);
//!     }
//! }
//! # Ok(()) }
//! ```

mod client;
mod core;
mod error;
mod folders;
mod ids;
mod manage;
mod member;
mod orphans;
pub mod peers;
mod persist;
mod process;
mod resync;
mod secret;
mod settings;
pub mod spool;
mod watcher;
mod webhook;
pub mod wire;

pub use error::GraphError;
pub use ids::rest_to_ews;
pub use peers::{Forwarded, PeerSubscription, Peers};
pub use settings::{Clock, GRAPH_API, GRAPH_SCOPE, GraphSettings, MAILBOX_CONCURRENCY};
pub use spool::{FileSpool, MemorySpool, Spool, SpoolRecord};
pub use watcher::{GraphCounts, GraphWatcher, GraphWatcherBuilder};
pub use webhook::Webhook;
