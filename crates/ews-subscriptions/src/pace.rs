//! Pacing: the `Subscribe` rate limit, jittered backoff, and duplicate removal.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Duration;

use ews_proto::{ChangedObject, Event};
use rand::Rng as _;
use tokio::time::Instant;

/// A rate limit with a small burst (generic cell rate algorithm): each `acquire` is
/// scheduled `1/rate` after the previous one, and callers wait for their slot.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: Duration,
    next: Mutex<Instant>,
}

impl RateLimiter {
    /// `per_second` acquisitions a second, up to a second's worth (at least 1) at once.
    pub(crate) fn new(per_second: f64) -> Self {
        let interval = Duration::from_secs_f64(1.0 / per_second);
        Self {
            interval,
            burst: Duration::from_secs(1).max(interval),
            next: Mutex::new(Instant::now()),
        }
    }

    /// Waits for the next slot.
    pub(crate) async fn acquire(&self) {
        let allowed_at = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let due = (*next).max(now);
            *next = due + self.interval;
            // Up to a burst's worth of slots may be taken ahead of time.
            let ahead = self.burst.saturating_sub(self.interval);
            due.checked_sub(ahead).unwrap_or(now)
        };
        if allowed_at > Instant::now() {
            tokio::time::sleep_until(allowed_at).await;
        }
    }
}

/// The wait before retry number `attempt` (0-based): `initial × 2^attempt`, at most `max`,
/// drawn uniformly from its upper half so that many clients do not retry in step.
pub(crate) fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let full = initial
        .saturating_mul(2u32.saturating_pow(attempt.min(30)))
        .min(max);
    let half = full / 2;
    let jitter = rand::rng().random_range(0..=half.as_millis().min(u128::from(u64::MAX)) as u64);
    half + Duration::from_millis(jitter)
}

/// The most recent events of one mailbox, to drop what a replay delivers twice.
///
/// An event with a watermark is the same event when its watermark is (a watermark is one
/// position in the mailbox's event table). Without one (streaming), it is the same event when
/// its kind, object (with its change key), parent folder, time stamp and unread count are:
/// time stamps have one-second precision, so two changes of one folder in the same second
/// differ by their unread count. Events without a time stamp (heartbeats) are never
/// duplicates.
#[derive(Debug, Default)]
pub(crate) struct Dedupe {
    keys: VecDeque<u64>,
}

impl Dedupe {
    /// Whether `event` was seen among the last `window` events; remembers it if not.
    pub(crate) fn is_duplicate(&mut self, event: &Event, window: usize) -> bool {
        let Some(timestamp) = &event.timestamp else {
            return false;
        };
        let mut hasher = std::hash::DefaultHasher::new();
        if let Some(watermark) = &event.watermark {
            watermark.as_str().hash(&mut hasher);
        } else {
            event.kind.as_str().hash(&mut hasher);
            match &event.object {
                Some(ChangedObject::Item(id)) => (&id.id, &id.change_key).hash(&mut hasher),
                Some(ChangedObject::Folder(id)) => (&id.id, &id.change_key).hash(&mut hasher),
                _ => {}
            }
            event
                .parent_folder_id
                .as_ref()
                .map(|f| &f.id)
                .hash(&mut hasher);
            timestamp.hash(&mut hasher);
            event.unread_count.hash(&mut hasher);
        }
        let key = hasher.finish();
        if self.keys.contains(&key) {
            return true;
        }
        if window == 0 {
            return false;
        }
        if self.keys.len() >= window {
            self.keys.pop_front();
        }
        self.keys.push_back(key);
        false
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::{EventType, FolderId, ItemId, Watermark};

    use super::*;

    fn mail(id: &str, at: &str) -> Event {
        let mut event = Event::new(EventType::NewMail);
        event.object = Some(ChangedObject::Item(ItemId::new(id)));
        event.timestamp = Some(at.to_owned());
        event
    }

    #[test]
    fn the_same_event_twice_is_a_duplicate_and_others_are_not() {
        let mut seen = Dedupe::default();
        assert!(!seen.is_duplicate(&mail("A", "2026-11-29T10:00:00Z"), 4));
        assert!(seen.is_duplicate(&mail("A", "2026-11-29T10:00:00Z"), 4));
        // Same item, later change; another item at the same time; another kind.
        assert!(!seen.is_duplicate(&mail("A", "2026-11-29T10:00:01Z"), 4));
        assert!(!seen.is_duplicate(&mail("B", "2026-11-29T10:00:00Z"), 4));
        let mut created = mail("A", "2026-11-29T10:00:00Z");
        created.kind = EventType::Created;
        assert!(!seen.is_duplicate(&created, 4));
        // Heartbeats are never duplicates.
        assert!(!seen.is_duplicate(&Event::status(None), 4));
        assert!(!seen.is_duplicate(&Event::status(None), 4));
    }

    #[test]
    fn folder_changes_in_the_same_second_differ_by_their_unread_count() {
        let mut seen = Dedupe::default();
        let modified = |unread| {
            let mut event = Event::new(EventType::Modified);
            event.object = Some(ChangedObject::Folder(FolderId::new("inbox")));
            event.timestamp = Some("2026-11-29T10:00:00Z".into());
            event.unread_count = Some(unread);
            event
        };
        assert!(!seen.is_duplicate(&modified(1), 8));
        assert!(!seen.is_duplicate(&modified(2), 8));
        assert!(seen.is_duplicate(&modified(2), 8));
    }

    #[test]
    fn a_watermark_names_an_event() {
        let mut seen = Dedupe::default();
        let mut first = mail("A", "t");
        first.watermark = Some(Watermark::new("w1"));
        let mut second = mail("A", "t");
        second.watermark = Some(Watermark::new("w2"));
        assert!(!seen.is_duplicate(&first, 8));
        assert!(
            !seen.is_duplicate(&second, 8),
            "same fields, another position"
        );
        assert!(seen.is_duplicate(&first.clone(), 8), "replayed");
    }

    #[test]
    fn the_window_forgets_the_oldest() {
        let mut seen = Dedupe::default();
        for n in 0..3 {
            assert!(!seen.is_duplicate(&mail(&n.to_string(), "t"), 2));
        }
        assert!(!seen.is_duplicate(&mail("0", "t"), 2), "0 was forgotten");
        assert!(seen.is_duplicate(&mail("2", "t"), 2));
    }

    #[test]
    fn backoff_doubles_within_its_bounds() {
        let (initial, max) = (Duration::from_secs(1), Duration::from_secs(60));
        for attempt in 0..12 {
            let full = (initial * 2u32.pow(attempt)).min(max);
            let wait = backoff(attempt, initial, max);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_spaces_acquisitions_after_the_burst() {
        let limiter = RateLimiter::new(10.0);
        let start = Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        // A second's burst (10) goes at once; the other 20 at 10 a second.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(1_900) && elapsed <= Duration::from_millis(2_100),
            "{elapsed:?}"
        );
    }
}
