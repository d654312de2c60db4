//! The compiled matcher: all rules in one structure, evaluated per event in three steps.
//!
//! 1. **Narrow** ([`selector`]): the event's logsource keys pick the rule variants that
//!    may fire. A variant is a rule on one kind of event of its logsource (process_creation
//!    on Sysmon 1, process_creation on Security 4688, ...), with that kind's field renames
//!    applied, and narrowed to the event ids its condition requires ([`narrow`]). Nothing
//!    else is read for an event no rule's logsource covers.
//! 2. **Scan** ([`field`]): each field the candidates need is looked up once (by its id in
//!    the matcher's [`Vocabulary`]: the event resolves all of them in one pass), each of its
//!    values turned into text and lowercased once, and scanned by the merged automata of
//!    each candidate kind's scanner for that field (kinds with the same predicates on a
//!    field share one), setting the result of every predicate on it.
//! 3. **Decide** ([`program`]): a candidate is evaluated only when one of its trigger
//!    predicates fired (predicates one of which must hold for it to: of an `and`, those of
//!    the item least likely to hold), its condition running as a program over predicate
//!    results, with short-circuit.
//!
//! Predicates are deduplicated across rules by (field, test), so rules that share an
//! indicator share its cost.

pub mod char_run;
pub mod field;
pub mod glob;
pub mod lists;
pub mod literal;
pub mod marks;
pub mod narrow;
pub mod program;
pub mod rule_out;
pub mod selector;
pub mod time;

use std::collections::HashMap;

use crate::event::{Document, Scalar, Vocabulary};
use crate::logsource::{EventKind, LogsourceMap};
use crate::rule::Rule;
use crate::rule::condition::Expr;
use crate::rule::detection::{FieldTest, SearchExpr};

use field::{FieldBuilder, FieldScanner, ScanScratch, Value};
use lists::Lists;
use marks::Marks;
use program::{Frame, Node, Op};
use rule_out::RuleOut;
use selector::{SelectScratch, SelectorIndex};

use crate::hash::FastMap;

/// One rule on one kind of event: 16 bytes, read for every variant a fired predicate
/// triggers (the fields it reads are in [`Matcher::variant_fields`], needed rarely).
struct Variant {
    rule: u32,
    kind: u32,
    /// Its condition: `Matcher::programs[program.0 as usize..][..program.1 as usize]`.
    program: (u32, u32),
}

/// A necessary condition of a program: predicates at least one of which must hold for it
/// to hold (`None` when no such set exists, e.g. under `not`). Variants with one are only
/// evaluated when one of these predicates fired, which skips most of the thousands of
/// candidate rules on a typical event.
///
/// Of an `and`'s items any one's set will do; the one taken is the one whose predicates
/// are least likely to hold on an arbitrary event, by [`pred_weight`] summed (the fewest
/// predicates when weights tie), so that a variant is evaluated as seldom as its
/// condition allows.
fn triggers(program: &[Op], weight: impl Fn(u32) -> u32) -> Option<Vec<u32>> {
    let mut stack: Vec<Option<Vec<u32>>> = Vec::new();
    for op in program {
        match *op {
            Op::Pred(p) => stack.push(Some(vec![p])),
            Op::Const(true) => stack.push(None),
            Op::Const(false) => stack.push(Some(Vec::new())),
            Op::Not => {
                stack.pop();
                stack.push(None);
            }
            Op::And(n) => {
                let items = stack.split_off(stack.len() - n as usize);
                stack.push(
                    items
                        .into_iter()
                        .flatten()
                        .min_by_key(|ps| (ps.iter().map(|p| weight(*p)).sum::<u32>(), ps.len())),
                );
            }
            Op::Or(n) | Op::AtLeast(_, n) => {
                let items = stack.split_off(stack.len() - n as usize);
                let union: Option<Vec<u32>> =
                    items.into_iter().try_fold(Vec::new(), |mut acc, item| {
                        acc.extend(item?);
                        Some(acc)
                    });
                stack.push(union.map(|mut u| {
                    u.sort_unstable();
                    u.dedup();
                    u
                }));
            }
        }
    }
    stack.pop().flatten()
}

/// How likely a test is to hold on an arbitrary event, as a rough weight for choosing
/// trigger sets ([`triggers`]): from the test alone, never from sample events. A whole
/// value or a long anchored literal seldom holds; a short `contains` literal (` -`, `.`)
/// holds on many values, and `exists` on every event that has the field.
fn pred_weight(m: &crate::rule::detection::Matcher) -> u32 {
    use crate::rule::detection::Matcher as M;
    use crate::rule::pattern::{Piece, Shape};
    // The longest literal stretch of a pattern: what any search for it must find.
    let longest = |pattern: &crate::rule::pattern::Pattern| {
        pattern
            .pieces()
            .iter()
            .map(|p| match p {
                Piece::Literal(b) => b.len(),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    };
    let by_length = |len: usize| match len {
        0 => 64,
        1..=3 => 16,
        4..=7 => 4,
        _ => 2,
    };
    match m {
        M::Str { pattern, .. } => match pattern.shape() {
            Shape::Exact([]) => 8,
            Shape::Exact(_) => 1,
            Shape::Prefix(b) | Shape::Suffix(b) => by_length(b.len()).min(8),
            Shape::Contains(b) => by_length(b.len()),
            Shape::Anything => 64,
            Shape::Complex => by_length(longest(pattern)),
        },
        M::Regex { .. } => 8,
        M::Compare { .. } | M::Time { .. } | M::Cidr(_) | M::FieldRef { .. } => 8,
        M::Exists(true) => 64,
        M::Exists(false) | M::Null => 32,
    }
}

/// Sorts `out[start..]` and removes its duplicates, in place.
fn sort_dedup_from<T: Ord + Copy>(out: &mut Vec<T>, start: usize) {
    out[start..].sort_unstable();
    let mut w = start;
    for r in start..out.len() {
        if w == start || out[w - 1] != out[r] {
            out[w] = out[r];
            w += 1;
        }
    }
    out.truncate(w);
}

/// Why a loaded rule will not fire, found while compiling.
#[derive(Clone, Debug, PartialEq)]
pub enum CompileNote {
    /// The mapping has no entry for the rule's logsource.
    UnmappedLogsource { rule: usize, logsource: String },
    /// A pattern hit a size limit; the rule is disabled.
    TooLarge { rule: usize, reason: String },
}

/// All rules compiled together.
pub struct Matcher {
    variants: Vec<Variant>,
    /// Per variant: the field scanners it reads (indices into `fields`).
    variant_fields: Lists,
    /// The programs of all variants in prefix order, laid end to end (see
    /// [`Variant::program`]).
    programs: Vec<Node>,
    /// Per kind: variants with no trigger set (always evaluated on that kind).
    kind_always: Lists,
    /// Per kind: every field its variants read.
    kind_fields: Vec<Vec<u32>>,
    /// Per predicate: the variants it triggers.
    pred_triggers: Lists,
    selectors: SelectorIndex,
    fields: Vec<FieldScanner>,
    /// Per scanner: its field name's id in `vocab` (scanners of one name share an id).
    field_names: Vec<u32>,
    /// Per scanner: [`FOLDS`], [`PRESENCE`].
    scanner_flags: Vec<u8>,
    /// The vocabulary id of the keyword pseudo-field (`""`), when a rule has keywords.
    keywords: Option<u32>,
    /// Every field name the matcher reads events by: the scanners', the selector's, those
    /// of field references.
    vocab: Vocabulary,
    n_preds: usize,
    n_rules: usize,
    /// Per predicate: its field name's id in `vocab` (the keyword pseudo-field for
    /// keywords), for [`Matcher::predicate_field`].
    pred_names: Vec<u32>,
    /// Per rule: its variants.
    rule_variants: Lists,
    /// Regex cache slots of the scanners ([`ScanScratch::new`]).
    regex_caches: usize,
}

/// Per-thread state for matching; create one with [`Matcher::scratch`] and reuse it.
pub struct Scratch {
    generation: u32,
    /// Predicates that hold on this event.
    fired: Marks,
    /// Variants evaluated on this event.
    evaluated: Marks,
    field_gen: Vec<u32>,
    kind_gen: Vec<u32>,
    frames: Vec<Frame>,
    scan: ScanScratch,
    select: SelectScratch,
    kinds: Vec<u32>,
    /// Per set of event kinds (sorted ids, as `kinds` after selection): how its events
    /// are scanned.
    plans: FastMap<Vec<u32>, Plan>,
    text_buf: String,
    lower_buf: Vec<u8>,
    /// The event's verbatim text, lowercased (keyword prefilter).
    event_lower: Vec<u8>,
}

/// How the events of one set of kinds are scanned, worked out on the first such event.
struct Plan {
    /// (field name, scanner) pairs, sorted by name, each scanner once.
    fields: Vec<(u32, u32)>,
    /// When several keyword scanners each rule out events by their literals: one search
    /// for all their literals, so the event's text is searched once, not once each.
    keywords: Option<RuleOut>,
}

/// Compile statistics.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rules: usize,
    pub variants: usize,
    pub predicates: usize,
    pub fields: usize,
    pub event_kinds: usize,
    pub regexes: usize,
    pub globs: usize,
    pub unfiltered_globs: usize,
}

const KEYWORDS: &str = "";

/// Scanner flag: scans values ASCII-lowercased.
const FOLDS: u8 = 1;
/// Scanner flag: has presence predicates (`exists`, `null`).
const PRESENCE: u8 = 2;

/// Scanner plans a thread keeps (one per distinct set of event kinds seen) before it
/// starts over.
const MAX_PLANS: usize = 4096;

struct Compiler<'a> {
    preds: HashMap<(String, String), u32>,
    fields: Vec<FieldBuilder>,
    /// Scanners by (event kind, field): each kind scans a field with its own rules'
    /// predicates only, so a pattern of a rare kind costs nothing on other events.
    field_ids: HashMap<(u32, String), u32>,
    pred_rules: Vec<Vec<u32>>,
    /// Per predicate: the field it tests (after the kind's renames).
    pred_fields: Vec<String>,
    /// Per predicate: its [`pred_weight`].
    pred_weights: Vec<u32>,
    errors: Vec<(u32, String)>,
    rule: u32,
    kind: &'a EventKind,
    kind_id: u32,
}

impl Compiler<'_> {
    fn field(&mut self, name: &str) -> u32 {
        let key = (self.kind_id, name.to_string());
        if let Some(id) = self.field_ids.get(&key) {
            return *id;
        }
        let id = self.fields.len() as u32;
        self.fields.push(FieldBuilder::new(name));
        self.field_ids.insert(key, id);
        id
    }

    fn pred(
        &mut self,
        field: &str,
        m: &crate::rule::detection::Matcher,
        used: &mut Vec<u32>,
    ) -> u32 {
        let fid = self.field(field);
        if !used.contains(&fid) {
            used.push(fid);
        }
        let key = (field.to_string(), format!("{m:?}"));
        if let Some(&p) = self.preds.get(&key) {
            // Shared with an earlier rule; a scanner of another kind needs it as well.
            if !self.fields[fid as usize].has(p)
                && let Err(e) = self.fields[fid as usize].add(p, m)
            {
                self.errors.push((self.rule, e));
            }
            if !self.pred_rules[p as usize].contains(&self.rule) {
                self.pred_rules[p as usize].push(self.rule);
            }
            return p;
        }
        let id = self.pred_rules.len() as u32;
        self.pred_rules.push(vec![self.rule]);
        self.pred_fields.push(field.to_string());
        self.pred_weights.push(pred_weight(m));
        if let Err(e) = self.fields[fid as usize].add(id, m) {
            self.errors.push((self.rule, e));
        }
        self.preds.insert(key, id);
        id
    }

    fn test(&mut self, t: &FieldTest, ops: &mut Vec<Op>, used: &mut Vec<u32>) {
        let field = match &t.field {
            Some(f) => self.kind.resolve(f).to_string(),
            None => KEYWORDS.to_string(),
        };
        for v in &t.values {
            for m in &v.any {
                // A field reference names a Sigma field too: the kind's renames apply to it.
                let renamed;
                let m = match m {
                    crate::rule::detection::Matcher::FieldRef {
                        field: other,
                        anchor,
                        cased,
                    } if self.kind.resolve(other) != other => {
                        renamed = crate::rule::detection::Matcher::FieldRef {
                            field: self.kind.resolve(other).to_string(),
                            anchor: *anchor,
                            cased: *cased,
                        };
                        &renamed
                    }
                    m => m,
                };
                let p = self.pred(&field, m, used);
                ops.push(Op::Pred(p));
            }
            if v.any.len() > 1 {
                ops.push(Op::Or(v.any.len() as u32));
            }
        }
        if t.values.len() > 1 {
            let n = t.values.len() as u32;
            ops.push(if t.all { Op::And(n) } else { Op::Or(n) });
        }
        if t.negated {
            ops.push(Op::Not);
        }
    }

    fn search(&mut self, e: &SearchExpr, ops: &mut Vec<Op>, used: &mut Vec<u32>) {
        match e {
            SearchExpr::Test(t) => self.test(t, ops, used),
            SearchExpr::And(items) | SearchExpr::Or(items) => {
                for i in items {
                    self.search(i, ops, used);
                }
                let n = items.len() as u32;
                ops.push(if matches!(e, SearchExpr::And(_)) {
                    Op::And(n)
                } else {
                    Op::Or(n)
                });
            }
        }
    }

    fn expr(&mut self, rule: &Rule, e: &Expr, ops: &mut Vec<Op>, used: &mut Vec<u32>) {
        match e {
            Expr::Search(i) => self.search(&rule.detection.searches[*i].expr, ops, used),
            Expr::Not(inner) => {
                self.expr(rule, inner, ops, used);
                ops.push(Op::Not);
            }
            Expr::And(items) | Expr::Or(items) | Expr::AtLeast(_, items) => {
                for i in items {
                    self.expr(rule, i, ops, used);
                }
                let n = items.len() as u32;
                ops.push(match e {
                    Expr::And(_) => Op::And(n),
                    Expr::Or(_) => Op::Or(n),
                    Expr::AtLeast(k, _) => Op::AtLeast(*k as u32, n),
                    _ => unreachable!(),
                });
            }
        }
    }
}

impl Matcher {
    /// Compiles `rules` against a logsource mapping. Notes say which rules will not fire
    /// and why; the matcher is usable regardless.
    pub fn compile(rules: &[Rule], map: &LogsourceMap) -> (Matcher, Vec<CompileNote>) {
        let mut notes = Vec::new();
        let mut selectors = SelectorIndex::default();
        let mut kind_variants: Vec<Vec<u32>> = Vec::new();
        let placeholder_kind = EventKind {
            when: Vec::new(),
            rename: Vec::new(),
        };
        let mut c = Compiler {
            preds: HashMap::new(),
            fields: Vec::new(),
            field_ids: HashMap::new(),
            pred_rules: Vec::new(),
            pred_fields: Vec::new(),
            pred_weights: Vec::new(),
            errors: Vec::new(),
            rule: 0,
            kind: &placeholder_kind,
            kind_id: 0,
        };
        let mut variants = Vec::new();
        let mut variant_fields: Vec<Vec<u32>> = Vec::new();
        // Every variant's postfix program, one after the other, and where each one is.
        let mut ops = Vec::new();
        let mut postfix: Vec<std::ops::Range<usize>> = Vec::new();
        let mut resolved: Vec<(usize, Vec<EventKind>)> = Vec::new();
        for (ri, rule) in rules.iter().enumerate() {
            match map.resolve(&rule.logsource) {
                Some(kinds) => resolved.push((
                    ri,
                    kinds
                        .into_iter()
                        .map(|k| narrow::narrowed(rule, &k).unwrap_or(k))
                        .collect(),
                )),
                None => notes.push(CompileNote::UnmappedLogsource {
                    rule: ri,
                    logsource: rule.logsource.to_string(),
                }),
            }
        }
        for (ri, kinds) in &resolved {
            let rule = &rules[*ri];
            for kind in kinds {
                let kid = selectors.intern(kind) as usize;
                if kind_variants.len() <= kid {
                    kind_variants.resize_with(kid + 1, Vec::new);
                }
                c.rule = *ri as u32;
                c.kind = kind;
                c.kind_id = kid as u32;
                let start = ops.len();
                let mut used = Vec::new();
                c.expr(rule, &rule.detection.expr, &mut ops, &mut used);
                kind_variants[kid].push(variants.len() as u32);
                postfix.push(start..ops.len());
                variants.push(Variant {
                    rule: *ri as u32,
                    kind: kid as u32,
                    // Set when the prefix programs are laid out, below.
                    program: (0, 0),
                });
                variant_fields.push(used);
            }
        }
        let n_preds = c.pred_rules.len();
        let mut errors = std::mem::take(&mut c.errors);
        let pred_rules = std::mem::take(&mut c.pred_rules);
        // Kinds that read a field with the same predicates (process creation in Sysmon
        // and in Security 4688, for most fields) share one scanner: built once, and
        // scanned once on an event of both kinds.
        let mut same: HashMap<(String, Vec<u32>), u32> = HashMap::new();
        let mut canonical = Vec::with_capacity(c.fields.len());
        let mut builders = Vec::new();
        for b in c.fields.drain(..) {
            let key = (b.name.clone(), b.preds());
            let next = builders.len() as u32;
            let id = *same.entry(key).or_insert(next);
            if id == next {
                builders.push(b);
            }
            canonical.push(id);
        }
        for used in &mut variant_fields {
            for f in used {
                *f = canonical[*f as usize];
            }
        }
        let mut fields = Vec::with_capacity(builders.len());
        for b in builders {
            let (scanner, failures) = b.build();
            for (pred, reason) in failures {
                for r in &pred_rules[pred as usize] {
                    errors.push((*r, reason.clone()));
                }
            }
            fields.push(scanner);
        }
        // A rule with a pattern over a size limit is disabled: its variants are left out
        // of the lists that lead to evaluation.
        let mut disabled = vec![false; rules.len()];
        for (r, reason) in errors {
            if !disabled[r as usize] {
                disabled[r as usize] = true;
                notes.push(CompileNote::TooLarge {
                    rule: r as usize,
                    reason,
                });
            }
        }
        let mut kind_always = vec![Vec::new(); kind_variants.len()];
        let mut kind_fields: Vec<Vec<u32>> = vec![Vec::new(); kind_variants.len()];
        let mut pred_triggers = vec![Vec::new(); n_preds];
        for (vi, v) in variants.iter().enumerate() {
            if disabled[v.rule as usize] {
                continue;
            }
            match triggers(&ops[postfix[vi].clone()], |p| c.pred_weights[p as usize]) {
                Some(ps) => ps
                    .into_iter()
                    .for_each(|p| pred_triggers[p as usize].push(vi as u32)),
                None => kind_always[v.kind as usize].push(vi as u32),
            }
            kind_fields[v.kind as usize].extend_from_slice(&variant_fields[vi]);
        }
        let mut programs = Vec::with_capacity(ops.len());
        for (v, range) in variants.iter_mut().zip(postfix) {
            let nodes = program::prefix(&ops[range]);
            v.program = (programs.len() as u32, nodes.len() as u32);
            programs.extend(nodes);
        }
        for f in &mut kind_fields {
            f.sort_unstable();
            f.dedup();
        }
        let vocab = Vocabulary::new(
            fields
                .iter()
                .map(|f| f.name.as_str())
                .chain(selectors.names())
                .chain(fields.iter().flat_map(FieldScanner::referenced)),
        );
        selectors.bind(&vocab);
        fields.iter_mut().for_each(|f| f.bind(&vocab));
        let regex_caches = fields.iter_mut().fold(0, |next, f| f.number_caches(next));
        let scanner_flags = fields
            .iter()
            .map(|f| u8::from(f.folds_case()) * FOLDS + u8::from(f.has_presence()) * PRESENCE)
            .collect();
        let pred_names = c
            .pred_fields
            .iter()
            .map(|f| {
                vocab
                    .id(f.as_bytes())
                    .expect("the vocabulary holds every name")
            })
            .collect();
        let mut rule_variants = vec![Vec::new(); rules.len()];
        for (vi, v) in variants.iter().enumerate() {
            rule_variants[v.rule as usize].push(vi as u32);
        }
        let field_names = fields
            .iter()
            .map(|f| {
                vocab
                    .id(f.name.as_bytes())
                    .expect("the vocabulary holds every name")
            })
            .collect();
        (
            Matcher {
                variants,
                variant_fields: Lists::new(&variant_fields),
                programs,
                kind_always: Lists::new(&kind_always),
                kind_fields,
                pred_triggers: Lists::new(&pred_triggers),
                selectors,
                fields,
                field_names,
                scanner_flags,
                keywords: vocab.id(KEYWORDS.as_bytes()),
                vocab,
                n_preds,
                n_rules: rules.len(),
                pred_names,
                rule_variants: Lists::new(&rule_variants),
                regex_caches,
            },
            notes,
        )
    }

    /// Fresh scratch space for [`Matcher::matches`].
    pub fn scratch(&self) -> Scratch {
        Scratch {
            generation: 0,
            fired: Marks::new(self.n_preds),
            evaluated: Marks::new(self.variants.len()),
            field_gen: vec![0; self.fields.len()],
            kind_gen: vec![0; self.selectors.len()],
            frames: Vec::new(),
            scan: ScanScratch::new(self.regex_caches),
            select: SelectScratch::default(),
            kinds: Vec::new(),
            plans: FastMap::default(),
            text_buf: String::new(),
            lower_buf: Vec::new(),
            event_lower: Vec::new(),
        }
    }

    /// Compile statistics.
    pub fn stats(&self) -> Stats {
        Stats {
            rules: self.n_rules,
            variants: self.variants.len(),
            predicates: self.n_preds,
            fields: self.fields.len(),
            event_kinds: self.selectors.len(),
            regexes: self.fields.iter().map(FieldScanner::regex_count).sum(),
            globs: self.fields.iter().map(FieldScanner::glob_count).sum(),
            unfiltered_globs: self
                .fields
                .iter()
                .map(FieldScanner::unfiltered_glob_count)
                .sum(),
        }
    }

    /// How events of `kinds` are scanned: the (field name, scanner) pairs, sorted by name,
    /// each scanner once, and their keyword scanners' merged rule-out.
    fn plan(&self, kinds: &[u32], field_gen: &mut [u32], generation: u32) -> Plan {
        let mut plan = Vec::new();
        for &k in kinds {
            for &f in self.kind_fields.get(k as usize).into_iter().flatten() {
                if field_gen[f as usize] != generation {
                    field_gen[f as usize] = generation;
                    plan.push((self.field_names[f as usize], f));
                }
            }
        }
        plan.sort_unstable();
        let keyword_scanners: Vec<&FieldScanner> = plan
            .iter()
            .filter(|(name, _)| Some(*name) == self.keywords)
            .map(|(_, f)| &self.fields[*f as usize])
            .collect();
        let keywords = (keyword_scanners.len() > 1)
            .then(|| {
                keyword_scanners
                    .iter()
                    .map(|f| f.rule_out_literals())
                    .collect::<Option<Vec<_>>>()
            })
            .flatten()
            .and_then(|lits| RuleOut::new(&lits.concat()));
        Plan {
            fields: plan,
            keywords,
        }
    }

    /// The predicates that decided rule `rule`'s match on `doc`, the last event matched
    /// with `scratch`: those that made its condition hold ([`program::deciding`]), in
    /// every variant of the event's kinds that holds. Appended to `out`, ascending, each
    /// once; [`Matcher::predicate_field`] names their fields. Costs a walk of the rule's
    /// programs: for explaining matches (opt-in), not on the matching path.
    pub fn deciding_predicates(
        &self,
        rule: usize,
        doc: &dyn Document,
        scratch: &Scratch,
        out: &mut Vec<u32>,
    ) {
        let start = out.len();
        for &vi in self.rule_variants.get(rule) {
            let v = &self.variants[vi as usize];
            if scratch.kind_gen[v.kind as usize] != scratch.generation
                || !self.readable(vi, doc, doc.is_complete())
            {
                continue;
            }
            let nodes = &self.programs[v.program.0 as usize..][..v.program.1 as usize];
            program::deciding(nodes, |p| scratch.fired.contains(p), out);
        }
        sort_dedup_from(out, start);
    }

    /// Whether `doc` can tell about every field variant `vi` reads: always when it is
    /// `complete` ([`Document::is_complete`]); else only when it knows each name.
    fn readable(&self, vi: u32, doc: &dyn Document, complete: bool) -> bool {
        complete
            || self
                .variant_fields
                .get(vi as usize)
                .iter()
                .all(|&f| doc.knows(&self.fields[f as usize].name))
    }

    /// The field predicate `p` tests, as a vocabulary id ([`Matcher::field_name`]); `None`
    /// for a keyword search, which tests every value ([`Matcher::keyword_values`]).
    pub fn predicate_field(&self, p: u32) -> Option<u32> {
        let name = self.pred_names[p as usize];
        (Some(name) != self.keywords).then_some(name)
    }

    /// Calls `visit` with each value of `doc` in which one of the keyword predicates
    /// `preds` holds: where a keyword search found what it looks for. Scans every value of
    /// the event again (for explaining matches, opt-in).
    pub fn keyword_values(
        &self,
        preds: &[u32],
        doc: &dyn Document,
        scratch: &mut Scratch,
        visit: &mut dyn FnMut(Scalar<'_>),
    ) {
        let Some(keywords) = self.keywords else {
            return;
        };
        let scanners: Vec<&FieldScanner> = self
            .field_names
            .iter()
            .zip(&self.fields)
            .filter(|(name, _)| **name == keywords)
            .map(|(_, f)| f)
            .collect();
        let fold = scanners.iter().any(|f| f.folds_case());
        let Scratch {
            scan,
            text_buf,
            lower_buf,
            ..
        } = scratch;
        doc.all_values(&mut |s| {
            let mut held = false;
            let v = Value::prepare(s, fold, text_buf, lower_buf);
            for f in &scanners {
                f.scan_value(&v, doc, &self.vocab, scan, &mut |p| {
                    held |= preds.contains(&p);
                });
            }
            if held {
                visit(s);
            }
        });
    }

    /// The name of a field by its vocabulary id.
    pub fn field_name(&self, id: u32) -> &str {
        self.vocab.name(id)
    }

    /// Calls `visit` with each value of field `id` in `doc`; false when it is absent.
    pub fn field_values(
        &self,
        doc: &dyn Document,
        id: u32,
        visit: &mut dyn FnMut(Scalar<'_>),
    ) -> bool {
        doc.field_in(&self.vocab, id, visit)
    }

    /// Appends to `out` the indices (into the compiled rule list) of the rules that match
    /// `doc`, in ascending order without duplicates.
    pub fn matches(&self, doc: &dyn Document, scratch: &mut Scratch, out: &mut Vec<usize>) {
        scratch.generation = scratch.generation.wrapping_add(1);
        if scratch.generation == 0 {
            scratch.field_gen.iter_mut().for_each(|g| *g = 0);
            scratch.kind_gen.iter_mut().for_each(|g| *g = 0);
            scratch.generation = 1;
        }
        let generation = scratch.generation;
        scratch.kinds.clear();
        {
            let kinds = &mut scratch.kinds;
            let kind_gen = &mut scratch.kind_gen;
            self.selectors
                .kinds_of(doc, &self.vocab, &mut scratch.select, &mut |k| {
                    if kind_gen[k as usize] != generation {
                        kind_gen[k as usize] = generation;
                        kinds.push(k);
                    }
                });
        }
        if scratch.kinds.is_empty() {
            return;
        }
        // Every field the candidate kinds read: located once, each value prepared
        // (text, lowercased) once, then scanned by each candidate kind's scanner.
        // The scanners of a set of kinds, grouped by field, are worked out once per thread
        // and kept: events come in a few dozen kinds.
        scratch.fired.clear();
        scratch.evaluated.clear();
        scratch.kinds.sort_unstable();
        if !scratch.plans.contains_key(scratch.kinds.as_slice()) {
            if scratch.plans.len() >= MAX_PLANS {
                scratch.plans.clear();
            }
            let plan = self.plan(&scratch.kinds, &mut scratch.field_gen, generation);
            scratch.plans.insert(scratch.kinds.clone(), plan);
        }
        let Scratch {
            plans,
            kinds,
            fired,
            scan,
            text_buf,
            lower_buf,
            event_lower,
            ..
        } = &mut *scratch;
        let plan = &plans[kinds.as_slice()];
        for group in plan.fields.chunk_by(|a, b| a.0 == b.0) {
            // Most fields the candidates read are absent from a given event: the
            // scanners' flags (one small array) say what to do, and an absent field's
            // scanners are not touched unless they have presence predicates.
            let flags = group
                .iter()
                .fold(0, |acc, (_, f)| acc | self.scanner_flags[*f as usize]);
            let fold = flags & FOLDS != 0;
            let name_id = group[0].0;
            let mut hit = |p: u32| {
                fired.insert(p);
            };
            let mut each = |s: Scalar<'_>| {
                let v = Value::prepare(s, fold, text_buf, lower_buf);
                for (_, f) in group {
                    self.fields[*f as usize].scan_value(&v, doc, &self.vocab, scan, &mut hit);
                }
            };
            if Some(name_id) == self.keywords {
                // Keyword rules rarely fire: one look at the whole event (lowercased once)
                // usually shows that none of their literals is there.
                let ruled_out = doc.verbatim_text().is_some_and(|text| {
                    let lowered = literal::ascii_lower(text, event_lower);
                    match &plan.keywords {
                        Some(merged) => !merged.is_match(lowered),
                        None => group
                            .iter()
                            .all(|(_, f)| self.fields[*f as usize].rules_out(lowered)),
                    }
                });
                if !ruled_out {
                    doc.all_values(&mut each);
                }
            } else {
                let present = doc.field_in(&self.vocab, name_id, &mut each);
                if flags & PRESENCE != 0 {
                    for (_, f) in group {
                        self.fields[*f as usize].presence(present, &mut hit);
                    }
                }
            }
        }
        let start = out.len();
        let complete = doc.is_complete();
        let eval = |vi: u32, scratch: &mut Scratch, out: &mut Vec<usize>| {
            if !scratch.evaluated.insert(vi) {
                return;
            }
            let v = &self.variants[vi as usize];
            if scratch.kind_gen[v.kind as usize] != generation {
                return;
            }
            if !self.readable(vi, doc, complete) {
                return;
            }
            let fired = &scratch.fired;
            let nodes = &self.programs[v.program.0 as usize..][..v.program.1 as usize];
            if program::run(nodes, |p| fired.contains(p), &mut scratch.frames) {
                out.push(v.rule as usize);
            }
        };
        for ki in 0..scratch.kinds.len() {
            let k = scratch.kinds[ki] as usize;
            for &vi in self.kind_always.get(k) {
                eval(vi, scratch, out);
            }
        }
        for fi in 0..scratch.fired.members().len() {
            let p = scratch.fired.members()[fi];
            for &vi in self.pred_triggers.get(p as usize) {
                eval(vi, scratch, out);
            }
        }
        sort_dedup_from(out, start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::JsonEvent;
    use crate::rule::BuildOptions;
    use crate::ruleset::RuleSet;

    /// Of an `and`, the item whose predicates are least likely to hold gives the triggers;
    /// fewer predicates break ties; `or` unites; `not` gives none.
    #[test]
    fn triggers_come_from_the_least_likely_item() {
        use crate::rule::detection::Matcher as M;
        use crate::rule::pattern::Pattern;
        let s = |text: &str| M::Str {
            pattern: Pattern::parse(text),
            cased: false,
        };
        // p0: contains ` -`, p1: endswith `\rundll32.exe`, p2, p3: whole values.
        let weights = [
            pred_weight(&s("* -*")),
            pred_weight(&s("*\\rundll32.exe")),
            pred_weight(&s("a")),
            pred_weight(&s("b")),
        ];
        assert!(weights[0] > weights[1] && weights[1] > weights[2]);
        assert!(pred_weight(&M::Exists(true)) > weights[0]);
        let w = |p: u32| weights[p as usize];
        // ` -` and `\rundll32.exe`: the second, though both are one predicate.
        let and = [Op::Pred(0), Op::Pred(1), Op::And(2)];
        assert_eq!(triggers(&and, w), Some(vec![1]));
        // One likely predicate against two unlikely ones: the two.
        let and = [Op::Pred(0), Op::Pred(2), Op::Pred(3), Op::Or(2), Op::And(2)];
        assert_eq!(triggers(&and, w), Some(vec![2, 3]));
        // Equal weights: the fewest predicates.
        let and = [Op::Pred(2), Op::Pred(3), Op::Or(2), Op::Pred(2), Op::And(2)];
        assert_eq!(triggers(&and, |_| 1), Some(vec![2]));
        // `or` unites; `not` has none, so `and` takes the other item.
        let or = [Op::Pred(0), Op::Pred(1), Op::Or(2)];
        assert_eq!(triggers(&or, w), Some(vec![0, 1]));
        let not = [Op::Pred(1), Op::Not, Op::Pred(0), Op::And(2)];
        assert_eq!(triggers(&not, w), Some(vec![0]));
        assert_eq!(triggers(&[Op::Pred(1), Op::Not], w), None);
    }

    /// Keyword rules of two kinds that one event meets: the plan merges their rule-outs
    /// into one search, and each rule still fires exactly on its own keywords.
    #[test]
    fn keyword_rule_outs_of_one_events_kinds_merge() {
        let map = LogsourceMap::from_yaml(
            "logsources:\n  - product: test\n    events:\n      - when: {}\n  - product: test\n    service: alpha\n    events:\n      - when: { Channel: alpha }\n",
        )
        .expect("mapping");
        let texts = [
            "title: any\nlogsource:\n  product: test\ndetection:\n  keywords: ['event::clear', 'dumpcreds']\n  condition: keywords\n",
            "title: alpha\nlogsource:\n  product: test\n  service: alpha\ndetection:\n  keywords: ['EvilService']\n  condition: keywords\n",
        ];
        let rules: Vec<Rule> = texts
            .iter()
            .flat_map(|t| RuleSet::from_text("t.yml", t, &BuildOptions::default()).rules)
            .collect();
        assert_eq!(rules.len(), 2);
        let (m, notes) = Matcher::compile(&rules, &map);
        assert!(notes.is_empty(), "{notes:?}");
        let mut scratch = m.scratch();
        let mut hits = |line: &str| {
            let ev = JsonEvent::parse(line.as_bytes()).expect("test event");
            let mut out = Vec::new();
            m.matches(&ev, &mut scratch, &mut out);
            out
        };
        let none: [usize; 0] = [];
        assert_eq!(
            hits(r#"{"Channel":"alpha","Message":"x EVENT::Clear y"}"#),
            [0]
        );
        assert_eq!(
            hits(r#"{"Channel":"alpha","Message":"evilservice up"}"#),
            [1]
        );
        assert_eq!(
            hits(r#"{"Channel":"alpha","M":"dumpcreds","N":"EvilService"}"#),
            [0, 1]
        );
        assert_eq!(hits(r#"{"Channel":"alpha","Message":"event::list"}"#), none);
        // One kind only: its own rule-out, the other rule not a candidate.
        assert_eq!(hits(r#"{"Channel":"beta","Message":"EvilService"}"#), none);
        assert_eq!(hits(r#"{"Channel":"beta","Message":"dumpcreds"}"#), [0]);
        let merged: Vec<bool> = scratch
            .plans
            .values()
            .map(|p| p.keywords.is_some())
            .collect();
        assert_eq!(merged.iter().filter(|m| **m).count(), 1, "{merged:?}");
        assert_eq!(merged.len(), 2);
    }
}
