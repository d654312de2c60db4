//! Correlation documents (sigma-correlation-rules-specification.md 2.1; issue 20): what
//! loads, what is rejected and why. Every example of the specification loads once the
//! rules it references are there; a correlation that references itself, directly or
//! through another, is rejected with the path of references.
//!
//! How they are evaluated over a stream is tested in `tests/correlation_stream.rs`.

mod common;

use sigma_transform::rule::BuildOptions;
use sigma_transform::rule::correlation::{CorrelationType, Op};
use sigma_transform::ruleset::RuleSet;

fn load(docs: &[&str]) -> RuleSet {
    RuleSet::from_text("corr.yml", &docs.join("---\n"), &BuildOptions::default())
}

/// A detection rule with this id or name (the examples reference both).
fn rule(id_or_name: &str) -> String {
    let key = if id_or_name.contains('-') && id_or_name.len() == 36 {
        "id"
    } else {
        "name"
    };
    format!(
        "title: rule {id_or_name}\n{key}: {id_or_name}\nlogsource:\n    product: windows\ndetection:\n    sel:\n        EventID: 1\n    condition: sel\n"
    )
}

fn reasons(set: &RuleSet) -> Vec<String> {
    set.rejected.iter().map(|r| r.to_string()).collect()
}

#[test]
fn every_specification_example_loads_with_the_rules_it_references() {
    let Some(shared) = common::shared_or_skip("correlations::spec examples") else {
        return;
    };
    let dir = shared.join("sigma-specification/examples/correlation");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 8, "{files:?}");
    let mut kinds = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let alone = load(&[&text]);
        // Alone, its references name nothing: rejected, saying which.
        assert_eq!(alone.rejected.len(), 1, "{}", f.display());
        assert!(
            reasons(&alone)[0].contains("no loaded rule or correlation has as id or name"),
            "{:?}",
            reasons(&alone)
        );
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let refs: Vec<String> = yaml["correlation"]["rules"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let mut docs: Vec<String> = refs.iter().map(|r| rule(r)).collect();
        docs.push(text);
        let set = load(&docs.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(
            set.rejected.is_empty(),
            "{}: {:?}",
            f.display(),
            reasons(&set)
        );
        assert_eq!(set.correlations.len(), 1);
        assert!(set.not_evaluated.is_empty());
        kinds.push(set.correlations[0].kind);
    }
    for k in [
        CorrelationType::EventCount,
        CorrelationType::ValueCount,
        CorrelationType::Temporal,
        CorrelationType::TemporalOrdered,
        CorrelationType::ValueSum,
        CorrelationType::ValueAvg,
        CorrelationType::ValuePercentile,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from {kinds:?}");
    }
}

/// The specification's full example: a temporal_ordered correlation over an event_count
/// correlation and a rule, referenced by name, in one multi-document file.
#[test]
fn the_chained_example_resolves_names_across_rules_and_correlations() {
    let text = "title: Correlation - Multiple Failed Logins Followed by Successful Login
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules:
        - multiple_failed_login
        - successful_login
    group-by:
        - User
    timespan: 10m
level: high
---
title: Multiple failed logons
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: multiple_failed_login
correlation:
    type: event_count
    rules:
        - failed_login
    group-by:
        - User
    timespan: 10m
    condition:
        gte: 10
---
title: Single failed login
name: failed_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: [529, 4625]
    condition: selection
---
title: Successful login
name: successful_login
logsource:
    product: windows
    service: security
detection:
    selection:
        EventID: [528, 4624]
    condition: selection
";
    let set = RuleSet::from_text("chain.yml", text, &BuildOptions::default());
    assert!(set.rejected.is_empty(), "{:?}", reasons(&set));
    assert_eq!(set.rules.len(), 2);
    assert_eq!(set.correlations.len(), 2);
    let outer = &set.correlations[0];
    assert_eq!(outer.kind, CorrelationType::TemporalOrdered);
    assert_eq!(outer.timespan_secs, 600);
    // No condition on a temporal type: every referenced rule, in order.
    assert_eq!(outer.condition.tests, [(Op::Gte, 2.0)]);
    assert_eq!(outer.meta.level.as_deref(), Some("high"));
    let inner = &set.correlations[1];
    assert_eq!(inner.condition.tests, [(Op::Gte, 10.0)]);
}

#[test]
fn conditions_ranges_fields_aliases_and_generate_are_read() {
    let c = "title: Range
correlation:
    type: value_count
    rules: [a, b]
    group-by: [internal_ip]
    timespan: 1d
    aliases:
        internal_ip:
            a: destination.ip
            b: source.ip
    condition:
        field: [User, Host]
        gt: 100
        lte: 200
generate: true
";
    let set = load(&[&rule("a"), &rule("b"), c]);
    assert!(set.rejected.is_empty(), "{:?}", reasons(&set));
    let c = &set.correlations[0];
    assert_eq!(c.condition.tests, [(Op::Gt, 100.0), (Op::Lte, 200.0)]);
    assert!(!c.condition.holds(100.0) && c.condition.holds(101.0) && !c.condition.holds(201.0));
    assert_eq!(c.condition.fields, ["User", "Host"]);
    assert_eq!(c.timespan_secs, 86_400);
    assert!(c.generate);
    assert_eq!(
        c.group_field("internal_ip", Some("a")),
        Some("destination.ip")
    );
    assert_eq!(c.group_field("internal_ip", Some("b")), Some("source.ip"));
    assert_eq!(c.group_field("User", Some("a")), Some("User"));
}

#[test]
fn a_correlation_that_references_itself_is_rejected_with_the_path() {
    let own = "title: Self
name: self_ref
correlation:
    type: event_count
    rules: [self_ref]
    timespan: 5m
    condition: {gte: 2}
";
    let set = load(&[own]);
    assert_eq!(set.correlations.len(), 0);
    let r = reasons(&set);
    assert!(
        r[0].contains("references itself: self_ref -> self_ref"),
        "{r:?}"
    );

    let a = "title: A
name: corr_a
correlation:
    type: event_count
    rules: [corr_b]
    timespan: 5m
    condition: {gte: 2}
";
    let b = "title: B
name: corr_b
correlation:
    type: temporal
    rules: [corr_a, base]
    timespan: 5m
";
    let outer = "title: Outer
correlation:
    type: event_count
    rules: [corr_a]
    timespan: 5m
    condition: {gte: 1}
";
    let set = load(&[&rule("base"), a, b, outer]);
    let r = reasons(&set);
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(
        r.iter().any(|x| x.contains("corr_a -> corr_b -> corr_a")),
        "{r:?}"
    );
    assert!(
        r.iter().any(|x| x.contains("corr_b -> corr_a -> corr_b")),
        "{r:?}"
    );
    // The correlation over the cycle cannot be used either, and says why.
    assert!(
        r.iter()
            .any(|x| x.contains("references correlation 'A', which cannot be used")),
        "{r:?}"
    );
    assert_eq!(set.rules.len(), 1, "the plain rule still loads");
}

#[test]
fn malformed_correlations_are_rejected_with_reasons() {
    let cases = [
        (
            "type: event_counts\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 1}",
            "attribute 'type' must be one of",
        ),
        (
            "type: event_count\n    timespan: 1h\n    condition: {gte: 1}",
            "'correlation.rules'",
        ),
        (
            "type: event_count\n    rules: [a]\n    condition: {gte: 1}",
            "'correlation.timespan'",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 1w\n    condition: {gte: 1}",
            "attribute 'timespan' must be",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 0s\n    condition: {gte: 1}",
            "attribute 'timespan' must be",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 1h",
            "'correlation.condition'",
        ),
        (
            "type: value_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 1}",
            "'correlation.condition.field'",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: 1, field: User}",
            "event_count takes no 'field'",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {atleast: 1}",
            "unknown key 'atleast'",
        ),
        (
            "type: event_count\n    rules: [a]\n    timespan: 1h\n    condition: {gte: many}",
            "attribute 'gte' must be a number",
        ),
        (
            "type: value_sum\n    rules: [a]\n    timespan: 1h\n    condition: {field: [x, y], gt: 1}",
            "attribute 'field' must be a field name",
        ),
        (
            "type: temporal\n    rules: [a]\n    timespan: 1h\n    aliases: {ip: {z: src}}",
            "alias 'ip' maps a field for 'z'",
        ),
        (
            "type: value_percentile\n    rules: [a]\n    timespan: 1h\n    condition: {field: x, percentile: 101, lt: 5}",
            "'percentile' must be a number from 0 to 100",
        ),
    ];
    for (body, want) in cases {
        let text = format!("title: Bad\ncorrelation:\n    {body}\n");
        let set = load(&[&rule("a"), &text]);
        let r = reasons(&set);
        assert_eq!(r.len(), 1, "{body}: {r:?}");
        assert!(r[0].contains(want), "{body}: want '{want}' in {r:?}");
        assert_eq!(set.rules.len(), 1, "{body}");
    }
}

/// `run` end to end: the specification's chained example over a brute force stream. The
/// inner event_count and the rules it references are not written on their own (no
/// `generate`); the outer temporal_ordered fires on the successful login, which carries
/// `sigma.correlations`, and an alert line follows it (or goes to `--correlations FILE`).
#[test]
fn run_writes_correlations_on_the_completing_event_and_as_alert_lines() {
    let dir = std::env::temp_dir().join(format!("sigma-corr-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let chain = "title: Failed then success
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules: [multiple_failed_login, successful_login]
    group-by: [User]
    timespan: 10m
level: high
---
title: Multiple failed logons
name: multiple_failed_login
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [User]
    timespan: 10m
    condition: {gte: 3}
---
title: Single failed login
name: failed_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4625}, condition: selection}
---
title: Successful login
name: successful_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4624}, condition: selection}
";
    let rules = dir.join("chain.yml");
    std::fs::write(&rules, chain).unwrap();
    let ev = |m: u32, id: u32, user: &str| {
        format!(
            "{{\"@timestamp\":\"2024-05-01T10:{m:02}:00Z\",\"Channel\":\"Security\",\"EventID\":{id},\"User\":\"{user}\"}}\n"
        )
    };
    let input: String = [
        ev(0, 4625, "bob"),
        ev(1, 4625, "bob"),
        ev(2, 4625, "alice"),
        ev(3, 4625, "bob"),
        ev(4, 4624, "bob"),
        ev(5, 4624, "alice"),
    ]
    .concat();
    let events = dir.join("events.ndjson");
    std::fs::write(&events, &input).unwrap();
    let bin = env!("CARGO_BIN_EXE_sigma-transform");
    let out = std::process::Command::new(bin)
        .args(["run", "-q", "-r"])
        .arg(&rules)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    assert_eq!(lines.len(), 7, "6 events and one alert:\n{text}");
    for l in &lines[..4] {
        assert!(l.get("sigma").is_none(), "{l}");
    }
    let done = &lines[4]["sigma"];
    assert_eq!(done["matches"], serde_json::json!([]));
    let c = &done["correlations"][0];
    assert_eq!(c["title"], "Failed then success");
    assert_eq!(c["type"], "temporal_ordered");
    assert_eq!(c["level"], "high");
    assert_eq!(c["group"], serde_json::json!({"User": "bob"}));
    assert_eq!(c["window"]["end"], "2024-05-01T10:04:00.000Z");
    assert_eq!(lines[5]["sigma"]["correlations"][0], *c, "the alert line");
    assert_eq!(lines[5]["@timestamp"], "2024-05-01T10:04:00.000Z");
    assert!(lines[6].get("sigma").is_none(), "alice had one failure");

    // Alerts to their own file; generate: true on the inner one writes it and its rule.
    let generated = chain.replace(
        "name: multiple_failed_login\n",
        "name: multiple_failed_login\ngenerate: true\n",
    );
    std::fs::write(&rules, generated).unwrap();
    let alerts = dir.join("alerts.ndjson");
    let out = std::process::Command::new(bin)
        .args(["run", "-q", "-r"])
        .arg(&rules)
        .arg("--correlations")
        .arg(&alerts)
        .arg(&events)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["sigma"]["matches"][0]["title"], "Single failed login");
    let alert_lines: Vec<String> = std::fs::read_to_string(&alerts)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(alert_lines.len(), 2, "{alert_lines:?}");
    assert!(alert_lines[0].contains("Multiple failed logons"));
    assert!(alert_lines[1].contains("Failed then success"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bundled example (examples/correlation): alice fails six times then logs on (fires);
/// bob fails three times (too few); carol fails five times over forty minutes (never five
/// within ten). Exactly alice's logon is tagged, and one alert line follows it.
#[test]
fn the_bundled_brute_force_example_fires_for_alice_only() {
    let rules = common::project("examples/correlation/brute_force.yml");
    let events = common::project("examples/correlation/logons.ndjson");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
        .args(["run", "-q", "-r"])
        .arg(&rules)
        .arg(&events)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 18, "17 events and one alert");
    let tagged: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].get("sigma").is_some())
        .collect();
    assert_eq!(tagged, [6, 7], "alice's logon and the alert after it");
    let c = &lines[6]["sigma"]["correlations"][0];
    assert_eq!(c["group"]["TargetUserName"], "alice");
    assert_eq!(c["attack"]["techniques"][0]["id"], "T1110");
    assert_eq!(
        lines[7]["message"],
        "Sigma correlation: Successful logon after repeated failures"
    );
}

/// EVTX inputs are evaluated with correlations, record by record in input order: a
/// SigmaHQ regression file (2 records of one rule, at 10:00:35 and 10:00:40) given twice
/// fires `gte: 3` by event time: the second copy's first record is late (10:00:35, when
/// two hits had happened), its second record (10:00:40) completes it with all four. It
/// carries the correlation and its file; given once, the file misses by one hit.
#[test]
fn evtx_inputs_are_evaluated_with_correlations_in_input_order() {
    let Some(shared) = common::shared_or_skip("evtx_inputs_are_evaluated_with_correlations") else {
        return;
    };
    let case = "rules-emerging-threats/2026/Exploits/CVE-2026-33829/proc_creation_win_exploit_cve_2026_33829";
    let rule = shared.join(format!("sigma/{case}.yml"));
    let evtx = shared.join(format!(
        "regression/{case}/7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d.evtx"
    ));
    let dir = std::env::temp_dir().join(format!("sigma-corr-evtx-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.evtx"), dir.join("b.evtx"));
    std::fs::copy(&evtx, &a).unwrap();
    std::fs::copy(&evtx, &b).unwrap();
    let corr = dir.join("corr.yml");
    std::fs::write(
        &corr,
        "title: Three exploit attempts on one host\ncorrelation:\n    type: event_count\n    rules: [7c3a5b1d-9e2f-4a8c-b5d7-1e0f3c6a9b2d]\n    group-by: [Computer]\n    timespan: 5m\n    condition: {gte: 3}\nlevel: high\n",
    )
    .unwrap();
    let run = |inputs: &[&std::path::Path]| -> Vec<serde_json::Value> {
        let (out, err) = common::run_ok(
            std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
                .args(["run", "-q", "-r"])
                .arg(&rule)
                .arg("-r")
                .arg(&corr)
                .args(inputs),
        );
        assert!(!err.contains("without them"), "{err}");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("every line is JSON"))
            .collect()
    };
    let lines = run(&[&a, &b]);
    assert_eq!(lines.len(), 5, "4 records and one alert: {lines:#?}");
    let c = &lines[3]["sigma"]["correlations"][0];
    assert_eq!(
        c["title"], "Three exploit attempts on one host",
        "{}",
        lines[3]
    );
    assert_eq!(c["group"], serde_json::json!({"Computer": "swachchhanda"}));
    assert_eq!(c["value"], 4.0);
    assert_eq!(c["window"]["end"], "2026-04-20T10:00:40.222Z");
    assert!(
        lines[3]["log"]["file"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("b.evtx")),
        "{}",
        lines[3]
    );
    assert_eq!(lines[4]["sigma"]["correlations"][0], *c, "the alert line");
    for i in [0, 1, 2] {
        assert!(lines[i].get("sigma").is_none(), "{}", lines[i]);
    }
    let once = run(&[&a]);
    assert_eq!(once.len(), 2);
    assert!(once.iter().all(|l| l.get("sigma").is_none()), "{once:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}
