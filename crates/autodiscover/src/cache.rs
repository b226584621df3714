//! Remembered answers: each mailbox's discovery (success, 1 hour by default), the endpoint
//! that answered for a domain (asked first for the domain's other mailboxes), and failures per
//! domain (5 minutes), so a broken domain is not hammered.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::Discovery;
use crate::trace::Method;

/// The cache.
#[derive(Debug, Default)]
pub(crate) struct Cache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    mailboxes: HashMap<String, (Instant, Discovery)>,
    endpoints: HashMap<String, (Instant, Method, Url)>,
    failures: HashMap<String, (Instant, String)>,
}

impl Cache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mailbox's discovery, if remembered and younger than `ttl`.
    pub(crate) fn mailbox(&self, address: &str, ttl: Duration) -> Option<Discovery> {
        let key = address.to_ascii_lowercase();
        let inner = self.lock();
        let (at, discovery) = inner.mailboxes.get(&key)?;
        (at.elapsed() < ttl).then(|| discovery.clone())
    }

    /// The endpoint that last answered for `domain`, if younger than `ttl`.
    pub(crate) fn endpoint(&self, domain: &str, ttl: Duration) -> Option<(Method, Url)> {
        let inner = self.lock();
        let (at, method, url) = inner.endpoints.get(domain)?;
        (at.elapsed() < ttl).then(|| (*method, url.clone()))
    }

    /// The last failure for `domain`, if younger than `ttl`.
    pub(crate) fn failure(&self, domain: &str, ttl: Duration) -> Option<String> {
        let inner = self.lock();
        let (at, text) = inner.failures.get(domain)?;
        (at.elapsed() < ttl).then(|| text.clone())
    }

    pub(crate) fn store(&self, domain: &str, discovery: &Discovery) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.failures.remove(domain);
        inner.endpoints.insert(
            domain.to_owned(),
            (now, discovery.method, discovery.source.clone()),
        );
        inner.mailboxes.insert(
            discovery.email.to_ascii_lowercase(),
            (now, discovery.clone()),
        );
    }

    pub(crate) fn store_failure(&self, domain: &str, error: String) {
        self.lock()
            .failures
            .insert(domain.to_owned(), (Instant::now(), error));
    }

    /// Forgets a mailbox and its domain's endpoint and failure.
    pub(crate) fn invalidate(&self, address: &str, domain: &str) {
        let mut inner = self.lock();
        inner.mailboxes.remove(&address.to_ascii_lowercase());
        inner.endpoints.remove(domain);
        inner.failures.remove(domain);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        *self.lock() = Inner::default();
    }
}
