//! Graph's throttling of Outlook resources: at most `mailbox_concurrency` (4) requests in
//! flight per app and mailbox (more are answered 429 `ApplicationThrottled` with
//! `Retry-After`), 429s on demand, and a record of clients that come back before the
//! `Retry-After` they were given.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use super::errors::GraphError;

/// In-flight requests, forced 429s and what clients did with them.
#[derive(Debug)]
pub(crate) struct Throttle {
    limit: usize,
    retry_after: u32,
    state: Mutex<ThrottleState>,
    /// 429s answered.
    pub(crate) throttled: AtomicU64,
    /// Requests that came before the `Retry-After` given to the same app and mailbox.
    pub(crate) early_retries: AtomicU64,
    /// The most requests one app had in flight on one mailbox.
    pub(crate) max_in_flight: AtomicUsize,
    slow_ms: AtomicU64,
}

#[derive(Debug, Default)]
struct ThrottleState {
    in_flight: HashMap<(String, String), usize>,
    /// Until when each (app, mailbox) was told to wait.
    not_before: HashMap<(String, String), Instant>,
    /// The next N requests get 429 with this `Retry-After`.
    forced: u64,
    forced_retry_after: u32,
    /// Answers on these mailboxes (lowercase addresses) wait this long first.
    slow_mailboxes: HashMap<String, Duration>,
}

/// A request's place; frees it when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    throttle: &'a Throttle,
    key: Option<(String, String)>,
    delay: Duration,
}

impl Slot<'_> {
    /// How long the answer waits first ([`Throttle::slow`], [`Throttle::slow_mailbox`]).
    pub(crate) fn delay(&self) -> Duration {
        self.delay
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            let mut state = self.throttle.lock();
            if let Some(n) = state.in_flight.get_mut(&key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.in_flight.remove(&key);
                }
            }
        }
    }
}

impl Throttle {
    pub(crate) fn new(limit: usize, retry_after: u32) -> Self {
        Self {
            limit,
            retry_after,
            state: Mutex::new(ThrottleState::default()),
            throttled: AtomicU64::new(0),
            early_retries: AtomicU64::new(0),
            max_in_flight: AtomicUsize::new(0),
            slow_ms: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ThrottleState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `n` requests are answered 429 with `Retry-After: retry_after` (whole
    /// seconds, at least 1).
    pub(crate) fn force(&self, n: u64, retry_after: Duration) {
        let mut state = self.lock();
        state.forced = n;
        state.forced_retry_after = u32::try_from(retry_after.as_secs().max(1)).unwrap_or(1);
    }

    /// Every answer waits `delay` first.
    pub(crate) fn slow(&self, delay: Duration) {
        self.slow_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Answers on `mailbox` (a lowercase address) wait `delay` first (zero to stop), as when
    /// one mailbox's store is slow and the others are not.
    pub(crate) fn slow_mailbox(&self, mailbox: String, delay: Duration) {
        let mut state = self.lock();
        if delay.is_zero() {
            state.slow_mailboxes.remove(&mailbox);
        } else {
            state.slow_mailboxes.insert(mailbox, delay);
        }
    }

    /// Admits a request of `app` on `mailbox`, or answers 429.
    pub(crate) fn enter(&self, app: &str, mailbox: Option<&str>) -> Result<Slot<'_>, GraphError> {
        let now = Instant::now();
        let mut state = self.lock();
        let key = mailbox.map(|m| (app.to_owned(), m.to_owned()));
        if let Some(key) = &key
            && let Some(until) = state.not_before.get(key)
        {
            if now < *until {
                self.early_retries.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    app,
                    mailbox = key.1,
                    "Graph: a request before its Retry-After"
                );
            } else {
                state.not_before.remove(key);
            }
        }
        if state.forced > 0 {
            state.forced -= 1;
            let seconds = state.forced_retry_after;
            return Err(self.refuse(&mut state, key, seconds, "Too many requests."));
        }
        let every = Duration::from_millis(self.slow_ms.load(Ordering::Relaxed));
        let one = mailbox.and_then(|m| state.slow_mailboxes.get(m).copied());
        let delay = one.map_or(every, |one| one.max(every));
        let Some(key) = key else {
            return Ok(Slot {
                throttle: self,
                key: None,
                delay,
            });
        };
        let in_flight = state.in_flight.entry(key.clone()).or_default();
        if *in_flight >= self.limit {
            let seconds = self.retry_after;
            return Err(self.refuse(
                &mut state,
                Some(key),
                seconds,
                "Application is over its MailboxConcurrency limit.",
            ));
        }
        *in_flight += 1;
        self.max_in_flight.fetch_max(*in_flight, Ordering::Relaxed);
        Ok(Slot {
            throttle: self,
            key: Some(key),
            delay,
        })
    }

    fn refuse(
        &self,
        state: &mut ThrottleState,
        key: Option<(String, String)>,
        seconds: u32,
        message: &str,
    ) -> GraphError {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        if let Some(key) = key {
            state.not_before.insert(
                key,
                // Allow for the time the answer takes to reach the client.
                Instant::now() + Duration::from_secs(u64::from(seconds))
                    - Duration::from_millis(50),
            );
        }
        let mut error = GraphError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ApplicationThrottled",
            message,
        );
        error.retry_after = Some(seconds);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifth_concurrent_request_on_a_mailbox_is_refused_with_retry_after() {
        let throttle = Throttle::new(4, 2);
        let slots: Vec<_> = (0..4)
            .map(|_| throttle.enter("app", Some("mara")).expect("admitted"))
            .collect();
        let refused = throttle.enter("app", Some("mara")).expect_err("fifth");
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.retry_after, Some(2));
        // Another mailbox, and another app, have their own budget.
        assert!(throttle.enter("app", Some("sadie")).is_ok());
        assert!(throttle.enter("other", Some("mara")).is_ok());
        drop(slots);
        assert_eq!(throttle.max_in_flight.load(Ordering::Relaxed), 4);
        // Coming back at once is an early retry.
        let _ = throttle.enter("app", Some("mara"));
        assert_eq!(throttle.early_retries.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn forced_refusals_count_down() {
        let throttle = Throttle::new(4, 1);
        throttle.force(2, Duration::from_secs(3));
        for _ in 0..2 {
            let error = throttle.enter("app", None).expect_err("forced");
            assert_eq!(error.retry_after, Some(3));
        }
        assert!(throttle.enter("app", None).is_ok());
        assert_eq!(throttle.throttled.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn a_slow_mailbox_slows_its_own_answers_only() {
        let throttle = Throttle::new(4, 1);
        let delay = |mailbox| throttle.enter("app", mailbox).expect("admitted").delay();
        let second = Duration::from_secs(1);
        throttle.slow_mailbox("mara".into(), second);
        assert_eq!(delay(Some("mara")), second);
        assert_eq!(delay(Some("sadie")), Duration::ZERO);
        assert_eq!(delay(None), Duration::ZERO);
        // The slower of the two applies.
        throttle.slow(2 * second);
        assert_eq!(delay(Some("mara")), 2 * second);
        throttle.slow(Duration::ZERO);
        throttle.slow_mailbox("mara".into(), Duration::ZERO);
        assert_eq!(delay(Some("mara")), Duration::ZERO);
    }
}
