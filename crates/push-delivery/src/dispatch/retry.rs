//! When to try again: exponential backoff with jitter, `Retry-After` honoured, bounded in
//! count and time.

use std::time::Duration;

use rand::Rng as _;

/// How a [`Dispatcher`](crate::Dispatcher) retries a push whose outcome was
/// [`Outcome::Retry`](crate::Outcome::Retry). Permanent outcomes are never retried.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// At most this many attempts per push, the first included (default 10).
    pub max_attempts: u32,
    /// A push is given up once this much time has passed since it was submitted, or when the
    /// next wait would pass it (default 1 h).
    pub max_elapsed: Duration,
    /// The first backoff (default 1 s); each later one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// The longest backoff (default 5 min).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(3600),
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1-based).
    ///
    /// With a `Retry-After`, that long plus up to a tenth more (at most 1 s) so that many
    /// pushes told the same thing do not return at the same instant; otherwise "equal
    /// jitter": half the exponential delay plus a random part of the other half.
    pub(crate) fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let mut rng = rand::rng();
        if let Some(after) = retry_after {
            let spread = (after / 10).min(Duration::from_secs(1));
            return after + spread.mul_f64(rng.random::<f64>());
        }
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self
            .base_delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        let half = full / 2;
        half + (full - half).mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_with_jitter_and_a_cap() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..100 {
            let first = policy.delay(1, None);
            assert!((Duration::from_millis(50)..=Duration::from_millis(100)).contains(&first));
            let third = policy.delay(3, None);
            assert!((Duration::from_millis(200)..=Duration::from_millis(400)).contains(&third));
            let late = policy.delay(40, None);
            assert!((Duration::from_millis(500)..=Duration::from_secs(1)).contains(&late));
        }
        // Jitter: not every delay is the same.
        let delays: std::collections::HashSet<_> = (0..20).map(|_| policy.delay(2, None)).collect();
        assert!(delays.len() > 1);
    }

    #[test]
    fn retry_after_is_a_floor() {
        let policy = RetryPolicy::default();
        for _ in 0..100 {
            let d = policy.delay(1, Some(Duration::from_secs(2)));
            assert!((Duration::from_secs(2)..=Duration::from_millis(2200)).contains(&d));
            let long = policy.delay(1, Some(Duration::from_secs(120)));
            assert!((Duration::from_secs(120)..=Duration::from_secs(121)).contains(&long));
        }
    }
}
