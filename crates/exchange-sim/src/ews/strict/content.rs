//! Content models as automata: a particle tree becomes a Thompson NFA whose transitions are
//! labelled with element declarations or wildcards; the children of an element are run through
//! it with a set of live states, so a content model that is not deterministic (the schema's
//! `ArrayOfTransitionsType`, which libxml2 refuses) is still matched exactly. `xs:all` (only
//! ever a whole content model in XSD 1.0) is matched as a set.
//! Particles: <https://www.w3.org/TR/xmlschema-1/#cParticles>.

use super::schema::{ElemId, Particle, Term, Wildcard};

/// A transition label.
#[derive(Debug)]
pub(crate) enum Label {
    Element(ElemId),
    Any(Wildcard),
}

/// A compiled content model.
pub(crate) enum Model {
    Nfa(Nfa),
    /// `xs:all`: each element at most once, in any order; `true` when required.
    All(Vec<(ElemId, bool)>),
}

pub(crate) struct Nfa {
    eps: Vec<Vec<u32>>,
    edges: Vec<Vec<(Label, u32)>>,
    start: u32,
    accept: u32,
}

/// Bounded repetition is unrolled; past this many copies a bound counts as unbounded.
const MAX_UNROLL: u32 = 256;

impl Model {
    pub(crate) fn build(particle: &Particle) -> Self {
        if let Some(all) = top_level_all(particle) {
            return all;
        }
        let mut nfa = Nfa {
            eps: Vec::new(),
            edges: Vec::new(),
            start: 0,
            accept: 0,
        };
        let (start, accept) = nfa.particle(particle);
        nfa.start = start;
        nfa.accept = accept;
        Self::Nfa(nfa)
    }
}

/// `xs:all` as the whole model (possibly wrapped in a one-element sequence by an extension of
/// an empty base).
fn top_level_all(p: &Particle) -> Option<Model> {
    match &p.term {
        Term::All(parts) => Some(Model::All(
            parts
                .iter()
                .filter_map(|part| match part.term {
                    Term::Element(e) => Some((e, part.min > 0 && p.min > 0)),
                    _ => None,
                })
                .collect(),
        )),
        Term::Sequence(parts) if parts.len() == 1 && p.min == 1 && p.max == Some(1) => {
            top_level_all(&parts[0])
        }
        _ => None,
    }
}

impl Nfa {
    fn state(&mut self) -> u32 {
        self.eps.push(Vec::new());
        self.edges.push(Vec::new());
        u32::try_from(self.eps.len() - 1).unwrap_or(u32::MAX)
    }

    fn eps(&mut self, from: u32, to: u32) {
        self.eps[from as usize].push(to);
    }

    /// A fragment for a particle: (entry, exit).
    fn particle(&mut self, p: &Particle) -> (u32, u32) {
        let min = p.min.min(MAX_UNROLL);
        let max = p.max.filter(|&m| m <= MAX_UNROLL);
        let start = self.state();
        let mut at = start;
        for _ in 0..min {
            let (s, e) = self.term(&p.term);
            self.eps(at, s);
            at = e;
        }
        let end = self.state();
        match max {
            None => {
                // Loop: any number of further copies.
                let (s, e) = self.term(&p.term);
                self.eps(at, s);
                self.eps(e, at);
                self.eps(at, end);
            }
            Some(max) => {
                for _ in min..max {
                    let (s, e) = self.term(&p.term);
                    self.eps(at, end);
                    self.eps(at, s);
                    at = e;
                }
                self.eps(at, end);
            }
        }
        (start, end)
    }

    fn term(&mut self, t: &Term) -> (u32, u32) {
        match t {
            Term::Element(e) => self.edge(Label::Element(*e)),
            Term::Any(w) => self.edge(Label::Any(w.clone())),
            // An `all` nested below the top is matched as a sequence (not used by EWS).
            Term::Sequence(parts) | Term::All(parts) => {
                let start = self.state();
                let mut at = start;
                for part in parts {
                    let (s, e) = self.particle(part);
                    self.eps(at, s);
                    at = e;
                }
                (start, at)
            }
            Term::Choice(parts) => {
                let start = self.state();
                let end = self.state();
                for part in parts {
                    let (s, e) = self.particle(part);
                    self.eps(start, s);
                    self.eps(e, end);
                }
                if parts.is_empty() {
                    // An empty choice matches nothing.
                    let dead = self.state();
                    return (start, dead);
                }
                (start, end)
            }
        }
    }

    fn edge(&mut self, label: Label) -> (u32, u32) {
        let s = self.state();
        let e = self.state();
        self.edges[s as usize].push((label, e));
        (s, e)
    }

    /// The live states before any child.
    pub(crate) fn initial(&self) -> States {
        let mut states = States::new(self.eps.len());
        self.close(&mut states, self.start);
        states
    }

    fn close(&self, states: &mut States, from: u32) {
        let mut stack = vec![from];
        while let Some(s) = stack.pop() {
            if states.insert(s) {
                stack.extend(self.eps[s as usize].iter().copied());
            }
        }
    }

    /// The distinct labels the live states could take for a child, in schema order.
    pub(crate) fn candidates<'n>(
        &'n self,
        states: &States,
        mut accepts: impl FnMut(&Label) -> bool,
    ) -> Vec<&'n Label> {
        let mut live = states.list.clone();
        live.sort_unstable();
        let mut out: Vec<&Label> = Vec::new();
        for s in live {
            for (label, _) in &self.edges[s as usize] {
                if !out.iter().any(|l| same(l, label)) && accepts(label) {
                    out.push(label);
                }
            }
        }
        out
    }

    /// Moves over one child through the transitions whose labels are in `taken`.
    pub(crate) fn step(&self, states: &States, taken: &[&Label]) -> States {
        let mut next = States::new(self.eps.len());
        for &s in &states.list {
            for (label, to) in &self.edges[s as usize] {
                if taken.iter().any(|t| same(t, label)) {
                    self.close(&mut next, *to);
                }
            }
        }
        next
    }

    pub(crate) fn accepts(&self, states: &States) -> bool {
        states.contains(self.accept)
    }

    /// The labels the live states could take next, in schema order, each once.
    pub(crate) fn expected<'n>(&'n self, states: &States) -> Vec<&'n Label> {
        let mut live = states.list.clone();
        live.sort_unstable();
        let mut out: Vec<&Label> = Vec::new();
        for s in live {
            for (label, _) in &self.edges[s as usize] {
                if !out.iter().any(|l| same(l, label)) {
                    out.push(label);
                }
            }
        }
        out
    }
}

/// Two labels are the same transition when they name the same declaration or wildcard.
fn same(a: &Label, b: &Label) -> bool {
    match (a, b) {
        (Label::Element(x), Label::Element(y)) => x == y,
        (Label::Any(x), Label::Any(y)) => std::ptr::eq(x, y) || x.describe() == y.describe(),
        _ => false,
    }
}

/// A set of NFA states: a membership bitmap with the members in insertion order.
pub(crate) struct States {
    bits: Vec<u64>,
    list: Vec<u32>,
}

impl States {
    fn new(n: usize) -> Self {
        Self {
            bits: vec![0; n.div_ceil(64)],
            list: Vec::new(),
        }
    }

    fn insert(&mut self, s: u32) -> bool {
        let (word, bit) = ((s / 64) as usize, s % 64);
        let Some(w) = self.bits.get_mut(word) else {
            return false;
        };
        if *w & (1 << bit) != 0 {
            return false;
        }
        *w |= 1 << bit;
        self.list.push(s);
        true
    }

    fn contains(&self, s: u32) -> bool {
        self.bits
            .get((s / 64) as usize)
            .is_some_and(|w| w & (1 << (s % 64)) != 0)
    }
}
