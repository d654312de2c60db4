//! Helpers shared by the integration tests: where the shared data lives, and a clear
//! message when it is not there (a fresh clone has no ../shared; CI always has it).

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` from the project root, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("README.md").exists().then_some(dir)
}

/// Says on standard error, past the test harness's output capture (which only takes the
/// `print!` family), that a test is skipped and why.
///
/// Under `.ci/run` (which sets `SIGMA_NO_SKIP=1`) a skip is a failure: CI has everything
/// these tests need, so a missing piece there is a broken setup, not a reason to pass.
pub fn skip(test: &str, why: &str) {
    use std::io::Write;
    if std::env::var_os("SIGMA_NO_SKIP").is_some() {
        panic!("{test} would be skipped in CI (SIGMA_NO_SKIP is set): {why}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}

/// `../shared`, or says why the calling test is skipped and returns `None`.
pub fn shared_or_skip(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.is_none() {
        skip(
            test,
            "../shared is not present (it holds the SigmaHQ corpus and samples; CI always has it)",
        );
    }
    dir
}

/// A path inside the project.
pub fn project(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The SigmaHQ detection rules (`rules`, `rules-emerging-threats`, `rules-threat-hunting`)
/// compiled with the built-in logsource mapping.
pub fn sigmahq_transform(shared: &std::path::Path) -> sigma_transform::transform::Transform {
    use sigma_transform::logsource::LogsourceMap;
    use sigma_transform::rule::BuildOptions;
    use sigma_transform::ruleset::RuleSet;
    use sigma_transform::transform::{Transform, TransformOptions};
    let sigma = shared.join("sigma");
    let dirs = ["rules", "rules-emerging-threats", "rules-threat-hunting"].map(|d| sigma.join(d));
    let set = RuleSet::load(&dirs, &BuildOptions::default());
    Transform::new(
        set.rules,
        &LogsourceMap::builtin(),
        TransformOptions::default(),
    )
}

/// The regression events, each with the id of the rule it was recorded for.
pub fn regression_events(shared: &std::path::Path) -> Vec<(String, String)> {
    let reg = shared.join("regression");
    let lines_tsv = std::fs::read_to_string(reg.join("regression-events-lines.tsv")).unwrap();
    let expected: Vec<String> = lines_tsv
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    let events = std::fs::read_to_string(reg.join("regression-events.ndjson")).unwrap();
    let lines: Vec<String> = events.lines().map(String::from).collect();
    assert_eq!(lines.len(), expected.len(), "one expectation per line");
    lines.into_iter().zip(expected).collect()
}

/// Runs `cmd`, asserts that it succeeded (its standard error in the message), and returns
/// its standard output and standard error as text.
#[track_caller]
pub fn run_ok(cmd: &mut std::process::Command) -> (String, String) {
    let out = cmd.output().expect("the command starts");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{cmd:?} failed: {err}");
    (String::from_utf8(out.stdout).expect("UTF-8 output"), err)
}

/// Every line of `text` as JSON (each must be).
#[track_caller]
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect()
}

/// What `run -r rules events` writes, as JSON lines, and the index of the first event
/// that completes a correlation (its alert line follows it).
#[track_caller]
pub fn run_correlations(
    rules: &std::path::Path,
    events: &std::path::Path,
) -> (Vec<serde_json::Value>, usize) {
    let (out, _) = run_ok(
        std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
            .args(["run", "-q", "-r"])
            .arg(rules)
            .arg(events),
    );
    let lines = json_lines(&out);
    let done = lines
        .iter()
        .position(|v| v["sigma"]["correlations"].is_array())
        .expect("an event completes a correlation");
    (lines, done)
}
