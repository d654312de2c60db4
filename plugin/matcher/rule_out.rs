//! The whole-event rule-out of keyword scanners: one search of an event's JSON text for
//! any of a few literals, which usually shows that none is there, so the event's values
//! are never visited one by one.
//!
//! A search for the literals from their first bytes is slowed by the event's own words:
//! every evtx_dump line holds `event` several times (`Event`, `EventData`, `EventID`, the
//! schema URL), so a SIMD searcher (Teddy) looking for `event::clear` stops at each and
//! verifies. Each literal is therefore looked for by its rarest window of up to
//! `WINDOW` bytes (`::cl`), rated by `BYTE_COST`, and a window found is verified as
//! the whole literal around it. The window choice only moves the cost: the answer is that
//! of a plain search for the literals.
//!
//! Cost: one Teddy pass over the text (a fraction of a nanosecond per byte) plus one
//! verification per window occurrence. Sets too large for Teddy use an Aho-Corasick
//! automaton over the whole literals instead.

use aho_corasick::{AhoCorasick, Span, packed};

/// Bytes per window: Teddy's longest fingerprint.
const WINDOW: usize = 4;

/// Patterns up to which aho-corasick's packed searcher is Teddy.
const TEDDY_PATTERNS: usize = 64;

/// How rare each byte is in the text of Windows events: −4·log2 of its frequency among
/// the ASCII-lowercased keys and string values of the 8,255 sample events in
/// `../shared/events/evtx-attack-samples.ndjson.gz` (JSON-escaped as in the line).
/// A heuristic for choosing windows: a poor choice costs speed, never a match.
#[rustfmt::skip]
const BYTE_COST: [u8; 256] = [
    91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91,
    91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91,
    30, 74, 43, 30, 49, 38, 51, 44, 40, 40, 51, 44, 40, 21, 27, 27,
    17, 22, 23, 24, 24, 24, 25, 26, 25, 25, 29, 40, 51, 38, 51, 46,
    68, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91,
    91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 58, 22, 58, 83, 44,
    66, 18, 23, 19, 19, 14, 24, 27, 27, 17, 36, 32, 23, 21, 19, 18,
    23, 41, 18, 17, 15, 22, 25, 25, 29, 27, 37, 34, 48, 34, 73, 91,
    85, 91, 77, 91, 87, 91, 91, 91, 91, 91, 91, 77, 80, 59, 91, 91,
    91, 91, 91, 83, 81, 91, 91, 80, 77, 87, 80, 91, 80, 79, 80, 91,
    91, 91, 81, 80, 91, 91, 80, 91, 80, 80, 91, 91, 75, 91, 44, 87,
    91, 91, 91, 91, 91, 91, 91, 59, 91, 91, 91, 91, 80, 91, 91, 75,
    91, 91, 44, 81, 91, 83, 81, 77, 91, 91, 91, 91, 91, 91, 91, 91,
    91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91,
    91, 91, 81, 87, 91, 91, 91, 87, 87, 91, 91, 77, 59, 80, 91, 91,
    91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91, 91,
];

/// A search for any of a set of literals in a text (both as the caller folds them).
#[derive(Debug)]
pub enum RuleOut {
    /// Teddy over one window per literal, each occurrence verified.
    Windows {
        searcher: packed::Searcher,
        /// One per literal.
        entries: Vec<Entry>,
    },
    /// Aho-Corasick over the whole literals.
    Automaton(AhoCorasick),
}

/// A literal and the window it is looked for by.
#[derive(Debug)]
pub struct Entry {
    window: Box<[u8]>,
    literal: Box<[u8]>,
    /// The window's offset in the literal.
    offset: usize,
}

impl RuleOut {
    /// The search for `lits` (non-empty literals), `None` when none can be built.
    pub fn new(lits: &[Vec<u8>]) -> Option<RuleOut> {
        if lits.is_empty() || lits.iter().any(Vec::is_empty) {
            return None;
        }
        let entries: Vec<Entry> = lits
            .iter()
            .map(|l| {
                let offset = rarest_window(l);
                Entry {
                    window: l[offset..(offset + WINDOW).min(l.len())].into(),
                    literal: l.as_slice().into(),
                    offset,
                }
            })
            .collect();
        let mut windows: Vec<&[u8]> = entries.iter().map(|e| &*e.window).collect();
        windows.sort_unstable();
        windows.dedup();
        // Past Teddy's capacity the packed searcher would fall back to Rabin-Karp.
        let searcher = (windows.len() <= TEDDY_PATTERNS)
            .then(|| {
                packed::Config::new()
                    .match_kind(packed::MatchKind::LeftmostFirst)
                    .builder()
                    .extend(&windows)
                    .build()
            })
            .flatten();
        match searcher {
            Some(searcher) => Some(RuleOut::Windows { searcher, entries }),
            None => AhoCorasick::new(lits).ok().map(RuleOut::Automaton),
        }
    }

    /// True when some literal occurs in `hay`.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        match self {
            RuleOut::Automaton(a) => a.is_match(hay),
            RuleOut::Windows { searcher, entries } => {
                let mut at = 0;
                // The leftmost window occurrence at or after `at`: every literal that
                // occurs at or after `at - offset` has its window there or later, so
                // verifying all literals whose window sits at each occurrence, left to
                // right, finds any occurrence.
                while let Some(m) = searcher.find_in(hay, Span::from(at..hay.len())) {
                    let p = m.start();
                    let found = entries.iter().any(|e| {
                        hay[p..].starts_with(&e.window)
                            && p >= e.offset
                            && hay[p - e.offset..].starts_with(&e.literal)
                    });
                    if found {
                        return true;
                    }
                    at = p + 1;
                }
                false
            }
        }
    }
}

/// The offset of the window of `lit` with the highest total [`BYTE_COST`] (the first
/// one on ties); 0 for literals of at most [`WINDOW`] bytes.
fn rarest_window(lit: &[u8]) -> usize {
    if lit.len() <= WINDOW {
        return 0;
    }
    let cost = |w: &[u8]| {
        w.iter()
            .map(|b| u32::from(BYTE_COST[*b as usize]))
            .sum::<u32>()
    };
    let mut best = (cost(&lit[..WINDOW]), 0);
    for (off, w) in lit.windows(WINDOW).enumerate().skip(1) {
        let c = cost(w);
        if c > best.0 {
            best = (c, off);
        }
    }
    best.1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(lits: &[Vec<u8>], hay: &[u8]) -> bool {
        lits.iter()
            .any(|l| hay.windows(l.len()).any(|w| w == l.as_slice()))
    }

    #[test]
    fn windows_are_the_rarest_part() {
        assert_eq!(rarest_window(b"event::clear"), 5, "::cl");
        assert_eq!(rarest_window(b"abc"), 0);
        // Ties keep the first window.
        assert_eq!(rarest_window(b"eeeeee"), 0);
    }

    #[test]
    fn agrees_with_a_plain_search() {
        // Every haystack of up to 7 symbols over an alphabet that makes windows occur
        // without their literal; literals shorter than, as long as and longer than a
        // window, sharing windows, and one window ("cab:", of "cab:a") found where it
        // fails just before another ("ab:c") that holds.
        let lits: Vec<Vec<u8>> = [
            "ab::c", "b::", "cab:a", "ab:c", "::ca", "aaaaab", "ba::ab", "c",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        let alphabet = b"ab:c";
        for set in 1..=lits.len() {
            let lits = &lits[..set];
            let r = RuleOut::new(lits).expect("small sets build");
            assert!(matches!(r, RuleOut::Windows { .. }));
            let mut hay = Vec::new();
            for len in 0..=7u32 {
                for n in 0..4usize.pow(len) {
                    hay.clear();
                    let mut k = n;
                    for _ in 0..len {
                        hay.push(alphabet[k % 4]);
                        k /= 4;
                    }
                    assert_eq!(
                        r.is_match(&hay),
                        naive(lits, &hay),
                        "{:?} in {:?}",
                        lits.iter()
                            .map(|l| String::from_utf8_lossy(l))
                            .collect::<Vec<_>>(),
                        String::from_utf8_lossy(&hay)
                    );
                }
            }
        }
    }

    #[test]
    fn large_sets_fall_back_to_an_automaton() {
        // 200 literals of one window each: 200 windows.
        let lits: Vec<Vec<u8>> = (0..200).map(|i| format!("{i:04}").into_bytes()).collect();
        let r = RuleOut::new(&lits).expect("builds");
        assert!(matches!(r, RuleOut::Automaton(_)));
        assert!(r.is_match(b"..0123.."));
        assert!(!r.is_match(b"..1234.."));
        // Literals that share their windows stay with Teddy.
        let lits: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("kw{i:03}x").into_bytes())
            .collect();
        let r = RuleOut::new(&lits).expect("builds");
        assert!(matches!(r, RuleOut::Windows { .. }));
        assert!(r.is_match(b"..kw123x.."));
        assert!(!r.is_match(b"..kw123.."));
        assert!(RuleOut::new(&[]).is_none());
        assert!(RuleOut::new(&[Vec::new()]).is_none());
    }
}
