//! # bems-service
//!
//! The composition of the bems crates into the running service: each tenant's parts built from
//! its settings ([`service`], [`compose`]), the [`pipeline`] from mailbox events to pushes, the
//! [`courier`] that sends the outbox, the HTTP API ([`api`], [`server`]) for devices and
//! administrators, and the services a tenant gets automatically ([`directory`] lookup,
//! [`followme`]), with the EWS-to-Graph switch ([`graph`]). Nodes sharing one store divide
//! the mailboxes among them under leases ([`cluster`], [`leases`]).
//!
//! Every other crate is held behind a trait object: the watchers as
//! `Arc<dyn mailbox_watch::MailboxWatcher>`, Autodiscover as
//! `Arc<dyn autodiscover::MailboxLocator>`, authentication as
//! `Arc<dyn exchange_auth::Authenticator>`, the store as `Arc<dyn bems_store::Store>`, the push
//! senders as `Arc<dyn push_delivery::PushSender>`; [`adapters`] and [`relocate`] show the store
//! and Autodiscover to the watchers and authenticators. [`service::TenantParts`] composes a
//! tenant of any implementations. The settings are `bems-settings`', the `bems` command is
//! `bems-cli`.

pub mod adapters;
pub mod alerts;
pub mod api;
pub mod check_config;
pub mod cluster;
pub mod compose;
pub mod console;
pub mod courier;
pub mod details;
pub mod directory;
pub mod discovery;
pub mod error;
pub mod files;
pub mod followme;
pub mod graph;
mod jobs;
pub mod leases;
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
