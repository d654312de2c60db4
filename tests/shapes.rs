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
