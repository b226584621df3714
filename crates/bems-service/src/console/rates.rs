//! Events and pushes per minute for the status page: the node's counters, sampled every
//! [`EVERY`] by a task that ends with the console.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// How often the counters are sampled.
const EVERY: Duration = Duration::from_secs(5);

/// The window the rates are taken over.
const WINDOW: Duration = Duration::from_secs(60);

/// One look at the counters.
#[derive(Debug, Clone)]
struct Sample {
    at: Instant,
    events: u64,
    pushes: u64,
    /// Per tenant: (events, pushes).
    tenants: BTreeMap<String, (u64, u64)>,
}

/// Rates over the last minute (or as much of it as has been sampled).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct PerMinute {
    pub(crate) events: f64,
    pub(crate) pushes: f64,
    /// The seconds the rates are taken over.
    pub(crate) over_seconds: u64,
}

#[derive(Debug)]
pub(crate) struct Rates {
    metrics: Arc<Metrics>,
    samples: Mutex<VecDeque<Sample>>,
}

impl Rates {
    /// Rates of `metrics`, sampled from now on while the returned value lives.
    pub(crate) fn start(metrics: Arc<Metrics>) -> Arc<Self> {
        let rates = Arc::new(Self {
            metrics,
            samples: Mutex::default(),
        });
        rates.sample();
        let weak: Weak<Self> = Arc::downgrade(&rates);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let mut ticker = tokio::time::interval(EVERY);
                ticker.tick().await;
                loop {
                    ticker.tick().await;
                    let Some(rates) = weak.upgrade() else { return };
                    rates.sample();
                }
            });
        }
        rates
    }

    fn sample(&self) {
        let now = self.now_sample();
        let at = now.at;
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(now);
        while samples
            .front()
            .is_some_and(|s| at.duration_since(s.at) > WINDOW + EVERY)
        {
            samples.pop_front();
        }
    }

    fn now_sample(&self) -> Sample {
        let mut tenants: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (tenant, n) in self.metrics.events_by_tenant() {
            tenants.entry(tenant).or_default().0 += n;
        }
        for ((tenant, _), n) in self.metrics.pushes_by_tenant() {
            tenants.entry(tenant).or_default().1 += n;
        }
        Sample {
            at: Instant::now(),
            events: self.metrics.events_total(),
            pushes: self.metrics.pushes_by_outcome().values().sum(),
            tenants,
        }
    }

    /// Events and pushes per minute, from the oldest sample of the window to now: the node's,
    /// and each tenant's.
    pub(crate) fn per_minute(&self) -> (PerMinute, BTreeMap<String, PerMinute>) {
        let now = self.now_sample();
        let oldest = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|s| now.at.duration_since(s.at) <= WINDOW)
            .cloned()
            .unwrap_or_else(|| now.clone());
        let seconds = now.at.duration_since(oldest.at).as_secs_f64();
        let node = per_minute(
            seconds,
            (oldest.events, oldest.pushes),
            (now.events, now.pushes),
        );
        let tenants = now
            .tenants
            .iter()
            .map(|(tenant, counts)| {
                let before = oldest.tenants.get(tenant).copied().unwrap_or_default();
                (tenant.clone(), per_minute(seconds, before, *counts))
            })
            .collect();
        (node, tenants)
    }
}

/// (events, pushes) counted from `from` to `to` over `seconds`, per minute.
fn per_minute(seconds: f64, from: (u64, u64), to: (u64, u64)) -> PerMinute {
    let rate = |a: u64, b: u64| {
        if seconds < 1.0 {
            0.0
        } else {
            b.saturating_sub(a) as f64 * 60.0 / seconds
        }
    };
    PerMinute {
        events: rate(from.0, to.0),
        pushes: rate(from.1, to.1),
        over_seconds: seconds.round() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_counts_per_minute_over_the_time_sampled() {
        assert_eq!(
            per_minute(30.0, (100, 40), (160, 70)),
            PerMinute {
                events: 120.0,
                pushes: 60.0,
                over_seconds: 30
            }
        );
        assert_eq!(
            per_minute(0.0, (1, 1), (9, 9)).events,
            0.0,
            "no time, no rate"
        );
    }
}
