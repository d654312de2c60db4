//! Converts evtx_dump JSON records into the other shapes shippers produce (Winlogbeat,
//! NXLog, Vector, Fluent Bit with a map or with positional inserts, flat), as
//! docs/shapes.md describes them, so the same record can be matched in every shape.

use serde_json::{Map, Value, json};

/// The parts of an evtx_dump record every shape carries.
pub struct Record {
    pub event_id: u64,
    pub channel: Value,
    pub provider: String,
    pub computer: Value,
    pub version: Value,
    pub record_id: Value,
    /// Named event data (EventData, or the child of UserData), in document order.
    pub data: Map<String, Value>,
    pub from_user_data: bool,
}

/// Reads the parts of an evtx_dump record.
pub fn record(v: &Value) -> Record {
    let sys = &v["Event"]["System"];
    let event_id = match &sys["EventID"] {
        Value::Number(n) => n.as_u64().unwrap(),
        Value::Object(o) => o["#text"].as_u64().unwrap(),
        other => panic!("EventID {other}"),
    };
    let mut data = Map::new();
    let mut from_user_data = false;
    if let Some(Value::Object(d)) = v["Event"].get("EventData") {
        for (k, val) in d {
            if k != "#attributes" {
                data.insert(k.clone(), val.clone());
            }
        }
    } else if let Some(Value::Object(u)) = v["Event"].get("UserData") {
        from_user_data = true;
        for (k, child) in u {
            if k == "#attributes" {
                continue;
            }
            if let Value::Object(c) = child {
                for (k2, val) in c {
                    if k2 != "#attributes" {
                        data.insert(k2.clone(), val.clone());
                    }
                }
            }
        }
    }
    Record {
        event_id,
        channel: sys["Channel"].clone(),
        provider: sys["Provider"]["#attributes"]["Name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        computer: sys["Computer"].clone(),
        version: sys.get("Version").cloned().unwrap_or(Value::Null),
        record_id: sys.get("EventRecordID").cloned().unwrap_or(Value::Null),
        data,
        from_user_data,
    }
}

/// A classic provider's unnamed data: evtx_dump's `EventData.Data` (`#text` a list or
/// one value), beside at most a `Binary`.
pub fn unnamed(r: &Record) -> Option<Vec<Value>> {
    let items = match r.data.get("Data")?.get("#text")? {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    r.data
        .keys()
        .all(|k| k == "Data" || k == "Binary")
        .then_some(items)
}

/// A value as the text shippers that stringify event data write.
fn text(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        other => other.clone(),
    }
}

fn texts(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter().map(|(k, v)| (k.clone(), text(v))).collect()
}

pub const SHAPES: [&str; 6] = [
    "winlogbeat",
    "nxlog",
    "vector",
    "fluentbit_map",
    "fluentbit_inserts",
    "flat",
];

/// The record in shape `shape`.
pub fn convert(v: &Value, shape: &str) -> Value {
    let r = record(v);
    match shape {
        "winlogbeat" => {
            let mut winlog = json!({
                "event_id": r.event_id.to_string(),
                "channel": r.channel,
                "provider_name": r.provider,
                "computer_name": r.computer,
                "record_id": r.record_id,
                "version": r.version,
                "api": "wineventlog",
            });
            let key = if r.from_user_data {
                "user_data"
            } else {
                "event_data"
            };
            // Winlogbeat writes unnamed data (a classic provider's `Data` list) as
            // `param1`..`paramN`.
            let mut data = texts(&r.data);
            if let Some(items) = unnamed(&r) {
                data.remove("Data");
                for (i, v) in items.iter().enumerate() {
                    data.insert(format!("param{}", i + 1), text(v));
                }
            }
            winlog[key] = Value::Object(data);
            json!({ "event": { "code": r.event_id.to_string(), "provider": r.provider, "kind": "event" }, "winlog": winlog })
        }
        "nxlog" => {
            let mut m = Map::new();
            for (k, val) in [
                ("EventTime", json!("2026-01-01 00:00:00")),
                ("Hostname", r.computer.clone()),
                ("EventType", json!("INFO")),
                ("SeverityValue", json!(2)),
                ("EventID", json!(r.event_id)),
                ("SourceName", json!(r.provider)),
                ("Version", r.version.clone()),
                ("RecordNumber", r.record_id.clone()),
                ("Channel", r.channel.clone()),
                ("AccountName", json!("SYSTEM")),
            ] {
                m.insert(k.into(), val);
            }
            // Event data at the top level; where it shares a name with NXLog's own fields,
            // the event data wins (but never over the record's identity).
            for (k, val) in texts(&r.data) {
                if !matches!(
                    k.as_str(),
                    "EventID" | "Channel" | "SourceName" | "Hostname"
                ) {
                    m.insert(k, val);
                }
            }
            m.insert("SourceModuleType".into(), json!("im_msvistalog"));
            Value::Object(m)
        }
        "vector" => {
            let key = if r.from_user_data {
                "user_data"
            } else {
                "event_data"
            };
            json!({
                "event_id": r.event_id, "channel": r.channel, "provider_name": r.provider,
                "computer": r.computer, "record_id": r.record_id, "version": r.version,
                key: Value::Object(texts(&r.data)),
            })
        }
        "fluentbit_map" => json!({
            "ProviderName": r.provider, "EventID": r.event_id, "Channel": r.channel,
            "Computer": r.computer, "Version": r.version, "EventRecordID": r.record_id,
            "Qualifiers": "", "EventData": Value::Object(texts(&r.data)),
        }),
        "fluentbit_inserts" => {
            // Unnamed data: its values are the inserts (a classic event's `Binary` is not
            // one of them).
            let inserts: Vec<Value> = match unnamed(&r) {
                Some(items) => items.iter().map(text).collect(),
                None => r.data.values().map(text).collect(),
            };
            json!({
                "ProviderName": r.provider, "EventID": r.event_id, "Channel": r.channel,
                "Computer": r.computer, "Version": r.version, "EventRecordID": r.record_id,
                "Qualifiers": "", "StringInserts": inserts,
            })
        }
        "flat" => {
            let mut m = Map::new();
            m.insert("EventID".into(), json!(r.event_id));
            m.insert("Channel".into(), r.channel.clone());
            m.insert("Provider_Name".into(), json!(r.provider));
            m.insert("Computer".into(), r.computer.clone());
            for (k, val) in &r.data {
                if !matches!(
                    k.as_str(),
                    "EventID" | "Channel" | "Provider_Name" | "Computer"
                ) {
                    m.insert(k.clone(), val.clone());
                }
            }
            Value::Object(m)
        }
        other => panic!("unknown shape {other}"),
    }
}
