//! # exchange-sim
//!
//! A faithful Microsoft Exchange simulator, built to the documented protocol, for tests,
//! benchmarks, the `bems` demo, and integrators who want to point any EWS client at something
//! that behaves like Exchange:
//!
//! - **Autodiscover** per domain: POX, SOAP `GetUserSettings`, v2 JSON, the plain-HTTP
//!   redirect, and scripted behaviour per host (redirects, errors, delays, black holes).
//! - **EWS** at `/EWS/Exchange.asmx`: `Subscribe` (push, pull, streaming), `GetEvents`,
//!   `GetStreamingEvents` (chunked, heartbeats, `ConnectionTimeout`, at most 50 events per
//!   notification), `Unsubscribe`, push callbacks with Exchange's retry schedule, `GetFolder`,
//!   `FindFolder`, `MoveItem`, `GetItem`, `ResolveNames`, `GetUserPhoto`, `ConvertId`. Every
//!   request is judged by Microsoft's schema and read by the simulator's own code, not the
//!   client crates' ([`validate_request`]); refusals are Exchange's (`ErrorSchemaValidation` with its position,
//!   `ErrorInvalidServerVersion`, `ErrorInvalidRequest`, SOAP `VersionMismatch`, HTTP 415).
//! - **Mailboxes' folders** as an Exchange 2016+ mailbox has them (`root`, the IPM subtree, the
//!   search and Recoverable Items folders), with impersonation, delegate access (`full_access`,
//!   `delegates`) and service accounts without a mailbox served as Exchange documents them.
//! - **Recording**: with `EXCHANGE_SIM_RECORD=<dir>` ([`RECORD_ENV`]), every EWS body read or
//!   written goes to `<dir>`, one file each, for schema checks of all traffic.
//! - **Mailboxes** with an event table and watermarks, changed through the Rust API or the
//!   admin HTTP endpoint (`/_sim/...`).
//! - **Servers and affinity**: subscriptions live in one back end's memory; requests without
//!   `X-PreferServerAffinity` and the `X-BackEndOverrideCookie` may miss them.
//! - **Authentication** as Exchange checks it (Basic, NTLMv2 per connection with Extended
//!   Protection's channel binding, Bearer tokens, TLS client certificates),
//!   **impersonation** rights, **budgets** with Exchange's numbers, and **fault injection**.
//! - A mock **Microsoft identity platform** (v2 token and authorize endpoints, JWKS).
//! - **Microsoft Graph** change notifications for Exchange Online under the host name
//!   `graph.microsoft.com`: the subscriptions API with its expiry rules, the validation
//!   handshake, webhook delivery with retries, lifecycle notifications on demand, delta
//!   queries, the inbox's `unreadItemCount`, one message by id with `$select`, and throttling
//!   (see [`GraphHandle`]).
//! - **Messages** with a sender's display name and importance ([`NewMessage`],
//!   [`Sim::deliver_message`]), and faults of the message-details path
//!   ([`Sim::slow_item_reads`], [`Sim::fail_item_reads`]).
//!
//! Everything runs over real TCP and TLS on loopback, with certificates made at start.
//!
//! ```no_run
//! # async fn demo() -> Result<(), exchange_sim::SimError> {
//! use exchange_sim::{Scenario, Sim};
//!
//! let scenario = Scenario::from_toml(r#"
//!     [[domains]]
//!     name = "contoso.com"
//!     [[servers]]
//!     name = "mbx1"
//!     [[users]]
//!     smtp = "mara@contoso.com"
//!     display_name = "Mara Whitley"
//!     [[service_accounts]]
//!     name = "svc"
//!     upn = "svc@contoso.com"
//!     password = "secret"
//!     rights = ["ApplicationImpersonation"]
//! "#)?;
//! let sim = Sim::builder().scenario(scenario).start().await?;
//! println!("EWS at {}, trust {}", sim.ews_url("mara@contoso.com")?, sim.ca_pem());
//! sim.deliver_mail("mara@contoso.com", "Hello", "boss@contoso.com")?;
//! # Ok(()) }
//! ```

mod admin;
mod autodiscover;
pub mod dns;
mod ews;
mod graph;
mod identity;
mod net;
pub mod push;
mod record;
pub mod scenario;
mod sim;
mod tls;
mod version;
mod world;

pub use autodiscover::AutodiscoverRequest;
pub use ews::strict::{RequestRefusal, validate_request};
pub use graph::{GRAPH_HOST, GraphHandle, GraphStats, GraphSubscriptionInfo, LifecycleEvent};
pub use record::RECORD_ENV;
pub use scenario::Scenario;
pub use sim::{Sim, SimBuilder, Stats};
pub use tls::CertifiedKey;
pub use world::mailbox::FolderKind;
pub use world::message::{Importance, NewMessage};

/// What can go wrong starting or driving the simulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The scenario is invalid; the text names the problem.
    #[error("invalid scenario: {0}")]
    Scenario(String),
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificates could not be made.
    #[error("TLS setup failed: {0}")]
    Tls(String),
    /// No such mailbox, message, server, account or app.
    #[error("not found: {0}")]
    NotFound(String),
}
