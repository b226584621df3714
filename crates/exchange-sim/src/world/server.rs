//! Mailbox servers and their back ends: where subscriptions live, and how requests are routed.
//!
//! A subscription lives in the memory of the one back end that created it. A request with
//! `X-PreferServerAffinity: true` and the `X-BackEndOverrideCookie` goes to the back end the
//! cookie names; one without goes to the next back end of the anchor mailbox's server in
//! turn, so it may miss the subscription and get `ErrorSubscriptionNotFound`, as on real
//! Exchange. Restarting a back end loses its subscriptions and cuts its connections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use super::subscription::Subscription;

/// One back-end process.
#[derive(Debug)]
pub(crate) struct Backend {
    /// Its host name, as in the cookie (`MBX1-B0.contoso.com`).
    pub(crate) fqdn: String,
    /// `X-BackEndOverrideCookie` value that routes to it.
    pub(crate) cookie: String,
    subscriptions: Mutex<HashMap<String, Arc<Subscription>>>,
    /// Cancelled on restart: streaming connections and push tasks stop.
    life: Mutex<CancellationToken>,
}

impl Backend {
    fn new(fqdn: String, salt: u64) -> Self {
        let cookie = format!(
            "{fqdn}~{}",
            1_941_996_295u64.wrapping_add(salt.wrapping_mul(7919)) % 4_294_967_296
        );
        Self {
            fqdn,
            cookie,
            subscriptions: Mutex::new(HashMap::new()),
            life: Mutex::new(CancellationToken::new()),
        }
    }

    pub(crate) fn subscriptions(&self) -> MutexGuard<'_, HashMap<String, Arc<Subscription>>> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Subscription>> {
        self.subscriptions().get(id).cloned()
    }

    pub(crate) fn insert(&self, subscription: Arc<Subscription>) {
        self.subscriptions()
            .insert(subscription.id.as_str().to_owned(), subscription);
    }

    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Subscription>> {
        let removed = self.subscriptions().remove(id);
        if let Some(subscription) = &removed {
            subscription.ended.cancel();
        }
        removed
    }

    /// A token cancelled when this back end restarts.
    pub(crate) fn life(&self) -> CancellationToken {
        self.life.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loses every subscription and cuts every connection, as a crashed process would.
    pub(crate) fn restart(&self) -> usize {
        let old = std::mem::take(&mut *self.subscriptions());
        for subscription in old.values() {
            subscription.ended.cancel();
        }
        let mut life = self.life.lock().unwrap_or_else(|p| p.into_inner());
        life.cancel();
        *life = CancellationToken::new();
        old.len()
    }
}

/// A mailbox server.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) name: String,
    pub(crate) grouping_information: String,
    pub(crate) backends: Vec<Backend>,
    next: AtomicUsize,
}

impl Server {
    pub(crate) fn new(
        index: usize,
        name: &str,
        grouping: &str,
        backends: usize,
        domain: &str,
    ) -> Self {
        let grouping_information = if grouping.is_empty() {
            name.to_ascii_uppercase()
        } else {
            grouping.to_owned()
        };
        let backends = (0..backends.max(1))
            .map(|b| {
                Backend::new(
                    format!("{}-B{b}.{domain}", name.to_ascii_uppercase()),
                    (index * 64 + b) as u64,
                )
            })
            .collect();
        Self {
            name: name.to_owned(),
            grouping_information,
            backends,
            next: AtomicUsize::new(0),
        }
    }

    /// The back end a request without affinity lands on: the next one, in turn.
    pub(crate) fn next_backend(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.backends.len()
    }
}
