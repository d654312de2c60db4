//! Sigma correlation documents (`correlation:`, sigma-correlation-rules-specification.md
//! 2.1), checked and typed: the type, the rules referenced, `group-by`, `aliases`,
//! `timespan`, the condition and `generate`.
//!
//! This module only reads and checks one document. [`resolve`] checks a set of them
//! against the loaded rules: every reference names a rule or a correlation (by `id` or
//! `name`), an alias names rules the correlation references, and no correlation reaches
//! itself through its references.
//!
//! Decisions (docs/semantics.md, "Correlations"):
//! - `group-by` is optional (no grouping: one group), as the specification's own text
//!   says "optionally defines"; `timespan` is mandatory, `Ns`, `Nm`, `Nh` or `Nd`
//!   (`timeframe`, the Sigma 1.0 name, is accepted too).
//! - The condition is mandatory for every type but `temporal` and `temporal_ordered`,
//!   whose default is "every referenced rule" (`gte: <number of rules>`). Operators are
//!   `gt`, `gte`, `lt`, `lte`, `eq`, `neq`, ANDed; an unknown key is an error.
//! - `field` is mandatory for `value_count`, `value_sum`, `value_avg`,
//!   `value_percentile` and `value_median`; `value_count` takes a list (the values are
//!   counted as tuples, the fields "linked by an AND").
//! - `value_percentile` takes `percentile: P` (0-100, default 50): the P-th percentile of
//!   the field's values is compared. `value_median` is `value_percentile` at 50.

use std::collections::BTreeMap;

use serde_yaml::Value;

use super::{RuleError, RuleMeta};
use crate::document::RuleDocument;

/// The correlation types of the specification (and `value_median`, which RSigma adds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CorrelationType {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
    ValueMedian,
}

impl CorrelationType {
    fn parse(s: &str) -> Option<CorrelationType> {
        Some(match s {
            "event_count" => CorrelationType::EventCount,
            "value_count" => CorrelationType::ValueCount,
            "temporal" => CorrelationType::Temporal,
            "temporal_ordered" => CorrelationType::TemporalOrdered,
            "value_sum" => CorrelationType::ValueSum,
            "value_avg" => CorrelationType::ValueAvg,
            "value_percentile" => CorrelationType::ValuePercentile,
            "value_median" => CorrelationType::ValueMedian,
            _ => return None,
        })
    }

    /// The name as the specification writes it.
    pub fn name(self) -> &'static str {
        match self {
            CorrelationType::EventCount => "event_count",
            CorrelationType::ValueCount => "value_count",
            CorrelationType::Temporal => "temporal",
            CorrelationType::TemporalOrdered => "temporal_ordered",
            CorrelationType::ValueSum => "value_sum",
            CorrelationType::ValueAvg => "value_avg",
            CorrelationType::ValuePercentile => "value_percentile",
            CorrelationType::ValueMedian => "value_median",
        }
    }

    /// True for the types whose condition reads a `field`.
    pub fn needs_field(self) -> bool {
        !matches!(
            self,
            CorrelationType::EventCount
                | CorrelationType::Temporal
                | CorrelationType::TemporalOrdered
        )
    }

    fn is_temporal(self) -> bool {
        matches!(
            self,
            CorrelationType::Temporal | CorrelationType::TemporalOrdered
        )
    }
}

/// A condition operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            _ => return None,
        })
    }

    /// The operator as the condition writes it.
    pub fn name(self) -> &'static str {
        match self {
            Op::Gt => "gt",
            Op::Gte => "gte",
            Op::Lt => "lt",
            Op::Lte => "lte",
            Op::Eq => "eq",
            Op::Neq => "neq",
        }
    }

    /// `value <op> bound`.
    pub fn holds(self, value: f64, bound: f64) -> bool {
        match self {
            Op::Gt => value > bound,
            Op::Gte => value >= bound,
            Op::Lt => value < bound,
            Op::Lte => value <= bound,
            Op::Eq => value == bound,
            Op::Neq => value != bound,
        }
    }

    /// True when a value that only grows can make the test true and keep it true: such a
    /// test (`gt`, `gte`) can be decided at the event that crosses the bound; the others
    /// (`lt`, `lte`, `eq`, `neq` on a count) only when the window closes.
    pub fn decided_early(self) -> bool {
        matches!(self, Op::Gt | Op::Gte)
    }
}

/// The condition of a correlation: tests ANDed, and for the value types the field.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationCondition {
    pub tests: Vec<(Op, f64)>,
    /// The field (fields, for `value_count`) whose values are aggregated.
    pub fields: Vec<String>,
    /// `value_percentile`: which percentile (0-100).
    pub percentile: f64,
}

impl CorrelationCondition {
    /// True when `value` passes every test.
    pub fn holds(&self, value: f64) -> bool {
        self.tests.iter().all(|(op, b)| op.holds(value, *b))
    }
}

/// A checked correlation document.
#[derive(Clone, Debug, PartialEq)]
pub struct Correlation {
    pub meta: RuleMeta,
    pub kind: CorrelationType,
    /// The rules and correlations it references, by id or name, in the order written.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// alias -> (rule name -> field).
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    pub timespan_secs: u64,
    pub condition: CorrelationCondition,
    /// `generate: true`: the referenced rules also fire on their own.
    pub generate: bool,
    pub path: std::path::PathBuf,
    pub line: usize,
}

impl Correlation {
    /// Builds a correlation from a `correlation:` document.
    pub fn from_document(doc: &RuleDocument) -> Result<Correlation, RuleError> {
        let y = &doc.yaml;
        if !y.is_mapping() {
            return Err(RuleError::NotAMap);
        }
        let meta = super::meta(y)?;
        let Some(body @ Value::Mapping(_)) = y.get("correlation") else {
            return Err(bad("correlation", "a map"));
        };
        let kind_text = body
            .get("type")
            .ok_or(RuleError::Missing("correlation.type"))?
            .as_str()
            .ok_or_else(|| bad("type", "a string"))?;
        let kind = CorrelationType::parse(kind_text).ok_or_else(|| {
            bad(
                "type",
                "one of event_count, value_count, temporal, temporal_ordered, value_sum, \
                 value_avg, value_percentile, value_median",
            )
        })?;
        let rules = strings(body, "rules")?;
        if rules.is_empty() {
            return Err(RuleError::Missing("correlation.rules"));
        }
        let group_by = strings(body, "group-by")?;
        let span_text = match body.get("timespan").or_else(|| body.get("timeframe")) {
            None => return Err(RuleError::Missing("correlation.timespan")),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(bad("timespan", "a number and a unit: 30s, 5m, 1h or 7d")),
        };
        let timespan_secs = timespan(&span_text)
            .ok_or_else(|| bad("timespan", "a number and a unit: 30s, 5m, 1h or 7d"))?;
        let condition = condition(body.get("condition"), kind, rules.len())?;
        let aliases = aliases(body.get("aliases"))?;
        for (alias, per_rule) in &aliases {
            for name in per_rule.keys() {
                if !rules.contains(name) {
                    return Err(RuleError::Correlation(format!(
                        "alias '{alias}' maps a field for '{name}', which the correlation does not reference"
                    )));
                }
            }
        }
        let generate = match y.get("generate").or_else(|| body.get("generate")) {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(bad("generate", "true or false")),
        };
        Ok(Correlation {
            meta,
            kind,
            rules,
            group_by,
            aliases,
            timespan_secs,
            condition,
            generate,
            path: doc.path.clone(),
            line: doc.line,
        })
    }

    /// The field to read for `group` in events matched by the rule named `rule_name`
    /// (an alias maps it; otherwise the group-by name is the field).
    pub fn group_field<'a>(&'a self, group: &'a str, rule_name: Option<&str>) -> Option<&'a str> {
        match self.aliases.get(group) {
            Some(per_rule) => rule_name.and_then(|n| per_rule.get(n)).map(String::as_str),
            None => Some(group),
        }
    }

    /// The condition as one line (`gte 10`, `gt 100 and lte 200`, with the field).
    pub fn condition_text(&self) -> String {
        let tests: Vec<String> = self
            .condition
            .tests
            .iter()
            .map(|(op, b)| format!("{} {b}", op.name()))
            .collect();
        let mut s = tests.join(" and ");
        if !self.condition.fields.is_empty() {
            s = format!(
                "{} of {}: {s}",
                self.kind.name(),
                self.condition.fields.join(", ")
            );
        }
        s
    }
}

fn bad(attr: &str, expected: &'static str) -> RuleError {
    RuleError::BadAttribute {
        attr: attr.into(),
        expected,
    }
}

fn strings(body: &Value, key: &str) -> Result<Vec<String>, RuleError> {
    super::str_list(body, key)
}

/// Seconds in `Ns`, `Nm`, `Nh`, `Nd`; None for anything else (or zero, or over 10 years).
pub fn timespan(text: &str) -> Option<u64> {
    let t = text.trim();
    let unit = t.chars().last()?;
    let n: u64 = t[..t.len() - unit.len_utf8()].parse().ok()?;
    let per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let secs = n.checked_mul(per)?;
    (secs > 0 && secs <= 10 * 366 * 86_400).then_some(secs)
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        _ => None,
    }
}

fn condition(
    v: Option<&Value>,
    kind: CorrelationType,
    n_rules: usize,
) -> Result<CorrelationCondition, RuleError> {
    let mut cond = CorrelationCondition {
        tests: Vec::new(),
        fields: Vec::new(),
        percentile: 50.0,
    };
    match v {
        None | Some(Value::Null) => {
            if !kind.is_temporal() {
                return Err(RuleError::Missing("correlation.condition"));
            }
        }
        Some(Value::Mapping(m)) => {
            for (k, val) in m {
                let key = k.as_str().unwrap_or_default();
                if let Some(op) = Op::parse(key) {
                    let b = number(val).ok_or_else(|| bad(key, "a number"))?;
                    cond.tests.push((op, b));
                } else if key == "field" {
                    cond.fields = match val {
                        Value::String(s) => vec![s.clone()],
                        Value::Sequence(_) if kind == CorrelationType::ValueCount => {
                            strings(&Value::Mapping(m.clone()), "field")?
                        }
                        _ => return Err(bad("field", "a field name")),
                    };
                } else if key == "percentile" && kind == CorrelationType::ValuePercentile {
                    cond.percentile = number(val)
                        .filter(|p| (0.0..=100.0).contains(p))
                        .ok_or_else(|| bad("percentile", "a number from 0 to 100"))?;
                } else {
                    return Err(RuleError::Correlation(format!(
                        "unknown key '{key}' in the condition (gt, gte, lt, lte, eq, neq, field{})",
                        if kind == CorrelationType::ValuePercentile {
                            ", percentile"
                        } else {
                            ""
                        }
                    )));
                }
            }
        }
        Some(_) => return Err(bad("condition", "a map such as {gte: 10}")),
    }
    if kind.needs_field() && cond.fields.is_empty() {
        return Err(RuleError::Missing("correlation.condition.field"));
    }
    if !kind.needs_field() && !cond.fields.is_empty() {
        return Err(RuleError::Correlation(format!(
            "{} takes no 'field' in its condition",
            kind.name()
        )));
    }
    if kind == CorrelationType::ValueMedian {
        cond.percentile = 50.0;
    }
    if cond.tests.is_empty() {
        if kind.is_temporal() {
            cond.tests.push((Op::Gte, n_rules as f64));
        } else {
            return Err(RuleError::Correlation(
                "the condition needs at least one of gt, gte, lt, lte, eq, neq".into(),
            ));
        }
    }
    Ok(cond)
}

fn aliases(v: Option<&Value>) -> Result<BTreeMap<String, BTreeMap<String, String>>, RuleError> {
    let mut out = BTreeMap::new();
    let Some(v) = v else {
        return Ok(out);
    };
    let Value::Mapping(m) = v else {
        return Err(bad("aliases", "a map of alias -> (rule name -> field)"));
    };
    for (alias, per_rule) in m {
        let (Some(alias), Value::Mapping(per_rule)) = (alias.as_str(), per_rule) else {
            return Err(bad("aliases", "a map of alias -> (rule name -> field)"));
        };
        let mut fields = BTreeMap::new();
        for (rule, field) in per_rule {
            let (Some(rule), Some(field)) = (rule.as_str(), field.as_str()) else {
                return Err(bad("aliases", "a map of alias -> (rule name -> field)"));
            };
            fields.insert(rule.to_string(), field.to_string());
        }
        out.insert(alias.to_string(), fields);
    }
    Ok(out)
}

/// What a correlation reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A detection rule, by index in the rule set.
    Rule(usize),
    /// A correlation, by index in the correlation list.
    Correlation(usize),
}

/// Resolves every correlation's references against `rules` and the correlations
/// themselves. Returns, per correlation, its targets, or the reason it cannot be used: a
/// reference nothing answers to, or a cycle (a correlation that reaches itself).
pub fn resolve(
    correlations: &[Correlation],
    rules: &[super::Rule],
) -> Vec<Result<Vec<Target>, RuleError>> {
    let find = |r: &str| -> Option<Target> {
        if let Some(i) = correlations
            .iter()
            .position(|c| c.meta.id.as_deref() == Some(r) || c.meta.name.as_deref() == Some(r))
        {
            return Some(Target::Correlation(i));
        }
        rules
            .iter()
            .position(|x| x.meta.id.as_deref() == Some(r) || x.meta.name.as_deref() == Some(r))
            .map(Target::Rule)
    };
    let mut out: Vec<Result<Vec<Target>, RuleError>> = correlations
        .iter()
        .map(|c| {
            c.rules
                .iter()
                .map(|r| {
                    find(r).ok_or_else(|| {
                        RuleError::Correlation(format!(
                            "references '{r}', which no loaded rule or correlation has as id or name"
                        ))
                    })
                })
                .collect()
        })
        .collect();
    // Cycles: walk each correlation's references depth-first (each correlation visited
    // once per start). Every correlation on a cycle is found on the references as resolved
    // (before any is marked), so each says its own path.
    let cycles: Vec<Option<Vec<usize>>> = (0..correlations.len())
        .map(|start| {
            let mut path = vec![start];
            let mut seen = vec![false; correlations.len()];
            reaches(start, start, &out, &mut path, &mut seen)
        })
        .collect();
    for (start, cycle) in cycles.into_iter().enumerate() {
        if let Some(cycle) = cycle {
            let names: Vec<String> = cycle
                .iter()
                .map(|&i| {
                    let m = &correlations[i].meta;
                    m.name.clone().or(m.id.clone()).unwrap_or(m.title.clone())
                })
                .collect();
            out[start] = Err(RuleError::Correlation(format!(
                "references itself: {}",
                names.join(" -> ")
            )));
        }
    }
    // A correlation that references one that cannot be used cannot be used either.
    loop {
        let mut changed = false;
        for i in 0..out.len() {
            let bad_ref = match &out[i] {
                Ok(t) => t.iter().find_map(|t| match t {
                    Target::Correlation(j) if out[*j].is_err() => Some(*j),
                    _ => None,
                }),
                Err(_) => None,
            };
            if let Some(j) = bad_ref {
                out[i] = Err(RuleError::Correlation(format!(
                    "references correlation '{}', which cannot be used",
                    correlations[j].meta.title
                )));
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    out
}

/// The path from `at` back to `start`, if the references reach it.
fn reaches(
    start: usize,
    at: usize,
    out: &[Result<Vec<Target>, RuleError>],
    path: &mut Vec<usize>,
    seen: &mut [bool],
) -> Option<Vec<usize>> {
    let Ok(targets) = &out[at] else { return None };
    for t in targets {
        let Target::Correlation(j) = *t else { continue };
        path.push(j);
        if j == start {
            return Some(path.clone());
        }
        if !seen[j] {
            seen[j] = true;
            if let Some(c) = reaches(start, j, out, path, seen) {
                return Some(c);
            }
        }
        path.pop();
    }
    None
}
