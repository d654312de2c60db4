//! The `ecs` output profile: matches written as Elastic Common Schema (8.x) fields, spliced
//! into the event without dropping any value it already has.
//!
//! | field | ECS type | value |
//! | --- | --- | --- |
//! | `event.kind` | keyword | `alert` |
//! | `event.risk_score`, `event.risk_score_norm` | float | highest matched level: informational 1, low 21, medium 47, high 73, critical 99 (Elastic's detection-rule scale, already 0–100) |
//! | `rule.id`, `rule.name`, `rule.description`, `rule.author`, `rule.reference`, `rule.license`, `rule.version`, `rule.category`, `rule.ruleset` | keyword | one element per matched rule, index `i` always match `i` (`null` where the rule has no such value) |
//! | `threat.framework` | keyword | `MITRE ATT&CK` |
//! | `threat.technique.{id,name,reference}` | keyword | techniques (a sub-technique's parent included), one element per id |
//! | `threat.technique.subtechnique.{id,name,reference}` | keyword | sub-techniques |
//! | `threat.tactic.{id,name,reference}` | keyword | tactics |
//! | `<field>.matches` | object | the `sigma` profile's tag entries, in the same order as `rule.*`: level, status, tags, references |
//!
//! `event.severity` is the source's own severity in ECS and is never written. A rule
//! writes `rule.reference` as its first reference (all of them are in `<field>.matches`),
//! `rule.version` as its `modified` or else `date`, `rule.category` as its logsource
//! category, service or product, and `rule.license` as its `license` or else `DRL-1.1`,
//! the license of the SigmaHQ rules.
//!
//! Nothing the event has is dropped. `rule` and `threat` are written whole or not at all:
//! when the event already has a `rule` (Elastic's Sysmon pipeline maps `RuleName` there)
//! or a `threat`, ours goes to `<field>.rule` / `<field>.threat`, so that `rule.id` never
//! sits beside another tool's `rule.name`. An `event.*` leaf the event already has (a
//! Winlogbeat `event.kind: event`) stays, and ours is written at `<field>.event.*`.

use serde_json::{Map, Value, json};

use super::decided::Decided;
use super::tag::RuleTag;
use crate::attack::AttackRef;
use crate::config::Level;
use crate::rule::{Rule, RuleMeta};

/// `rule.license` of a rule that names none: the Detection Rule License of SigmaHQ.
pub const DEFAULT_LICENSE: &str = "DRL-1.1";

/// `rule.ruleset` of every match.
pub const RULESET: &str = "sigma";

/// `threat.framework`.
pub const FRAMEWORK: &str = "MITRE ATT&CK";

/// A rule's ECS values, worked out once when the rules compile.
#[derive(Clone, Debug, PartialEq)]
pub struct EcsRule {
    /// `event.risk_score` of the rule's level.
    pub risk_score: u8,
    /// The first of the rule's `references`.
    pub reference: Option<String>,
    /// The rule's `license`, or [`DEFAULT_LICENSE`].
    pub license: String,
    /// The rule's `modified`, or else its `date`.
    pub version: Option<String>,
    /// The logsource category, else service, else product.
    pub category: Option<String>,
}

impl EcsRule {
    /// The ECS values of `rule`.
    pub fn new(rule: &Rule) -> EcsRule {
        let ls = &rule.logsource;
        let category = ls
            .category
            .clone()
            .or(ls.service.clone())
            .or(ls.product.clone());
        EcsRule::from_meta(&rule.meta, category)
    }

    /// The ECS values of a rule or correlation's metadata, with `rule.category`.
    pub fn from_meta(meta: &RuleMeta, category: Option<String>) -> EcsRule {
        EcsRule {
            risk_score: risk_score(meta.level.as_deref()),
            reference: meta.references.first().cloned(),
            license: meta
                .license
                .clone()
                .unwrap_or_else(|| DEFAULT_LICENSE.to_string()),
            version: meta.modified.clone().or(meta.date.clone()),
            category,
        }
    }
}

/// `event.risk_score` for a level (Elastic's detection-rule scale).
pub fn risk_score(level: Option<&str>) -> u8 {
    match level.and_then(Level::parse) {
        Some(Level::Critical) => 99,
        Some(Level::High) => 73,
        Some(Level::Medium) => 47,
        Some(Level::Low) => 21,
        Some(Level::Informational) | None => 1,
    }
}

/// The ATT&CK page of a technique (`T1059`, `T1059.001`) or tactic (`TA0002`).
pub fn attack_reference(id: &str) -> String {
    if id.starts_with("TA") {
        format!("https://attack.mitre.org/tactics/{id}/")
    } else {
        format!(
            "https://attack.mitre.org/techniques/{}/",
            id.replace('.', "/")
        )
    }
}

/// Entries of one `threat.*` object, one per id, with their fields kept in line.
#[derive(Default)]
struct Entries {
    ids: Vec<Value>,
    names: Vec<Value>,
    references: Vec<Value>,
}

impl Entries {
    fn push(&mut self, id: &str, name: &str) {
        if self.ids.iter().any(|x| x == id) {
            return;
        }
        self.ids.push(Value::String(id.to_string()));
        self.names.push(Value::String(name.to_string()));
        self.references.push(Value::String(attack_reference(id)));
    }

    fn into_value(self) -> Option<Value> {
        (!self.ids.is_empty())
            .then(|| json!({ "id": self.ids, "name": self.names, "reference": self.references }))
    }
}

/// `threat.*` of the matched rules' techniques and tactics.
fn threat(matched: &[&RuleTag]) -> Option<Value> {
    let (mut techniques, mut subtechniques, mut tactics) =
        (Entries::default(), Entries::default(), Entries::default());
    for t in matched {
        let attack = &t.entry.attack;
        for AttackRef { id, name } in &attack.techniques {
            match id.split_once('.') {
                // A sub-technique's name is "Parent: Sub".
                Some((parent, _)) => {
                    let (parent_name, sub_name) = name.split_once(": ").unwrap_or((name, name));
                    techniques.push(parent, parent_name);
                    subtechniques.push(id, sub_name);
                }
                None => techniques.push(id, name),
            }
        }
        for AttackRef { id, name } in &attack.tactics {
            tactics.push(id, name);
        }
    }
    let techniques = techniques.into_value().map(|mut t| {
        if let Some(sub) = subtechniques.into_value() {
            t["subtechnique"] = sub;
        }
        t
    });
    let tactics = tactics.into_value();
    if techniques.is_none() && tactics.is_none() {
        return None;
    }
    let mut threat = json!({ "framework": FRAMEWORK });
    if let Some(t) = techniques {
        threat["technique"] = t;
    }
    if let Some(t) = tactics {
        threat["tactic"] = t;
    }
    Some(threat)
}

/// The `rule.*` fields, in the order they are written.
const RULE_FIELDS: [&str; 9] = [
    "id",
    "name",
    "description",
    "author",
    "reference",
    "license",
    "version",
    "category",
    "ruleset",
];

/// A rule's value of `rule.<field>`.
fn rule_value<'t>(t: &'t RuleTag, field: &str) -> Option<&'t str> {
    match field {
        "id" => t.entry.id.as_deref(),
        "name" => Some(&t.entry.title),
        "description" => t.entry.description.as_deref(),
        "author" => t.entry.author.as_deref(),
        "reference" => t.ecs.reference.as_deref(),
        "license" => Some(&t.ecs.license),
        "version" => t.ecs.version.as_deref(),
        "category" => t.ecs.category.as_deref(),
        _ => Some(RULESET),
    }
}

/// The ECS fields for a set of matches, rules and correlations (`rule`, `event`, `threat`;
/// see the module table).
pub fn fields(matched: &[&RuleTag]) -> Map<String, Value> {
    let mut rule = Map::new();
    for field in RULE_FIELDS {
        let values: Vec<Value> = matched
            .iter()
            .map(|t| rule_value(t, field).map_or(Value::Null, |s| Value::String(s.into())))
            .collect();
        // A field no matched rule has is left out; otherwise one value per match.
        if values.iter().any(|v| !v.is_null()) {
            rule.insert(field.to_string(), Value::Array(values));
        }
    }
    let score = matched.iter().map(|t| t.ecs.risk_score).max().unwrap_or(1);
    let mut out = Map::new();
    out.insert("rule".into(), Value::Object(rule));
    out.insert(
        "event".into(),
        json!({ "kind": "alert", "risk_score": score, "risk_score_norm": score }),
    );
    if let Some(t) = threat(matched) {
        out.insert("threat".into(), t);
    }
    out
}

/// Writes the event with ECS fields spliced into its own bytes ([`super::splice::merge`]),
/// and the tag entries with whatever could not be placed under `field` (see the module
/// documentation). A `field` member the event came with is replaced.
pub fn write(
    line: &[u8],
    field: &str,
    hits: &[usize],
    tags: &[RuleTag],
    decided: &Decided,
    out: &mut Vec<u8>,
) {
    let matched: Vec<&RuleTag> = hits.iter().map(|&h| &tags[h]).collect();
    write_with(line, field, &matched, out, |o| {
        o.extend_from_slice(b"\"matches\":");
        super::tag::write_entries(hits, tags, decided, o);
    });
}

/// [`write`] for any matches, rules and correlations (`matched`, in the order of their
/// entries): `members` writes the tag object's own members (`"matches":[...]`, and for
/// correlations `"correlations":[...]`), the displaced values follow them.
pub fn write_with(
    line: &[u8],
    field: &str,
    matched: &[&RuleTag],
    out: &mut Vec<u8>,
    members: impl FnOnce(&mut Vec<u8>),
) {
    let mut add = fields(matched);
    let mut displaced = Map::new();
    for whole in ["rule", "threat"] {
        if super::splice::has_member(line, whole)
            && let Some(v) = add.remove(whole)
        {
            displaced.insert(whole.to_string(), v);
        }
    }
    let mut merged = Vec::with_capacity(line.len() + 1024);
    let conflicts = super::splice::merge(line, &add, &mut merged);
    for (k, v) in conflicts {
        displaced.insert(k, v);
    }
    super::splice::replace_member(&merged, field, out, |o| {
        o.push(b'{');
        members(o);
        for (k, v) in &displaced {
            o.push(b',');
            serde_json::to_writer(&mut *o, k).expect("a string serializes");
            o.push(b':');
            serde_json::to_writer(&mut *o, v).expect("values serialize");
        }
        o.push(b'}');
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn risk_scores_follow_the_level() {
        assert_eq!(risk_score(Some("critical")), 99);
        assert_eq!(risk_score(Some("High")), 73);
        assert_eq!(risk_score(Some("medium")), 47);
        assert_eq!(risk_score(Some("low")), 21);
        assert_eq!(risk_score(Some("informational")), 1);
        assert_eq!(risk_score(None), 1);
    }

    #[test]
    fn attack_references_are_the_attack_pages() {
        assert_eq!(
            attack_reference("T1059"),
            "https://attack.mitre.org/techniques/T1059/"
        );
        assert_eq!(
            attack_reference("T1059.001"),
            "https://attack.mitre.org/techniques/T1059/001/"
        );
        assert_eq!(
            attack_reference("TA0002"),
            "https://attack.mitre.org/tactics/TA0002/"
        );
    }

    #[test]
    fn entries_keep_one_per_id_in_line() {
        let mut e = Entries::default();
        e.push("T1", "Same");
        e.push("T2", "Same");
        e.push("T1", "Same");
        let v = e.into_value().unwrap();
        assert_eq!(v["id"], json!(["T1", "T2"]));
        assert_eq!(v["name"], json!(["Same", "Same"]), "a name per id");
        assert_eq!(v["reference"].as_array().unwrap().len(), 2);
    }
}
