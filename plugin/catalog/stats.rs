//! Corpus statistics (`catalog stats`) and ATT&CK coverage (`coverage`): rules per level,
//! status, logsource, tactic and technique, the most shared indicators, rules without
//! ATT&CK tags, and an ATT&CK Navigator layer scoring each technique by its rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use super::{Catalog, Indicator};

/// Per technique: name, rules, rules per level, tactic shortnames.
type TechniqueTally = (String, usize, BTreeMap<String, usize>, Vec<String>);
/// Per technique under a tactic: name, rules, rules per level (in [`LEVELS`] order).
type LevelTally = (String, usize, [usize; 5]);

/// Levels from highest to lowest, as Sigma orders them.
pub const LEVELS: [&str; 5] = ["critical", "high", "medium", "low", "informational"];

/// A count row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Count {
    pub key: String,
    pub name: String,
    pub rules: usize,
}

/// The statistics of a catalog.
#[derive(Clone, Debug, Serialize)]
pub struct CorpusStats {
    pub rules: usize,
    pub mapped: usize,
    pub disabled: usize,
    pub by_level: Vec<Count>,
    pub by_status: Vec<Count>,
    pub by_logsource: Vec<Count>,
    pub by_tactic: Vec<Count>,
    pub by_technique: Vec<Count>,
    pub top_indicators: Vec<(Indicator, usize)>,
    /// Rules without any ATT&CK tactic or technique tag: (id or path, title).
    pub without_attack: Vec<(String, String)>,
    pub stricter_pairs: usize,
    pub equivalent_pairs: usize,
}

fn sorted(m: BTreeMap<(String, String), usize>) -> Vec<Count> {
    let mut v: Vec<Count> = m
        .into_iter()
        .map(|((key, name), rules)| Count { key, name, rules })
        .collect();
    v.sort_by(|a, b| b.rules.cmp(&a.rules).then_with(|| a.key.cmp(&b.key)));
    v
}

impl Catalog {
    /// Statistics over every loaded rule.
    pub fn stats(&self, top: usize) -> CorpusStats {
        let mut level = BTreeMap::new();
        let mut status = BTreeMap::new();
        let mut tactic = BTreeMap::new();
        let mut technique = BTreeMap::new();
        let mut without = Vec::new();
        for (i, r) in self.rules().iter().enumerate() {
            let l = r.meta.level.clone().unwrap_or_else(|| "(none)".into());
            *level.entry((l.clone(), l)).or_default() += 1;
            let s = r.meta.status.clone().unwrap_or_else(|| "(none)".into());
            *status.entry((s.clone(), s)).or_default() += 1;
            let a = &self.info(i).attack;
            for t in &a.tactics {
                *tactic.entry((t.id.clone(), t.name.clone())).or_default() += 1;
            }
            for t in &a.techniques {
                *technique.entry((t.id.clone(), t.name.clone())).or_default() += 1;
            }
            if a.tactics.is_empty() && a.techniques.is_empty() {
                without.push((
                    r.meta
                        .id
                        .clone()
                        .unwrap_or_else(|| r.path.display().to_string()),
                    r.meta.title.clone(),
                ));
            }
        }
        let mut by_level = sorted(level);
        by_level.sort_by_key(|c| {
            LEVELS
                .iter()
                .position(|l| *l == c.key)
                .unwrap_or(LEVELS.len())
        });
        let b = self.build_stats();
        CorpusStats {
            rules: self.rules().len(),
            mapped: (0..self.rules().len())
                .filter(|i| self.info(*i).mapped)
                .count(),
            disabled: (0..self.rules().len())
                .filter(|i| self.info(*i).disabled)
                .count(),
            by_level,
            by_status: sorted(status),
            by_logsource: sorted(
                self.logsource_counts()
                    .into_iter()
                    .map(|(k, v)| ((k.clone(), k), v))
                    .collect(),
            ),
            by_tactic: sorted(tactic),
            by_technique: sorted(technique),
            top_indicators: self.top_indicators(top),
            without_attack: without,
            stricter_pairs: b.stricter_pairs,
            equivalent_pairs: b.equivalent_pairs,
        }
    }

    /// An ATT&CK Navigator layer (layer format 4.5): each technique's score is its number
    /// of rules; the comment and metadata give the count per level.
    pub fn navigator_layer(&self, name: &str) -> Value {
        let mut per: BTreeMap<String, TechniqueTally> = BTreeMap::new();
        for (i, r) in self.rules().iter().enumerate() {
            let level = r.meta.level.clone().unwrap_or_else(|| "none".into());
            for t in &self.info(i).attack.techniques {
                let e = per
                    .entry(t.id.clone())
                    .or_insert_with(|| (t.name.clone(), 0, BTreeMap::new(), Vec::new()));
                e.1 += 1;
                *e.2.entry(level.clone()).or_default() += 1;
                for ta in &t.tactics {
                    let short = ta.name.to_lowercase().replace(' ', "-");
                    if !e.3.contains(&short) {
                        e.3.push(short);
                    }
                }
            }
        }
        let max = per.values().map(|v| v.1).max().unwrap_or(1).max(1);
        let mut techniques = Vec::new();
        for (id, (tname, n, levels, _)) in &per {
            let by_level: Vec<String> = LEVELS
                .iter()
                .filter_map(|l| levels.get(*l).map(|c| format!("{l}: {c}")))
                .chain(levels.get("none").map(|c| format!("no level: {c}")))
                .collect();
            let mut metadata = vec![json!({"name": "rules", "value": n.to_string()})];
            for l in LEVELS {
                if let Some(c) = levels.get(l) {
                    metadata.push(json!({"name": l, "value": c.to_string()}));
                }
            }
            techniques.push(json!({
                "techniqueID": id,
                "score": n,
                "comment": format!("{tname}: {n} rule(s) ({})", by_level.join(", ")),
                "enabled": true,
                "metadata": metadata,
                "showSubtechniques": false,
            }));
        }
        json!({
            "name": name,
            "versions": {"attack": "19", "navigator": "5.1.0", "layer": "4.5"},
            "domain": "enterprise-attack",
            "description": format!(
                "Sigma rules per ATT&CK technique ({} rules, {} techniques); score = number of rules",
                self.rules().len(),
                per.len()
            ),
            "sorting": 3,
            "layout": {"layout": "side", "showID": true, "showName": true},
            "hideDisabled": false,
            "techniques": techniques,
            "gradient": {"colors": ["#ffffffff", "#66b1ffff", "#ff6666ff"], "minValue": 0, "maxValue": max},
            "legendItems": [],
            "showTacticRowBackground": false,
            "selectTechniquesAcrossTactics": true,
            "selectSubtechniquesWithParent": false,
        })
    }

    /// Tactic-by-technique summary: for each tactic in matrix order, its techniques with
    /// the number of rules and the count per level.
    pub fn coverage_text(&self) -> String {
        let mut by_tactic: BTreeMap<(usize, String, String), BTreeMap<String, LevelTally>> =
            BTreeMap::new();
        let order = |id: &str| -> usize { id.trim_start_matches("TA").parse().unwrap_or(9999) };
        let matrix: Vec<(String, String, usize)> = include_str!("../../rules/attack/tactics.tsv")
            .lines()
            .skip(1)
            .filter_map(|l| {
                let c: Vec<&str> = l.split('\t').collect();
                (c.len() >= 4).then(|| {
                    (
                        c[0].to_string(),
                        c[2].to_string(),
                        c[3].parse().unwrap_or(99),
                    )
                })
            })
            .collect();
        let mut untagged_tactic = 0;
        for (i, r) in self.rules().iter().enumerate() {
            let li = r
                .meta
                .level
                .as_deref()
                .and_then(|l| super::stats::LEVELS.iter().position(|x| *x == l));
            for t in &self.info(i).attack.techniques {
                if t.tactics.is_empty() {
                    untagged_tactic += 1;
                }
                for ta in &t.tactics {
                    let pos = matrix
                        .iter()
                        .find(|m| m.0 == ta.id)
                        .map(|m| m.2)
                        .unwrap_or_else(|| order(&ta.id));
                    let e = by_tactic
                        .entry((pos, ta.id.clone(), ta.name.clone()))
                        .or_default()
                        .entry(t.id.clone())
                        .or_insert_with(|| (t.name.clone(), 0, [0; 5]));
                    e.1 += 1;
                    if let Some(li) = li {
                        e.2[li] += 1;
                    }
                }
            }
        }
        let mut s = String::new();
        let techniques: std::collections::BTreeSet<&String> =
            by_tactic.values().flat_map(|m| m.keys()).collect();
        let _ = writeln!(
            s,
            "ATT&CK coverage: {} rules, {} techniques under {} tactics (a technique is counted under each of its tactics)",
            self.rules().len(),
            techniques.len(),
            by_tactic.len()
        );
        let _ = writeln!(
            s,
            "columns: rules, then critical/high/medium/low/informational"
        );
        for ((_, id, name), techs) in &by_tactic {
            let total: usize = techs.values().map(|t| t.1).sum();
            let _ = writeln!(
                s,
                "\n{id} {name}: {} techniques, {total} rule tags",
                techs.len()
            );
            let mut v: Vec<(&String, &LevelTally)> = techs.iter().collect();
            v.sort_by(|a, b| b.1.1.cmp(&a.1.1).then_with(|| a.0.cmp(b.0)));
            for (tid, (tname, n, lv)) in v {
                let _ = writeln!(
                    s,
                    "  {tid:<10} {n:>5}  {:>3}/{:>3}/{:>3}/{:>3}/{:>3}  {tname}",
                    lv[0], lv[1], lv[2], lv[3], lv[4]
                );
            }
        }
        if untagged_tactic > 0 {
            let _ = writeln!(
                s,
                "\n{untagged_tactic} technique tag(s) name a technique without a tactic in the table"
            );
        }
        s
    }
}

impl CorpusStats {
    /// The statistics as text.
    pub fn to_text(&self, top: usize) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} rules: {} with a logsource mapping, {} disabled by the matcher; {} stricter/broader pairs, {} equivalent pairs",
            self.rules, self.mapped, self.disabled, self.stricter_pairs, self.equivalent_pairs
        );
        let table = |s: &mut String, head: &str, v: &[Count], limit: usize| {
            let _ = writeln!(s, "\n{head} ({}):", v.len());
            for c in v.iter().take(limit) {
                if c.key == c.name {
                    let _ = writeln!(s, "  {:>6}  {}", c.rules, c.key);
                } else {
                    let _ = writeln!(s, "  {:>6}  {} {}", c.rules, c.key, c.name);
                }
            }
            if v.len() > limit {
                let _ = writeln!(s, "  ... {} more", v.len() - limit);
            }
        };
        table(&mut s, "Rules per level", &self.by_level, usize::MAX);
        table(&mut s, "Rules per status", &self.by_status, usize::MAX);
        table(&mut s, "Rules per logsource", &self.by_logsource, top);
        table(&mut s, "Rules per tactic", &self.by_tactic, usize::MAX);
        table(&mut s, "Rules per technique", &self.by_technique, top);
        let _ = writeln!(s, "\nMost shared indicators:");
        for (ind, n) in &self.top_indicators {
            let _ = writeln!(s, "  {n:>6}  {} {} {}", ind.field, ind.op, ind.value);
        }
        let _ = writeln!(
            s,
            "\nRules without ATT&CK tags ({}):",
            self.without_attack.len()
        );
        for (id, title) in self.without_attack.iter().take(top) {
            let _ = writeln!(s, "  {id}  {title}");
        }
        if self.without_attack.len() > top {
            let _ = writeln!(
                s,
                "  ... {} more (--format json lists all)",
                self.without_attack.len() - top
            );
        }
        s
    }
}
