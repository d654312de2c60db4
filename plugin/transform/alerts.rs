//! The `alerts` output profile: one ECS alert document per (event, matched rule), for
//! SIEMs that index alerts apart from events, written the way Elastic's detection engine
//! writes its alerts: the source event's own fields are copied to the top level, so an
//! alert is searched by `host.name` or `winlog.event_data.*` like its event, and the
//! alert's own fields are ECS.
//!
//! | field | value |
//! | --- | --- |
//! | the event's members | copied byte for byte, but `event`, `rule`, `threat` and `field` |
//! | `@timestamp` | the event's own; else its event time (`System.TimeCreated`, ...); else now |
//! | `event.kind`, `event.risk_score`, `event.risk_score_norm` | `alert`, the rule's level as a risk score |
//! | `rule.*` | the one rule, as [`super::ecs`] writes it, one value each |
//! | `threat.*` | the rule's techniques and tactics, with references |
//! | `<field>.match` | the rule's tag entry (level, status, tags, references, ATT&CK) |
//! | `<field>.original_event`, `.original_rule`, `.original_threat` | the event's own `event`, `rule` and `threat`, as they were (Elastic keeps `kibana.alert.original_event`) |
//!
//! The documents of one event are written one per line, in match order. An event no rule
//! matches leaves as it came (modes `tag` and `route`) or is dropped (mode `filter`).

use serde_json::{Value, json};

use super::decided::Decided;
use super::splice;
use super::tag::RuleTag;
use crate::correlate::time;
use crate::event::json::JsonEvent;

/// Members of the event that the alert replaces; the event's own go under `field`.
const REPLACED: [&str; 3] = ["event", "rule", "threat"];

/// Writes the alert documents of `line` for `hits`, separated by `\n` (no terminator after
/// the last).
pub fn write(
    line: &[u8],
    field: &str,
    hits: &[usize],
    tags: &[RuleTag],
    decided: &Decided,
    out: &mut Vec<u8>,
) {
    let open = splice::skip_ws(line, 0);
    // The event's members: copied, or kept aside as its originals (the first of a name).
    let mut copied: Vec<&[u8]> = Vec::new();
    let mut originals: Vec<(String, &[u8])> = Vec::new();
    let mut has_timestamp = false;
    for m in splice::members(line, open) {
        let k = splice::key(line, &m);
        if REPLACED.contains(&k.as_ref()) {
            let name = format!("original_{k}");
            if !originals.iter().any(|(n, _)| *n == name) {
                originals.push((name, &line[m.value..m.end]));
            }
        } else if k != field {
            has_timestamp |= k == "@timestamp";
            copied.push(&line[m.start..m.end]);
        }
    }
    let timestamp = (!has_timestamp).then(|| {
        let ms = JsonEvent::parse(line)
            .ok()
            .and_then(|e| time::event_time(&e, None))
            .unwrap_or_else(now_ms);
        time::format(ms)
    });
    for (n, &h) in hits.iter().enumerate() {
        if n > 0 {
            out.push(b'\n');
        }
        out.push(b'{');
        for c in &copied {
            out.extend_from_slice(c);
            out.push(b',');
        }
        if let Some(ts) = &timestamp {
            out.extend_from_slice(b"\"@timestamp\":");
            serde_json::to_writer(&mut *out, ts).expect("a string serializes");
            out.push(b',');
        }
        let ecs = super::ecs::fields(&[&tags[h]]);
        for (k, v) in &ecs {
            // One rule: each `rule.*` is its value, not a one-element list.
            let v = if k == "rule" { scalars(v) } else { v.clone() };
            serde_json::to_writer(&mut *out, k).expect("a string serializes");
            out.push(b':');
            serde_json::to_writer(&mut *out, &v).expect("values serialize");
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, field).expect("a string serializes");
        out.extend_from_slice(b":{\"match\":");
        super::tag::write_entry(h, tags, decided, out);
        for (k, raw) in &originals {
            out.push(b',');
            serde_json::to_writer(&mut *out, k).expect("a string serializes");
            out.push(b':');
            out.extend_from_slice(raw);
        }
        out.extend_from_slice(b"}}");
    }
}

/// `{"id": ["a"], ...}` as `{"id": "a", ...}`; `author`, an array in ECS, stays one.
fn scalars(rule: &Value) -> Value {
    let Value::Object(m) = rule else {
        return rule.clone();
    };
    Value::Object(
        m.iter()
            .map(|(k, v)| {
                let v = match k.as_str() {
                    "author" => v.clone(),
                    _ => v.get(0).cloned().unwrap_or(json!(null)),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The alert documents of one event's output, each as its own buffer (for adapters whose
/// events are one document each). Documents are told apart by parsing, not by line
/// breaks, which a copied member may hold.
pub fn documents(data: &bytes::Bytes) -> Vec<bytes::Bytes> {
    let mut out = Vec::new();
    let mut stream =
        serde_json::Deserializer::from_slice(data).into_iter::<serde::de::IgnoredAny>();
    let mut start = 0;
    while let Some(Ok(_)) = stream.next() {
        let end = stream.byte_offset();
        let doc = data.slice(start..end);
        let trimmed = doc
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(0);
        out.push(doc.slice(trimmed..));
        start = end;
    }
    if out.is_empty() {
        out.push(data.clone());
    }
    out
}
