//! Nothing panics on input: arbitrary bytes, arbitrary JSON and mangled real events go
//! through the transform (every output profile) and come out as one line each; lines that
//! are not JSON objects come out unchanged.

mod common;

use proptest::prelude::*;
use serde_json::{Value, json};
use sigma_transform::config::{Mode, OutputProfile};
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Outcome, Transform, TransformOptions};

/// Compiled once for all cases.
fn transforms() -> &'static [Transform] {
    static T: std::sync::OnceLock<Vec<Transform>> = std::sync::OnceLock::new();
    T.get_or_init(build)
}

fn build() -> Vec<Transform> {
    let mut paths = vec![common::project("rules/windows")];
    if let Some(shared) = common::shared_dir() {
        paths.push(shared.join("sigma/rules/windows/process_creation"));
        paths.push(shared.join("sigma/rules/windows/builtin"));
    }
    [OutputProfile::Sigma, OutputProfile::Ecs]
        .into_iter()
        .map(|output| {
            let set = RuleSet::load(&paths, &BuildOptions::default());
            Transform::new(
                set.rules,
                &LogsourceMap::builtin(),
                TransformOptions {
                    output,
                    mode: Mode::Tag,
                    ..TransformOptions::default()
                },
            )
        })
        .collect()
}

/// Every leaf of `v` (an array is one leaf; an empty object has none) by its path of keys.
fn leaves(v: &Value, path: &[String], out: &mut Vec<(Vec<String>, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let mut p = path.to_vec();
                p.push(k.clone());
                leaves(v, &p, out);
            }
        }
        _ => out.push((path.to_vec(), v.clone())),
    }
}

/// `v` written and read back, as the output is read (floats read back as serde_json reads
/// their text).
fn reparsed(v: &Value) -> Value {
    serde_json::from_slice(&serde_json::to_vec(v).unwrap()).unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~\\\\äÄ\u{2013}]{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("1"),
            Just("4688"),
            Just("Security"),
            Just("Microsoft-Windows-Sysmon/Operational"),
            Just("C:\\Windows\\System32\\cmd.exe")
        ]
        .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("Event".to_string()),
                    Just("System".to_string()),
                    Just("EventData".to_string()),
                    Just("EventID".to_string()),
                    Just("Channel".to_string()),
                    Just("Image".to_string()),
                    Just("CommandLine".to_string()),
                    Just("#text".to_string()),
                    Just("#attributes".to_string()),
                    Just("winlog".to_string()),
                    Just("StringInserts".to_string()),
                    Just("ProviderName".to_string()),
                    Just("sigma".to_string()),
                    Just("rule".to_string()),
                    "[a-z ]{1,6}",
                ],
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_pass_through(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for t in transforms().iter().take(1) {
            let line: Vec<u8> = bytes.iter().copied().filter(|b| *b != b'\n').collect();
            let mut out = Vec::new();
            let outcome = t.process_line(&line, &mut t.scratch(), &mut out);
            if matches!(outcome, Outcome::Unparsed | Outcome::Blank | Outcome::Unmatched) {
                prop_assert_eq!(&out, &line);
            }
        }
    }

    #[test]
    fn arbitrary_json_is_processed(v in json_value()) {
        let line = serde_json::to_vec(&v).unwrap();
        for t in transforms() {
            let mut out = Vec::new();
            let outcome = t.process_line(&line, &mut t.scratch(), &mut out);
            // Both profiles own the tag field (`ecs` keeps its tag entries there).
            let owned = Some("sigma");
            match outcome {
                Outcome::Matched(_) => {
                    let mut tagged: Value = serde_json::from_slice(&out).unwrap();
                    prop_assert!(tagged.is_object());
                    let mut own = v.clone();
                    own.as_object_mut().unwrap().remove("sigma");
                    tagged.as_object_mut().unwrap().remove("sigma");
                    if t.options().output == OutputProfile::Sigma {
                        // Spliced: the event's own members are all there, as they were.
                        prop_assert_eq!(tagged, reparsed(&own));
                    } else {
                        // Merged into the event's objects: every value it had is still there.
                        let mut had = Vec::new();
                        leaves(&reparsed(&own), &[], &mut had);
                        for (path, value) in had {
                            let got = path.iter().try_fold(&tagged, |v, k| v.get(k));
                            prop_assert_eq!(got, Some(&value), "{:?} kept", path);
                        }
                    }
                }
                // An unmatched event comes out as it came, but for a tag field it came
                // with, which is removed (a tag always means a match here).
                _ if owned.is_some_and(|f| v.get(f).is_some()) => {
                    let mut own = v.clone();
                    own.as_object_mut().unwrap().remove("sigma");
                    prop_assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), reparsed(&own));
                }
                _ => prop_assert_eq!(&out, &line),
            }
            prop_assert!(!out.contains(&b'\n'));
        }
    }
}

#[test]
fn mangled_real_events_do_not_panic() {
    let Some(shared) = common::shared_or_skip("mangled_real_events_do_not_panic") else {
        return;
    };
    let text = std::fs::read_to_string(shared.join("regression/regression-events.ndjson")).unwrap();
    let t = &transforms()[0];
    let mut scratch = t.scratch();
    let mut out = Vec::new();
    let mut n = 0;
    for line in text.lines() {
        let b = line.as_bytes();
        // Truncations, a flipped byte, and a doubled event.
        for cut in [1, b.len() / 3, b.len() / 2, b.len() - 1] {
            out.clear();
            assert_eq!(
                t.process_line(&b[..cut], &mut scratch, &mut out),
                Outcome::Unparsed
            );
            assert_eq!(out, &b[..cut]);
            n += 1;
        }
        let mut flipped = b.to_vec();
        flipped[b.len() / 2] ^= 0x55;
        out.clear();
        t.process_line(&flipped, &mut scratch, &mut out);
        let doubled = [b, b].concat();
        out.clear();
        assert_eq!(
            t.process_line(&doubled, &mut scratch, &mut out),
            Outcome::Unparsed
        );
        n += 2;
    }
    assert!(n > 1000);
}
