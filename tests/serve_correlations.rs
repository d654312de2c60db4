//! Correlations in `serve` (issue 20): the ordered lane gives what `run` gives (the same
//! completing event, the same alert), routes alerts to output `correlations` in mode
//! `route`, keeps the state of unchanged correlations across a rule reload and resets
//! changed ones, decides windows still open when it stops, and shows its counters as
//! metrics. Our binary only, over `stdin` and `http_server` sources and `file` sinks; no
//! `../shared` is needed.

mod common;
mod procs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use procs::{count_lines, post, scratch, serve_stdin, start_serve_with, wait_until};
use serde_json::Value;

fn project(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// Mode route over the bundled brute-force example: the alert goes to output
/// `correlations` and is the alert line `run` writes; the completing event goes to
/// `matched`, tagged as `run` tags it; the other events to `_unmatched`; none is lost.
#[test]
fn route_mode_sends_alerts_to_output_correlations_as_run_writes_them() {
    let dir = scratch("serve-corr-route");
    let rules = project("examples/correlation/brute_force.yml");
    let input = std::fs::read_to_string(project("examples/correlation/logons.ndjson")).unwrap();
    let (m, u, c) = (
        dir.join("matched.ndjson"),
        dir.join("unmatched.ndjson"),
        dir.join("correlations.ndjson"),
    );
    let sink = |id: &str, input: &str, path: &Path| {
        format!(
            "[sinks.{id}]\ntype = \"file\"\ninputs = [\"sigma.{input}\"]\npath = {path:?}\nencoding.codec = \"json\"\n"
        )
    };
    let config = format!(
        "[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{rules:?}]\nmode = \"route\"\n{}{}{}",
        sink("m", "matched", &m),
        sink("u", "_unmatched", &u),
        sink("c", "correlations", &c)
    );
    serve_stdin(&dir, &config, &input);
    let (matched, unmatched, alerts) = (lines(&m), lines(&u), lines(&c));
    let n = input.lines().count();
    assert_eq!(matched.len() + unmatched.len(), n, "every event once");
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(matched.len(), 1, "{matched:#?}");
    // What `run` writes for the same rules and events.
    let (run, done) =
        common::run_correlations(&rules, &project("examples/correlation/logons.ndjson"));
    assert_eq!(matched[0], run[done], "the completing event");
    assert_eq!(alerts[0], run[done + 1], "the alert line");
    assert_eq!(
        alerts[0]["sigma"]["correlations"][0]["group"]["TargetUserName"],
        "alice"
    );
    assert!(unmatched.iter().all(|v| v.get("sigma").is_none()));
}

/// A window decided only when it closes (`lt`) is decided when serve stops, and its alert
/// is delivered before it exits.
#[test]
fn windows_open_at_shutdown_are_decided_and_delivered() {
    let dir = scratch("serve-corr-stop");
    std::fs::write(
        dir.join("quiet.yml"),
        "title: Too few heartbeats\ncorrelation:\n    type: event_count\n    rules: [heartbeat]\n    group-by: [Computer]\n    timespan: 1h\n    condition: {lt: 3}\nlevel: medium\n---\ntitle: Heartbeat\nname: heartbeat\nlogsource: {product: windows, service: system}\ndetection: {selection: {EventID: 7036}, condition: selection}\n",
    )
    .unwrap();
    let out = dir.join("out.ndjson");
    let config = format!(
        "[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{:?}]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {out:?}\nencoding.codec = \"json\"\n",
        dir.join("quiet.yml")
    );
    let beat = |m: u32| {
        format!(
            "{{\"@timestamp\":\"2024-05-01T10:{m:02}:00Z\",\"Channel\":\"System\",\"EventID\":7036,\"Computer\":\"ws1\"}}\n"
        )
    };
    serve_stdin(&dir, &config, &[beat(0), beat(5)].concat());
    let got = lines(&out);
    assert_eq!(got.len(), 3, "two events and the alert: {got:#?}");
    let c = &got[2]["sigma"]["correlations"][0];
    assert_eq!(c["title"], "Too few heartbeats");
    assert_eq!(c["value"], 2.0);
    assert_eq!(c["window"]["end"], "2024-05-01T11:00:00.000Z");
    assert!(got[..2].iter().all(|v| v.get("sigma").is_none()));
}

const COUNTED: &str = "title: Service installs on one host
id: 0c0c0c0c-1111-4111-8111-000000000001
correlation:
    type: event_count
    rules: [service_install]
    group-by: [Computer]
    timespan: TIMESPAN
    condition: {gte: 3}
level: high
---
title: Service install
name: service_install
logsource: {product: windows, service: system}
detection: {selection: {EventID: 7045}, condition: selection}
";

/// Across `watch` reloads: a reload that leaves the correlation as it was keeps its
/// count (two events before, one after: it fires); one that changes it (its timespan)
/// starts it over (two before, one after: it does not fire; two more: it does).
#[test]
fn unchanged_correlations_keep_their_state_across_a_reload() {
    let dir = scratch("serve-corr-reload");
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let corr = rules_dir.join("counted.yml");
    std::fs::write(&corr, COUNTED.replace("TIMESPAN", "1h")).unwrap();
    let out = dir.join("out.ndjson");
    let mut serve = start_serve_with(
        &dir,
        &format!(
            "[sources.in]\ntype = \"http_server\"\naddress = \"127.0.0.1:18841\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [\"rules\"]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {out:?}\nencoding.codec = \"json\"\n[serve]\nwatch = true\nwatch_interval_secs = 0.2\n[api]\nenabled = true\naddress = \"127.0.0.1:18842\"\n"
        ),
        18841,
    );
    let sent = std::cell::Cell::new(0u32);
    let send = || {
        let m = sent.get();
        sent.set(m + 1);
        let ev = format!(
            "{{\"@timestamp\":\"2024-05-01T10:{m:02}:00Z\",\"Channel\":\"System\",\"EventID\":7045,\"Computer\":\"ws1\"}}\n"
        );
        let (code, _) = post("127.0.0.1:18841", "", ev.as_bytes()).unwrap();
        assert_eq!(code, 200);
    };
    let metric = |name: &str| procs::metric("127.0.0.1:18842", name);
    let reloads = std::cell::Cell::new(0u64);
    let reload_with = |text: String| {
        std::fs::write(&corr, text).unwrap();
        let want = reloads.get() + 1;
        assert!(
            wait_until(Duration::from_secs(10), || metric(
                "sigma_reloads_total{result=\"success\"}"
            ) >= want),
            "{}",
            serve.log_text()
        );
        reloads.set(want);
    };
    let alerts = || {
        lines(&out)
            .iter()
            .filter(|v| {
                v["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("Sigma correlation"))
            })
            .count()
    };
    // Unchanged across the reload (a new level only): 2 + 1 fires.
    send();
    send();
    reload_with(
        COUNTED
            .replace("TIMESPAN", "1h")
            .replace("level: high", "level: critical"),
    );
    send();
    assert!(
        wait_until(Duration::from_secs(10), || alerts() == 1),
        "{:#?}",
        lines(&out)
    );
    assert_eq!(metric("sigma_correlation_firings_total"), 1);
    // Changed (timespan): 2 before, 1 after does not fire; 2 more do.
    send();
    send();
    reload_with(COUNTED.replace("TIMESPAN", "2h"));
    send();
    assert!(wait_until(Duration::from_secs(10), || count_lines(&out) >= 7));
    assert_eq!(alerts(), 1, "{:#?}", lines(&out));
    send();
    send();
    assert!(wait_until(Duration::from_secs(10), || alerts() == 2));
    assert_eq!(metric("sigma_correlation_firings_total"), 2);
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success(), "{}", serve.log_text());
    assert!(
        serve.log_text().contains("correlation state carried over"),
        "{}",
        serve.log_text()
    );
}
