//! The `ecs` output (issue 19): every document it writes is checked against the ECS 8.x
//! field definitions carried in `tests/data/ecs_fields.tsv` (type, array normalization,
//! allowed values); one match's `rule.*` values line up index by index with the tag entries
//! under `sigma.matches`; `threat.*` keeps a name and a reference per id; and no value the
//! event came with is dropped.

mod common;

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{Value, json};
use sigma_transform::config::{Mode, OutputProfile, SigmaConfig};
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::stage::{Output, SigmaTransform};
use sigma_transform::transform::{Counters, Outcome, Transform, TransformOptions};

/// One row of the ECS table.
struct EcsField {
    ty: String,
    array: bool,
    allowed: Vec<String>,
}

fn ecs_fields() -> HashMap<String, EcsField> {
    let text = std::fs::read_to_string(common::project("tests/data/ecs_fields.tsv")).unwrap();
    let mut out = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 4, "four columns: {line:?}");
        out.insert(
            cols[0].to_string(),
            EcsField {
                ty: cols[1].to_string(),
                array: cols[2] == "array",
                allowed: cols[3]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect(),
            },
        );
    }
    assert!(out.len() > 20, "the table has its rows");
    out
}

/// Every leaf of `v` by dotted path (an array is one leaf).
fn leaves(v: &Value, path: &str, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                leaves(v, &p, out);
            }
        }
        _ => out.push((path.to_string(), v.clone())),
    }
}

fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// Checks one tagged document against its input: the ECS table, the alignment of `rule.*`
/// with `sigma.matches`, `threat.*` alignment, and that every input leaf is still there.
#[track_caller]
fn check_document(input: &Value, out: &Value, table: &HashMap<String, EcsField>) {
    let mut written = Vec::new();
    leaves(out, "", &mut written);
    let mut had = Vec::new();
    leaves(input, "", &mut had);
    // Nothing the event had is dropped (its own `sigma` member is the transform's).
    for (path, value) in &had {
        if path == "sigma" || path.starts_with("sigma.") {
            continue;
        }
        assert_eq!(
            at(out, path),
            Some(value),
            "input value {path} kept in {out}"
        );
    }
    // What the transform added outside its namespace is ECS, typed as ECS says.
    for (path, value) in &written {
        if path.starts_with("sigma.") || at(input, path).is_some() {
            continue;
        }
        let Some(def) = table.get(path) else {
            panic!("{path} is not an ECS field we may write ({out})");
        };
        let items: Vec<&Value> = match value {
            Value::Array(a) => a.iter().collect(),
            v => {
                assert!(!def.array, "{path} is an array in ECS, got {v}");
                vec![v]
            }
        };
        for item in items {
            match def.ty.as_str() {
                "keyword" => assert!(item.is_string() || item.is_null(), "{path}: {item}"),
                "match_only_text" => assert!(item.is_string(), "{path}: {item}"),
                // ECS dates as the transform writes them: RFC 3339, UTC.
                "date" => assert!(
                    item.as_str()
                        .is_some_and(|d| d.len() >= 20 && d.ends_with('Z')),
                    "{path}: {item}"
                ),
                "float" => assert!(item.is_number(), "{path}: {item}"),
                t => panic!("type {t} not expected"),
            }
            if !def.allowed.is_empty() {
                let s = item.as_str().unwrap();
                assert!(
                    def.allowed.iter().any(|a| a == s),
                    "{path}: {s} not allowed"
                );
            }
        }
    }
    // rule.* (here or displaced under sigma.rule) lines up with the tag entries: the rules'
    // (`sigma.matches`), then the correlations' (`sigma.correlations`).
    let mut matches = out["sigma"]["matches"]
        .as_array()
        .expect("sigma.matches")
        .clone();
    matches.extend(
        out["sigma"]["correlations"]
            .as_array()
            .into_iter()
            .flatten()
            .cloned(),
    );
    assert!(!matches.is_empty());
    let rule = if at(input, "rule").is_some() {
        &out["sigma"]["rule"]
    } else {
        &out["rule"]
    };
    for (k, col) in rule.as_object().expect("rule object") {
        let col = col
            .as_array()
            .unwrap_or_else(|| panic!("rule.{k} is an array"));
        assert_eq!(col.len(), matches.len(), "rule.{k} has one value per match");
    }
    for (i, m) in matches.iter().enumerate() {
        assert_eq!(rule["id"][i], m["id"], "rule.id[{i}]");
        assert_eq!(rule["name"][i], m["title"], "rule.name[{i}]");
        assert_eq!(rule["author"].get(i).unwrap_or(&Value::Null), &m["author"]);
        let first_ref = m["references"].get(0).unwrap_or(&Value::Null);
        assert_eq!(rule["reference"].get(i).unwrap_or(&Value::Null), first_ref);
    }
    let threat = if at(input, "threat").is_some() {
        &out["sigma"]["threat"]
    } else {
        &out["threat"]
    };
    for part in ["technique", "technique.subtechnique", "tactic"] {
        let Some(obj) = at(threat, part) else {
            continue;
        };
        let ids = obj["id"].as_array().unwrap();
        let mut unique = ids.clone();
        unique.sort_by_key(|v| v.to_string());
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "threat.{part}.id without repeats");
        for k in ["name", "reference"] {
            assert_eq!(obj[k].as_array().unwrap().len(), ids.len(), "{part}.{k}");
        }
        for (i, id) in ids.iter().enumerate() {
            let id = id.as_str().unwrap();
            let r = obj["reference"][i].as_str().unwrap();
            assert!(
                r.ends_with(&format!("/{}/", id.replace('.', "/"))),
                "{r} for {id}"
            );
        }
    }
    // Every technique of a tag entry is in threat.*, with its name.
    for m in matches {
        for t in m["attack"]["techniques"].as_array().unwrap() {
            let (id, name) = (t["id"].as_str().unwrap(), t["name"].as_str().unwrap());
            let (part, short) = match id.split_once('.') {
                Some(_) => ("technique.subtechnique", name.split_once(": ").unwrap().1),
                None => ("technique", name),
            };
            let obj = at(threat, part).expect("threat part");
            let i = obj["id"]
                .as_array()
                .unwrap()
                .iter()
                .position(|x| x == id)
                .unwrap_or_else(|| panic!("{id} in threat.{part}"));
            assert_eq!(obj["name"][i], short, "name of {id}");
        }
    }
}

fn bundled(output: OutputProfile) -> SigmaTransform {
    let mut cfg = SigmaConfig::new(vec![common::project("rules/windows")]);
    cfg.mode = Mode::Tag;
    cfg.output = output;
    SigmaTransform::from_config(&cfg).unwrap()
}

#[test]
fn every_ecs_document_of_the_sample_events_fits_the_ecs_definitions() {
    let table = ecs_fields();
    let ecs = bundled(OutputProfile::Ecs);
    let sigma = bundled(OutputProfile::Sigma);
    let mut files = vec![common::project("examples/events/windows-sample.ndjson")];
    for e in std::fs::read_dir(common::project("examples/events/shapes")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "ndjson") {
            files.push(p);
        }
    }
    let (mut s1, mut s2) = (ecs.scratch(), sigma.scratch());
    let (mut c1, mut c2) = (Counters::default(), Counters::default());
    let mut tagged = 0;
    for f in &files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let Output::Pass(_, out) = ecs.process(Bytes::from(line.to_string()), &mut s1, &mut c1)
            else {
                panic!("tag mode passes every event")
            };
            let Ok(input) = serde_json::from_str::<Value>(line) else {
                assert_eq!(
                    out,
                    line.as_bytes(),
                    "a line that is not JSON passes as it came"
                );
                continue;
            };
            let Output::Pass(_, by_sigma) =
                sigma.process(Bytes::from(line.to_string()), &mut s2, &mut c2)
            else {
                panic!()
            };
            let by_sigma: Value = serde_json::from_slice(&by_sigma).unwrap();
            let out: Value = serde_json::from_slice(&out).expect("ECS output is JSON");
            match by_sigma.get("sigma") {
                None => assert_eq!(out, input, "an unmatched event leaves as it came"),
                Some(tag) => {
                    tagged += 1;
                    assert_eq!(
                        out["sigma"]["matches"], tag["matches"],
                        "both profiles carry the same tag entries"
                    );
                    check_document(&input, &out, &table);
                    // The parsed-value path writes the same document.
                    let Output::Pass(_, by_value) =
                        ecs.process_value(input.clone(), &mut s1, &mut Counters::default())
                    else {
                        panic!()
                    };
                    assert_eq!(by_value, out, "value path and byte path agree");
                }
            }
        }
    }
    assert_eq!(c1.matched_events, c2.matched_events);
    assert!(tagged >= 10, "the samples match: {tagged} tagged");
}

const MAP: &str = "logsources:
  - product: windows
    events:
      - when: {}
  - product: windows
    category: process_creation
    events:
      - when: {}
";

/// Three rules on one event: authors and references missing in the middle, two
/// sub-techniques with the same name under two parents, one technique twice.
const RULES: &str = "title: First
id: 00000000-0000-4000-8000-000000000001
author: Ann
references:
    - https://example.org/one
    - https://example.org/two
license: MIT
date: 2026-01-02
logsource:
    product: windows
detection:
    selection:
        CommandLine|contains: 'evil'
    condition: selection
level: low
tags:
    - attack.resource-development
    - attack.t1583.005
---
title: Second
id: 00000000-0000-4000-8000-000000000002
logsource:
    product: windows
detection:
    selection:
        CommandLine|contains: 'evil'
    condition: selection
level: high
tags:
    - attack.t1584.005
---
title: Third
id: 00000000-0000-4000-8000-000000000003
author: Ann
modified: 2026-03-04
date: 2026-01-02
logsource:
    product: windows
    category: process_creation
detection:
    selection:
        CommandLine|contains: 'evil'
    condition: selection
level: medium
tags:
    - attack.t1583.005
    - attack.t1059
";

fn engine(output: OutputProfile) -> Transform {
    let set = RuleSet::from_text("ecs.yml", RULES, &BuildOptions::default());
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let map = LogsourceMap::from_yaml(MAP).unwrap();
    let opts = TransformOptions {
        output,
        ..TransformOptions::default()
    };
    Transform::new(set.rules, &map, opts)
}

fn tag(t: &Transform, event: &Value) -> Value {
    let line = event.to_string();
    let mut s = t.scratch();
    let mut out = Vec::new();
    let o = t.process_line(line.as_bytes(), &mut s, &mut out);
    assert_eq!(o, Outcome::Matched(3), "{line}");
    serde_json::from_slice(&out).unwrap()
}

#[test]
fn one_match_one_index_with_nulls_and_no_deduplication() {
    let t = engine(OutputProfile::Ecs);
    let input = json!({"CommandLine": "run evil.exe"});
    let v = tag(&t, &input);
    check_document(&input, &v, &ecs_fields());
    let ids: Vec<&str> = (1..=3)
        .map(|i| match i {
            1 => "00000000-0000-4000-8000-000000000001",
            2 => "00000000-0000-4000-8000-000000000002",
            _ => "00000000-0000-4000-8000-000000000003",
        })
        .collect();
    assert_eq!(v["rule"]["id"], json!(ids));
    assert_eq!(v["rule"]["name"], json!(["First", "Second", "Third"]));
    assert_eq!(
        v["rule"]["author"],
        json!(["Ann", null, "Ann"]),
        "not deduplicated"
    );
    assert_eq!(
        v["rule"]["reference"],
        json!(["https://example.org/one", null, null])
    );
    assert_eq!(v["rule"]["license"], json!(["MIT", "DRL-1.1", "DRL-1.1"]));
    assert_eq!(
        v["rule"]["version"],
        json!(["2026-01-02", null, "2026-03-04"])
    );
    assert_eq!(
        v["rule"]["category"],
        json!(["windows", "windows", "process_creation"])
    );
    assert_eq!(v["rule"]["ruleset"], json!(["sigma", "sigma", "sigma"]));
    assert!(v["rule"].get("description").is_none(), "no rule has one");
    assert_eq!(v["event"]["kind"], "alert");
    assert_eq!(v["event"]["risk_score"], 73, "the highest level: high");
    assert_eq!(v["event"]["risk_score_norm"], 73);
    assert!(
        v["event"].get("severity").is_none(),
        "the source's own field"
    );
    let tech = &v["threat"]["technique"];
    assert_eq!(tech["id"], json!(["T1583", "T1584", "T1059"]));
    assert_eq!(
        tech["name"],
        json!([
            "Acquire Infrastructure",
            "Compromise Infrastructure",
            "Command and Scripting Interpreter"
        ])
    );
    assert_eq!(
        tech["subtechnique"]["id"],
        json!(["T1583.005", "T1584.005"])
    );
    assert_eq!(
        tech["subtechnique"]["name"],
        json!(["Botnet", "Botnet"]),
        "one name per id, even when two are the same"
    );
    assert_eq!(
        tech["subtechnique"]["reference"][1],
        "https://attack.mitre.org/techniques/T1584/005/"
    );
    assert_eq!(v["threat"]["tactic"]["id"], json!(["TA0042"]));
    assert_eq!(
        v["sigma"]["matches"][0]["references"][1],
        "https://example.org/two"
    );
    assert!(v["sigma"]["matches"][1].get("references").is_none());
}

#[test]
fn values_the_event_has_are_kept_and_ours_go_to_the_namespace() {
    let t = engine(OutputProfile::Ecs);
    let table = ecs_fields();
    // Elastic's Sysmon pipeline: RuleName in rule.name; Winlogbeat's event.kind.
    let input = json!({"CommandLine": "evil", "event": {"kind": "event", "code": "1"},
        "rule": {"name": "technique_id=T1059"}, "threat": "a string"});
    let v = tag(&t, &input);
    check_document(&input, &v, &table);
    assert_eq!(
        v["rule"],
        json!({"name": "technique_id=T1059"}),
        "rule untouched"
    );
    assert_eq!(v["threat"], "a string");
    assert_eq!(v["event"]["kind"], "event");
    assert_eq!(
        v["event"]["risk_score"], 73,
        "a leaf the event lacks is added"
    );
    assert_eq!(v["sigma"]["event"]["kind"], "alert");
    assert_eq!(
        v["sigma"]["rule"]["name"],
        json!(["First", "Second", "Third"])
    );
    assert_eq!(v["sigma"]["threat"]["framework"], "MITRE ATT&CK");

    // `event` that is not an object: every event.* value goes to the namespace.
    let input = json!({"CommandLine": "evil", "event": 5, "sigma": {"forged": true}});
    let v = tag(&t, &input);
    assert_eq!(v["event"], 5);
    assert_eq!(v["sigma"]["event"]["risk_score"], 73);
    assert!(v["sigma"].get("forged").is_none(), "the namespace is ours");
    assert_eq!(v["rule"]["id"].as_array().unwrap().len(), 3);

    // An unmatched event does not keep a forged namespace either.
    let mut s = t.scratch();
    let mut out = Vec::new();
    let line = br#"{"CommandLine":"fine","sigma":{"matches":[]}}"#;
    assert_eq!(t.process_line(line, &mut s, &mut out), Outcome::Unmatched);
    assert_eq!(out, br#"{"CommandLine":"fine"}"#);
}

#[test]
fn the_sigma_profile_carries_references_too() {
    let t = engine(OutputProfile::Sigma);
    let v = tag(&t, &json!({"CommandLine": "evil"}));
    assert_eq!(
        v["sigma"]["matches"][0]["references"],
        json!(["https://example.org/one", "https://example.org/two"])
    );
    assert!(v.get("rule").is_none() && v.get("threat").is_none());
}

/// Output `alerts`: one ECS document per (event, rule), the event's own fields copied to
/// the top level, its `event`, `rule` and `threat` kept under `sigma.original_*`, each
/// document checked against the ECS table.
#[test]
fn alerts_are_one_ecs_document_per_match_carrying_the_event() {
    let table = ecs_fields();
    let t = engine(OutputProfile::Alerts);
    let input = json!({"CommandLine": "evil", "host": {"name": "ws1"},
        "event": {"kind": "event", "code": "1"}, "rule": {"name": "sysmon"},
        "@timestamp": "2026-12-07T01:02:03Z", "sigma": "forged"});
    let line = input.to_string();
    let mut s = t.scratch();
    let mut out = Vec::new();
    assert_eq!(
        t.process_line(line.as_bytes(), &mut s, &mut out),
        Outcome::Matched(3)
    );
    let docs: Vec<Value> = out
        .split(|b| *b == b'\n')
        .map(|l| serde_json::from_slice(l).expect("one JSON document per line"))
        .collect();
    assert_eq!(docs.len(), 3, "one per matched rule");
    let ids = [
        "00000000-0000-4000-8000-000000000001",
        "00000000-0000-4000-8000-000000000002",
        "00000000-0000-4000-8000-000000000003",
    ];
    for (d, id) in docs.iter().zip(ids) {
        assert_eq!(
            d["CommandLine"], "evil",
            "the event's fields at the top level"
        );
        assert_eq!(d["host"]["name"], "ws1");
        assert_eq!(
            d["@timestamp"], "2026-12-07T01:02:03Z",
            "the event's own time"
        );
        assert_eq!(d["rule"]["id"], id);
        assert_eq!(d["sigma"]["match"]["id"], id);
        assert_eq!(d["rule"]["name"], d["sigma"]["match"]["title"]);
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(
            d["sigma"]["original_event"],
            json!({"kind": "event", "code": "1"})
        );
        assert_eq!(d["sigma"]["original_rule"], json!({"name": "sysmon"}));
        assert!(d["sigma"].get("original_threat").is_none());
        assert!(d["sigma"].get("forged").is_none() && d["sigma"].is_object());
        let mut written = Vec::new();
        leaves(d, "", &mut written);
        for (path, value) in written {
            let top = path.split('.').next().unwrap();
            if !["event", "rule", "threat"].contains(&top) {
                continue;
            }
            let def = table.get(&path).unwrap_or_else(|| panic!("{path} is ECS"));
            match (&value, def.array) {
                (Value::Array(a), true) => assert!(a.iter().all(Value::is_string), "{path}"),
                (Value::Array(_), false) => panic!("{path} is one value per alert"),
                (v, _) if def.ty == "float" => assert!(v.is_number(), "{path}"),
                (v, _) => assert!(v.is_string(), "{path}: {v}"),
            }
        }
    }
    assert_eq!(docs[1]["event"]["risk_score"], 73, "Second is high");
    assert_eq!(docs[0]["rule"]["author"], json!(["Ann"]), "an array in ECS");
    assert_eq!(
        docs[0]["threat"]["technique"]["subtechnique"]["id"],
        json!(["T1583.005"]),
        "each alert has its own rule's techniques"
    );
    assert!(
        docs[1]["threat"]["tactic"].is_null(),
        "Second names no tactic"
    );
    // No time of its own: the event time, else now; never missing.
    out.clear();
    t.process_line(
        br#"{"CommandLine":"evil","EventTime":"2026-01-02 03:04:05"}"#,
        &mut s,
        &mut out,
    );
    let first: Value = serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["@timestamp"], "2026-01-02T03:04:05.000Z");
    // The parsed-value path gives the same documents, as an array.
    let mut v = input.clone();
    t.tag_value(
        &mut v,
        &[0, 1, 2],
        &sigma_transform::transform::decided::NONE,
    );
    assert_eq!(v, Value::Array(docs));
    // An unmatched event leaves as it came.
    out.clear();
    assert_eq!(
        t.process_line(br#"{"CommandLine":"fine"}"#, &mut s, &mut out),
        Outcome::Unmatched
    );
    assert_eq!(out, br#"{"CommandLine":"fine"}"#);
}

#[test]
fn alert_documents_are_split_by_parsing_not_by_line_breaks() {
    use sigma_transform::transform::alerts::documents;
    let data = Bytes::from_static(b"{\"a\":\n 1}\n{\"b\":[\n2]}");
    let docs = documents(&data);
    assert_eq!(docs.len(), 2);
    assert_eq!(&docs[0][..], b"{\"a\":\n 1}");
    assert_eq!(&docs[1][..], b"{\"b\":[\n2]}");
    let one = Bytes::from_static(b"{\"a\":1}");
    assert_eq!(documents(&one), vec![one.clone()]);
}

/// Correlations in the ECS profiles (issue 20): the event that completes one gets its
/// `rule.*` and `threat.*` after the rules' matches, lined up with `sigma.correlations`,
/// and checked against the ECS table like a rule match; its alert line is an ECS alert
/// (`event.kind: alert`, the correlation's risk score, `rule.category` naming the type).
/// The `sigma` profile writes neither. Over the bundled brute-force example.
#[test]
fn correlations_map_to_ecs_as_rules_do() {
    let table = ecs_fields();
    let run = |output: &str| -> Vec<Value> {
        let (out, _) = common::run_ok(
            std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
                .args(["run", "-q", "--output", output, "-r"])
                .arg(common::project("examples/correlation/brute_force.yml"))
                .arg(common::project("examples/correlation/logons.ndjson")),
        );
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let inputs: Vec<Value> =
        std::fs::read_to_string(common::project("examples/correlation/logons.ndjson"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let ecs = run("ecs");
    assert_eq!(
        ecs.len(),
        inputs.len() + 1,
        "every event and one alert line"
    );
    let done = ecs
        .iter()
        .position(|v| v["sigma"]["correlations"].is_array())
        .expect("an event completes the correlation");
    let (event, alert) = (&ecs[done], &ecs[done + 1]);
    check_document(&inputs[done], event, &table);
    assert_eq!(event["event"]["kind"], "alert");
    assert_eq!(
        event["rule"]["category"],
        json!(["correlation:temporal_ordered"])
    );
    assert_eq!(event["threat"]["technique"]["id"], json!(["T1110"]));
    check_document(&json!({}), alert, &table);
    assert_eq!(alert["rule"]["id"], event["rule"]["id"]);
    assert_eq!(alert["event"]["risk_score"], 73);
    assert_eq!(
        alert["sigma"]["correlations"],
        event["sigma"]["correlations"]
    );
    // Events that complete nothing leave as they came (referenced rules do not tag).
    for (i, v) in ecs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != done && *i != done + 1)
    {
        let i = if i > done { i - 1 } else { i };
        assert_eq!(v, &inputs[i]);
    }
    // Output `alerts`: the completing event (no rule of its own to write) leaves as it
    // came, and the correlation's alert document follows it.
    let alerts = run("alerts");
    assert_eq!(alerts.len(), inputs.len() + 1, "{alerts:#?}");
    assert_eq!(alerts[done], inputs[done]);
    assert_eq!(&alerts[done + 1], alert);
    // The `sigma` profile: no ECS fields on the event or the alert line.
    let sigma = run("sigma");
    assert!(sigma[done].get("rule").is_none() && sigma[done + 1].get("rule").is_none());
    assert_eq!(sigma[done + 1]["sigma"], alert["sigma"]);
}
