//! Keep Exchange mailboxes subscribed and yield their events.
//!
//! This crate will hold the EWS push listener, streaming groups with server affinity, pull
//! subscriptions, watermark persistence and recovery for every documented error code.
