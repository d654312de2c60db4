//! SigmaHQ regression samples: every sample event must be tagged with the rule it was
//! recorded for, using the SigmaHQ rules as they are (runs when ../shared exists).
//!
//! `regression-index.tsv` gives each entry's expected `match_count`; where it is lower
//! than the number of events in the sample, only that many events must fire (the others
//! are context, e.g. a `:Zone.Identifier` stream next to a dropped tool). For each entry we
//! require at least `match_count` firing events (all events when none is given), and every
//! line that does not fire must belong to such an entry.

mod common;

use std::collections::BTreeMap;

#[test]
fn every_regression_event_carries_its_rule() {
    let Some(shared) = common::shared_or_skip("every_regression_event_carries_its_rule") else {
        return;
    };
    let transform = common::sigmahq_transform(&shared);
    let mut scratch = transform.scratch();

    let reg = shared.join("regression");
    let index = std::fs::read_to_string(reg.join("regression-index.tsv")).unwrap();
    let mut expected_count: BTreeMap<String, (Option<usize>, String)> = BTreeMap::new();
    for row in index.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        expected_count.insert(
            cols[0].to_string(),
            (cols[4].parse().ok(), cols[1].to_string()),
        );
    }
    let events = common::regression_events(&shared);
    let mut fired: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut silent = Vec::new();
    let mut out = Vec::new();
    for (i, (line, rule_id)) in events.iter().enumerate() {
        out.clear();
        transform.process_line(line.as_bytes(), &mut scratch, &mut out);
        let tagged: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let ids: Vec<&str> = tagged["sigma"]["matches"]
            .as_array()
            .map(|m| m.iter().filter_map(|e| e["id"].as_str()).collect())
            .unwrap_or_default();
        let entry = fired.entry(rule_id.as_str()).or_default();
        entry.1 += 1;
        if ids.contains(&rule_id.as_str()) {
            entry.0 += 1;
        } else {
            silent.push((i + 1, rule_id.clone()));
        }
    }
    let mut failures = Vec::new();
    for (rule_id, (hits, events)) in &fired {
        let (count, path) = &expected_count[*rule_id];
        let need = count.unwrap_or(*events).max(1);
        if *hits < need {
            failures.push(format!(
                "{rule_id} ({path}): fired on {hits} of {events} events, expected at least {need}"
            ));
        }
    }
    let lines_ok = events.len() - silent.len();
    eprintln!(
        "regression: {} entries, {lines_ok}/{} lines tagged with their rule; lines not tagged (allowed by match_count): {:?}",
        fired.len(),
        events.len(),
        silent
    );
    assert!(
        failures.is_empty(),
        "regression misses:\n{}",
        failures.join("\n")
    );
    // Every silent line belongs to an entry whose match_count is below its event count.
    for (line, rule_id) in &silent {
        let (count, _) = &expected_count[rule_id];
        let events = fired[rule_id.as_str()].1;
        assert!(
            count.is_some_and(|c| c < events),
            "line {line}: rule {rule_id} did not fire and its entry expects every event to match"
        );
    }
}
