//! The correlation pack we ship for SigmaHQ rules (`rules/sigmahq-correlations/`; issue
//! 20): 50 correlations that reference SigmaHQ rules by id. They all load next to the
//! SigmaHQ rules and none without them; over the EVTX-ATTACK-SAMPLES corpus in event-time
//! order, every group-by and value field they name is found, and every correlation type of
//! the pack fires.

mod common;

use std::collections::BTreeMap;
use std::io::Read;

use sigma_transform::config::SigmaConfig;
use sigma_transform::correlate::time;
use sigma_transform::transform::stage::SigmaTransform;

const PACK: &str = "rules/sigmahq-correlations";

/// Without the rules they reference, `check` rejects every one of them: each with the rule
/// id it cannot find, a chain with the cluster it references (a fresh clone has no SigmaHQ
/// rules: this case needs no ../shared).
#[test]
fn without_sigmahq_every_correlation_of_the_pack_is_rejected_with_its_reference() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
        .args(["check", "--format", "json"])
        .arg(common::project(PACK))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "a rejected rule exits 1");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 50, "{report:#}");
    let reasons: Vec<&str> = rejected
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    let missing_rule = reasons
        .iter()
        .filter(|r| r.contains("which no loaded rule or correlation has as id or name"))
        .count();
    let missing_cluster = reasons
        .iter()
        .filter(|r| r.contains("references correlation") && r.ends_with("which cannot be used"))
        .count();
    assert_eq!(
        (missing_rule, missing_cluster),
        (47, 3),
        "3 chains of two clusters fail on the first; the fourth on its SigmaHQ rule: {reasons:#?}"
    );
}

#[test]
fn the_pack_loads_with_sigmahq_and_fires_on_the_attack_samples() {
    let Some(shared) = common::shared_or_skip("the_pack_loads_with_sigmahq") else {
        return;
    };
    let sigma = shared.join("sigma");
    let sigmahq = [
        sigma.join("rules/windows"),
        sigma.join("rules-emerging-threats"),
        sigma.join("rules-threat-hunting/windows"),
    ];
    let mut paths = sigmahq.to_vec();
    paths.push(common::project(PACK));
    let t = SigmaTransform::from_config(&SigmaConfig::new(paths)).unwrap();
    let report = t.report();
    assert_eq!(report.correlations, 50, "{:?}", report.warnings);
    assert!(
        report.warnings.iter().all(|w| !w.contains("correlation")),
        "{:?}",
        report.warnings
    );
    let compiled = t.correlations();
    assert!(
        compiled.correlations.iter().all(|c| c.generate),
        "every correlation of the pack keeps its rules tagging on their own"
    );
    assert!(
        compiled.silent.iter().all(|s| !s),
        "no SigmaHQ rule is silenced by the pack"
    );

    // The corpus in event-time order, as a shipper sends a stream.
    let mut text = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(shared.join("events/evtx-attack-samples.ndjson.gz")).unwrap(),
    )
    .read_to_string(&mut text)
    .unwrap();
    let engine = t.engine();
    let mut events: Vec<&str> = text.lines().collect();
    events.sort_by_cached_key(|e| {
        engine
            .read(e.as_bytes())
            .ok()
            .and_then(|ev| time::event_time(&ev, None))
    });
    let mut stage = t.correlating();
    let mut scratch = t.scratch();
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    for e in &events {
        out.clear();
        stage.process_line(e.as_bytes(), &mut scratch, &mut out, &mut alerts);
    }
    stage.finish(&mut alerts);
    let counters = stage.correlator().counters;
    assert_eq!(
        counters.missing_field, 0,
        "every group-by and value field is found"
    );
    assert_eq!(counters.too_late, 0, "in event-time order nothing is late");
    assert_eq!(alerts.len() as u64, counters.firings);
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    for a in &alerts {
        let v: serde_json::Value = serde_json::from_slice(a).unwrap();
        let c = &v["sigma"]["correlations"][0];
        assert!(
            c["group"].get("Computer").is_some() || c["type"] == "value_count",
            "{v}"
        );
        *by_type
            .entry(c["type"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let types: Vec<&str> = by_type.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        ["event_count", "temporal", "temporal_ordered", "value_count"],
        "{by_type:?}"
    );
}
