//! Candidate narrowing: from an event's logsource keys (`Channel`, `EventID`,
//! `Provider_Name`, ...) to the rule variants that may fire on it, before any other field
//! is read. Event kinds are indexed by channel; kinds that do not name a channel are
//! checked for every event.

use std::collections::HashMap;

use crate::event::{Document, Scalar};
use crate::logsource::{EventKind, WhenValue};

/// The index of event kinds.
#[derive(Debug, Default)]
pub struct SelectorIndex {
    kinds: Vec<EventKind>,
    by_channel: HashMap<String, Vec<u32>>,
    unindexed: Vec<u32>,
}

impl SelectorIndex {
    /// Adds a kind (deduplicated) and returns its id.
    pub fn intern(&mut self, kind: &EventKind) -> u32 {
        if let Some(i) = self.kinds.iter().position(|k| k == kind) {
            return i as u32;
        }
        let id = self.kinds.len() as u32;
        self.kinds.push(kind.clone());
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
    pub fn kinds_of(&self, doc: &dyn Document, buf: &mut String, hit: &mut dyn FnMut(u32)) {
        // Every string value of `Channel` (an array matches by any element).
        let mut channels: Vec<String> = Vec::new();
        doc.field("Channel", &mut |s| {
            if let Scalar::Str(t) = s {
                let lower = t.to_lowercase();
                if !channels.contains(&lower) {
                    channels.push(lower);
                }
            }
        });
        for ch in &channels {
            if let Some(ids) = self.by_channel.get(ch) {
                for &id in ids {
                    if holds(&self.kinds[id as usize], doc, buf) {
                        hit(id);
                    }
                }
            }
        }
        for &id in &self.unindexed {
            if holds(&self.kinds[id as usize], doc, buf) {
                hit(id);
            }
        }
    }
}

/// True when the event satisfies every `when` condition of the kind.
pub fn holds(kind: &EventKind, doc: &dyn Document, buf: &mut String) -> bool {
    kind.when.iter().all(|(field, accepted)| {
        let mut ok = false;
        doc.field(field, &mut |s| {
            if ok {
                return;
            }
            if let Some(text) = s.text(buf) {
                ok = accepted.iter().any(|a| match a {
                    WhenValue::Present => true,
                    WhenValue::Text(t) => {
                        t.eq_ignore_ascii_case(text)
                            || (!text.is_ascii() && *t == text.to_lowercase())
                    }
                });
            }
        });
        ok
    })
}
