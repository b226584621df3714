//! Mock push providers: **APNs** and **FCM HTTP v1** (with its OAuth token endpoint), over
//! HTTP/2 and TLS on loopback, usable without starting a whole [`Sim`](crate::Sim).
//!
//! Both check what the real services check (Apple's provider token or client certificate,
//! topic, headers, payload size, device token format; Google's service-account assertion,
//! access token, message shape), answer any documented status and reason on demand (per
//! device token, for the next requests, or "down" for everything), and record what they
//! received.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_sim::SimError> {
//! use exchange_sim::push::{keys, MockApns, MockApnsConfig, Reply};
//!
//! let key = keys::p8_key_pair()?; // .p8 private key for the sender, public key for the mock
//! let apns = MockApns::start(MockApnsConfig::new(
//!     "TEAM123456", "KEY1234567", key.public_pem.clone(), "com.example.mail",
//! )).await?;
//! let token = "ab".repeat(32);
//! apns.script(&token, [Reply::apns("Unregistered").timestamp(1_700_000_000_000)]);
//! // ... point an APNs client at apns.url(), trusting apns.ca_pem() ...
//! for request in apns.received() {
//!     println!("{} {} -> {}", request.token, request.payload, request.status);
//! }
//! # Ok(()) }
//! ```
//!
//! APNs: <https://developer.apple.com/documentation/usernotifications/sending-notification-requests-to-apns>,
//! FCM: <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>.

mod apns;
mod apns_auth;
mod fcm;
pub mod keys;
mod oauth;
mod reply;
mod serve;

pub use apns::{ApnsRequest, MockApns, MockApnsConfig};
pub use fcm::{FcmRequest, MockFcm, MockFcmConfig};
pub use reply::Reply;
pub use serve::MockStats;
