//! The `ecs` output profile: matches written as Elastic Common Schema fields, merged into
//! the event without overwriting any field it already has.
//!
//! | field | value |
//! | --- | --- |
//! | `rule.id`, `rule.name`, `rule.author`, `rule.description` | per matched rule (keyword arrays) |
//! | `rule.ruleset` | `sigma` |
//! | `event.severity` | highest matched level: informational 1, low 21, medium 47, high 73, critical 99 (Elastic's detection-rule scale) |
//! | `threat.framework` | `MITRE ATT&CK` |
//! | `threat.technique.id` / `.name` | techniques, sub-techniques as their parent |
//! | `threat.technique.subtechnique.id` / `.name` | sub-techniques |
//! | `threat.tactic.id` / `.name` | tactics |

use serde_json::{Map, Value, json};

use super::tag::RuleTag;
use crate::config::Level;

/// `event.severity` for a level.
pub fn severity(level: Option<&str>) -> i64 {
    match level.and_then(Level::parse) {
        Some(Level::Critical) => 99,
        Some(Level::High) => 73,
        Some(Level::Medium) => 47,
        Some(Level::Low) => 21,
        Some(Level::Informational) | None => 1,
    }
}

fn push_unique(list: &mut Vec<Value>, v: &str) {
    if !list.iter().any(|x| x == v) {
        list.push(Value::String(v.to_string()));
    }
}

/// The ECS fields for a set of matches.
pub fn fields(hits: &[usize], tags: &[RuleTag]) -> Value {
    let (mut ids, mut names, mut authors, mut descriptions) = (vec![], vec![], vec![], vec![]);
    let (mut tech_ids, mut tech_names, mut sub_ids, mut sub_names) =
        (vec![], vec![], vec![], vec![]);
    let (mut tactic_ids, mut tactic_names) = (vec![], vec![]);
    let mut sev = 0;
    for &h in hits {
        let t = &tags[h].entry;
        ids.push(Value::String(t.id.clone().unwrap_or_default()));
        names.push(Value::String(t.title.clone()));
        if let Some(a) = &t.author {
            push_unique(&mut authors, a);
        }
        if let Some(d) = &t.description {
            descriptions.push(Value::String(d.clone()));
        }
        sev = sev.max(severity(t.level.as_deref()));
        for tech in &t.attack.techniques {
            match tech.id.split_once('.') {
                Some((parent, _)) => {
                    push_unique(&mut sub_ids, &tech.id);
                    push_unique(
                        &mut sub_names,
                        tech.name.split_once(": ").map_or(&tech.name, |(_, s)| s),
                    );
                    push_unique(&mut tech_ids, parent);
                    push_unique(
                        &mut tech_names,
                        tech.name.split_once(": ").map_or(&tech.name, |(p, _)| p),
                    );
                }
                None => {
                    push_unique(&mut tech_ids, &tech.id);
                    push_unique(&mut tech_names, &tech.name);
                }
            }
        }
        for tactic in &t.attack.tactics {
            push_unique(&mut tactic_ids, &tactic.id);
            push_unique(&mut tactic_names, &tactic.name);
        }
    }
    let mut rule = json!({ "id": ids, "name": names, "ruleset": "sigma" });
    if !authors.is_empty() {
        rule["author"] = Value::Array(authors);
    }
    if !descriptions.is_empty() {
        rule["description"] = Value::Array(descriptions);
    }
    let mut out = json!({ "rule": rule, "event": { "severity": sev } });
    if !tech_ids.is_empty() || !tactic_ids.is_empty() {
        let mut threat = json!({ "framework": "MITRE ATT&CK" });
        if !tech_ids.is_empty() {
            threat["technique"] = json!({ "id": tech_ids, "name": tech_names });
            if !sub_ids.is_empty() {
                threat["technique"]["subtechnique"] = json!({ "id": sub_ids, "name": sub_names });
            }
        }
        if !tactic_ids.is_empty() {
            threat["tactic"] = json!({ "id": tactic_ids, "name": tactic_names });
        }
        out["threat"] = threat;
    }
    out
}

/// Merges `add` into `base`; where both have a value that is not an object, `base` keeps
/// its own.
pub fn merge_keep_existing(base: &mut Map<String, Value>, add: Map<String, Value>) {
    for (k, v) in add {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(a)) => merge_keep_existing(b, a),
            (Some(_), _) => {}
            (None, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Writes the event with ECS fields spliced into its own bytes ([`super::splice::merge`]):
/// into the `rule`, `event` and `threat` objects it already has, keeping its own values.
/// An added value that meets one of the event's (a leaf it already has, or a `rule`
/// that is not an object) is written under `sigma` at the same path instead, so nothing
/// is dropped; an event's own `sigma` member is replaced.
pub fn write(line: &[u8], hits: &[usize], tags: &[RuleTag], out: &mut Vec<u8>) {
    let Value::Object(add) = fields(hits, tags) else {
        unreachable!("fields are an object")
    };
    let mut merged = Vec::with_capacity(line.len() + 512);
    let conflicts = super::splice::merge(line, &add, &mut merged);
    if conflicts.is_empty() {
        super::splice::remove_member(&merged, "sigma", out).unwrap_or_else(|| {
            out.extend_from_slice(&merged);
            0
        });
    } else {
        super::splice::replace_member(&merged, "sigma", out, |o| {
            serde_json::to_writer(o, &Value::Object(conflicts)).expect("values serialize")
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_fields_win() {
        let mut base = json!({"event": {"severity": 3, "code": "1"}, "x": 1});
        let add = json!({"event": {"severity": 73}, "rule": {"id": ["a"]}});
        merge_keep_existing(
            base.as_object_mut().unwrap(),
            add.as_object().unwrap().clone(),
        );
        assert_eq!(
            base,
            json!({"event": {"severity": 3, "code": "1"}, "x": 1, "rule": {"id": ["a"]}})
        );
    }

    #[test]
    fn severities() {
        assert_eq!(severity(Some("critical")), 99);
        assert_eq!(severity(Some("High")), 73);
        assert_eq!(severity(None), 1);
    }
}
