//! Which answer of a race is used: the one of highest precedence, not the first to arrive.
//!
//! Discovery asks the candidates of a phase all at once, so a slow or black-holed candidate
//! costs at most one candidate timeout, but parallel probing decides only *how long* discovery
//! takes, never *which* answer wins. Candidates are listed in precedence order; the answer used
//! is that of the first candidate in the list that gives a usable one, and a candidate's answer
//! is weighed only once every candidate before it has failed (error, timeout, refusal, or an
//! answer that could not be used). When it is weighed and used, the candidates still running
//! are cancelled.
//!
//! # Precedence
//!
//! Phases run one after another; within a phase, a lower number wins over a higher one
//! whatever the arrival order.
//!
//! | phase | precedence within the phase | why |
//! |---|---|---|
//! | Autodiscover URL override | 1. the URL as configured; 2. its SOAP twin (`.xml` ↔ `.svc`) | the administrator's choice; the twin only fills in |
//! | SCP (Active Directory) | one URL after another, in Active Directory's rank (own site, no site, other sites), each before its SOAP twin | the directory's order ([MS-OXDISCO], EWS Managed API) |
//! | standard | 1. `autodiscover.<domain>` SOAP; 2. its POX; 3. its v2 JSON; 4. `<domain>` SOAP; 5. its POX; 6. its v2 JSON | the dedicated name before the root domain, whose web site is often someone else's ([MS-OXWSADISC] asks `autodiscover.` first); SOAP gives `GroupingInformation` at once |
//! | redirect and SRV (when allowed) | 1. the plain-HTTP redirect GET at `autodiscover.<domain>`; 2. SRV targets in [RFC 2782] order: lowest priority number first, weighted random order within one priority | Outlook's and the EWS Managed API's order; RFC 2782: a higher priority number is used only when every lower one failed |
//!
//! A redirect restarts the list at its target with the same rules. The SRV order within one
//! priority is drawn once per lookup (see `dns::order_srv`), so equal-priority targets share the
//! load by weight, and the drawn order is then kept like any other.
//!
//! [MS-OXDISCO]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxdisco/
//! [MS-OXWSADISC]: https://learn.microsoft.com/en-us/openspecs/exchange_server_protocols/ms-oxwsadisc/
//! [RFC 2782]: https://www.rfc-editor.org/rfc/rfc2782

/// One candidate's state in a race.
#[derive(Debug)]
enum Slot<T> {
    /// Still being asked.
    Running,
    /// Answered; not yet weighed.
    Answered(T),
    /// Failed, or its answer was taken.
    Done,
}

/// The candidates of one race, in precedence order, and what each has given so far.
#[derive(Debug)]
pub(crate) struct Ranked<T> {
    slots: Vec<Slot<T>>,
}

impl<T> Ranked<T> {
    /// `len` candidates, all running.
    pub(crate) fn new(len: usize) -> Self {
        Self {
            slots: (0..len).map(|_| Slot::Running).collect(),
        }
    }

    /// Candidate `index` answered.
    pub(crate) fn answered(&mut self, index: usize, answer: T) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::Answered(answer);
        }
    }

    /// Candidate `index` failed.
    pub(crate) fn failed(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = Slot::Done;
        }
    }

    /// The answer to weigh next: that of the first candidate not done, once it has answered;
    /// `None` while that candidate is still running, or when every candidate is done.
    ///
    /// The answer is taken (its candidate is done): when the caller cannot use it, calling
    /// again offers the next one.
    pub(crate) fn next(&mut self) -> Option<(usize, T)> {
        let index = self
            .slots
            .iter()
            .position(|slot| !matches!(slot, Slot::Done))?;
        match std::mem::replace(&mut self.slots[index], Slot::Done) {
            Slot::Answered(answer) => Some((index, answer)),
            other => {
                self.slots[index] = other;
                None
            }
        }
    }

    /// The candidates still running, in precedence order.
    pub(crate) fn running(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| matches!(slot, Slot::Running))
            .map(|(index, _)| index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every order of `0..n`.
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for rest in permutations(n - 1) {
            for at in 0..=rest.len() {
                let mut order = rest.clone();
                order.insert(at, n - 1);
                all.push(order);
            }
        }
        all
    }

    /// Feeds the outcomes (`true`: answered) in `arrival` order; returns the index whose
    /// answer was used (the caller accepts `usable` ones only) and how many had finished
    /// when it was chosen.
    fn race(outcomes: &[bool], usable: &[bool], arrival: &[usize]) -> Option<(usize, usize)> {
        let mut ranked = Ranked::new(outcomes.len());
        for (finished, &index) in arrival.iter().enumerate() {
            if outcomes[index] {
                ranked.answered(index, index);
            } else {
                ranked.failed(index);
            }
            while let Some((at, answer)) = ranked.next() {
                assert_eq!(at, answer);
                if usable[at] {
                    return Some((at, finished + 1));
                }
            }
        }
        None
    }

    #[test]
    fn the_first_usable_answer_in_precedence_order_wins_whatever_the_arrival() {
        let n = 4;
        for mask in 0..(1u32 << n) {
            for unusable in 0..(1u32 << n) {
                let outcomes: Vec<bool> = (0..n).map(|i| mask & (1 << i) != 0).collect();
                let usable: Vec<bool> = (0..n)
                    .map(|i| outcomes[i] && unusable & (1 << i) == 0)
                    .collect();
                let expected = usable.iter().position(|u| *u);
                for arrival in permutations(n) {
                    let got = race(&outcomes, &usable, &arrival);
                    assert_eq!(
                        got.map(|(at, _)| at),
                        expected,
                        "outcomes {outcomes:?} usable {usable:?} arrival {arrival:?}"
                    );
                    if let Some((winner, finished)) = got {
                        // Chosen only once it and everything before it had finished.
                        let seen = &arrival[..finished];
                        assert!((0..=winner).all(|i| seen.contains(&i)), "{arrival:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_later_answer_waits_for_an_earlier_candidate() {
        let mut ranked = Ranked::new(3);
        ranked.answered(2, "backup");
        assert!(ranked.next().is_none(), "candidate 0 is still running");
        ranked.answered(1, "second");
        assert!(ranked.next().is_none());
        ranked.failed(0);
        assert_eq!(ranked.next(), Some((1, "second")));
        // Refused by the caller: the next one is offered.
        assert_eq!(ranked.next(), Some((2, "backup")));
        assert_eq!(ranked.next(), None);
    }

    #[test]
    fn the_running_candidates_are_the_ones_to_cancel() {
        let mut ranked = Ranked::new(4);
        ranked.failed(0);
        ranked.answered(2, ());
        assert_eq!(ranked.running().collect::<Vec<_>>(), [1, 3]);
        ranked.answered(1, ());
        assert_eq!(ranked.next(), Some((1, ())));
        assert_eq!(ranked.running().collect::<Vec<_>>(), [3]);
    }

    #[test]
    fn out_of_range_indexes_are_ignored() {
        let mut ranked: Ranked<()> = Ranked::new(1);
        ranked.answered(5, ());
        ranked.failed(7);
        assert!(ranked.next().is_none());
        ranked.failed(0);
        assert!(ranked.next().is_none());
    }
}
