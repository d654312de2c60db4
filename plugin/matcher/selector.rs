//! Candidate narrowing: from an event's logsource keys (`Channel`, `EventID`,
//! `Provider_Name`, ...) to the rule variants that may fire on it, before any other field
//! is read. Event kinds are indexed by channel; kinds that do not name a channel are
//! checked for every event.
//!
//! A channel names tens of kinds (Sysmon: one per event id), so each field a `when`
//! condition reads is read from the event once, normalized once (lowercased, numbers in
//! decimal) into [`SelectScratch`], and every kind's condition compares against that.

use crate::event::{Document, Scalar};
use crate::hash::FastMap;
use crate::logsource::{EventKind, WhenValue};

/// One `when` condition: a field (by its index in [`SelectorIndex::fields`]) and the
/// values it accepts.
#[derive(Debug)]
struct Condition {
    field: usize,
    accepted: Vec<WhenValue>,
}

/// The index of event kinds.
#[derive(Debug, Default)]
pub struct SelectorIndex {
    kinds: Vec<EventKind>,
    conditions: Vec<Vec<Condition>>,
    /// The distinct fields `when` conditions read.
    fields: Vec<String>,
    by_channel: FastMap<String, Vec<u32>>,
    unindexed: Vec<u32>,
}

/// Per-event values of the `when` fields, reused from event to event.
#[derive(Debug, Default)]
pub struct SelectScratch {
    /// Per field: read for this event yet?
    loaded: Vec<bool>,
    /// Per field: its values, normalized (see [`normalize`]).
    values: Vec<Vec<String>>,
    /// How many strings of `values[f]` are in use.
    used: Vec<usize>,
    channels: Vec<String>,
    channels_used: usize,
    buf: String,
}

/// The next string of `out` to reuse (cleared), growing `out` only when every string is
/// in use.
fn next_slot<'o>(out: &'o mut Vec<String>, used: &mut usize) -> &'o mut String {
    if *used == out.len() {
        out.push(String::new());
    }
    *used += 1;
    let s = &mut out[*used - 1];
    s.clear();
    s
}

/// `text` Unicode-lowercased, into the next slot of `out`.
fn push_lowercase(text: &str, out: &mut Vec<String>, used: &mut usize) {
    let s = next_slot(out, used);
    if text.is_ascii() {
        s.push_str(text);
        s.make_ascii_lowercase();
    } else {
        s.push_str(&text.to_lowercase());
    }
}

/// The forms a value compares in: Unicode-lowercased, and ASCII-lowercased when that
/// differs (an accepted value, lowercased when loaded, equals a value up to ASCII case
/// or up to Unicode lowercasing).
fn normalize(text: &str, out: &mut Vec<String>, used: &mut usize) {
    push_lowercase(text, out, used);
    if !text.is_ascii() {
        let s = next_slot(out, used);
        s.push_str(text);
        s.make_ascii_lowercase();
    }
}

impl SelectorIndex {
    /// Adds a kind (deduplicated) and returns its id.
    pub fn intern(&mut self, kind: &EventKind) -> u32 {
        if let Some(i) = self.kinds.iter().position(|k| k == kind) {
            return i as u32;
        }
        let id = self.kinds.len() as u32;
        self.kinds.push(kind.clone());
        let conditions = kind
            .when
            .iter()
            .map(|(field, accepted)| Condition {
                field: match self.fields.iter().position(|f| f == field) {
                    Some(i) => i,
                    None => {
                        self.fields.push(field.clone());
                        self.fields.len() - 1
                    }
                },
                accepted: accepted.clone(),
            })
            .collect();
        self.conditions.push(conditions);
        match kind.condition("Channel") {
            Some(values) if !values.contains(&WhenValue::Present) => {
                for v in values {
                    if let WhenValue::Text(t) = v {
                        self.by_channel.entry(t.clone()).or_default().push(id);
                    }
                }
            }
            _ => self.unindexed.push(id),
        }
        id
    }

    /// The kind with this id.
    pub fn kind(&self, id: u32) -> &EventKind {
        &self.kinds[id as usize]
    }

    /// Number of kinds.
    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    /// True when no kind is registered.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Calls `hit` with every kind the event is of.
    pub fn kinds_of(&self, doc: &dyn Document, s: &mut SelectScratch, hit: &mut dyn FnMut(u32)) {
        s.loaded.clear();
        s.loaded.resize(self.fields.len(), false);
        s.used.resize(self.fields.len(), 0);
        s.values.resize_with(self.fields.len(), Vec::new);
        // Every string value of `Channel` (an array matches by any element).
        s.channels_used = 0;
        let (channels, used) = (&mut s.channels, &mut s.channels_used);
        doc.field("Channel", &mut |v| {
            if let Scalar::Str(t) = v {
                push_lowercase(t, channels, used);
            }
        });
        for c in 0..s.channels_used {
            if s.channels[..c].contains(&s.channels[c]) {
                continue;
            }
            if let Some(ids) = self.by_channel.get(&s.channels[c]) {
                for &id in ids {
                    if self.holds(id, doc, s) {
                        hit(id);
                    }
                }
            }
        }
        for &id in &self.unindexed {
            if self.holds(id, doc, s) {
                hit(id);
            }
        }
    }

    /// True when the event satisfies every `when` condition of kind `id`.
    fn holds(&self, id: u32, doc: &dyn Document, s: &mut SelectScratch) -> bool {
        self.conditions[id as usize].iter().all(|c| {
            if !s.loaded[c.field] {
                s.loaded[c.field] = true;
                s.used[c.field] = 0;
                let (values, used, buf) =
                    (&mut s.values[c.field], &mut s.used[c.field], &mut s.buf);
                doc.field(&self.fields[c.field], &mut |v| {
                    if let Some(text) = v.text(buf) {
                        normalize(text, values, used);
                    }
                });
            }
            let values = &s.values[c.field][..s.used[c.field]];
            !values.is_empty()
                && c.accepted.iter().any(|a| match a {
                    WhenValue::Present => true,
                    WhenValue::Text(t) => values.iter().any(|v| v == t),
                })
        })
    }
}
