//! The same rules fire on the same events whatever shape a shipper gives them: the
//! bundled shape fixtures (written by us) and every SigmaHQ regression event converted into
//! each shape (when ../shared exists).

mod common;
mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use sigma_transform::event::json::JsonEvent;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

#[test]
fn shape_fixtures_match_alike() {
    let dir = common::project("examples/events/shapes");
    let expected = std::fs::read_to_string(dir.join("EXPECTED.md")).unwrap();
    let mut want: Vec<(usize, BTreeSet<String>)> = Vec::new();
    for row in expected.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(line) = cells[0].parse::<usize>() else {
            continue;
        };
        let last = *cells.last().unwrap();
        let set = if last == "none" {
            BTreeSet::new()
        } else {
            last.split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .collect()
        };
        want.push((line, set));
    }
    assert_eq!(want.len(), 6);
    let set = RuleSet::load(
        &[common::project("rules/windows")],
        &BuildOptions::default(),
    );
    let t = Transform::new(
        set.rules,
        &LogsourceMap::builtin(),
        TransformOptions::default(),
    );
    let mut scratch = t.scratch();
    let mut shapes_seen = BTreeSet::new();
    for file in std::iter::once("evtx_dump").chain(support::shapes::SHAPES) {
        let text = std::fs::read_to_string(dir.join(format!("{file}.ndjson"))).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), want.len(), "{file}");
        for (line, expect) in &want {
            let v: Value = serde_json::from_str(lines[line - 1]).unwrap();
            let doc = JsonEvent::from_value(&v).unwrap();
            shapes_seen.insert(doc.shape().name());
            assert!(
                !doc.lacks_template(),
                "{file}:{line} has a StringInserts template"
            );
            assert_eq!(
                &support::rule_ids(&t, &mut scratch, &v),
                expect,
                "{file}:{line}"
            );
        }
    }
    assert_eq!(
        shapes_seen.len(),
        7,
        "auto-detection tells all seven shapes apart: {shapes_seen:?}"
    );
}

#[test]
fn regression_events_fire_alike_in_every_shape() {
    let Some(shared) = common::shared_or_skip("regression_events_fire_alike_in_every_shape") else {
        return;
    };
    let t = common::sigmahq_transform(&shared);
    let mut scratch = t.scratch();
    let events = common::regression_events(&shared);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (i, (line, want)) in events.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        let base = support::rule_ids(&t, &mut scratch, &v);
        for shape in support::shapes::SHAPES {
            let converted = support::shapes::convert(&v, shape);
            let doc = JsonEvent::from_value(&converted).unwrap();
            assert_eq!(
                doc.shape().name(),
                shape,
                "line {}: detected as {}",
                i + 1,
                doc.shape().name()
            );
            let got = support::rule_ids(&t, &mut scratch, &converted);
            checked += 1;
            if base.contains(want) && !got.contains(want) {
                failures.push(format!(
                    "line {} {shape}: expected rule {want} no longer fires",
                    i + 1
                ));
            }
            let added: Vec<&String> = got.difference(&base).collect();
            if !added.is_empty() {
                failures.push(format!(
                    "line {} {shape}: adds {added:?} that evtx_dump does not have",
                    i + 1
                ));
            }
            let lost: Vec<&String> = base.difference(&got).collect();
            if !lost.is_empty() {
                failures.push(format!("line {} {shape}: loses {lost:?}", i + 1));
            }
        }
    }
    eprintln!("shapes: {checked} (event, shape) pairs checked");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every shape fixture serialized into a string, as a shipper without a JSON codec or
/// parser sends it: Vector's `file` source (`message`, with its own fields beside it) and
/// Fluent Bit's `tail` (`log`). The event inside fires exactly the rules the event fires
/// on its own, the tags go on the event as it came (every byte before the tag kept), and
/// with `wrapped_json` off nothing fires and every such event counts as of no known shape.
#[test]
fn events_serialized_in_message_or_log_match_as_themselves() {
    use sigma_transform::transform::{Counters, Outcome};
    let dir = common::project("examples/events/shapes");
    let rules = RuleSet::load(
        &[common::project("rules/windows")],
        &BuildOptions::default(),
    )
    .rules;
    let build = |wrapped_json: bool| {
        Transform::new(
            rules.clone(),
            &LogsourceMap::builtin(),
            TransformOptions {
                wrapped_json,
                ..TransformOptions::default()
            },
        )
    };
    let (on, off) = (build(true), build(false));
    let (mut s_on, mut s_off) = (on.scratch(), off.scratch());
    let (mut c_on, mut c_off) = (Counters::default(), Counters::default());
    let (mut wrapped_events, mut fired) = (0u64, 0);
    for file in std::iter::once("evtx_dump").chain(support::shapes::SHAPES) {
        let text = std::fs::read_to_string(dir.join(format!("{file}.ndjson"))).unwrap();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let want = support::rule_ids(&on, &mut s_on, &v);
            for wrapper in [
                serde_json::json!({"message": line, "host": "h", "source_type": "file",
                    "timestamp": "2026-12-07T05:00:00Z"}),
                serde_json::json!({"log": line}),
            ] {
                wrapped_events += 1;
                let text = wrapper.to_string();
                let mut out = Vec::new();
                let o = on.process_line(text.as_bytes(), &mut s_on, &mut out);
                c_on.record(o);
                c_on.record_reading(&on, &s_on);
                assert!(on.last_unwrapped(&s_on), "{file}: {text}");
                assert!(!on.last_unknown_shape(&s_on));
                let got: std::collections::BTreeSet<String> = on
                    .last_hits(&s_on)
                    .iter()
                    .filter_map(|&h| on.rules()[h].meta.id.clone())
                    .collect();
                assert_eq!(got, want, "{file}: {text}");
                if want.is_empty() {
                    assert_eq!(o, Outcome::Unmatched);
                    assert_eq!(out, text.as_bytes());
                } else {
                    fired += 1;
                    assert!(out.starts_with(&text.as_bytes()[..text.len() - 1]));
                    let tagged: Value = serde_json::from_slice(&out).unwrap();
                    assert_eq!(
                        tagged["sigma"]["matches"].as_array().unwrap().len(),
                        want.len()
                    );
                }
                let mut out = Vec::new();
                let o = off.process_line(text.as_bytes(), &mut s_off, &mut out);
                c_off.record_reading(&off, &s_off);
                assert_eq!(o, Outcome::Unmatched, "off: nothing fires");
            }
        }
    }
    assert!(fired > 0, "some wrapped events fire");
    assert_eq!(c_on.unwrapped, wrapped_events);
    assert_eq!(c_on.unknown_shape, 0);
    assert_eq!((c_off.unwrapped, c_off.unknown_shape), (0, wrapped_events));

    // Strings that hold no JSON object are not unwrapped, and an event of no shape counts.
    for (text, unknown) in [
        (r#"{"message":"plain text"}"#, true),
        (r#"{"message":"[1,2]"}"#, true),
        (r#"{"message":"{not json"}"#, true),
        (r#"{"log":"{\"a\":1}"}"#, true),
        (r#"{"message":"{\"EventID\":1}","EventID":4688}"#, false),
    ] {
        let mut out = Vec::new();
        on.process_line(text.as_bytes(), &mut s_on, &mut out);
        assert_eq!(on.last_unknown_shape(&s_on), unknown, "{text}");
        let inner_flat_object = text.starts_with(r#"{"log""#);
        assert_eq!(on.last_unwrapped(&s_on), inner_flat_object, "{text}");
    }
}
