//! The one error of this crate.

use crate::trace::TraceEntry;

/// Why discovery failed.
///
/// Every variant that follows an attempt carries the whole trace: what was tried and what
/// happened to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not `local@domain`.
    #[error("not an email address: {0:?}")]
    InvalidEmail(String),
    /// The settings cannot work (a bad proxy URL or CA certificate, ...); names the setting.
    #[error("invalid setting {setting}: {reason}")]
    Config {
        /// The setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No candidate gave settings.
    #[error("no Autodiscover endpoint found for {email} ({} candidates tried)", trace.len())]
    NotFound {
        /// The address.
        email: String,
        /// Every candidate and its outcome.
        trace: Vec<TraceEntry>,
    },
    /// Redirects went past the limit of 10 hops.
    #[error("more than {limit} Autodiscover redirects for {email}")]
    TooManyRedirects {
        /// The address.
        email: String,
        /// The limit.
        limit: usize,
        /// Every candidate and its outcome.
        trace: Vec<TraceEntry>,
    },
    /// A redirect led back to an address or URL already visited.
    #[error("Autodiscover redirect loop at {at}")]
    RedirectLoop {
        /// The address or URL seen twice.
        at: String,
        /// Every candidate and its outcome.
        trace: Vec<TraceEntry>,
    },
    /// The overall deadline passed.
    #[error("Autodiscover for {email} did not finish within the overall timeout")]
    Timeout {
        /// The address.
        email: String,
        /// Every candidate and its outcome so far.
        trace: Vec<TraceEntry>,
    },
}

impl Error {
    /// The trace of what was tried, when there is one.
    pub fn trace(&self) -> &[TraceEntry] {
        match self {
            Self::NotFound { trace, .. }
            | Self::TooManyRedirects { trace, .. }
            | Self::RedirectLoop { trace, .. }
            | Self::Timeout { trace, .. } => trace,
            Self::InvalidEmail(_) | Self::Config { .. } => &[],
        }
    }

    /// Whether trying again later may help (network failures and timeouts), as opposed to
    /// configuration or redirect problems.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::NotFound { .. } | Self::Timeout { .. })
    }
}
