//! The tag written into matching events: one entry per matched rule with id, title,
//! level, status, author, references (the Detection Rule License asks that matches keep the rule's
//! author identifiable), tags and resolved ATT&CK techniques and tactics. Each rule's
//! entry is rendered to JSON once, at compile time; tagging an event only joins them.

use serde::Serialize;

use super::decided::Decided;
use super::ecs::EcsRule;
use crate::attack::{Attack, AttackRef};
use crate::rule::{Rule, RuleMeta};

/// One rule's entry in the tag.
#[derive(Clone, Debug, Serialize)]
pub struct RuleTagEntry {
    pub id: Option<String>,
    pub title: String,
    /// Kept for the ECS profile (`rule.description`); not in the `sigma` tag.
    #[serde(skip)]
    pub description: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    /// The rule's `references` (URLs an analyst reads next).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<String>,
    pub attack: AttackEntry,
}

/// ATT&CK part of a tag entry.
#[derive(Clone, Debug, Serialize)]
pub struct AttackEntry {
    pub techniques: Vec<AttackRef>,
    pub tactics: Vec<AttackRef>,
}

/// A rule's entry and its rendered JSON.
#[derive(Clone, Debug)]
pub struct RuleTag {
    pub entry: RuleTagEntry,
    /// `attack.*` tags that resolved to nothing known.
    pub unknown_attack_tags: Vec<String>,
    pub json: String,
    /// The rule's values for the `ecs` profile.
    pub ecs: EcsRule,
}

impl RuleTag {
    /// Renders a rule's entry.
    pub fn new(rule: &Rule, attack: &Attack) -> RuleTag {
        RuleTag::from_meta(&rule.meta, EcsRule::new(rule), attack)
    }

    /// Renders the entry of a rule or correlation from its metadata and ECS values.
    pub fn from_meta(meta: &RuleMeta, ecs: EcsRule, attack: &Attack) -> RuleTag {
        let resolved = attack.resolve(&meta.tags);
        let entry = RuleTagEntry {
            id: meta.id.clone(),
            title: meta.title.clone(),
            description: meta.description.clone(),
            level: meta.level.clone(),
            status: meta.status.clone(),
            author: meta.author.clone(),
            tags: meta.tags.clone(),
            references: meta.references.clone(),
            attack: AttackEntry {
                techniques: resolved.techniques,
                tactics: resolved.tactics,
            },
        };
        let json = serde_json::to_string(&entry).expect("tag entries serialize");
        RuleTag {
            entry,
            unknown_attack_tags: resolved.unknown,
            json,
            ecs,
        }
    }
}

/// Writes rule `h`'s entry, with its `fields` when `decided` has them.
pub fn write_entry(h: usize, tags: &[RuleTag], decided: &Decided, out: &mut Vec<u8>) {
    let json = tags[h].json.as_bytes();
    match decided.get(h) {
        Some(fields) => {
            out.extend_from_slice(&json[..json.len() - 1]);
            out.extend_from_slice(b",\"fields\":");
            out.extend_from_slice(fields.as_bytes());
            out.push(b'}');
        }
        None => out.extend_from_slice(json),
    }
}

/// Writes the JSON array of the entries of `hits`.
pub fn write_entries(hits: &[usize], tags: &[RuleTag], decided: &Decided, out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, h) in hits.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_entry(*h, tags, decided, out);
    }
    out.push(b']');
}

/// Writes the tag object of `hits`: `{"matches":[entries]}`.
pub fn write_tag_object(hits: &[usize], tags: &[RuleTag], decided: &Decided, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"matches\":");
    write_entries(hits, tags, decided, out);
    out.push(b'}');
}

/// Writes `line` with the tag for `hits` under `field`, spliced into the event's own bytes
/// (`splice`): every byte of the event is kept, but a member named `field` that came with
/// the event, which is removed (the tag field is the transform's; a value sent in it is
/// replaced, never merged). Returns how many such members were removed.
pub fn write_tagged(
    line: &[u8],
    field: &str,
    hits: &[usize],
    tags: &[RuleTag],
    decided: &Decided,
    out: &mut Vec<u8>,
) -> usize {
    super::splice::replace_member(line, field, out, |out| {
        write_tag_object(hits, tags, decided, out)
    })
}
