//! Fault injection: what the next requests suffer.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Faults waiting to happen.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    /// The next N EWS requests get `ErrorServerBusy`.
    busy: AtomicU64,
    /// The next N EWS requests have their connection dropped without an answer.
    drop: AtomicU64,
    /// The next N EWS responses are malformed.
    malformed: AtomicU64,
    /// Delay before every EWS answer, in milliseconds.
    slow_ms: AtomicU64,
    /// The next N requests that carry an affinity cookie are routed as if they did not.
    ignore_affinity: AtomicU64,
    /// Cancelled to cut every open streaming connection at once.
    streams: Mutex<CancellationToken>,
    /// The next N push notifications with events are lost on the way.
    lose_push: AtomicU64,
    /// Delay of each `Subscribe` answer after the subscription is made, in milliseconds.
    subscribe_answer_ms: AtomicU64,
    /// Delay before every item read (EWS `GetItem`, Graph's message GET), in milliseconds.
    item_read_ms: AtomicU64,
    /// The next N item reads fail (EWS `ErrorServerBusy`, Graph 503).
    fail_item_reads: AtomicU64,
}

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Busy,
    Drop,
    Malformed,
}

impl Faults {
    pub(crate) fn busy(&self, n: u64) {
        self.busy.store(n, Ordering::SeqCst);
    }

    pub(crate) fn drop_connections(&self, n: u64) {
        self.drop.store(n, Ordering::SeqCst);
    }

    pub(crate) fn malformed(&self, n: u64) {
        self.malformed.store(n, Ordering::SeqCst);
    }

    pub(crate) fn lose_push(&self, n: u64) {
        self.lose_push.store(n, Ordering::SeqCst);
    }

    /// Whether this push notification is lost on the way (counts down once).
    pub(crate) fn take_lose_push(&self) -> bool {
        take(&self.lose_push)
    }

    pub(crate) fn ignore_affinity(&self, n: u64) {
        self.ignore_affinity.store(n, Ordering::SeqCst);
    }

    /// Whether this request's affinity cookie is to be ignored (counts down once).
    pub(crate) fn take_ignore_affinity(&self) -> bool {
        take(&self.ignore_affinity)
    }

    pub(crate) fn slow(&self, delay: Duration) {
        self.slow_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    pub(crate) fn slow_subscribe_answers(&self, delay: Duration) {
        self.subscribe_answer_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    pub(crate) fn subscribe_answer_delay(&self) -> Duration {
        Duration::from_millis(self.subscribe_answer_ms.load(Ordering::SeqCst))
    }

    /// Every item read (EWS `GetItem`, Graph's message GET) waits `delay` (zero: none).
    pub(crate) fn slow_item_reads(&self, delay: Duration) {
        self.item_read_ms.store(
            u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    pub(crate) fn item_read_delay(&self) -> Duration {
        Duration::from_millis(self.item_read_ms.load(Ordering::SeqCst))
    }

    /// The next `n` item reads fail.
    pub(crate) fn fail_item_reads(&self, n: u64) {
        self.fail_item_reads.store(n, Ordering::SeqCst);
    }

    /// Whether this item read fails (counts down once).
    pub(crate) fn take_fail_item_read(&self) -> bool {
        take(&self.fail_item_reads)
    }

    pub(crate) fn delay(&self) -> Duration {
        Duration::from_millis(self.slow_ms.load(Ordering::SeqCst))
    }

    /// Cuts every open streaming connection.
    pub(crate) fn cut_streams(&self) {
        let mut token = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        token.cancel();
        *token = CancellationToken::new();
    }

    pub(crate) fn streams(&self) -> CancellationToken {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The fault the next request suffers, if any (each counts down once).
    pub(crate) fn next(&self) -> Option<Fault> {
        for (counter, fault) in [
            (&self.drop, Fault::Drop),
            (&self.busy, Fault::Busy),
            (&self.malformed, Fault::Malformed),
        ] {
            if take(counter) {
                return Some(fault);
            }
        }
        None
    }
}

fn take(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_read_faults_are_their_own_and_count_down() {
        let faults = Faults::default();
        faults.fail_item_reads(2);
        faults.slow_item_reads(Duration::from_millis(250));
        // The other faults are untouched.
        assert_eq!(faults.next(), None);
        assert_eq!(faults.delay(), Duration::ZERO);
        assert!(faults.take_fail_item_read());
        assert!(faults.take_fail_item_read());
        assert!(!faults.take_fail_item_read());
        assert_eq!(faults.item_read_delay(), Duration::from_millis(250));
        faults.slow_item_reads(Duration::ZERO);
        assert_eq!(faults.item_read_delay(), Duration::ZERO);
    }
}
