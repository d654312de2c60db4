//! The cost of correlations (issue 20): events per second through the ordered stage of
//! `run` with the SigmaHQ Windows rules, without and with 50 correlations over those rules,
//! measured in one run; and the memory a million groups hold.
//!
//! The 50 correlations are generated at start (they reference SigmaHQ rule ids, which are
//! not ours to ship): for the 50 rules that match the most sample events, an `event_count`
//! by `Computer` over 10 minutes with `gte: 1000` (a threshold the samples never reach, so
//! the cost measured is keeping the windows, not writing alerts). Referenced rules keep
//! tagging on their own (`emit_referenced_rules`), so both runs write the same tags.
//!
//! Memory: a counting allocator measures what a `Correlator` holds after one million
//! events with distinct group values.
//!
//! Run: `cargo bench --bench correlation [-- --rounds N]`. Results go to
//! benches/README.md as ratios.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use sigma_transform::config::SigmaConfig;
use sigma_transform::correlate::{Compiled, CorrelationOptions, Correlator};
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

/// Events per second through the ordered stage, best of `rounds`.
fn rate(t: &SigmaTransform, events: &[Vec<u8>], rounds: usize) -> (f64, u64, u64) {
    let mut best = 0.0f64;
    let mut fired = 0;
    let mut missing = 0;
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
    }
    (best, fired, missing)
}

fn main() {
    let rounds = common::arg("--rounds", 5);
    let events = common::events_or_bundled();
    let paths = common::rule_paths_or_bundled();

    // The 50 rules that match the most sample events.
    let plain = SigmaTransform::from_config(&SigmaConfig::new(paths.clone())).unwrap();
    let engine = plain.engine();
    let mut counts = vec![0usize; engine.rules().len()];
    let mut scratch = engine.scratch();
    for e in &events {
        if let Ok(ev) = engine.read(e) {
            for h in engine.match_event(&ev, &mut scratch) {
                counts[h] += 1;
            }
        }
    }
    let mut order: Vec<usize> = (0..counts.len())
        .filter(|&i| engine.rules()[i].meta.id.is_some())
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(counts[i]));
    let dir = std::env::temp_dir().join(format!("sigma-corr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut yaml = String::new();
    for (k, &i) in order.iter().take(50).enumerate() {
        let id = engine.rules()[i].meta.id.as_deref().unwrap();
        yaml.push_str(&format!(
            "title: bench correlation {k}\ncorrelation:\n    type: event_count\n    rules: [{id}]\n    group-by: [Computer]\n    timespan: 10m\n    condition: {{gte: 1000}}\n---\n"
        ));
    }
    std::fs::write(dir.join("correlations.yml"), yaml).unwrap();
    let mut cfg = SigmaConfig::new(paths.iter().cloned().chain([dir.clone()]).collect());
    cfg.correlation.emit_referenced_rules = true;
    let with = SigmaTransform::from_config(&cfg).unwrap();
    assert_eq!(
        with.report().correlations,
        50,
        "{:?}",
        with.report().warnings
    );

    let hits: usize = order.iter().take(50).map(|&i| counts[i]).sum();
    let (base, _, _) = rate(&plain, &events, rounds);
    let (corr, fired, missing) = rate(&with, &events, rounds);
    println!(
        "ordered stage, {} rules, {} events, best of {rounds} rounds:\n  without correlations: {base:.0} events/s\n  with 50 correlations: {corr:.0} events/s ({:.1}% of without; {hits} hits on the 50 rules, {missing} without `Computer`, {fired} firings)",
        engine.rules().len(),
        events.len(),
        100.0 * corr / base
    );

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
    let _ = std::fs::remove_dir_all(&dir);
}
