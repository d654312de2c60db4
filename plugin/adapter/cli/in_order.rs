//! Input of `run` when correlations are loaded: NDJSON one line at a time and EVTX files
//! one record at a time, in input order, through [`Correlating`] (correlation state
//! follows the stream, so this path is sequential; matching costs what it costs on the
//! parallel path, on one thread).
//!
//! A line longer than `max_line` bytes is passed through unchanged in pieces and counted,
//! as on the parallel path ([`super::blocks`]): memory stays bounded whatever the input.

use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use super::input::Input;
use super::run::Tally;
use crate::adapter::evtx;
use crate::transform::SigmaTransform;
use crate::transform::correlating::Correlating;
use crate::transform::{Outcome, Route, TransformScratch};

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

/// Runs `reader` through `stage`. `Err` inside `Ok` is the input's read error, returned
/// after every line before it was written; the outer `Err` is a write error.
pub fn run(
    stage: &mut Correlating<&SigmaTransform>,
    scratch: &mut TransformScratch,
    reader: &mut Input,
    max_line: usize,
    tally: &mut Tally,
    sinks: &mut Sinks<'_>,
) -> io::Result<io::Result<()>> {
    let max_line = max_line.max(1);
    let mut line = Vec::new();
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    loop {
        line.clear();
        let n = match (&mut *reader)
            .take(max_line as u64 + 1)
            .read_until(b'\n', &mut line)
        {
            Ok(n) => n,
            Err(e) => return Ok(Err(e)),
        };
        if n == 0 {
            break;
        }
        if !line.ends_with(b"\n") && line.len() > max_line {
            // Too long: the piece and the rest of the line pass through as they are.
            let route = stage_route(stage, Outcome::Unparsed);
            sinks.event(route, &line, b"")?;
            loop {
                line.clear();
                match (&mut *reader).take(1 << 20).read_until(b'\n', &mut line) {
                    Ok(0) => {
                        sinks.event(route, b"", b"\n")?;
                        break;
                    }
                    Ok(_) => {
                        let ended = line.ends_with(b"\n");
                        sinks.event(route, &line, b"")?;
                        if ended {
                            break;
                        }
                    }
                    Err(e) => return Ok(Err(e)),
                }
            }
            tally.counters.record_routed(Outcome::Unparsed, route);
            tally.too_long += 1;
            continue;
        }
        let mut end = line.len();
        if line[..end].ends_with(b"\n") {
            end -= 1;
        }
        if line[..end].ends_with(b"\r") {
            end -= 1;
        }
        let terminator: Vec<u8> = if end < line.len() {
            line[end..].to_vec()
        } else {
            b"\n".to_vec()
        };
        let mut buffers = (&mut out, &mut alerts);
        one(
            stage,
            scratch,
            &line[..end],
            &terminator,
            tally,
            sinks,
            &mut buffers,
        )?;
    }
    Ok(Ok(()))
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
    tally.counters.record_routed(outcome, route);
    tally.counters.record_reading(stage.engine(), scratch);
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

fn stage_route(stage: &Correlating<&SigmaTransform>, o: Outcome) -> Route {
    stage.route(o)
}
