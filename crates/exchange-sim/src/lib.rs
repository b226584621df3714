//! A faithful Microsoft Exchange simulator.
//!
//! This crate will serve Autodiscover, EWS notification subscriptions, push callbacks, a mock
//! Microsoft identity platform and mock APNs / FCM endpoints over real TCP and TLS on loopback.
