//! `matched_fields` (issue 19): each match's tag entry can carry the fields and values
//! that decided it. Off by default; on, the entry's `fields` holds the values of the
//! fields whose tests made the condition hold, never one under `not`, never one of an
//! `or` branch that did not hold; in every output profile and in `run`. The engine is
//! compared with the reference evaluator on generated rules in `tests/differential.rs`.

mod common;

use serde_json::{Value, json};
use sigma_transform::config::OutputProfile;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Outcome, Transform, TransformOptions};

const MAP: &str = "logsources:\n  - product: windows\n    category: process_creation\n    events:\n      - when: {}\n";

const RULE: &str = r"
title: Evil process
id: 11111111-2222-3333-4444-555555555555
logsource:
    product: windows
    category: process_creation
detection:
    image:
        Image|endswith: '\evil.exe'
    command:
        CommandLine|contains:
            - ' -enc '
            - ' -e '
    hashes:
        Hashes|contains: 'MD5=0BAD'
    filter:
        User: 'NT AUTHORITY\SYSTEM'
    condition: (image or command or hashes) and not filter
level: high
";

fn engine(output: OutputProfile, matched_fields: bool) -> Transform {
    let set = RuleSet::from_text("fields.yml", RULE, &BuildOptions::default());
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let opts = TransformOptions {
        output,
        matched_fields,
        ..TransformOptions::default()
    };
    Transform::new(set.rules, &LogsourceMap::from_yaml(MAP).unwrap(), opts)
}

/// The tagged line of `event`, parsed (every line of it, for `alerts`).
fn tag(t: &Transform, event: &Value) -> Vec<Value> {
    let line = event.to_string();
    let mut s = t.scratch();
    let mut out = Vec::new();
    let o = t.process_line(line.as_bytes(), &mut s, &mut out);
    assert_eq!(o, Outcome::Matched(1), "{line}");
    serde_json::Deserializer::from_slice(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn fields(t: &Transform, event: &Value) -> Value {
    tag(t, event)[0]["sigma"]["matches"][0]["fields"].clone()
}

#[test]
fn the_fields_that_made_the_condition_hold_and_no_others() {
    let t = engine(OutputProfile::Sigma, true);
    // Only `image` held: CommandLine is in the event but its test did not hold; User is
    // read by `not filter`, which decides by absence of a match.
    let ev = json!({"Image": "C:\\x\\evil.exe", "CommandLine": "evil.exe /quiet", "User": "alice"});
    assert_eq!(fields(&t, &ev), json!({"Image": "C:\\x\\evil.exe"}));
    // Two branches held: both fields, with their values as the event has them.
    let ev =
        json!({"Image": "C:\\x\\evil.exe", "CommandLine": "evil.exe -enc AAAA", "User": "alice"});
    assert_eq!(
        fields(&t, &ev),
        json!({"CommandLine": "evil.exe -enc AAAA", "Image": "C:\\x\\evil.exe"})
    );
    // A field with several values gives all of them.
    let ev = json!({"Hashes": ["SHA1=00", "MD5=0BAD1DEA"], "Image": "C:\\ok.exe"});
    assert_eq!(
        fields(&t, &ev),
        json!({"Hashes": ["SHA1=00", "MD5=0BAD1DEA"]})
    );
    // The filter held: no match at all.
    let ev = json!({"Image": "C:\\x\\evil.exe", "User": "NT AUTHORITY\\SYSTEM"});
    let mut s = t.scratch();
    let mut out = Vec::new();
    assert_eq!(
        t.process_line(ev.to_string().as_bytes(), &mut s, &mut out),
        Outcome::Unmatched
    );
}

/// A keyword search tests every value: the values it found its keywords in go under
/// `keywords`, the others not.
#[test]
fn keyword_searches_give_the_values_they_were_found_in() {
    let rule = "title: kw\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n    keywords:\n        - 'sekurlsa::'\n        - 'lsadump::'\n    user:\n        User: bob\n    condition: keywords and user\n";
    let set = RuleSet::from_text("kw.yml", rule, &BuildOptions::default());
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let opts = TransformOptions {
        matched_fields: true,
        ..TransformOptions::default()
    };
    let t = Transform::new(set.rules, &LogsourceMap::from_yaml(MAP).unwrap(), opts);
    let ev = json!({"User": "bob", "CommandLine": "m.exe SEKURLSA::logonpasswords", "Note": "x", "Other": "lsadump::sam"});
    assert_eq!(
        fields(&t, &ev),
        json!({"User": "bob", "keywords": ["m.exe SEKURLSA::logonpasswords", "lsadump::sam"]})
    );
}

#[test]
fn off_by_default_and_the_entry_is_otherwise_the_same() {
    let ev = json!({"Image": "C:\\x\\evil.exe"});
    let off = tag(&engine(OutputProfile::Sigma, false), &ev).remove(0);
    let on = tag(&engine(OutputProfile::Sigma, true), &ev).remove(0);
    let entry_off = &off["sigma"]["matches"][0];
    assert!(entry_off.get("fields").is_none(), "{entry_off}");
    let mut entry_on = on["sigma"]["matches"][0].clone();
    assert_eq!(entry_on["fields"], json!({"Image": "C:\\x\\evil.exe"}));
    entry_on.as_object_mut().unwrap().remove("fields");
    assert_eq!(&entry_on, entry_off);
}

#[test]
fn every_output_profile_carries_them() {
    let ev = json!({"Image": "C:\\x\\evil.exe", "User": "bob"});
    let want = json!({"Image": "C:\\x\\evil.exe"});
    let ecs = tag(&engine(OutputProfile::Ecs, true), &ev).remove(0);
    assert_eq!(ecs["sigma"]["matches"][0]["fields"], want, "{ecs}");
    let alerts = tag(&engine(OutputProfile::Alerts, true), &ev);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["sigma"]["match"]["fields"], want, "{}", alerts[0]);
    // The parsed-value path writes what the byte path writes.
    let t = engine(OutputProfile::Sigma, true);
    let mut s = t.scratch();
    let doc = sigma_transform::event::json::JsonEvent::from_value(&ev).unwrap();
    let hits = t.match_event(&doc, &mut s);
    let mut v = ev.clone();
    t.tag_value(&mut v, &hits, t.last_decided(&s));
    assert_eq!(v, tag(&t, &ev)[0]);
}

#[test]
fn long_values_are_cut_and_many_values_capped() {
    use sigma_transform::transform::decided::{MAX_VALUE_BYTES, MAX_VALUES};
    let t = engine(OutputProfile::Sigma, true);
    let long = format!("C:\\{}\\evil.exe", "a".repeat(3 * MAX_VALUE_BYTES));
    let f = fields(&t, &json!({ "Image": long }));
    let cut = f["Image"].as_str().unwrap();
    assert!(
        cut.ends_with('…') && cut.len() < MAX_VALUE_BYTES + 8,
        "{}",
        cut.len()
    );
    let many: Vec<String> = (0..100).map(|i| format!("MD5=0BAD{i}")).collect();
    let f = fields(&t, &json!({ "Hashes": many }));
    assert_eq!(f["Hashes"].as_array().unwrap().len(), MAX_VALUES);
}

/// `run --matched-fields` on the bundled rules and sample events: every entry of every
/// tagged event has a `fields` object, not empty, whose values are the event's own.
#[test]
fn run_writes_them_for_the_bundled_rules() {
    let (out, _) = common::run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
            .args(["run", "-q", "--matched-fields", "--rules"])
            .arg(common::project("rules/windows"))
            .arg("--")
            .arg(common::project("examples/events/windows-sample.ndjson")),
    );
    let (mut entries, mut values) = (0, 0);
    for line in out.lines() {
        // The sample has lines that are not events: they pass through as they came.
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(matches) = v["sigma"]["matches"].as_array() else {
            continue;
        };
        let text = line.to_string();
        for m in matches {
            let f = m["fields"].as_object().expect("a fields object");
            assert!(!f.is_empty(), "{m}");
            for value in f.values() {
                let one = value.as_array().map_or(value.clone(), |a| a[0].clone());
                // Each value is one the event carries (as JSON text somewhere in it).
                let needle = one.to_string();
                let needle = needle.trim_matches('"');
                assert!(text.contains(needle), "{needle} not in {line}");
                values += 1;
            }
            entries += 1;
        }
    }
    assert!(
        entries >= 5 && values >= entries,
        "{entries} entries, {values} values"
    );
}
