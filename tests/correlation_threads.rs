//! `run` with correlations on several threads (issue 20): worker threads parse, match and
//! write every event that matched no rule a correlation references, and the ordered
//! stage runs the correlator over the stream in input order. The output must be exactly
//! what the sequential stage (`Correlating::process_line` on every line, in turn) writes:
//! the events, the correlation tags on the events that complete them, and every alert line
//! after the event that released it.
//!
//! The stream is generated (seeded): 30,000 lines (several blocks of 4,096 lines), event
//! time moving forward with jitter, some hits later than the allowed lateness, blank and
//! unparsable lines; correlations decided early, at window close (`lt`), by a chain that
//! a window close completes, and over rules that also tag on their own.
//!
//! `serve` prepares each batch on its workers the same way and finishes it in its
//! correlation lane: over a stdin source with 2 workers it must deliver the same events.

mod common;
mod procs;

use std::io::Write;

use sigma_transform::config::{Mode, SigmaConfig};
use sigma_transform::transform::Route;
use sigma_transform::transform::stage::SigmaTransform;

const RULES: &str = r#"title: Logon failure
name: fail
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4625}, condition: sel}
level: low
---
title: Logon
name: ok
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4624}, condition: sel}
level: informational
---
title: Process created
name: proc
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4688}, condition: sel}
level: low
---
title: Special privileges
name: special
logsource: {product: windows, service: security}
detection: {sel: {EventID: 4672}, condition: sel}
level: medium
---
title: Burst of failures
name: burst
correlation: {type: event_count, rules: [fail], group-by: [TargetUserName], timespan: 20s, condition: {gte: 3}}
level: medium
---
title: Quiet user
name: quiet
correlation: {type: event_count, rules: [ok], group-by: [TargetUserName], timespan: 5s, condition: {lt: 2}}
level: low
---
title: Quiet twice
name: quiet_twice
correlation: {type: event_count, rules: [quiet], group-by: [TargetUserName], timespan: 5m, condition: {gte: 2}}
level: high
---
title: Many users privileged on one host
name: spread
correlation: {type: value_count, rules: [special, fail], group-by: [Computer], timespan: 30s, condition: {gte: 5, field: TargetUserName}, generate: true}
level: high
---
title: Failures then logon
name: order
correlation: {type: temporal_ordered, rules: [burst, ok], group-by: [TargetUserName], timespan: 2m}
level: critical
"#;

/// xorshift64: a fixed stream of numbers, so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `ms` after 2026-01-01T00:00:00Z, as RFC 3339 (within one day).
fn stamp(ms: i64) -> String {
    let (s, milli) = (ms / 1000, ms % 1000);
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{milli:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn stream(seed: u64, lines: usize) -> String {
    let mut rng = Rng(seed);
    let mut t: i64 = 0;
    let mut out = String::new();
    for _ in 0..lines {
        let roll = rng.below(100);
        if roll == 0 {
            out.push_str("   \n");
            continue;
        }
        if roll == 1 {
            out.push_str("{\"not\": json\n");
            continue;
        }
        t += rng.below(400) as i64;
        // Now and then an event from the past: within the lateness (60 s) or beyond it.
        let at = if rng.below(30) == 0 {
            (t - rng.below(90_000) as i64).max(0)
        } else {
            t
        };
        let id =
            [4625, 4625, 4625, 4624, 4624, 4688, 4688, 4672, 4634, 4634][rng.below(10) as usize];
        let user = format!("u{}", rng.below(8));
        let host = format!("h{}", rng.below(4));
        out.push_str(&format!(
            "{{\"@timestamp\":\"{}\",\"winlog\":{{\"channel\":\"Security\",\"event_id\":{id},\"computer_name\":\"{host}\",\"event_data\":{{\"TargetUserName\":\"{user}\"}}}}}}\n",
            stamp(at)
        ));
    }
    out
}

/// What the sequential stage writes for `text` in `mode`: events where their route says
/// (no `_unmatched` sink, as `run` without `--unmatched`), each event's alerts after it,
/// the alerts of windows still open at the end last.
fn sequential(rules: &std::path::Path, text: &str, mode: Mode) -> String {
    let mut cfg = SigmaConfig::new(vec![rules.to_path_buf()]);
    cfg.mode = mode;
    let t = SigmaTransform::from_config(&cfg).unwrap();
    assert_eq!(t.report().correlations, 5, "{:?}", t.report().warnings);
    let mut stage = t.correlating();
    let mut scratch = t.scratch();
    let (mut out, mut alerts, mut all) = (Vec::new(), Vec::new(), Vec::new());
    for line in text.lines() {
        out.clear();
        let (_, route) = stage.process_line(line.as_bytes(), &mut scratch, &mut out, &mut alerts);
        if !matches!(route, Route::Discarded | Route::Unmatched) {
            all.extend_from_slice(&out);
            all.push(b'\n');
        }
        for a in alerts.drain(..) {
            all.extend_from_slice(&a);
            all.push(b'\n');
        }
    }
    stage.finish(&mut alerts);
    for a in alerts.drain(..) {
        all.extend_from_slice(&a);
        all.push(b'\n');
    }
    String::from_utf8(all).unwrap()
}

#[test]
fn run_on_threads_writes_what_the_sequential_stage_writes() {
    let dir = std::env::temp_dir().join(format!("sigma-corr-threads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    for seed in [0x9e37_79b9_7f4a_7c15u64, 0x2545_f491_4f6c_dd1d] {
        let text = stream(seed, 30_000);
        let events = dir.join("events.ndjson");
        std::fs::File::create(&events)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        for (mode, name) in [(Mode::Tag, "tag"), (Mode::Filter, "filter")] {
            let expected = sequential(&rules, &text, mode);
            // The stream exercises every path: early and close-decided firings, a chain a
            // window close completes, late hits.
            let alerts = expected
                .matches("\"message\":\"Sigma correlation: ")
                .count();
            // (`burst` and `quiet` are referenced without `generate`: not written.)
            for title in [
                "Quiet twice",
                "Many users privileged on one host",
                "Failures then logon",
            ] {
                let n = expected
                    .matches(&format!("Sigma correlation: {title}\""))
                    .count();
                assert!(n > 0, "{title} never fires");
            }
            assert!(alerts > 100, "{alerts} alerts");
            for threads in ["1", "2", "3"] {
                let (out, err) = common::run_ok(
                    std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
                        .args(["run", "--mode", name, "--threads", threads, "-r"])
                        .arg(&rules)
                        .arg(&events),
                );
                let late: u64 = err
                    .split(" hits too late")
                    .next()
                    .and_then(|s| s.rsplit(' ').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("no count of late hits: {err}"));
                assert!(late > 0, "some hits are late: {err}");
                if out != expected {
                    let (a, b): (Vec<&str>, Vec<&str>) =
                        (out.lines().collect(), expected.lines().collect());
                    let first = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]);
                    panic!(
                        "seed {seed:x}, mode {name}, {threads} threads: {} lines, expected {}; first difference at line {first:?}:\n  run:      {:?}\n  expected: {:?}",
                        a.len(),
                        b.len(),
                        first.map(|i| a[i]),
                        first.map(|i| b[i]),
                    );
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `serve` with 2 workers over a stdin source (batches in input order): the file sink gets
/// what the sequential stage writes, event for event (blank and unparsable lines left out
/// of the stream: how serve passes those on is tested in tests/serve_*.rs).
#[test]
fn serve_with_workers_delivers_what_the_sequential_stage_writes() {
    let dir = procs::scratch("corr-threads-serve");
    let rules = dir.join("rules.yml");
    std::fs::write(&rules, RULES).unwrap();
    let text: String = stream(0x9e37_79b9_7f4a_7c15, 20_000)
        .lines()
        .filter(|l| l.starts_with("{\"@timestamp"))
        .flat_map(|l| [l, "\n"])
        .collect();
    let expected: Vec<serde_json::Value> =
        common::json_lines(&sequential(&rules, &text, Mode::Tag));
    let out = dir.join("out.ndjson");
    let config = format!(
        "[serve]\nworkers = 2\n[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{rules:?}]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {out:?}\nencoding.codec = \"json\"\n"
    );
    procs::serve_stdin(&dir, &config, &text);
    let got = common::json_lines(&std::fs::read_to_string(&out).unwrap());
    assert!(expected.len() > 20_000, "alerts too: {}", expected.len());
    if got != expected {
        let first = (0..got.len().min(expected.len())).find(|&i| got[i] != expected[i]);
        panic!(
            "serve delivered {} events, expected {}; first difference at {first:?}:\n  serve:    {:?}\n  expected: {:?}",
            got.len(),
            expected.len(),
            first.map(|i| &got[i]),
            first.map(|i| &expected[i]),
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
