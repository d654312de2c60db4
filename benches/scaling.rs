//! Issue 4, part 2: how sigma-transform scales (criterion).
//!
//! Same rules and events as `benches/throughput.rs` (the SigmaHQ Windows rules and the 8,255
//! events of `../shared/events/evtx-attack-samples.ndjson.gz`); one iteration processes all
//! 8,255 events with `Transform::process_line` (parse, match, tag, write), so criterion's
//! `thrpt` is events/s.
//!
//! - `rules/N`: events/s with N = 10, 100, 500, 1,000 and all rules. A subset of N takes
//!   every (all / N)-th rule in path order, so every subset has the corpus' mix of
//!   logsources.
//! - `event_size/B`: events/s with all rules, on the events whose line length falls in
//!   bucket B (bytes); each iteration processes the events of its bucket.
//! - `compile/N`: rule texts (already in memory) to a ready transform, N rules.
//! - `threads/T`: all rules, the 8,255 events dealt round-robin to T threads (one scratch
//!   each, kept across iterations; one shared transform); wall time, so thrpt is the total
//!   events/s.
//! - Memory by rule count is not a criterion measure: before the benchmarks, the binary
//!   runs itself once per rule count (`SCALING_MEMORY=N`) and prints a table of peak RSS.
//! - Before the benchmarks it also prints 1 vs 2 threads by wall time and by CPU time
//!   (events per CPU-second), since the cores of the bench machine may be shared.
//!
//! Run: `cargo bench --bench scaling` (about 4 minutes), or a group:
//! `cargo bench --bench scaling -- rules/`.

#[path = "common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::{BuildOptions, Rule};
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions, TransformScratch};

use common::RuleFile;

/// The rule counts measured; `usize::MAX` means all rules.
const COUNTS: [usize; 5] = [10, 100, 500, 1000, usize::MAX];

fn label(n: usize, all: usize) -> String {
    if n >= all {
        format!("all_{all}")
    } else {
        n.to_string()
    }
}

/// Every (all / n)-th rule file.
fn subset(rules: &[RuleFile], n: usize) -> Vec<&RuleFile> {
    if n >= rules.len() {
        return rules.iter().collect();
    }
    (0..n).map(|i| &rules[i * rules.len() / n]).collect()
}

fn load(files: &[&RuleFile]) -> Vec<Rule> {
    let opts = BuildOptions::default();
    files
        .iter()
        .flat_map(|f| RuleSet::from_text(&f.path.display().to_string(), &f.text, &opts).rules)
        .collect()
}

fn compile(files: &[&RuleFile]) -> Transform {
    Transform::new(
        load(files),
        &LogsourceMap::builtin(),
        TransformOptions::default(),
    )
}

/// Processes `events` with a scratch that lives as long as the bench function, as a
/// pipeline thread keeps its own: a fresh one per iteration would charge every iteration
/// a cold start (allocation, empty regex caches) that a running transform pays once.
/// `scratch` is created on first use, by the thread that first uses it.
fn run(
    transform: &Transform,
    scratch: &mut Option<TransformScratch>,
    events: &[&[u8]],
    out: &mut Vec<u8>,
) -> usize {
    let scratch = scratch.get_or_insert_with(|| transform.scratch());
    out.clear();
    for e in events {
        transform.process_line(e, scratch, out);
        out.push(b'\n');
    }
    out.len()
}

/// Runs each part on a thread of its own, with that part's output buffer and scratch.
fn run_parts(
    transform: &Transform,
    parts: &[Vec<&[u8]>],
    outs: &mut [Vec<u8>],
    scratches: &mut [Option<TransformScratch>],
) {
    std::thread::scope(|s| {
        for ((part, out), scratch) in parts.iter().zip(outs.iter_mut()).zip(scratches.iter_mut()) {
            s.spawn(move || black_box(run(transform, scratch, part, out)));
        }
    });
}

fn bench_rules(c: &mut Criterion, rules: &[RuleFile], events: &[&[u8]]) {
    let mut g = c.benchmark_group("rules");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(events.len() as u64));
    let mut out = Vec::with_capacity(32 << 20);
    for n in COUNTS {
        let transform = compile(&subset(rules, n));
        let mut scratch = None;
        g.bench_function(BenchmarkId::from_parameter(label(n, rules.len())), |b| {
            b.iter(|| black_box(run(&transform, &mut scratch, events, &mut out)))
        });
    }
    g.finish();
}

fn bench_event_size(c: &mut Criterion, transform: &Transform, events: &[&[u8]]) {
    const BUCKETS: [(usize, usize); 5] = [
        (0, 768),
        (768, 1024),
        (1024, 1536),
        (1536, 2048),
        (2048, usize::MAX),
    ];
    let mut g = c.benchmark_group("event_size");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    let mut out = Vec::with_capacity(32 << 20);
    for (lo, hi) in BUCKETS {
        let bucket: Vec<&[u8]> = events
            .iter()
            .copied()
            .filter(|e| (lo..hi).contains(&e.len()))
            .collect();
        if bucket.is_empty() {
            continue;
        }
        let name = if hi == usize::MAX {
            format!("{lo}+B")
        } else {
            format!("{lo}-{hi}B")
        };
        g.throughput(Throughput::Elements(bucket.len() as u64));
        let mut scratch = None;
        g.bench_function(
            BenchmarkId::from_parameter(format!("{name}_{}ev", bucket.len())),
            |b| b.iter(|| black_box(run(transform, &mut scratch, &bucket, &mut out))),
        );
    }
    g.finish();
}

fn bench_compile(c: &mut Criterion, rules: &[RuleFile]) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for n in COUNTS {
        let files = subset(rules, n);
        g.bench_function(BenchmarkId::from_parameter(label(n, rules.len())), |b| {
            b.iter(|| black_box(compile(&files)))
        });
    }
    g.finish();
}

fn bench_threads(c: &mut Criterion, transform: &Transform, events: &[&[u8]]) {
    let mut g = c.benchmark_group("threads");
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(events.len() as u64));
    for t in [1usize, 2] {
        // Thread k takes events k, k + t, k + 2t, ...: the same mix of event kinds on
        // every thread (the stream is ordered by source file, so halves differ).
        let parts: Vec<Vec<&[u8]>> = (0..t)
            .map(|k| events.iter().skip(k).step_by(t).copied().collect())
            .collect();
        let mut outs: Vec<Vec<u8>> = (0..t).map(|_| Vec::with_capacity(32 << 20)).collect();
        let mut scratches: Vec<Option<TransformScratch>> = (0..t).map(|_| None).collect();
        g.bench_function(BenchmarkId::from_parameter(t), |b| {
            b.iter(|| run_parts(transform, &parts, &mut outs, &mut scratches))
        });
    }
    g.finish();
}

/// Child mode: compile N rules, print `MEMORY loaded peak_kib base_kib`.
fn memory_child(n: usize) {
    let rules = common::windows_rules();
    let files = subset(&rules, n);
    let reset = common::reset_peak();
    let base = common::memory_kib().1;
    let transform = compile(&files);
    let loaded = transform.rules().len();
    let peak = common::memory_kib().0;
    black_box(&transform);
    println!("MEMORY {loaded} {peak} {base} {reset}");
}

fn memory_table(all: usize) {
    let exe = std::env::current_exe().unwrap();
    println!("\nmemory by rule count (one process per row; RSS with the rule texts in memory)\n");
    println!(
        "| rules | loaded | peak RSS MiB | compiled rules MiB (peak - RSS before compiling) |"
    );
    println!("| ---: | ---: | ---: | ---: |");
    for n in COUNTS {
        let out = std::process::Command::new(&exe)
            .env("SCALING_MEMORY", n.to_string())
            .output()
            .expect("memory child");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("MEMORY ")) else {
            println!("| {} | failed | | |", label(n, all));
            continue;
        };
        let f: Vec<&str> = line.split_whitespace().collect();
        let (loaded, peak, base): (usize, f64, f64) = (
            f[0].parse().unwrap(),
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
        );
        println!(
            "| {} | {loaded} | {:.1} | {:.1}{} |",
            label(n, all),
            peak / 1024.0,
            (peak - base) / 1024.0,
            if f[3] == "true" {
                ""
            } else {
                " (peak not reset)"
            }
        );
    }
    println!();
}

/// User + system CPU time of this process, in seconds (`/proc/self/stat`, clock ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which ends with ')'): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// 1 vs 2 threads by wall time and by CPU time: on a machine whose cores are shared, wall
/// time shows the cores that were free; events per CPU-second shows whether the threads
/// slow each other down.
fn threads_table(transform: &Transform, events: &[&[u8]]) {
    const ROUNDS: usize = 5;
    println!(
        "\nthreads: {ROUNDS} passes over the {} events, dealt round-robin; load average before: {}",
        events.len(),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!("| threads | wall events/s | events per CPU-second | CPU-seconds / wall-second |");
    println!("| ---: | ---: | ---: | ---: |");
    for t in [1usize, 2] {
        let parts: Vec<Vec<&[u8]>> = (0..t)
            .map(|k| events.iter().skip(k).step_by(t).copied().collect())
            .collect();
        let mut outs: Vec<Vec<u8>> = (0..t).map(|_| Vec::with_capacity(32 << 20)).collect();
        let mut scratches: Vec<Option<TransformScratch>> = (0..t).map(|_| None).collect();
        // One untimed pass warms each thread's scratch, as criterion's warm-up does.
        run_parts(transform, &parts, &mut outs, &mut scratches);
        let cpu0 = cpu_seconds();
        let t0 = std::time::Instant::now();
        for _ in 0..ROUNDS {
            run_parts(transform, &parts, &mut outs, &mut scratches);
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let n = (events.len() * ROUNDS) as f64;
        println!(
            "| {t} | {:.0} | {:.0} | {:.2} |",
            n / wall,
            n / cpu.max(1e-9),
            cpu / wall
        );
    }
    println!();
}

fn main() {
    if let Ok(n) = std::env::var("SCALING_MEMORY") {
        memory_child(n.parse().unwrap());
        return;
    }
    let rules = common::windows_rules();
    let lines = common::events();
    let events: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let mut c = Criterion::default().configure_from_args();
    // `cargo bench --no-run` never gets here; a listing or a filter that names no
    // memory row skips the table.
    let args: Vec<String> = std::env::args().collect();
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    if !args.iter().any(|a| a == "--list") && filter.is_none_or(|f| f.contains("memory")) {
        memory_table(rules.len());
    }
    let all = compile(&subset(&rules, usize::MAX));
    if !args.iter().any(|a| a == "--list") && filter.is_none_or(|f| f.contains("threads")) {
        threads_table(&all, &events);
    }
    bench_rules(&mut c, &rules, &events);
    bench_event_size(&mut c, &all, &events);
    bench_threads(&mut c, &all, &events);
    bench_compile(&mut c, &rules);
    c.final_summary();
}
