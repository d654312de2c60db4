//! Byte-exact edits of an event's JSON text: tags are added by splicing, never by
//! re-serializing, so everything the transform does not own keeps its bytes: numbers
//! (`18446744073709551616`, `1e2`), repeated keys, key order, escapes.
//!
//! The edits work on text that has already parsed as a JSON object: [`members`] finds
//! the members of an object with one pass over its bytes (strings skipped by their
//! quotes and escapes, containers by counting brackets), and the writers copy every byte
//! but the members they replace.
//!
//! - [`replace_member`]: removes every top-level member named `name` (the transform owns
//!   its tag field: a value that came with the event is replaced, never merged) and
//!   appends `"name":value`.
//! - [`merge`]: adds members into nested objects (`rule`, `event`, `threat` for ECS),
//!   descending into objects the event already has; where the event has a value that is
//!   not an object, or the same leaf, the event's value stays and the added one is
//!   returned to the caller as a conflict.

use serde_json::{Map, Value};

/// One member of an object in the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member {
    /// The key's opening quote.
    pub start: usize,
    /// The key's closing quote, plus one.
    pub key_end: usize,
    /// The value's first byte.
    pub value: usize,
    /// The value's last byte, plus one.
    pub end: usize,
}

/// The first byte at or after `i` that is not JSON whitespace (or a UTF-8 byte order
/// mark at the very start).
pub fn skip_ws(text: &[u8], mut i: usize) -> usize {
    if i == 0 && text.starts_with(b"\xEF\xBB\xBF") {
        i = 3;
    }
    while i < text.len() && matches!(text[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end (one past the closing quote) of the string whose opening quote is at `i`.
fn skip_string(text: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < text.len() {
        match text[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    text.len()
}

/// The end of the value starting at `i` (no recursion: brackets are counted).
fn skip_value(text: &[u8], i: usize) -> usize {
    match text.get(i) {
        Some(b'"') => skip_string(text, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < text.len() {
                match text[j] {
                    b'"' => {
                        j = skip_string(text, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            text.len()
        }
        _ => {
            let mut j = i;
            while j < text.len()
                && !matches!(text[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// The members of the object whose `{` is at `open`, in order, without allocating; the
/// position of its `}` is [`Members::close`] once the members are read.
pub struct Members<'t> {
    text: &'t [u8],
    i: usize,
    close: Option<usize>,
}

impl Members<'_> {
    /// The position of the object's `}` (reads the remaining members if needed).
    pub fn close(mut self) -> usize {
        while self.next().is_some() {}
        self.close.unwrap_or(self.text.len().saturating_sub(1))
    }
}

impl Iterator for Members<'_> {
    type Item = Member;

    fn next(&mut self) -> Option<Member> {
        if self.close.is_some() || self.i >= self.text.len() {
            self.close.get_or_insert(self.text.len().saturating_sub(1));
            return None;
        }
        let text = self.text;
        if text[self.i] == b'}' {
            self.close = Some(self.i);
            return None;
        }
        let start = self.i;
        let key_end = skip_string(text, start);
        let colon = skip_ws(text, key_end);
        let value = skip_ws(text, colon + 1);
        let end = skip_value(text, value);
        let next = skip_ws(text, end);
        match text.get(next) {
            Some(b',') => self.i = skip_ws(text, next + 1),
            _ => self.close = Some(next.min(text.len().saturating_sub(1))),
        }
        Some(Member {
            start,
            key_end,
            value,
            end,
        })
    }
}

/// The members of the object whose `{` is at `open`.
pub fn members(text: &[u8], open: usize) -> Members<'_> {
    Members {
        text,
        i: skip_ws(text, open + 1),
        close: None,
    }
}

/// The key of a member, unescaped when it has escapes (`"\u0073igma"` is `sigma`).
pub fn key<'t>(text: &'t [u8], m: &Member) -> std::borrow::Cow<'t, str> {
    let raw = &text[m.start..m.key_end];
    if !raw.contains(&b'\\')
        && let Ok(s) = std::str::from_utf8(&raw[1..raw.len() - 1])
    {
        return std::borrow::Cow::Borrowed(s);
    }
    serde_json::from_slice::<String>(raw)
        .map(std::borrow::Cow::Owned)
        .unwrap_or_default()
}

/// The position of the top-level object's `{`.
fn root_open(text: &[u8]) -> usize {
    skip_ws(text, 0)
}

/// True when the top-level object of `text` has a member named `name`.
pub fn has_member(text: &[u8], name: &str) -> bool {
    members(text, root_open(text)).any(|m| key(text, &m) == name)
}

/// Writes `text` (a JSON object) without its top-level members named `name`, with
/// `"name":` and what `value` writes appended. Returns how many members were removed.
pub fn replace_member(
    text: &[u8],
    name: &str,
    out: &mut Vec<u8>,
    value: impl FnOnce(&mut Vec<u8>),
) -> usize {
    let open = root_open(text);
    // One pass over the members finds the ones to drop and the closing brace.
    let (mut gone, mut any) = (0, false);
    let mut it = members(text, open);
    for m in it.by_ref() {
        any = true;
        if key(text, &m) == name {
            gone += 1;
        }
    }
    let close = it.close();
    if gone == 0 {
        // The common case: the bytes up to the closing brace as they are.
        out.extend_from_slice(&text[..close]);
    } else {
        any = false;
        out.extend_from_slice(&text[..=open]);
        for m in members(text, open).filter(|m| key(text, m) != name) {
            if any {
                out.push(b',');
            }
            any = true;
            out.extend_from_slice(&text[m.start..m.end]);
        }
    }
    if any {
        out.push(b',');
    }
    serde_json::to_writer(&mut *out, name).expect("a string serializes");
    out.push(b':');
    value(out);
    out.extend_from_slice(&text[close..]);
    gone
}

/// Writes `text` without its top-level members named `name` (`None` when it has none:
/// nothing to write).
pub fn remove_member(text: &[u8], name: &str, out: &mut Vec<u8>) -> Option<usize> {
    let open = root_open(text);
    let mut it = members(text, open);
    let gone = it.by_ref().filter(|m| key(text, m) == name).count();
    if gone == 0 {
        return None;
    }
    let close = it.close();
    out.extend_from_slice(&text[..=open]);
    let mut first = true;
    for m in members(text, open).filter(|m| key(text, m) != name) {
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(&text[m.start..m.end]);
    }
    out.extend_from_slice(&text[close..]);
    Some(gone)
}

/// Writes `text` with `add` merged into its top-level object (see the module
/// documentation); returns the added values that met a value of the event's, by path.
pub fn merge(text: &[u8], add: &Map<String, Value>, out: &mut Vec<u8>) -> Map<String, Value> {
    let mut conflicts = Map::new();
    let open = root_open(text);
    out.extend_from_slice(&text[..open]);
    let end = merge_object(text, open, add, out, &mut conflicts);
    out.extend_from_slice(&text[end..]);
    conflicts
}

/// Writes the object at `open` merged with `add`; returns the position after its `}`.
fn merge_object(
    text: &[u8],
    open: usize,
    add: &Map<String, Value>,
    out: &mut Vec<u8>,
    conflicts: &mut Map<String, Value>,
) -> usize {
    let mut it = members(text, open);
    let ms: Vec<Member> = it.by_ref().collect();
    let close = it.close();
    // Of a repeated key, the last occurrence is the one readers see: merge there.
    let last = |k: &str| ms.iter().rposition(|m| key(text, m) == k);
    let mut targets: Vec<(usize, &String, &Value)> = Vec::new();
    let mut missing: Vec<(&String, &Value)> = Vec::new();
    for (k, v) in add {
        match last(k) {
            Some(i) if v.is_object() && text[ms[i].value] == b'{' => targets.push((i, k, v)),
            Some(_) => {
                conflicts.insert(k.clone(), v.clone());
            }
            None => missing.push((k, v)),
        }
    }
    targets.sort_by_key(|(i, _, _)| *i);
    let mut cursor = open;
    for (i, k, v) in targets {
        let m = ms[i];
        out.extend_from_slice(&text[cursor..m.value]);
        let mut inner = Map::new();
        let sub = v.as_object().expect("checked above");
        let after = merge_object(text, m.value, sub, out, &mut inner);
        if !inner.is_empty() {
            conflicts.insert(k.clone(), Value::Object(inner));
        }
        cursor = after;
    }
    out.extend_from_slice(&text[cursor..close]);
    let mut any = !ms.is_empty();
    for (k, v) in missing {
        if any {
            out.push(b',');
        }
        any = true;
        serde_json::to_writer(&mut *out, k).expect("a string serializes");
        out.push(b':');
        serde_json::to_writer(&mut *out, v).expect("a value serializes");
    }
    out.push(b'}');
    close + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn replaced(text: &str, name: &str) -> (String, usize) {
        let mut out = Vec::new();
        let n = replace_member(text.as_bytes(), name, &mut out, |o| {
            o.extend_from_slice(b"1")
        });
        (String::from_utf8(out).unwrap(), n)
    }

    #[test]
    fn replacing_keeps_every_other_byte() {
        assert_eq!(replaced(r#"{"a":1}"#, "s"), (r#"{"a":1,"s":1}"#.into(), 0));
        assert_eq!(replaced(r#" { } "#, "s"), (r#" { "s":1} "#.into(), 0));
        assert_eq!(
            replaced(
                r#"{"n":18446744073709551616,"s":{"x":[1,"}"]},"d":1e2,"d":"x","s":0}"#,
                "s"
            ),
            (
                r#"{"n":18446744073709551616,"d":1e2,"d":"x","s":1}"#.into(),
                2
            )
        );
        assert_eq!(
            replaced(r#"{"\u0073":true}"#, "s"),
            (r#"{"s":1}"#.into(), 1)
        );
        assert_eq!(
            replaced("\u{feff}{\"s\" : \"a\\\"}\" , \"b\":[{}]}", "s"),
            ("\u{feff}{\"b\":[{}],\"s\":1}".into(), 1)
        );
    }

    #[test]
    fn removing_only_when_present() {
        let mut out = Vec::new();
        assert_eq!(remove_member(br#"{"a":1}"#, "s", &mut out), None);
        assert_eq!(remove_member(br#"{"s":1,"a":2}"#, "s", &mut out), Some(1));
        assert_eq!(out, br#"{"a":2}"#);
    }

    #[test]
    fn merging_descends_and_reports_conflicts() {
        let text = br#"{"event":{"code":"4688","severity":3},"rule":"x","n":1.50}"#;
        let add = json!({"event":{"kind":"alert","severity":73},"rule":{"id":["a"]},"threat":{"framework":"MITRE ATT&CK"}});
        let mut out = Vec::new();
        let conflicts = merge(text, add.as_object().unwrap(), &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"event":{"code":"4688","severity":3,"kind":"alert"},"rule":"x","n":1.50,"threat":{"framework":"MITRE ATT&CK"}}"#
        );
        assert_eq!(
            Value::Object(conflicts),
            json!({"event":{"severity":73},"rule":{"id":["a"]}})
        );
        // The last of a repeated object is the one merged into.
        let mut out = Vec::new();
        merge(
            br#"{"e":{"a":1},"e":{}}"#,
            json!({"e":{"b":2}}).as_object().unwrap(),
            &mut out,
        );
        assert_eq!(out, br#"{"e":{"a":1},"e":{"b":2}}"#);
    }
}
