//! Remembered answers: each mailbox's discovery (success, 1 hour by default), the endpoint
//! that answered for a domain (asked first for the domain's other mailboxes), and failures per
//! domain (5 minutes), so a broken domain is not hammered.
//!
//! The cache is bounded: a discovery is kept without its trace (a cached answer asked nobody,
//! so its trace is empty), answers past their lifetime are swept as the cache grows, and past
//! [`CacheSettings::max_mailboxes`] the oldest half is forgotten. Either way the work is
//! amortised: a sweep runs only after the cache has doubled since the last one.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use url::Url;

use crate::Discovery;
use crate::settings::CacheSettings;
use crate::trace::Method;

/// Mailboxes held before the first sweep.
const FIRST_SWEEP: usize = 1024;

/// The cache.
#[derive(Debug)]
pub(crate) struct Cache {
    settings: CacheSettings,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    mailboxes: HashMap<String, (Instant, Discovery)>,
    endpoints: HashMap<String, (Instant, Method, Url)>,
    failures: HashMap<String, (Instant, String)>,
    /// The number of mailboxes at which the next sweep runs.
    next_sweep: usize,
}

impl Cache {
    pub(crate) fn new(settings: CacheSettings) -> Self {
        Self {
            settings,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A mailbox's discovery, if remembered and still fresh.
    pub(crate) fn mailbox(&self, address: &str) -> Option<Discovery> {
        let key = address.to_ascii_lowercase();
        let inner = self.lock();
        let (at, discovery) = inner.mailboxes.get(&key)?;
        (at.elapsed() < self.settings.success_ttl).then(|| discovery.clone())
    }

    /// The endpoint that last answered for `domain`, if still fresh.
    pub(crate) fn endpoint(&self, domain: &str) -> Option<(Method, Url)> {
        let inner = self.lock();
        let (at, method, url) = inner.endpoints.get(domain)?;
        (at.elapsed() < self.settings.success_ttl).then(|| (*method, url.clone()))
    }

    /// The last failure for `domain`, if still fresh.
    pub(crate) fn failure(&self, domain: &str) -> Option<String> {
        let inner = self.lock();
        let (at, text) = inner.failures.get(domain)?;
        (at.elapsed() < self.settings.failure_ttl).then(|| text.clone())
    }

    pub(crate) fn store(&self, domain: &str, discovery: &Discovery) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.failures.remove(domain);
        inner.endpoints.insert(
            domain.to_owned(),
            (now, discovery.method, discovery.source.clone()),
        );
        if self.settings.max_mailboxes == 0 {
            return;
        }
        let kept = Discovery {
            trace: Vec::new(),
            ..discovery.clone()
        };
        inner
            .mailboxes
            .insert(discovery.email.to_ascii_lowercase(), (now, kept));
        if inner.mailboxes.len() >= inner.next_sweep.max(self.first_sweep()) {
            self.sweep(&mut inner, now);
        }
    }

    /// Forgets what is past its lifetime, then, while more than the bound is left, the
    /// oldest half; the next sweep waits until the cache has doubled.
    fn sweep(&self, inner: &mut Inner, now: Instant) {
        let (success, failure) = (self.settings.success_ttl, self.settings.failure_ttl);
        let fresh = |at: &Instant, ttl: Duration| now.saturating_duration_since(*at) < ttl;
        inner.mailboxes.retain(|_, (at, _)| fresh(at, success));
        inner.endpoints.retain(|_, (at, _, _)| fresh(at, success));
        inner.failures.retain(|_, (at, _)| fresh(at, failure));
        let bound = self.settings.max_mailboxes;
        if inner.mailboxes.len() > bound {
            let mut ages: Vec<Instant> = inner.mailboxes.values().map(|(at, _)| *at).collect();
            let keep = bound / 2;
            if keep == 0 {
                inner.mailboxes.clear();
            } else {
                // The `keep` newest stay: those stored at or after the cut's time.
                let cut = ages.len() - keep;
                let oldest_kept = *ages.select_nth_unstable(cut).1;
                inner.mailboxes.retain(|_, (at, _)| *at >= oldest_kept);
            }
        }
        inner.next_sweep = (inner.mailboxes.len() * 2)
            .max(self.first_sweep())
            .min(bound.max(1));
    }

    /// The size of the first sweep: [`FIRST_SWEEP`], or the bound when it is smaller.
    fn first_sweep(&self) -> usize {
        FIRST_SWEEP.min(self.settings.max_mailboxes.max(1))
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

    /// Mailboxes remembered (fresh or not yet swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().mailboxes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery(n: usize) -> Discovery {
        let url = Url::parse("https://mail.contoso.com/EWS/Exchange.asmx").expect("url");
        let source = Url::parse("https://autodiscover.contoso.com/autodiscover").expect("url");
        let mut found = Discovery::new(format!("u{n}@contoso.com"), url, Method::Override, source);
        found.trace = vec![crate::TraceEntry::new(
            Method::Override,
            "https://autodiscover.contoso.com/autodiscover",
            format!("u{n}@contoso.com"),
            crate::trace::Outcome::Found,
            Duration::ZERO,
        )];
        found
    }

    fn cache(max_mailboxes: usize, success_ttl: Duration) -> Cache {
        Cache::new(CacheSettings {
            max_mailboxes,
            success_ttl,
            ..CacheSettings::default()
        })
    }

    #[test]
    fn an_answer_is_kept_without_its_trace() {
        let cache = cache(10, Duration::from_secs(60));
        cache.store("contoso.com", &discovery(1));
        let kept = cache.mailbox("U1@contoso.com").expect("kept");
        assert_eq!(kept.email, "u1@contoso.com");
        assert!(kept.trace.is_empty(), "{:?}", kept.trace);
    }

    #[test]
    fn past_the_bound_the_oldest_half_is_forgotten() {
        let bound = 2000;
        let cache = cache(bound, Duration::from_secs(3600));
        for n in 0..10 * bound {
            cache.store("contoso.com", &discovery(n));
            assert!(cache.len() <= bound, "{} held after {n}", cache.len());
        }
        let last = 10 * bound - 1;
        assert!(cache.mailbox(&format!("u{last}@contoso.com")).is_some());
        assert!(cache.mailbox("u0@contoso.com").is_none());
        assert!(cache.endpoint("contoso.com").is_some());
    }

    #[test]
    fn the_default_bound_holds() {
        let bound = CacheSettings::default().max_mailboxes;
        for bound in [bound, 1, 2, 3, 999] {
            let held = cache(bound, Duration::from_secs(3600));
            for n in 0..5 * FIRST_SWEEP.max(bound) {
                held.store("contoso.com", &discovery(n));
                assert!(held.len() <= bound, "{} held of {bound}", held.len());
            }
        }
    }

    #[test]
    fn answers_past_their_lifetime_are_swept() {
        let cache = cache(100_000, Duration::ZERO);
        for n in 0..5 * FIRST_SWEEP {
            cache.store("contoso.com", &discovery(n));
        }
        assert!(cache.len() <= FIRST_SWEEP, "{} held", cache.len());
        assert!(cache.mailbox("u1@contoso.com").is_none());
    }

    #[test]
    fn a_bound_of_zero_keeps_no_mailbox() {
        let cache = cache(0, Duration::from_secs(3600));
        cache.store("contoso.com", &discovery(1));
        assert_eq!(cache.len(), 0);
        assert!(cache.endpoint("contoso.com").is_some());
    }
}
