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
//!
//! Payloads over 4096 bytes are refused before anything is sent. Keys, passwords and access
//! tokens are [`Secret`]s: they never appear in `Debug` output or logs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use push_delivery::{
//!     ApnsAuth, ApnsConfig, ApnsSender, DeviceToken, Dispatcher, DispatcherConfig,
//!     Notification, Outcome, Push,
//! };
//!
//! # async fn demo() -> Result<(), push_delivery::Error> {
//! let p8 = std::fs::read_to_string("AuthKey_KEY1234567.p8").expect("key file");
//! let config = ApnsConfig::new(ApnsAuth::token("TEAM123456", "KEY1234567", p8), "com.example.mail");
//! let sender = Arc::new(ApnsSender::new(config)?);
//! let dispatcher = Dispatcher::new(sender, DispatcherConfig::default());
//!
//! let token = DeviceToken::apns("a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90")?;
//! let push = Push::new(token, Notification::alert("New mail", "From: Mara").badge(1));
//! let receipt = dispatcher.submit(push).await?;
//! match receipt.outcome().await {
//!     Outcome::Delivered { .. } => {}
//!     Outcome::TokenInvalid { .. } => { /* delete the device */ }
//!     other => eprintln!("not delivered: {other:?}"),
//! }
//! dispatcher.shutdown(std::time::Duration::from_secs(10)).await;
//! # Ok(()) }
//! ```

mod apns;
mod dispatch;
mod error;
mod fcm;
mod outcome;
mod push;
mod secret;
mod sender;

pub use apns::{ApnsAuth, ApnsConfig, ApnsEndpoint, ApnsSender, ApnsStats};
pub use dispatch::{
    BreakerConfig, DispatchStats, Dispatcher, DispatcherConfig, Receipt, RetryPolicy,
    ShutdownReport,
};
pub use error::Error;
pub use fcm::{FcmConfig, FcmSender};
pub use outcome::{Outcome, Reason};
pub use push::{DeviceToken, Notification, Platform, Priority, Push, PushKind};
pub use secret::Secret;
pub use sender::PushSender;
