//! The configured transform stage: modes and their outputs, rule selection (the ECS
//! profile is in tests/ecs.rs), parsed-value processing, `validate`, `config schema`, the example configs and
//! the example program, and EVTX input giving the same matches as evtx_dump NDJSON.

mod common;

use std::path::PathBuf;
use std::process::Command;

use bytes::Bytes;
use serde_json::{Value, json};
use sigma_transform::config::{self, Level, Mode, OutputProfile, SigmaConfig};
use sigma_transform::transform::stage::{Output, SigmaTransform};
use sigma_transform::transform::{Counters, Route};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
}

fn bundled(mode: Mode, output: OutputProfile) -> SigmaTransform {
    let mut cfg = SigmaConfig::new(vec![common::project("rules/windows")]);
    cfg.mode = mode;
    cfg.output = output;
    SigmaTransform::from_config(&cfg).unwrap()
}

const PSEXEC_7045: &str = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},"EventID":7045,"Channel":"System"},"EventData":{"ServiceName":"PSEXESVC","ImagePath":"%SystemRoot%\\PSEXESVC.exe"}}}"##;
const OTHER: &str = r#"{"Event":{"System":{"EventID":7036,"Channel":"System"}}}"#;

#[test]
fn modes_route_events_to_their_outputs() {
    let cases = [
        (Mode::Tag, Some(Route::Default), Some(Route::Default)),
        (Mode::Filter, Some(Route::Default), None),
        (Mode::Route, Some(Route::Matched), Some(Route::Unmatched)),
    ];
    for (mode, on_match, on_miss) in cases {
        let t = bundled(mode, OutputProfile::Sigma);
        let mut s = t.scratch();
        let mut c = Counters::default();
        let out = t.process(Bytes::from_static(PSEXEC_7045.as_bytes()), &mut s, &mut c);
        match (out, on_match) {
            (Output::Pass(r, bytes), Some(want)) => {
                assert_eq!(r, want, "{mode:?}");
                let v: Value = serde_json::from_slice(&bytes).unwrap();
                assert_eq!(
                    v["sigma"]["matches"][0]["title"],
                    "PsExec Service Installed"
                );
            }
            (o, w) => panic!("{mode:?}: {o:?} vs {w:?}"),
        }
        let miss = Bytes::from_static(OTHER.as_bytes());
        match (t.process(miss.clone(), &mut s, &mut c), on_miss) {
            (Output::Pass(r, bytes), Some(want)) => {
                assert_eq!(r, want, "{mode:?}");
                assert_eq!(bytes, miss, "unmatched events leave unchanged");
                assert_eq!(bytes.as_ptr(), miss.as_ptr(), "and without a copy");
            }
            (Output::Discarded, None) => assert_eq!(c.discarded, 1),
            (o, w) => panic!("{mode:?}: {o:?} vs {w:?}"),
        }
        // Lines that are not JSON are never dropped.
        let junk = Bytes::from_static(b"not json");
        assert!(
            matches!(t.process(junk, &mut s, &mut c), Output::Pass(_, _)),
            "{mode:?}"
        );
        assert_eq!(c.unparsed, 1);
    }
    assert_eq!(Route::Matched.name(), Some("matched"));
    assert_eq!(Route::Unmatched.name(), Some("_unmatched"));
}

#[test]
fn rule_selection_by_level_id_tag_and_status() {
    let rules = vec![common::project("rules/windows")];
    let count = |f: &dyn Fn(&mut SigmaConfig)| {
        let mut cfg = SigmaConfig::new(rules.clone());
        cfg.allow_empty = true;
        f(&mut cfg);
        SigmaTransform::from_config(&cfg)
            .unwrap()
            .engine()
            .rules()
            .len()
    };
    let all = count(&|_| {});
    assert_eq!(all, 7);
    let high = count(&|c| c.min_level = Some(Level::High));
    assert!(high > 0 && high < all, "{high}");
    assert_eq!(
        count(&|c| c.include.ids = vec!["05dbc954-2e98-4623-a653-c3fbd62f2867".into()]),
        1
    );
    let tagged = count(&|c| c.include.tags = vec!["attack.t1569.002".into()]);
    assert!(tagged >= 1);
    assert_eq!(
        count(&|c| c.exclude.tags = vec!["ATTACK.T1569.002".into()]),
        all - tagged,
        "tags compare case-insensitively"
    );
    let experimental = count(&|c| c.include.statuses = vec!["experimental".into()]);
    assert_eq!(
        count(&|c| c.exclude.statuses = vec!["experimental".into()]),
        all - experimental
    );
}

#[test]
fn parsed_values_are_processed_too() {
    let t = bundled(Mode::Tag, OutputProfile::Sigma);
    let mut s = t.scratch();
    let mut c = Counters::default();
    let v: Value = serde_json::from_str(PSEXEC_7045).unwrap();
    let Output::Pass(Route::Default, tagged) = t.process_value(v, &mut s, &mut c) else {
        panic!()
    };
    assert_eq!(
        tagged["sigma"]["matches"][0]["id"],
        "05dbc954-2e98-4623-a653-c3fbd62f2867"
    );
    let Output::Pass(_, same) = t.process_value(json!([1, 2]), &mut s, &mut c) else {
        panic!()
    };
    assert_eq!(same, json!([1, 2]));
    assert_eq!((c.events, c.matched_events, c.unparsed), (1, 1, 1));
}

#[test]
fn example_configs_parse_and_validate() {
    for (file, id, mode) in [
        ("vector.toml", "sigma_tag", Mode::Tag),
        ("vector.yaml", "sigma_route", Mode::Route),
    ] {
        let path = common::project("examples/config").join(file);
        let loaded = config::load(&path, None).unwrap();
        assert_eq!(loaded.id.as_deref(), Some(id));
        assert_eq!(loaded.config.mode, mode);
        let t = SigmaTransform::from_config(&loaded.config).unwrap();
        assert!(
            !t.engine().rules().is_empty(),
            "{file} loads the bundled rules"
        );
        let out = bin().arg("validate").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("is valid"));
    }
}

#[test]
fn validate_fails_clearly() {
    let dir = std::env::temp_dir().join(format!("sigma-stage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[transforms.s]\ntype = \"sigma\"\nrules = [\"r\"]\nmdoe = \"tag\"\n",
    )
    .unwrap();
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown field `mdoe`"));
    std::fs::write(
        dir.join("r.yml"),
        "title: x\nlogsource: {product: windows}\ndetection:\n  s: {a|nope: 1}\n  condition: s\n",
    )
    .unwrap();
    let rejected = dir.join("rejected.yaml");
    std::fs::write(&rejected, "type: sigma\nrules: [r.yml]\n").unwrap();
    let out = bin().arg("validate").arg(&rejected).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown modifier 'nope'"));
}

#[test]
fn config_schema_is_printed_with_descriptions() {
    let out = bin().args(["config", "schema"]).output().unwrap();
    assert!(out.status.success());
    let schema: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["title"], "SigmaConfig");
    assert!(
        schema["properties"]["mode"]["description"]
            .as_str()
            .unwrap()
            .contains("Which events")
    );
}

/// Every option of the config (the schema's properties) is documented in README.md.
#[test]
fn readme_documents_every_config_option() {
    let readme = std::fs::read_to_string(common::project("README.md")).unwrap();
    let schema = SigmaConfig::schema();
    for key in schema["properties"].as_object().unwrap().keys() {
        assert!(
            readme.contains(&format!("| `{key}` |")),
            "README.md has no row for config option `{key}`"
        );
    }
}

#[test]
fn example_program_runs() {
    // `cargo test` builds the examples next to the test binaries.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap().join("examples");
    let prog: PathBuf = dir.join(format!("pipeline{}", std::env::consts::EXE_SUFFIX));
    assert!(prog.exists(), "example built at {}", prog.display());
    let input = std::fs::read(common::project("examples/events/windows-sample.ndjson")).unwrap();
    let mut child = Command::new(prog)
        .arg(common::project("examples/config/vector.toml"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        lines.lines().count(),
        input
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
    );
    assert!(
        lines
            .lines()
            .filter(|l| l.contains("\"sigma\":{\"matches\""))
            .count()
            >= 10
    );
}

#[test]
fn evtx_files_match_like_their_evtx_dump_ndjson() {
    let Some(shared) = common::shared_or_skip("evtx_files_match_like_their_evtx_dump_ndjson")
    else {
        return;
    };
    let rules = shared.join("sigma/rules");
    let reg = shared.join("regression");
    let run = |input: &[PathBuf]| {
        let out = bin()
            .args(["run", "-q", "--rules"])
            .arg(&rules)
            .arg("--")
            .args(input)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut lines: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                // An EVTX record names its file (`log.file.path`, before the tag).
                match l.find(",\"log\":{\"file\":{\"path\":\"") {
                    Some(at) => {
                        let end = at + l[at..].find(".evtx\"}}").expect("an .evtx path") + 8;
                        format!("{}{}", &l[..at], &l[end..])
                    }
                    None => l.to_string(),
                }
            })
            .collect();
        lines.sort();
        lines
    };
    // The folders of EVTX files (the regression folder's top level holds their NDJSON).
    let folders = ["rules", "rules-emerging-threats", "rules-threat-hunting"].map(|d| reg.join(d));
    let from_evtx = run(&folders);
    let from_ndjson = run(&[reg.join("regression-events.ndjson")]);
    assert_eq!(from_evtx.len(), 180);
    let tagged = from_evtx
        .iter()
        .filter(|l| l.contains("\"sigma\":{\"matches\""))
        .count();
    assert!(tagged > 150, "{tagged}");
    assert!(
        from_evtx == from_ndjson,
        "EVTX and NDJSON input give byte-identical tagged output"
    );
}

#[test]
fn a_bad_evtx_record_is_skipped_and_counted() {
    let Some(shared) = common::shared_or_skip("a_bad_evtx_record_is_skipped_and_counted") else {
        return;
    };
    // A regression sample with 6 records; corrupt the binary XML of the third.
    let src = shared.join(
        "regression/rules/windows/file/file_event/file_event_win_cred_dump_tools_dropped_files/8fbf3271-1ef6-4e94-8210-03c2317947f6.evtx",
    );
    let mut bytes = std::fs::read(src).unwrap();
    let records: Vec<usize> = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == [0x2a, 0x2a, 0, 0])
        .map(|(i, _)| i)
        .collect();
    let third = records[2];
    bytes[third + 24..third + 64].fill(0xff);
    let dir = std::env::temp_dir().join(format!("sigma-evtx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("corrupt.evtx");
    std::fs::write(&file, bytes).unwrap();
    let out = bin()
        .args(["run", "--rules"])
        .arg(common::project("rules/windows"))
        .arg("--")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        5,
        "the other records are kept"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 record(s) could not be parsed and were skipped"),
        "{err}"
    );
    assert!(err.contains("1 bad EVTX records skipped"), "{err}");
}
