//! Typed rules: a Sigma rule document checked and turned into metadata, a logsource and a
//! typed detection ([`detection::Detection`]). Everything the spec allows is represented;
//! everything it does not is a [`RuleError`] with a reason.
//!
//! Layers below: [`pattern`] (wildcard strings), [`modifier`] (the `|mod` names),
//! [`values`] (modifier chains applied to values), [`condition`] (the condition grammar).

pub mod condition;
pub mod correlation;
pub mod detection;
pub mod encoding;
mod error;
pub mod filter;
pub mod limits;
pub mod modifier;
pub mod pattern;
pub mod placeholders;
pub mod values;

use std::path::PathBuf;

use serde_yaml::Value;

pub use error::{Rejection, RuleError};

use crate::document::{DocumentKind, RuleDocument};
use condition::Condition;
use detection::{Detection, Search, SearchExpr};
use placeholders::Placeholders;

/// The `logsource` of a rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
}

impl std::fmt::Display for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (k, v) in [
            ("product", &self.product),
            ("category", &self.category),
            ("service", &self.service),
        ] {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        }
        f.write_str(&parts.join(" "))
    }
}

/// A `related` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub id: String,
    pub kind: String,
}

/// A rule's descriptive attributes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleMeta {
    pub title: String,
    pub id: Option<String>,
    pub name: Option<String>,
    pub status: Option<String>,
    pub level: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub date: Option<String>,
    pub modified: Option<String>,
    pub license: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    pub falsepositives: Vec<String>,
    pub fields: Vec<String>,
    pub related: Vec<Related>,
}

/// A loaded detection rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub meta: RuleMeta,
    pub logsource: LogSource,
    pub detection: Detection,
    pub path: PathBuf,
    pub line: usize,
    /// Filters applied to this rule, in the order they were applied (their searches and
    /// conditions are already part of `detection`).
    pub filters: Vec<filter::AppliedFilter>,
}

/// Options for building rules.
#[derive(Clone, Debug, Default)]
pub struct BuildOptions {
    pub placeholders: Placeholders,
    /// Bounds on what loading may cost.
    pub limits: limits::RuleLimits,
}

impl BuildOptions {
    /// Options with these placeholder values, bounded by `limits`.
    pub fn new(mut placeholders: Placeholders, limits: limits::RuleLimits) -> BuildOptions {
        placeholders.set_limit(limits.max_values_per_rule);
        BuildOptions {
            placeholders,
            limits,
        }
    }
}

impl Rule {
    /// Builds a rule from a document.
    pub fn from_document(doc: &RuleDocument, opts: &BuildOptions) -> Result<Rule, RuleError> {
        match doc.kind {
            DocumentKind::Correlation => return Err(RuleError::NotEvaluated("correlation")),
            DocumentKind::Filter => return Err(RuleError::NotEvaluated("filter")),
            DocumentKind::Detection => {}
        }
        let y = &doc.yaml;
        if !y.is_mapping() {
            return Err(RuleError::NotAMap);
        }
        if let Some(d) = y.get("detection") {
            let n = limits::yaml_values(d);
            if n > opts.limits.max_values_per_rule {
                return Err(RuleError::Limit {
                    limit: "max_values_per_rule",
                    value: format!("{n} values in the detection"),
                });
            }
        }
        let meta = meta(y)?;
        let logsource = logsource(y)?;
        let detection = detection(
            y.get("detection").ok_or(RuleError::Missing("detection"))?,
            opts,
        )?;
        Ok(Rule {
            meta,
            logsource,
            detection,
            path: doc.path.clone(),
            line: doc.line,
            filters: Vec::new(),
        })
    }
}

fn logsource(y: &Value) -> Result<LogSource, RuleError> {
    match y.get("logsource") {
        Some(ls @ Value::Mapping(_)) => Ok(LogSource {
            product: opt_str(ls, "product")?,
            category: opt_str(ls, "category")?,
            service: opt_str(ls, "service")?,
        }),
        Some(_) => Err(RuleError::BadAttribute {
            attr: "logsource".into(),
            expected: "a map",
        }),
        None => Err(RuleError::Missing("logsource")),
    }
}

fn opt_str(y: &Value, key: &str) -> Result<Option<String>, RuleError> {
    match y.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(RuleError::BadAttribute {
            attr: key.into(),
            expected: "a string",
        }),
    }
}

fn str_list(y: &Value, key: &str) -> Result<Vec<String>, RuleError> {
    match y.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Sequence(seq)) => seq
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(RuleError::BadAttribute {
                    attr: key.into(),
                    expected: "a list of strings",
                }),
            })
            .collect(),
        Some(_) => Err(RuleError::BadAttribute {
            attr: key.into(),
            expected: "a list of strings",
        }),
    }
}

fn meta(y: &Value) -> Result<RuleMeta, RuleError> {
    let title = opt_str(y, "title")?.ok_or(RuleError::Missing("title"))?;
    let related = match y.get("related") {
        Some(Value::Sequence(seq)) => seq
            .iter()
            .filter_map(|r| {
                Some(Related {
                    id: r.get("id")?.as_str()?.to_string(),
                    kind: r
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    // `date`/`modified` may be YAML dates (strings to serde_yaml) or other scalars.
    Ok(RuleMeta {
        title,
        id: opt_str(y, "id")?,
        name: opt_str(y, "name")?,
        status: opt_str(y, "status")?,
        level: opt_str(y, "level")?,
        description: opt_str(y, "description")?,
        author: opt_str(y, "author")?,
        date: opt_str(y, "date")?,
        modified: opt_str(y, "modified")?,
        license: opt_str(y, "license")?,
        references: str_list(y, "references")?,
        tags: str_list(y, "tags")?,
        falsepositives: str_list(y, "falsepositives")?,
        fields: str_list(y, "fields")?,
        related,
    })
}

fn detection(y: &Value, opts: &BuildOptions) -> Result<Detection, RuleError> {
    let Value::Mapping(map) = y else {
        return Err(RuleError::BadAttribute {
            attr: "detection".into(),
            expected: "a map of search identifiers and a condition",
        });
    };
    let mut searches = Vec::new();
    let mut condition_texts = Vec::new();
    for (k, v) in map {
        let name = match k {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(RuleError::BadAttribute {
                    attr: "detection".into(),
                    expected: "a map with string keys",
                });
            }
        };
        if name == "condition" {
            match v {
                Value::String(s) => condition_texts.push(s.clone()),
                Value::Sequence(seq) => {
                    for c in seq {
                        match c.as_str() {
                            Some(s) => condition_texts.push(s.to_string()),
                            None => {
                                return Err(RuleError::BadAttribute {
                                    attr: "condition".into(),
                                    expected: "a string or a list of strings",
                                });
                            }
                        }
                    }
                }
                _ => {
                    return Err(RuleError::BadAttribute {
                        attr: "condition".into(),
                        expected: "a string or a list of strings",
                    });
                }
            }
            continue;
        }
        if name == "timeframe" {
            // Sigma 1.0 aggregation window; only meaningful with an aggregation, which the
            // condition parser rejects.
            continue;
        }
        let expr = search(&name, v, opts)?;
        searches.push(Search { name, expr });
    }
    if condition_texts.is_empty() {
        return Err(RuleError::Missing("detection.condition"));
    }
    let names: Vec<String> = searches.iter().map(|s| s.name.clone()).collect();
    let mut conditions = Vec::new();
    let mut exprs = Vec::new();
    for text in &condition_texts {
        let c = Condition::parse(text)?;
        exprs.push(c.resolve(&names)?);
        conditions.push(c);
    }
    let expr = if exprs.len() == 1 {
        exprs.pop().unwrap()
    } else {
        condition::Expr::Or(exprs)
    };
    Ok(Detection {
        searches,
        conditions,
        expr,
    })
}

fn search(name: &str, v: &Value, opts: &BuildOptions) -> Result<SearchExpr, RuleError> {
    match v {
        Value::Mapping(m) => {
            if m.is_empty() {
                return Err(RuleError::EmptySearch(name.into()));
            }
            let mut items = Vec::with_capacity(m.len());
            for (k, val) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(RuleError::BadSearch {
                            ident: name.into(),
                            found: "a map key that is not a string",
                        });
                    }
                };
                items.push(SearchExpr::Test(values::field_test(
                    &key,
                    val,
                    &opts.placeholders,
                )?));
            }
            Ok(if items.len() == 1 {
                items.pop().unwrap()
            } else {
                SearchExpr::And(items)
            })
        }
        Value::Sequence(seq) => {
            if seq.is_empty() {
                return Err(RuleError::EmptySearch(name.into()));
            }
            let (maps, scalars): (Vec<&Value>, Vec<&Value>) =
                seq.iter().partition(|v| v.is_mapping());
            let mut alts = Vec::new();
            for m in maps {
                alts.push(search(name, m, opts)?);
            }
            if !scalars.is_empty() {
                if scalars.iter().any(|v| v.is_sequence()) {
                    return Err(RuleError::BadSearch {
                        ident: name.into(),
                        found: "a nested list",
                    });
                }
                let list = Value::Sequence(scalars.into_iter().cloned().collect());
                alts.push(SearchExpr::Test(values::field_test(
                    "",
                    &list,
                    &opts.placeholders,
                )?));
            }
            Ok(if alts.len() == 1 {
                alts.pop().unwrap()
            } else {
                SearchExpr::Or(alts)
            })
        }
        Value::String(_) | Value::Number(_) => Ok(SearchExpr::Test(values::field_test(
            "",
            v,
            &opts.placeholders,
        )?)),
        Value::Null => Err(RuleError::EmptySearch(name.into())),
        _ => Err(RuleError::BadSearch {
            ident: name.into(),
            found: "a boolean or tagged value",
        }),
    }
}
