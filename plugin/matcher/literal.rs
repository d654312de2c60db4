//! Literal predicates of one field, split by anchoring so each is searched the cheapest
//! way:
//!
//! - `equals`: one hash lookup of the whole value;
//! - `startswith`: a walk down a byte trie from the first byte of the value (it stops as
//!   soon as no pattern can continue, so it costs the length of the longest prefix that
//!   some pattern shares with the value, not the length of the value);
//! - `endswith`: the same from the last byte, over a trie of reversed patterns;
//! - `contains` (and glob prefilter literals): one unanchored overlapping pass.
//!
//! Anchored literals never enter the unanchored automaton, so they cost nothing where they
//! do not start or end the value, and cannot flood the overlapping pass with matches in the
//! middle of long command lines. Case-insensitive sets fold ASCII (non-ASCII letters were
//! expanded into their case variants before they got here).

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What a literal match means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The predicate holds.
    Pred(u32),
    /// The prefilter literal of glob n was found: verify the glob.
    Glob(u32),
}

/// Where a literal must sit in the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A byte trie for anchored literals (ASCII-folded when case-insensitive).
struct Trie {
    /// Per node: sorted edges (byte, child).
    edges: Vec<Vec<(u8, u32)>>,
    /// Per node: targets of the pattern that ends there.
    targets: Vec<Vec<Target>>,
}

impl Trie {
    fn new(lits: Vec<(Vec<u8>, Target)>) -> Option<Trie> {
        if lits.is_empty() {
            return None;
        }
        let mut t = Trie {
            edges: vec![Vec::new()],
            targets: vec![Vec::new()],
        };
        for (bytes, target) in lits {
            let mut node = 0usize;
            for b in bytes {
                node = match t.edges[node].binary_search_by_key(&b, |e| e.0) {
                    Ok(i) => t.edges[node][i].1 as usize,
                    Err(i) => {
                        let child = t.edges.len();
                        t.edges.push(Vec::new());
                        t.targets.push(Vec::new());
                        t.edges[node].insert(i, (b, child as u32));
                        child
                    }
                };
            }
            if !t.targets[node].contains(&target) {
                t.targets[node].push(target);
            }
        }
        Some(t)
    }

    /// Walks `bytes` from the root, calling `hit` for every pattern that is a prefix.
    fn walk(&self, bytes: impl Iterator<Item = u8>, ci: bool, hit: &mut dyn FnMut(Target)) {
        let mut node = 0usize;
        self.targets[0].iter().for_each(|t| hit(*t));
        for b in bytes {
            let b = if ci { b.to_ascii_lowercase() } else { b };
            match self.edges[node].binary_search_by_key(&b, |e| e.0) {
                Ok(i) => node = self.edges[node][i].1 as usize,
                Err(_) => return,
            }
            self.targets[node].iter().for_each(|t| hit(*t));
        }
    }

    fn len(&self) -> usize {
        self.targets.iter().filter(|t| !t.is_empty()).count()
    }
}

struct Automaton {
    ac: AhoCorasick,
    targets: Vec<Vec<Target>>,
}

/// The literals of one field in one case mode.
pub struct LiteralSet {
    ci: bool,
    exact: HashMap<Box<[u8]>, Vec<Target>>,
    prefix: Option<Trie>,
    suffix: Option<Trie>,
    contains: Option<Automaton>,
}

fn automaton(lits: Vec<(Vec<u8>, Target)>, ci: bool) -> Option<Automaton> {
    if lits.is_empty() {
        return None;
    }
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
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(ci)
        .match_kind(MatchKind::Standard)
        .build(&patterns)
        .expect("literal automaton within aho-corasick's limits");
    Some(Automaton { ac, targets })
}

impl LiteralSet {
    /// Builds the set from (literal, anchor, target) triples.
    pub fn new(lits: Vec<(Vec<u8>, Anchor, Target)>, ci: bool) -> Option<LiteralSet> {
        if lits.is_empty() {
            return None;
        }
        let fold = |b: Vec<u8>| if ci { b.to_ascii_lowercase() } else { b };
        let mut exact: HashMap<Box<[u8]>, Vec<Target>> = HashMap::new();
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
            contains: automaton(contains, ci),
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
            + self.contains.as_ref().map_or(0, |a| a.ac.patterns_len())
    }

    /// True when the set holds no literal.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `hit` for every target whose literal sits where it must in `hay`.
    /// `buf` is scratch space.
    pub fn scan(&self, hay: &[u8], buf: &mut Vec<u8>, hit: &mut dyn FnMut(Target)) {
        if !self.exact.is_empty() {
            let key: &[u8] = if self.ci && hay.iter().any(u8::is_ascii_uppercase) {
                buf.clear();
                buf.extend(hay.iter().map(u8::to_ascii_lowercase));
                buf
            } else {
                hay
            };
            if let Some(ts) = self.exact.get(key) {
                ts.iter().for_each(|t| hit(*t));
            }
        }
        if let Some(t) = &self.prefix {
            t.walk(hay.iter().copied(), self.ci, hit);
        }
        if let Some(t) = &self.suffix {
            t.walk(hay.iter().rev().copied(), self.ci, hit);
        }
        if let Some(a) = &self.contains {
            for m in a.ac.find_overlapping_iter(hay) {
                a.targets[m.pattern().as_usize()]
                    .iter()
                    .for_each(|t| hit(*t));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hits(set: &LiteralSet, hay: &str) -> Vec<Target> {
        let mut out = Vec::new();
        set.scan(hay.as_bytes(), &mut Vec::new(), &mut |t| out.push(t));
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
}
