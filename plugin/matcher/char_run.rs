//! Regexes that only ask for a long run of one character class (`.{1000,}`, `(.){200,}`,
//! `[^/]{100,}$`), answered by counting instead of by an automaton.
//!
//! Sigma rules use such regexes to flag abnormally long command lines or file names. A
//! counted repetition gives the lazy DFA one state per counted character: on a value long
//! enough to be interesting, and not seen before, it fills its cache, gives up and falls
//! back to the PikeVM. Measured on the SigmaHQ `CommandLine` scanner in a first pass over
//! the evtx samples: ~900k cycles (~300 µs) per 1,000-byte value against `.{1000,}`, where
//! a whole process-creation event otherwise costs ~11 µs. Counting is one pass over the
//! value's characters, with no state.

use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// A run of at least `min` consecutive characters of a class, perhaps pinned to the
/// start or the end of the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CharRun {
    /// The class, as sorted disjoint inclusive ranges.
    ranges: Box<[(char, char)]>,
    min: usize,
    at_start: bool,
    at_end: bool,
}

impl CharRun {
    /// The run `hir` asks for, when its whole meaning is "somewhere (or at `^`, or before
    /// `$`) there are at least n characters of class C": a repetition of a Unicode class
    /// (inside any capture groups), at least once, optionally between the text anchors.
    /// `None` for anything else.
    pub fn of(hir: &Hir) -> Option<CharRun> {
        let parts: &[Hir] = match hir.kind() {
            HirKind::Concat(parts) => parts,
            _ => std::slice::from_ref(hir),
        };
        let (at_start, rest) = match parts.split_first() {
            Some((first, rest)) if is_look(first, Look::Start) => (true, rest),
            _ => (false, parts),
        };
        let (at_end, rest) = match rest.split_last() {
            Some((last, rest)) if is_look(last, Look::End) => (true, rest),
            _ => (false, rest),
        };
        let [repetition] = rest else { return None };
        let HirKind::Repetition(rep) = uncapture(repetition).kind() else {
            return None;
        };
        // With an upper bound, a longer run than the bound still holds a match when the
        // run may sit anywhere, but not when it is pinned at both ends.
        if rep.min == 0 || (rep.max.is_some() && (at_start || at_end)) {
            return None;
        }
        let HirKind::Class(Class::Unicode(class)) = uncapture(&rep.sub).kind() else {
            return None;
        };
        Some(CharRun {
            ranges: class
                .ranges()
                .iter()
                .map(|r| (r.start(), r.end()))
                .collect(),
            min: usize::try_from(rep.min).ok()?,
            at_start,
            at_end,
        })
    }

    /// True when `text` holds the run.
    pub fn is_match(&self, text: &str) -> bool {
        // A character is at least one byte.
        if text.len() < self.min {
            return false;
        }
        let mut run = 0;
        for c in text.chars() {
            if self.contains(c) {
                run += 1;
                if run >= self.min && !self.at_end {
                    return true;
                }
            } else if self.at_start {
                return false;
            } else {
                run = 0;
            }
        }
        run >= self.min
    }

    fn contains(&self, c: char) -> bool {
        // Ranges are sorted: the last one starting at or before `c` is the only candidate.
        let i = self.ranges.partition_point(|&(start, _)| start <= c);
        i > 0 && c <= self.ranges[i - 1].1
    }
}

fn uncapture(mut hir: &Hir) -> &Hir {
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    hir
}

fn is_look(hir: &Hir, look: Look) -> bool {
    matches!(hir.kind(), HirKind::Look(l) if *l == look)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn run(source: &str) -> Option<CharRun> {
        CharRun::of(&regex_syntax::parse(source).unwrap())
    }

    #[test]
    fn recognizes_only_runs_of_one_class() {
        for yes in [
            ".{1000,}",
            "(.){200,}",
            "[^/]{100,}$",
            "^[a-z]{3,}",
            ".{150}",
            "(?s).{5,}",
            "\\w+",
        ] {
            assert!(run(yes).is_some(), "{yes}");
        }
        for no in [
            "a{3,}",
            ".{3,}x",
            "x.{3,}",
            ".*",
            "^.{2,5}$",
            "(?-u:[\\x00-\\x7f]){4,}",
            "(?m).{3,}$",
        ] {
            assert!(run(no).is_none(), "{no}");
        }
    }

    /// Counting answers as the regex does, on values with newlines, multibyte characters
    /// and runs around the threshold.
    #[test]
    fn answers_like_the_regex() {
        let sources = [
            ".{5,}",
            "(.){3,}",
            ".{4}",
            "[^/]{4,}$",
            "^[^/]{4,}",
            "(?s).{6,}",
            "[a-c]{2,}",
            "(?i)[a-c]{3,}",
            "^\\w{2,}$",
        ];
        let alphabet = ["a", "B", "c", "/", "\n", "é", "ß", "\u{1F600}", " ", "x"];
        let mut values = vec![String::new()];
        // Every string of up to 4 symbols, plus longer ones built by repetition.
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            let mut next = Vec::new();
            for s in &frontier {
                for a in alphabet {
                    next.push(format!("{s}{a}"));
                }
            }
            values.extend(next.iter().cloned());
            frontier = next;
        }
        let longer: Vec<String> = values
            .iter()
            .filter(|v| v.chars().count() == 3)
            .map(|v| v.repeat(3))
            .collect();
        values.extend(longer);
        for source in sources {
            let shortcut = run(source).unwrap_or_else(|| panic!("{source} not recognized"));
            let regex = Regex::new(source).unwrap();
            for v in &values {
                assert_eq!(
                    shortcut.is_match(v),
                    regex.is_match(v.as_bytes()),
                    "{source} on {v:?}"
                );
            }
        }
    }
}
