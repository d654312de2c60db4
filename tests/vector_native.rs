//! The native `sigma` transform inside a Vector built by `tools/vector/build.sh` (issue
//! 18): the SigmaHQ regression events and the 8,255 sample events through `file` ->
//! `remap` -> `sigma` (the SigmaHQ rules, `matched_fields` on) -> `file`, tagged field
//! for field as `sigma-transform run --matched-fields` tags them; mode route sending matched and unmatched events to two sinks with none lost or
//! doubled; the example configs validated and run; and bad configs refused with our
//! message.
//!
//! The built binary is named by `SIGMA_VECTOR_BIN` (the last line `build.sh` prints);
//! `.ci/run` builds it and sets it. Without it, or without `../shared`, these tests say
//! SKIPPED.

mod common;
mod pipeline;
mod procs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pipeline::{
    assert_same_tags, bundled_events, run_tags_with, sample_events, tagged_count, write_lines,
};
use procs::{Proc, count_lines, scratch, wait_until};

fn vector(test: &str) -> Option<PathBuf> {
    common::shared_or_skip(test)?;
    match std::env::var_os("SIGMA_VECTOR_BIN") {
        Some(p) => {
            let p = PathBuf::from(p);
            assert!(
                p.exists(),
                "SIGMA_VECTOR_BIN {} does not exist",
                p.display()
            );
            Some(p)
        }
        None => {
            common::skip(
                test,
                "SIGMA_VECTOR_BIN is not set (build Vector with tools/vector/build.sh, which prints the path; CI does)",
            );
            None
        }
    }
}

/// The regression events, the sample events and the bundled ones.
fn all_events(shared: &Path) -> Vec<String> {
    let mut events: Vec<String> = common::regression_events(shared)
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    events.extend(sample_events(shared));
    events.extend(bundled_events());
    events
}

#[test]
fn native_transform_tags_as_run_does_and_routes_without_loss() {
    let Some(vector) = vector("native_transform_tags_as_run_does_and_routes_without_loss") else {
        return;
    };
    let shared = common::shared_dir().unwrap();
    let dir = scratch("vector-native");
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let events = all_events(&shared);
    write_lines(&dir.join("events.ndjson"), &events);
    // The SigmaHQ rules (all of rules/): thousands of matches to compare.
    let rules = shared.join("sigma/rules");
    // With `matched_fields` on, so that each match's `fields` are compared too.
    let expected = run_tags_with(&dir.join("events.ndjson"), &rules, &["--matched-fields"]);
    std::fs::write(
        dir.join("vector.toml"),
        format!(
            r#"
data_dir = {data:?}
[sources.windows]
type = "file"
include = [{events:?}]
read_from = "beginning"
[transforms.parse]
type = "remap"
inputs = ["windows"]
source = '. = parse_json!(string!(.message))'
[transforms.tag]
type = "sigma"
inputs = ["parse"]
rules = [{rules:?}]
matched_fields = true
[transforms.split]
type = "sigma"
inputs = ["parse"]
rules = [{rules:?}]
mode = "route"
matched_fields = true
[sinks.tagged]
type = "file"
inputs = ["tag"]
path = {tagged:?}
encoding.codec = "json"
[sinks.matched]
type = "file"
inputs = ["split.matched"]
path = {matched:?}
encoding.codec = "json"
[sinks.unmatched]
type = "file"
inputs = ["split._unmatched"]
path = {unmatched:?}
encoding.codec = "json"
"#,
            data = dir.join("data"),
            events = dir.join("events.ndjson"),
            tagged = dir.join("tagged.ndjson"),
            matched = dir.join("matched.ndjson"),
            unmatched = dir.join("unmatched.ndjson"),
        ),
    )
    .unwrap();
    let mut v = Proc::start(
        "vector",
        &dir,
        Command::new(&vector)
            .arg("--config")
            .arg(dir.join("vector.toml")),
    );
    let n = events.len();
    let done = wait_until(Duration::from_secs(240), || {
        count_lines(&dir.join("tagged.ndjson")) >= n
            && count_lines(&dir.join("matched.ndjson")) + count_lines(&dir.join("unmatched.ndjson"))
                >= n
    });
    let (status, stopped) = v.terminate(Duration::from_secs(60));
    assert!(done, "not every event came out\n{}", v.log_text());
    assert!(stopped && status.success(), "{}", v.log_text());
    // Tag mode: every event once, tagged as run tags it (as JSON values: Vector sorts keys).
    let (out, tagged) = assert_same_tags(&expected, &dir.join("tagged.ndjson"), false);
    assert_eq!(out, n);
    assert!(tagged > 0 && tagged == tagged_count(&expected));
    // Route mode: the two outputs together are every event once; matched ones are tagged.
    let both = dir.join("both.ndjson");
    let matched = std::fs::read_to_string(dir.join("matched.ndjson")).unwrap();
    let unmatched = std::fs::read_to_string(dir.join("unmatched.ndjson")).unwrap();
    assert!(matched.lines().all(|l| l.contains("\"sigma\":")));
    assert!(!unmatched.contains("\"sigma\":"));
    std::fs::write(&both, format!("{matched}{unmatched}")).unwrap();
    let (out, routed_tagged) = assert_same_tags(&expected, &both, false);
    assert_eq!(out, n);
    assert_eq!(routed_tagged, matched.lines().count());
    assert_eq!(routed_tagged, tagged);
    eprintln!(
        "vector native: {n} events, {tagged} tagged as run tags them; route: {routed_tagged} matched + {} unmatched",
        n - routed_tagged
    );
}

#[test]
fn the_native_examples_validate_and_run() {
    let Some(vector) = vector("the_native_examples_validate_and_run") else {
        return;
    };
    let root = common::project("");
    std::fs::create_dir_all(root.join("target")).unwrap();
    for example in ["examples/vector/native.yaml", "examples/vector/native.toml"] {
        let out = Command::new(&vector)
            .current_dir(&root)
            .args(["validate", "--no-environment", example])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{example}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Vector's own conventions: listed, and generated with its example config.
    let list = Command::new(&vector).arg("list").output().unwrap();
    let list = String::from_utf8_lossy(&list.stdout).to_string();
    let transforms = list.split("Transforms:").nth(1).unwrap_or_default();
    assert!(transforms.lines().any(|l| l.trim() == "- sigma"), "{list}");
    let generated = Command::new(&vector)
        .args(["generate", "stdin/sigma/console"])
        .output()
        .unwrap();
    let generated = String::from_utf8_lossy(&generated.stdout).to_string();
    assert!(
        generated.contains("type: sigma") && generated.contains("/etc/vector/sigma"),
        "{generated}"
    );
    // native.yaml as written: the bundled samples to the console, 19 of them tagged.
    let dir = scratch("vector-native-example");
    let mut v = Proc::start(
        "vector",
        &dir,
        Command::new(&vector)
            .current_dir(&root)
            .args(["--config", "examples/vector/native.yaml"]),
    );
    let log = v.log.clone();
    let tagged = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with('{') && l.contains("\"sigma\":"))
            .count()
    };
    let done = wait_until(Duration::from_secs(60), || tagged() >= 19);
    v.terminate(Duration::from_secs(30));
    assert!(done, "{}", v.log_text());
    assert_eq!(tagged(), 19, "{}", v.log_text());
    // native.toml as written: mode route, the 19 tagged samples to one file, the other 17
    // lines (one of them not JSON) to the other.
    let matched = root.join("target/vector-native-matched.ndjson");
    let unmatched = root.join("target/vector-native-unmatched.ndjson");
    let _ = std::fs::remove_file(&matched);
    let _ = std::fs::remove_file(&unmatched);
    let mut v = Proc::start(
        "vector-route",
        &dir,
        Command::new(&vector)
            .current_dir(&root)
            .args(["--config", "examples/vector/native.toml"]),
    );
    let done = wait_until(Duration::from_secs(60), || {
        count_lines(&matched) + count_lines(&unmatched) >= 36
    });
    v.terminate(Duration::from_secs(30));
    assert!(done, "{}", v.log_text());
    assert_eq!(count_lines(&matched), 19);
    assert_eq!(count_lines(&unmatched), 17);
}

/// `vector validate` of a config with one sigma transform; (success, output).
fn validate(vector: &Path, dir: &Path, transform: &str) -> (bool, String) {
    let config = dir.join("v.toml");
    std::fs::write(
        &config,
        format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\n{transform}\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"sigma\"]\n"
        ),
    )
    .unwrap();
    let out = Command::new(vector)
        .args(["validate", "--no-environment"])
        .arg(&config)
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn bad_configs_make_vector_refuse_to_start_with_our_message() {
    let Some(vector) = vector("bad_configs_make_vector_refuse_to_start_with_our_message") else {
        return;
    };
    let dir = scratch("vector-native-bad");
    let rules = common::project("rules/windows");
    let (ok, text) = validate(&vector, &dir, &format!("rules = [{rules:?}]"));
    assert!(ok, "{text}");
    let (ok, text) = validate(&vector, &dir, &format!("rules = [{rules:?}]\nbogus = 1"));
    assert!(!ok && text.contains("bogus"), "{text}");
    let (ok, text) = validate(&vector, &dir, "rules = [\"/nonexistent/sigma\"]");
    assert!(
        !ok && text.contains("rules path /nonexistent/sigma does not exist"),
        "{text}"
    );
    // Started for real, Vector refuses the same config with the same message.
    let mut v = Proc::start(
        "vector-missing-rules",
        &dir,
        Command::new(&vector)
            .arg("--config")
            .arg(dir.join("v.toml")),
    );
    let exited = wait_until(Duration::from_secs(30), || !v.running());
    let log = v.log_text();
    let (status, _) = v.terminate(Duration::from_secs(5));
    assert!(exited && !status.success(), "{log}");
    assert!(
        log.contains("rules path /nonexistent/sigma does not exist"),
        "{log}"
    );
    std::fs::create_dir_all(dir.join("r")).unwrap();
    std::fs::copy(
        common::project("rules/windows/service/psexec_service_installation.yml"),
        dir.join("r/good.yml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("r/bad.yml"),
        "title: broken\ndetection: {condition: nope}\n",
    )
    .unwrap();
    let strict = format!("rules = [{:?}]\nstrict = true", dir.join("r"));
    let (ok, text) = validate(&vector, &dir, &strict);
    assert!(!ok && text.contains("strict"), "{text}");
    let lenient = format!("rules = [{:?}]", dir.join("r"));
    let (ok, text) = validate(&vector, &dir, &lenient);
    assert!(ok, "a rejected rule without strict is a warning: {text}");
}

/// A Vector config: `file` (`events`, from the beginning) -> `remap` (`parse`, VRL) ->
/// `sigma` (`sigma`: its options) -> one `file` sink (JSON) per (transform output, path).
fn file_through_sigma(
    dir: &Path,
    events: &Path,
    parse: &str,
    sigma: &str,
    sinks: &[(&str, &Path)],
) -> PathBuf {
    let mut text = format!(
        "data_dir = {data:?}\n[sources.events]\ntype = \"file\"\ninclude = [{events:?}]\nread_from = \"beginning\"\n[transforms.parse]\ntype = \"remap\"\ninputs = [\"events\"]\nsource = '{parse}'\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"parse\"]\n{sigma}\n",
        data = dir.join("data"),
    );
    for (i, (output, path)) in sinks.iter().enumerate() {
        text.push_str(&format!(
            "[sinks.out{i}]\ntype = \"file\"\ninputs = [\"{output}\"]\npath = {path:?}\nencoding.codec = \"json\"\n"
        ));
    }
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let config = dir.join("vector.toml");
    std::fs::write(&config, text).unwrap();
    config
}

/// Runs Vector with `config` until `done` (at most 120 s), stops it, and asserts that
/// both happened.
fn run_vector_until(vector: &Path, dir: &Path, config: &Path, mut done: impl FnMut() -> bool) {
    let mut v = Proc::start(
        "vector",
        dir,
        Command::new(vector).arg("--config").arg(config),
    );
    let finished = wait_until(Duration::from_secs(120), &mut done);
    let (status, stopped) = v.terminate(Duration::from_secs(60));
    assert!(finished, "not everything came out\n{}", v.log_text());
    assert!(stopped && status.success(), "{}", v.log_text());
}

/// Correlations inside Vector (issue 20): the bundled brute-force example through
/// `file` -> `remap` -> `sigma` (mode route) -> three `file` sinks. The alert goes to
/// output `correlations` and is the alert line `run` writes; the completing event goes to
/// `matched`, tagged as `run` tags it (compared as JSON: Vector sorts keys); the other
/// events to `_unmatched`; none is lost.
#[test]
fn native_transform_evaluates_correlations_as_run_does() {
    let Some(vector) = vector("native_transform_evaluates_correlations_as_run_does") else {
        return;
    };
    let dir = scratch("vector-native-correlations");
    let rules = common::project("examples/correlation/brute_force.yml");
    let events = common::project("examples/correlation/logons.ndjson");
    let [matched, unmatched, alerts] =
        ["matched", "unmatched", "alerts"].map(|n| dir.join(format!("{n}.ndjson")));
    let config = file_through_sigma(
        &dir,
        &events,
        ". = parse_json!(string!(.message))",
        &format!("rules = [{rules:?}]\nmode = \"route\""),
        &[
            ("sigma.matched", &matched),
            ("sigma._unmatched", &unmatched),
            ("sigma.correlations", &alerts),
        ],
    );
    let n = std::fs::read_to_string(&events).unwrap().lines().count();
    run_vector_until(&vector, &dir, &config, || {
        count_lines(&matched) + count_lines(&unmatched) >= n && count_lines(&alerts) >= 1
    });
    let read = |p: &Path| common::json_lines(&std::fs::read_to_string(p).unwrap());
    let (matched, unmatched, alerts) = (read(&matched), read(&unmatched), read(&alerts));
    assert_eq!(matched.len() + unmatched.len(), n);
    assert_eq!(
        (matched.len(), alerts.len()),
        (1, 1),
        "{matched:#?}\n{alerts:#?}"
    );
    let (run, done) = common::run_correlations(&rules, &events);
    assert_eq!(
        matched[0]["sigma"], run[done]["sigma"],
        "the completing event"
    );
    assert_eq!(alerts[0], run[done + 1], "the alert event");
    assert!(unmatched.iter().all(|v| v.get("sigma").is_none()));
}

/// Output `alerts` inside Vector (issue 19): the bundled sample events through
/// `file` -> `remap` -> `sigma` (output alerts, mode filter) -> `file` give the alert
/// documents `run --output alerts --mode filter` writes, one event each (compared as
/// JSON values: Vector sorts keys).
#[test]
fn native_transform_writes_one_alert_document_per_match() {
    let Some(vector) = vector("native_transform_writes_one_alert_document_per_match") else {
        return;
    };
    let dir = scratch("vector-native-alerts");
    let rules = common::project("rules/windows");
    let events = common::project("examples/events/windows-sample.ndjson");
    let out = dir.join("alerts.ndjson");
    let config = file_through_sigma(
        &dir,
        &events,
        ". = parse_json(string!(.message)) ?? {\"not_json\": .message}",
        &format!("rules = [{rules:?}]\noutput = \"alerts\"\nmode = \"filter\""),
        &[("sigma", &out)],
    );
    let (text, _) = common::run_ok(
        Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
            .args(["run", "-q", "--output", "alerts", "--mode", "filter", "-r"])
            .arg(&rules)
            .arg(&events),
    );
    let parse = |text: &str| -> Vec<String> {
        // `run` keeps the sample's one line that is not JSON (never dropped); in Vector
        // the remap made it an object that matches nothing, so filter drops it.
        let mut docs: Vec<String> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| canonical(&v))
            .collect();
        docs.sort();
        docs
    };
    let want = parse(&text);
    assert!(want.len() >= 19, "{}", want.len());
    run_vector_until(&vector, &dir, &config, || count_lines(&out) >= want.len());
    let got = parse(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w);
    }
}

/// A JSON value as text with every object's keys sorted (Vector writes them sorted).
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let members: Vec<String> = keys
                .iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(k.as_str()),
                        canonical(&m[*k])
                    )
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
        serde_json::Value::Array(a) => {
            format!(
                "[{}]",
                a.iter().map(canonical).collect::<Vec<_>>().join(",")
            )
        }
        other => other.to_string(),
    }
}
