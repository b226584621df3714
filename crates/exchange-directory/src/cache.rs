//! A small cache whose entries live for a fixed time, bounded by count and by total weight
//! (bytes, for photos). Time is passed in, so tests step it without waiting.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Entries kept for `ttl`; when full, expired entries go first, then the oldest.
pub(super) struct TtlCache<K, V> {
    ttl: Duration,
    max_entries: usize,
    max_weight: usize,
    weight: usize,
    entries: HashMap<K, Entry<V>>,
}

struct Entry<V> {
    value: V,
    weight: usize,
    stored: Instant,
}

impl<K: Hash + Eq + Clone, V: Clone> TtlCache<K, V> {
    /// A cache keeping entries `ttl` (none when zero), at most `max_entries` of them weighing
    /// at most `max_weight` together.
    pub(super) fn new(ttl: Duration, max_entries: usize, max_weight: usize) -> Self {
        Self {
            ttl,
            max_entries,
            max_weight,
            weight: 0,
            entries: HashMap::new(),
        }
    }

    /// The value stored for `key`, unless it expired by `now`.
    pub(super) fn get(&mut self, key: &K, now: Instant) -> Option<V> {
        let entry = self.entries.get(key)?;
        if now.saturating_duration_since(entry.stored) < self.ttl {
            return Some(entry.value.clone());
        }
        self.remove(key);
        None
    }

    /// Keeps `value` for `key` from `now`; nothing is kept when the TTL is zero or the value
    /// alone weighs more than the cache may hold.
    pub(super) fn insert(&mut self, key: K, value: V, weight: usize, now: Instant) {
        if self.ttl.is_zero() || weight > self.max_weight || self.max_entries == 0 {
            return;
        }
        self.remove(&key);
        if self.entries.len() >= self.max_entries || self.weight + weight > self.max_weight {
            let ttl = self.ttl;
            self.entries
                .retain(|_, e| now.saturating_duration_since(e.stored) < ttl);
            self.weight = self.entries.values().map(|e| e.weight).sum();
        }
        while self.entries.len() >= self.max_entries || self.weight + weight > self.max_weight {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.stored)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.weight += weight;
        self.entries.insert(
            key,
            Entry {
                value,
                weight,
                stored: now,
            },
        );
    }

    fn remove(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.weight -= entry.weight;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn entries_expire_after_the_ttl() {
        let start = Instant::now();
        let mut cache = TtlCache::new(MINUTE, 10, 100);
        cache.insert("a", 1, 1, start);
        assert_eq!(cache.get(&"a", start + MINUTE / 2), Some(1));
        assert_eq!(cache.get(&"a", start + MINUTE), None);
        assert_eq!(cache.len(), 0, "an expired entry is dropped when met");
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let mut cache = TtlCache::new(Duration::ZERO, 10, 100);
        let now = Instant::now();
        cache.insert("a", 1, 1, now);
        assert_eq!(cache.get(&"a", now), None);
    }

    #[test]
    fn the_oldest_goes_when_the_count_is_reached() {
        let start = Instant::now();
        let mut cache = TtlCache::new(MINUTE, 2, 100);
        cache.insert("a", 1, 1, start);
        cache.insert("b", 2, 1, start + Duration::from_secs(1));
        cache.insert("c", 3, 1, start + Duration::from_secs(2));
        let now = start + Duration::from_secs(3);
        assert_eq!(cache.get(&"a", now), None);
        assert_eq!(cache.get(&"b", now), Some(2));
        assert_eq!(cache.get(&"c", now), Some(3));
    }

    #[test]
    fn weight_is_bounded_and_replacing_an_entry_frees_its_weight() {
        let start = Instant::now();
        let mut cache = TtlCache::new(MINUTE, 10, 100);
        cache.insert("a", 1, 60, start);
        cache.insert("a", 2, 60, start);
        assert_eq!(cache.get(&"a", start), Some(2));
        cache.insert("b", 3, 50, start + Duration::from_secs(1));
        assert_eq!(cache.get(&"a", start), None, "a made room for b");
        assert_eq!(cache.get(&"b", start), Some(3));
        cache.insert("huge", 4, 101, start);
        assert_eq!(
            cache.get(&"huge", start),
            None,
            "heavier than the whole cache"
        );
        assert_eq!(cache.get(&"b", start), Some(3), "and it evicted nothing");
    }
}
