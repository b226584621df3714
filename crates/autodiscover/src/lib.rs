//! # autodiscover
//!
//! Find the Exchange Web Services endpoint of a mailbox the way Exchange documents it, safely
//! and in parallel.
//!
//! STUB: the discovery engine lands next.

// The DNS module is being replaced; nothing calls it yet. Remove with the discovery engine.
#[allow(dead_code)]
mod dns;
mod error;
pub mod scp;
mod settings;
mod trace;

pub use dns::SrvRecord;
pub use error::Error;
pub use settings::{
    CacheSettings, MICROSOFT_HOSTS, Protocols, ScpSettings, Secret, Settings, Timeouts,
};
pub use trace::{Method, Outcome, TraceEntry};
