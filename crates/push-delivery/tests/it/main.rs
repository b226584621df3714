//! push-delivery against the mock APNs and FCM of exchange-sim, over TLS on loopback.

mod apns;
mod apns_connections;
mod dispatch;
mod fcm;
mod nghttpd;
mod support;
