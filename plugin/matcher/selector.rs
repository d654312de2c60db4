//! Candidate narrowing: from an event's logsource keys (`Channel`, `EventID`,
//! `Provider_Name`, ...) to the rule variants that may fire on it, before any other field
//! is read. Event kinds are indexed by channel; kinds that do not name a channel are
//! checked for every event.
//!
//! A channel names tens of kinds (Sysmon: one per event id). Kinds whose whole condition
//! is a channel and a list of event ids are found with one map probe per event id value;
//! for the others, each field a `when` condition reads is read from the event once,
//! normalized once (lowercased, numbers in decimal) into [`SelectScratch`], and every
//! kind's condition compares against that.

use crate::event::{Document, Scalar, Vocabulary};
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
    by_channel: FastMap<String, ChannelKinds>,
    unindexed: Vec<u32>,
    /// `EventID`'s index in `fields`, once a kind is indexed by event id.
    event_id_field: Option<usize>,
    /// Ids in the matcher's vocabulary ([`SelectorIndex::bind`]): `Channel`'s, then each
    /// of `fields`'.
    ids: Vec<u32>,
}

/// The kinds of one channel.
#[derive(Debug, Default)]
struct ChannelKinds {
    /// Kinds whose condition is exactly this channel and an `EventID` value, by that
    /// value (normalized): selected without checking anything else.
    by_event_id: FastMap<String, Vec<u32>>,
    /// The other kinds of the channel: their conditions are checked one by one.
    other: Vec<u32>,
}

/// The `when` field of [`ChannelKinds::by_event_id`] (and the one [`super::narrow`] adds).
pub(super) const EVENT_ID: &str = "EventID";

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
    /// The index of `when` field `name` in `fields`, added if new.
    fn field_index(&mut self, name: &str) -> usize {
        match self.fields.iter().position(|f| f == name) {
            Some(i) => i,
            None => {
                self.fields.push(name.to_string());
                self.fields.len() - 1
            }
        }
    }

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
                field: self.field_index(field),
                accepted: accepted.clone(),
            })
            .collect();
        self.conditions.push(conditions);
        // Channel and event ids only, all given as text: indexed by event id.
        let event_ids = match (kind.when.len(), kind.condition(EVENT_ID)) {
            (2, Some(ids)) => ids
                .iter()
                .map(|v| match v {
                    WhenValue::Text(t) => Some(t.clone()),
                    WhenValue::Present => None,
                })
                .collect::<Option<Vec<String>>>(),
            _ => None,
        };
        match kind.condition("Channel") {
            Some(values) if !values.contains(&WhenValue::Present) => {
                for v in values {
                    if let WhenValue::Text(t) = v {
                        let ck = self.by_channel.entry(t.clone()).or_default();
                        match &event_ids {
                            Some(ids) => ids.iter().for_each(|e| {
                                ck.by_event_id.entry(e.clone()).or_default().push(id)
                            }),
                            None => ck.other.push(id),
                        }
                    }
                }
            }
            _ => self.unindexed.push(id),
        }
        if event_ids.is_some() && self.event_id_field.is_none() {
            self.event_id_field = Some(self.field_index(EVENT_ID));
        }
        id
    }

    /// The field names the selector reads (`Channel`, then those of `when` conditions):
    /// the matcher's vocabulary holds them.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once("Channel").chain(self.fields.iter().map(String::as_str))
    }

    /// Takes the ids of [`SelectorIndex::names`] in `vocab`, which the selector reads
    /// events by. Call after the last [`SelectorIndex::intern`], before
    /// [`SelectorIndex::kinds_of`].
    pub fn bind(&mut self, vocab: &Vocabulary) {
        self.ids = self
            .names()
            .map(|n| {
                vocab
                    .id(n.as_bytes())
                    .expect("the vocabulary holds every name")
            })
            .collect();
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
    pub fn kinds_of(
        &self,
        doc: &dyn Document,
        vocab: &Vocabulary,
        s: &mut SelectScratch,
        hit: &mut dyn FnMut(u32),
    ) {
        s.loaded.clear();
        s.loaded.resize(self.fields.len(), false);
        s.used.resize(self.fields.len(), 0);
        s.values.resize_with(self.fields.len(), Vec::new);
        // Every string value of `Channel` (an array matches by any element).
        s.channels_used = 0;
        let (channels, used) = (&mut s.channels, &mut s.channels_used);
        doc.field_in(vocab, self.ids[0], &mut |v| {
            if let Scalar::Str(t) = v {
                push_lowercase(t, channels, used);
            }
        });
        for c in 0..s.channels_used {
            if s.channels[..c].contains(&s.channels[c]) {
                continue;
            }
            if let Some(ck) = self.by_channel.get(&s.channels[c]) {
                if !ck.by_event_id.is_empty()
                    && let Some(f) = self.event_id_field
                {
                    self.load(f, doc, vocab, s);
                    for v in &s.values[f][..s.used[f]] {
                        if let Some(ids) = ck.by_event_id.get(v) {
                            ids.iter().for_each(|&id| hit(id));
                        }
                    }
                }
                for &id in &ck.other {
                    if self.holds(id, doc, vocab, s) {
                        hit(id);
                    }
                }
            }
        }
        for &id in &self.unindexed {
            if self.holds(id, doc, vocab, s) {
                hit(id);
            }
        }
    }

    /// Reads `when` field `f` of the event into `s.values[f]`, normalized, once per event.
    fn load(&self, f: usize, doc: &dyn Document, vocab: &Vocabulary, s: &mut SelectScratch) {
        if s.loaded[f] {
            return;
        }
        s.loaded[f] = true;
        s.used[f] = 0;
        let (values, used, buf) = (&mut s.values[f], &mut s.used[f], &mut s.buf);
        doc.field_in(vocab, self.ids[f + 1], &mut |v| {
            if let Some(text) = v.text(buf) {
                normalize(text, values, used);
            }
        });
    }

    /// True when the event satisfies every `when` condition of kind `id`.
    fn holds(
        &self,
        id: u32,
        doc: &dyn Document,
        vocab: &Vocabulary,
        s: &mut SelectScratch,
    ) -> bool {
        self.conditions[id as usize].iter().all(|c| {
            self.load(c.field, doc, vocab, s);
            let values = &s.values[c.field][..s.used[c.field]];
            !values.is_empty()
                && c.accepted.iter().any(|a| match a {
                    WhenValue::Present => true,
                    WhenValue::Text(t) => values.iter().any(|v| v == t),
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::json::JsonEvent;

    fn kind(when: &[(&str, &[&str])]) -> EventKind {
        EventKind {
            when: when
                .iter()
                .map(|(f, vs)| {
                    let vs = vs
                        .iter()
                        .map(|v| match *v {
                            "*" => WhenValue::Present,
                            t => WhenValue::Text(t.to_string()),
                        })
                        .collect();
                    (f.to_string(), vs)
                })
                .collect(),
            rename: Vec::new(),
        }
    }

    #[test]
    fn indexed_selection_agrees_with_checking_every_kind() {
        let sysmon = "microsoft-windows-sysmon/operational";
        let kinds = [
            kind(&[("Channel", &[sysmon]), ("EventID", &["1"])]),
            kind(&[("Channel", &[sysmon]), ("EventID", &["1", "3"])]),
            kind(&[
                ("Channel", &[sysmon]),
                ("EventID", &["3"]),
                ("Image", &["*"]),
            ]),
            kind(&[("Channel", &[sysmon])]),
            kind(&[("Channel", &[sysmon]), ("EventID", &["*"])]),
            kind(&[("Channel", &["security"]), ("EventID", &["4688"])]),
            kind(&[("Provider_Name", &["x"])]),
        ];
        let mut index = SelectorIndex::default();
        for k in &kinds {
            index.intern(k);
        }
        // Other names around the selector's, as in a matcher's vocabulary.
        let vocab = Vocabulary::new(["CommandLine"].into_iter().chain(index.names()));
        index.bind(&vocab);
        let events = [
            r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1}"#,
            r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":3,"Image":"a"}"#,
            r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":"3"}"#,
            r#"{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":[7,1]}"#,
            r#"{"Channel":"Microsoft-Windows-Sysmon/Operational"}"#,
            r#"{"Channel":["Security","x"],"EventID":4688,"Provider_Name":"X"}"#,
            r#"{"Channel":"SECURITY","EventID":"4689"}"#,
            r#"{"EventID":1}"#,
        ];
        let mut scratch = SelectScratch::default();
        let mut selected_total = 0;
        for e in events {
            let doc = JsonEvent::parse(e.as_bytes()).unwrap();
            let mut got = Vec::new();
            index.kinds_of(&doc, &vocab, &mut scratch, &mut |k| got.push(k));
            got.sort_unstable();
            got.dedup();
            let mut want = Vec::new();
            for id in 0..kinds.len() as u32 {
                scratch.loaded.iter_mut().for_each(|l| *l = false);
                if index.holds(id, &doc, &vocab, &mut scratch) {
                    want.push(id);
                }
            }
            assert_eq!(got, want, "{e}");
            selected_total += got.len();
        }
        // Sysmon 1: kinds 0, 1, 3, 4; Sysmon 3 with Image: 1, 2, 3, 4; ...
        assert!(
            selected_total >= 15,
            "the events select kinds: {selected_total}"
        );
    }
}
