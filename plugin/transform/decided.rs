//! The fields and values that decided each match, for the analyst reading it (opt-in,
//! `matched_fields`): each rule's tag entry gains `"fields": {"Image": "C:\\...\\x.exe",
//! ...}`, the event's values of the fields whose tests made the rule's condition hold
//! ([`crate::matcher::Matcher::deciding_predicates`]). A field with several values (an
//! array) gives all of them, as an array.
//!
//! Off by default: it walks each matched rule's condition again and copies values into
//! the output, which costs time only on matched events (benches/README.md gives the
//! measure). A keyword search tests every value: the values it found its keywords in go
//! under [`KEYWORDS`]. Limits, stated in README: at most [`MAX_VALUES`] values per field,
//! and a value longer than [`MAX_VALUE_BYTES`] is cut there (at a character boundary) and
//! ends with `…`.

use crate::event::{Document, Scalar};
use crate::matcher::{Matcher, Scratch};

/// Values of one field written at most.
pub const MAX_VALUES: usize = 16;
/// Bytes of one value written at most.
pub const MAX_VALUE_BYTES: usize = 4096;
/// The key of the values in which a keyword search found its keywords (a field of that
/// name that decided the match too keeps its own values).
pub const KEYWORDS: &str = "keywords";

/// Per matched rule of the last event, its `fields` object, rendered.
#[derive(Debug, Default)]
pub struct Decided {
    /// (rule index, JSON object), ascending by rule.
    entries: Vec<(usize, String)>,
    /// Scratch: the deciding predicates of one rule.
    preds: Vec<u32>,
}

/// No fields for any rule (`matched_fields` off, or a caller that has none).
pub static NONE: Decided = Decided {
    entries: Vec::new(),
    preds: Vec::new(),
};

impl Decided {
    /// The `fields` object of rule `rule`, when it was collected.
    pub fn get(&self, rule: usize) -> Option<&str> {
        self.entries
            .binary_search_by_key(&rule, |e| e.0)
            .ok()
            .map(|i| self.entries[i].1.as_str())
    }

    /// Forgets the last event's fields.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Collects the fields of each of `hits` (ascending rule indices) on `doc`, the last
    /// event `matcher` matched with `scratch`.
    pub fn collect(
        &mut self,
        matcher: &Matcher,
        doc: &dyn Document,
        hits: &[usize],
        scratch: &mut Scratch,
    ) {
        self.entries.clear();
        for &rule in hits {
            self.preds.clear();
            matcher.deciding_predicates(rule, doc, scratch, &mut self.preds);
            let mut ids: Vec<u32> = Vec::new();
            let mut keyword_preds = Vec::new();
            for &p in &self.preds {
                match matcher.predicate_field(p) {
                    Some(id) => ids.push(id),
                    None => keyword_preds.push(p),
                }
            }
            ids.sort_unstable();
            ids.dedup();
            let mut object = serde_json::Map::new();
            for id in ids {
                let mut values = Vec::new();
                matcher.field_values(doc, id, &mut |s| push_value(&mut values, s));
                if let Some(v) = one_or_array(values) {
                    object.insert(matcher.field_name(id).to_string(), v);
                }
            }
            if !keyword_preds.is_empty() {
                let mut values = Vec::new();
                matcher.keyword_values(&keyword_preds, doc, scratch, &mut |s| {
                    push_value(&mut values, s)
                });
                if let Some(v) = one_or_array(values) {
                    object.entry(KEYWORDS).or_insert(v);
                }
            }
            let text = serde_json::to_string(&object).expect("values serialize");
            self.entries.push((rule, text));
        }
    }
}

/// Adds a value, up to [`MAX_VALUES`].
fn push_value(values: &mut Vec<serde_json::Value>, s: Scalar<'_>) {
    if values.len() < MAX_VALUES {
        values.push(json_value(s));
    }
}

/// One value as itself, several as an array, none as nothing.
fn one_or_array(mut values: Vec<serde_json::Value>) -> Option<serde_json::Value> {
    match values.len() {
        0 => None,
        1 => values.pop(),
        _ => Some(serde_json::Value::Array(values)),
    }
}

/// A scalar as JSON, strings cut to [`MAX_VALUE_BYTES`].
fn json_value(s: Scalar<'_>) -> serde_json::Value {
    use serde_json::Value;
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => i.into(),
        Scalar::UInt(u) => u.into(),
        Scalar::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        Scalar::Str(t) if t.len() <= MAX_VALUE_BYTES => Value::String(t.to_string()),
        Scalar::Str(t) => {
            let mut cut = MAX_VALUE_BYTES;
            while !t.is_char_boundary(cut) {
                cut -= 1;
            }
            Value::String(format!("{}…", &t[..cut]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_VALUE_BYTES);
        let serde_json::Value::String(cut) = json_value(Scalar::Str(&long)) else {
            panic!("a string");
        };
        assert!(cut.ends_with('…'));
        assert!(cut.len() <= MAX_VALUE_BYTES + '…'.len_utf8());
        assert!(long.starts_with(cut.trim_end_matches('…')));
        assert_eq!(json_value(Scalar::Str("short")), "short");
        assert_eq!(json_value(Scalar::UInt(u64::MAX)), u64::MAX);
        assert_eq!(json_value(Scalar::Float(f64::NAN)), serde_json::Value::Null);
    }
}
