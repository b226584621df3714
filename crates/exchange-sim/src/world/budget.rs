//! Exchange's throttling budgets: concurrent requests and hanging connections per account.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::scenario::Budgets;

/// Counters per budget key; a permit gives its slot back when dropped.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    counts: Mutex<HashMap<String, usize>>,
}

/// A slot held in a budget.
#[derive(Debug)]
pub(crate) struct Permit {
    counters: Arc<Counters>,
    key: String,
}

impl Counters {
    /// Takes a slot under `key` if fewer than `limit` are taken.
    pub(crate) fn try_acquire(self: &Arc<Self>, key: &str, limit: usize) -> Option<Permit> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.to_owned()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Permit {
            counters: Arc::clone(self),
            key: key.to_owned(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self
            .counters
            .counts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The budgets in force and their counters.
#[derive(Debug)]
pub(crate) struct Throttle {
    pub(crate) limits: Mutex<Budgets>,
    pub(crate) concurrency: Arc<Counters>,
    pub(crate) hanging: Arc<Counters>,
}

impl Throttle {
    pub(crate) fn new(limits: Budgets) -> Self {
        Self {
            limits: Mutex::new(limits),
            concurrency: Arc::default(),
            hanging: Arc::default(),
        }
    }

    pub(crate) fn limits(&self) -> Budgets {
        self.limits
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
