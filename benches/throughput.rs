//! Issue 4, part 1: throughput of sigma-transform side by side with the pass-through floor
//! and the peer engines RSigma (`rsigma-eval`) and sigma-rust, in one run, one thread, on
//! the same events, printed as a table.
//!
//! Run (release build, about 3 minutes; needs `../shared`):
//!
//! ```sh
//! cargo bench --bench throughput
//! cargo bench --bench throughput -- --events 3000 --max-seconds 5   # smoke run (CI)
//! ```
//!
//! Options: `--events N` (events per engine, default 1,000,000; also `THROUGHPUT_EVENTS`),
//! `--engines a,b` (subset of `passthrough,passthrough-tree,sigma-transform,rsigma,sigma-rust`,
//! or `sigma-transform-fields`, not run by default),
//! `--max-seconds S` (time cap of one engine's timed loop, default 120: sigma-rust, at a
//! few hundred events/s, stops there and reports the events it did),
//! `--diff PATH` (where the sigma-transform vs RSigma match differences go; default
//! `benches/diff/rsigma.tsv`, written only when every distinct event was evaluated),
//! `--rounds N` (default 1: run the engines N times in turn, A B C A B C ..., and report
//! each engine's fastest round, with every round's events/s printed below the table; on a
//! shared machine a slow spell then hits one round, not one engine's only measure. An
//! engine whose first round hit `--max-seconds` runs once).
//!
//! Each engine runs in a child process of this binary (`--child ENGINE`), so that its peak
//! memory (`VmHWM`) is its own. A child loads the events and the rule texts, resets the
//! peak to the current RSS (`/proc/self/clear_refs`), then compiles the rules (timed: rule
//! compile time), evaluates the 8,255 distinct events once untimed (this records the
//! (event, rule) match set and warms up; stopped at `--max-seconds` too), then loops over the events until `--events`
//! have been processed (timed: events/s). Every engine writes each input line to an output
//! buffer (cleared after each pass over the 8,255 events), so all of them pay for the copy.
//!
//! - `passthrough`: a validating JSON parse that builds nothing (`serde::de::IgnoredAny`),
//!   then a copy of the line: the floor a JSON transform cannot beat.
//! - `passthrough-tree`: the same with our own parser (`event::tree::Tree::parse`, which
//!   accepts exactly what serde_json accepts and builds a flat slot tree in pooled
//!   buffers) as the validating parse. Since its string scan went SIMD it is faster than
//!   `IgnoredAny`, so the floor is whichever of the two is faster in the run.
//! - `sigma-transform`: `Transform::process_line` on the evtx_dump lines (parse, match, tag,
//!   write).
//! - `sigma-transform-fields`: the same with `matched_fields` on (each match's entry
//!   carries the fields and values that decided it): its cost.
//! - `rsigma`: `rsigma-eval` `Engine::evaluate` on the same events flattened to Sigma field
//!   names (the shape it expects; flattening is done before timing), parsed per event into a
//!   `serde_json::Value`. Its witness candidate index is always on; its logsource routing
//!   is on: a `LogSourceExtractor` reads the `_logsource_*` fields that flattening sets on
//!   each event from `rules/logsources.yaml`, and conflict-based pruning skips the rules
//!   of other categories and services; a small pipeline covers what pruning cannot express
//!   (see `rsigma_pipeline`). Both engines so have the same logsource semantics. Bloom
//!   pre-filter and cross-rule AC (opt-in) stay off.
//! - `sigma-rust`: `Rule::is_match` for every loaded rule whose logsource covers the event
//!   (it has no logsource handling of its own; the bench routes by `Channel`, `EventID` and
//!   `EventType` with a cached lookup in the timed loop), events parsed per event.

#[path = "common/mod.rs"]
mod common;

use std::collections::{BTreeSet, HashMap};
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use common::{Logsources, RuleFile};
use serde::{Deserialize, Serialize};
use serde_json::Value;

const ENGINES: [&str; 5] = [
    "passthrough",
    "passthrough-tree",
    "sigma-transform",
    "rsigma",
    "sigma-rust",
];

/// What a child reports.
#[derive(Serialize, Deserialize, Debug, Default)]
struct Report {
    engine: String,
    rules_loaded: usize,
    rules_total: usize,
    compile_s: f64,
    events: u64,
    run_s: f64,
    /// (event, rule) matches over the distinct events (the first `distinct_done`).
    matches_distinct: u64,
    distinct_done: u64,
    /// (event, rule) matches over the timed run.
    matches_run: u64,
    /// VmHWM after the reset, KiB (whole process: events and rule texts included).
    peak_kib: u64,
    /// VmRSS right before compiling, KiB (events and rule texts).
    base_kib: u64,
    peak_reset: bool,
    /// The timed loop stopped at `--max-seconds` before `--events`.
    capped: bool,
    /// Rule files the engine did not load (path, reason).
    not_loaded: Vec<String>,
}

struct Args {
    events: u64,
    engines: Vec<String>,
    child: Option<String>,
    pairs: Option<PathBuf>,
    diff: Option<PathBuf>,
    max_seconds: f64,
    rounds: usize,
}

fn args() -> Args {
    let mut a = Args {
        events: std::env::var("THROUGHPUT_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000),
        engines: ENGINES.iter().map(|s| s.to_string()).collect(),
        child: None,
        pairs: None,
        diff: None,
        max_seconds: 120.0,
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--events" => a.events = it.next().and_then(|v| v.parse().ok()).expect("--events N"),
            "--engines" => {
                a.engines = it
                    .next()
                    .expect("--engines LIST")
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            "--child" => a.child = it.next(),
            "--pairs" => a.pairs = it.next().map(PathBuf::from),
            "--diff" => a.diff = it.next().map(PathBuf::from),
            "--max-seconds" => {
                a.max_seconds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--max-seconds S")
            }
            "--rounds" => {
                a.rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|n| *n >= 1)
                    .expect("--rounds N (at least 1)")
            }
            // `cargo bench` passes `--bench`; criterion-style filters are ignored too.
            _ => {}
        }
    }
    a
}

fn main() {
    let a = args();
    match &a.child {
        Some(engine) => child(engine, &a),
        None => parent(&a),
    }
}

// ---------------------------------------------------------------------------------------
// Parent: run each engine in a child, print the table, write the diff.

fn parent(a: &Args) {
    let exe = std::env::current_exe().unwrap();
    let tmp = std::env::temp_dir().join(format!("sigma-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for engine in &a.engines {
        assert!(
            ENGINES.contains(&engine.as_str()) || engine == "sigma-transform-fields",
            "unknown engine {engine}"
        );
    }
    // Per engine (in `a.engines` order): the fastest round's report, every round's events/s.
    let mut best: Vec<Option<Report>> = a.engines.iter().map(|_| None).collect();
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); a.engines.len()];
    for round in 1..=a.rounds {
        for (i, engine) in a.engines.iter().enumerate() {
            if best[i].as_ref().is_some_and(|r| r.capped) {
                continue;
            }
            eprintln!("running {engine} (round {round} of {}) ...", a.rounds);
            let r = run_child(&exe, &tmp, engine, a);
            let eps = r.events as f64 / r.run_s;
            rounds[i].push(eps);
            if best[i]
                .as_ref()
                .is_none_or(|b| eps > b.events as f64 / b.run_s)
            {
                best[i] = Some(r);
            }
        }
    }
    let reports: Vec<Report> = best.into_iter().flatten().collect();
    let distinct = common::events().len() as u64;
    print_table(&reports, distinct);
    if a.rounds > 1 {
        println!(
            "
{} rounds, engines in turn; the table shows each engine's fastest. Events/s per round:",
            a.rounds
        );
        for (engine, eps) in a.engines.iter().zip(&rounds) {
            let list: Vec<String> = eps.iter().map(|e| format!("{e:.0}")).collect();
            println!("  {engine}: {}", list.join(" / "));
        }
    }
    finish(a, &tmp, &reports, distinct);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Runs one engine in a child process and reads its report.
fn run_child(exe: &std::path::Path, tmp: &std::path::Path, engine: &str, a: &Args) -> Report {
    let pairs = tmp.join(format!("{engine}.pairs"));
    let out = Command::new(exe)
        .args(["--child", engine, "--events", &a.events.to_string()])
        .args(["--max-seconds", &a.max_seconds.to_string()])
        .arg("--pairs")
        .arg(&pairs)
        .output()
        .expect("run child");
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        panic!("engine {engine} failed");
    }
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("REPORT ").map(str::to_owned))
        .expect("child report");
    serde_json::from_str::<Report>(&line).unwrap()
}

/// What follows the table: rules not loaded, the match-set comparisons and diff files.
fn finish(a: &Args, tmp: &std::path::Path, reports: &[Report], distinct: u64) {
    let have = |e: &str| a.engines.iter().any(|x| x == e);
    for r in reports {
        if !r.not_loaded.is_empty() {
            println!(
                "\n{} did not load {} rule(s):",
                r.engine,
                r.not_loaded.len()
            );
            for p in &r.not_loaded {
                println!("  {p}");
            }
        }
    }
    for (peer, name, file) in [
        ("rsigma", "RSigma", "rsigma.tsv"),
        ("sigma-rust", "sigma-rust", "sigma-rust.tsv"),
    ] {
        if !(have("sigma-transform") && have(peer)) {
            continue;
        }
        let evaluated = reports
            .iter()
            .filter(|r| r.engine == "sigma-transform" || r.engine == peer)
            .map(|r| r.distinct_done)
            .min()
            .unwrap_or(0);
        let within = |s: BTreeSet<(u64, String, String)>| -> BTreeSet<_> {
            s.into_iter().filter(|p| p.0 <= evaluated).collect()
        };
        let st = within(read_pairs(&tmp.join("sigma-transform.pairs")));
        let other = within(read_pairs(&tmp.join(format!("{peer}.pairs"))));
        let only_st: Vec<_> = st.difference(&other).cloned().collect();
        let only_other: Vec<_> = other.difference(&st).cloned().collect();
        println!(
            "\nmatch sets on the first {evaluated} of the {distinct} distinct events: sigma-transform {}, \
             {name} {}, same {}, only sigma-transform {}, only {name} {}",
            st.len(),
            other.len(),
            st.intersection(&other).count(),
            only_st.len(),
            only_other.len()
        );
        let full = evaluated == distinct;
        let path = match (&a.diff, peer) {
            (Some(d), "rsigma") => Some(d.clone()),
            (Some(d), _) => Some(d.with_extension(format!("{peer}.tsv"))),
            (None, _) => full.then(|| common::root().join("benches/diff").join(file)),
        };
        if let Some(path) = path {
            write_diff(&path, name, peer, &only_st, &only_other);
            println!(
                "differing (rule, event) pairs written to {}",
                path.display()
            );
        }
    }
}

fn print_table(reports: &[Report], distinct: u64) {
    let st = reports
        .iter()
        .find(|r| r.engine == "sigma-transform")
        .map(|r| r.events as f64 / r.run_s);
    println!(
        "\n{} {}, {} core(s), {} events per engine (unless capped), single thread\n",
        cpu_model(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        reports.iter().map(|r| r.events).max().unwrap_or(0)
    );
    println!(
        "| engine | events/s | ns/event | vs sigma-transform | rules loaded | compile s | matches (8,255 events) | matches (run) | peak RSS MiB | engine RSS MiB |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in reports {
        let eps = r.events as f64 / r.run_s;
        let ratio = st.map_or("-".into(), |s| format!("{:.2}x", eps / s));
        let rules = if r.engine.starts_with("passthrough") {
            "-".into()
        } else {
            format!("{} / {}", r.rules_loaded, r.rules_total)
        };
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {:.2} | {} | {} | {:.1} | {:.1}{} |",
            if r.capped {
                format!("{} (time cap: {} events)", r.engine, r.events)
            } else {
                r.engine.clone()
            },
            eps,
            r.run_s * 1e9 / r.events as f64,
            ratio,
            rules,
            r.compile_s,
            if r.distinct_done == distinct {
                r.matches_distinct.to_string()
            } else {
                format!("{} (first {} events)", r.matches_distinct, r.distinct_done)
            },
            r.matches_run,
            r.peak_kib as f64 / 1024.0,
            r.peak_kib.saturating_sub(r.base_kib) as f64 / 1024.0,
            if r.peak_reset {
                ""
            } else {
                " (peak not reset)"
            }
        );
    }
    println!(
        "\npeak RSS: VmHWM of the engine's process (events and rule texts in memory included); \
         engine RSS: VmHWM minus the RSS before compiling (compiled rules and run-time state)."
    );
    let floor = reports
        .iter()
        .filter(|r| r.engine.starts_with("passthrough"))
        .map(|r| (r.events as f64 / r.run_s, r.engine.as_str()))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let (Some(st), Some((floor, name))) = (st, floor) {
        println!(
            "sigma-transform runs at {:.1}% of the fastest pass-through ({name}).",
            st / floor * 100.0
        );
    }
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// `line \t rule id \t rule path` per matching pair.
fn read_pairs(path: &PathBuf) -> BTreeSet<(u64, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let mut f = l.split('\t');
            (
                f.next().unwrap().parse().unwrap(),
                f.next().unwrap().to_owned(),
                f.next().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn write_diff(
    path: &PathBuf,
    name: &str,
    peer: &str,
    only_st: &[(u64, String, String)],
    only_rs: &[(u64, String, String)],
) {
    let mut rows: Vec<(String, u64, &str, String)> = only_st
        .iter()
        .map(|(l, id, p)| (p.clone(), *l, "sigma-transform", id.clone()))
        .chain(
            only_rs
                .iter()
                .map(|(l, id, p)| (p.clone(), *l, peer, id.clone())),
        )
        .collect();
    rows.sort();
    let mut s = format!(
        "# (rule, event) pairs matched by one of sigma-transform and {name} but not the other,\n\
         # on the 8,255 events of ../shared/events/evtx-attack-samples.ndjson.gz.\n\
         # line: 1-based line of the uncompressed event stream; matched_by: the engine that matched.\n\
         # Written by `cargo bench --bench throughput`; explained in docs/peers.md.\n\
         rule_path\trule_id\tline\tmatched_by\n",
    );
    for (p, l, by, id) in rows {
        s.push_str(&format!("{p}\t{id}\t{l}\t{by}\n"));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::write(path, s).unwrap();
}

// ---------------------------------------------------------------------------------------
// Child: one engine.

/// The path of a rule relative to `../shared/sigma`.
fn rel(path: &std::path::Path) -> String {
    let base = common::shared().join("sigma");
    path.strip_prefix(&base)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Rule files the engine being built did not load, with the reason.
static NOT_LOADED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn not_loaded(path: &std::path::Path, why: impl std::fmt::Display) {
    let why = why.to_string().replace('\n', " ");
    let why: String = why.chars().take(160).collect();
    NOT_LOADED
        .lock()
        .unwrap()
        .push(format!("{}: {why}", rel(path)));
}

/// An engine ready to run: processes one line into `out`, returns its matches; `hits`
/// receives the matched rules as (id, path) when asked.
trait Engine {
    fn line(
        &mut self,
        i: usize,
        out: &mut Vec<u8>,
        hits: Option<&mut Vec<(String, String)>>,
    ) -> usize;
}

fn child(engine: &str, a: &Args) {
    let originals = common::events();
    let n = originals.len();
    let needs_flat = matches!(engine, "rsigma" | "sigma-rust");
    let ls = Logsources::load();
    let flat: Vec<String> = if needs_flat {
        originals.iter().map(|l| common::flatten(l, &ls)).collect()
    } else {
        Vec::new()
    };
    let originals = if needs_flat { Vec::new() } else { originals };
    let rules = if engine.starts_with("passthrough") {
        Vec::new()
    } else {
        common::windows_rules()
    };
    let peak_reset = common::reset_peak();
    let base_kib = common::memory_kib().1;

    let t = Instant::now();
    let (mut eng, loaded): (Box<dyn Engine + '_>, usize) = match engine {
        "passthrough" => (
            Box::new(Passthrough {
                lines: &originals,
                tree: false,
            }),
            0,
        ),
        "passthrough-tree" => (
            Box::new(Passthrough {
                lines: &originals,
                tree: true,
            }),
            0,
        ),
        "sigma-transform" => SigmaTransform::build(&rules, &originals, false),
        "sigma-transform-fields" => SigmaTransform::build(&rules, &originals, true),
        "rsigma" => Rsigma::build(&rules, &flat, &ls),
        "sigma-rust" => SigmaRust::build(&rules, &flat, &ls),
        e => panic!("unknown engine {e}"),
    };
    let compile_s = t.elapsed().as_secs_f64();

    // The distinct events once, untimed: match set, and warm-up.
    let mut out = Vec::with_capacity(16 << 20);
    let mut pairs = String::new();
    let mut matches_distinct = 0u64;
    let mut hits = Vec::new();
    let mut distinct_done = 0u64;
    let t = Instant::now();
    for i in 0..n.min(a.events as usize) {
        if t.elapsed().as_secs_f64() > a.max_seconds {
            break;
        }
        distinct_done += 1;
        hits.clear();
        matches_distinct += eng.line(i, &mut out, Some(&mut hits)) as u64;
        for (id, path) in &hits {
            pairs.push_str(&format!("{}\t{id}\t{path}\n", i + 1));
        }
    }
    if let Some(p) = &a.pairs {
        std::fs::write(p, pairs).unwrap();
    }

    // Timed: `events` events, looping over the distinct ones.
    out.clear();
    let mut matches_run = 0u64;
    let t = Instant::now();
    let mut done = 0u64;
    let mut capped = false;
    'outer: loop {
        for i in 0..n {
            if done == a.events {
                break 'outer;
            }
            if done.is_multiple_of(64) && t.elapsed().as_secs_f64() > a.max_seconds {
                capped = true;
                break 'outer;
            }
            matches_run += eng.line(i, &mut out, None) as u64;
            done += 1;
        }
        black_box(out.len());
        out.clear();
    }
    black_box(&out);
    let run_s = t.elapsed().as_secs_f64();
    drop(eng);
    let not_loaded = std::mem::take(&mut *NOT_LOADED.lock().unwrap());
    let report = Report {
        engine: engine.into(),
        rules_loaded: loaded,
        rules_total: rules.len(),
        compile_s,
        events: done,
        run_s,
        matches_distinct,
        distinct_done,
        matches_run,
        peak_kib: common::memory_kib().0,
        base_kib,
        peak_reset,
        capped,
        not_loaded,
    };
    println!("REPORT {}", serde_json::to_string(&report).unwrap());
}

struct Passthrough<'a> {
    lines: &'a [String],
    /// Validate with our parser instead of serde_json's `IgnoredAny`.
    tree: bool,
}

impl Engine for Passthrough<'_> {
    fn line(
        &mut self,
        i: usize,
        out: &mut Vec<u8>,
        _: Option<&mut Vec<(String, String)>>,
    ) -> usize {
        let line = self.lines[i].as_bytes();
        let ok = if self.tree {
            sigma_transform::event::tree::Tree::parse(line).is_ok()
        } else {
            serde_json::from_slice::<serde::de::IgnoredAny>(line).is_ok()
        };
        black_box(ok);
        out.extend_from_slice(line);
        out.push(b'\n');
        0
    }
}

struct SigmaTransform<'a> {
    lines: &'a [String],
    transform: sigma_transform::transform::Transform,
    scratch: sigma_transform::transform::TransformScratch,
}

impl<'a> SigmaTransform<'a> {
    fn build(
        rules: &[RuleFile],
        lines: &'a [String],
        matched_fields: bool,
    ) -> (Box<dyn Engine + 'a>, usize) {
        use sigma_transform::logsource::LogsourceMap;
        use sigma_transform::rule::BuildOptions;
        use sigma_transform::ruleset::RuleSet;
        use sigma_transform::transform::{Transform, TransformOptions};
        let opts = BuildOptions::default();
        let mut loaded = Vec::new();
        for f in rules {
            let set = RuleSet::from_text(&f.path.display().to_string(), &f.text, &opts);
            for r in &set.rejected {
                not_loaded(&f.path, &r.error);
            }
            loaded.extend(set.rules);
        }
        let n = loaded.len();
        let transform = Transform::new(
            loaded,
            &LogsourceMap::builtin(),
            TransformOptions {
                matched_fields,
                ..TransformOptions::default()
            },
        );
        let scratch = transform.scratch();
        (
            Box::new(SigmaTransform {
                lines,
                transform,
                scratch,
            }),
            n,
        )
    }
}

impl Engine for SigmaTransform<'_> {
    fn line(
        &mut self,
        i: usize,
        out: &mut Vec<u8>,
        hits: Option<&mut Vec<(String, String)>>,
    ) -> usize {
        use sigma_transform::transform::Outcome;
        let o = self
            .transform
            .process_line(self.lines[i].as_bytes(), &mut self.scratch, out);
        out.push(b'\n');
        if let Some(h) = hits {
            for &r in self.transform.last_hits(&self.scratch) {
                let rule = &self.transform.rules()[r];
                let id = rule
                    .meta
                    .id
                    .clone()
                    .unwrap_or_else(|| rule.meta.title.clone());
                h.push((id, rel(&rule.path)));
            }
        }
        match o {
            Outcome::Matched(n) => n,
            _ => 0,
        }
    }
}

struct Rsigma<'a> {
    lines: &'a [String],
    engine: rsigma_eval::Engine,
    paths: HashMap<String, String>,
}

/// The processing pipeline that completes RSigma's logsource routing. Routing itself is
/// RSigma's conflict-based pruning on the `_logsource_*` fields of each event (see
/// `common::flatten`): every event has exactly one category and one service (a real one
/// or `(none)`), so a rule of another category or service is pruned, which is the
/// semantics of `rules/logsources.yaml`. Two things that pruning cannot express are done
/// here, the pySigma way:
///
/// - a sub-category (`registry_set`: Sysmon 13, ...) is moved to its parent category
///   (`registry_event`: Sysmon 12, 13, 14), with its own `when` (`EventID: 13`, ...) added
///   to the rule as a condition (`add_condition`, then `change_logsource`);
/// - a rule with only `product: windows` gets `Channel` not null (the mapping's
///   product-wide entry).
fn rsigma_pipeline(ls: &Logsources, rules: &[rsigma_parser::SigmaRule]) -> rsigma_eval::Pipeline {
    use serde_yaml::{Mapping, Value as Y};
    let y = |s: &str| -> Y {
        match s.parse::<i64>() {
            Ok(n) => Y::Number(n.into()),
            Err(_) => Y::String(s.into()),
        }
    };
    let map = |pairs: Vec<(&str, Y)>| {
        let mut m = Mapping::new();
        for (k, v) in pairs {
            m.insert(k.into(), v);
        }
        Y::Mapping(m)
    };
    let category_is = |c: &str| {
        Y::Sequence(vec![map(vec![
            ("type", "logsource".into()),
            ("product", "windows".into()),
            ("category", c.into()),
        ])])
    };
    let mut items = Vec::new();
    for (sub, parent) in common::SUB_CATEGORIES {
        let Some(e) = ls.entry(Some(sub), None) else {
            continue;
        };
        assert_eq!(e_kinds(ls, e), 1, "{sub}: one kind of event");
        let mut conditions = Mapping::new();
        for (f, vs) in &ls.entries[e].kinds[0].when {
            conditions.insert(
                f.as_str().into(),
                Y::Sequence(vs.iter().map(|v| y(v)).collect()),
            );
        }
        items.push(map(vec![
            ("id", format!("{sub}_when").into()),
            ("type", "add_condition".into()),
            ("conditions", Y::Mapping(conditions)),
            ("rule_conditions", category_is(sub)),
        ]));
        items.push(map(vec![
            ("id", format!("{sub}_to_{parent}").into()),
            ("type", "change_logsource".into()),
            ("category", parent.into()),
            ("rule_conditions", category_is(sub)),
        ]));
    }
    for r in rules {
        if r.logsource.category.is_none() && r.logsource.service.is_none() {
            items.push(map(vec![
                (
                    "id",
                    format!("product_only_{}", r.id.clone().unwrap_or_default()).into(),
                ),
                ("type", "add_condition".into()),
                ("conditions", map(vec![("Channel", Y::Null)])),
                ("negated", true.into()),
                (
                    "rule_conditions",
                    Y::Sequence(vec![map(vec![
                        ("type", "rule_attribute".into()),
                        ("attribute", "id".into()),
                        ("value", r.id.clone().unwrap_or_default().into()),
                    ])]),
                ),
            ]));
        }
    }
    let p = map(vec![
        ("name", "sigma-transform logsources".into()),
        ("priority", 10.into()),
        ("transformations", Y::Sequence(items)),
    ]);
    rsigma_eval::parse_pipeline(&serde_yaml::to_string(&p).unwrap()).unwrap()
}

fn e_kinds(ls: &Logsources, e: usize) -> usize {
    ls.entries[e].kinds.len()
}

impl<'a> Rsigma<'a> {
    fn build(
        rules: &[RuleFile],
        lines: &'a [String],
        ls: &Logsources,
    ) -> (Box<dyn Engine + 'a>, usize) {
        let mut parsed = Vec::new();
        let mut paths = HashMap::new();
        let mut files = Vec::new();
        for f in rules {
            match rsigma_parser::parse_sigma_yaml(&f.text) {
                Ok(c) => {
                    for e in &c.errors {
                        not_loaded(&f.path, e);
                    }
                    for r in c.rules {
                        paths.insert(
                            r.id.clone().unwrap_or_else(|| r.title.clone()),
                            rel(&f.path),
                        );
                        files.push(&f.path);
                        parsed.push(r);
                    }
                }
                Err(e) => not_loaded(&f.path, e),
            }
        }
        let mut engine = rsigma_eval::Engine::new_with_pipeline(rsigma_pipeline(ls, &parsed));
        engine.set_logsource_extractor(Some(
            rsigma_eval::LogSourceExtractor::new().with_field_names(
                common::LS_PRODUCT,
                common::LS_SERVICE,
                common::LS_CATEGORY,
            ),
        ));
        let errors = engine.add_rules(parsed.iter());
        for (i, e) in &errors {
            not_loaded(files[*i], e);
        }
        let loaded = parsed.len() - errors.len();
        (
            Box::new(Rsigma {
                lines,
                engine,
                paths,
            }),
            loaded,
        )
    }
}

impl Engine for Rsigma<'_> {
    fn line(
        &mut self,
        i: usize,
        out: &mut Vec<u8>,
        hits: Option<&mut Vec<(String, String)>>,
    ) -> usize {
        let line = self.lines[i].as_bytes();
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            out.extend_from_slice(line);
            out.push(b'\n');
            return 0;
        };
        let results = self.engine.evaluate(&rsigma_eval::JsonEvent::borrow(&v));
        out.extend_from_slice(line);
        out.push(b'\n');
        if let Some(h) = hits {
            for r in &results {
                let id = r
                    .header
                    .rule_id
                    .clone()
                    .unwrap_or_else(|| r.header.rule_title.clone());
                let path = self.paths.get(&id).cloned().unwrap_or_default();
                h.push((id, path));
            }
        }
        results.len()
    }
}

struct SigmaRust<'a> {
    lines: &'a [String],
    rules: Vec<(sigma_rust::Rule, String)>,
    ls: &'a Logsources,
    when_fields: Vec<String>,
    /// Routing key (the `when` fields' values) -> rules to evaluate.
    routes: HashMap<String, Vec<usize>>,
    key: String,
}

impl<'a> SigmaRust<'a> {
    fn build(
        rules: &[RuleFile],
        lines: &'a [String],
        ls: &'a Logsources,
    ) -> (Box<dyn Engine + 'a>, usize) {
        let loaded: Vec<(sigma_rust::Rule, String)> = rules
            .iter()
            .filter_map(|f| match sigma_rust::rule_from_yaml(&f.text) {
                Ok(r) => Some((r, rel(&f.path))),
                Err(e) => {
                    not_loaded(&f.path, e);
                    None
                }
            })
            .collect();
        let n = loaded.len();
        (
            Box::new(SigmaRust {
                lines,
                rules: loaded,
                ls,
                when_fields: ls.when_fields(),
                routes: HashMap::new(),
                key: String::new(),
            }),
            n,
        )
    }
}

impl Engine for SigmaRust<'_> {
    fn line(
        &mut self,
        i: usize,
        out: &mut Vec<u8>,
        hits: Option<&mut Vec<(String, String)>>,
    ) -> usize {
        let line = self.lines[i].as_bytes();
        out.extend_from_slice(line);
        out.push(b'\n');
        let Ok(Value::Object(v)) = serde_json::from_slice::<Value>(line) else {
            return 0;
        };
        self.key.clear();
        for f in &self.when_fields {
            if let Some(t) = v.get(f).and_then(common::scalar_text) {
                self.key.push_str(&t.to_ascii_lowercase());
            } else if v.get(f).is_some() {
                self.key.push('?');
            }
            self.key.push('\u{1}');
        }
        if !self.routes.contains_key(&self.key) {
            let inside = self.ls.entries_of(&v);
            let route = (0..self.rules.len())
                .filter(|&r| {
                    let l = &self.rules[r].0.logsource;
                    self.ls
                        .applies(l.category.as_deref(), l.service.as_deref(), &inside)
                })
                .collect();
            self.routes.insert(self.key.clone(), route);
        }
        let Ok(event) = sigma_rust::Event::try_from(Value::Object(v)) else {
            return 0;
        };
        let route = &self.routes[&self.key];
        let mut n = 0;
        let mut hits = hits;
        for &r in route {
            let (rule, path) = &self.rules[r];
            if rule.is_match(&event) {
                n += 1;
                if let Some(h) = hits.as_deref_mut() {
                    h.push((
                        rule.id.clone().unwrap_or_else(|| rule.title.clone()),
                        path.clone(),
                    ));
                }
            }
        }
        n
    }
}
