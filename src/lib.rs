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
//! | [`ews_client`] | `ews-client` | send one EWS operation as the service account |
//! | [`ews_subscriptions`] | `ews-subscriptions` | keep mailboxes subscribed, yield events |
//! | [`graph_subscriptions`] | `graph-subscriptions` | the same through Microsoft Graph change notifications (Exchange Online) |
//! | [`push_delivery`] | `push-delivery` | APNs and FCM senders |
//! | [`settings`] | `bems-settings` | the seed page's settings and their rules |
//! | [`store`] | `bems-store` | what the service keeps: devices, mailboxes, sealed secrets, the outbox |
//! | [`exchange_check`] | `exchange-check` | Test connection: each step to a mailbox, with what happened |
//! | [`exchange_directory`] | `exchange-directory` | Directory Lookup: search people and fetch photos through EWS, Graph and LDAP |
//! | [`service`] | `bems-service` | the composition: tenants, pipeline, courier, API |

#[doc(inline)]
pub use autodiscover;
#[doc(inline)]
pub use bems_service as service;
#[doc(inline)]
pub use bems_settings as settings;
#[doc(inline)]
pub use bems_store as store;
#[doc(inline)]
pub use ews_client;
#[doc(inline)]
pub use ews_proto;
#[doc(inline)]
pub use ews_subscriptions;
#[doc(inline)]
pub use exchange_auth;
#[doc(inline)]
pub use exchange_check;
#[doc(inline)]
pub use exchange_directory;
#[doc(inline)]
pub use graph_subscriptions;
#[doc(inline)]
pub use mailbox_watch;
#[doc(inline)]
pub use push_delivery;

// The simulator (`exchange-sim`) and the demo world (`bems-demo`) are not re-exported: no
// library depends on them. The `bems` command is the `bems-cli` package.
