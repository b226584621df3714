//! Push notifications that arrive before their subscription's `Subscribe` answer has been
//! read: Exchange may call a new push subscription back at once. Asking it to call again
//! (HTTP 503) would delay their mail by Exchange's first retry, 30 s later; they are answered
//! `OK`, kept here (the subscription id is in each), and applied in order once the
//! subscription is known.
//!
//! | bound | value | when it is reached |
//! |---|---|---|
//! | notifications kept, all subscriptions together | [`MAX_HELD`] | the next is answered 503, and Exchange calls again |
//! | how long one subscription's are kept | [`HOLD_FOR`] | they are dropped: a subscription whose answer never came is made again from the last watermark, which replays them |

use std::collections::HashMap;
use std::time::Duration;

use ews_proto::Notification;
use tokio::time::Instant;

/// Notifications kept at most.
pub(crate) const MAX_HELD: usize = 1024;

/// How long a subscription's notifications are kept before its id is known.
pub(crate) const HOLD_FOR: Duration = Duration::from_secs(120);

/// Notifications by subscription id, with when the first arrived.
#[derive(Debug, Default)]
pub(crate) struct Early {
    held: HashMap<String, (Instant, Vec<Notification>)>,
    count: usize,
}

impl Early {
    /// Keeps `notification` until its subscription is known; false when the place is full.
    pub(crate) fn hold(&mut self, notification: Notification, now: Instant) -> bool {
        self.expire(now);
        if self.count >= MAX_HELD {
            return false;
        }
        let id = notification.subscription_id.as_str().to_owned();
        self.held
            .entry(id)
            .or_insert_with(|| (now, Vec::new()))
            .1
            .push(notification);
        self.count += 1;
        true
    }

    /// What is kept for subscription `id`, in the order it arrived.
    pub(crate) fn take(&mut self, id: &str) -> Vec<Notification> {
        let taken = self
            .held
            .remove(id)
            .map(|(_, held)| held)
            .unwrap_or_default();
        self.count -= taken.len();
        taken
    }

    fn expire(&mut self, now: Instant) {
        let mut dropped = 0;
        self.held.retain(|_, (first, held)| {
            let keep = now.saturating_duration_since(*first) < HOLD_FOR;
            if !keep {
                dropped += held.len();
            }
            keep
        });
        self.count -= dropped;
    }
}

#[cfg(test)]
mod tests {
    use ews_proto::SubscriptionId;

    use super::*;

    fn notification(id: &str) -> Notification {
        Notification::new(SubscriptionId::new(id))
    }

    #[test]
    fn notifications_are_kept_in_order_per_subscription_and_bounded() {
        let mut early = Early::default();
        let now = Instant::now();
        assert!(early.hold(notification("a"), now));
        assert!(early.hold(notification("b"), now));
        assert!(early.hold(notification("a"), now));
        assert_eq!(early.take("a").len(), 2);
        assert!(early.take("a").is_empty());
        for _ in 1..MAX_HELD {
            assert!(early.hold(notification("c"), now));
        }
        assert!(!early.hold(notification("d"), now), "full");
        // Past HOLD_FOR they are dropped, and there is room again.
        assert!(early.hold(notification("d"), now + HOLD_FOR));
        assert_eq!(early.take("b").len(), 0);
        assert_eq!(early.take("d").len(), 1);
    }
}
