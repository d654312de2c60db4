//! JSON events: evtx_dump's rendering of Windows event records and flat JSON.
//!
//! Field resolution for evtx_dump JSON (`{"Event": {"System": ..., "EventData": ...}}`),
//! first hit wins:
//! 1. `Event.System.<F>` (an element with `#text` gives that text, so `EventID` with
//!    `Qualifiers` still reads as its number); `F = X_Y` reads the attribute
//!    `Event.System.X.#attributes.Y` (`Provider_Name`, `Execution_ProcessID`, ...), as the
//!    specification names System attributes;
//! 2. `Event.EventData.<F>`;
//! 3. `Event.UserData.<Element>.<F>`;
//! 4. a dotted path from the top (`Event.System.Channel`).
//!
//! Flat JSON: the top-level key `F`, then a dotted path.

use serde_json::Value;

use super::{Document, Scalar};

/// A parsed JSON event.
#[derive(Debug, Clone)]
pub struct JsonEvent {
    root: Value,
    evtx: bool,
    /// EventData has names with spaces (Defender: "Threat Name"); Sigma writes them
    /// without spaces (`ThreatName`), so lookups also compare with spaces removed.
    spaced: bool,
}

impl JsonEvent {
    /// Parses one JSON document. Only objects are events.
    pub fn parse(bytes: &[u8]) -> Result<JsonEvent, String> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        JsonEvent::from_value(root)
    }

    /// Wraps an already parsed value.
    pub fn from_value(root: Value) -> Result<JsonEvent, String> {
        if !root.is_object() {
            return Err("the JSON value is not an object".into());
        }
        let evtx = root.get("Event").and_then(|e| e.get("System")).is_some_and(Value::is_object);
        let spaced = evtx
            && root["Event"]
                .get("EventData")
                .and_then(Value::as_object)
                .is_some_and(|m| m.keys().any(|k| k.contains(' ')));
        Ok(JsonEvent { root, evtx, spaced })
    }

    /// The underlying value.
    pub fn value(&self) -> &Value {
        &self.root
    }

    /// True when the event is in evtx_dump shape.
    pub fn is_evtx(&self) -> bool {
        self.evtx
    }

    fn lookup(&self, name: &str) -> Option<&Value> {
        if self.evtx {
            let event = &self.root["Event"];
            let system = &event["System"];
            if let Some(v) = system.get(name) {
                return Some(v);
            }
            // `X_Y` -> System.X.#attributes.Y, trying every underscore as the split.
            for (i, _) in name.match_indices('_') {
                let (elem, attr) = (&name[..i], &name[i + 1..]);
                if let Some(v) = system.get(elem).and_then(|e| e.get("#attributes")).and_then(|a| a.get(attr)) {
                    return Some(v);
                }
            }
            if let Some(v) = event.get("EventData").and_then(|d| d.get(name)) {
                return Some(v);
            }
            if self.spaced
                && let Some(Value::Object(data)) = event.get("EventData")
                && let Some((_, v)) = data.iter().find(|(k, _)| same_without_spaces(k, name))
            {
                return Some(v);
            }
            if let Some(Value::Object(user)) = event.get("UserData") {
                for (k, child) in user {
                    if k != "#attributes"
                        && let Some(v) = child.get(name)
                    {
                        return Some(v);
                    }
                }
            }
        } else if let Some(v) = self.root.get(name) {
            return Some(v);
        }
        if name.contains('.') {
            let mut cur = &self.root;
            for part in name.split('.') {
                cur = cur.get(part)?;
            }
            return Some(cur);
        }
        None
    }
}

/// True when `key` with its spaces removed equals `name`.
fn same_without_spaces(key: &str, name: &str) -> bool {
    key.contains(' ') && key.bytes().filter(|b| *b != b' ').eq(name.bytes())
}

fn visit_value(v: &Value, visit: &mut dyn FnMut(Scalar<'_>)) {
    match v {
        Value::Null => visit(Scalar::Null),
        Value::Bool(b) => visit(Scalar::Bool(*b)),
        Value::Number(n) => visit(number(n)),
        Value::String(s) => visit(Scalar::Str(s)),
        Value::Array(items) => items.iter().for_each(|i| visit_value(i, visit)),
        Value::Object(m) => {
            if let Some(t) = m.get("#text") {
                visit_value(t, visit);
            }
        }
    }
}

fn number(n: &serde_json::Number) -> Scalar<'static> {
    if let Some(i) = n.as_i64() {
        Scalar::Int(i)
    } else if let Some(u) = n.as_u64() {
        Scalar::UInt(u)
    } else {
        Scalar::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

fn visit_all(v: &Value, visit: &mut dyn FnMut(Scalar<'_>)) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| visit_all(i, visit)),
        Value::Object(m) => m.values().for_each(|i| visit_all(i, visit)),
        other => visit_value(other, visit),
    }
}

impl Document for JsonEvent {
    fn field(&self, name: &str, visit: &mut dyn FnMut(Scalar<'_>)) -> bool {
        match self.lookup(name) {
            Some(v) => {
                visit_value(v, visit);
                true
            }
            None => false,
        }
    }

    fn all_values(&self, visit: &mut dyn FnMut(Scalar<'_>)) {
        visit_all(&self.root, visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(doc: &JsonEvent, name: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let present = doc.field(name, &mut |s| {
            let mut b = String::new();
            out.push(s.text(&mut b).unwrap_or("<null>").to_string())
        });
        present.then_some(out)
    }

    #[test]
    fn evtx_dump_fields() {
        let doc = JsonEvent::parse(
            br##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},
            "EventID":{"#attributes":{"Qualifiers":16384},"#text":7045},"Channel":"System","Execution":{"#attributes":{"ProcessID":788}}},
            "EventData":{"ServiceName":"PSEXESVC","Empty":"","Nothing":null}}}"##,
        )
        .unwrap();
        assert!(doc.is_evtx());
        assert_eq!(values(&doc, "EventID").unwrap(), ["7045"]);
        assert_eq!(values(&doc, "Provider_Name").unwrap(), ["Service Control Manager"]);
        assert_eq!(values(&doc, "Execution_ProcessID").unwrap(), ["788"]);
        assert_eq!(values(&doc, "ServiceName").unwrap(), ["PSEXESVC"]);
        assert_eq!(values(&doc, "Empty").unwrap(), [""]);
        assert_eq!(values(&doc, "Nothing").unwrap(), ["<null>"]);
        assert_eq!(values(&doc, "Event.System.Channel").unwrap(), ["System"]);
        assert_eq!(values(&doc, "Missing"), None);
    }

    #[test]
    fn names_with_spaces_answer_to_sigma_names_without() {
        let doc = JsonEvent::parse(br##"{"Event":{"System":{"EventID":1119},"EventData":{"Threat Name":"EICAR","Source Name":"RTP"}}}"##).unwrap();
        assert_eq!(values(&doc, "ThreatName").unwrap(), ["EICAR"]);
        assert_eq!(values(&doc, "Source Name").unwrap(), ["RTP"]);
        assert_eq!(values(&doc, "Threat"), None);
    }

    #[test]
    fn user_data_fields() {
        let doc = JsonEvent::parse(br##"{"Event":{"System":{"EventID":1102},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"x"},"SubjectUserName":"bob"}}}}"##).unwrap();
        assert_eq!(values(&doc, "SubjectUserName").unwrap(), ["bob"]);
    }

    #[test]
    fn flat_fields() {
        let doc = JsonEvent::parse(br##"{"EventID":"4688","Image":"C:\\x.exe","a":{"b":[1,2]}}"##).unwrap();
        assert!(!doc.is_evtx());
        assert_eq!(values(&doc, "EventID").unwrap(), ["4688"]);
        assert_eq!(values(&doc, "a.b").unwrap(), ["1", "2"]);
        assert!(JsonEvent::parse(b"[1]").is_err());
        assert!(JsonEvent::parse(b"nope").is_err());
    }
}
