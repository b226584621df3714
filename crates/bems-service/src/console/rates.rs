//! Events and pushes per minute for the status page: the node's counters, sampled every
//! [`EVERY`] by a task that ends with the console.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

/// How often the counters are sampled.
const EVERY: Duration = Duration::from_secs(5);

/// The window the rates are taken over.
const WINDOW: Duration = Duration::from_secs(60);

/// One look at the counters.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    events: u64,
    pushes: u64,
}

/// Rates over the last minute (or as much of it as has been sampled).
#[derive(Debug, Clone, Copy, PartialEq)]
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
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        samples.push_back(now);
        while samples
            .front()
            .is_some_and(|s| now.at.duration_since(s.at) > WINDOW + EVERY)
        {
            samples.pop_front();
        }
    }

    fn now_sample(&self) -> Sample {
        Sample {
            at: Instant::now(),
            events: self.metrics.events_total(),
            pushes: self.metrics.pushes_by_outcome().values().sum(),
        }
    }

    /// Events and pushes per minute, from the oldest sample of the window to now.
    pub(crate) fn per_minute(&self) -> PerMinute {
        let now = self.now_sample();
        let oldest = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|s| now.at.duration_since(s.at) <= WINDOW)
            .copied()
            .unwrap_or(now);
        per_minute(oldest, now)
    }
}

fn per_minute(from: Sample, to: Sample) -> PerMinute {
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let rate = |a: u64, b: u64| {
        if seconds < 1.0 {
            0.0
        } else {
            b.saturating_sub(a) as f64 * 60.0 / seconds
        }
    };
    PerMinute {
        events: rate(from.events, to.events),
        pushes: rate(from.pushes, to.pushes),
        over_seconds: seconds.round() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_counts_per_minute_over_the_time_sampled() {
        let at = Instant::now();
        let from = Sample {
            at,
            events: 100,
            pushes: 40,
        };
        let to = Sample {
            at: at + Duration::from_secs(30),
            events: 160,
            pushes: 70,
        };
        assert_eq!(
            per_minute(from, to),
            PerMinute {
                events: 120.0,
                pushes: 60.0,
                over_seconds: 30
            }
        );
        assert_eq!(per_minute(to, to).events, 0.0, "no time, no rate");
    }
}
