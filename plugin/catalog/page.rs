//! The rule page: everything `explain` prints and the HTML catalog shows for one rule, as
//! a serialisable model ([`RulePage`], the `--format json` output) with text and Markdown
//! renderings.

use std::fmt::Write as _;

use serde::Serialize;
use serde_yaml::Value;

use crate::attack::AttackRef;
use crate::rule::Rule;
use crate::rule::condition::{Condition, Quantifier, Target, pattern_matches};
use crate::rule::detection::SearchExpr;

use super::coverage::EventRow;
use super::{AttackCoverage, Catalog, Relation, Technique, describe};

/// Most same-event neighbours listed on a page (the total is given).
pub const SAME_EVENTS_SHOWN: usize = 10;

/// A predicate as the rule writes it: the key with its modifiers and the values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WrittenPredicate {
    pub key: String,
    pub values: Vec<String>,
}

/// A search identifier: one group of predicates (a map: all must hold) or several groups
/// (a list of maps, or keywords: one must hold).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SearchView {
    pub name: String,
    /// `all` (one map) or `any` (a list of maps or keywords).
    pub combine: &'static str,
    pub groups: Vec<Vec<WrittenPredicate>>,
}

/// One top-level AND stage of the condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub number: usize,
    /// The stage's part of the condition, as written.
    pub condition: String,
    /// The stage excludes events (its condition starts with `not`).
    pub exclusion: bool,
    pub searches: Vec<SearchView>,
}

/// An indicator row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IndicatorRow {
    pub field: String,
    pub op: String,
    pub value: String,
    /// Loaded rules (this one included) that look for the same field, operator and value.
    pub corpus: usize,
}

/// A neighbour link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NeighbourRef {
    pub id: Option<String>,
    pub title: String,
    pub level: Option<String>,
    pub path: String,
    pub slug: String,
    /// Predicates the neighbour has that this rule lacks.
    pub adds: usize,
    /// Predicates this rule has that the neighbour lacks.
    pub drops: usize,
    /// Indicators both look for (same-event neighbours).
    pub shared: usize,
}

/// Neighbour lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Neighbours {
    /// Rules that match a subset of this rule's events: quieter alternatives.
    pub stricter: Vec<NeighbourRef>,
    /// Rules that match a superset: wider coverage.
    pub broader: Vec<NeighbourRef>,
    /// Rules that match exactly the same events.
    pub equivalent: Vec<NeighbourRef>,
    /// Rules on the same events with different filters (the most similar first).
    pub same_events: Vec<NeighbourRef>,
    pub same_events_total: usize,
}

/// Event coverage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventCoverage {
    pub logsource: String,
    /// The logsource mapping has an entry for it (otherwise the rule never fires).
    pub mapped: bool,
    pub events: Vec<EventRow>,
}

/// A filter applied to the rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FilterRow {
    pub title: String,
    pub id: Option<String>,
    pub path: String,
    /// The filter's condition, over its own identifiers.
    pub condition: String,
}

impl FilterRow {
    /// One line: title, id, file and condition.
    pub fn line(&self) -> String {
        format!(
            "{}{} ({}): {}",
            self.title,
            self.id
                .as_ref()
                .map(|i| format!(" [{i}]"))
                .unwrap_or_default(),
            self.path,
            self.condition
        )
    }
}

/// The page of one rule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RulePage {
    pub title: String,
    pub id: Option<String>,
    pub slug: String,
    pub level: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    pub description: Option<String>,
    pub path: String,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    pub condition: String,
    /// Sigma filters applied to the rule (their conditions are part of `condition`).
    pub filters: Vec<FilterRow>,
    /// The matcher disabled the rule (it never fires).
    pub disabled: bool,
    pub attack: AttackCoverage,
    pub event_coverage: EventCoverage,
    pub stages: Vec<Stage>,
    pub indicators: Vec<IndicatorRow>,
    pub neighbours: Neighbours,
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Tagged(t) => scalar_text(&t.value),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn written_map(m: &serde_yaml::Mapping) -> Vec<WrittenPredicate> {
    m.iter()
        .map(|(k, v)| WrittenPredicate {
            key: scalar_text(k),
            values: match v {
                Value::Sequence(s) => s.iter().map(scalar_text).collect(),
                other => vec![scalar_text(other)],
            },
        })
        .collect()
}

/// A search as written in the rule file's YAML.
fn written_search(name: &str, v: &Value) -> SearchView {
    match v {
        Value::Mapping(m) => SearchView {
            name: name.into(),
            combine: "all",
            groups: vec![written_map(m)],
        },
        Value::Sequence(seq) => {
            let mut groups = Vec::new();
            let mut keywords = Vec::new();
            for item in seq {
                match item {
                    Value::Mapping(m) => groups.push(written_map(m)),
                    other => keywords.push(scalar_text(other)),
                }
            }
            if !keywords.is_empty() {
                groups.push(vec![WrittenPredicate {
                    key: "keywords".into(),
                    values: keywords,
                }]);
            }
            SearchView {
                name: name.into(),
                combine: "any",
                groups,
            }
        }
        other => SearchView {
            name: name.into(),
            combine: "any",
            groups: vec![vec![WrittenPredicate {
                key: "keywords".into(),
                values: vec![scalar_text(other)],
            }]],
        },
    }
}

/// A search rebuilt from the typed rule (when the file cannot be read again).
fn typed_search(name: &str, e: &SearchExpr) -> SearchView {
    fn group(e: &SearchExpr) -> Vec<WrittenPredicate> {
        e.tests()
            .into_iter()
            .map(|t| WrittenPredicate {
                key: if t.field.is_some() {
                    t.key.clone()
                } else {
                    "keywords".into()
                },
                values: t
                    .values
                    .iter()
                    .map(|v| {
                        v.any
                            .iter()
                            .map(|m| describe(m).1)
                            .collect::<Vec<_>>()
                            .join(" | ")
                    })
                    .collect(),
            })
            .collect()
    }
    match e {
        SearchExpr::Or(items) => SearchView {
            name: name.into(),
            combine: "any",
            groups: items.iter().map(group).collect(),
        },
        other => SearchView {
            name: name.into(),
            combine: "all",
            groups: vec![group(other)],
        },
    }
}

/// The rule's `detection` as written, read again from its file.
fn written_detection(rule: &Rule) -> Option<Value> {
    let docs = crate::document::read_file(&rule.path, &Default::default());
    docs.into_iter()
        .filter_map(Result::ok)
        .find(|d| d.line == rule.line)
        .and_then(|d| d.yaml.get("detection").cloned())
}

fn condition_idents(c: &Condition, names: &[String], out: &mut Vec<String>) {
    match c {
        Condition::Ident(n) => {
            if !out.contains(n) {
                out.push(n.clone())
            }
        }
        Condition::Not(inner) => condition_idents(inner, names, out),
        Condition::And(v) | Condition::Or(v) => {
            v.iter().for_each(|x| condition_idents(x, names, out))
        }
        Condition::Of(_, target) => {
            for n in names {
                let hit = match target {
                    Target::Them => !n.starts_with('_'),
                    Target::Pattern(p) => pattern_matches(p, n),
                };
                if hit && !out.contains(n) {
                    out.push(n.clone());
                }
            }
        }
    }
}

/// The top-level AND parts of a condition: `all of x*` splits into its identifiers.
fn and_parts(c: &Condition, names: &[String], out: &mut Vec<Condition>) {
    match c {
        Condition::And(items) => items.iter().for_each(|i| and_parts(i, names, out)),
        Condition::Of(Quantifier::All, target) => {
            let members: Vec<&String> = names
                .iter()
                .filter(|n| match target {
                    Target::Them => !n.starts_with('_'),
                    Target::Pattern(p) => pattern_matches(p, n),
                })
                .collect();
            if members.len() > 1 {
                out.extend(members.into_iter().map(|n| Condition::Ident(n.clone())));
            } else {
                out.push(c.clone());
            }
        }
        other => out.push(other.clone()),
    }
}

/// The stages of a rule's condition.
pub fn stages(rule: &Rule) -> Vec<Stage> {
    let det = &rule.detection;
    let names: Vec<String> = det.searches.iter().map(|s| s.name.clone()).collect();
    let written = written_detection(rule);
    let search_view = |name: &str| -> SearchView {
        if let Some(v) = written.as_ref().and_then(|w| w.get(name)) {
            return written_search(name, v);
        }
        let s = det.searches.iter().find(|s| s.name == name);
        match s {
            Some(s) => typed_search(name, &s.expr),
            None => SearchView {
                name: name.into(),
                combine: "all",
                groups: Vec::new(),
            },
        }
    };
    let parts: Vec<Condition> = if det.conditions.len() == 1 {
        let mut v = Vec::new();
        and_parts(&det.conditions[0], &names, &mut v);
        v
    } else {
        vec![Condition::Or(det.conditions.clone())]
    };
    parts
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut idents = Vec::new();
            condition_idents(c, &names, &mut idents);
            Stage {
                number: i + 1,
                condition: c.to_string(),
                exclusion: matches!(c, Condition::Not(_)),
                searches: idents.iter().map(|n| search_view(n)).collect(),
            }
        })
        .collect()
}

impl Catalog {
    fn neighbour_ref(&self, me: usize, other: usize, shared: usize) -> NeighbourRef {
        let r = &self.rules()[other];
        let (adds, drops) = self.predicate_difference(other, me);
        NeighbourRef {
            id: r.meta.id.clone(),
            title: r.meta.title.clone(),
            level: r.meta.level.clone(),
            path: r.path.display().to_string(),
            slug: self.info(other).slug.clone(),
            adds,
            drops,
            shared,
        }
    }

    /// The neighbour lists of rule `i`: closest first (fewest differing predicates).
    pub fn neighbours(&self, i: usize) -> Neighbours {
        let mut n = Neighbours::default();
        for (other, rel) in self.relations(i) {
            let r = self.neighbour_ref(i, *other as usize, 0);
            match rel {
                // i is stricter than other: other is a broader alternative.
                Relation::Stricter => n.broader.push(r),
                Relation::Broader => n.stricter.push(r),
                Relation::Equivalent => n.equivalent.push(r),
            }
        }
        for list in [&mut n.stricter, &mut n.broader, &mut n.equivalent] {
            list.sort_by(|a, b| {
                (a.adds + a.drops)
                    .cmp(&(b.adds + b.drops))
                    .then_with(|| a.title.cmp(&b.title))
            });
        }
        let same = self.same_events(i);
        n.same_events_total = same.len();
        n.same_events = same
            .into_iter()
            .take(SAME_EVENTS_SHOWN)
            .map(|(j, shared)| self.neighbour_ref(i, j, shared))
            .collect();
        n
    }

    /// The page of rule `i`.
    pub fn page(&self, i: usize) -> RulePage {
        let r = &self.rules()[i];
        let info = self.info(i);
        let m = &r.meta;
        RulePage {
            title: m.title.clone(),
            id: m.id.clone(),
            slug: info.slug.clone(),
            level: m.level.clone(),
            status: m.status.clone(),
            author: m.author.clone(),
            date: m.date.clone(),
            modified: m.modified.clone(),
            description: m.description.clone(),
            path: r.path.display().to_string(),
            tags: m.tags.clone(),
            references: m.references.clone(),
            falsepositives: m.falsepositives.clone(),
            condition: r
                .detection
                .conditions
                .iter()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(" | "),
            filters: r
                .filters
                .iter()
                .map(|f| FilterRow {
                    title: f.title.clone(),
                    id: f.id.clone(),
                    path: f.path.display().to_string(),
                    condition: f.condition.clone(),
                })
                .collect(),
            disabled: info.disabled,
            attack: info.attack.clone(),
            event_coverage: EventCoverage {
                logsource: r.logsource.to_string(),
                mapped: info.mapped,
                events: info.events.clone(),
            },
            stages: stages(r),
            indicators: info
                .indicators
                .iter()
                .map(|(ind, cased)| IndicatorRow {
                    field: ind.field.clone(),
                    op: ind.op.clone(),
                    value: ind.value.clone(),
                    corpus: self.indicator_count(ind, *cased),
                })
                .collect(),
            neighbours: self.neighbours(i),
        }
    }
}

fn tactic_text(t: &AttackRef) -> String {
    format!("{} {}", t.id, t.name)
}

fn technique_text(t: &Technique) -> String {
    format!("{} {}", t.id, t.name)
}

/// The event rows as text lines.
pub fn event_lines(c: &EventCoverage) -> Vec<String> {
    if !c.mapped {
        return vec![format!(
            "logsource {} has no entry in the logsource mapping: the rule never fires on these events",
            c.logsource
        )];
    }
    if c.events.is_empty() {
        return vec![format!(
            "logsource {}: no event can satisfy both the mapping and the rule's own EventID/Channel/Provider tests",
            c.logsource
        )];
    }
    c.events
        .iter()
        .map(|e| {
            let mut parts = Vec::new();
            if let Some(p) = &e.provider {
                parts.push(format!("Provider: {p}"));
            }
            parts.push(format!(
                "Channel: {}",
                e.channel.as_deref().unwrap_or("any")
            ));
            parts.push(format!(
                "Event ID: {}",
                e.event_id.as_deref().unwrap_or("any")
            ));
            if let Some(t) = &e.title {
                parts.push(format!("\"{t}\""));
            }
            parts.join(", ")
        })
        .collect()
}

fn predicate_text(p: &WrittenPredicate) -> String {
    let vals: Vec<String> = p
        .values
        .iter()
        .map(|v| {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                v.clone()
            } else {
                format!("'{v}'")
            }
        })
        .collect();
    if vals.len() == 1 {
        format!("{}: {}", p.key, vals[0])
    } else {
        format!("{}: [{}]", p.key, vals.join(", "))
    }
}

/// A search in one line.
pub fn search_text(s: &SearchView) -> String {
    let groups: Vec<String> = s
        .groups
        .iter()
        .map(|g| {
            g.iter()
                .map(predicate_text)
                .collect::<Vec<_>>()
                .join(" and ")
        })
        .collect();
    if s.combine == "all" {
        format!("{} (all of: {})", s.name, groups.join("; "))
    } else {
        format!("{} (one of: {})", s.name, groups.join(" | "))
    }
}

fn neighbour_text(n: &NeighbourRef, what: &str) -> String {
    let diff = match (n.adds, n.drops) {
        (0, 0) => "same predicates".to_string(),
        (a, 0) => format!("adds {a} filter{}", if a == 1 { "" } else { "s" }),
        (0, d) => format!("drops {d} filter{}", if d == 1 { "" } else { "s" }),
        (a, d) => format!("adds {a}, drops {d} filters"),
    };
    let extra = if what == "same" {
        format!(
            "; {} shared indicator{}",
            n.shared,
            if n.shared == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    format!(
        "{} [{}] ({diff}{extra}) {}",
        n.title,
        n.level.as_deref().unwrap_or("-"),
        n.id.as_deref().unwrap_or(&n.path)
    )
}

impl RulePage {
    /// The page as terminal text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "{}", self.title);
        let _ = writeln!(s, "{}", "=".repeat(self.title.chars().count().max(3)));
        let field = |s: &mut String, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                let _ = writeln!(s, "{k:<12} {v}");
            }
        };
        field(&mut s, "id", &self.id);
        field(&mut s, "level", &self.level);
        field(&mut s, "status", &self.status);
        field(&mut s, "author", &self.author);
        field(&mut s, "date", &self.date);
        field(&mut s, "modified", &self.modified);
        let _ = writeln!(s, "{:<12} {}", "file", self.path);
        let _ = writeln!(s, "{:<12} {}", "logsource", self.event_coverage.logsource);
        if self.disabled {
            let _ = writeln!(
                s,
                "note         the matcher disabled this rule (a value over a size limit): it never fires"
            );
        }
        if let Some(d) = &self.description {
            let _ = writeln!(s, "\n{}", d.trim());
        }
        if !self.filters.is_empty() {
            let _ = writeln!(
                s,
                "\nFilters applied (the rule fires only where each holds)"
            );
            for f in &self.filters {
                let _ = writeln!(s, "  {}", f.line());
            }
        }
        let _ = writeln!(s, "\nMITRE ATT&CK coverage");
        if self.attack.tactics.is_empty() && self.attack.techniques.is_empty() {
            let _ = writeln!(s, "  (no ATT&CK tags)");
        }
        for t in &self.attack.tactics {
            let _ = writeln!(s, "  Tactic:    {}", tactic_text(t));
        }
        for t in &self.attack.techniques {
            let tactics: Vec<String> = t.tactics.iter().map(|x| x.name.clone()).collect();
            let _ = writeln!(
                s,
                "  Technique: {}{}",
                technique_text(t),
                if tactics.is_empty() {
                    String::new()
                } else {
                    format!(" (under {})", tactics.join(", "))
                }
            );
        }
        for u in &self.attack.unknown {
            let _ = writeln!(s, "  unknown tag: {u}");
        }
        let _ = writeln!(s, "\nEvent coverage");
        for l in event_lines(&self.event_coverage) {
            let _ = writeln!(s, "  {l}");
        }
        let _ = writeln!(s, "\nStages and predicates (condition: {})", self.condition);
        for st in &self.stages {
            let searches: Vec<String> = st.searches.iter().map(search_text).collect();
            let _ = writeln!(s, "  Stage {}: {}", st.number, st.condition);
            for x in searches {
                let _ = writeln!(s, "    {x}");
            }
        }
        let _ = writeln!(
            s,
            "\nIndicators (corpus: loaded rules looking for the same field, operator and value; 1 = this rule only)"
        );
        if self.indicators.is_empty() {
            let _ = writeln!(s, "  (none besides the event coverage)");
        } else {
            let fw = self
                .indicators
                .iter()
                .map(|i| i.field.chars().count())
                .max()
                .unwrap_or(5)
                .max(5);
            let ow = self
                .indicators
                .iter()
                .map(|i| i.op.chars().count())
                .max()
                .unwrap_or(2)
                .max(2);
            let _ = writeln!(
                s,
                "  {:<fw$}  {:<ow$}  {:>6}  value",
                "field", "op", "corpus"
            );
            for i in &self.indicators {
                let _ = writeln!(
                    s,
                    "  {:<fw$}  {:<ow$}  {:>6}  {}",
                    i.field, i.op, i.corpus, i.value
                );
            }
        }
        let n = &self.neighbours;
        let _ = writeln!(s, "\nNeighbours");
        let list = |s: &mut String, head: &str, v: &[NeighbourRef], what: &str| {
            let _ = writeln!(s, "  {head}: {}", v.len());
            for r in v {
                let _ = writeln!(s, "    - {}", neighbour_text(r, what));
            }
        };
        list(
            &mut s,
            "Stricter (a subset of this rule's events; for when it is too noisy)",
            &n.stricter,
            "",
        );
        list(
            &mut s,
            "Broader (a superset; for wider coverage)",
            &n.broader,
            "",
        );
        list(&mut s, "Equivalent (the same events)", &n.equivalent, "");
        let _ = writeln!(
            s,
            "  Same events, other filters: {}{}",
            n.same_events_total,
            if n.same_events_total > n.same_events.len() {
                format!(" (the {} most similar shown)", n.same_events.len())
            } else {
                String::new()
            }
        );
        for r in &n.same_events {
            let _ = writeln!(s, "    - {}", neighbour_text(r, "same"));
        }
        s
    }

    /// The page as Markdown.
    pub fn to_markdown(&self) -> String {
        let esc = |t: &str| t.replace('|', "\\|").replace('\n', " ");
        let mut s = String::new();
        let _ = writeln!(s, "# {}\n", self.title);
        let mut meta = vec![];
        for (k, v) in [
            ("id", &self.id),
            ("level", &self.level),
            ("status", &self.status),
            ("author", &self.author),
            ("date", &self.date),
            ("modified", &self.modified),
        ] {
            if let Some(v) = v {
                meta.push(format!("| {k} | {} |", esc(v)));
            }
        }
        meta.push(format!("| file | `{}` |", self.path));
        meta.push(format!(
            "| logsource | {} |",
            esc(&self.event_coverage.logsource)
        ));
        let _ = writeln!(s, "| | |\n|---|---|\n{}\n", meta.join("\n"));
        if let Some(d) = &self.description {
            let _ = writeln!(s, "{}\n", d.trim());
        }
        if self.disabled {
            let _ = writeln!(
                s,
                "> The matcher disabled this rule (a value over a size limit): it never fires.\n"
            );
        }
        if !self.filters.is_empty() {
            let _ = writeln!(
                s,
                "## Filters applied\n\nThe rule fires only where each filter's condition holds.\n"
            );
            for f in &self.filters {
                let _ = writeln!(s, "- {}", esc(&f.line()));
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## MITRE ATT&CK coverage\n");
        if self.attack.tactics.is_empty() && self.attack.techniques.is_empty() {
            let _ = writeln!(s, "No ATT&CK tags.\n");
        } else {
            let _ = writeln!(s, "| kind | id | name |\n|---|---|---|");
            for t in &self.attack.tactics {
                let _ = writeln!(s, "| Tactic | {} | {} |", t.id, esc(&t.name));
            }
            for t in &self.attack.techniques {
                let _ = writeln!(s, "| Technique | {} | {} |", t.id, esc(&t.name));
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## Event coverage\n");
        if self.event_coverage.mapped && !self.event_coverage.events.is_empty() {
            let _ = writeln!(
                s,
                "| provider | channel | event id | title |\n|---|---|---|---|"
            );
            for e in &self.event_coverage.events {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} |",
                    esc(e.provider.as_deref().unwrap_or("")),
                    esc(e.channel.as_deref().unwrap_or("any")),
                    e.event_id.as_deref().unwrap_or("any"),
                    esc(e.title.as_deref().unwrap_or(""))
                );
            }
            let _ = writeln!(s);
        } else {
            for l in event_lines(&self.event_coverage) {
                let _ = writeln!(s, "{l}\n");
            }
        }
        let _ = writeln!(
            s,
            "## Stages and predicates\n\nCondition: `{}`\n",
            self.condition
        );
        for st in &self.stages {
            let _ = writeln!(s, "**Stage {}**: `{}`\n", st.number, st.condition);
            for x in &st.searches {
                let _ = writeln!(s, "- {}", esc(&search_text(x)));
            }
            let _ = writeln!(s);
        }
        let _ = writeln!(s, "## Indicators\n");
        if self.indicators.is_empty() {
            let _ = writeln!(s, "None besides the event coverage.\n");
        } else {
            let _ = writeln!(
                s,
                "| field | operator | value | corpus |\n|---|---|---|---|"
            );
            for i in &self.indicators {
                let _ = writeln!(
                    s,
                    "| {} | {} | `{}` | {} |",
                    esc(&i.field),
                    esc(&i.op),
                    esc(&i.value),
                    i.corpus
                );
            }
            let _ = writeln!(
                s,
                "\nCorpus: loaded rules looking for the same field, operator and value (1 = this rule only).\n"
            );
        }
        let _ = writeln!(s, "## Neighbours\n");
        let n = &self.neighbours;
        for (head, v, what) in [
            (
                "Stricter (match a subset of this rule's events)",
                &n.stricter,
                "",
            ),
            ("Broader (match a superset)", &n.broader, ""),
            ("Equivalent (match the same events)", &n.equivalent, ""),
            ("Same events, other filters", &n.same_events, "same"),
        ] {
            let total = if what == "same" {
                n.same_events_total
            } else {
                v.len()
            };
            let _ = writeln!(s, "### {head}: {total}\n");
            for r in v.iter() {
                let _ = writeln!(s, "- {}", esc(&neighbour_text(r, what)));
            }
            let _ = writeln!(s);
        }
        s
    }
}
