//! # bems
//!
//! Email notifications for Microsoft Exchange mailboxes, as BlackBerry's Enterprise Mobility
//! Server does them: find each mailbox (Autodiscover), authenticate the service account,
//! subscribe to mailbox changes through Exchange Web Services (or Microsoft Graph change
//! notifications for Exchange Online), and push new-mail alerts to devices through APNs and
//! FCM.
//!
//! This package is a facade: it re-exports the workspace's crates under one name so that an
//! application can depend on `bems` alone. Each crate can also be used on its own.
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`ews_proto`] | `ews-proto` | the sans-io EWS and Autodiscover wire layer |
//! | [`autodiscover`] | `autodiscover` | find a mailbox's EWS endpoint |
//! | [`exchange_auth`] | `exchange-auth` | authenticate the service account |
//! | [`mailbox_watch`] | `mailbox-watch` | the watcher trait, its events and watermarks, `Relocate` |
//! | [`ews_subscriptions`] | `ews-subscriptions` | keep mailboxes subscribed, yield events |
//! | [`graph_subscriptions`] | `graph-subscriptions` | the same through Microsoft Graph change notifications (Exchange Online) |
//! | [`push_delivery`] | `push-delivery` | APNs and FCM senders |
//! | [`service`] | `bems-service` | the composition and the `bems` binary |
//! | [`exchange_sim`] | `exchange-sim` | a faithful Exchange simulator |

#[doc(inline)]
pub use autodiscover;
#[doc(inline)]
pub use bems_service as service;
#[doc(inline)]
pub use ews_proto;
#[doc(inline)]
pub use ews_subscriptions;
#[doc(inline)]
pub use exchange_auth;
#[doc(inline)]
pub use exchange_sim;
#[doc(inline)]
pub use graph_subscriptions;
#[doc(inline)]
pub use mailbox_watch;
#[doc(inline)]
pub use push_delivery;
