//! Wildcard patterns that are not plain literals (`foo*bar`, `a?c`, windash classes,
//! literals with non-ASCII letters under case folding), matched directly on the text.
//!
//! A pattern is split at its `*` runs into segments of fixed length in characters. The
//! first segment is matched at the start (unless the pattern starts with `*`), the last at
//! the end (unless it ends with `*`), and the middle ones leftmost-first in order: for
//! `*`-separated fixed-length segments the leftmost choice is always a correct choice, so
//! the match runs without backtracking. Each glob carries a prefilter literal (its longest
//! literal run) that the field's Aho-Corasick pass must find before the glob is verified.
//!
//! Case folding (the default, without `cased`): ASCII letters match their ASCII other case
//! only; other characters match when their Unicode lowercase mappings are equal.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::rule::pattern::{DASHES, Piece};

/// Most case variants a literal may expand to for the literal automaton.
pub const MAX_VARIANTS: usize = 64;

/// Non-ASCII characters grouped by their lowercase mapping: the classes of characters
/// that [`char_eq`] treats as equal. Built once, on first use (~1 ms).
fn fold_classes() -> &'static HashMap<String, Vec<char>> {
    static CLASSES: OnceLock<HashMap<String, Vec<char>>> = OnceLock::new();
    CLASSES.get_or_init(|| {
        let mut m: HashMap<String, Vec<char>> = HashMap::new();
        for c in (0x80u32..=0x10FFFF).filter_map(char::from_u32) {
            let lower: String = c.to_lowercase().collect();
            if lower.len() == c.len_utf8()
                && lower.starts_with(c)
                && c.to_uppercase().eq(std::iter::once(c))
            {
                // Caseless character: its own class; skip to keep the map small.
                continue;
            }
            m.entry(lower).or_default().push(c);
        }
        m
    })
}

/// The characters case-insensitive matching takes `c` for, as far as the literal
/// automaton must tell them apart (it folds ASCII case itself).
fn fold_class(c: char) -> Vec<char> {
    if c.is_ascii() {
        return vec![c];
    }
    let lower: String = c.to_lowercase().collect();
    fold_classes()
        .get(&lower)
        .cloned()
        .unwrap_or_else(|| vec![c])
}

/// Every string made of one character of each class, in order.
fn spellings<'c>(classes: impl IntoIterator<Item = &'c [char]>) -> Vec<String> {
    let mut out = vec![String::new()];
    for class in classes {
        out = out
            .iter()
            .flat_map(|prefix| {
                class.iter().map(move |c| {
                    let mut s = prefix.clone();
                    s.push(*c);
                    s
                })
            })
            .collect();
    }
    out
}

/// Every spelling of `text` that case-insensitive matching accepts, as far as the
/// non-ASCII characters go (ASCII letters are folded by the literal automaton itself).
/// `None` when there would be more than `limit`.
pub fn case_variants(text: &str, limit: usize) -> Option<Vec<String>> {
    let classes: Vec<Vec<char>> = text.chars().map(fold_class).collect();
    let count = classes.iter().try_fold(1usize, |n, c| {
        n.checked_mul(c.len()).filter(|n| *n <= limit)
    });
    count?;
    Some(spellings(classes.iter().map(Vec::as_slice)))
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Atom {
    /// A literal, as chars.
    Lit(Vec<char>),
    AnyChar,
    Dash,
}

/// A compiled glob.
#[derive(Clone, Debug)]
pub struct Glob {
    segments: Vec<Vec<Atom>>,
    anchored_start: bool,
    anchored_end: bool,
    cased: bool,
}

/// Case-insensitive character comparison as documented in the module.
#[inline]
pub fn char_eq(a: char, b: char, cased: bool) -> bool {
    if a == b {
        return true;
    }
    if cased {
        return false;
    }
    match (a.is_ascii(), b.is_ascii()) {
        (true, true) => a.eq_ignore_ascii_case(&b),
        (false, false) => a.to_lowercase().eq(b.to_lowercase()),
        _ => false,
    }
}

/// How many characters `seg` matches (each atom matches a fixed number).
fn chars_in(seg: &[Atom]) -> usize {
    seg.iter()
        .map(|a| match a {
            Atom::Lit(chars) => chars.len(),
            Atom::AnyChar | Atom::Dash => 1,
        })
        .sum()
}

impl Glob {
    /// Compiles pattern pieces; `None` when a literal is not UTF-8.
    pub fn new(pieces: &[Piece], cased: bool) -> Option<Glob> {
        let mut segments = vec![Vec::new()];
        for p in pieces {
            match p {
                Piece::AnyRun => segments.push(Vec::new()),
                Piece::AnyChar => segments.last_mut().unwrap().push(Atom::AnyChar),
                Piece::Dash => segments.last_mut().unwrap().push(Atom::Dash),
                Piece::Literal(b) => {
                    let chars: Vec<char> = std::str::from_utf8(b).ok()?.chars().collect();
                    segments.last_mut().unwrap().push(Atom::Lit(chars));
                }
            }
        }
        let anchored_start = !matches!(pieces.first(), Some(Piece::AnyRun));
        let anchored_end = !matches!(pieces.last(), Some(Piece::AnyRun));
        let segments: Vec<Vec<Atom>> = if segments.len() == 1 {
            segments
        } else {
            let n = segments.len();
            segments
                .into_iter()
                .enumerate()
                .filter(|(i, s)| {
                    !s.is_empty() || (*i == 0 && anchored_start) || (*i == n - 1 && anchored_end)
                })
                .map(|(_, s)| s)
                .collect()
        };
        Some(Glob {
            segments,
            anchored_start,
            anchored_end,
            cased,
        })
    }

    /// True when the glob is case-sensitive.
    pub fn is_cased(&self) -> bool {
        self.cased
    }

    /// Prefilter literals: the glob can only match text that contains one of them. Each
    /// is searched by the literal automaton (ASCII case folded there). The literals are
    /// the variants of the longest stretch of the pattern that has at most
    /// [`MAX_VARIANTS`] of them, where a stretch runs over literal characters and
    /// `windash` dashes: a dash stands for each of [`DASHES`], and, when case folds, a
    /// non-ASCII letter for each of its case forms. So ` -g` under `windash` gives
    /// ` -g`, ` /g`, ` –g`, ... rather than a bare space, and a Cyrillic word gives the
    /// case forms of a few of its letters rather than nothing. `None` when the glob has
    /// no literal character at all.
    pub fn prefilter(&self) -> Option<Vec<Vec<u8>>> {
        // Runs of character classes between wildcards.
        let mut runs: Vec<Vec<Vec<char>>> = Vec::new();
        for seg in &self.segments {
            let mut run: Vec<Vec<char>> = Vec::new();
            for atom in seg {
                match atom {
                    Atom::Lit(chars) => {
                        run.extend(chars.iter().map(|c| self.class(*c)));
                    }
                    Atom::Dash => run.push(DASHES.to_vec()),
                    Atom::AnyChar => runs.push(std::mem::take(&mut run)),
                }
            }
            runs.push(run);
        }
        // The window with the most bytes (in its shortest variant) within the limit.
        let mut best: Option<(usize, &[Vec<char>])> = None;
        for run in &runs {
            let mut lo = 0;
            let mut product = 1usize;
            for hi in 0..run.len() {
                product *= run[hi].len();
                while product > MAX_VARIANTS {
                    product /= run[lo].len();
                    lo += 1;
                }
                let window = &run[lo..=hi];
                let bytes: usize = window
                    .iter()
                    .map(|class| class.iter().map(|c| c.len_utf8()).min().unwrap_or(0))
                    .sum();
                if best.is_none_or(|(b, _)| bytes > b) {
                    best = Some((bytes, window));
                }
            }
        }
        let (_, window) = best.filter(|(bytes, _)| *bytes > 0)?;
        let out = spellings(window.iter().map(Vec::as_slice));
        Some(out.into_iter().map(String::into_bytes).collect())
    }

    /// The characters a literal character of the pattern matches, as far as the literal
    /// automaton must tell them apart (it folds ASCII case itself).
    fn class(&self, c: char) -> Vec<char> {
        if self.cased {
            return vec![c];
        }
        fold_class(c)
    }

    fn first_ascii(seg: &[Atom]) -> Option<u8> {
        match seg.first() {
            Some(Atom::Lit(chars)) if chars[0].is_ascii() => Some(chars[0] as u8),
            _ => None,
        }
    }

    /// Leftmost position at or after `from` where `seg` matches; returns its end.
    fn find_seg(&self, seg: &[Atom], hay: &str, from: usize) -> Option<usize> {
        if let Some(b) = Self::first_ascii(seg) {
            let bytes = hay.as_bytes();
            let (lo, hi) = if self.cased {
                (b, b)
            } else {
                (b.to_ascii_lowercase(), b.to_ascii_uppercase())
            };
            let mut at = from;
            while let Some(i) = memchr::memchr2(lo, hi, &bytes[at..]) {
                if let Some(e) = self.seg_at(seg, hay, at + i) {
                    return Some(e);
                }
                at += i + 1;
            }
            return None;
        }
        for (i, _) in hay[from..].char_indices() {
            if let Some(e) = self.seg_at(seg, hay, from + i) {
                return Some(e);
            }
        }
        None
    }

    fn seg_at(&self, seg: &[Atom], hay: &str, pos: usize) -> Option<usize> {
        let mut it = hay[pos..].char_indices();
        let mut end = pos;
        for atom in seg {
            match atom {
                Atom::AnyChar => {
                    let (i, c) = it.next()?;
                    end = pos + i + c.len_utf8();
                }
                Atom::Dash => {
                    let (i, c) = it.next()?;
                    if !DASHES.contains(&c) {
                        return None;
                    }
                    end = pos + i + c.len_utf8();
                }
                Atom::Lit(chars) => {
                    for &pc in chars {
                        let (i, c) = it.next()?;
                        if !char_eq(pc, c, self.cased) {
                            return None;
                        }
                        end = pos + i + c.len_utf8();
                    }
                }
            }
        }
        Some(end)
    }

    /// True when the whole of `hay` matches.
    pub fn is_match(&self, hay: &str) -> bool {
        let n = self.segments.len();
        if n == 1 && self.anchored_start && self.anchored_end {
            return self.seg_at(&self.segments[0], hay, 0) == Some(hay.len());
        }
        let mut pos = 0;
        let mut first = 0;
        if self.anchored_start {
            match self.seg_at(&self.segments[0], hay, 0) {
                Some(e) => pos = e,
                None => return false,
            }
            first = 1;
        }
        let last = if self.anchored_end { n - 1 } else { n };
        for seg in &self.segments[first.min(last)..last] {
            match self.find_seg(seg, hay, pos) {
                Some(e) => pos = e,
                None => return seg.is_empty(),
            }
        }
        if self.anchored_end && last >= first {
            let seg = &self.segments[n - 1];
            if seg.is_empty() {
                return true;
            }
            // The segment matches a fixed number of characters: only the position that
            // many characters before the end can hold it.
            let mut p = hay.len();
            for _ in 0..chars_in(seg) {
                match hay[..p].chars().next_back() {
                    Some(c) => p -= c.len_utf8(),
                    None => return false,
                }
            }
            return p >= pos && self.seg_at(seg, hay, p) == Some(hay.len());
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::pattern::Pattern;

    fn m(p: &str, hay: &str) -> bool {
        Glob::new(Pattern::parse(p).pieces(), false)
            .unwrap()
            .is_match(hay)
    }

    #[test]
    fn wildcards() {
        assert!(m("a*c", "abbbc"));
        assert!(m("a*c", "ac"));
        assert!(!m("a*c", "acb"));
        assert!(m("*a?c*", "xxaBcyy"));
        assert!(!m("*a?c*", "xxacyy"));
        assert!(m("*foo*bar*", "xFOOyBARz"));
        assert!(!m("*foo*bar*", "xbaryfoo"));
        assert!(m("*ab*ab", "abab"));
        assert!(!m("*ab*ab", "ab"));
        assert!(m("ab*ab", "abab"));
        assert!(!m("ab*ab", "aba"));
        assert!(m("?", "é"));
        assert!(!m("?", ""));
        assert!(m("*", ""));
        assert!(m("*x*", "x"));
    }

    /// Backtracking reference: `*` any run, `?` any one character, else [`char_eq`].
    fn reference(p: &[char], h: &[char], cased: bool) -> bool {
        match p.split_first() {
            None => h.is_empty(),
            Some(('*', rest)) => (0..=h.len()).any(|i| reference(rest, &h[i..], cased)),
            Some(('?', rest)) => !h.is_empty() && reference(rest, &h[1..], cased),
            Some((c, rest)) => {
                !h.is_empty() && char_eq(*c, h[0], cased) && reference(rest, &h[1..], cased)
            }
        }
    }

    /// Every pattern of up to 4 symbols against every value of up to 4 characters.
    #[test]
    fn answers_like_a_backtracking_reference() {
        fn strings(alphabet: &[char], max: usize) -> Vec<Vec<char>> {
            let mut all = vec![Vec::new()];
            let mut frontier = vec![Vec::new()];
            for _ in 0..max {
                let next: Vec<Vec<char>> = frontier
                    .iter()
                    .flat_map(|s: &Vec<char>| {
                        alphabet.iter().map(move |c| {
                            let mut s = s.clone();
                            s.push(*c);
                            s
                        })
                    })
                    .collect();
                all.extend(next.iter().cloned());
                frontier = next;
            }
            all
        }
        let values = strings(&['a', 'B', 'é', 'É', 'b'], 4);
        for pattern in strings(&['a', 'b', 'é', '*', '?'], 4) {
            let text: String = pattern.iter().collect();
            for cased in [false, true] {
                let glob = Glob::new(Pattern::parse(&text).pieces(), cased).unwrap();
                for v in &values {
                    let hay: String = v.iter().collect();
                    assert_eq!(
                        glob.is_match(&hay),
                        reference(&pattern, v, cased),
                        "{text} on {hay}, cased {cased}"
                    );
                }
            }
        }
    }

    #[test]
    fn unicode_folding() {
        assert!(m("*ÄRGER*", "x ärger y"));
        assert!(
            !m("k", "\u{212A}"),
            "ASCII k does not match the Kelvin sign"
        );
        assert!(
            !Glob::new(Pattern::parse("Ab").pieces(), true)
                .unwrap()
                .is_match("ab")
        );
    }

    #[test]
    fn case_variants_cover_the_fold_class() {
        let mut v = case_variants("Äx", 8).unwrap();
        v.sort();
        assert_eq!(v, ["Äx", "äx"]);
        assert_eq!(case_variants("abc", 8).unwrap(), ["abc"]);
        assert!(case_variants("ÄÖÜÄÖÜÄ", 8).is_none());
        let cyr = case_variants("А", 8).unwrap();
        assert!(cyr.contains(&"а".to_string()) && cyr.contains(&"А".to_string()));
        for variant in &cyr {
            assert!(char_eq('А', variant.chars().next().unwrap(), false));
        }
    }

    #[test]
    fn dashes() {
        let g = Glob::new(Pattern::parse("* -enc *").windash().pieces(), false).unwrap();
        for d in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
            assert!(g.is_match(&format!("powershell {d}enc abc")), "{d}");
        }
        assert!(!g.is_match("powershell +enc abc"));
        // The prefilter spans the dash: one literal per dash.
        let want: Vec<Vec<u8>> = ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"]
            .iter()
            .map(|d| format!(" {d}enc ").into_bytes())
            .collect();
        assert_eq!(g.prefilter(), Some(want));
        // Non-ASCII letters: the case forms of as many letters as the limit allows.
        let cyr = Glob::new(Pattern::parse("*\\СИСТЕМА").pieces(), false).unwrap();
        let lits = cyr.prefilter().unwrap();
        assert_eq!(lits.len(), MAX_VARIANTS);
        for text in ["c:\\системА", "C:\\СИСТЕМА"] {
            assert!(cyr.is_match(text));
            let lower = text.to_ascii_lowercase();
            assert!(
                lits.iter()
                    .any(|l| lower.as_bytes().windows(l.len()).any(|w| w == l.as_slice())),
                "{text}"
            );
        }
    }
}
