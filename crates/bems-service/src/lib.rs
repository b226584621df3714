//! # bems-service
//!
//! The thin composition of the bems crates into the service: [`settings`] (TOML and
//! environment, validated by the rules of BlackBerry's email-notification page), the store
//! (`bems-store`, behind its traits; [`adapters`] shows it to the watchers and authenticators),
//! the HTTP API for devices and administrators, the
//! orchestration from mailbox events to pushes, the services a tenant gets automatically
//! ([`directory`] lookup and [`followme`]), and the `bems` binary.

pub mod adapters;
pub mod api;
pub mod check;
pub mod check_config;
pub mod compose;
pub mod courier;
pub mod directory;
pub mod discovery;
pub mod error;
pub mod files;
pub mod followme;
pub mod graph;
pub mod listener;
pub mod metrics;
pub mod notify;
pub mod pipeline;
pub mod registration;
pub mod relocate;
pub mod server;
pub mod service;
pub mod unread;
pub mod verify;
