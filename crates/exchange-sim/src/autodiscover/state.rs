//! What the Autodiscover endpoints remember between requests: the log of every request they
//! saw, and host behaviour changed at run time.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use base64::Engine as _;

use crate::scenario::HostBehaviour;

/// How many requests the log keeps; when full, the oldest entry is dropped.
pub(crate) const LOG_CAPACITY: usize = 10_000;

/// One request an Autodiscover endpoint received, as recorded for tests.
///
/// **This record holds the full `Authorization` header value**, secrets included, so that
/// tests can prove which credentials reached which host. It lives only in memory, is never
/// written to `tracing`, and its `Debug` output redacts the value.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AutodiscoverRequest {
    /// The `Host` header (or HTTP/2 authority), lower-cased, without the port.
    pub host: String,
    /// The HTTP method (`POST`, `GET`).
    pub method: String,
    /// The path, lower-cased as the simulator routes it (`/autodiscover/autodiscover.xml`).
    pub path: String,
    /// The query string, as sent, without the `?`.
    pub query: Option<String>,
    /// Whether the request came over TLS (`false` for the plain HTTP listener).
    pub tls: bool,
    /// The local address the client connected to.
    pub local_addr: Option<SocketAddr>,
    /// The scheme of the `Authorization` header (`Basic`, `Bearer`, `NTLM`), as sent.
    pub auth_scheme: Option<String>,
    /// The full `Authorization` header value. Holds secrets: for tests only.
    pub authorization: Option<String>,
}

impl AutodiscoverRequest {
    /// Whether the request carried an `Authorization` header.
    pub fn has_credentials(&self) -> bool {
        self.authorization.is_some()
    }

    /// The user name of a `Basic` header, decoded.
    pub fn basic_user(&self) -> Option<String> {
        let value = self.authorization.as_deref()?;
        let (scheme, rest) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        text.split_once(':').map(|(user, _)| user.to_owned())
    }
}

impl fmt::Debug for AutodiscoverRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AutodiscoverRequest")
            .field("host", &self.host)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("tls", &self.tls)
            .field("local_addr", &self.local_addr)
            .field("auth_scheme", &self.auth_scheme)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Behaviour of a host set at run time, over the scenario's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Script {
    pub(crate) behaviour: HostBehaviour,
    pub(crate) delay: Duration,
}

/// The Autodiscover endpoints' shared state, held in `Ctx`.
#[derive(Debug, Default)]
pub(crate) struct State {
    log: Mutex<VecDeque<AutodiscoverRequest>>,
    overrides: Mutex<HashMap<String, Script>>,
}

impl State {
    /// Appends a request to the log, dropping the oldest when the log is full.
    pub(crate) fn record(&self, request: AutodiscoverRequest) {
        let mut log = lock(&self.log);
        if log.len() >= LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(request);
    }

    /// Every logged request, oldest first.
    pub(crate) fn log(&self) -> Vec<AutodiscoverRequest> {
        lock(&self.log).iter().cloned().collect()
    }

    /// Empties the log.
    pub(crate) fn clear_log(&self) {
        lock(&self.log).clear();
    }

    /// The run-time behaviour of `host` (lower-case), if one was set.
    pub(crate) fn override_for(&self, host: &str) -> Option<Script> {
        lock(&self.overrides).get(host).cloned()
    }

    /// Sets (or, with `None`, removes) the run-time behaviour of `host`.
    pub(crate) fn set_override(&self, host: &str, script: Option<Script>) {
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        let mut overrides = lock(&self.overrides);
        match script {
            Some(script) => overrides.insert(host, script),
            None => overrides.remove(&host),
        };
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(authorization: Option<&str>) -> AutodiscoverRequest {
        AutodiscoverRequest {
            host: "autodiscover.contoso.com".into(),
            method: "POST".into(),
            path: "/autodiscover/autodiscover.xml".into(),
            query: None,
            tls: true,
            local_addr: None,
            auth_scheme: authorization
                .and_then(|a| a.split(' ').next())
                .map(str::to_owned),
            authorization: authorization.map(str::to_owned),
        }
    }

    #[test]
    fn debug_redacts_the_authorization_value() {
        // "mara@contoso.com:Mara-Pa55"
        let entry = request(Some("Basic bWFyYUBjb250b3NvLmNvbTpNYXJhLVBhNTU="));
        let text = format!("{entry:?}");
        assert!(!text.contains("bWFyYU"), "{text}");
        assert!(text.contains("<redacted>"));
        assert_eq!(entry.basic_user().as_deref(), Some("mara@contoso.com"));
        assert!(request(Some("Bearer abc")).basic_user().is_none());
        assert!(request(Some("Basic !!!")).basic_user().is_none());
    }

    #[test]
    fn the_log_drops_the_oldest_entry_when_full() {
        let state = State::default();
        for i in 0..=LOG_CAPACITY {
            let mut entry = request(None);
            entry.query = Some(i.to_string());
            state.record(entry);
        }
        let log = state.log();
        assert_eq!(log.len(), LOG_CAPACITY);
        assert_eq!(log[0].query.as_deref(), Some("1"));
        state.clear_log();
        assert!(state.log().is_empty());
    }

    #[test]
    fn overrides_are_keyed_by_lower_case_host() {
        let state = State::default();
        let script = Script {
            behaviour: HostBehaviour::HttpError(503),
            delay: Duration::ZERO,
        };
        state.set_override("AutoDiscover.Contoso.com.", Some(script.clone()));
        assert_eq!(state.override_for("autodiscover.contoso.com"), Some(script));
        state.set_override("autodiscover.contoso.com", None);
        assert_eq!(state.override_for("autodiscover.contoso.com"), None);
    }
}
