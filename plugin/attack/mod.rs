//! MITRE ATT&CK lookup: rule tags (`attack.t1569.002`, `attack.execution`) to technique and
//! tactic ids and names, from the tables in `rules/attack/` (Enterprise v19, with
//! deprecated and revoked ids from v18.1 so older rules still resolve). The tables are
//! built into the binary.

use std::collections::HashMap;

const TECHNIQUES: &str = include_str!("../../rules/attack/techniques.tsv");
const TACTICS: &str = include_str!("../../rules/attack/tactics.tsv");

/// An ATT&CK object reference.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AttackRef {
    pub id: String,
    pub name: String,
}

/// What a rule's tags say about ATT&CK.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttackTags {
    pub techniques: Vec<AttackRef>,
    pub tactics: Vec<AttackRef>,
    /// `attack.*` tags that name no technique, tactic, group, software or data source we
    /// know. They stay in the rule's tags; this list is for counting and reporting.
    pub unknown: Vec<String>,
}

/// The lookup tables.
#[derive(Debug)]
pub struct Attack {
    techniques: HashMap<String, (String, bool)>,
    tactics: HashMap<String, AttackRef>,
}

impl Attack {
    /// The built-in tables.
    pub fn builtin() -> Attack {
        let mut techniques = HashMap::new();
        for line in TECHNIQUES.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() >= 5 {
                techniques.insert(
                    cols[0].to_ascii_lowercase(),
                    (cols[1].to_string(), cols[4] == "true"),
                );
            }
        }
        let mut tactics = HashMap::new();
        for line in TACTICS.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() >= 3 {
                let r = AttackRef {
                    id: cols[0].to_string(),
                    name: cols[2].to_string(),
                };
                tactics.insert(cols[1].to_string(), r.clone());
                if let Some(prev) = cols.get(4).filter(|p| !p.is_empty()) {
                    tactics.insert(prev.to_string(), r.clone());
                }
                tactics.insert(cols[0].to_ascii_lowercase(), r);
            }
        }
        Attack {
            techniques,
            tactics,
        }
    }

    /// Number of techniques known (active and deprecated).
    pub fn technique_count(&self) -> usize {
        self.techniques.len()
    }

    /// A technique by id (`T1569.002`, any case).
    pub fn technique(&self, id: &str) -> Option<AttackRef> {
        self.techniques
            .get(&id.to_ascii_lowercase())
            .map(|(name, _)| AttackRef {
                id: id.to_ascii_uppercase(),
                name: name.clone(),
            })
    }

    /// A tactic by shortname (`execution`; old `defense_evasion` forms too) or id.
    pub fn tactic(&self, name: &str) -> Option<AttackRef> {
        let key = name.to_ascii_lowercase().replace('_', "-");
        self.tactics.get(&key).cloned()
    }

    /// Resolves a rule's tags.
    pub fn resolve(&self, tags: &[String]) -> AttackTags {
        let mut out = AttackTags::default();
        for tag in tags {
            let lower = tag.to_ascii_lowercase();
            let Some(rest) = lower.strip_prefix("attack.") else {
                continue;
            };
            if let Some(t) = rest.strip_prefix('t').and_then(|_| self.technique(rest)) {
                if !out.techniques.contains(&t) {
                    out.techniques.push(t);
                }
            } else if let Some(t) = self.tactic(rest) {
                if !out.tactics.contains(&t) {
                    out.tactics.push(t);
                }
            } else if !is_other_attack_id(rest) {
                out.unknown.push(tag.clone());
            }
        }
        out
    }
}

/// Groups (`g0001`), software (`s0001`), mitigations (`m1001`), data sources (`ds0005`),
/// campaigns (`c0001`): valid ATT&CK ids outside the technique/tactic tables.
fn is_other_attack_id(rest: &str) -> bool {
    let digits = |s: &str| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit());
    ["ds", "g", "s", "m", "c"]
        .iter()
        .any(|p| rest.strip_prefix(p).is_some_and(digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_techniques_and_tactics() {
        let a = Attack::builtin();
        let tags: Vec<String> = [
            "attack.execution",
            "attack.t1569.002",
            "attack.defense_evasion",
            "attack.g0032",
            "attack.bogus",
            "car.2013-05-004",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let r = a.resolve(&tags);
        assert_eq!(
            r.techniques,
            [AttackRef {
                id: "T1569.002".into(),
                name: "System Services: Service Execution".into()
            }]
        );
        assert_eq!(
            r.tactics[0],
            AttackRef {
                id: "TA0002".into(),
                name: "Execution".into()
            }
        );
        // The v18 shortname resolves to the same tactic, under its v19 name.
        assert_eq!(
            r.tactics[1],
            AttackRef {
                id: "TA0005".into(),
                name: "Stealth".into()
            }
        );
        assert_eq!(r.unknown, ["attack.bogus"]);
        assert_eq!(a.tactic("defense-impairment").unwrap().id, "TA0112");
    }
}
