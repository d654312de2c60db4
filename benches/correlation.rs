//! The cost of correlations (issue 20): events per second through the ordered stage of
//! `run` with the SigmaHQ Windows rules, without and with the 50 correlations of
//! `rules/sigmahq-correlations/` (which reference SigmaHQ rule ids), measured in one run;
//! and the memory a million groups hold.
//!
//! The events are the EVTX-ATTACK-SAMPLES corpus sorted by event time, as a shipper sends
//! a stream (in file order, the corpus jumps between years and most hits would arrive too
//! late for their windows, which would understate the cost). Every correlation of the pack
//! says `generate: true`, so both runs write the same rule tags; the second also writes its
//! correlation tags and alert lines.
//!
//! Threads: the built binary's `run` over the same stream (repeated), on 1 and 2 threads,
//! with and without the pack: the parallel matching around the ordered correlation stage.
//!
//! Memory: a counting allocator measures what a `Correlator` holds after one million
//! events with distinct group values.
//!
//! Run: `cargo bench --bench correlation [-- --rounds N]`. Results go to
//! benches/README.md as ratios. Without ../shared there is nothing to correlate: the bench
//! then measures memory only, and says so.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use sigma_transform::config::SigmaConfig;
use sigma_transform::correlate::{Compiled, CorrelationOptions, Correlator, time};
use sigma_transform::event::json::JsonEvent;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::stage::SigmaTransform;

/// Bytes currently allocated.
static LIVE: AtomicIsize = AtomicIsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Events per second through the ordered stage, best of `rounds`, with the correlator's
/// firings, hits without a group-by or value field, and hits too late.
fn rate(t: &SigmaTransform, events: &[Vec<u8>], rounds: usize) -> (f64, u64, u64, u64) {
    let mut best = 0.0f64;
    let (mut fired, mut missing, mut late) = (0, 0, 0);
    for _ in 0..rounds {
        let mut stage = t.correlating();
        let mut scratch = t.scratch();
        let mut out = Vec::with_capacity(1 << 16);
        let mut alerts = Vec::new();
        let start = Instant::now();
        for e in events {
            out.clear();
            stage.process_line(e, &mut scratch, &mut out, &mut alerts);
            alerts.clear();
        }
        stage.finish(&mut alerts);
        let secs = start.elapsed().as_secs_f64();
        best = best.max(events.len() as f64 / secs);
        fired = stage.correlator().counters.firings;
        missing = stage.correlator().counters.missing_field;
        late = stage.correlator().counters.too_late;
    }
    (best, fired, missing, late)
}

/// Rates without and with the pack, one run.
fn throughput(
    paths: &[std::path::PathBuf],
    pack: &std::path::Path,
    mut events: Vec<Vec<u8>>,
    rounds: usize,
) {
    let plain = SigmaTransform::from_config(&SigmaConfig::new(paths.to_vec())).unwrap();
    let engine = plain.engine();
    // Stream order: by event time (stable, so ties keep file order).
    events.sort_by_cached_key(|e| {
        engine
            .read(e)
            .ok()
            .and_then(|ev| time::event_time(&ev, None))
    });
    let cfg = SigmaConfig::new(paths.iter().cloned().chain([pack.to_path_buf()]).collect());
    let with = SigmaTransform::from_config(&cfg).unwrap();
    assert_eq!(
        with.report().correlations,
        50,
        "{:?}",
        with.report().warnings
    );
    threads(paths, pack, &events, rounds);
    let (base, _, _, _) = rate(&plain, &events, rounds);
    let (corr, fired, missing, late) = rate(&with, &events, rounds);
    println!(
        "ordered stage, {} rules, {} events in event-time order, best of {rounds} rounds:\n  without correlations: {base:.0} events/s\n  with the 50 correlations: {corr:.0} events/s ({:.1}% of without; {fired} firings, {missing} hits without a group-by or value field, {late} too late)",
        engine.rules().len(),
        events.len(),
        100.0 * corr / base
    );
}

/// `run` (the built binary) over the time-ordered corpus repeated `copies` times (copy `k`
/// moved `10 k` years on, so the stream stays in time order), on 1 and 2 threads, without
/// and with the pack: the rate `run` reports (compile time left out), best of `rounds`,
/// the four runs in turn each round.
fn threads(
    paths: &[std::path::PathBuf],
    pack: &std::path::Path,
    sorted: &[Vec<u8>],
    rounds: usize,
) {
    let copies = 6;
    let dir = std::env::temp_dir().join(format!("sigma-corr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    let lines: Vec<String> = sorted
        .iter()
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    let mut text = common::time_ordered_stream(&lines, lines.len() * copies).join("\n");
    text.push('\n');
    std::fs::write(&input, &text).unwrap();
    let run = |with: bool, threads: usize| -> f64 {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sigma-transform"));
        cmd.arg("run");
        for p in paths
            .iter()
            .map(|p| p.as_path())
            .chain(with.then_some(pack))
        {
            cmd.arg("-r").arg(p);
        }
        let out = cmd
            .args(["--threads", &threads.to_string()])
            .arg(&input)
            .stdout(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let at = err.find(" events/s").expect("a summary with a rate");
        let start = err[..at].rfind(' ').map_or(0, |i| i + 1);
        err[start..at].parse().unwrap()
    };
    let mut best = [0.0f64; 4];
    for _ in 0..rounds {
        for (i, (with, n)) in [(false, 1), (true, 1), (false, 2), (true, 2)]
            .into_iter()
            .enumerate()
        {
            best[i] = best[i].max(run(with, n));
        }
    }
    println!(
        "run, {} events ({copies} copies in time order), best of {rounds} rounds:\n  1 thread:  {:.0} events/s without, {:.0} with the pack ({:.1}%)\n  2 threads: {:.0} events/s without, {:.0} with the pack ({:.1}%)\n  with the pack, 2 threads / 1 thread: {:.2}x (without: {:.2}x)",
        sorted.len() * copies,
        best[0],
        best[1],
        100.0 * best[1] / best[0],
        best[2],
        best[3],
        100.0 * best[3] / best[2],
        best[3] / best[1],
        best[2] / best[0],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let rounds = common::arg("--rounds", 5);
    let events = common::events_or_bundled();
    let paths = common::rule_paths_or_bundled();

    let pack = common::root().join("rules/sigmahq-correlations");
    if !common::root().join("../shared/sigma").exists() {
        eprintln!(
            "bench: ../shared is not present; the correlations of {} reference SigmaHQ rules, so only memory is measured",
            pack.display()
        );
    } else {
        throughput(&paths, &pack, events, rounds);
    }

    // Memory per million groups.
    let set = RuleSet::from_text(
        "mem.yml",
        "title: A\nname: a\nlogsource: {product: test}\ndetection: {sel: {K: a}, condition: sel}\n---\n\
         title: many users\ncorrelation:\n    type: event_count\n    rules: [a]\n    group-by: [User]\n    timespan: 1h\n    condition: {gte: 1000}\n",
        &BuildOptions::default(),
    );
    let opts = CorrelationOptions {
        max_groups: 2_000_000,
        ..Default::default()
    };
    let (compiled, _) = Compiled::new(set.correlations, &set.rules, &opts);
    let n = 1_000_000u32;
    let docs: Vec<String> = (0..n)
        .map(|i| format!("{{\"User\":\"user-{i:07}\"}}"))
        .collect();
    // Counted from here: the correlator and what it keeps (the events are made above).
    let before = LIVE.load(Ordering::Relaxed);
    let mut c = Correlator::new(compiled, opts);
    let mut out = Vec::new();
    let mut parse = std::time::Duration::ZERO;
    let mut feed = std::time::Duration::ZERO;
    for (i, json) in (0..n).zip(&docs) {
        let t0 = Instant::now();
        let doc = JsonEvent::parse(json.as_bytes()).unwrap();
        let t1 = Instant::now();
        c.observe(Some(i64::from(i)), &[0], &doc, &mut out);
        parse += t1 - t0;
        feed += t1.elapsed();
    }
    let held = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "memory: {} groups hold {:.1} MiB, {:.0} bytes per group (one hit each, 12-byte group value)",
        c.groups_held(),
        held as f64 / (1 << 20) as f64,
        held as f64 / f64::from(n)
    );
    println!(
        "feeding the correlator: {:.0} hits/s into new groups ({:.2} s for {n}; parsing the events apart: {:.2} s)",
        f64::from(n) / feed.as_secs_f64(),
        feed.as_secs_f64(),
        parse.as_secs_f64()
    );
    drop(docs);
}
