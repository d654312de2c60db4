//! The ordered stage of `run` when correlations are loaded: correlation state follows the
//! stream, so events reach [`Correlating`] one at a time, in input order.
//!
//! - NDJSON: worker threads parse, match and write every event that matched no rule a
//!   correlation references ([`super::blocks`], [`crate::transform::correlating::prepare`]);
//!   here their lines go out in order, each moving event time on, and the few deferred
//!   lines go through the stage whole ([`steps`]).
//! - EVTX files: one record at a time, in file order ([`run_evtx`]).

use std::io::{self, Write};
use std::path::Path;

use super::blocks::{self, Step};
use super::run::Tally;
use crate::adapter::evtx;
use crate::transform::SigmaTransform;
use crate::transform::correlating::Correlating;
use crate::transform::{Route, TransformScratch};

/// Where lines go.
pub struct Sinks<'a> {
    pub main: &'a mut dyn Write,
    pub unmatched: Option<&'a mut dyn Write>,
    /// Alert lines; `None`: after their event in the main output.
    pub alerts: Option<&'a mut dyn Write>,
}

impl Sinks<'_> {
    fn event(&mut self, route: Route, bytes: &[u8], terminator: &[u8]) -> io::Result<()> {
        let w: &mut dyn Write = match route {
            Route::Discarded => return Ok(()),
            Route::Unmatched => match self.unmatched.as_mut() {
                Some(u) => &mut **u,
                None => return Ok(()),
            },
            Route::Default | Route::Matched | Route::Correlations => &mut *self.main,
        };
        w.write_all(bytes)?;
        w.write_all(terminator)
    }

    fn alerts(&mut self, alerts: &mut Vec<Vec<u8>>) -> io::Result<()> {
        let w: &mut dyn Write = match self.alerts.as_mut() {
            Some(a) => &mut **a,
            None => &mut *self.main,
        };
        for a in alerts.drain(..) {
            w.write_all(&a)?;
            w.write_all(b"\n")?;
        }
        Ok(())
    }
}

/// The ordered half of a block the worker threads prepared ([`blocks::Done::steps`]):
/// each line they wrote goes out, then the alert lines its time released; each line they
/// deferred goes through the stage whole, its alerts after it. The output is what
/// [`Correlating::process_line`] on every line in turn writes.
pub fn steps(
    stage: &mut Correlating<&SigmaTransform>,
    scratch: &mut TransformScratch,
    done: &blocks::Done,
    tally: &mut Tally,
    sinks: &mut Sinks<'_>,
) -> io::Result<()> {
    let (mut main, mut unmatched) = (0, 0);
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    for step in &done.steps {
        match step {
            Step::Written {
                main: m,
                unmatched: u,
                time,
            } => {
                // The worker applied the route: each buffer holds what goes to its sink.
                sinks.main.write_all(&done.buf.main[main..*m])?;
                if let Some(w) = sinks.unmatched.as_mut() {
                    w.write_all(&done.buf.unmatched[unmatched..*u])?;
                }
                (main, unmatched) = (*m, *u);
                if let Some(time) = time {
                    stage.advance(*time, &mut alerts);
                    sinks.alerts(&mut alerts)?;
                }
            }
            Step::Deferred { line, terminator } => {
                let line = &done.deferred[line.clone()];
                let terminator = &done.deferred[terminator.clone()];
                let mut buffers = (&mut out, &mut alerts);
                one(stage, scratch, line, terminator, tally, sinks, &mut buffers)?;
            }
        }
    }
    Ok(())
}

/// One event (`line`, no terminator) through the stage, to the sinks, its alerts after it.
fn one(
    stage: &mut Correlating<&SigmaTransform>,
    scratch: &mut TransformScratch,
    line: &[u8],
    terminator: &[u8],
    tally: &mut Tally,
    sinks: &mut Sinks<'_>,
    (out, alerts): &mut (&mut Vec<u8>, &mut Vec<Vec<u8>>),
) -> io::Result<()> {
    out.clear();
    let (outcome, route) = stage.process_line(line, scratch, out, alerts);
    super::run::record_line(stage.engine(), scratch, outcome, route, tally);
    sinks.event(route, out, terminator)?;
    sinks.alerts(alerts)
}

/// The records of EVTX file `path`, in file order, through `stage`, each with the file it
/// came from (`log.file.path`). `Err` inside `Ok` is why the file could not be read at all
/// (records that cannot be parsed are counted in `tally.bad_records` and skipped); the
/// outer `Err` is a write error, after which no more records are read.
pub fn run_evtx(
    stage: &mut Correlating<&SigmaTransform>,
    scratch: &mut TransformScratch,
    path: &Path,
    tally: &mut Tally,
    sinks: &mut Sinks<'_>,
) -> io::Result<Result<(), String>> {
    let source = evtx::source_member(path);
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    let mut written = Ok(());
    let read = evtx::for_each_record(path, |record| {
        if written.is_err() || super::stop::requested() {
            return;
        }
        match record {
            Ok(mut json) => {
                evtx::add_source(&mut json, &source);
                let mut buffers = (&mut out, &mut alerts);
                written = one(stage, scratch, &json, b"\n", tally, sinks, &mut buffers);
            }
            Err(_) => tally.bad_records += 1,
        }
    });
    written?;
    Ok(read.map_err(|e| e.to_string()))
}

/// End of every input: the windows still open are decided and their alerts written.
pub fn finish(stage: &mut Correlating<&SigmaTransform>, sinks: &mut Sinks<'_>) -> io::Result<()> {
    let mut alerts = Vec::new();
    stage.finish(&mut alerts);
    sinks.alerts(&mut alerts)
}
