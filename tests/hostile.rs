//! Hostile input (issue 21), as an attacker or a careless share would shape it: each test
//! is one finding, states the bound it checks, and failed before its fix.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigma-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits for `child` at most `limit`, reading its standard output and error meanwhile
/// (a full pipe would stall it); kills it (by its pid, through the handle) and fails if
/// it is still running: a hang is a failure, never a stuck test.
fn finish(mut child: Child, limit: Duration) -> Output {
    fn drain(r: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut buf);
            }
            buf
        })
    }
    let out = drain(child.stdout.take());
    let err = drain(child.stderr.take());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn run(args: &[&str], cwd: &Path, stdin: &[u8]) -> Output {
    let mut cmd = bin();
    cmd.args(args);
    run_command(cmd, cwd, stdin)
}

/// Runs `cmd` in `cwd` with `stdin` written to it, bounded by [`finish`].
fn run_command(mut cmd: Command, cwd: &Path, stdin: &[u8]) -> Output {
    let mut child = cmd
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = finish(child, Duration::from_secs(120));
    writer.join().unwrap();
    out
}

const PROCESS_RULE: &str = r#"
title: Evil command line
id: 0f0f0f0f-0000-4000-8000-000000000001
status: test
level: high
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|contains: evil
    filter:
        ParentImage: 'C:\legit.exe'
    condition: selection and not filter
"#;

fn mkfifo(path: &Path) {
    let made = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(made.success(), "mkfifo {}", path.display());
}

/// Finding 3: a rules folder with `ln -s . a; ln -s . b`, `ln -s . self` and a FIFO named
/// `x.yml`. Bound: `check` and `run` end within 60 s, every rule loads once, and an event
/// is tagged once.
#[test]
fn rule_folders_with_link_loops_and_fifos_load_every_rule_once() {
    let dir = scratch("rule-loops");
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("r.yml"), PROCESS_RULE).unwrap();
    for link in ["a", "b", "self"] {
        std::os::unix::fs::symlink(".", rules.join(link)).unwrap();
    }
    mkfifo(&rules.join("x.yml"));
    let out = run(&["check", "--format", "json", "rules"], &dir, b"");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["loaded"], 1, "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains("x.yml") && warnings.contains("not a regular file"),
        "{warnings}"
    );
    assert!(warnings.contains("already walked"), "{warnings}");
    let event = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","CommandLine":"evil.exe"}"#;
    let out = run(&["run", "-q", "--rules", "rules"], &dir, event);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tagged: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        tagged["sigma"]["matches"].as_array().unwrap().len(),
        1,
        "{tagged}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 3: an input folder with link loops and a FIFO named `x.evtx`. Bound: `run` ends
/// within 60 s and writes the folder's one NDJSON file, each line once.
#[test]
fn input_folders_with_link_loops_and_fifos_finish() {
    let dir = scratch("input-loops");
    let events = dir.join("events");
    std::fs::create_dir(&events).unwrap();
    std::fs::write(events.join("e.ndjson"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
    std::fs::write(events.join("meta.json"), "{\n  \"not\": \"events\"\n}\n").unwrap();
    for link in ["a", "b"] {
        std::os::unix::fs::symlink(".", events.join(link)).unwrap();
    }
    mkfifo(&events.join("x.evtx"));
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let out = run(&["run", "--rules", "r.yml", "events"], &dir, b"");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"a\":1}\n{\"a\":2}\n"
    );
    assert!(err.contains("x.evtx: skipped: not a regular file"), "{err}");
    assert!(err.contains("left out: 1 .json"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 3: duplicate rule ids are reported by `check` and `run`.
#[test]
fn duplicate_rule_ids_are_reported() {
    let dir = scratch("dup-ids");
    std::fs::write(dir.join("one.yml"), PROCESS_RULE).unwrap();
    std::fs::write(dir.join("two.yml"), PROCESS_RULE.replace("Evil", "Other")).unwrap();
    let out = run(&["check", "."], &dir, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("rule id 0f0f0f0f-0000-4000-8000-000000000001 is used twice"),
        "{text}"
    );
    let out = run(&["run", "--rules", ".", "-"], &dir, b"{}\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is used twice"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 12 (and issue 19's fail-closed inputs): an entry that cannot be read is
/// reported with the operating system's reason; `--strict` fails on it; a missing input
/// is an error after the other inputs ran.
#[test]
fn unreadable_entries_are_reported_and_fail_strict_and_the_exit_status() {
    let dir = scratch("unreadable");
    let rules = dir.join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(rules.join("r.yml"), PROCESS_RULE).unwrap();
    std::os::unix::fs::symlink("gone.yml", rules.join("dangling.yml")).unwrap();
    let out = run(&["check", "rules"], &dir, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dangling.yml") && text.contains("No such file"),
        "{text}"
    );
    let out = run(&["check", "--strict", "rules"], &dir, b"");
    assert_eq!(out.status.code(), Some(2));
    std::fs::write(dir.join("in.ndjson"), "{\"a\":1}\n").unwrap();
    let out = run(
        &[
            "run",
            "-q",
            "--rules",
            "rules/r.yml",
            "--",
            "missing.ndjson",
            "in.ndjson",
        ],
        &dir,
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "{\"a\":1}\n",
        "the readable input ran"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("missing.ndjson") && err.contains("No such file"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 7: standard error is a pipe whose reader has gone. Bound: every one of the
/// 200,012 lines (one unparsable, which is reported on standard error) reaches standard
/// output, and nothing panics.
#[test]
fn a_closed_stderr_loses_no_output() {
    let dir = scratch("stderr");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let mut input = String::new();
    for i in 0..200_011 {
        input.push_str(&format!("{{\"n\":{i}}}\n"));
        if i == 100 {
            input.push_str("not json\n");
        }
    }
    let mut child = bin()
        .args(["run", "-q", "--rules", "r.yml", "-"])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        stdout.read_to_end(&mut s).unwrap();
        s
    });
    let out = finish(child, Duration::from_secs(60));
    writer.join().unwrap().unwrap();
    let written = reader.join().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert_eq!(written.iter().filter(|b| **b == b'\n').count(), 200_012);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, broken pipe: `check --format json | head -1` ends quietly with status 141
/// (128 + SIGPIPE), and so does `run` when its reader goes.
#[test]
fn a_closed_stdout_ends_quietly_with_the_sigpipe_status() {
    let dir = scratch("stdout");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    // 3,000 rejected rules: a report larger than a pipe's buffer.
    std::fs::create_dir(dir.join("bad")).unwrap();
    for i in 0..3_000 {
        std::fs::write(
            dir.join(format!("bad/{i}.yml")),
            "title: no detection
",
        )
        .unwrap();
    }
    for args in [
        vec!["check", "--format", "json", "bad"],
        vec!["run", "--rules", "r.yml", "-"],
    ] {
        let mut child = bin()
            .args(&args)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0..200_000 {
                if writeln!(stdin, "{{\"n\":{i}}}").is_err() {
                    break;
                }
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let out = finish(child, Duration::from_secs(60));
        writer.join().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 11: with a repeated key, rules see the last occurrence, as serde_json,
/// Elasticsearch and most SIEMs do; neither the selection nor the filter can be
/// steered by an earlier copy.
#[test]
fn repeated_keys_are_read_as_the_last_occurrence() {
    let dir = scratch("dup-keys");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let head = r#""EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational""#;
    let lines = [
        // Evil last: tagged.
        format!(r#"{{{head},"CommandLine":"benign","CommandLine":"evil"}}"#),
        // Benign last: not tagged.
        format!(r#"{{{head},"CommandLine":"evil","CommandLine":"benign"}}"#),
        // The filter's value first, the real parent last: the filter does not apply.
        format!(
            r#"{{{head},"CommandLine":"evil","ParentImage":"C:\\legit.exe","ParentImage":"C:\\x.exe"}}"#
        ),
        // The real parent last is the legit one: filtered.
        format!(
            r#"{{{head},"CommandLine":"evil","ParentImage":"C:\\x.exe","ParentImage":"C:\\legit.exe"}}"#
        ),
    ];
    let input = lines.join("\n") + "\n";
    let out = run(
        &["run", "-q", "--rules", "r.yml", "-"],
        &dir,
        input.as_bytes(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let tagged: Vec<bool> = text.lines().map(|l| l.contains("\"sigma\":")).collect();
    assert_eq!(tagged, [true, false, true, false], "{text}");
    // The tag is spliced: the repeated keys are still there, as they were.
    assert!(
        text.lines()
            .next()
            .unwrap()
            .starts_with(&lines[0][..lines[0].len() - 1])
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 11: an event that already has the tag field keeps every other byte (numbers
/// past u64 and `1e2` as written, repeated keys); a matched event's tag field is replaced,
/// an unmatched event's forged one removed.
#[test]
fn a_tag_field_that_came_with_the_event_is_replaced_or_removed_by_splicing() {
    let dir = scratch("forged");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let head = r#""EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational""#;
    let matched = format!(
        r#"{{{head},"n":18446744073709551616,"sigma":{{"matches":[{{"id":"forged"}}]}},"x":1e2,"d":1,"d":2,"CommandLine":"evil"}}"#
    );
    let unmatched = format!(r#"{{{head},"sigma":{{"matches":[{{"id":"forged"}}]}},"x":1e2}}"#);
    let input = format!("{matched}\n{unmatched}\n");
    let out = run(
        &["run", "-q", "--rules", "r.yml", "-"],
        &dir,
        input.as_bytes(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with(&format!(
            r#"{{{head},"n":18446744073709551616,"x":1e2,"d":1,"d":2,"CommandLine":"evil","sigma":{{"matches":[{{"id":"0f0f0f0f"#
        )),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("forged"));
    assert_eq!(lines[1], format!(r#"{{{head},"x":1e2}}"#));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 6: `process_value` on a value nested past the parser's limit (easy to build in
/// memory) passes it through as unparsable instead of panicking.
#[test]
fn deeply_nested_values_pass_through_the_library() {
    use sigma_transform::config::SigmaConfig;
    use sigma_transform::transform::stage::{Output, SigmaTransform};
    let dir = scratch("deep");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let cfg = SigmaConfig::new(vec![dir.join("r.yml")]);
    let t = SigmaTransform::from_config(&cfg).unwrap();
    let mut v = serde_json::json!({"leaf": 1});
    for _ in 0..200 {
        v = serde_json::json!({ "a": v });
    }
    let mut counters = Default::default();
    let out = t.process_value(v.clone(), &mut t.engine().scratch(), &mut counters);
    assert!(matches!(out, Output::Pass(_, ref back) if *back == v));
    assert_eq!(counters.unparsed, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `args` under an address-space ceiling (`prlimit --as`): past it an allocation
/// fails and the process aborts, so passing means the work stayed under the bound.
fn run_capped(bytes: u64, args: &[&str], cwd: &Path, stdin: &[u8]) -> Output {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={bytes}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_sigma-transform"))
        .args(args);
    run_command(cmd, cwd, stdin)
}

const GIB: u64 = 1 << 30;

/// Finding 1: `expand` over three 1,000-value placeholders (10^9 combinations), and one
/// placeholder six times (10^18). Bound: `check` stays under 1 GiB of address space and
/// rejects the rule with the limit; the other rule loads.
#[test]
fn placeholder_expansion_is_bounded_before_it_is_built() {
    let dir = scratch("expand");
    let mut ph = String::new();
    for n in ["a", "b", "c"] {
        ph.push_str(&format!("{n}:\n"));
        for i in 0..1000 {
            ph.push_str(&format!("  - 'v{i}'\n"));
        }
    }
    std::fs::write(dir.join("ph.yml"), ph).unwrap();
    std::fs::create_dir(dir.join("rules")).unwrap();
    for (name, value) in [("three", "%a%-%b%-%c%"), ("six", "%a%%a%%a%%a%%a%%a%")] {
        std::fs::write(
            dir.join(format!("rules/{name}.yml")),
            format!("title: {name}\nlogsource: {{product: windows}}\ndetection:\n  s:\n    CommandLine|expand: '{value}'\n  condition: s\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("rules/ok.yml"), PROCESS_RULE).unwrap();
    let out = run_capped(
        GIB,
        &["check", "--placeholders", "ph.yml", "rules"],
        &dir,
        b"",
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "rules were rejected, nothing crashed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("expands to 1000000000 values"), "{text}");
    assert!(
        text.contains("expands to 1000000000000000000 values"),
        "{text}"
    );
    assert!(text.contains("3 documents: 1 loaded"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 4: a 200 KB rule of nested `[` and a 40,000-deep `{a:`. Bound: rejected for
/// their depth before the YAML parser runs, within 60 s (the parser took 39 s).
#[test]
fn deep_yaml_is_refused_before_parsing() {
    let dir = scratch("deep-yaml");
    std::fs::write(
        dir.join("flow.yml"),
        format!("title: x\ndetection: {}\n", "[".repeat(200_000)),
    )
    .unwrap();
    std::fs::write(
        dir.join("map.yml"),
        format!("title: x\ndetection: {}\n", "{a: ".repeat(40_000)),
    )
    .unwrap();
    let out = run(&["check", "."], &dir, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("over the limit max_yaml_depth").count(),
        2,
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 5: 2,000 `action: repeat` documents of a 2,000-value rule (4 million values
/// from a 114 KB file). Bound: under 1 GiB of address space; the documents past the
/// per-file value limit are rejected with it, those before load.
#[test]
fn repeat_documents_are_bounded_per_file() {
    let dir = scratch("repeat");
    let mut text =
        String::from("title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    a:\n");
    for i in 0..2000 {
        text.push_str(&format!("      - v{i}\n"));
    }
    text.push_str("  condition: s\n");
    for i in 0..2000 {
        text.push_str(&format!("---\naction: repeat\ntitle: t{i}\n"));
    }
    std::fs::write(dir.join("r.yml"), text).unwrap();
    let out = run_capped(GIB, &["check", "--format", "json", "."], &dir, b"");
    assert_eq!(
        out.status.code(),
        Some(1),
        "documents were rejected, nothing crashed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let loaded = report["loaded"].as_u64().unwrap();
    assert!((50..=100).contains(&loaded), "{report}");
    assert!(
        report["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("max_values_per_file"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 13: `--mode filter` keeps whitespace-only and empty lines, as README promises
/// for every line that is not an event.
#[test]
fn filter_mode_keeps_lines_that_are_not_events() {
    let dir = scratch("filter-blank");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let input = "{\"a\":1}\n   \n\nnot json\n\t\n";
    let out = run(
        &["run", "-q", "--mode", "filter", "--rules", "r.yml", "-"],
        &dir,
        input.as_bytes(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "   \n\nnot json\n\t\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 14: a rule file and an NDJSON first line that start with a UTF-8 byte order
/// mark are read as if it were not there; the output keeps it.
#[test]
fn a_byte_order_mark_is_skipped_in_rules_and_events() {
    let dir = scratch("bom");
    std::fs::write(dir.join("r.yml"), format!("\u{feff}{PROCESS_RULE}")).unwrap();
    let event = "\u{feff}{\"EventID\":1,\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"CommandLine\":\"evil\"}\n";
    let out = run(&["run", "--rules", "r.yml", "-"], &dir, event.as_bytes());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with('\u{feff}') && text.contains("\"sigma\":"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 rules and 0 filters loaded of 1 (0 rejected"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 2: a 4.3 MB gzip of 1,000,000,000 zero bytes, one line with no end. Bound:
/// `run` stays under 1 GiB of address space and writes all 10^9 bytes through, counted
/// as one line over the limit.
#[test]
fn a_gzip_bomb_line_is_passed_through_in_bounded_memory() {
    let dir = scratch("bomb");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    {
        let file = std::fs::File::create(dir.join("bomb.gz")).unwrap();
        let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let zeros = vec![0u8; 1 << 20];
        let mut left = 1_000_000_000usize;
        while left > 0 {
            let n = left.min(zeros.len());
            gz.write_all(&zeros[..n]).unwrap();
            left -= n;
        }
        gz.finish().unwrap();
    }
    let mut child = Command::new("prlimit")
        .arg(format!("--as={GIB}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_sigma-transform"))
        .args(["run", "--rules", "r.yml", "bomb.gz"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let counter = std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 20];
        let (mut total, mut nonzero) = (0u64, 0u64);
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => return (total, nonzero),
                Ok(n) => {
                    total += n as u64;
                    nonzero += buf[..n].iter().filter(|b| **b != 0).count() as u64;
                }
            }
        }
    });
    let out = finish(child, Duration::from_secs(120));
    let (total, nonzero) = counter.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // The line, and the line end that every output line gets.
    assert_eq!((total, nonzero), (1_000_000_001, 1), "{err}");
    assert!(err.contains("1 longer than the line limit"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 2 (small scale): lines over `--max-line-bytes` pass through byte for byte,
/// between events that are still tagged.
#[test]
fn long_lines_pass_through_between_events() {
    let dir = scratch("long-lines");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let event =
        r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","CommandLine":"evil"}"#;
    let long = format!("{{\"CommandLine\":\"evil{}\"}}", "x".repeat(5000));
    let input = format!("{event}\n{long}\n{event}\n{}", "z".repeat(3000));
    let out = run(
        &["run", "--max-line-bytes", "1000", "--rules", "r.yml", "-"],
        &dir,
        input.as_bytes(),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].contains("\"sigma\":") && lines[2].contains("\"sigma\":"));
    assert_eq!(lines[1], long);
    assert_eq!(lines[3], "z".repeat(3000));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("<stdin>:2: longer than 1000 bytes"), "{err}");
    assert!(err.contains("2 longer than the line limit"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 8: a `.gz` cut at 90%. Bound: every line `zcat` recovers is written (and the
/// cut line after them, passed through), then the error, with a non-zero status.
#[test]
fn a_truncated_gzip_writes_everything_decoded_before_the_error() {
    let dir = scratch("truncated");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for i in 0..200_000 {
        writeln!(gz, "{{\"n\":{i},\"pad\":\"pppppppppppppppppppp\"}}").unwrap();
    }
    let bytes = gz.finish().unwrap();
    let cut = &bytes[..bytes.len() * 9 / 10];
    std::fs::write(dir.join("cut.gz"), cut).unwrap();
    let mut recovered = Vec::new();
    let _ = flate2::read::MultiGzDecoder::new(cut).read_to_end(&mut recovered);
    let whole_lines = recovered.iter().filter(|b| **b == b'\n').count();
    assert!(whole_lines > 100_000);
    let out = run(&["run", "-q", "--rules", "r.yml", "cut.gz"], &dir, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.starts_with(&recovered[..recovered.len() - 1]));
    assert_eq!(
        out.stdout.iter().filter(|b| **b == b'\n').count(),
        whole_lines + 1
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.gz") && err.contains("deflate"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finding 9: EVTX output streams file by file. The second input is a FIFO nobody writes
/// to yet: the first file's records must reach standard output while it waits (they
/// were held until every file was read). Bound: the first line within 30 s.
#[test]
fn evtx_output_streams_before_later_files_are_read() {
    let Some(shared) = common::shared_or_skip("evtx_output_streams_before_later_files_are_read")
    else {
        return;
    };
    let dir = scratch("evtx-stream");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let first = walk_evtx(&shared.join("regression/rules/windows"));
    let fifo = dir.join("later.evtx");
    mkfifo(&fifo);
    let mut child = bin()
        .args(["run", "-q", "--threads", "2", "--rules", "r.yml", "--"])
        .arg(&first)
        .arg(&fifo)
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30));
    // Let the second file end (an empty FIFO is not EVTX: an error for that input).
    drop(std::fs::OpenOptions::new().write(true).open(&fifo).unwrap());
    let out = finish(child, Duration::from_secs(60));
    let line = line.expect("the first file's records were written while the second waited");
    assert!(line.starts_with("{\"Event\""), "{line}");
    assert_eq!(out.status.code(), Some(2), "the FIFO is not an EVTX file");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The first `.evtx` file below `dir`.
fn walk_evtx(dir: &Path) -> PathBuf {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "evtx") {
                return p;
            }
        }
    }
    panic!("no .evtx below {}", dir.display())
}

/// Finding 15: one bad token in a field an attacker controls (a lone `\ud800`, `1e999`,
/// invalid UTF-8, nesting past 128) no longer hides the event from every rule: it is read
/// leniently, matched, tagged by splicing, and counted.
#[test]
fn one_bad_token_does_not_hide_an_event() {
    let dir = scratch("bad-token");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    let head =
        r#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","CommandLine":"evil","#;
    let mut input: Vec<u8> = Vec::new();
    for tail in [
        &br#""x":"\ud800"}"#[..],
        br#""x":1e999}"#,
        b"\"x\":\"\xff\xfe\"}",
        format!("\"x\":{}1{}}}", "[".repeat(300), "]".repeat(300)).as_bytes(),
    ] {
        input.extend_from_slice(head.as_bytes());
        input.extend_from_slice(tail);
        input.push(b'\n');
    }
    // Still not JSON: passed through and counted as before.
    input.extend_from_slice(b"{\"CommandLine\":\"evil\",}\n");
    let out = run(&["run", "--rules", "r.yml", "-"], &dir, &input);
    let lines: Vec<&[u8]> = out
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 5);
    for (i, line) in lines[..4].iter().enumerate() {
        assert!(
            line.windows(9).any(|w| w == b"\"sigma\":{"),
            "line {} is tagged: {}",
            i + 1,
            String::from_utf8_lossy(line)
        );
    }
    assert!(!lines[4].windows(8).any(|w| w == b"\"sigma\":"));
    // The invalid UTF-8 is still there, byte for byte.
    assert!(lines[2].windows(2).any(|w| w == b"\xff\xfe"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("4 events (4 read leniently"), "{err}");
    assert!(err.contains("1 unparsable lines"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, fail closed: a rules path that is not there, or a run that loads no rule, is
/// an error (status 2) unless `--allow-empty`; `-q` leaves only errors on standard error.
#[test]
fn missing_rules_and_empty_rule_sets_fail_closed() {
    let dir = scratch("fail-closed");
    std::fs::write(dir.join("in.ndjson"), "{\"a\":1}\n").unwrap();
    let out = run(&["run", "--rules", "/nonexistent", "in.ndjson"], &dir, b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("rules path /nonexistent") && err.contains("No such file"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing passes untagged");
    std::fs::create_dir(dir.join("empty")).unwrap();
    let out = run(&["run", "--rules", "empty", "in.ndjson"], &dir, b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no rule is loaded"));
    let out = run(
        &[
            "run",
            "-q",
            "--allow-empty",
            "--rules",
            "empty",
            "in.ndjson",
        ],
        &dir,
        b"",
    );
    assert!(out.status.success());
    assert_eq!(out.stdout, b"{\"a\":1}\n");
    // -q: a rejected rule and a duplicate id are warnings, not printed.
    std::fs::write(dir.join("bad.yml"), "title: x\n").unwrap();
    std::fs::write(dir.join("ok.yml"), PROCESS_RULE).unwrap();
    let out = run(
        &[
            "run",
            "-q",
            "--rules",
            "bad.yml",
            "--rules",
            "ok.yml",
            "in.ndjson",
        ],
        &dir,
        b"",
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19: `check` and `validate` agree (1 when a rule is rejected), a failing
/// `validate` never says "is valid", and options are printed as they are written.
#[test]
fn check_and_validate_agree_and_speak_config() {
    let dir = scratch("validate");
    std::fs::write(dir.join("ok.yml"), PROCESS_RULE).unwrap();
    std::fs::write(dir.join("bad.yml"), "title: x\n").unwrap();
    std::fs::write(
        dir.join("good.yaml"),
        "type: sigma\nrules: [ok.yml]\nmode: filter\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mixed.yaml"),
        "type: sigma\nrules: [ok.yml, bad.yml]\n",
    )
    .unwrap();
    let out = run(&["validate", "good.yaml"], &dir, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("is valid: type sigma, mode filter, output sigma, shape auto"),
        "{text}"
    );
    let out = run(&["validate", "mixed.yaml"], &dir, b"");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        !text.contains("is valid") && text.contains("has errors: 1 rule(s) rejected"),
        "{text}"
    );
    let out = run(&["check", "ok.yml", "bad.yml"], &dir, b"");
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["check", "ok.yml"], &dir, b"");
    assert_eq!(out.status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 19, collisions: a tag field that events already use for something else
/// (`--field Event` would replace every evtx_dump event's own `Event`) is refused.
#[test]
fn a_tag_field_that_events_use_is_refused() {
    let dir = scratch("field");
    std::fs::write(dir.join("r.yml"), PROCESS_RULE).unwrap();
    for field in ["Event", "tags", "winlog"] {
        let out = run(
            &["run", "--field", field, "--rules", "r.yml", "-"],
            &dir,
            b"{}\n",
        );
        assert_eq!(out.status.code(), Some(2), "{field}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("field `{field}` is a name events already use")),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let out = run(
        &[
            "run",
            "-q",
            "--field",
            "detections",
            "--rules",
            "r.yml",
            "-",
        ],
        &dir,
        b"{}\n",
    );
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}
