//! Literal predicates of one field, split by anchoring so each is searched the cheapest
//! way:
//!
//! - `equals`: one hash lookup of the whole value;
//! - `startswith`: a walk down a byte trie from the first byte of the value (it stops as
//!   soon as no pattern can continue, so it costs the length of the longest prefix that
//!   some pattern shares with the value, not the length of the value);
//! - `endswith`: the same from the last byte, over a trie of reversed patterns;
//! - `contains` (and glob and regex prefilter literals): one unanchored pass of an
//!   Aho-Corasick automaton that reports every occurrence (overlapping). The pass is our
//!   own loop over aho-corasick's automaton (no per-call setup: most values are short,
//!   and a field is scanned many times per event); a DFA (one table lookup per byte) when
//!   the patterns are small enough, else the contiguous NFA. Sets of few patterns first
//!   ask a SIMD substring searcher (Teddy) whether any pattern occurs at all, and start
//!   the pass at the first occurrence, so a value without one costs a fraction of a
//!   nanosecond per byte.
//!
//! Anchored literals never enter the unanchored automaton, so they cost nothing where they
//! do not start or end the value, and cannot flood the overlapping pass with matches in the
//! middle of long command lines. Case-insensitive sets hold their literals ASCII-lowercased
//! and are given the value lowercased once by the caller ([`ascii_lower`]); non-ASCII
//! letters were expanded into their case variants before they got here.

use std::collections::HashMap;

use crate::hash::FastMap;

use super::lists::Lists;

use aho_corasick::{Anchored, MatchKind, dfa, nfa, packed};

/// What a literal match means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The predicate holds.
    Pred(u32),
    /// The prefilter literal of glob n was found: verify the glob.
    Glob(u32),
    /// A required literal of regex n was found: run the regex.
    Regex(u32),
}

/// Where a literal must sit in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A byte trie for anchored literals (ASCII-folded when case-insensitive), laid out flat
/// for the walk: a value's walk is a chain of dependent loads, so each node is one record
/// in a single `u32` array, in depth-first order (a walk down one pattern reads forward
/// through memory), and the root's children are a direct 256-entry table.
///
/// A record at offset `o`: `data[o]` holds the edge count (low 9 bits: at most 256) and
/// the target count (the bits above); then two words per edge, its byte and the child's
/// offset, sorted by byte; then one word per target ([`encode`]).
struct Trie {
    data: Vec<u32>,
    /// The root's child offset per byte, `NO_CHILD` where none.
    root: Box<[u32; 256]>,
    patterns: usize,
}

const NO_CHILD: u32 = u32::MAX;

/// A target as one word: the kind in the low two bits, the id above.
fn encode(t: Target) -> u32 {
    let (tag, id) = match t {
        Target::Pred(p) => (0, p),
        Target::Glob(g) => (1, g),
        Target::Regex(r) => (2, r),
    };
    debug_assert!(id < 1 << 30);
    id << 2 | tag
}

fn decode(w: u32) -> Target {
    match w & 3 {
        0 => Target::Pred(w >> 2),
        1 => Target::Glob(w >> 2),
        _ => Target::Regex(w >> 2),
    }
}

impl Trie {
    fn new(lits: Vec<(Vec<u8>, Target)>) -> Option<Trie> {
        if lits.is_empty() {
            return None;
        }
        // Built as nodes with edge lists, then laid out.
        let mut edges: Vec<Vec<(u8, usize)>> = vec![Vec::new()];
        let mut targets: Vec<Vec<Target>> = vec![Vec::new()];
        for (bytes, target) in lits {
            let mut node = 0usize;
            for b in bytes {
                node = match edges[node].binary_search_by_key(&b, |e| e.0) {
                    Ok(i) => edges[node][i].1,
                    Err(i) => {
                        let child = edges.len();
                        edges.push(Vec::new());
                        targets.push(Vec::new());
                        edges[node].insert(i, (b, child));
                        child
                    }
                };
            }
            if !targets[node].contains(&target) {
                targets[node].push(target);
            }
        }
        // Depth-first order; offsets assigned in that order, then records written.
        let mut order = Vec::with_capacity(edges.len());
        let mut stack = vec![0usize];
        while let Some(n) = stack.pop() {
            order.push(n);
            stack.extend(edges[n].iter().rev().map(|e| e.1));
        }
        let mut offset = vec![0u32; edges.len()];
        let mut len = 0usize;
        for &n in &order {
            offset[n] = len as u32;
            len += 1 + 2 * edges[n].len() + targets[n].len();
        }
        let mut data = Vec::with_capacity(len);
        for &n in &order {
            data.push(edges[n].len() as u32 | (targets[n].len() as u32) << 9);
            data.extend(
                edges[n]
                    .iter()
                    .flat_map(|&(b, c)| [u32::from(b), offset[c]]),
            );
            data.extend(targets[n].iter().map(|t| encode(*t)));
        }
        let mut root = Box::new([NO_CHILD; 256]);
        for &(b, c) in &edges[0] {
            root[b as usize] = offset[c];
        }
        Some(Trie {
            data,
            root,
            patterns: targets.iter().filter(|t| !t.is_empty()).count(),
        })
    }

    /// Calls `hit` for the targets of the record at `at`; returns its edges.
    #[inline]
    fn visit(&self, at: usize, hit: &mut dyn FnMut(Target)) -> &[u32] {
        let head = self.data[at];
        let (n_edges, n_targets) = ((head & 0x1ff) as usize, (head >> 9) as usize);
        let edges_end = at + 1 + 2 * n_edges;
        self.data[edges_end..edges_end + n_targets]
            .iter()
            .for_each(|w| hit(decode(*w)));
        &self.data[at + 1..edges_end]
    }

    /// Walks `bytes` from the root, calling `hit` for every pattern that is a prefix.
    fn walk(&self, mut bytes: impl Iterator<Item = u8>, hit: &mut dyn FnMut(Target)) {
        self.visit(0, hit);
        let Some(first) = bytes.next() else { return };
        let mut at = self.root[first as usize];
        if at == NO_CHILD {
            return;
        }
        let mut edges = self.visit(at as usize, hit);
        for b in bytes {
            match edges.chunks_exact(2).find(|e| e[0] == u32::from(b)) {
                Some(e) => at = e[1],
                None => return,
            }
            edges = self.visit(at as usize, hit);
        }
    }

    fn len(&self) -> usize {
        self.patterns
    }
}

/// Pattern bytes up to which the `contains` automaton is a DFA: its table has at most
/// that many states times the number of byte classes, a few MiB at most. Larger sets use
/// the contiguous NFA, a few times slower per byte and much smaller.
const DFA_PATTERN_BYTES: usize = 4 * 1024;

/// Pattern count up to which a SIMD prefilter first checks whether any pattern occurs
/// (Teddy's false-positive rate grows with the count).
const PREFILTER_PATTERNS: usize = 32;

enum Walker {
    Dfa(dfa::DFA),
    Nfa(nfa::contiguous::NFA),
}

/// The unanchored literals of a set.
struct Automaton {
    walker: Walker,
    prefilter: Option<packed::Searcher>,
    /// Per pattern, its targets ([`encode`]d), laid end to end: a match reads one place
    /// instead of following a pointer into a vector per pattern.
    targets: Lists,
}

impl Automaton {
    fn new(lits: Vec<(Vec<u8>, Target)>) -> Option<Automaton> {
        let mut patterns: Vec<Vec<u8>> = Vec::new();
        let mut targets: Vec<Vec<Target>> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        for (bytes, target) in lits {
            let id = *index.entry(bytes.clone()).or_insert_with(|| {
                patterns.push(bytes);
                targets.push(Vec::new());
                patterns.len() - 1
            });
            if !targets[id].contains(&target) {
                targets[id].push(target);
            }
        }
        if patterns.is_empty() {
            return None;
        }
        let total: usize = patterns.iter().map(Vec::len).sum();
        let walker = if total <= DFA_PATTERN_BYTES {
            Walker::Dfa(
                dfa::DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&patterns)
                    .expect("literal DFA within aho-corasick's limits"),
            )
        } else {
            Walker::Nfa(
                nfa::contiguous::NFA::builder()
                    .match_kind(MatchKind::Standard)
                    .prefilter(false)
                    .build(&patterns)
                    .expect("literal NFA within aho-corasick's limits"),
            )
        };
        let prefilter =
            if patterns.len() <= PREFILTER_PATTERNS && patterns.iter().all(|p| !p.is_empty()) {
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(&patterns)
                    .build()
            } else {
                None
            };
        Some(Automaton {
            walker,
            prefilter,
            targets: Lists::new(
                &targets
                    .iter()
                    .map(|ts| ts.iter().map(|t| encode(*t)).collect())
                    .collect::<Vec<Vec<u32>>>(),
            ),
        })
    }

    fn len(&self) -> usize {
        self.targets.len()
    }

    fn scan(&self, hay: &[u8], hit: &mut dyn FnMut(Target)) {
        let from = match &self.prefilter {
            // Every occurrence starts at or after the leftmost one.
            Some(pre) => match pre.find(hay) {
                Some(m) => m.start(),
                None => return,
            },
            None => 0,
        };
        match &self.walker {
            Walker::Dfa(a) => walk(a, &hay[from..], &self.targets, hit),
            Walker::Nfa(a) => walk(a, &hay[from..], &self.targets, hit),
        }
    }
}

/// Reports every occurrence of every pattern of `aut` in `hay`.
#[inline]
fn walk<A: aho_corasick::automaton::Automaton>(
    aut: &A,
    hay: &[u8],
    targets: &Lists,
    hit: &mut dyn FnMut(Target),
) {
    let Ok(mut sid) = aut.start_state(Anchored::No) else {
        return;
    };
    let mut report = |sid| {
        for i in 0..aut.match_len(sid) {
            targets
                .get(aut.match_pattern(sid, i).as_usize())
                .iter()
                .for_each(|w| hit(decode(*w)));
        }
    };
    if aut.is_match(sid) {
        report(sid);
    }
    for &b in hay {
        sid = aut.next_state(Anchored::No, sid, b);
        if aut.is_special(sid) {
            if aut.is_dead(sid) {
                return;
            }
            if aut.is_match(sid) {
                report(sid);
            }
        }
    }
}

/// The literals of one field in one case mode.
pub struct LiteralSet {
    ci: bool,
    exact: FastMap<Box<[u8]>, Vec<Target>>,
    prefix: Option<Trie>,
    suffix: Option<Trie>,
    contains: Option<Automaton>,
}

impl LiteralSet {
    /// Builds the set from (literal, anchor, target) triples.
    pub fn new(lits: Vec<(Vec<u8>, Anchor, Target)>, ci: bool) -> Option<LiteralSet> {
        if lits.is_empty() {
            return None;
        }
        let fold = |b: Vec<u8>| if ci { b.to_ascii_lowercase() } else { b };
        let mut exact: FastMap<Box<[u8]>, Vec<Target>> = FastMap::default();
        let (mut prefix, mut suffix, mut contains) = (Vec::new(), Vec::new(), Vec::new());
        for (bytes, anchor, target) in lits {
            let bytes = fold(bytes);
            match anchor {
                Anchor::Exact => exact
                    .entry(bytes.into_boxed_slice())
                    .or_default()
                    .push(target),
                Anchor::Prefix => prefix.push((bytes, target)),
                Anchor::Suffix => suffix.push((bytes.into_iter().rev().collect(), target)),
                Anchor::Contains => contains.push((bytes, target)),
            }
        }
        Some(LiteralSet {
            ci,
            exact,
            prefix: Trie::new(prefix),
            suffix: Trie::new(suffix),
            contains: Automaton::new(contains),
        })
    }

    /// Number of distinct literals (for statistics).
    pub fn len(&self) -> usize {
        self.exact.len()
            + [&self.prefix, &self.suffix]
                .iter()
                .filter_map(|t| t.as_ref())
                .map(Trie::len)
                .sum::<usize>()
            + self.contains.as_ref().map_or(0, Automaton::len)
    }

    /// True when the set holds no literal.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the set folds ASCII case: [`LiteralSet::scan`] then expects the value
    /// with its ASCII letters lowercased.
    pub fn folds_case(&self) -> bool {
        self.ci
    }

    /// Calls `hit` for every target whose literal sits where it must in `hay`. A
    /// case-folding set takes the value ASCII-lowercased ([`ascii_lower`]: the caller
    /// lowercases once for every set of the field).
    pub fn scan(&self, hay: &[u8], hit: &mut dyn FnMut(Target)) {
        debug_assert!(!self.ci || !hay.iter().any(u8::is_ascii_uppercase));
        if !self.exact.is_empty()
            && let Some(ts) = self.exact.get(hay)
        {
            ts.iter().for_each(|t| hit(*t));
        }
        if let Some(t) = &self.prefix {
            t.walk(hay.iter().copied(), hit);
        }
        if let Some(t) = &self.suffix {
            t.walk(hay.iter().rev().copied(), hit);
        }
        if let Some(a) = &self.contains {
            a.scan(hay, hit);
        }
    }
}

/// `hay` with ASCII letters lowercased, borrowed when it has no uppercase letter.
pub fn ascii_lower<'h>(hay: &'h [u8], buf: &'h mut Vec<u8>) -> &'h [u8] {
    if !hay.iter().any(u8::is_ascii_uppercase) {
        return hay;
    }
    buf.clear();
    buf.extend(hay.iter().map(u8::to_ascii_lowercase));
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(set: &LiteralSet, hay: &str) -> Vec<Target> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let hay = if set.folds_case() {
            ascii_lower(hay.as_bytes(), &mut buf)
        } else {
            hay.as_bytes()
        };
        set.scan(hay, &mut |t| out.push(t));
        out.sort_by_key(|t| format!("{t:?}"));
        out
    }

    #[test]
    fn anchors_are_respected() {
        let set = LiteralSet::new(
            vec![
                (b"cmd.exe".to_vec(), Anchor::Exact, Target::Pred(0)),
                (b"C:\\".to_vec(), Anchor::Prefix, Target::Pred(1)),
                (b"\\cmd.exe".to_vec(), Anchor::Suffix, Target::Pred(2)),
                (b"/c".to_vec(), Anchor::Contains, Target::Pred(3)),
                (b"md.e".to_vec(), Anchor::Contains, Target::Glob(7)),
                (b"exe".to_vec(), Anchor::Suffix, Target::Pred(4)),
            ],
            true,
        )
        .unwrap();
        assert_eq!(
            hits(&set, "CMD.EXE"),
            [Target::Glob(7), Target::Pred(0), Target::Pred(4)]
        );
        assert_eq!(
            hits(&set, "c:\\Windows\\CMD.exe"),
            [
                Target::Glob(7),
                Target::Pred(1),
                Target::Pred(2),
                Target::Pred(4)
            ]
        );
        assert_eq!(hits(&set, "x c:\\ /C y"), [Target::Pred(3)]);
        assert!(hits(&set, "").is_empty());
        let cased = LiteralSet::new(
            vec![(b"Abc".to_vec(), Anchor::Suffix, Target::Pred(0))],
            false,
        )
        .unwrap();
        assert_eq!(hits(&cased, "xAbc"), [Target::Pred(0)]);
        assert!(hits(&cased, "xabc").is_empty());
    }

    #[test]
    fn every_overlapping_occurrence_is_found_with_and_without_prefilter() {
        let words = ["abc", "bcd", "cd", "zz", "d"];
        let mut many: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        // Past PREFILTER_PATTERNS the pass runs without the SIMD prefilter.
        many.extend((0..PREFILTER_PATTERNS).map(|i| format!("never{i}")));
        for pats in [
            words.iter().map(|w| w.to_string()).collect::<Vec<_>>(),
            many,
        ] {
            let set = LiteralSet::new(
                pats.iter()
                    .enumerate()
                    .map(|(i, p)| {
                        (
                            p.as_bytes().to_vec(),
                            Anchor::Contains,
                            Target::Pred(i as u32),
                        )
                    })
                    .collect(),
                true,
            )
            .unwrap();
            assert_eq!(
                hits(&set, "xABCDzz"),
                (0..5).map(Target::Pred).collect::<Vec<_>>()
            );
            assert_eq!(hits(&set, "zbd"), [Target::Pred(4)]);
            assert!(hits(&set, "xyz").is_empty());
        }
    }
}
