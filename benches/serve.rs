//! Events/s through `sigma-transform serve` (`http_server` -> transform -> `file`), with 1
//! and 2 workers, against `sigma-transform run` over the same events in a file, and against
//! a bare stock Vector hop (`http_server` -> `file`, acknowledgements on, no transform) fed
//! by the same load generator: the pipeline's own baseline.
//!
//! Rules: every rule under `../shared/sigma/rules/windows`. Events: the 8,255 sample events,
//! repeated to `--events N` (default 400,000) and posted as NDJSON bodies of `--batch B`
//! events (default 1,000) by `--clients C` keep-alive connections (default 4). Sinks write to
//! `/dev/null`. `run`'s rate excludes its start-up (its time on an empty input: rule compile).
//! `--rounds R` (default 2) runs every path R times in turn and keeps each one's best.
//!
//! `--correlations` adds the 50 correlations of `rules/sigmahq-correlations` to serve and
//! run, and sends the events as one time-ordered stream (`common::time_ordered_stream`).
//!
//! `cargo bench --bench serve [-- --events N --batch B --clients C --rounds R --correlations]`

#[path = "common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn bin() -> PathBuf {
    // The bench binary is target/release/deps/serve-<hash>; the CLI is target/release.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("sigma-transform")
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(addr: &str) {
    let started = Instant::now();
    while TcpStream::connect(addr).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{addr} never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Posts every body over `clients` keep-alive connections; returns the wall time.
fn load(addr: &str, bodies: &[Vec<u8>], clients: usize) -> Duration {
    let next = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..clients {
            s.spawn(|| {
                let mut conn = TcpStream::connect(addr).unwrap();
                conn.set_nodelay(true).unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                let mut buf = Vec::with_capacity(4096);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let head = format!(
                        "POST / HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-ndjson\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    );
                    conn.write_all(head.as_bytes()).unwrap();
                    conn.write_all(body).unwrap();
                    // The answer: status line, headers, and a Content-Length body.
                    buf.clear();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let n = conn.read(&mut chunk).unwrap();
                        assert!(n > 0, "connection closed");
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf);
                        if let Some(end) = text.find("\r\n\r\n") {
                            let len: usize = text[..end]
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + len {
                                assert!(text.starts_with("HTTP/1.1 200"), "{text}");
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    started.elapsed()
}

fn serve_config(dir: &Path, port: u16, rules: &[PathBuf]) -> PathBuf {
    let p = dir.join(format!("serve-{port}.toml"));
    let rules = rules
        .iter()
        .map(|r| format!("{r:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        &p,
        format!(
            "[sources.in]\ntype = \"http_server\"\naddress = \"127.0.0.1:{port}\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{rules}]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = \"/dev/null\"\nencoding.codec = \"json\"\n"
        ),
    )
    .unwrap();
    p
}

fn vector_config(dir: &Path, port: u16) -> PathBuf {
    let p = dir.join("vector.yaml");
    std::fs::write(
        &p,
        format!(
            "sources:\n  in:\n    type: http_server\n    address: 127.0.0.1:{port}\n    decoding: {{ codec: json }}\n    framing: {{ method: newline_delimited }}\nsinks:\n  out:\n    type: file\n    inputs: [in]\n    path: /dev/null\n    encoding: {{ codec: json }}\n    acknowledgements: {{ enabled: true }}\n"
        ),
    )
    .unwrap();
    p
}

fn main() {
    let n = common::arg("--events", 400_000);
    let batch = common::arg("--batch", 1000).max(1);
    let clients = common::arg("--clients", 4).max(1);
    let shared = common::shared();
    assert!(
        shared.join("README.md").exists(),
        "this bench needs ../shared"
    );
    // `--correlations`: also the 50 correlations of rules/sigmahq-correlations, over the
    // events as one time-ordered stream (see common::time_ordered_stream).
    let correlations = std::env::args().any(|a| a == "--correlations");
    let mut rules = vec![shared.join("sigma/rules/windows")];
    let base = common::events();
    let stream: Vec<String> = if correlations {
        // The pack references rules of all three SigmaHQ Windows folders.
        rules.push(shared.join("sigma/rules-emerging-threats"));
        rules.push(shared.join("sigma/rules-threat-hunting/windows"));
        rules.push(common::root().join("rules/sigmahq-correlations"));
        common::time_ordered_stream(&base, n)
    } else {
        base.iter().cycle().take(n).cloned().collect()
    };
    let lines: Vec<&String> = stream.iter().collect();
    let bodies: Vec<Vec<u8>> = lines
        .chunks(batch)
        .map(|c| {
            let mut b = Vec::new();
            for l in c {
                b.extend_from_slice(l.as_bytes());
                b.push(b'\n');
            }
            b
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("sigma-bench-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    std::fs::write(&input, bodies.concat()).unwrap();
    std::fs::write(dir.join("empty.ndjson"), "").unwrap();
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "serve bench: {n} events in bodies of {batch}, {clients} clients; rules {:?}; load average {}",
        rules,
        load_avg
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let rounds = common::arg("--rounds", 2).max(1);
    let time_run = |file: &Path, threads: &str| {
        let started = Instant::now();
        let mut cmd = Command::new(bin());
        cmd.args(["run", "-q", "--threads", threads]);
        for r in &rules {
            cmd.arg("--rules").arg(r);
        }
        let ok = cmd
            .arg("--")
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        started.elapsed()
    };
    let vector = shared.join("tools/vector");
    // Events/s of the server on `port`, after a warm-up pass over the distinct events.
    let measure = |port: u16| {
        let addr = format!("127.0.0.1:{port}");
        wait_port(&addr);
        let warm = (base.len() / batch).max(1).min(bodies.len());
        load(&addr, &bodies[..warm], clients);
        n as f64 / load(&addr, &bodies, clients).as_secs_f64()
    };
    // Each round runs every path once, in turn; each path keeps its best round.
    let mut rows: Vec<(String, f64)> = Vec::new();
    let mut record = |name: String, rate: f64| match rows.iter_mut().find(|r| r.0 == name) {
        Some(r) => r.1 = r.1.max(rate),
        None => rows.push((name, rate)),
    };
    for round in 1..=rounds {
        for workers in [1, 2] {
            let port = 19080 + workers as u16;
            let cfg = serve_config(&dir, port, &rules);
            let child = Command::new(bin())
                .args(["serve", "--workers", &workers.to_string(), "--config"])
                .arg(&cfg)
                .env("SIGMA_LOG", "warn")
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            let _server = Server(child);
            record(format!("serve, {workers} worker(s)"), measure(port));
        }
        for threads in ["1", "2"] {
            let startup = time_run(&dir.join("empty.ndjson"), threads);
            let whole = time_run(&input, threads);
            record(
                format!("run, {threads} thread(s) (file in, /dev/null out)"),
                n as f64 / (whole.saturating_sub(startup)).as_secs_f64(),
            );
        }
        if vector.exists() {
            let port = 19090;
            let cfg = vector_config(&dir, port);
            let child = Command::new(&vector)
                .arg("--quiet")
                .arg("--config")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let _server = Server(child);
            record(
                "stock Vector hop (http_server -> file, no transform)".into(),
                measure(port),
            );
        }
        println!("round {round} of {rounds} done");
    }

    println!("\n| path | events/s |\n| --- | ---: |");
    for (name, rate) in &rows {
        println!("| {name} | {rate:.0} |");
    }
    let rate = |prefix: &str| rows.iter().find(|r| r.0.starts_with(prefix)).map(|r| r.1);
    let (s1, s2, run) = (
        rate("serve, 1").unwrap(),
        rate("serve, 2").unwrap(),
        rate("run, 1").unwrap(),
    );
    println!("\nserve 2 workers / 1 worker: {:.2}x", s2 / s1);
    println!("serve (2 workers) / run (1 thread): {:.2}", s2 / run);
    println!("serve (1 worker) / run (1 thread): {:.2}", s1 / run);
    println!(
        "serve (2 workers) / run (2 threads): {:.2}",
        s2 / rate("run, 2").unwrap()
    );
    if let Some(v) = rate("stock Vector") {
        println!("serve (2 workers) / bare Vector hop: {:.2}", s2 / v);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
