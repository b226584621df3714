//! # push-delivery
//!
//! Sends notifications to phones through **APNs** (HTTP/2, token or certificate
//! authentication) and **FCM HTTP v1**, says what became of each one, and reports the device
//! tokens that are dead so the caller can delete them.
//!
//! - [`PushSender`] is the one trait: `send(&Push) -> Outcome`. An [`Outcome`] is
//!   [`Delivered`](Outcome::Delivered), [`TokenInvalid`](Outcome::TokenInvalid) (delete the
//!   device), [`Retry`](Outcome::Retry) (maybe with the provider's `Retry-After`), or
//!   [`Rejected`](Outcome::Rejected) (permanent, with the reason).
//! - [`ApnsSender`] keeps a few long-lived HTTP/2 connections with many streams each, signs
//!   one ES256 provider token for all of them and re-signs it every 50 minutes, or presents
//!   a .p12 client certificate. The endpoint and the trusted CAs are configurable.
//! - [`FcmSender`] exchanges a service account's RS256 assertion for an access token, caches
//!   it until shortly before it expires, and maps every FCM error code.
//! - [`Dispatcher`] owns what a single send does not: a bounded queue, retries with
//!   exponential backoff and jitter (honouring `Retry-After`, bounded in count and time), a
//!   breaker that makes queued work wait while a provider is down, and a graceful shutdown
//!   that drains the queue.
//! - A [`Notification`] can raise or lower its alert's [`InterruptionLevel`], or only set the
//!   app's badge ([`Notification::badge_update`]); [`seal`] seals an alert's content with HPKE
//!   to a key the device registered ([`RecipientKey`]), so APNs and FCM carry ciphertext only.
//!
//! Payloads over 4096 bytes are refused before anything is sent. Keys, passwords and access
//! tokens are `secrecy` types ([`SecretString`], [`SecretSlice`]), zeroed when dropped, read
//! only through [`ExposeSecret::expose_secret`]: they never appear in `Debug` output or logs.
//!
//! Against exchange-sim's mock APNs (the same code works with Apple's servers: leave the
//! endpoint and the CA at their defaults):
//!
//! ```
//! use std::sync::Arc;
//! use exchange_sim::push::{keys, MockApns, MockApnsConfig, Reply};
//! use push_delivery::{
//!     ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, DeviceToken, Dispatcher, DispatcherConfig,
//!     Notification, Outcome, Push,
//! };
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key = keys::p8_key_pair()?; // an AuthKey_*.p8 and its public half
//! let apns = MockApns::start(MockApnsConfig::new(
//!     "TEAM123456", "KEY1234567", key.public_pem.clone(), "com.example.mail",
//! )).await?;
//!
//! let mut config = ApnsConfig::new(
//!     ApnsAuth::token("TEAM123456", "KEY1234567", key.private_pem.clone()),
//!     "com.example.mail",
//! );
//! config.endpoint = ApnsEndpoint::Url(apns.url());
//! config.extra_ca_pem = vec![apns.ca_pem().to_owned()];
//! let dispatcher = Dispatcher::new(Arc::new(ApnsSender::new(config)?), DispatcherConfig::default());
//!
//! let live = DeviceToken::apns(&"a1".repeat(32))?;
//! let gone = DeviceToken::apns(&"b2".repeat(32))?;
//! apns.script(gone.as_str(), [Reply::apns("Unregistered").timestamp(1_700_000_000_000)]);
//!
//! let new_mail = Notification::alert("New mail", "From: Mara").badge(1);
//! let first = dispatcher.submit(Push::new(live, new_mail.clone())).await?;
//! let second = dispatcher.submit(Push::new(gone, new_mail)).await?;
//! assert!(first.outcome().await.is_delivered());
//! match second.outcome().await {
//!     Outcome::TokenInvalid { since, .. } => assert!(since.is_some()), // delete the device
//!     other => panic!("{other:?}"),
//! }
//! let report = dispatcher.shutdown(std::time::Duration::from_secs(5)).await;
//! assert!(report.abandoned.is_empty());
//! # Ok(()) }
//! ```

mod apns;
mod dispatch;
mod error;
mod fcm;
mod outcome;
mod push;
pub mod seal;
mod sender;

pub use apns::{
    ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, ApnsStats, OnSigned, ProviderTokenCache,
};
pub use dispatch::{
    BreakerConfig, DispatchStats, Dispatcher, DispatcherConfig, Receipt, RetryPolicy,
    ShutdownReport,
};
pub use error::Error;
pub use fcm::{FcmConfig, FcmSender};
pub use outcome::{Outcome, Reason};
pub use push::{DeviceToken, InterruptionLevel, Notification, Platform, Priority, Push, PushKind};
pub use seal::{DeviceSecret, RecipientKey, Sealed};
pub use secrecy::{ExposeSecret, SecretSlice, SecretString};
pub use sender::PushSender;

/// Entry points for `cargo fuzz`; not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use apns::fuzzing;
