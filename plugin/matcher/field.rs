//! Per-field scanners: every predicate of one event kind's rules on one event field,
//! merged so that a field value is scanned once per event whatever the number of rules.
//! (Kinds whose rules read a field with the same predicates share one scanner; the matcher
//! hands each value, turned into text and lowercased once, to every scanner of its field.)
//!
//! Costs, cheapest first:
//! - literals (`equals`, `startswith`, `endswith`, `contains`) go into a [`LiteralSet`] per
//!   case mode: a hash lookup, two trie walks and one overlapping Aho-Corasick pass find
//!   every literal where it must sit. A `windash` value with at most two dashes and no
//!   other wildcard inside is written out in each spelling of its dashes (25 at most),
//!   each a literal of the same predicate;
//! - other wildcard patterns (inner `*`, `?`, more windash dashes, non-ASCII letters under
//!   case folding) are [`Glob`]s: each registers prefilter literals (the variants of its
//!   most selective stretch) in the same pass and is verified only when one is present;
//! - `re` values are regex-automata meta regexes, one per distinct regex (merging them
//!   all into one overlapping set loses prefilters and, with many unanchored patterns,
//!   its lazy DFA thrashes: measured at ~370 ms per event on the SigmaHQ corpus). A regex
//!   whose every match contains one of a few literals (regex-syntax's prefix or suffix
//!   extraction) registers them in the literal pass and runs only when one is present.
//!   The others would run on every value; those of a small automaton (no counted
//!   repetition above `SET_MAX_REPEAT`, at most `SET_MAX_UNBOUNDED` unbounded ones)
//!   are merged into one multi-pattern regex whose lazy DFA answers which of them match
//!   in one pass (on the SigmaHQ `CommandLine` regexes: 15 patterns, 4.7x fewer ns per
//!   value than one search each), and the rest run one by one. Linear time either way.
//!   A regex that only asks for a long run of one class (`.{1000,}`) is answered by
//!   counting characters ([`CharRun`]): its automaton would give up on long values;
//! - typed checks (numbers, times, CIDR, field references) run one by one;
//! - presence checks (`exists`, `null`) cost nothing: they follow from the lookup;
//! - a keyword scanner whose every predicate needs a `contains` literal first looks for
//!   any of them in the whole event's text ([`FieldScanner::rules_out`]), and is skipped
//!   when none is there.

use regex_automata::meta;
use regex_syntax::hir::{Hir, HirKind};

use crate::event::{Document, Scalar, Vocabulary};
use crate::rule::detection::{Anchor, Cidr, CmpOp, Matcher, TimePart};
use crate::rule::pattern::Shape;
use crate::rule::values::regex_source;

use super::char_run::CharRun;
use super::glob::{self, Glob};
use super::rule_out::RuleOut;
use super::time;

/// NFA size limit of one `re` value (the rule layer checks the same limit first).
const REGEX_NFA_LIMIT: usize = crate::rule::values::REGEX_NFA_LIMIT;

/// Largest counted repetition (`{n,m}`) a regex may hold to join a field's merged set:
/// counting multiplies the states of the set's DFA (`.{1000,}` alone made the SigmaHQ
/// `CommandLine` set 180x slower than separate searches).
const SET_MAX_REPEAT: u32 = 16;

/// Most unbounded repetitions (`*`, `+`, `{n,}`) a regex may hold to join the merged set:
/// chains like `\+.*\+.*\+...` count occurrences, which multiplies states as well.
const SET_MAX_UNBOUNDED: usize = 4;

use super::literal::{Anchor as LitAnchor, LiteralSet, Target, ascii_lower};

#[derive(Clone, Debug)]
enum Check {
    Compare(CmpOp, f64),
    Time(TimePart, CmpOp, f64),
    Cidr(Cidr),
    FieldRef {
        field: String,
        /// `field`'s id in the matcher's vocabulary ([`FieldScanner::bind`]).
        id: Option<u32>,
        anchor: Anchor,
        cased: bool,
    },
}

/// Builder side of a scanner.
#[derive(Default)]
pub struct FieldBuilder {
    pub name: String,
    ci_lits: Vec<(Vec<u8>, LitAnchor, Target)>,
    cs_lits: Vec<(Vec<u8>, LitAnchor, Target)>,
    regexes: Vec<(String, u32)>,
    globs: Vec<(Glob, u32)>,
    empty: Vec<u32>,
    anything: Vec<u32>,
    checks: Vec<(u32, Check)>,
    on_present: Vec<u32>,
    on_absent: Vec<u32>,
    on_null: Vec<u32>,
    added: std::collections::HashSet<u32>,
}

impl FieldBuilder {
    pub fn new(name: &str) -> FieldBuilder {
        FieldBuilder {
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// The predicates added, in ascending order.
    pub fn preds(&self) -> Vec<u32> {
        let mut p: Vec<u32> = self.added.iter().copied().collect();
        p.sort_unstable();
        p
    }

    /// True when predicate `pred` was added.
    pub fn has(&self, pred: u32) -> bool {
        self.added.contains(&pred)
    }

    /// Adds predicate `pred` testing `m`. Returns an error text when it cannot be compiled.
    pub fn add(&mut self, pred: u32, m: &Matcher) -> Result<(), String> {
        self.added.insert(pred);
        match m {
            Matcher::Str { pattern, cased } => {
                let lit = |b: &[u8], a: LitAnchor, this: &mut FieldBuilder| {
                    // The automaton folds ASCII letters; non-ASCII letters are expanded into
                    // their case variants (bounded), else the literal becomes a glob.
                    if *cased {
                        this.cs_lits.push((b.to_vec(), a, Target::Pred(pred)));
                        return true;
                    }
                    let Ok(text) = std::str::from_utf8(b) else {
                        return false;
                    };
                    match glob::case_variants(text, glob::MAX_VARIANTS) {
                        Some(vs) => {
                            this.ci_lits.extend(
                                vs.into_iter()
                                    .map(|v| (v.into_bytes(), a, Target::Pred(pred))),
                            );
                            true
                        }
                        None => false,
                    }
                };
                let literal =
                    |p: &crate::rule::pattern::Pattern, this: &mut FieldBuilder| match p.shape() {
                        Shape::Exact([]) => {
                            this.empty.push(pred);
                            true
                        }
                        Shape::Anything => {
                            this.anything.push(pred);
                            true
                        }
                        Shape::Exact(b) => lit(b, LitAnchor::Exact, this),
                        Shape::Prefix(b) => lit(b, LitAnchor::Prefix, this),
                        Shape::Suffix(b) => lit(b, LitAnchor::Suffix, this),
                        Shape::Contains(b) => lit(b, LitAnchor::Contains, this),
                        Shape::Complex => false,
                    };
                // `windash` (` -enc ` as `[-/–—―]enc`): each spelling of the dashes is a
                // literal of its own, found by the literal pass, rather than a glob
                // verified wherever its dashless part (`enc `) occurs.
                let spellings = pattern
                    .dash_spellings(DASH_SPELLINGS)
                    .filter(|ps| ps.iter().all(|p| p.shape() != Shape::Complex));
                // A spelling with too many non-ASCII case variants stops the loop and
                // makes the whole pattern a glob as well: the spellings already added
                // only ever fire where the glob holds too.
                let done = match spellings {
                    Some(ps) => ps.iter().all(|p| literal(p, self)),
                    None => literal(pattern, self),
                };
                if !done {
                    let glob = Glob::new(pattern.pieces(), *cased).ok_or_else(|| {
                        "an encoded value with wildcards cannot be searched".to_string()
                    })?;
                    self.globs.push((glob, pred));
                }
            }
            Matcher::Regex { source, flags } => {
                self.regexes.push((regex_source(source, *flags), pred))
            }
            Matcher::Compare { op, value } => self.checks.push((pred, Check::Compare(*op, *value))),
            Matcher::Time { part, op, value } => {
                self.checks.push((pred, Check::Time(*part, *op, *value)))
            }
            Matcher::Cidr(c) => self.checks.push((pred, Check::Cidr(*c))),
            Matcher::FieldRef {
                field,
                anchor,
                cased,
            } => self.checks.push((
                pred,
                Check::FieldRef {
                    field: field.clone(),
                    id: None,
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

    /// The literals of the keyword rule-out over an event's JSON text (see
    /// `FieldScanner::rule_out`), JSON-escaped and lowercased: only when every predicate
    /// needs a `contains` literal, and no literal holds a control character (JSON writes
    /// those as `\u` escapes).
    fn rule_out_literals(
        &self,
        unfiltered_globs: &[u32],
        unfiltered_regexes: &[u32],
    ) -> Option<Vec<Vec<u8>>> {
        let every_pred_needs_a_literal = self.name.is_empty()
            && self.empty.is_empty()
            && self.anything.is_empty()
            && self.checks.is_empty()
            && self.on_null.is_empty()
            && self.on_present.is_empty()
            && self.on_absent.is_empty()
            && unfiltered_globs.is_empty()
            && unfiltered_regexes.is_empty();
        let lits: Vec<&[u8]> = self
            .ci_lits
            .iter()
            .chain(&self.cs_lits)
            .map(|(b, a, _)| (*a == LitAnchor::Contains).then_some(b.as_slice()))
            .collect::<Option<_>>()?;
        if !every_pred_needs_a_literal
            || lits.is_empty()
            || lits.iter().any(|l| l.iter().any(|b| *b < 0x20))
        {
            return None;
        }
        let escaped: Vec<Vec<u8>> = lits
            .iter()
            .map(|l| {
                let mut e = Vec::with_capacity(l.len());
                for b in *l {
                    if matches!(b, b'\\' | b'"') {
                        e.push(b'\\');
                    }
                    e.push(b.to_ascii_lowercase());
                }
                e
            })
            .collect();
        Some(escaped)
    }

    /// Builds the scanner. Regex chunks that fail on their own are reported with the
    /// predicates they carry.
    pub fn build(mut self) -> (FieldScanner, Vec<(u32, String)>) {
        let mut failures = Vec::new();
        let mut globs = Vec::new();
        let mut unfiltered_globs = Vec::new();
        for (i, (glob, pred)) in std::mem::take(&mut self.globs).into_iter().enumerate() {
            match glob.prefilter() {
                Some(lits) => {
                    let to = if glob.is_cased() {
                        &mut self.cs_lits
                    } else {
                        &mut self.ci_lits
                    };
                    to.extend(
                        lits.into_iter()
                            .map(|lit| (lit, LitAnchor::Contains, Target::Glob(i as u32))),
                    );
                }
                None => unfiltered_globs.push(i as u32),
            }
            globs.push((glob, pred));
        }
        let mut regexes: Vec<(Search, Vec<u32>)> = Vec::new();
        let mut regex_gates: Vec<Gate> = Vec::new();
        let mut unfiltered_regexes = Vec::new();
        let mut regex_sources: Vec<&str> = Vec::new();
        let mut regex_small: Vec<bool> = Vec::new();
        let mut seen: std::collections::HashMap<&str, usize> = Default::default();
        for (source, pred) in &self.regexes {
            if let Some(&i) = seen.get(source.as_str()) {
                regexes[i].1.push(*pred);
                continue;
            }
            let mut shape = RegexShape::of(source);
            let counted = shape.run.is_some();
            let search = match shape.run.take() {
                Some(run) => Ok(Search::Run(run)),
                None => meta::Regex::builder()
                    .configure(meta::Config::new().nfa_size_limit(Some(REGEX_NFA_LIMIT)))
                    .build(source)
                    .map(Search::Automaton),
            };
            match search {
                Ok(re) => {
                    let i = regexes.len() as u32;
                    match shape.required {
                        Some(lits) => self.ci_lits.extend(
                            lits.into_iter()
                                .map(|l| (l, LitAnchor::Contains, Target::Regex(i))),
                        ),
                        None => unfiltered_regexes.push(i),
                    }
                    seen.insert(source, regexes.len());
                    regexes.push((re, vec![*pred]));
                    regex_gates.push(shape.gate);
                    // A counted run is cheaper alone than as a pattern of the set.
                    regex_small.push(shape.small && !counted);
                    regex_sources.push(source.as_str());
                }
                Err(e) => failures.push((*pred, e.to_string())),
            }
        }
        let mut rule_out_literals = self
            .rule_out_literals(&unfiltered_globs, &unfiltered_regexes)
            .unwrap_or_default();
        let rule_out = RuleOut::new(&rule_out_literals);
        if rule_out.is_none() {
            rule_out_literals.clear();
        }
        let (regex_set, unfiltered_regexes) = RegexSet::split(
            &regex_sources,
            &regex_small,
            &regex_gates,
            unfiltered_regexes,
        );
        let ci = LiteralSet::new(std::mem::take(&mut self.ci_lits), true);
        let cs = LiteralSet::new(std::mem::take(&mut self.cs_lits), false);
        (
            FieldScanner {
                name: self.name,
                ci,
                cs,
                regexes,
                regex_gates,
                unfiltered_regexes,
                regex_set,
                rule_out,
                rule_out_literals,
                globs,
                unfiltered_globs,
                empty: self.empty,
                anything: self.anything,
                checks: self.checks,
                on_present: self.on_present,
                on_absent: self.on_absent,
                on_null: self.on_null,
                cache_base: 0,
            },
            failures,
        )
    }
}

/// All predicates over one event field (or over all values, for keywords).
pub struct FieldScanner {
    pub name: String,
    ci: Option<LiteralSet>,
    cs: Option<LiteralSet>,
    regexes: Vec<(Search, Vec<u32>)>,
    /// Per regex: cheap conditions every value it matches meets.
    regex_gates: Vec<Gate>,
    /// Regexes without required literals, run one by one on every value.
    unfiltered_regexes: Vec<u32>,
    /// Regexes without required literals, merged: run once on every value.
    regex_set: Option<RegexSet>,
    /// For keyword scanners whose every predicate needs one of its `contains` literals:
    /// those literals JSON-escaped, to rule out a whole event at once
    /// ([`FieldScanner::rules_out`]).
    rule_out: Option<RuleOut>,
    /// The literals `rule_out` looks for (empty without one), to merge rule-outs.
    rule_out_literals: Vec<Vec<u8>>,
    globs: Vec<(Glob, u32)>,
    unfiltered_globs: Vec<u32>,
    empty: Vec<u32>,
    anything: Vec<u32>,
    checks: Vec<(u32, Check)>,
    on_present: Vec<u32>,
    on_absent: Vec<u32>,
    on_null: Vec<u32>,
    /// This scanner's first slot in the scratch's regex caches
    /// ([`FieldScanner::number_caches`]).
    cache_base: u32,
}

/// How one distinct regex is searched.
enum Search {
    /// A regex-automata meta regex (lazy DFA, with its own prefilters).
    Automaton(meta::Regex),
    /// A run of one character class, counted ([`CharRun`]).
    Run(CharRun),
}

impl Search {
    /// `cache` is this regex's slot in the scratch's regex caches.
    fn is_match(&self, text: &str, cache: &mut Option<meta::Cache>) -> bool {
        match self {
            Search::Automaton(re) => {
                let cache = cache.get_or_insert_with(|| re.create_cache());
                re.is_match_with(cache, &regex_automata::Input::new(text))
            }
            Search::Run(run) => run.is_match(text),
        }
    }
}

/// Regexes merged into one multi-pattern regex (the field's unfiltered regexes of a small
/// automaton): one lazy DFA pass reports every pattern that matches somewhere.
struct RegexSet {
    set: meta::Regex,
    /// Per pattern of `set`: its index in the scanner's regexes.
    members: Vec<u32>,
    /// The shortest match of any member, in bytes: shorter values are not searched.
    min_len: usize,
}

impl RegexSet {
    /// Splits the unfiltered regexes into a merged set (when at least two may join, and
    /// the set builds) and those left to run one by one. `sources[r]`, `small[r]` and
    /// `gates[r]` are regex `r`'s source, [`RegexShape::small`] and gate.
    fn split(
        sources: &[&str],
        small: &[bool],
        gates: &[Gate],
        unfiltered: Vec<u32>,
    ) -> (Option<RegexSet>, Vec<u32>) {
        let (members, singles): (Vec<u32>, Vec<u32>) =
            unfiltered.into_iter().partition(|&r| small[r as usize]);
        let built = (members.len() >= 2)
            .then(|| {
                let patterns: Vec<&str> = members.iter().map(|&r| sources[r as usize]).collect();
                meta::Regex::builder()
                    .configure(
                        meta::Config::new()
                            .match_kind(regex_automata::MatchKind::All)
                            .nfa_size_limit(Some(REGEX_NFA_LIMIT)),
                    )
                    .build_many(&patterns)
                    .ok()
            })
            .flatten();
        match built {
            Some(set) => {
                let min_len = members
                    .iter()
                    .map(|&r| gates[r as usize].min_len as usize)
                    .min()
                    .unwrap_or(0);
                (
                    Some(RegexSet {
                        set,
                        members,
                        min_len,
                    }),
                    singles,
                )
            }
            // Too few to merge, or the set does not build: all run one by one.
            _ => {
                let mut all = singles;
                all.extend(members);
                all.sort_unstable();
                (None, all)
            }
        }
    }
}

/// True when a regex's automaton stays small in a merged set: no counted repetition
/// above [`SET_MAX_REPEAT`] and at most [`SET_MAX_UNBOUNDED`] unbounded repetitions.
fn small_automaton(hir: &Hir) -> bool {
    fn walk(h: &Hir, unbounded: &mut usize) -> bool {
        match h.kind() {
            HirKind::Repetition(r) => {
                if r.max.is_none() {
                    *unbounded += 1;
                }
                r.min <= SET_MAX_REPEAT
                    && r.max.is_none_or(|m| m <= SET_MAX_REPEAT)
                    && walk(&r.sub, unbounded)
            }
            HirKind::Capture(c) => walk(&c.sub, unbounded),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().all(|h| walk(h, unbounded)),
            _ => true,
        }
    }
    let mut unbounded = 0;
    walk(hir, &mut unbounded) && unbounded <= SET_MAX_UNBOUNDED
}

/// Most spellings of a `windash` pattern searched as literals (two dashes: 25); past
/// it, the pattern is a glob.
const DASH_SPELLINGS: usize = 25;

/// Reusable per-scan state, made for one matcher ([`ScanScratch::new`]).
pub struct ScanScratch {
    globs: Vec<u32>,
    regexes: Vec<u32>,
    /// Which patterns of a merged regex set matched (grown to the largest set once).
    patterns: Option<regex_automata::PatternSet>,
    /// Per regex of the matcher ([`FieldScanner::number_caches`]), its search state,
    /// made on first use. Held here rather than taken from each regex's shared pool: a
    /// thread that does not own a pool would lock a mutex twice per search.
    caches: Vec<Option<meta::Cache>>,
}

impl ScanScratch {
    /// Scratch for scanners numbered with [`FieldScanner::number_caches`] up to `caches`.
    pub fn new(caches: usize) -> ScanScratch {
        ScanScratch {
            globs: Vec::new(),
            regexes: Vec::new(),
            patterns: None,
            caches: std::iter::repeat_with(|| None).take(caches).collect(),
        }
    }
}

/// One value of a field, prepared once for every scanner that reads the field.
pub struct Value<'v> {
    pub scalar: Scalar<'v>,
    /// The value as Sigma compares it (`None` for null).
    pub text: Option<&'v str>,
    /// `text` ASCII-lowercased, for case-folding literal sets (empty when no scanner of
    /// the field folds case).
    pub lowered: &'v [u8],
}

impl<'v> Value<'v> {
    /// Prepares `scalar`: its text into `text_buf` (numbers), lowercased into
    /// `lower_buf` when `fold` and it has uppercase letters.
    pub fn prepare(
        scalar: Scalar<'v>,
        fold: bool,
        text_buf: &'v mut String,
        lower_buf: &'v mut Vec<u8>,
    ) -> Value<'v> {
        let text = match scalar {
            Scalar::Str(s) => Some(s),
            Scalar::Null => None,
            other => {
                other.text(text_buf);
                let t: &'v String = text_buf;
                Some(t.as_str())
            }
        };
        let lowered = match (fold, text) {
            (true, Some(t)) => ascii_lower(t.as_bytes(), lower_buf),
            _ => &[],
        };
        Value {
            scalar,
            text,
            lowered,
        }
    }
}

impl FieldScanner {
    /// Number of distinct regexes (for the compile report).
    pub fn regex_count(&self) -> usize {
        self.regexes.len()
    }

    /// Gives this scanner's regexes (and its merged set) the cache slots from `base` on
    /// in [`ScanScratch::new`]; returns the next free slot.
    pub fn number_caches(&mut self, base: usize) -> usize {
        self.cache_base = base as u32;
        base + self.regexes.len() + 1
    }

    /// Number of globs without a prefilter literal (verified on every value).
    pub fn unfiltered_glob_count(&self) -> usize {
        self.unfiltered_globs.len()
    }

    /// Number of globs (for the compile report).
    pub fn glob_count(&self) -> usize {
        self.globs.len()
    }

    /// True when the scanner reads values ASCII-lowercased (see [`Value::lowered`]).
    pub fn folds_case(&self) -> bool {
        self.ci.is_some()
    }

    /// True when no predicate of this scanner can hold on any value of an event with
    /// this verbatim text ([`Document::verbatim_text`]), given ASCII-lowercased.
    pub fn rules_out(&self, verbatim_lowered: &[u8]) -> bool {
        self.rule_out
            .as_ref()
            .is_some_and(|p| !p.is_match(verbatim_lowered))
    }

    /// The literals of this scanner's whole-event rule-out, JSON-escaped and lowercased
    /// (`None` when it has none): the rule-outs of several keyword scanners met by one
    /// event merge into one search ([`RuleOut::new`] of them all).
    pub fn rule_out_literals(&self) -> Option<&[Vec<u8>]> {
        self.rule_out
            .as_ref()
            .map(|_| self.rule_out_literals.as_slice())
    }

    /// True when [`FieldScanner::presence`] can fire anything.
    pub fn has_presence(&self) -> bool {
        !self.on_present.is_empty() || !self.on_absent.is_empty()
    }

    /// Fires the presence predicates: `exists`, and `null` on an absent field.
    pub fn presence(&self, present: bool, hit: &mut dyn FnMut(u32)) {
        let preds = if present {
            &self.on_present
        } else {
            &self.on_absent
        };
        preds.iter().for_each(|p| hit(*p));
    }

    /// The fields that field references of this scanner read.
    pub fn referenced(&self) -> impl Iterator<Item = &str> {
        self.checks.iter().filter_map(|(_, c)| match c {
            Check::FieldRef { field, .. } => Some(field.as_str()),
            _ => None,
        })
    }

    /// Takes the ids of [`FieldScanner::referenced`] in `vocab`, the vocabulary that
    /// [`FieldScanner::scan_value`] is then given.
    pub fn bind(&mut self, vocab: &Vocabulary) {
        for (_, c) in &mut self.checks {
            if let Check::FieldRef { field, id, .. } = c {
                *id = vocab.id(field.as_bytes());
            }
        }
    }

    /// Scans one value of the field, calling `hit` for each predicate that holds.
    /// `vocab` is the one given to [`FieldScanner::bind`].
    pub fn scan_value(
        &self,
        v: &Value<'_>,
        doc: &dyn Document,
        vocab: &Vocabulary,
        scratch: &mut ScanScratch,
        hit: &mut dyn FnMut(u32),
    ) {
        if v.scalar == Scalar::Null {
            self.on_null.iter().for_each(|p| hit(*p));
            return;
        }
        let Some(text) = v.text else { return };
        self.scan_text(text, v.lowered, scratch, hit);
        // A value is parsed as an address (or time) once for all the checks that need it.
        let mut parsed = Parsed::default();
        for (pred, check) in &self.checks {
            if run_check(check, &v.scalar, text, (doc, vocab), &mut parsed) {
                hit(*pred);
            }
        }
    }

    fn scan_text(
        &self,
        text: &str,
        lowered: &[u8],
        scratch: &mut ScanScratch,
        hit: &mut dyn FnMut(u32),
    ) {
        let hay = text.as_bytes();
        if hay.is_empty() {
            self.empty.iter().for_each(|p| hit(*p));
        }
        self.anything.iter().for_each(|p| hit(*p));
        scratch.globs.clear();
        scratch.regexes.clear();
        let globs = &mut scratch.globs;
        let regexes = &mut scratch.regexes;
        let mut found = |t| match t {
            Target::Pred(p) => hit(p),
            Target::Glob(g) => globs.push(g),
            Target::Regex(r) => regexes.push(r),
        };
        if let Some(set) = &self.ci {
            set.scan(lowered, &mut found);
        }
        if let Some(set) = &self.cs {
            set.scan(hay, &mut found);
        }
        each_candidate(&mut scratch.globs, &self.unfiltered_globs, |g| {
            let (glob, pred) = &self.globs[g as usize];
            if glob.is_match(text) {
                hit(*pred);
            }
        });
        let caches = &mut scratch.caches[self.cache_base as usize..];
        each_candidate(&mut scratch.regexes, &self.unfiltered_regexes, |r| {
            let (re, preds) = &self.regexes[r as usize];
            if self.regex_gates[r as usize].admits(hay)
                && re.is_match(text, &mut caches[r as usize])
            {
                preds.iter().for_each(|p| hit(*p));
            }
        });
        if let Some(rs) = &self.regex_set
            && hay.len() >= rs.min_len
        {
            let n = rs.set.pattern_len();
            let matched = match &mut scratch.patterns {
                Some(p) if p.capacity() >= n => p,
                slot => slot.insert(regex_automata::PatternSet::new(n)),
            };
            matched.clear();
            let cache = caches[self.regexes.len()].get_or_insert_with(|| rs.set.create_cache());
            rs.set
                .which_overlapping_matches_with(cache, &regex_automata::Input::new(hay), matched);
            for pid in matched.iter() {
                let r = rs.members[pid.as_usize()];
                self.regexes[r as usize].1.iter().for_each(|p| hit(*p));
            }
        }
    }
}

/// Calls `verify` once for each candidate: those the literal pass `found` (in any order,
/// perhaps repeated) and those verified `always`.
fn each_candidate(found: &mut Vec<u32>, always: &[u32], mut verify: impl FnMut(u32)) {
    found.extend_from_slice(always);
    if found.is_empty() {
        return;
    }
    found.sort_unstable();
    found.dedup();
    found.iter().for_each(|c| verify(*c));
}

/// What compiling reads off one regex's syntax tree, parsed once.
struct RegexShape {
    /// Literals one of which every match contains, ASCII-lowercased (a necessary
    /// condition for the case-folding literal pass), or `None` when the regex has no such
    /// finite set of literals of at least two bytes. Taken from the literal prefixes or
    /// suffixes of the whole regex or of a part of its top-level concatenation (after
    /// [`fold_case_pairs`]), whichever set has the longer shortest literal.
    required: Option<Vec<Vec<u8>>>,
    gate: Gate,
    /// Its automaton stays small in a merged set ([`small_automaton`]).
    small: bool,
    /// It only asks for a run of one character class, answered by counting.
    run: Option<CharRun>,
}

impl RegexShape {
    /// The shape of `source`; a regex that does not parse here gets no literals, an open
    /// gate and no place in a merged set.
    fn of(source: &str) -> RegexShape {
        let parsed = regex_syntax::ParserBuilder::new()
            .nest_limit(100)
            .build()
            .parse(source);
        let Ok(hir) = parsed else {
            return RegexShape {
                required: None,
                gate: Gate::default(),
                small: false,
                run: None,
            };
        };
        let sets = literal_sets(&fold_case_pairs(&hir));
        // The set with the longest shortest literal, from the whole regex or from a part
        // of it (in `\.exe\s+[^"]{0,64}werfaultsecure\.exe` the part is the rare one).
        // Measured on the SigmaHQ corpus over the evtx samples: 0.6% fewer instructions
        // per event than the whole regex's sets only.
        let required = sets
            .iter()
            .filter(|(_, shortest, _)| *shortest >= 2)
            .max_by_key(|(whole, shortest, out)| (*shortest, *whole, std::cmp::Reverse(out.len())))
            .map(|(_, _, out)| out.clone());
        RegexShape {
            required,
            gate: Gate::of(&hir, &sets),
            small: small_automaton(&hir),
            run: CharRun::of(&hir),
        }
    }
}

/// `hir` with every class of exactly an ASCII letter's two cases (`(?i)w`, `[Ww]`)
/// turned into the lowercase letter, and adjacent literals merged: literal extraction then
/// sees `werfaultsecure` as one literal rather than 2^14 case variants it gives up on. The
/// result only serves the case-folding literal pass, which lowercases the value first.
fn fold_case_pairs(hir: &Hir) -> Hir {
    use regex_syntax::hir::{Capture, Class, Repetition};
    match hir.kind() {
        HirKind::Class(class) => {
            // Code points or bytes alike, as numbers (ranges sort: uppercase first).
            let ranges: Vec<(u32, u32)> = match class {
                Class::Unicode(c) => c
                    .ranges()
                    .iter()
                    .map(|r| (r.start() as u32, r.end() as u32))
                    .collect(),
                Class::Bytes(c) => c
                    .ranges()
                    .iter()
                    .map(|r| (r.start().into(), r.end().into()))
                    .collect(),
            };
            let lower = match ranges[..] {
                [(a, a_end), (b, b_end)] if a == a_end && b == b_end => {
                    let (a, b) = (u8::try_from(a).ok(), u8::try_from(b).ok());
                    a.zip(b)
                        .filter(|(a, b)| a.is_ascii_uppercase() && *b == a.to_ascii_lowercase())
                        .map(|(_, b)| b)
                }
                _ => None,
            };
            match lower {
                Some(lower) => Hir::literal([lower]),
                None => hir.clone(),
            }
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            sub: Box::new(fold_case_pairs(&r.sub)),
            ..r.clone()
        }),
        HirKind::Capture(c) => Hir::capture(Capture {
            sub: Box::new(fold_case_pairs(&c.sub)),
            ..c.clone()
        }),
        HirKind::Concat(subs) => Hir::concat(subs.iter().map(fold_case_pairs).collect()),
        HirKind::Alternation(subs) => Hir::alternation(subs.iter().map(fold_case_pairs).collect()),
        _ => hir.clone(),
    }
}

/// A finite set of literals one of which every match contains: (from the whole regex,
/// shortest literal's length, the literals ASCII-lowercased).
type LiteralSetOf = (bool, usize, Vec<Vec<u8>>);

/// Finite sets of literals one of which every match of `source` contains, each with
/// whether it comes from the whole regex and its shortest literal's length,
/// ASCII-lowercased: the prefixes and the suffixes of the whole regex, and those of each
/// part of a top-level concatenation (every match
/// contains a match of each part: in `[0-9]{1,3}\.[0-9]{1,3}` the dot).
fn literal_sets(hir: &Hir) -> Vec<LiteralSetOf> {
    use regex_syntax::hir::literal::{ExtractKind, Extractor};
    let mut top = hir;
    while let HirKind::Capture(c) = top.kind() {
        top = &c.sub;
    }
    let parts: Vec<&Hir> = match top.kind() {
        HirKind::Concat(subs) => std::iter::once(hir).chain(subs.iter()).collect(),
        _ => vec![hir],
    };
    let mut sets = Vec::new();
    for (i, part) in parts.into_iter().enumerate() {
        for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
            let seq = Extractor::new().kind(kind).extract(part);
            let Some(lits) = seq.literals() else { continue };
            let mut out: Vec<Vec<u8>> = lits
                .iter()
                .map(|l| l.as_bytes().to_ascii_lowercase())
                .collect();
            out.sort();
            out.dedup();
            if let Some(shortest) = out.iter().map(Vec::len).min() {
                sets.push((i == 0, shortest, out));
            }
        }
    }
    sets
}

/// Cheap conditions every value a regex matches meets, checked before running it: at
/// least its shortest match's length (`.{1000,}`, `\s[a-f0-9]{64}\s...` rule out most
/// values by length alone), and, when its only required literals are single bytes (too
/// common for the literal pass, as in `\{.*\{.*\{`), one of at most three non-letter
/// ASCII bytes (found with `memchr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Gate {
    min_len: u32,
    /// One of `bytes[..n_bytes]` occurs in every match (none: no such condition).
    bytes: [u8; 3],
    n_bytes: u8,
}

impl Gate {
    /// The gate of the regex `hir`, whose literal sets are `sets` ([`literal_sets`]).
    fn of(hir: &Hir, sets: &[LiteralSetOf]) -> Gate {
        let min_len = hir.properties().minimum_len().unwrap_or(0);
        // The smallest set of first bytes among the literal sets: any occurrence of a
        // literal is an occurrence of its first byte. Letters are left out (the value is
        // searched as written, not lowercased), non-ASCII too (case folding).
        let bytes = sets
            .iter()
            .filter(|(_, shortest, _)| *shortest >= 1)
            .filter_map(|(_, _, lits)| {
                let mut first: Vec<u8> = lits.iter().filter_map(|l| l.first().copied()).collect();
                first.sort_unstable();
                first.dedup();
                (first.len() <= 3
                    && first
                        .iter()
                        .all(|b| b.is_ascii() && !b.is_ascii_alphabetic()))
                .then_some(first)
            })
            .min_by_key(Vec::len)
            .unwrap_or_default();
        let mut gate = Gate {
            min_len: u32::try_from(min_len).unwrap_or(u32::MAX),
            bytes: [0; 3],
            n_bytes: bytes.len() as u8,
        };
        gate.bytes[..bytes.len()].copy_from_slice(&bytes);
        gate
    }

    /// False when no value like `hay` can match.
    #[inline]
    fn admits(&self, hay: &[u8]) -> bool {
        hay.len() >= self.min_len as usize
            && match self.bytes[..self.n_bytes as usize] {
                [] => true,
                [a] => memchr::memchr(a, hay).is_some(),
                [a, b] => memchr::memchr2(a, b, hay).is_some(),
                [a, b, c] => memchr::memchr3(a, b, c, hay).is_some(),
                _ => true,
            }
    }
}

/// A value's parses, made on first need by the checks of one scanner.
#[derive(Default)]
struct Parsed {
    ip: Option<Option<std::net::IpAddr>>,
    time: Option<Option<time::Timestamp>>,
}

fn run_check(
    check: &Check,
    s: &Scalar<'_>,
    text: &str,
    (doc, vocab): (&dyn Document, &Vocabulary),
    parsed: &mut Parsed,
) -> bool {
    match check {
        Check::Compare(op, v) => s.number().is_some_and(|n| op.holds(n, *v)),
        Check::Time(part, op, v) => parsed
            .time
            .get_or_insert_with(|| time::parse(text))
            .is_some_and(|t| op.holds(t.part(*part), *v)),
        Check::Cidr(c) => parsed
            .ip
            .get_or_insert_with(|| parse_ip(text))
            .is_some_and(|ip| c.contains(&ip)),
        Check::FieldRef {
            field,
            id,
            anchor,
            cased,
        } => {
            let mut found = false;
            let mut buf = String::new();
            let mut visit = |other: Scalar<'_>| {
                if found {
                    return;
                }
                if let Some(o) = other.text(&mut buf) {
                    found = fieldref_holds(text, o, *anchor, *cased);
                }
            };
            match id {
                Some(id) => doc.field_in(vocab, *id, &mut visit),
                None => doc.field(field, &mut visit),
            };
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
/// Case folding is the one of plain values ([`glob::char_eq`]).
pub fn fieldref_holds(value: &str, other: &str, anchor: Anchor, cased: bool) -> bool {
    let eq = |a: char, b: char| glob::char_eq(a, b, cased);
    // `other` is a prefix of `v`, character by character.
    let starts = |v: std::str::Chars<'_>| {
        let mut v = v;
        other.chars().all(|o| v.next().is_some_and(|c| eq(o, c)))
    };
    match anchor {
        Anchor::Exact => {
            value.chars().count() == other.chars().count()
                && value.chars().zip(other.chars()).all(|(c, o)| eq(o, c))
        }
        Anchor::Prefix => starts(value.chars()),
        Anchor::Suffix => {
            let mut v = value.chars().rev();
            other
                .chars()
                .rev()
                .all(|o| v.next().is_some_and(|c| eq(o, c)))
        }
        Anchor::Contains => {
            other.is_empty()
                || value
                    .char_indices()
                    .any(|(i, _)| starts(value[i..].chars()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_prefilter_literals_are_necessary() {
        // (regex, its literals or None, texts that match, texts that do not)
        type Case<'a> = (&'a str, Option<&'a [&'a str]>, &'a [&'a str], &'a [&'a str]);
        let cases: [Case; 8] = [
            // Unicode case folding: `s` also matches U+017F (long s).
            (
                r"(?i)\\svchost\.exe$",
                Some(&[
                    "\\svchost.exe",
                    "\\svcho\u{17f}t.exe",
                    "\\\u{17f}vchost.exe",
                    "\\\u{17f}vcho\u{17f}t.exe",
                ]),
                &["C:\\SVCHOST.EXE"],
                &["svchost.exe"],
            ),
            (
                r"foo(bar|baz)",
                Some(&["foobar", "foobaz"]),
                &["xfoobaz"],
                &["foo", "FOOBAR"],
            ),
            (r"[a-z]+\.ps1", Some(&[".ps1"]), &["run.ps1"], &["run.psm1"]),
            (r"^\d{5}$", None, &["12345"], &["1234"]),
            (r".*", None, &[""], &[]),
            (r"(?i)cmd\s+/c", Some(&["cmd"]), &["CMD  /C"], &["cm /c"]),
            // A rarer literal inside the regex beats the whole regex's prefixes; case
            // pairs (`(?i)`, `[Ww]`) fold into one literal instead of 2^n variants.
            (
                r"(?i)\.exe\s+[^x]{0,9}werfault\.exe",
                Some(&["werfault.exe"]),
                &["a.EXE  -p WerFault.exe"],
                &["a.exe werfault", "werfault.exe"],
            ),
            (
                r"[Rr][Uu][Nn][Dd][Ll][Ll]32\.exe,",
                Some(&["rundll32.exe,"]),
                &["RunDll32.exe,#1"],
                &["rundll32.EXE,", "rundll32.exe"],
            ),
        ];
        for (re, want, yes, no) in cases {
            let got = RegexShape::of(re).required;
            let want: Option<Vec<Vec<u8>>> =
                want.map(|w| w.iter().map(|l| l.as_bytes().to_vec()).collect());
            assert_eq!(got, want, "{re}");
            let compiled = meta::Regex::new(re).unwrap();
            for t in yes.iter().chain(no) {
                let matched = compiled.is_match(t);
                assert_eq!(matched, yes.contains(t), "{re} on {t}");
                // The prefilter never rejects a value the regex matches.
                if let (true, Some(lits)) = (matched, &got) {
                    let lower = t.to_ascii_lowercase();
                    assert!(
                        lits.iter()
                            .any(|l| lower.as_bytes().windows(l.len()).any(|w| w == l)),
                        "{re} on {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn merged_regex_set_answers_like_one_search_each() {
        let sources = [
            r"\s-[FTd]\s",
            r"(?i)\s(-u|--user)\s*:",
            r":[^\\]",
            r"^\d{5}$",
            r"[A-F0-9]{8}-[A-F0-9]{4}",
            r".{40,}",
            r"\+.*\+.*\+.*\+.*\+.*\+",
            r"\bx\b",
        ];
        let shapes: Vec<RegexShape> = sources.iter().map(|s| RegexShape::of(s)).collect();
        assert!(shapes[0].small && shapes[3].small);
        assert!(!shapes[5].small, "counted repetition above the cap");
        assert!(!shapes[6].small, "more unbounded repetitions than the cap");
        let singles: Vec<meta::Regex> = sources
            .iter()
            .map(|s| meta::Regex::new(s).unwrap())
            .collect();
        let small: Vec<bool> = shapes.iter().map(|s| s.small).collect();
        let gates: Vec<Gate> = shapes.iter().map(|s| s.gate).collect();
        let all = (0..sources.len() as u32).collect();
        let (set, alone) = RegexSet::split(&sources, &small, &gates, all);
        let set = set.expect("six small regexes merge");
        assert_eq!(alone, [5, 6]);
        let texts = [
            "",
            "a -T b",
            "x --USER : y",
            "c:\\d",
            "c:d",
            "12345",
            "123456",
            "DEADBEEF-0A0B",
            "deadbeef-0a0b",
            "+a+b+c+d+e+f",
            "y x z",
            "yxz",
            "0123456789012345678901234567890123456789",
        ];
        let mut matched = regex_automata::PatternSet::new(set.set.pattern_len());
        let mut hits = 0;
        for t in texts {
            matched.clear();
            set.set
                .which_overlapping_matches(&regex_automata::Input::new(t), &mut matched);
            let got: Vec<u32> = matched.iter().map(|p| set.members[p.as_usize()]).collect();
            let want: Vec<u32> = set
                .members
                .iter()
                .copied()
                .filter(|&r| singles[r as usize].is_match(t))
                .collect();
            assert_eq!(got, want, "{t:?}");
            hits += got.len();
        }
        assert!(hits >= 8, "the texts exercise the set: {hits} matches");
    }

    #[test]
    fn regex_gates_never_reject_a_value_the_regex_matches() {
        // (regex, expected gate, texts that match, texts that do not)
        type Case<'a> = (&'a str, usize, &'a [u8], &'a [&'a str], &'a [&'a str]);
        let cases: [Case; 6] = [
            (r".{10,}", 10, b"", &["0123456789"], &["012345678"]),
            (r"\{.*\{", 2, b"{", &["a{b{c"], &["a{b", "ab"]),
            (r"\+.*\+|\^.*\^", 2, b"+^", &["1+2+3", "^x^"], &["1+2^"]),
            // Letters give no byte gate (the value is not lowercased for it).
            (r"(?i)a.*b", 2, b"", &["A-B"], &["b a"]),
            // The dot of the middle part is required.
            (
                r"[0-9]{1,3}\.[0-9]{1,3}",
                3,
                b".",
                &["1.2", "10.20.30.40"],
                &["1.x", "12"],
            ),
            // A required byte from the middle of a concatenation.
            (
                r"(?i)\.exe\s+[^x]{0,4}werfault\.exe",
                17,
                b".",
                &["a.EXE  werfault.exe"],
                &["a.exe werfaul.exe"],
            ),
        ];
        for (re, min_len, bytes, yes, no) in cases {
            let gate = RegexShape::of(re).gate;
            assert_eq!(gate.min_len as usize, min_len, "{re}");
            assert_eq!(&gate.bytes[..gate.n_bytes as usize], bytes, "{re}");
            let compiled = meta::Regex::new(re).unwrap();
            for t in yes.iter().chain(no) {
                let matched = compiled.is_match(t);
                assert_eq!(matched, yes.contains(t), "{re} on {t}");
                assert!(
                    !matched || gate.admits(t.as_bytes()),
                    "{re} gate rejects {t}"
                );
            }
            assert!(!gate.admits(b""), "{re}: the empty value is ruled out");
        }
    }
}
