//! `sigma-transform run`: the transform over NDJSON. One output line per input line, in
//! order; lines that are not JSON objects pass through unchanged, counted and reported.

use std::io::{self, BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use super::{CliError, RunArgs, input};
use crate::ruleset::RuleSet;
use crate::transform::{Counters, Outcome, Transform, TransformOptions};

/// How many unparsable lines get their own warning before they are only counted.
const WARN_LIMIT: u64 = 10;

pub fn run(args: RunArgs) -> Result<ExitCode, CliError> {
    let started = Instant::now();
    let map = args.opts.mapping()?;
    let build = args.opts.build()?;
    let set = RuleSet::load(&args.rules, &build);
    for r in &set.rejected {
        eprintln!("sigma-transform: warning: rule rejected: {r}");
    }
    if args.opts.strict && !set.rejected.is_empty() {
        return Err(CliError::Strict(set.rejected.len()));
    }
    let loaded = set.rules.len();
    let rejected = set.rejected.len();
    let transform = Transform::new(set.rules, &map, TransformOptions { field: args.field.clone() });
    let compiled = started.elapsed();
    let inputs = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs.clone()
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut scratch = transform.scratch();
    let mut counters = Counters::default();
    let mut line = Vec::new();
    let mut buf = Vec::new();
    for path in &inputs {
        let mut reader = input::open(path).map_err(|error| CliError::Read {
            path: path.clone(),
            error,
        })?;
        let mut line_no = 0u64;
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|error| CliError::Read {
                path: path.clone(),
                error,
            })?;
            if n == 0 {
                break;
            }
            line_no += 1;
            let mut body_end = line.len();
            if line[..body_end].ends_with(b"\n") {
                body_end -= 1;
            }
            if line[..body_end].ends_with(b"\r") {
                body_end -= 1;
            }
            buf.clear();
            let outcome = transform.process_line(&line[..body_end], &mut scratch, &mut buf);
            if outcome == Outcome::Unparsed {
                if counters.unparsed < WARN_LIMIT {
                    eprintln!(
                        "sigma-transform: warning: {}:{line_no}: not a JSON object; passed through unchanged",
                        path.display()
                    );
                } else if counters.unparsed == WARN_LIMIT {
                    eprintln!("sigma-transform: warning: further unparsable lines are only counted");
                }
            }
            counters.record(outcome);
            out.write_all(&buf)?;
            if body_end < line.len() {
                out.write_all(&line[body_end..])?;
            } else {
                out.write_all(b"\n")?;
            }
        }
    }
    out.flush()?;
    if !args.quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "sigma-transform: {loaded} rules loaded ({rejected} rejected, {} will not fire), compiled in {:.2}s; \
             {} events, {} matched ({} matches), {} unparsable lines passed through; {:.2}s",
            transform.notes().len(),
            compiled.as_secs_f64(),
            counters.events,
            counters.matched_events,
            counters.matches,
            counters.unparsed,
            secs
        );
    }
    Ok(ExitCode::SUCCESS)
}
