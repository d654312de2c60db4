//! `sigma-transform run`: the transform over NDJSON streams (files, `.gz`, standard input)
//! and EVTX files or folders. One output line per input line or record, in order; lines
//! that are not JSON objects pass through unchanged, counted and reported. EVTX files are
//! read in parallel (one file per thread) and written in the order given.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::output::{note, note_raw, warn_note};
use super::{CliError, RunArgs, blocks, evtx_files, in_order, input, timeline};
use crate::adapter::evtx;
use crate::config::{Mode, SigmaConfig};
use crate::event::inserts::Fit;
use crate::transform::stage::SigmaTransform;
use crate::transform::{Counters, Outcome, Route, TransformScratch};

/// How many unparsable lines get their own warning before they are only counted.
const WARN_LIMIT: u64 = 10;

/// Everything counted during a run.
#[derive(Default)]
pub(super) struct Tally {
    pub(super) counters: Counters,
    per_rule: Vec<u64>,
    pub(super) bad_records: u64,
    no_template: u64,
    /// Fluent Bit events whose inserts were named other than exactly: by a prefix of the
    /// template, with extra inserts, from another version.
    inserts_prefix: u64,
    inserts_extra: u64,
    inserts_other_version: u64,
    /// Lines longer than `--max-line-bytes`, passed through (also counted as unparsed).
    pub(super) too_long: u64,
    /// Events read by the lenient parser.
    lenient: u64,
    warned: u64,
}

impl Tally {
    pub(super) fn new(rules: usize) -> Tally {
        Tally {
            per_rule: vec![0; rules],
            ..Tally::default()
        }
    }

    /// How StringInserts were named other than exactly, for the summary (empty if never).
    fn inserts_note(&self) -> String {
        let parts: Vec<String> = [
            (self.inserts_prefix, "named by a template's prefix"),
            (self.inserts_extra, "with inserts past the template"),
            (
                self.inserts_other_version,
                "named by another version's template",
            ),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    }

    pub(super) fn merge(&mut self, other: Tally) {
        self.counters.merge(&other.counters);
        for (a, b) in self.per_rule.iter_mut().zip(other.per_rule) {
            *a += b;
        }
        self.bad_records += other.bad_records;
        self.no_template += other.no_template;
        self.inserts_prefix += other.inserts_prefix;
        self.inserts_extra += other.inserts_extra;
        self.inserts_other_version += other.inserts_other_version;
        self.too_long += other.too_long;
        self.lenient += other.lenient;
    }
}

/// Output of one event: the main stream (default or `matched`) or `_unmatched`.
#[derive(Default)]
pub(super) struct Buffers {
    pub(super) main: Vec<u8>,
    pub(super) unmatched: Vec<u8>,
}

/// Processes one event line (no terminator) and appends it, with `terminator`, to the
/// buffer its route selects.
pub(super) fn one(
    t: &SigmaTransform,
    scratch: &mut TransformScratch,
    line: &[u8],
    terminator: &[u8],
    tally: &mut Tally,
    buf: &mut Buffers,
    tmp: &mut Vec<u8>,
) -> Outcome {
    let engine = t.engine();
    tmp.clear();
    let outcome = engine.process_tagged(line, scratch, tmp);
    let route = engine.route(outcome);
    record(engine, scratch, outcome, route, tally);
    let target = match route {
        Route::Discarded => return outcome,
        Route::Unmatched => &mut buf.unmatched,
        Route::Default | Route::Matched | Route::Correlations => &mut buf.main,
    };
    target.extend_from_slice(if engine.last_changed(scratch) {
        tmp
    } else {
        line
    });
    target.extend_from_slice(terminator);
    outcome
}

/// Counts a line of the correlation paths: a blank or unparsable one by its outcome only
/// (nothing was read or matched, so the scratch holds the previous event's), an event as
/// [`record`] does.
pub(super) fn record_line(
    engine: &crate::transform::Transform,
    scratch: &TransformScratch,
    outcome: Outcome,
    route: Route,
    tally: &mut Tally,
) {
    if matches!(outcome, Outcome::Blank | Outcome::Unparsed) {
        tally.counters.record_routed(outcome, route);
    } else {
        record(engine, scratch, outcome, route, tally);
    }
}

/// Counts one processed line: its outcome and route, how it was read, the rules it matched.
pub(super) fn record(
    engine: &crate::transform::Transform,
    scratch: &TransformScratch,
    outcome: Outcome,
    route: Route,
    tally: &mut Tally,
) {
    tally.counters.record_routed(outcome, route);
    tally.counters.record_reading(engine, scratch);
    for &h in engine.last_hits(scratch) {
        tally.per_rule[h] += 1;
    }
    if engine.last_lacked_template(scratch) {
        tally.no_template += 1;
    }
    if engine.last_lenient(scratch) {
        tally.lenient += 1;
    }
    match engine.last_inserts_fit(scratch) {
        Some(Fit::Prefix) => tally.inserts_prefix += 1,
        Some(Fit::Extra) => tally.inserts_extra += 1,
        Some(Fit::OtherVersion) => tally.inserts_other_version += 1,
        _ => {}
    }
}

fn config_from(args: &RunArgs) -> Result<SigmaConfig, CliError> {
    let mut cfg = match &args.config {
        Some(path) => crate::config::load(path, args.id.as_deref())?.config,
        None => {
            if args.rules.is_empty() {
                return Err(CliError::Usage(
                    "give --rules PATH... or --config FILE".into(),
                ));
            }
            SigmaConfig::new(Vec::new())
        }
    };
    if !args.rules.is_empty() {
        cfg.rules = args.rules.clone();
    }
    cfg.filters.extend(args.filters.iter().cloned());
    if let Some(s) = args.shape {
        cfg.shape = s;
    }
    if let Some(o) = args.output {
        cfg.output = o;
    }
    if let Some(m) = args.mode {
        cfg.mode = m;
    }
    if let Some(f) = &args.field {
        cfg.field = f.clone();
    }
    if let Some(l) = args.min_level {
        cfg.min_level = Some(l);
    }
    if let Some(p) = &args.opts.logsources {
        cfg.logsources = Some(p.clone());
    }
    if let Some(p) = &args.opts.placeholders {
        cfg.placeholders = Some(p.clone());
    }
    cfg.strict |= args.opts.strict;
    cfg.allow_empty |= args.allow_empty;
    cfg.wrapped_json &= !args.no_wrapped_json;
    cfg.matched_fields |= args.matched_fields;
    Ok(cfg)
}

/// True for the files a folder input is searched for: EVTX and NDJSON (`.ndjson`,
/// `.jsonl`, and those gzip-compressed). `.json` files are left out of folder walks (tools
/// keep metadata and pretty-printed documents under that name) and counted in a note;
/// named as inputs, they are read.
fn is_input_file(p: &Path) -> bool {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase());
    let name = name.as_deref().unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    evtx::is_evtx(p) || name.ends_with(".ndjson") || name.ends_with(".jsonl")
}

/// `--rules` takes one path per flag: a rule path written after it as before
/// (`--rules a b`) is now an input. Such inputs are refused with the fix, never read as
/// events.
fn refuse_rules_as_inputs(given: &[PathBuf], inputs: &[PathBuf]) -> Result<(), CliError> {
    let is_rule = |p: &Path| {
        p.extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("yml") || e.eq_ignore_ascii_case("yaml"))
    };
    for p in given {
        let rules_folder = p.is_dir()
            && !inputs.iter().any(|i| i.starts_with(p))
            && !crate::document::rule_files(std::slice::from_ref(p))
                .files
                .is_empty();
        if is_rule(p) || rules_folder {
            return Err(CliError::Usage(format!(
                "{} looks like rules, but it is an input here: --rules takes one path per flag; write --rules {} (once per path) before the inputs",
                p.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

/// Inputs, and what a folder walk could not read or left out.
struct Expanded {
    inputs: Vec<PathBuf>,
    unreadable: Vec<(PathBuf, String)>,
    skipped: Vec<(PathBuf, String)>,
    /// Files in folders that are not inputs, by extension.
    others: std::collections::BTreeMap<String, usize>,
}

/// Expands folders into the input files below them ([`is_input_file`]); files and `-` are
/// taken as given.
fn expand_inputs(inputs: &[PathBuf]) -> Expanded {
    let mut e = Expanded {
        inputs: Vec::new(),
        unreadable: Vec::new(),
        skipped: Vec::new(),
        others: Default::default(),
    };
    for p in inputs {
        if p.as_os_str() != "-" && p.is_dir() {
            let others = std::cell::RefCell::new(std::collections::BTreeMap::new());
            let w = crate::walk::walk(std::slice::from_ref(p), &|f| {
                let wanted = is_input_file(f);
                if !wanted {
                    let ext = f.extension().map_or_else(
                        || "(none)".to_string(),
                        |x| format!(".{}", x.to_string_lossy()),
                    );
                    *others.borrow_mut().entry(ext).or_insert(0) += 1;
                }
                wanted
            });
            for (ext, n) in others.into_inner() {
                *e.others.entry(ext).or_default() += n;
            }
            e.inputs.extend(w.files);
            e.unreadable.extend(w.unreadable);
            e.skipped.extend(w.skipped);
        } else {
            e.inputs.push(p.clone());
        }
    }
    e
}

/// Progress on standard error when it is a terminal.
struct Progress {
    on: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn tick(&mut self, events: u64, files: Option<(usize, usize)>) {
        if !self.on || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let rate = events as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match files {
            Some((done, total)) => {
                note_raw!("\r{done}/{total} files, {events} events, {rate:.0} events/s   ")
            }
            None => note_raw!("\r{events} events, {rate:.0} events/s   "),
        }
    }

    fn clear(&self) {
        if self.on {
            note_raw!("\r\x1b[2K");
        }
    }
}

pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    // SIGTERM and SIGINT end the input as its end would (super::stop).
    super::stop::install();
    let mut cfg = config_from(&args)?;
    if args.format != timeline::Format::Ndjson {
        if args.unmatched.is_some() || cfg.mode == Mode::Route {
            return Err(CliError::Usage(
                "--format table|csv shows the detections of every event: it runs in mode tag, without --unmatched".into(),
            ));
        }
        cfg.mode = Mode::Tag;
        // The timeline reads the tag entries; how they would be written does not matter.
        cfg.output = crate::config::OutputProfile::Sigma;
    }
    if cfg.mode == Mode::Route && args.unmatched.is_none() {
        return Err(CliError::Usage(
            "mode route writes `matched` to standard output and needs --unmatched FILE for `_unmatched`".into(),
        ));
    }
    super::output::set_quiet(args.quiet);
    let t = SigmaTransform::from_config(&cfg)?;
    let report = t.report();
    for r in &report.rejected {
        warn_note!("sigma-transform: warning: rule rejected: {r}");
    }
    for w in &report.warnings {
        warn_note!("sigma-transform: warning: {w}");
    }
    let compiled = started.elapsed();
    let rules = t.engine().rules().len();
    let expanded = if args.inputs.is_empty() {
        expand_inputs(&[PathBuf::from("-")])
    } else {
        expand_inputs(&args.inputs)
    };
    let inputs = expanded.inputs;
    refuse_rules_as_inputs(&args.inputs, &inputs)?;
    for (p, why) in &expanded.skipped {
        warn_note!("sigma-transform: warning: {}: skipped: {why}", p.display());
    }
    if !expanded.others.is_empty() && !args.quiet {
        let list: Vec<String> = expanded
            .others
            .iter()
            .map(|(ext, n)| format!("{n} {ext}"))
            .collect();
        note!(
            "sigma-transform: note: folders searched for .evtx, .ndjson and .jsonl (also .gz); left out: {} (name a file to read it)",
            list.join(", ")
        );
    }
    // Inputs that cannot be read: reported after the others ran, and the exit status says so.
    let mut input_errors: Vec<String> = expanded
        .unreadable
        .iter()
        .map(|(p, why)| format!("{}: {why}", p.display()))
        .collect();
    let stdout = io::stdout();
    let timeline = (args.format != timeline::Format::Ndjson)
        .then(|| timeline::Timeline::new(args.format, t.engine()));
    let mut main_out = timeline::Output::new(
        io::BufWriter::with_capacity(1 << 16, stdout.lock()),
        timeline,
    );
    let create = |p: &Option<PathBuf>| -> Result<Option<io::BufWriter<std::fs::File>>, CliError> {
        p.as_ref()
            .map(|p| {
                std::fs::File::create(p)
                    .map(io::BufWriter::new)
                    .map_err(|error| CliError::Read {
                        path: p.clone(),
                        error,
                    })
            })
            .transpose()
    };
    let mut unmatched_out = create(&args.unmatched)?;
    let mut alerts_out = create(&args.correlations)?;
    // With correlations, every input is read in order on one thread (the state follows
    // the stream).
    let mut correlating = (!t.correlations().is_empty()).then(|| (t.correlating(), t.scratch()));
    let mut tally = Tally::new(rules);
    let mut progress = Progress {
        on: !args.quiet && io::stderr().is_terminal(),
        started,
        last: Instant::now(),
    };
    fn flush(
        buf: &mut Buffers,
        main_out: &mut dyn Write,
        unmatched: Option<&mut io::BufWriter<std::fs::File>>,
    ) -> io::Result<()> {
        main_out.write_all(&buf.main)?;
        buf.main.clear();
        if let Some(u) = unmatched {
            u.write_all(&buf.unmatched)?;
        }
        buf.unmatched.clear();
        Ok(())
    }
    let mut buf = Buffers {
        main: Vec::with_capacity(1 << 16),
        unmatched: Vec::new(),
    };
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    // Consecutive EVTX inputs run in parallel, a file per thread; NDJSON inputs in blocks
    // of lines on `threads` threads, written in order.
    let mut i = 0;
    while i < inputs.len() && !super::stop::requested() {
        if let Some((stage, scratch)) = correlating.as_mut()
            && evtx::is_evtx(&inputs[i])
        {
            let path = &inputs[i];
            i += 1;
            main_out.set_source(&path.display().to_string());
            let mut sinks = in_order::Sinks {
                main: &mut main_out,
                unmatched: unmatched_out.as_mut().map(|u| u as &mut dyn Write),
                alerts: alerts_out.as_mut().map(|a| a as &mut dyn Write),
            };
            let bad_before = tally.bad_records;
            let read = in_order::run_evtx(stage, scratch, path, &mut tally, &mut sinks)?;
            main_out.flush()?;
            if tally.bad_records > bad_before {
                warn_note!(
                    "sigma-transform: warning: {}: {} record(s) could not be parsed and were skipped",
                    path.display(),
                    tally.bad_records - bad_before
                );
            }
            input_errors.extend(read.err());
            continue;
        }
        if evtx::is_evtx(&inputs[i]) {
            let start = i;
            while i < inputs.len() && evtx::is_evtx(&inputs[i]) {
                i += 1;
            }
            let batch = &inputs[start..i];
            let before = tally.counters.events;
            let streamed = evtx_files::run(
                &t,
                batch,
                threads,
                before,
                |events, done| progress.tick(events, Some((done, batch.len()))),
                |k, piece| match piece {
                    evtx_files::Piece::Records(mut file_buf, file_tally) => {
                        if file_tally.bad_records > 0 {
                            warn_note!(
                                "sigma-transform: warning: {}: {} record(s) could not be parsed and were skipped",
                                batch[k].display(),
                                file_tally.bad_records
                            );
                        }
                        tally.merge(file_tally);
                        main_out.set_source(&batch[k].display().to_string());
                        flush(&mut file_buf, &mut main_out, unmatched_out.as_mut())
                    }
                    evtx_files::Piece::End(error) => {
                        input_errors.extend(error);
                        main_out.flush()
                    }
                },
            );
            streamed?;
            continue;
        }
        let path = &inputs[i];
        i += 1;
        let mut reader = match input::open(path) {
            Ok(r) => r,
            Err(error) => {
                input_errors.push(format!("{}: {error}", path.display()));
                continue;
            }
        };
        let shown = if path.as_os_str() == "-" {
            "<stdin>".to_string()
        } else {
            path.display().to_string()
        };
        let live = path.as_os_str() == "-";
        main_out.set_source(&shown);
        let max_line = args.max_line_bytes;
        let read = blocks::run(&t, &mut reader, threads, live, max_line, |mut done| {
            tally.merge(std::mem::take(&mut done.tally));
            let lines = done
                .unparsed
                .iter()
                .map(|n| (*n, "not a JSON object".to_string()))
                .chain(
                    done.too_long
                        .iter()
                        .map(|n| (*n, format!("longer than {max_line} bytes"))),
                );
            for (line_no, why) in lines {
                if tally.warned < WARN_LIMIT {
                    warn_note!(
                        "sigma-transform: warning: {shown}:{line_no}: {why}; passed through unchanged"
                    );
                } else if tally.warned == WARN_LIMIT {
                    warn_note!(
                        "sigma-transform: warning: further unparsable lines are only counted"
                    );
                }
                tally.warned += 1;
            }
            match correlating.as_mut() {
                // With correlations: in order through the correlation stage.
                Some((stage, scratch)) if !done.steps.is_empty() => {
                    let mut sinks = in_order::Sinks {
                        main: &mut main_out,
                        unmatched: unmatched_out.as_mut().map(|u| u as &mut dyn Write),
                        alerts: alerts_out.as_mut().map(|a| a as &mut dyn Write),
                    };
                    in_order::steps(stage, scratch, &done, &mut tally, &mut sinks)?;
                }
                _ => flush(&mut done.buf, &mut main_out, unmatched_out.as_mut())?,
            }
            if done.idle {
                main_out.flush()?;
                if let Some(a) = alerts_out.as_mut() {
                    a.flush()?;
                }
            }
            progress.tick(tally.counters.events, None);
            Ok(())
        })?;
        if let Err(error) = read {
            input_errors.push(format!("{shown}: {error}"));
        }
        flush(&mut buf, &mut main_out, unmatched_out.as_mut())?;
    }
    if let Some((stage, _)) = correlating.as_mut() {
        let mut sinks = in_order::Sinks {
            main: &mut main_out,
            unmatched: None,
            alerts: alerts_out.as_mut().map(|a| a as &mut dyn Write),
        };
        in_order::finish(stage, &mut sinks)?;
        let c = stage.correlator().counters;
        if !args.quiet {
            note!(
                "sigma-transform: correlations: {} evaluated, {} fired; {} events without a time of their own, {} hits too late, {} without a group-by or value field, {} groups and {} hits evicted",
                t.report().correlations,
                c.firings,
                c.arrival_time,
                c.too_late,
                c.missing_field,
                c.evicted_groups,
                c.evicted_entries
            );
        }
    }
    main_out.flush()?;
    if let Some(u) = unmatched_out.as_mut() {
        u.flush()?;
    }
    if let Some(a) = alerts_out.as_mut() {
        a.flush()?;
    }
    progress.clear();
    if !args.quiet {
        summary(&t, &tally, compiled, started.elapsed() - compiled);
    }
    for e in &input_errors {
        note!("sigma-transform: error: cannot read {e}");
    }
    Ok(if input_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// The closing summary; `elapsed` is the time spent on events (compile time is reported
/// apart, so the rate is the transform's).
fn summary(t: &SigmaTransform, tally: &Tally, compiled: Duration, elapsed: Duration) {
    let report = t.report();
    let engine = t.engine();
    let c = &tally.counters;
    let secs = elapsed.as_secs_f64();
    note!(
        "sigma-transform: {} rules and {} filters loaded of {} ({} rejected, {} not evaluated, {} deselected, {} will not fire), compiled in {:.2}s",
        engine.rules().len(),
        report.filters,
        report.total,
        report.rejected.len(),
        report.not_evaluated.len(),
        report.deselected,
        engine.notes().len(),
        compiled.as_secs_f64()
    );
    let mut by_level: std::collections::BTreeMap<&str, u64> = Default::default();
    for (r, n) in tally.per_rule.iter().enumerate() {
        if *n > 0 {
            *by_level
                .entry(engine.rules()[r].meta.level.as_deref().unwrap_or("none"))
                .or_default() += n;
        }
    }
    let levels: Vec<String> = by_level.iter().map(|(l, n)| format!("{l} {n}")).collect();
    note!(
        "sigma-transform: {} events{}, {} matched ({} matches{}{}), {} unparsable lines passed through{}, {} discarded, {} bad EVTX records skipped, {} events without a StringInserts template{}; {:.2}s, {:.0} events/s",
        c.events,
        if tally.lenient > 0 {
            format!(
                " ({} read leniently: invalid UTF-8, lone surrogates, numbers out of range or deep nesting)",
                tally.lenient
            )
        } else {
            String::new()
        },
        c.matched_events,
        c.matches,
        if levels.is_empty() { "" } else { ": " },
        levels.join(", "),
        c.unparsed,
        if tally.too_long > 0 {
            format!(" ({} longer than the line limit)", tally.too_long)
        } else {
            String::new()
        },
        c.discarded,
        tally.bad_records,
        tally.no_template,
        tally.inserts_note(),
        secs,
        c.events as f64 / secs.max(1e-9)
    );
    if c.unwrapped > 0 {
        note!(
            "sigma-transform: {} events were matched on the JSON event in their `message` or `log` string (wrapped_json)",
            c.unwrapped
        );
    }
    if c.unknown_shape > 0 {
        warn_note!(
            "sigma-transform: warning: {} events are of no known shape (flat, with no EventID): Windows rules cannot match them. Is the event JSON inside a string field (set the shipper's JSON codec or parser), or under another name? docs/shapes.md lists the shapes",
            c.unknown_shape
        );
    }
    let mut top: Vec<(usize, u64)> = tally
        .per_rule
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, n)| *n > 0)
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (r, n) in top.iter().take(5) {
        let m = &engine.rules()[*r].meta;
        note!(
            "sigma-transform:   {n:>7}  {} [{}] {}",
            m.title,
            m.level.as_deref().unwrap_or("-"),
            m.id.as_deref().unwrap_or("")
        );
    }
}
