//! Deliver notifications to devices.
//!
//! This crate will hold the APNs sender (HTTP/2, token and certificate authentication) and the
//! FCM HTTP v1 sender, with retries, a circuit breaker and dead-token reporting.
