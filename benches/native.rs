//! Vector with the native `sigma` transform (built by `tools/vector/build.sh`, named by
//! `SIGMA_VECTOR_BIN`): events/s of `stdin` (JSON) -> `sigma` -> `blackhole`, against the
//! same pipeline with a `filter` whose condition is always true in place of `sigma`: what
//! the transform costs inside Vector. Rules: every rule under
//! `../shared/sigma/rules/windows`. Events: the 8,255 sample events repeated to
//! `--events N` (default 200,000). Vector exits at the end of standard input; each rate
//! subtracts the same pipeline's time on an empty input (start-up, rule compile).
//! `--rounds R` (default 2) keeps each pipeline's best.
//!
//! `SIGMA_VECTOR_BIN=$(tools/vector/build.sh | tail -1) cargo bench --bench native`

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Wall time of `vector --config config < input`.
fn time(vector: &Path, config: &Path, input: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(vector)
        .arg("--quiet")
        .arg("--config")
        .arg(config)
        .stdin(std::fs::File::open(input).unwrap())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "vector failed on {}", config.display());
    started.elapsed()
}

fn main() {
    let Some(vector) = std::env::var_os("SIGMA_VECTOR_BIN").map(PathBuf::from) else {
        println!(
            "native bench: SIGMA_VECTOR_BIN is not set; build Vector with tools/vector/build.sh and set it to the path it prints"
        );
        return;
    };
    let n = common::arg("--events", 200_000);
    let rounds = common::arg("--rounds", 2).max(1);
    let rules = common::shared().join("sigma/rules/windows");
    let dir = std::env::temp_dir().join(format!("sigma-bench-native-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let base = common::events();
    let mut input = String::new();
    for line in base.iter().cycle().take(n) {
        input.push_str(line);
        input.push('\n');
    }
    std::fs::write(dir.join("events.ndjson"), input).unwrap();
    std::fs::write(dir.join("empty.ndjson"), "").unwrap();
    let pipeline = |name: &str, transform: &str| {
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(
            &p,
            format!(
                "[sources.in]\ntype = \"stdin\"\ndecoding.codec = \"json\"\n[transforms.t]\ninputs = [\"in\"]\n{transform}\n[sinks.out]\ntype = \"blackhole\"\ninputs = [\"t\"]\nprint_interval_secs = 0\n"
            ),
        )
        .unwrap();
        p
    };
    let sigma = pipeline("sigma", &format!("type = \"sigma\"\nrules = [{rules:?}]"));
    let filter = pipeline("filter", "type = \"filter\"\ncondition = \"true\"");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "native bench: {n} events, rules {}, load average {}",
        rules.display(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut best = [0f64; 2];
    for round in 1..=rounds {
        for (i, config) in [&sigma, &filter].into_iter().enumerate() {
            let startup = time(&vector, config, &dir.join("empty.ndjson"));
            let whole = time(&vector, config, &dir.join("events.ndjson"));
            let rate = n as f64 / whole.saturating_sub(startup).as_secs_f64();
            best[i] = best[i].max(rate);
        }
        println!("round {round} of {rounds} done");
    }
    println!("\n| Vector pipeline (stdin -> T -> blackhole) | events/s |\n| --- | ---: |");
    println!("| T = sigma (sigma/rules/windows) | {:.0} |", best[0]);
    println!("| T = filter (condition true) | {:.0} |", best[1]);
    println!("\nsigma / filter: {:.2}", best[0] / best[1]);
    let _ = std::fs::remove_dir_all(&dir);
}
