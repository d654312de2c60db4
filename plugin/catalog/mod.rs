//! The rule catalog: for every loaded rule, the page a detection engineer reads to choose
//! and tune it (`sigma-transform explain`, the HTML catalog): ATT&CK coverage, event
//! coverage with event titles, the condition's stages and their predicates, indicators
//! with corpus counts, and neighbours: rules that are provably stricter or broader
//! (implication between compiled predicates, [`implies`]) or that watch the same events.
//!
//! Layers: [`formula`] (rules on event kinds as NNF formulas), [`implies`] (the sound
//! implication check), [`coverage`] (events and their titles), [`page`] (the page model and
//! its text / Markdown renderings), [`stats`] (corpus statistics, ATT&CK Navigator layer),
//! [`html`] (the static site). docs/catalog.md describes the results.

pub mod coverage;
pub mod formula;
pub mod html;
pub mod implies;
pub mod page;
pub mod stats;

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use crate::attack::{Attack, AttackRef};
use crate::logsource::{EventKind, LogsourceMap, WhenValue};
use crate::matcher::{CompileNote, Matcher as Compiled};
use crate::rule::pattern::Shape;
use crate::rule::{LogSource, Rule};

use coverage::{EventRow, EventTitles};
use formula::{Atom, Atoms, Builder, Formula};
use implies::{Implication, Node};

/// The field of the stand-in event kind that a rule with an unmapped logsource gets: such
/// rules are compared only with rules of the same logsource, as if the mapping had an entry
/// `when: { sigma_logsource: "<product>/<category>/<service>" }` for it.
pub const OPAQUE_FIELD: &str = "sigma_logsource";

/// The stand-in event kind of an unmapped logsource (see [`OPAQUE_FIELD`]).
pub fn opaque_kind(ls: &LogSource) -> EventKind {
    EventKind {
        when: vec![(
            OPAQUE_FIELD.to_string(),
            vec![WhenValue::Text(opaque_value(ls))],
        )],
        rename: Vec::new(),
    }
}

/// `product/category/service`, lowercased, `-` for a missing key.
pub fn opaque_value(ls: &LogSource) -> String {
    let part = |v: &Option<String>| v.as_deref().unwrap_or("-").to_lowercase();
    format!(
        "{}/{}/{}",
        part(&ls.product),
        part(&ls.category),
        part(&ls.service)
    )
}

/// A technique of a rule, with the tactics ATT&CK files it under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Technique {
    pub id: String,
    pub name: String,
    /// Tactics of the technique in ATT&CK (not only those the rule tags).
    pub tactics: Vec<AttackRef>,
}

/// ATT&CK coverage of a rule, from its tags.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AttackCoverage {
    pub tactics: Vec<AttackRef>,
    pub techniques: Vec<Technique>,
    /// `attack.*` tags that name no tactic or technique we know (groups and software
    /// excluded).
    pub unknown: Vec<String>,
}

/// One indicator: a field, an operator and a value the rule looks for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Indicator {
    /// Sigma field name; `keywords` for a keyword search.
    pub field: String,
    pub op: String,
    pub value: String,
}

impl Indicator {
    /// The key rules share an indicator by: case-insensitive values compare lowercased.
    fn key(&self, cased: bool) -> Indicator {
        Indicator {
            field: self.field.clone(),
            op: self.op.clone(),
            value: if cased {
                self.value.clone()
            } else {
                self.value.to_lowercase()
            },
        }
    }
}

/// What the catalog derives of one rule.
#[derive(Clone, Debug)]
pub struct RuleInfo {
    pub attack: AttackCoverage,
    pub events: Vec<EventRow>,
    /// The logsource has an entry in the mapping.
    pub mapped: bool,
    /// The matcher disabled the rule (a value over a size limit): it never fires.
    pub disabled: bool,
    /// Indicators (positive predicates other than `EventID` and `Channel`, which the event
    /// coverage shows), each with whether it compares case-sensitively.
    pub indicators: Vec<(Indicator, bool)>,
    /// Every predicate with its polarity (`false`: inside a negation), for "adds N filters".
    pub predicates: Vec<(bool, Indicator)>,
    /// A page name unique in the catalog.
    pub slug: String,
    variants: Vec<Formula>,
    /// Interned indicator keys and indicator fields, sorted (for same-event similarity).
    indicator_ids: Vec<u32>,
    indicator_fields: Vec<u32>,
}

/// How one rule relates to another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Relation {
    /// Every event the first matches, the second matches; not the reverse (as far as the
    /// check can tell).
    Stricter,
    /// The reverse of `Stricter`.
    Broader,
    /// Each implies the other.
    Equivalent,
}

/// Timings of a build, for reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BuildStats {
    pub rules: usize,
    pub atoms: usize,
    pub candidate_pairs: usize,
    pub implication_checks: usize,
    pub stricter_pairs: usize,
    pub equivalent_pairs: usize,
    pub millis_formulas: u128,
    pub millis_neighbours: u128,
}

/// The catalog over a rule set.
pub struct Catalog {
    rules: Vec<Rule>,
    info: Vec<RuleInfo>,
    atoms: Atoms,
    /// `(a, b)`: a implies b (a is stricter than b or equivalent to it).
    implications: Vec<(u32, u32)>,
    relations: Vec<Vec<(u32, Relation)>>,
    indicator_counts: HashMap<Indicator, usize>,
    titles: EventTitles,
    attack: Attack,
    build: BuildStats,
    check: Implication,
    /// Each rule's variants prepared for the check.
    prepared: Vec<Vec<Node>>,
    /// Rules grouped by identical event coverage (mapped rules with event ids only).
    event_groups: Vec<Vec<u32>>,
    group_of: Vec<Option<u32>>,
}

fn technique_tactics() -> &'static HashMap<String, Vec<String>> {
    static T: std::sync::OnceLock<HashMap<String, Vec<String>>> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        include_str!("../../rules/attack/techniques.tsv")
            .lines()
            .skip(1)
            .filter_map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c.len() >= 3).then(|| {
                    (
                        c[0].to_ascii_uppercase(),
                        c[2].split(',')
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .collect(),
                    )
                })
            })
            .collect()
    })
}

fn attack_coverage(rule: &Rule, attack: &Attack) -> AttackCoverage {
    let tags = attack.resolve(&rule.meta.tags);
    let techniques = tags
        .techniques
        .iter()
        .map(|t| Technique {
            id: t.id.clone(),
            name: t.name.clone(),
            tactics: technique_tactics()
                .get(&t.id)
                .map(|ts| ts.iter().filter_map(|s| attack.tactic(s)).collect())
                .unwrap_or_default(),
        })
        .collect();
    AttackCoverage {
        tactics: tags.tactics,
        techniques,
        unknown: tags.unknown,
    }
}

/// A printable rendering of pattern bytes: text as is, control characters and invalid
/// UTF-8 escaped (`\x00`).
pub fn printable(bytes: &[u8]) -> String {
    let mut s = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() {
                s.push_str(&format!("\\x{:02x}", c as u32));
            } else {
                s.push(c);
            }
        }
        for b in chunk.invalid() {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}

/// Operator and value of a predicate as the catalog shows them.
pub fn describe(m: &crate::rule::detection::Matcher) -> (String, String, bool) {
    use crate::rule::detection::Matcher as M;
    match m {
        M::Str { pattern, cased } => {
            let (op, v) = match pattern.shape() {
                Shape::Exact(b) => ("equals", printable(b)),
                Shape::Prefix(b) => ("startswith", printable(b)),
                Shape::Suffix(b) => ("endswith", printable(b)),
                Shape::Contains(b) => ("contains", printable(b)),
                Shape::Anything => ("matches", "*".to_string()),
                Shape::Complex => ("matches", pattern.display()),
            };
            let op = if *cased {
                format!("{op}|cased")
            } else {
                op.to_string()
            };
            (op, v, *cased)
        }
        M::Regex { flags, .. } => {
            let (op, v) = m.describe();
            (op, v, !flags.ignore_case)
        }
        other => {
            let (op, v) = other.describe();
            (op, v, true)
        }
    }
}

fn slugify(rule: &Rule, taken: &mut HashSet<String>) -> String {
    let base = match &rule.meta.id {
        Some(id) if !id.is_empty() => id.clone(),
        _ => rule
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rule".into()),
    };
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let mut slug = clean.clone();
    let mut n = 2;
    while !taken.insert(slug.clone()) {
        slug = format!("{clean}-{n}");
        n += 1;
    }
    slug
}

/// Number of common elements of two sorted lists.
fn sorted_overlap(a: &[u32], b: &[u32]) -> usize {
    let (mut i, mut j, mut n) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                n += 1;
                i += 1;
                j += 1;
            }
        }
    }
    n
}

/// An anchor of one variant: the field and the tokens of its conjunct.
type Anchor = (String, Vec<Vec<u8>>);

/// A bit set over rule indices.
#[derive(Clone)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn full(n: usize) -> Bits {
        let mut b = Bits(vec![u64::MAX; n.div_ceil(64)]);
        if !n.is_multiple_of(64) {
            *b.0.last_mut().unwrap() = (1u64 << (n % 64)) - 1;
        }
        b
    }
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn or(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a |= b);
    }
    fn and(&mut self, o: &Bits) {
        self.0.iter_mut().zip(&o.0).for_each(|(a, b)| *a &= b);
    }
    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            let mut b = bits;
            std::iter::from_fn(move || {
                if b == 0 {
                    return None;
                }
                let t = b.trailing_zeros() as usize;
                b &= b - 1;
                Some(w * 64 + t)
            })
        })
    }
}

/// Fields a formula needs another formula to mention for the implication check to
/// succeed (a necessary condition of [`Implication::implies`] with this formula on the
/// right).
fn required_fields(f: &Formula, atoms: &Atoms, out: &mut Vec<String>) {
    match f {
        Formula::Lit(_, a) => out.push(atoms.get(*a).field().to_string()),
        Formula::And(items) => items.iter().for_each(|i| required_fields(i, atoms, out)),
        Formula::Or(items) | Formula::AtLeast(_, items) => {
            if matches!(f, Formula::AtLeast(0, _)) || items.is_empty() {
                return;
            }
            let mut sets = items.iter().map(|i| {
                let mut v = Vec::new();
                required_fields(i, atoms, &mut v);
                v
            });
            let mut acc = sets.next().unwrap_or_default();
            for s in sets {
                acc.retain(|x| s.contains(x));
            }
            out.extend(acc);
        }
    }
}

impl Catalog {
    /// Builds the catalog: compiles the rules (to learn which never fire), derives each
    /// rule's page data, and finds every provable implication between rules.
    pub fn build(rules: Vec<Rule>, map: &LogsourceMap) -> Catalog {
        let t0 = std::time::Instant::now();
        let attack = Attack::builtin();
        let titles = EventTitles::builtin();
        let (_, notes) = Compiled::compile(&rules, map);
        let mut disabled = vec![false; rules.len()];
        for n in &notes {
            if let CompileNote::TooLarge { rule, .. } = n {
                disabled[*rule] = true;
            }
        }
        let mut atoms = Atoms::default();
        let mut info = Vec::with_capacity(rules.len());
        let mut taken = HashSet::new();
        let mut indicator_counts: HashMap<Indicator, usize> = HashMap::new();
        let mut key_ids: HashMap<Indicator, u32> = HashMap::new();
        let mut field_names: HashMap<String, u32> = HashMap::new();
        for (ri, rule) in rules.iter().enumerate() {
            let kinds = map.resolve(&rule.logsource);
            let mapped = kinds.is_some();
            let kinds = kinds.unwrap_or_else(|| vec![opaque_kind(&rule.logsource)]);
            let mut b = Builder { atoms: &mut atoms };
            let sigma = b.detection(rule, None);
            let variants: Vec<Formula> = kinds.iter().map(|k| b.variant(rule, k)).collect();
            let events = if mapped {
                coverage::rows(&kinds, &sigma, &atoms, &titles)
            } else {
                Vec::new()
            };
            let mut lits = Vec::new();
            sigma.literals(&mut lits);
            let mut predicates = Vec::new();
            let mut indicators: Vec<(Indicator, bool)> = Vec::new();
            for (pos, a) in lits {
                let Atom::Test { field, matcher } = atoms.get(a) else {
                    continue;
                };
                let (op, value, cased) = describe(matcher);
                let ind = Indicator {
                    field: if field.is_empty() {
                        "keywords".into()
                    } else {
                        field.clone()
                    },
                    op,
                    value,
                };
                // `exists: false` is stored as a negated `exists: true`.
                let p = (pos, ind.clone());
                if !predicates.contains(&p) {
                    predicates.push(p);
                }
                if pos
                    && field != "EventID"
                    && field != "Channel"
                    && !indicators.iter().any(|(i, _)| *i == ind)
                {
                    indicators.push((ind, cased));
                }
            }
            let mut seen = HashSet::new();
            let mut indicator_ids = Vec::new();
            let mut indicator_fields = Vec::new();
            for (ind, cased) in &indicators {
                let k = ind.key(*cased);
                let next = key_ids.len() as u32;
                indicator_ids.push(*key_ids.entry(k.clone()).or_insert(next));
                let next = field_names.len() as u32;
                indicator_fields.push(*field_names.entry(ind.field.clone()).or_insert(next));
                if seen.insert(k.clone()) {
                    *indicator_counts.entry(k).or_default() += 1;
                }
            }
            indicator_ids.sort_unstable();
            indicator_ids.dedup();
            indicator_fields.sort_unstable();
            indicator_fields.dedup();
            info.push(RuleInfo {
                attack: attack_coverage(rule, &attack),
                events,
                mapped,
                disabled: disabled[ri],
                indicators,
                predicates,
                slug: slugify(rule, &mut taken),
                variants,
                indicator_ids,
                indicator_fields,
            });
        }
        let mut by_events: HashMap<Vec<EventRow>, u32> = HashMap::new();
        let mut event_groups: Vec<Vec<u32>> = Vec::new();
        let mut group_of = Vec::with_capacity(info.len());
        for (i, inf) in info.iter().enumerate() {
            if !inf.mapped
                || inf.events.is_empty()
                || inf.events.iter().all(|e| e.event_id.is_none())
            {
                group_of.push(None);
                continue;
            }
            let g = *by_events.entry(inf.events.clone()).or_insert_with(|| {
                event_groups.push(Vec::new());
                event_groups.len() as u32 - 1
            });
            event_groups[g as usize].push(i as u32);
            group_of.push(Some(g));
        }
        let millis_formulas = t0.elapsed().as_millis();
        let t1 = std::time::Instant::now();
        let mut cat = Catalog {
            rules,
            info,
            atoms,
            implications: Vec::new(),
            relations: Vec::new(),
            indicator_counts,
            titles,
            attack,
            build: BuildStats::default(),
            check: Implication::default(),
            prepared: Vec::new(),
            event_groups,
            group_of,
        };
        cat.check = Implication::new(&cat.atoms);
        cat.prepared = cat
            .info
            .iter()
            .map(|i| i.variants.iter().map(|v| cat.check.prepare(v)).collect())
            .collect();
        let (candidates, checks) = cat.find_implications();
        cat.relate();
        cat.build = BuildStats {
            rules: cat.rules.len(),
            atoms: cat.atoms.len(),
            candidate_pairs: candidates,
            implication_checks: checks,
            stricter_pairs: cat
                .relations
                .iter()
                .flatten()
                .filter(|(_, r)| *r == Relation::Stricter)
                .count(),
            equivalent_pairs: cat
                .relations
                .iter()
                .flatten()
                .filter(|(_, r)| *r == Relation::Equivalent)
                .count()
                / 2,
            millis_formulas,
            millis_neighbours: t1.elapsed().as_millis(),
        };
        cat
    }

    /// Whether rule `a` implies rule `b` by the check (every event `a` matches, `b`
    /// matches). Works for any pair, not only those the index proposes.
    pub fn implies(&self, a: usize, b: usize) -> bool {
        if self.info[a].disabled || self.info[b].disabled {
            // A disabled rule never fires: nothing implies it, and it implies nothing worth
            // showing.
            return false;
        }
        let vb = &self.prepared[b];
        self.prepared[a]
            .iter()
            .all(|fa| vb.iter().any(|fb| self.check.implies(&self.atoms, fa, fb)))
    }

    fn find_implications(&mut self) -> (usize, usize) {
        let n = self.rules.len();
        // Field index: rules mentioning each field (over all their variants).
        let mut field_ids: HashMap<String, usize> = HashMap::new();
        let mut mentions: Vec<Bits> = Vec::new();
        for (ri, info) in self.info.iter().enumerate() {
            let mut lits = Vec::new();
            for v in &info.variants {
                v.literals(&mut lits);
            }
            for (_, a) in lits {
                let f = self.atoms.get(a).field().to_string();
                let id = *field_ids.entry(f).or_insert_with(|| {
                    mentions.push(Bits::new(n));
                    mentions.len() - 1
                });
                mentions[id].set(ri);
            }
        }
        let anchors = self.anchor_candidates(n);
        let mut found = Vec::new();
        let mut candidates = 0;
        let mut checks = 0;
        for (b, anchor) in anchors.iter().enumerate() {
            if self.info[b].disabled {
                continue;
            }
            // Fields every variant of b needs the left side to mention.
            let mut req: Option<Vec<String>> = None;
            for v in &self.info[b].variants {
                let mut r = Vec::new();
                required_fields(v, &self.atoms, &mut r);
                req = Some(match req {
                    None => r,
                    Some(mut acc) => {
                        acc.retain(|x| r.contains(x));
                        acc
                    }
                });
            }
            let mut cand = Bits::full(n);
            for f in req.unwrap_or_default() {
                match field_ids.get(&f) {
                    Some(id) => cand.and(&mentions[*id]),
                    None => cand = Bits::new(n),
                }
            }
            if let Some(anchor) = anchor {
                cand.and(anchor);
            }
            for a in cand.iter() {
                if a == b || self.info[a].disabled {
                    continue;
                }
                candidates += 1;
                checks += self.info[a].variants.len();
                if self.implies(a, b) {
                    found.push((a as u32, b as u32));
                }
            }
        }
        self.implications = found;
        (candidates, checks)
    }

    /// Value index: for each rule b whose every variant has an anchor (a top-level
    /// conjunct made of string tests on one field), the rules that could imply it. A rule
    /// implying b has, on that field, a positive string test or kind value whose literal
    /// text contains the anchor token of one of the conjunct's tests (the check never
    /// proves a string test otherwise), so every other rule is skipped.
    fn anchor_candidates(&self, n: usize) -> Vec<Option<Bits>> {
        // Anchor tokens per variant: (field, tokens).
        let mut per_rule: Vec<Option<Vec<Anchor>>> = Vec::with_capacity(n);
        for info in &self.info {
            let mut anchors = Vec::new();
            let mut all = true;
            for v in &info.variants {
                let kids: &[Formula] = match v {
                    Formula::And(k) => k,
                    other => std::slice::from_ref(other),
                };
                let mut best: Option<(usize, String, Vec<Vec<u8>>)> = None;
                for c in kids {
                    let lits: Vec<u32> = match c {
                        Formula::Lit(true, a) => vec![*a],
                        Formula::Or(items) => {
                            let mut v = Vec::new();
                            for i in items {
                                match i {
                                    Formula::Lit(true, a) => v.push(*a),
                                    _ => {
                                        v.clear();
                                        break;
                                    }
                                }
                            }
                            v
                        }
                        _ => Vec::new(),
                    };
                    if lits.is_empty() {
                        continue;
                    }
                    let field = self.atoms.get(lits[0]).field().to_string();
                    let mut tokens = Vec::new();
                    for a in &lits {
                        let ok = matches!(self.atoms.get(*a), Atom::Test { field: f, .. } if *f == field);
                        match (ok, self.check.anchor_token(*a)) {
                            (true, Some(t)) => tokens.push(t),
                            _ => {
                                tokens.clear();
                                break;
                            }
                        }
                    }
                    if tokens.is_empty() {
                        continue;
                    }
                    let score = tokens.iter().map(|t| t.len()).min().unwrap_or(0);
                    if best.as_ref().is_none_or(|b| score > b.0) {
                        best = Some((score, field, tokens));
                    }
                }
                match best {
                    Some((_, f, t)) => anchors.push((f, t)),
                    None => {
                        all = false;
                        break;
                    }
                }
            }
            per_rule.push((all && !anchors.is_empty()).then_some(anchors));
        }
        // Tokens per field, and the texts of every rule per field.
        let mut tokens: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
        for anchors in per_rule.iter().flatten() {
            for (f, ts) in anchors {
                tokens
                    .entry(f.clone())
                    .or_default()
                    .extend(ts.iter().cloned());
            }
        }
        let mut hits: HashMap<(String, Vec<u8>), Bits> = HashMap::new();
        for (field, mut ts) in tokens {
            ts.sort();
            ts.dedup();
            let ac = aho_corasick::AhoCorasick::new(&ts).expect("tokens fit the automaton");
            for (ri, info) in self.info.iter().enumerate() {
                let mut lits = Vec::new();
                for v in &info.variants {
                    v.literals(&mut lits);
                }
                for (pos, a) in lits {
                    if !pos || self.atoms.get(a).field() != field {
                        continue;
                    }
                    for text in self.check.texts(&self.atoms, a) {
                        for m in ac.find_overlapping_iter(&text) {
                            hits.entry((field.clone(), ts[m.pattern().as_usize()].clone()))
                                .or_insert_with(|| Bits::new(n))
                                .set(ri);
                        }
                    }
                }
            }
        }
        per_rule
            .into_iter()
            .map(|anchors| {
                let anchors = anchors?;
                let mut out = Bits::new(n);
                for (f, ts) in anchors {
                    for t in ts {
                        if let Some(b) = hits.get(&(f.clone(), t)) {
                            out.or(b);
                        }
                    }
                }
                Some(out)
            })
            .collect()
    }

    fn relate(&mut self) {
        let set: HashSet<(u32, u32)> = self.implications.iter().copied().collect();
        let mut rel = vec![Vec::new(); self.rules.len()];
        for &(a, b) in &self.implications {
            if set.contains(&(b, a)) {
                rel[a as usize].push((b, Relation::Equivalent));
            } else {
                rel[a as usize].push((b, Relation::Stricter));
                rel[b as usize].push((a, Relation::Broader));
            }
        }
        self.relations = rel;
    }

    /// The rules, in load order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What the catalog derived of rule `i`.
    pub fn info(&self, i: usize) -> &RuleInfo {
        &self.info[i]
    }

    /// Pairs `(a, b)` where a implies b (stricter or equivalent), each once per direction.
    pub fn implications(&self) -> &[(u32, u32)] {
        &self.implications
    }

    /// Rule `i`'s relations: `(other, relation of i to other)`. `Stricter` means `i` is
    /// stricter than the other rule.
    pub fn relations(&self, i: usize) -> &[(u32, Relation)] {
        &self.relations[i]
    }

    /// Numbers of the build.
    pub fn build_stats(&self) -> &BuildStats {
        &self.build
    }

    /// The ATT&CK tables.
    pub fn attack(&self) -> &Attack {
        &self.attack
    }

    /// The event titles table.
    pub fn titles(&self) -> &EventTitles {
        &self.titles
    }

    /// Number of rules (this one included) that look for the same indicator.
    pub fn indicator_count(&self, ind: &Indicator, cased: bool) -> usize {
        self.indicator_counts
            .get(&ind.key(cased))
            .copied()
            .unwrap_or(0)
    }

    /// Indicators shared by the most rules: `(indicator, rules)`, most shared first.
    pub fn top_indicators(&self, n: usize) -> Vec<(Indicator, usize)> {
        let mut v: Vec<(Indicator, usize)> = self
            .indicator_counts
            .iter()
            .map(|(k, c)| (k.clone(), *c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Finds a rule by id, title (case-insensitive), file path or file name.
    pub fn find(&self, query: &str) -> Result<usize, String> {
        let q = query.trim();
        let by = |pred: &dyn Fn(&Rule) -> bool| -> Vec<usize> {
            self.rules
                .iter()
                .enumerate()
                .filter(|(_, r)| pred(r))
                .map(|(i, _)| i)
                .collect()
        };
        let qpath = std::path::Path::new(q);
        let canon = std::fs::canonicalize(qpath).ok();
        let tries: [Vec<usize>; 5] = [
            by(&|r| {
                r.meta
                    .id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(q))
            }),
            by(&|r| r.meta.name.as_deref() == Some(q)),
            by(&|r| r.meta.title.eq_ignore_ascii_case(q)),
            by(&|r| {
                r.path == qpath
                    || canon
                        .as_ref()
                        .is_some_and(|c| std::fs::canonicalize(&r.path).ok().as_ref() == Some(c))
            }),
            by(&|r| {
                r.path
                    .file_name()
                    .is_some_and(|f| f.to_string_lossy().eq_ignore_ascii_case(q))
                    || r.path
                        .file_stem()
                        .is_some_and(|f| f.to_string_lossy().eq_ignore_ascii_case(q))
            }),
        ];
        for hits in tries {
            match hits.len() {
                0 => continue,
                1 => return Ok(hits[0]),
                _ => {
                    let names: Vec<String> = hits
                        .iter()
                        .take(5)
                        .map(|i| {
                            format!(
                                "{} ({})",
                                self.rules[*i].meta.title,
                                self.rules[*i].path.display()
                            )
                        })
                        .collect();
                    return Err(format!(
                        "'{q}' names {} rules: {}",
                        hits.len(),
                        names.join("; ")
                    ));
                }
            }
        }
        let near = self.near_titles(q, 5);
        let hint = if near.is_empty() {
            String::new()
        } else {
            format!("; did you mean: {}", near.join("; "))
        };
        Err(format!(
            "no loaded rule has the id, name, title or file '{q}' (explain takes a rule id, its name, its title or its file path){hint}"
        ))
    }

    /// Up to `n` rules whose title, name or file name come nearest `query`, as
    /// `"title" (id)`: the most query words (case-insensitive, of 3 letters or more) found
    /// in them first, then the shorter title.
    pub fn near_titles(&self, query: &str, n: usize) -> Vec<String> {
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 3)
            .map(str::to_lowercase)
            .collect();
        if words.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(usize, usize, usize)> = self
            .rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let hay = format!(
                    "{} {} {}",
                    r.meta.title,
                    r.meta.name.as_deref().unwrap_or(""),
                    r.path
                        .file_stem()
                        .map(|f| f.to_string_lossy())
                        .unwrap_or_default()
                )
                .to_lowercase();
                let score = words.iter().filter(|w| hay.contains(w.as_str())).count();
                (score > 0).then_some((score, r.meta.title.len(), i))
            })
            .collect();
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        scored
            .iter()
            .take(n)
            .map(|&(_, _, i)| {
                let m = &self.rules[i].meta;
                format!("\"{}\" ({})", m.title, m.id.as_deref().unwrap_or("no id"))
            })
            .collect()
    }

    /// Rules whose event coverage equals rule `i`'s (mapped rules with known event ids
    /// only) and that are not stricter, broader or equivalent, most similar first (shared
    /// indicators, then shared indicator fields): `(rule, shared indicators)`.
    pub fn same_events(&self, i: usize) -> Vec<(usize, usize)> {
        let Some(g) = self.group_of[i] else {
            return Vec::new();
        };
        let related: HashSet<u32> = self.relations[i].iter().map(|(o, _)| *o).collect();
        let me = &self.info[i];
        let mut out: Vec<(usize, usize, usize)> = self.event_groups[g as usize]
            .iter()
            .filter(|j| **j as usize != i && !related.contains(j))
            .map(|&j| {
                let o = &self.info[j as usize];
                (
                    j as usize,
                    sorted_overlap(&me.indicator_ids, &o.indicator_ids),
                    sorted_overlap(&me.indicator_fields, &o.indicator_fields),
                )
            })
            .collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        out.into_iter().map(|(j, s, _)| (j, s)).collect()
    }

    /// Predicates of `a` that `b` lacks, and of `b` that `a` lacks.
    pub fn predicate_difference(&self, a: usize, b: usize) -> (usize, usize) {
        let pa = &self.info[a].predicates;
        let pb = &self.info[b].predicates;
        (
            pa.iter().filter(|p| !pb.contains(p)).count(),
            pb.iter().filter(|p| !pa.contains(p)).count(),
        )
    }

    /// Rules per logsource text (`product=windows service=system`), for statistics.
    pub fn logsource_counts(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.rules {
            *m.entry(r.logsource.to_string()).or_default() += 1;
        }
        m
    }
}
