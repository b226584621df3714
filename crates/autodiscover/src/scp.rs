//! Service connection points in Active Directory (SCP lookup).
//!
//! STUB: replaced by the full implementation.

use std::time::Duration;

use url::Url;

use crate::settings::ScpSettings;
use crate::trace::TraceEntry;

/// What an SCP lookup found: Autodiscover URLs ranked by site, and the trace of the
/// directory queries.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ScpLookup {
    /// POX Autodiscover URLs, best first: own site, then no site, then other sites.
    pub urls: Vec<Url>,
    /// What was asked of which domain controller.
    pub trace: Vec<TraceEntry>,
}

/// Looks up Autodiscover SCPs for `email`'s domain; failures go into the trace, never an error.
pub async fn lookup(
    settings: &ScpSettings,
    trusted_ca_pem: &[String],
    trusted_ca_only: bool,
    email: &str,
    timeout: Duration,
) -> ScpLookup {
    let _ = (settings, trusted_ca_pem, trusted_ca_only, email, timeout);
    ScpLookup::default()
}
