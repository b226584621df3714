//! What discovery tried: one entry per candidate with its outcome, for the service's Test
//! connection and for errors.

use std::time::Duration;

use serde::Serialize;

/// How a candidate was found or asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Method {
    /// The configured override URL.
    Override,
    /// A service connection point in Active Directory.
    Scp,
    /// POX Autodiscover.
    Pox,
    /// SOAP Autodiscover (`GetUserSettings`).
    Soap,
    /// Autodiscover v2 (JSON).
    V2,
    /// The unauthenticated plain-HTTP redirect.
    HttpRedirect,
    /// A DNS SRV record.
    Srv,
}

/// What happened to a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Outcome {
    /// It answered with settings.
    Found,
    /// It redirected discovery (to an address or a URL).
    Redirected {
        /// Where to.
        to: String,
    },
    /// It was not asked, or its answer not followed, for safety; the reason says why.
    Refused {
        /// Why.
        reason: String,
    },
    /// It failed (connection, TLS, HTTP status, bad answer, timeout).
    Failed {
        /// What went wrong.
        error: String,
    },
    /// It was still running when another candidate won.
    Cancelled,
    /// It gave candidates to try (SCP, SRV, HTTP redirect).
    Listed {
        /// The candidate URLs.
        candidates: Vec<String>,
    },
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TraceEntry {
    /// The method.
    pub method: Method,
    /// The URL, LDAP server or DNS name asked.
    pub target: String,
    /// The email address asked about.
    pub email: String,
    /// Whether credentials were sent.
    pub credentials_sent: bool,
    /// What happened.
    pub outcome: Outcome,
    /// How long it took.
    #[serde(serialize_with = "crate::trace::millis")]
    pub elapsed: Duration,
}

impl TraceEntry {
    /// An entry.
    pub fn new(
        method: Method,
        target: impl Into<String>,
        email: impl Into<String>,
        outcome: Outcome,
        elapsed: Duration,
    ) -> Self {
        Self {
            method,
            target: target.into(),
            email: email.into(),
            credentials_sent: false,
            outcome,
            elapsed,
        }
    }

    /// The same entry, recording whether credentials were sent.
    pub fn with_credentials(mut self, sent: bool) -> Self {
        self.credentials_sent = sent;
        self
    }
}

pub(crate) fn millis<S: serde::Serializer>(
    value: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_u128(value.as_millis())
}
