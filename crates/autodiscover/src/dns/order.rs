//! RFC 2782 ordering of SRV records: a pure function with an injectable random source.
//!
//! [RFC 2782](https://www.rfc-editor.org/rfc/rfc2782) says: contact the lowest-numbered
//! priority first; within one priority, pick the next record at random with a probability
//! proportional to its weight, remove it and repeat; weight-0 records get "a very small
//! chance" when heavier ones exist; a lone record whose target is `.` means the service is
//! "decidedly not available". The anchors get this wrong (exchangelib takes the *highest*
//! priority, Thunderbird sorts by weight alone); this module follows the RFC.

use rand::Rng;
use rand::seq::SliceRandom;

use super::SrvRecord;

/// Orders `records` as RFC 2782 says a client should try them.
///
/// - Priorities come out strictly grouped, lowest number first.
/// - Within a priority, each step draws the next record with probability proportional to its
///   weight. Weight-0 records are placed first and take the draw `0`, so when heavier records
///   exist they are chosen with probability `1 / (sum + 1)` (rarely, but never never). When a
///   group has no weight-0 record the draw is taken from `1..=sum`, so weights are exactly
///   proportional (the RFC's inclusive `0` would otherwise give the first-arranged record an
///   extra `1 / (sum + 1)`). A group whose weights are all 0 is shuffled uniformly.
/// - Records whose target is the root (`.`, stored as an empty target) mean "no service":
///   they are dropped, so a lone `.` record yields an empty list.
///
/// Every other record is kept: the result is a permutation of the usable input.
pub(crate) fn order_srv<R: Rng + ?Sized>(records: Vec<SrvRecord>, rng: &mut R) -> Vec<SrvRecord> {
    let mut usable: Vec<SrvRecord> = records.into_iter().filter(|r| !is_root(r)).collect();
    // A stable sort keeps nothing meaningful (each group is reshuffled), but makes the
    // algorithm independent of the answer's order apart from the random draws.
    usable.sort_by_key(|r| r.priority);

    let mut ordered = Vec::with_capacity(usable.len());
    let mut rest = usable.as_slice();
    while let Some(first) = rest.first() {
        let end = rest
            .iter()
            .position(|r| r.priority != first.priority)
            .unwrap_or(rest.len());
        let (group, tail) = rest.split_at(end);
        order_group(group.to_vec(), rng, &mut ordered);
        rest = tail;
    }
    ordered
}

/// Whether the record's target is the root name, RFC 2782's "service not available".
fn is_root(record: &SrvRecord) -> bool {
    record.target.is_empty() || record.target == "."
}

/// Appends the records of one priority to `out`, in weighted random order.
fn order_group<R: Rng + ?Sized>(mut group: Vec<SrvRecord>, rng: &mut R, out: &mut Vec<SrvRecord>) {
    // "Arrange all SRV RRs (that have not been ordered yet) in any order, except that all
    // those with weight 0 are placed at the beginning of the list." Shuffling first makes the
    // choice among equal candidates (weight-0 ones in particular) uniform.
    group.shuffle(rng);
    group.sort_by_key(|r| r.weight != 0);

    while !group.is_empty() {
        let sum: u64 = group.iter().map(|r| u64::from(r.weight)).sum();
        let index = if sum == 0 {
            rng.random_range(0..group.len())
        } else {
            let has_zero = group.iter().any(|r| r.weight == 0);
            let low = if has_zero { 0 } else { 1 };
            let draw = rng.random_range(low..=sum);
            let mut running = 0u64;
            group
                .iter()
                .position(|r| {
                    running += u64::from(r.weight);
                    running >= draw
                })
                .unwrap_or(group.len() - 1)
        };
        // `remove` (not `swap_remove`) keeps the weight-0 records at the front.
        out.push(group.remove(index));
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn rec(priority: u16, weight: u16, target: &str) -> SrvRecord {
        SrvRecord::new(priority, weight, 443, target)
    }

    /// How often each target came first over `draws` orderings.
    fn first_counts(records: &[SrvRecord], draws: usize, seed: u64) -> Vec<(String, usize)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut counts: Vec<(String, usize)> =
            records.iter().map(|r| (r.target.clone(), 0)).collect();
        for _ in 0..draws {
            let ordered = order_srv(records.to_vec(), &mut rng);
            let first = &ordered[0].target;
            if let Some(entry) = counts.iter_mut().find(|(t, _)| t == first) {
                entry.1 += 1;
            }
        }
        counts
    }

    fn count(counts: &[(String, usize)], target: &str) -> usize {
        counts.iter().find(|(t, _)| t == target).map_or(0, |c| c.1)
    }

    #[test]
    fn lowest_priority_first_whatever_the_weights() {
        let records = vec![
            rec(20, 100, "backup.example.com"),
            rec(10, 0, "primary.example.com"),
            rec(30, 65535, "last.example.com"),
            rec(10, 5, "primary2.example.com"),
        ];
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            let ordered = order_srv(records.clone(), &mut rng);
            let priorities: Vec<u16> = ordered.iter().map(|r| r.priority).collect();
            assert_eq!(&priorities[..2], &[10, 10]);
            assert_eq!(&priorities[2..], &[20, 30]);
        }
    }

    #[test]
    fn output_is_a_permutation_and_priorities_never_decrease() {
        let mut rng = StdRng::seed_from_u64(42);
        for round in 0..300u16 {
            let records: Vec<SrvRecord> = (0..12u16)
                .map(|i| {
                    let priority = rng.random_range(0..4);
                    let weight = if i % 3 == 0 {
                        0
                    } else {
                        rng.random_range(0..50)
                    };
                    rec(priority, weight, &format!("h{round}-{i}.example.com"))
                })
                .collect();
            let ordered = order_srv(records.clone(), &mut rng);
            assert!(ordered.windows(2).all(|w| w[0].priority <= w[1].priority));
            let mut a: Vec<String> = records.into_iter().map(|r| r.target).collect();
            let mut b: Vec<String> = ordered.into_iter().map(|r| r.target).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn weights_one_and_three_give_a_quarter_and_three_quarters() {
        let records = vec![
            rec(0, 1, "light.example.com"),
            rec(0, 3, "heavy.example.com"),
        ];
        let counts = first_counts(&records, 10_000, 1);
        let heavy = count(&counts, "heavy.example.com");
        let light = count(&counts, "light.example.com");
        assert_eq!(heavy + light, 10_000);
        // Expected 7,500; the standard deviation is about 43.
        assert!(
            (7_300..=7_700).contains(&heavy),
            "heavy first {heavy} times"
        );
    }

    #[test]
    fn the_answer_order_does_not_matter() {
        let a = vec![
            rec(0, 3, "heavy.example.com"),
            rec(0, 1, "light.example.com"),
        ];
        let counts = first_counts(&a, 10_000, 2);
        let heavy = count(&counts, "heavy.example.com");
        assert!(
            (7_300..=7_700).contains(&heavy),
            "heavy first {heavy} times"
        );
    }

    #[test]
    fn weight_zero_is_chosen_but_rarely() {
        // With a weight-0 record beside a weight-10 one, the zero takes the draw 0 of 0..=10:
        // probability 1/11, about 909 in 10,000.
        let records = vec![
            rec(0, 10, "busy.example.com"),
            rec(0, 0, "spare.example.com"),
        ];
        let counts = first_counts(&records, 10_000, 3);
        let spare = count(&counts, "spare.example.com");
        assert!((700..=1_100).contains(&spare), "spare first {spare} times");
        // ... and it is never dropped: it comes second otherwise.
        let mut rng = StdRng::seed_from_u64(4);
        let ordered = order_srv(records, &mut rng);
        assert_eq!(ordered.len(), 2);
    }

    #[test]
    fn all_zero_weights_are_shuffled_uniformly() {
        let records = vec![
            rec(5, 0, "a.example.com"),
            rec(5, 0, "b.example.com"),
            rec(5, 0, "c.example.com"),
        ];
        let counts = first_counts(&records, 9_000, 5);
        for (target, n) in &counts {
            assert!((2_700..=3_300).contains(n), "{target} first {n} times");
        }
    }

    #[test]
    fn a_lone_root_target_means_no_service() {
        let mut rng = StdRng::seed_from_u64(6);
        assert!(order_srv(vec![rec(0, 0, "")], &mut rng).is_empty());
        assert!(order_srv(vec![rec(0, 0, ".")], &mut rng).is_empty());
        assert!(order_srv(Vec::new(), &mut rng).is_empty());
    }

    #[test]
    fn root_targets_beside_real_ones_are_dropped() {
        let mut rng = StdRng::seed_from_u64(8);
        let ordered = order_srv(vec![rec(0, 0, ""), rec(1, 0, "mail.example.com")], &mut rng);
        assert_eq!(ordered, vec![rec(1, 0, "mail.example.com")]);
    }

    #[test]
    fn the_same_seed_gives_the_same_order() {
        let records: Vec<SrvRecord> = (0..8u16)
            .map(|i| rec(i % 2, i * 7, &format!("h{i}.example.com")))
            .collect();
        let a = order_srv(records.clone(), &mut StdRng::seed_from_u64(9));
        let b = order_srv(records, &mut StdRng::seed_from_u64(9));
        assert_eq!(a, b);
    }
}
