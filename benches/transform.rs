//! Throughput of the transform against the fastest honest pass-through.
//!
//! Events: `../shared/events/evtx-attack-samples.ndjson.gz` (8,255 real Windows events)
//! when present, else the bundled samples. Rules: the SigmaHQ Windows rules from
//! `../shared/sigma` when present, else the bundled rules.
//!
//! - `passthrough`: a validating JSON parse that builds nothing (`IgnoredAny`), then a
//!   copy of the line to the output buffer: the floor a JSON transform cannot beat.
//! - `transform`: parse, match, tag, write.
//!
//! Run: `cargo bench --bench transform`. Results go to benches/README.md as ratios.

mod common;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

fn bench(c: &mut Criterion) {
    let events = common::events_or_bundled();
    let bytes: usize = events.iter().map(Vec::len).sum();
    let set = RuleSet::load(&common::rule_paths_or_bundled(), &BuildOptions::default());
    let transform = Transform::new(
        set.rules,
        &LogsourceMap::builtin(),
        TransformOptions::default(),
    );
    let mut group = c.benchmark_group("events");
    group.throughput(Throughput::Elements(events.len() as u64));
    group.sample_size(10);
    let mut out = Vec::with_capacity(bytes * 2);
    group.bench_function("passthrough", |b| {
        b.iter(|| {
            out.clear();
            for e in &events {
                let ok = serde_json::from_slice::<serde::de::IgnoredAny>(e).is_ok();
                std::hint::black_box(ok);
                out.extend_from_slice(e);
                out.push(b'\n');
            }
            std::hint::black_box(out.len())
        })
    });
    let mut scratch = transform.scratch();
    group.bench_function("transform", |b| {
        b.iter(|| {
            out.clear();
            for e in &events {
                transform.process_line(e, &mut scratch, &mut out);
                out.push(b'\n');
            }
            std::hint::black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
