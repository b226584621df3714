//! The bems service.
//!
//! This crate will compose the other crates into the service: settings, the store, the HTTP
//! API for devices and administrators, orchestration from mailbox events to pushes, and the
//! `bems` binary.
