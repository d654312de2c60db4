//! The command line as a user runs it: `run` over files, `.gz` and standard input, and
//! `check` in text and JSON, including rejected rules and `--strict`.

mod common;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sigma-transform-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const PSEXEC: &str = r#"
title: Test PsExec
id: 11111111-2222-3333-4444-555555555555
status: test
level: high
author: tester
tags: [attack.execution, attack.t1569.002, attack.nonsense]
logsource: {product: windows, service: system}
detection:
    selection:
        EventID: 7045
        ServiceName: PSEXESVC
    condition: selection
"#;

const EVENT: &str = r##"{"Event":{"System":{"Channel":"System","EventID":7045,"Provider":{"#attributes":{"Name":"Service Control Manager"}}},"EventData":{"ServiceName":"PSEXESVC"}}}"##;
const OTHER: &str = r#"{"Event": {"System": {"Channel": "System", "EventID": 7036}}}"#;

#[test]
fn run_tags_matching_lines_and_keeps_every_other_byte() {
    let dir = temp_dir("run");
    std::fs::write(dir.join("rule.yml"), PSEXEC).unwrap();
    let input = format!(
        "{EVENT}\n{OTHER}\nnot json at all\n\n{EVENT}\r\n{{\"Channel\":\"System\",\"EventID\":\"7045\",\"ServiceName\":\"psexesvc\",\"sigma\":1}}"
    );
    let rules = dir.join("rule.yml");
    let out = run_with_stdin(
        &["run", "--rules", rules.to_str().unwrap()],
        input.as_bytes(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.split_inclusive('\n').collect();
    assert_eq!(lines.len(), 6, "one output line per input line: {stdout}");
    // Matched: the original bytes, then the tag spliced before the closing brace.
    assert!(
        lines[0].starts_with(&EVENT[..EVENT.len() - 1]),
        "{}",
        lines[0]
    );
    let tagged: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    let m = &tagged["sigma"]["matches"][0];
    assert_eq!(m["id"], "11111111-2222-3333-4444-555555555555");
    assert_eq!(m["title"], "Test PsExec");
    assert_eq!(m["level"], "high");
    assert_eq!(m["status"], "test");
    assert_eq!(m["author"], "tester");
    assert_eq!(m["tags"][2], "attack.nonsense", "unknown tags are kept");
    assert_eq!(m["attack"]["techniques"][0]["id"], "T1569.002");
    assert_eq!(
        m["attack"]["techniques"][0]["name"],
        "System Services: Service Execution"
    );
    assert_eq!(m["attack"]["tactics"][0]["id"], "TA0002");
    assert_eq!(m["attack"]["tactics"][0]["name"], "Execution");
    // Unmatched, unparsable and blank lines are unchanged.
    assert_eq!(lines[1], format!("{OTHER}\n"));
    assert_eq!(lines[2], "not json at all\n");
    assert_eq!(lines[3], "\n");
    // CRLF kept.
    assert!(lines[4].ends_with("}}\r\n"));
    // Flat JSON with a string EventID; an existing `sigma` field is replaced, not duplicated.
    let flat: serde_json::Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(flat["sigma"]["matches"][0]["title"], "Test PsExec");
    assert!(
        lines[5].ends_with("}\n"),
        "a last line without terminator gets one: output is always NDJSON"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("<stdin>:3") || stderr.contains("-:3"),
        "warning names the line: {stderr}"
    );
    assert!(stderr.contains("1 unparsable"), "{stderr}");
    assert!(stderr.contains("3 matched"), "{stderr}");
}

#[test]
fn run_reads_files_and_gzip() {
    let dir = temp_dir("gz");
    std::fs::write(dir.join("rule.yml"), PSEXEC).unwrap();
    let gz = dir.join("events.ndjson.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(format!("{EVENT}\n{OTHER}\n").as_bytes())
        .unwrap();
    enc.finish().unwrap();
    let plain = dir.join("events.ndjson");
    std::fs::write(&plain, format!("{OTHER}\n")).unwrap();
    let out = bin()
        .args(["run", "-q", "--field", "detections", "--rules"])
        .arg(dir.join("rule.yml"))
        .arg("--")
        .arg(&gz)
        .arg(&plain)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "quiet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].contains("\"detections\":{\"matches\":["));
    assert_eq!(lines[1], OTHER);
    assert_eq!(lines[2], OTHER);
}

/// `check --format json` on `dir`, which must finish: status 0 when every rule loads, 1
/// when some are rejected (as `validate`).
fn check_json(dir: &std::path::Path) -> serde_json::Value {
    let out = bin()
        .args(["check", "--format", "json"])
        .arg(dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rejected = !report["rejected"].as_array().unwrap().is_empty();
    assert_eq!(
        out.status.code(),
        Some(rejected as i32),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

#[test]
fn check_reports_rejections_with_file_line_and_reason() {
    let dir = temp_dir("check");
    std::fs::write(dir.join("good.yml"), PSEXEC).unwrap();
    std::fs::write(
        dir.join("bad.yml"),
        "title: Bad\nlogsource: {product: windows}\ndetection:\n    sel:\n        Image|endswithh: x\n    condition: sel\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("corr.yml"),
        "title: C\ncorrelation: {type: event_count, rules: [11111111-2222-3333-4444-555555555555], timespan: 1h, condition: {gte: 2}}\n",
    )
    .unwrap();
    let report = check_json(&dir);
    assert_eq!(report["total"], 3);
    assert_eq!(report["loaded"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0]["path"].as_str().unwrap().ends_with("bad.yml"));
    assert_eq!(rejected[0]["line"], 5);
    assert_eq!(
        rejected[0]["reason"],
        "unknown modifier 'endswithh' in 'Image|endswithh'"
    );
    // The correlation is loaded and listed (it is evaluated by `run`).
    assert_eq!(report["not_evaluated"].as_array().unwrap().len(), 0);
    assert_eq!(report["correlations"][0]["type"], "event_count");
    assert_eq!(report["correlations"][0]["condition"], "gte 2");

    let text = bin().arg("check").arg(&dir).output().unwrap();
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(stdout.contains("bad.yml:5: unknown modifier"), "{stdout}");

    let strict = bin()
        .args(["check", "--strict"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        !strict.status.success(),
        "--strict fails on a rejected rule"
    );
    let strict_run = run_with_stdin(&["run", "--strict", "--rules", dir.to_str().unwrap()], b"");
    assert!(!strict_run.status.success());
    assert!(String::from_utf8_lossy(&strict_run.stderr).contains("strict is set"));
}

#[test]
fn a_condition_nested_past_the_limit_is_rejected_not_a_crash() {
    let dir = temp_dir("deep");
    std::fs::write(dir.join("good.yml"), PSEXEC).unwrap();
    let n = 100_000;
    std::fs::write(
        dir.join("deep.yml"),
        format!(
            "title: Deep\nlogsource: {{product: windows}}\ndetection:\n    sel:\n        Image: x\n    condition: {}sel{}\n",
            "(".repeat(n),
            ")".repeat(n)
        ),
    )
    .unwrap();
    let report = check_json(&dir);
    assert_eq!(report["loaded"], 1);
    let rejected = report["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 1);
    assert!(rejected[0]["path"].as_str().unwrap().ends_with("deep.yml"));
    let reason = rejected[0]["reason"].as_str().unwrap();
    assert!(reason.contains("nests deeper than 64"), "{reason}");
}

#[test]
fn bundled_rules_tag_bundled_samples_as_documented() {
    // examples/events/EXPECTED.md lists, per line, the rule ids that must match.
    let expected = std::fs::read_to_string(common::project("examples/events/EXPECTED.md")).unwrap();
    let mut want: Vec<(usize, Vec<String>)> = Vec::new();
    for row in expected.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let Ok(line) = cells[0].parse::<usize>() else {
            continue;
        };
        let ids = cells.last().unwrap();
        let ids = if *ids == "none" {
            Vec::new()
        } else {
            ids.split(',')
                .map(|s| s.trim().trim_matches('`').to_string())
                .collect()
        };
        want.push((line, ids));
    }
    assert!(want.len() >= 30, "EXPECTED.md lists the sample lines");
    let out = bin()
        .args(["run", "--rules"])
        .arg(common::project("rules/windows"))
        .arg("--")
        .arg(common::project("examples/events/windows-sample.ndjson"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), want.len());
    for (line, ids) in &want {
        let got: Vec<String> = serde_json::from_str::<serde_json::Value>(lines[line - 1])
            .ok()
            .and_then(|v| v["sigma"]["matches"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        let mut ids_sorted = ids.clone();
        ids_sorted.sort();
        assert_eq!(got_sorted, ids_sorted, "line {line}");
    }
}

#[test]
fn run_counts_fluentbit_events_without_a_template() {
    // Unknown; a 4688 v2 with 2 of its 15 inserts (a prefix); a 7045 with one insert past
    // its 5 names; a Service Control Manager event of no row of its own (param1..N); an
    // unknown version of 4688 that names one more insert than version 2.
    let input = concat!(
        "{\"EventID\":9999,\"Channel\":\"System\",\"ProviderName\":\"X\",\"StringInserts\":[\"a\"]}\n",
        "{\"EventID\":7045,\"Channel\":\"System\"}\n",
        "{\"EventID\":4688,\"Version\":2,\"ProviderName\":\"Microsoft-Windows-Security-Auditing\",\"StringInserts\":[\"S-1-5-18\",\"WS1$\"]}\n",
        "{\"EventID\":7045,\"Version\":0,\"ProviderName\":\"Service Control Manager\",\"StringInserts\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"]}\n",
        "{\"EventID\":7000,\"Version\":0,\"ProviderName\":\"Service Control Manager\",\"StringInserts\":[\"a\",\"b\"]}\n",
        "{\"EventID\":4688,\"Version\":9,\"ProviderName\":\"Microsoft-Windows-Security-Auditing\",\"StringInserts\":[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\"]}\n",
    );
    let rules = common::project("rules/windows");
    let out = run_with_stdin(
        &["run", "--rules", rules.to_str().unwrap()],
        input.as_bytes(),
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("6 events,"), "{err}");
    assert!(
        err.contains("1 events without a StringInserts template (1 named by a template's prefix, 1 with inserts past the template, 1 named by another version's template)"),
        "{err}"
    );
}

#[test]
fn run_on_several_threads_writes_what_one_thread_writes_in_order() {
    let dir = temp_dir("threads");
    std::fs::write(dir.join("rule.yml"), PSEXEC).unwrap();
    // 20,000 lines: several blocks, unparsable lines at known places.
    let mut input = String::new();
    for i in 0..20_000 {
        match i % 997 {
            0 => input.push_str("not json\n"),
            1 => input.push_str(&format!("{EVENT}\n")),
            _ => input.push_str(&format!("{{\"Channel\":\"System\",\"EventID\":{i}}}\n")),
        }
    }
    std::fs::write(dir.join("in.ndjson"), &input).unwrap();
    let rules = dir.join("rule.yml");
    let run = |threads: &str| {
        bin()
            .args([
                "run",
                "--threads",
                threads,
                "--rules",
                rules.to_str().unwrap(),
                "--",
            ])
            .arg(dir.join("in.ndjson"))
            .output()
            .unwrap()
    };
    let one = run("1");
    let two = run("2");
    assert!(one.status.success() && two.status.success());
    assert_eq!(one.stdout, two.stdout, "same bytes in the same order");
    let out = String::from_utf8(two.stdout).unwrap();
    assert_eq!(out.lines().count(), 20_000);
    assert_eq!(out.matches("\"sigma\":").count(), 21, "{}", out.len());
    let err = String::from_utf8_lossy(&two.stderr);
    // Line numbers of unparsable lines are the input's, whichever thread read them.
    assert!(err.contains("in.ndjson:1: not a JSON object"), "{err}");
    assert!(err.contains("in.ndjson:998: not a JSON object"), "{err}");
    assert!(err.contains("in.ndjson:8974: not a JSON object"), "{err}");
    assert!(
        err.contains("further unparsable lines are only counted"),
        "{err}"
    );
    assert!(err.contains("21 unparsable lines passed through"), "{err}");
}

/// `run` of the PsExec rule on standard input, a pipe kept open: the child, its stdin, and
/// its output lines as they come (read by the returned thread).
fn run_on_a_pipe(
    name: &str,
    flags: &[&str],
) -> (
    std::process::Child,
    std::process::ChildStdin,
    std::sync::mpsc::Receiver<String>,
    std::thread::JoinHandle<()>,
) {
    use std::io::BufRead;
    let dir = temp_dir(name);
    std::fs::write(dir.join("rule.yml"), PSEXEC).unwrap();
    let mut child = bin()
        .arg("run")
        .args(flags)
        .args(["--rules", dir.join("rule.yml").to_str().unwrap(), "--", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    (child, stdin, rx, reader)
}

#[test]
fn run_streams_each_line_of_a_live_pipe_before_the_next_arrives() {
    let (mut child, mut stdin, rx, _reader) = run_on_a_pipe("live", &["-q"]);
    for i in 0..3 {
        writeln!(stdin, "{EVENT}").unwrap();
        stdin.flush().unwrap();
        // The line comes out while the pipe stays open and nothing more is written.
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("line {i} was held back"));
        assert!(line.contains("\"sigma\":"), "{line}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// `run --format table|csv`: one timeline row per detection, in input order, with the
/// event's time, computer, channel and id, the rule, the values of the fields it reads, and
/// the file and line it came from; CSV quotes as RFC 4180 says. EVTX records name their
/// file and record.
#[test]
fn run_formats_a_timeline_row_per_detection() {
    let sample = common::project("examples/events/windows-sample.ndjson");
    let ndjson = bin()
        .args(["run", "-q", "-r"])
        .arg(common::project("rules/windows"))
        .arg(&sample)
        .output()
        .unwrap();
    assert!(ndjson.status.success());
    // (line, rule id) of every detection, from the tagged NDJSON.
    let mut want = Vec::new();
    for (i, line) in String::from_utf8(ndjson.stdout)
        .unwrap()
        .lines()
        .enumerate()
    {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        for m in v["sigma"]["matches"].as_array().into_iter().flatten() {
            want.push((i + 1, m["id"].as_str().unwrap().to_string()));
        }
    }
    assert!(want.len() > 5, "the sample has detections");
    let run = |format: &str| {
        common::run_ok(
            bin()
                .args(["run", "-q", "--format", format, "-r"])
                .arg(common::project("rules/windows"))
                .arg(&sample),
        )
        .0
    };
    let table = run("table");
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split(" | ").collect()).collect();
    assert_eq!(
        rows[0],
        [
            "time", "computer", "channel", "event_id", "level", "rule", "rule_id", "details",
            "source"
        ]
    );
    assert_eq!(rows.len() - 1, want.len(), "a row per detection");
    for (row, (line, id)) in rows[1..].iter().zip(&want) {
        assert_eq!(row.len(), 9, "{row:?}");
        assert_eq!(row[6], id);
        assert_eq!(row[8], format!("{}:{line}", sample.display()));
        assert!(row[0].starts_with("2026-"), "event time: {row:?}");
    }
    let psexec = &rows[1];
    assert_eq!(psexec[2], "System");
    assert_eq!(psexec[3], "7045");
    assert_eq!(psexec[5], "PsExec Service Installed");
    assert!(
        psexec[7].contains("ServiceName: "),
        "the rule's fields: {psexec:?}"
    );
    // CSV: the same rows, a cell with a comma or quote quoted.
    let csv = run("csv");
    assert!(csv.starts_with("time,computer,channel,event_id,level,rule,rule_id,details,source\n"));
    // Records: unquoted line breaks end them, unquoted commas separate exactly 9 cells.
    let (mut records, mut cells, mut quoted) = (Vec::new(), 1, false);
    for c in csv.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => cells += 1,
            '\n' if !quoted => {
                records.push(cells);
                cells = 1;
            }
            _ => {}
        }
    }
    assert_eq!(records.len(), rows.len(), "the same rows as the table");
    assert!(records.iter().all(|&n| n == 9), "{records:?}");
    // Route mode has no place in a timeline.
    let out = bin()
        .args(["run", "--format", "table", "--mode", "route", "-r"])
        .arg(common::project("rules/windows"))
        .arg(&sample)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    if let Some(shared) = common::shared_or_skip("run_formats_a_timeline_row_per_detection (EVTX)")
    {
        let dir = shared.join("regression/rules/windows/image_load");
        let evtx: Vec<std::path::PathBuf> = walk_evtx(&dir);
        assert!(!evtx.is_empty(), "EVTX samples in {}", dir.display());
        let out = bin()
            .args(["run", "-q", "--format", "table", "-r"])
            .arg(shared.join("sigma/rules/windows/image_load"))
            .args(&evtx)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        assert!(!rows.is_empty(), "the image_load samples fire");
        for row in rows {
            let source = row.rsplit(" | ").next().unwrap();
            let (file, record) = source.rsplit_once(':').unwrap();
            assert!(file.ends_with(".evtx"), "{row}");
            assert!(record.parse::<u64>().unwrap() >= 1, "{row}");
        }
        // In NDJSON, every record names its file as ECS `log.file.path`.
        let out = bin()
            .args(["run", "-q", "-r"])
            .arg(shared.join("sigma/rules/windows/image_load"))
            .arg(&evtx[0])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.lines().count() > 0);
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["log"]["file"]["path"], evtx[0].to_str().unwrap());
            assert!(v["Event"]["System"].is_object(), "still evtx_dump's record");
        }
    }
}

fn walk_evtx(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_evtx(&p));
        } else if p.extension().is_some_and(|x| x == "evtx") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// SIGTERM while standard input is still open: every line read, the last one without its
/// newline included, is written, the summary is printed, and the exit status is 0.
#[test]
fn sigterm_with_input_open_loses_nothing_read() {
    let (mut child, mut stdin, rx, reader) = run_on_a_pipe("sigterm", &[]);
    for _ in 0..35 {
        writeln!(stdin, "{EVENT}").unwrap();
    }
    // The 36th line has no newline yet: read, but not a whole line.
    write!(stdin, "{EVENT}").unwrap();
    stdin.flush().unwrap();
    for i in 0..35 {
        let line = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("line {i} came out before the signal"));
        assert!(line.contains("\"sigma\":"), "{line}");
    }
    // Give the process time to read the partial line; it cannot write it yet.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let last = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the line without its newline is written after SIGTERM");
    assert!(last.contains("\"sigma\":"), "{last}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "run did not stop on SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    drop(stdin);
    reader.join().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(err.contains("36 events, 36 matched"), "{err}");
}

#[test]
fn validate_checks_a_serve_config_whole_and_schema_covers_it() {
    for example in [
        "examples/vector/serve.toml",
        "examples/fluent-bit/serve.toml",
    ] {
        let out = bin()
            .args(["validate"])
            .arg(common::project(example))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{example}: {text}");
        assert!(text.contains("serve topology is valid"), "{text}");
    }
    let dir = temp_dir("validate-serve");
    let bad = std::fs::read_to_string(common::project("examples/vector/serve.toml"))
        .unwrap()
        .replace("inputs = [\"sigma\"]", "inputs = [\"nothing\"]")
        .replace(
            "../../rules/windows",
            common::project("rules/windows").to_str().unwrap(),
        );
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let out = bin()
        .args(["validate"])
        .arg(dir.join("bad.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sinks.to_vector") && err.contains("\"nothing\""),
        "{err}"
    );
    let out = bin().args(["config", "schema", "serve"]).output().unwrap();
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["sources", "transforms", "sinks", "serve", "api"] {
        assert!(schema["properties"].get(key).is_some(), "{key}");
    }
}
