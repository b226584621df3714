//! A circuit breaker per provider: after `failure_threshold` provider failures in a row (no
//! answer, a 5xx), pushes wait instead of being sent; after a cooldown one probe goes; if it
//! gets an answer the breaker closes and everyone goes, else the cooldown doubles.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// When the breaker opens and how long it stays open.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerConfig {
    /// Provider failures in a row that open the breaker (default 5).
    pub failure_threshold: u32,
    /// The first wait before a probe (default 1 s); doubles after each failed probe.
    pub cooldown: Duration,
    /// The longest wait before a probe (default 60 s).
    pub max_cooldown: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cooldown: Duration::from_secs(1),
            max_cooldown: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant, cooldown: Duration },
    HalfOpen { cooldown: Duration, probing: bool },
}

/// The breaker.
#[derive(Debug)]
pub(crate) struct Breaker {
    config: BreakerConfig,
    state: Mutex<State>,
    closed: Notify,
    pub(crate) opened: AtomicU64,
}

/// Whether an admitted attempt is the probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Admission {
    pub(crate) probe: bool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: Mutex::new(State::Closed { failures: 0 }),
            closed: Notify::new(),
            opened: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the breaker holds pushes back now.
    pub(crate) fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }

    /// Waits until an attempt may go.
    pub(crate) async fn admit(&self) -> Admission {
        loop {
            let closed = self.closed.notified();
            tokio::pin!(closed);
            closed.as_mut().enable();
            let wake_at = {
                let mut state = self.lock();
                let now = Instant::now();
                match *state {
                    State::Closed { .. } => return Admission { probe: false },
                    State::Open { until, cooldown } if now >= until => {
                        *state = State::HalfOpen {
                            cooldown,
                            probing: true,
                        };
                        return Admission { probe: true };
                    }
                    State::HalfOpen {
                        cooldown,
                        probing: false,
                    } => {
                        *state = State::HalfOpen {
                            cooldown,
                            probing: true,
                        };
                        return Admission { probe: true };
                    }
                    State::Open { until, .. } => until,
                    // A probe is out: wait for its answer, looking again now and then.
                    State::HalfOpen { cooldown, .. } => now + cooldown,
                }
            };
            tokio::select! {
                () = &mut closed => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    /// Records the result of an admitted attempt: `failure` when the provider itself failed.
    pub(crate) fn record(&self, admission: Admission, failure: bool) {
        let mut state = self.lock();
        match *state {
            State::Closed { failures } if failure => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold {
                    self.open(&mut state, self.config.cooldown);
                } else {
                    *state = State::Closed { failures };
                }
            }
            State::Closed { .. } => *state = State::Closed { failures: 0 },
            State::HalfOpen { cooldown, .. } if admission.probe => {
                if failure {
                    let longer = cooldown.saturating_mul(2).min(self.config.max_cooldown);
                    self.open(&mut state, longer);
                } else {
                    tracing::info!("push provider answers again; breaker closed");
                    *state = State::Closed { failures: 0 };
                    self.closed.notify_waiters();
                }
            }
            // Attempts that were already in flight when the breaker opened.
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn open(&self, state: &mut State, cooldown: Duration) {
        if matches!(*state, State::Closed { .. }) {
            self.opened.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                cooldown_ms = cooldown.as_millis() as u64,
                "push provider failing; breaker open"
            );
        }
        *state = State::Open {
            until: Instant::now() + cooldown,
            cooldown,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BreakerConfig {
        BreakerConfig {
            failure_threshold: 3,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(40),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_probes_and_closes() {
        let breaker = Breaker::new(config());
        let go = breaker.admit().await;
        assert!(!go.probe);
        breaker.record(go, true);
        breaker.record(go, false); // an answer resets the count
        for _ in 0..3 {
            breaker.record(go, true);
        }
        assert!(breaker.is_open());
        assert_eq!(breaker.opened.load(Ordering::Relaxed), 1);

        let started = Instant::now();
        let probe = breaker.admit().await;
        assert!(probe.probe);
        assert!(started.elapsed() >= Duration::from_secs(10));

        // While the probe is out, others wait; a failed probe doubles the cooldown.
        breaker.record(probe, true);
        let started = Instant::now();
        let probe = breaker.admit().await;
        assert!(probe.probe);
        assert!(started.elapsed() >= Duration::from_secs(20));

        let breaker = std::sync::Arc::new(breaker);
        let waiter = {
            let breaker = breaker.clone();
            tokio::spawn(async move { breaker.admit().await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished());
        breaker.record(probe, false);
        let admitted = waiter.await.unwrap();
        assert!(!admitted.probe);
        assert!(!breaker.is_open());
        assert_eq!(breaker.opened.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn cooldown_is_capped() {
        let breaker = Breaker::new(config());
        let go = breaker.admit().await;
        for _ in 0..3 {
            breaker.record(go, true);
        }
        for _ in 0..5 {
            let probe = breaker.admit().await;
            breaker.record(probe, true);
        }
        let started = Instant::now();
        breaker.admit().await;
        assert!(started.elapsed() <= Duration::from_secs(41));
    }
}
