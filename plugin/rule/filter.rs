//! Sigma filters (`filter:` documents, Sigma filters specification 2.1): tuning that lives
//! apart from the rules it tunes.
//!
//! A filter names rules (by id, `name` or title) and carries its own search identifiers
//! and condition. Applied to a rule, the rule fires only when its own condition **and** the
//! filter's condition hold, exactly as pySigma (`SigmaFilter.apply_on_rule`) and RSigma
//! (`Engine::apply_filter`) combine them. A filter therefore excludes with `not`:
//! `condition: not selection` drops the events its selection matches.
//!
//! Decisions where the specification is silent or loose (docs/semantics.md, "Filters"):
//! - `rules` is mandatory (the specification and its schema say so); a filter without it
//!   is rejected. `rules: any` (or `all`, or an empty list) applies the filter to every
//!   rule of its logsource, as pySigma and RSigma accept.
//! - A filter applies to a rule only when the rule's logsource is inside the filter's: each
//!   of `product`, `category`, `service` the filter sets, the rule sets to the same value
//!   (ignoring case). A named rule outside that logsource is reported, not filtered.
//! - A filter's search identifiers are renamed `_filter<N>_<name>` inside the rule: the
//!   leading `_` keeps them out of the rule's own `them`, and `N` keeps two filters apart.
//!
//! Cost: applying a filter adds its searches to the rule before compiling; the matcher
//! compiles them like the rule's own, so a filter costs what its selection costs.

use serde_yaml::Value;

use super::condition::{Condition, Expr, Target};
use super::detection::Detection;
use super::{BuildOptions, LogSource, Rule, RuleError};
use crate::document::RuleDocument;

/// Which rules a filter names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FilterTargets {
    /// `rules: any` / `all` / `[]`: every rule of the filter's logsource.
    Any,
    /// Rule ids, names or titles.
    Rules(Vec<String>),
}

/// A loaded filter document.
#[derive(Clone, Debug, PartialEq)]
pub struct Filter {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub logsource: LogSource,
    pub targets: FilterTargets,
    pub detection: Detection,
    pub path: std::path::PathBuf,
    pub line: usize,
}

/// What a rule keeps of a filter applied to it (for `check`, `explain` and the catalog).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedFilter {
    pub title: String,
    pub id: Option<String>,
    pub path: std::path::PathBuf,
    /// The filter's condition as written, over its own identifiers.
    pub condition: String,
}

impl Filter {
    /// Builds a filter from a `filter:` document.
    pub fn from_document(doc: &RuleDocument, opts: &BuildOptions) -> Result<Filter, RuleError> {
        let y = &doc.yaml;
        if !y.is_mapping() {
            return Err(RuleError::NotAMap);
        }
        let meta = super::meta(y)?;
        let logsource = super::logsource(y)?;
        let Some(Value::Mapping(body)) = y.get("filter") else {
            return Err(RuleError::BadAttribute {
                attr: "filter".into(),
                expected: "a map of rules, search identifiers and a condition",
            });
        };
        let targets = match body.get("rules") {
            None => return Err(RuleError::Missing("filter.rules")),
            Some(Value::String(s)) if is_any(s) => FilterTargets::Any,
            Some(Value::String(s)) => FilterTargets::Rules(vec![s.clone()]),
            Some(Value::Sequence(seq)) if seq.is_empty() => FilterTargets::Any,
            Some(Value::Sequence(seq)) => FilterTargets::Rules(
                seq.iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(RuleError::BadAttribute {
                            attr: "rules".into(),
                            expected: "a list of rule ids or names",
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(_) => {
                return Err(RuleError::BadAttribute {
                    attr: "rules".into(),
                    expected: "'any', a rule id or name, or a list of them",
                });
            }
        };
        let mut searches = body.clone();
        searches.remove("rules");
        let detection = super::detection(&Value::Mapping(searches), opts)?;
        Ok(Filter {
            title: meta.title,
            id: meta.id,
            name: meta.name,
            logsource,
            targets,
            detection,
            path: doc.path.clone(),
            line: doc.line,
        })
    }

    /// True when `rule` is one this filter names (by id, name or title) or it names any.
    pub fn names(&self, rule: &Rule) -> bool {
        match &self.targets {
            FilterTargets::Any => true,
            FilterTargets::Rules(refs) => refs.iter().any(|r| refers_to(r, rule)),
        }
    }

    /// True when the rule's logsource is inside the filter's.
    pub fn covers(&self, ls: &LogSource) -> bool {
        let inside = |f: &Option<String>, r: &Option<String>| match (f, r) {
            (None, _) => true,
            (Some(f), Some(r)) => f.eq_ignore_ascii_case(r),
            (Some(_), None) => false,
        };
        inside(&self.logsource.product, &ls.product)
            && inside(&self.logsource.category, &ls.category)
            && inside(&self.logsource.service, &ls.service)
    }

    /// The filter's condition as written.
    pub fn condition_text(&self) -> String {
        self.detection
            .conditions
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(" | ")
    }

    /// True when the condition has no `not` anywhere: such a filter keeps only the events
    /// it matches, which is rarely what its author meant (`check` warns).
    pub fn keeps_only_matches(&self) -> bool {
        fn has_not(e: &Expr) -> bool {
            match e {
                Expr::Search(_) => false,
                Expr::Not(_) => true,
                Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => v.iter().any(has_not),
            }
        }
        !has_not(&self.detection.expr)
    }

    /// Adds this filter to `rule`: its searches under new names, and its condition ANDed
    /// with the rule's.
    pub fn apply(&self, rule: &mut Rule) {
        let det = &mut rule.detection;
        let mut n = rule.filters.len() + 1;
        let prefix = loop {
            let p = format!("_filter{n}_");
            if !det.searches.iter().any(|s| s.name.starts_with(&p)) {
                break p;
            }
            n += 1;
        };
        let offset = det.searches.len();
        det.searches.extend(
            self.detection
                .searches
                .iter()
                .map(|s| super::detection::Search {
                    name: format!("{prefix}{}", s.name),
                    expr: s.expr.clone(),
                }),
        );
        let own = std::mem::replace(&mut det.expr, Expr::And(Vec::new()));
        det.expr = Expr::And(vec![own, shifted(&self.detection.expr, offset)]);
        let filter_cond = match self.detection.conditions.as_slice() {
            [one] => renamed(one, &prefix),
            many => Condition::Or(many.iter().map(|c| renamed(c, &prefix)).collect()),
        };
        for c in &mut det.conditions {
            let own = std::mem::replace(c, Condition::And(Vec::new()));
            *c = Condition::And(vec![own, filter_cond.clone()]);
        }
        rule.filters.push(AppliedFilter {
            title: self.title.clone(),
            id: self.id.clone(),
            path: self.path.clone(),
            condition: self.condition_text(),
        });
    }
}

fn is_any(s: &str) -> bool {
    s.eq_ignore_ascii_case("any") || s.eq_ignore_ascii_case("all")
}

/// True when a filter's (or correlation's) reference names this rule.
pub fn refers_to(reference: &str, rule: &Rule) -> bool {
    rule.meta.id.as_deref() == Some(reference)
        || rule.meta.name.as_deref() == Some(reference)
        || rule.meta.title == reference
}

/// `e` with every search index moved up by `by`.
fn shifted(e: &Expr, by: usize) -> Expr {
    match e {
        Expr::Search(i) => Expr::Search(i + by),
        Expr::Not(inner) => Expr::Not(Box::new(shifted(inner, by))),
        Expr::And(v) => Expr::And(v.iter().map(|x| shifted(x, by)).collect()),
        Expr::Or(v) => Expr::Or(v.iter().map(|x| shifted(x, by)).collect()),
        Expr::AtLeast(k, v) => Expr::AtLeast(*k, v.iter().map(|x| shifted(x, by)).collect()),
    }
}

/// `c` over the renamed identifiers (`them` becomes every renamed one).
fn renamed(c: &Condition, prefix: &str) -> Condition {
    match c {
        Condition::Ident(n) => Condition::Ident(format!("{prefix}{n}")),
        Condition::Not(inner) => Condition::Not(Box::new(renamed(inner, prefix))),
        Condition::And(v) => Condition::And(v.iter().map(|x| renamed(x, prefix)).collect()),
        Condition::Or(v) => Condition::Or(v.iter().map(|x| renamed(x, prefix)).collect()),
        Condition::Of(q, Target::Them) => Condition::Of(*q, Target::Pattern(format!("{prefix}*"))),
        Condition::Of(q, Target::Pattern(p)) => {
            Condition::Of(*q, Target::Pattern(format!("{prefix}{p}")))
        }
    }
}
