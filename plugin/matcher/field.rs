//! Per-field scanners: every predicate of every rule on one event field, merged so that a
//! field value is scanned once per event whatever the number of rules.
//!
//! Costs, cheapest first:
//! - literals (`equals`, `startswith`, `endswith`, `contains`) go into one Aho-Corasick
//!   automaton per case mode (ASCII case folding for case-insensitive ones); one
//!   overlapping pass finds every literal, and its position decides the anchoring;
//! - everything else that is text (inner wildcards, `?`, windash, `re`, literals with
//!   non-ASCII letters that need Unicode case folding) goes into one multi-pattern
//!   regex-automata meta regex (lazy DFA, falling back to the PikeVM: linear time either
//!   way) searched in overlapping mode, split into chunks if one would exceed the size limit;
//! - typed checks (numbers, times, CIDR, field references) run one by one;
//! - presence checks (`exists`, `null`) cost nothing: they follow from the lookup.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex_automata::{Input, PatternSet, meta};

use crate::event::{Document, Scalar};
use crate::rule::detection::{Anchor, Cidr, CmpOp, Matcher, TimePart};
use crate::rule::pattern::{Piece, Shape};
use crate::rule::values::regex_source;

use super::time;

/// Limit for one merged regex chunk's NFA; larger sets are split.
const CHUNK_NFA_LIMIT: usize = 32 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LitAnchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

#[derive(Clone, Debug)]
enum Check {
    Compare(CmpOp, f64),
    Time(TimePart, CmpOp, f64),
    Cidr(Cidr),
    FieldRef { field: String, anchor: Anchor, cased: bool },
}

/// Builder side of a scanner.
#[derive(Default)]
pub struct FieldBuilder {
    pub name: String,
    ci_lits: Vec<(Vec<u8>, LitAnchor, u32)>,
    cs_lits: Vec<(Vec<u8>, LitAnchor, u32)>,
    regexes: Vec<(String, u32)>,
    empty: Vec<(u32, bool)>,
    anything: Vec<u32>,
    checks: Vec<(u32, Check)>,
    on_present: Vec<u32>,
    on_absent: Vec<u32>,
    on_null: Vec<u32>,
}

/// Appends a literal to a regex, folding ASCII letters to their ASCII pair and other
/// letters with Unicode simple case folding when case-insensitive.
fn push_literal(re: &mut String, bytes: &[u8], cased: bool) -> Option<()> {
    let text = std::str::from_utf8(bytes).ok()?;
    for c in text.chars() {
        let mut b = [0u8; 4];
        let esc = regex_syntax::escape(c.encode_utf8(&mut b));
        if cased {
            re.push_str(&esc);
        } else if c.is_ascii_alphabetic() {
            re.push('[');
            re.push(c.to_ascii_lowercase());
            re.push(c.to_ascii_uppercase());
            re.push(']');
        } else if c.is_ascii() {
            re.push_str(&esc);
        } else {
            re.push_str("(?i:");
            re.push_str(&esc);
            re.push(')');
        }
    }
    Some(())
}

/// The anchored regex for a wildcard pattern.
pub fn wildcard_regex(pieces: &[Piece], cased: bool) -> Option<String> {
    let mut re = String::from(r"\A(?:");
    for piece in pieces {
        match piece {
            Piece::Literal(b) => push_literal(&mut re, b, cased)?,
            Piece::AnyRun => re.push_str(r"(?s:.)*"),
            Piece::AnyChar => re.push_str(r"(?s:.)"),
            Piece::Dash => re.push_str("[\\-/\u{2013}\u{2014}\u{2015}]"),
        }
    }
    re.push_str(r")\z");
    Some(re)
}

impl FieldBuilder {
    pub fn new(name: &str) -> FieldBuilder {
        FieldBuilder {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Adds predicate `pred` testing `m`. Returns an error text when it cannot be compiled.
    pub fn add(&mut self, pred: u32, m: &Matcher) -> Result<(), String> {
        match m {
            Matcher::Str { pattern, cased } => {
                let lit = |b: &[u8], a: LitAnchor, this: &mut FieldBuilder| {
                    // ASCII folding is exact for ASCII-only literals; others need the regex.
                    if *cased {
                        this.cs_lits.push((b.to_vec(), a, pred));
                        true
                    } else if b.is_ascii() {
                        this.ci_lits.push((b.to_vec(), a, pred));
                        true
                    } else {
                        false
                    }
                };
                let done = match pattern.shape() {
                    Shape::Exact([]) => {
                        self.empty.push((pred, true));
                        true
                    }
                    Shape::Anything => {
                        self.anything.push(pred);
                        true
                    }
                    Shape::Exact(b) => lit(b, LitAnchor::Exact, self),
                    Shape::Prefix(b) => lit(b, LitAnchor::Prefix, self),
                    Shape::Suffix(b) => lit(b, LitAnchor::Suffix, self),
                    Shape::Contains(b) => lit(b, LitAnchor::Contains, self),
                    Shape::Complex => false,
                };
                if !done {
                    let re = wildcard_regex(pattern.pieces(), *cased)
                        .ok_or_else(|| "an encoded value with wildcards cannot be searched".to_string())?;
                    self.regexes.push((re, pred));
                }
            }
            Matcher::Regex { source, flags } => self.regexes.push((regex_source(source, *flags), pred)),
            Matcher::Compare { op, value } => self.checks.push((pred, Check::Compare(*op, *value))),
            Matcher::Time { part, op, value } => self.checks.push((pred, Check::Time(*part, *op, *value))),
            Matcher::Cidr(c) => self.checks.push((pred, Check::Cidr(*c))),
            Matcher::FieldRef { field, anchor, cased } => self.checks.push((
                pred,
                Check::FieldRef {
                    field: field.clone(),
                    anchor: *anchor,
                    cased: *cased,
                },
            )),
            Matcher::Exists(true) => self.on_present.push(pred),
            Matcher::Exists(false) => self.on_absent.push(pred),
            Matcher::Null => {
                self.on_absent.push(pred);
                self.on_null.push(pred);
            }
        }
        Ok(())
    }

    /// Builds the scanner. Regex chunks that fail on their own are reported with the
    /// predicates they carry.
    pub fn build(self) -> (FieldScanner, Vec<(u32, String)>) {
        let mut failures = Vec::new();
        let (ci, ci_targets) = build_ac(&self.ci_lits, true);
        let (cs, cs_targets) = build_ac(&self.cs_lits, false);
        let mut chunks = Vec::new();
        build_chunks(&self.regexes, &mut chunks, &mut failures);
        (
            FieldScanner {
                name: self.name,
                ci,
                ci_targets,
                cs,
                cs_targets,
                chunks,
                empty: self.empty.into_iter().map(|(p, _)| p).collect(),
                anything: self.anything,
                checks: self.checks,
                on_present: self.on_present,
                on_absent: self.on_absent,
                on_null: self.on_null,
            },
            failures,
        )
    }
}

type Targets = Vec<Vec<(LitAnchor, u32)>>;

fn build_ac(lits: &[(Vec<u8>, LitAnchor, u32)], ci: bool) -> (Option<AhoCorasick>, Targets) {
    if lits.is_empty() {
        return (None, Vec::new());
    }
    let mut patterns: Vec<Vec<u8>> = Vec::new();
    let mut targets: Targets = Vec::new();
    let mut index = std::collections::HashMap::new();
    for (bytes, anchor, pred) in lits {
        let key = if ci { bytes.to_ascii_lowercase() } else { bytes.clone() };
        let id = *index.entry(key.clone()).or_insert_with(|| {
            patterns.push(key);
            targets.push(Vec::new());
            patterns.len() - 1
        });
        targets[id].push((*anchor, *pred));
    }
    let ac = AhoCorasickBuilder::new()
        .ascii_case_insensitive(ci)
        .match_kind(AcMatchKind::Standard)
        .build(&patterns)
        .expect("literal automaton within aho-corasick's limits");
    (Some(ac), targets)
}

struct Chunk {
    re: meta::Regex,
    preds: Vec<u32>,
}

fn build_chunks(regexes: &[(String, u32)], out: &mut Vec<Chunk>, failures: &mut Vec<(u32, String)>) {
    if regexes.is_empty() {
        return;
    }
    let pats: Vec<&str> = regexes.iter().map(|(r, _)| r.as_str()).collect();
    let built = meta::Regex::builder()
        .configure(
            meta::Config::new()
                .match_kind(regex_automata::MatchKind::All)
                .nfa_size_limit(Some(CHUNK_NFA_LIMIT)),
        )
        .build_many(&pats);
    match built {
        Ok(re) => out.push(Chunk {
            re,
            preds: regexes.iter().map(|(_, p)| *p).collect(),
        }),
        Err(e) if regexes.len() == 1 => failures.push((regexes[0].1, e.to_string())),
        Err(_) => {
            let mid = regexes.len() / 2;
            build_chunks(&regexes[..mid], out, failures);
            build_chunks(&regexes[mid..], out, failures);
        }
    }
}

/// All predicates over one event field (or over all values, for keywords).
pub struct FieldScanner {
    pub name: String,
    ci: Option<AhoCorasick>,
    ci_targets: Targets,
    cs: Option<AhoCorasick>,
    cs_targets: Targets,
    chunks: Vec<Chunk>,
    empty: Vec<u32>,
    anything: Vec<u32>,
    checks: Vec<(u32, Check)>,
    on_present: Vec<u32>,
    on_absent: Vec<u32>,
    on_null: Vec<u32>,
}

/// Reusable per-scan state.
#[derive(Default)]
pub struct ScanScratch {
    sets: Vec<PatternSet>,
    text: String,
}

impl FieldScanner {
    /// Number of regex chunks (for the compile report).
    pub fn regex_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Scans the field in `doc`, calling `hit` for each predicate that holds.
    pub fn scan_field(&self, doc: &dyn Document, scratch: &mut ScanScratch, hit: &mut dyn FnMut(u32)) {
        let present = doc.field(&self.name, &mut |s| self.scan_scalar(s, doc, scratch, hit));
        if present {
            self.on_present.iter().for_each(|p| hit(*p));
        } else {
            self.on_absent.iter().for_each(|p| hit(*p));
        }
    }

    /// Scans every value of the event (keywords).
    pub fn scan_all(&self, doc: &dyn Document, scratch: &mut ScanScratch, hit: &mut dyn FnMut(u32)) {
        doc.all_values(&mut |s| self.scan_scalar(s, doc, scratch, hit));
    }

    fn scan_scalar(&self, s: Scalar<'_>, doc: &dyn Document, scratch: &mut ScanScratch, hit: &mut dyn FnMut(u32)) {
        if s == Scalar::Null {
            self.on_null.iter().for_each(|p| hit(*p));
            return;
        }
        let mut text_buf = std::mem::take(&mut scratch.text);
        if let Some(text) = s.text(&mut text_buf) {
            self.scan_text(text.as_bytes(), scratch, hit);
            for (pred, check) in &self.checks {
                if run_check(check, &s, text, doc) {
                    hit(*pred);
                }
            }
        }
        scratch.text = text_buf;
    }

    fn scan_text(&self, hay: &[u8], scratch: &mut ScanScratch, hit: &mut dyn FnMut(u32)) {
        if hay.is_empty() {
            self.empty.iter().for_each(|p| hit(*p));
        }
        self.anything.iter().for_each(|p| hit(*p));
        for (ac, targets) in [(&self.ci, &self.ci_targets), (&self.cs, &self.cs_targets)] {
            let Some(ac) = ac else { continue };
            for m in ac.find_overlapping_iter(hay) {
                for (anchor, pred) in &targets[m.pattern().as_usize()] {
                    let ok = match anchor {
                        LitAnchor::Contains => true,
                        LitAnchor::Prefix => m.start() == 0,
                        LitAnchor::Suffix => m.end() == hay.len(),
                        LitAnchor::Exact => m.start() == 0 && m.end() == hay.len(),
                    };
                    if ok {
                        hit(*pred);
                    }
                }
            }
        }
        if scratch.sets.len() < self.chunks.len() {
            scratch.sets.resize_with(self.chunks.len(), || PatternSet::new(0));
        }
        for (i, chunk) in self.chunks.iter().enumerate() {
            let set = &mut scratch.sets[i];
            if set.capacity() != chunk.re.pattern_len() {
                *set = PatternSet::new(chunk.re.pattern_len());
            } else {
                set.clear();
            }
            chunk.re.which_overlapping_matches(&Input::new(hay), set);
            for pid in set.iter() {
                hit(chunk.preds[pid.as_usize()]);
            }
        }
    }
}

fn run_check(check: &Check, s: &Scalar<'_>, text: &str, doc: &dyn Document) -> bool {
    match check {
        Check::Compare(op, v) => s.number().is_some_and(|n| op.holds(n, *v)),
        Check::Time(part, op, v) => time::parse(text).is_some_and(|t| op.holds(t.part(*part), *v)),
        Check::Cidr(c) => parse_ip(text).is_some_and(|ip| c.contains(&ip)),
        Check::FieldRef { field, anchor, cased } => {
            let mut found = false;
            let mut buf = String::new();
            doc.field(field, &mut |other| {
                if found {
                    return;
                }
                if let Some(o) = other.text(&mut buf) {
                    found = fieldref_holds(text, o, *anchor, *cased);
                }
            });
            found
        }
    }
}

/// Parses an IP address as events write it (IPv6 may carry a zone or brackets).
pub fn parse_ip(text: &str) -> Option<std::net::IpAddr> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    let t = t.split('%').next().unwrap_or(t);
    t.parse().ok()
}

/// Field reference comparison: `value` (this field) against `other` (the referenced one).
pub fn fieldref_holds(value: &str, other: &str, anchor: Anchor, cased: bool) -> bool {
    let (v, o) = if cased {
        (value.to_string(), other.to_string())
    } else {
        (value.to_lowercase(), other.to_lowercase())
    };
    match anchor {
        Anchor::Exact => v == o,
        Anchor::Prefix => v.starts_with(&o),
        Anchor::Suffix => v.ends_with(&o),
        Anchor::Contains => v.contains(&o),
    }
}
