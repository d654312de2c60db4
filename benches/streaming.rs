//! Issue 19: what live streaming costs `run`. The same events through the built binary,
//! read from a file (blocks of lines, block writes) and from a pipe (standard input: read
//! by the pump thread that lets SIGTERM end an open pipe, and written out whenever no more
//! input is ready), on one thread and on all cores, rounds in turn (file, pipe, file,
//! pipe, ...). The rate is the one `run` reports, which leaves rule compile time out.
//!
//! Events: ../shared's 8,255 sample events repeated to `--events N` (default 100,000), or
//! the bundled samples; rules: the SigmaHQ Windows rules, or the bundled ones.
//!
//! Run: `cargo bench --bench streaming -- --rounds 3`.

#[path = "common/mod.rs"]
mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The events/s that `run`'s summary states.
fn rate(stderr: &str) -> f64 {
    let at = stderr.find(" events/s").expect("a summary with a rate");
    let start = stderr[..at].rfind(' ').map_or(0, |i| i + 1);
    stderr[start..at].parse().expect("a rate")
}

fn run(exe: &str, rules: &[std::path::PathBuf], threads: usize, input: &Path, pipe: bool) -> f64 {
    let mut cmd = Command::new(exe);
    cmd.arg("run");
    for r in rules {
        cmd.arg("-r").arg(r);
    }
    cmd.args(["--threads", &threads.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = if pipe {
        let mut child = cmd
            .arg("-")
            .stdin(Stdio::piped())
            .spawn()
            .expect("run starts");
        let mut stdin = child.stdin.take().unwrap();
        let data = std::fs::read(input).unwrap();
        let writer = std::thread::spawn(move || {
            for chunk in data.chunks(64 << 10) {
                stdin.write_all(chunk).unwrap();
            }
        });
        writer.join().unwrap();
        child.wait_with_output().unwrap()
    } else {
        cmd.arg(input).output().expect("run starts")
    };
    assert!(out.status.success());
    rate(&String::from_utf8_lossy(&out.stderr))
}

fn main() {
    let exe = env!("CARGO_BIN_EXE_sigma-transform");
    let rounds = common::arg("--rounds", 1);
    let want = common::arg("--events", 100_000);
    let events = common::events_or_bundled();
    let rules = common::rule_paths_or_bundled();
    let dir = std::env::temp_dir().join(format!("sigma-streaming-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    for e in events.iter().cycle().take(want.max(events.len())) {
        f.write_all(e).unwrap();
        f.write_all(b"\n").unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "streaming: {} events, {} rule folders, {rounds} rounds in turn; events/s as run reports it (best round)",
        want.max(events.len()),
        rules.len()
    );
    println!("| threads | file | pipe | pipe / file |");
    println!("| ---: | ---: | ---: | ---: |");
    for threads in [1, cores] {
        let (mut file, mut pipe) = (0f64, 0f64);
        for _ in 0..rounds.max(1) {
            file = file.max(run(exe, &rules, threads, &input, false));
            pipe = pipe.max(run(exe, &rules, threads, &input, true));
        }
        println!(
            "| {threads} | {file:.0} | {pipe:.0} | {:.1}% |",
            100.0 * pipe / file
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
