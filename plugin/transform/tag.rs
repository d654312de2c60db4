//! The tag written into matching events: one entry per matched rule with id, title,
//! level, status, author (the Detection Rule License asks that matches keep the rule's
//! author identifiable), tags and resolved ATT&CK techniques and tactics. Each rule's
//! entry is rendered to JSON once, at compile time; tagging an event only joins them.

use serde::Serialize;

use crate::attack::{Attack, AttackRef};
use crate::event::json::JsonEvent;
use crate::rule::Rule;

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
}

impl RuleTag {
    /// Renders a rule's entry.
    pub fn new(rule: &Rule, attack: &Attack) -> RuleTag {
        let resolved = attack.resolve(&rule.meta.tags);
        let entry = RuleTagEntry {
            id: rule.meta.id.clone(),
            title: rule.meta.title.clone(),
            description: rule.meta.description.clone(),
            level: rule.meta.level.clone(),
            status: rule.meta.status.clone(),
            author: rule.meta.author.clone(),
            tags: rule.meta.tags.clone(),
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
        }
    }
}

pub fn write_tag_object(hits: &[usize], tags: &[RuleTag], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"matches\":[");
    for (i, h) in hits.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(tags[*h].json.as_bytes());
    }
    out.extend_from_slice(b"]}");
}

/// Writes `line` with the tag for `hits` under `field`. The event's own bytes are kept: the
/// tag is spliced in before the closing brace. If the event already has `field`, the event
/// is re-serialized with that field replaced (the tag must be unambiguous).
pub fn write_tagged(
    line: &[u8],
    event: &JsonEvent,
    field: &str,
    hits: &[usize],
    tags: &[RuleTag],
    out: &mut Vec<u8>,
) {
    if event.root().get(field).is_some() {
        let mut v = event.to_value();
        let mut tag = Vec::new();
        write_tag_object(hits, tags, &mut tag);
        v[field] = serde_json::from_slice(&tag).expect("tag is JSON");
        out.extend_from_slice(&serde_json::to_vec(&v).expect("event serializes"));
        return;
    }
    splice_with(line, out, |out| {
        serde_json::to_writer(&mut *out, field).expect("a string serializes");
        out.push(b':');
        write_tag_object(hits, tags, out);
    });
}

/// Writes `line` (a JSON object) with `members` (`"k":v,...`, no braces) added before its
/// closing brace, keeping every byte of the original.
pub fn splice(line: &[u8], members: &[u8], out: &mut Vec<u8>) {
    splice_with(line, out, |out| out.extend_from_slice(members));
}

/// [`splice`] with the members written by `members` straight into `out`.
fn splice_with(line: &[u8], out: &mut Vec<u8>, members: impl FnOnce(&mut Vec<u8>)) {
    let end = line
        .iter()
        .rposition(|b| *b == b'}')
        .expect("a parsed JSON object ends with '}'");
    let empty = line[..end].iter().rev().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    out.extend_from_slice(&line[..end]);
    if !empty {
        out.push(b',');
    }
    members(out);
    out.extend_from_slice(&line[end..]);
}
