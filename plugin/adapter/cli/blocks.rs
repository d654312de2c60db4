//! NDJSON input of `run` on several threads. A reader thread cuts the input into blocks of
//! whole lines (at most [`BLOCK_BYTES`] or [`BLOCK_LINES`]; from standard input also
//! wherever no more input is ready, so a live pipe is not held back), the transform threads
//! process blocks as they come, and the calling thread writes the results in input order.
//! At most `2 * threads + 2` blocks are in flight, so a slow writer slows the reader
//! instead of growing memory. An input error ends the file after every line read before
//! it has been written.
//!
//! A line longer than `max_line` bytes is never held whole: it is passed through
//! unchanged in pieces of at most [`BLOCK_BYTES`] (it cannot be an event the transform
//! reads), routed as an unparsable line and counted as one. Memory is therefore bounded
//! by the blocks in flight whatever the input (a gzip bomb of one 1 GB line included).

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use super::input::Input;
use super::run::{Buffers, Tally, one, record_line};
use crate::transform::correlating::{Prepared, prepare};
use crate::transform::stage::SigmaTransform;
use crate::transform::{Outcome, Route};

/// Most bytes in one block.
pub const BLOCK_BYTES: usize = 1 << 20;
/// Most lines in one block.
pub const BLOCK_LINES: usize = 4096;

/// A processed block.
pub struct Done {
    pub buf: Buffers,
    pub tally: Tally,
    /// Line numbers (1-based, in the input) of lines that were not JSON objects.
    pub unparsed: Vec<u64>,
    /// Line numbers of lines longer than the limit (passed through, counted as unparsed).
    pub too_long: Vec<u64>,
    /// The block ended because no more input was ready: flush what is written.
    pub idle: bool,
    /// With correlations: what the ordered stage does for each line, in order (empty for
    /// a piece of a line over the limit, and without correlations).
    pub steps: Vec<Step>,
    /// With correlations: the lines the ordered stage processes whole, end to end.
    pub deferred: Vec<u8>,
}

/// One line of a block, for the ordered correlation stage (`run`'s emitter).
pub enum Step {
    /// Written by the worker: `main` and `unmatched` are where its output ends in the
    /// block's buffers; `time` moves the stream on ([`Prepared::Done`]).
    Written {
        main: usize,
        unmatched: usize,
        time: Option<Option<i64>>,
    },
    /// To be processed whole: the line and its terminator in [`Done::deferred`].
    Deferred {
        line: std::ops::Range<usize>,
        terminator: std::ops::Range<usize>,
    },
}

struct Block {
    seq: u64,
    first_line: u64,
    bytes: Vec<u8>,
    idle: bool,
    /// A piece of a line longer than the limit: written as it is; `true` when the piece
    /// ends the line (it is then counted, once).
    raw: Option<bool>,
}

/// Runs the transform over `reader` on `threads` threads; `emit` gets the blocks in order.
/// `Err` is the input's read error, returned after everything before it was emitted.
pub fn run(
    t: &SigmaTransform,
    reader: &mut Input,
    threads: usize,
    live: bool,
    max_line: usize,
    mut emit: impl FnMut(Done) -> Result<(), io::Error>,
) -> Result<Result<(), io::Error>, io::Error> {
    let threads = threads.max(1);
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = mpsc::sync_channel::<Block>(threads);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, Done)>();
    let (token_tx, token_rx) = mpsc::sync_channel::<()>(2 * threads + 2);
    for _ in 0..2 * threads + 2 {
        token_tx.send(()).expect("the receiver is alive");
    }
    let rules = t.engine().rules().len();
    let correlating = !t.correlations().is_empty();
    std::thread::scope(|s| {
        let stop_ref = &stop;
        let reader_thread =
            s.spawn(move || read_blocks(reader, live, max_line, stop_ref, &token_rx, job_tx));
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            s.spawn(move || {
                let mut scratch = t.scratch();
                let mut tmp = Vec::new();
                loop {
                    let block = match job_rx.lock().expect("job queue lock").recv() {
                        Ok(b) => b,
                        Err(_) => return,
                    };
                    let done = process(t, &mut scratch, &mut tmp, &block, rules, correlating);
                    if done_tx.send((block.seq, done)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        // Write in order.
        let mut pending: BTreeMap<u64, Done> = BTreeMap::new();
        let mut next = 0u64;
        let mut write_error = None;
        for (seq, done) in done_rx.iter() {
            pending.insert(seq, done);
            while let Some(done) = pending.remove(&next) {
                next += 1;
                if write_error.is_none()
                    && let Err(e) = emit(done)
                {
                    write_error = Some(e);
                    stop.store(true, Ordering::Relaxed);
                }
                let _ = token_tx.send(());
            }
        }
        let read = reader_thread
            .join()
            .expect("the reader thread does not panic");
        match write_error {
            Some(e) => Err(e),
            None => Ok(read),
        }
    })
}

/// Cuts the input into blocks of whole lines; a line longer than `max_line` goes out in
/// raw pieces instead.
fn read_blocks(
    reader: &mut Input,
    live: bool,
    max_line: usize,
    stop: &AtomicBool,
    tokens: &mpsc::Receiver<()>,
    jobs: mpsc::SyncSender<Block>,
) -> Result<(), io::Error> {
    let max_line = max_line.max(1);
    let mut seq = 0;
    let mut line_no = 0u64;
    // Inside a line longer than the limit: its pieces are passed through.
    let mut oversized = false;
    // The start of a line whose end has not arrived, held over from the last block.
    let mut carry = Vec::new();
    loop {
        if tokens.recv().is_err() || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        // SIGTERM: a file stops here, between blocks; standard input ends once what was
        // read is taken (super::stop::StopAwareStdin).
        if !live && super::stop::requested() {
            return Ok(());
        }
        let mut bytes = std::mem::take(&mut carry);
        let first_line = line_no + 1;
        let mut lines = 0u64;
        // Where the line being read starts in `bytes`.
        let mut line_start = 0;
        let mut result = Ok(());
        let mut ended = false;
        let mut idle = false;
        let mut raw = None;
        loop {
            let buf = match reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    result = Err(e);
                    ended = true;
                    break;
                }
            };
            if buf.is_empty() {
                ended = true;
                if oversized {
                    raw = Some(true);
                }
                break;
            }
            let newline = memchr::memchr(b'\n', buf);
            let take = newline.map_or(buf.len(), |i| i + 1);
            if oversized {
                // A piece of the long line: at most a block's worth, then out it goes.
                let take = take.min(BLOCK_BYTES.saturating_sub(bytes.len()));
                bytes.extend_from_slice(&buf[..take]);
                reader.consume(take);
                let line_ended = newline.is_some_and(|i| i < take);
                if line_ended || bytes.len() >= BLOCK_BYTES {
                    raw = Some(line_ended);
                    if line_ended {
                        oversized = false;
                        lines = 1;
                    }
                    break;
                }
                continue;
            }
            let line_len = bytes.len() - line_start + take;
            if line_len > max_line + 1 || (newline.is_none() && line_len > max_line) {
                // Too long: the whole lines before it go out as a block of their own, the
                // line so far (at most the limit and one buffer) as its first raw piece.
                bytes.extend_from_slice(&buf[..take]);
                reader.consume(take);
                let piece = bytes.split_off(line_start);
                if !bytes.is_empty() {
                    let block = Block {
                        seq,
                        first_line,
                        bytes,
                        idle: false,
                        raw: None,
                    };
                    seq += 1;
                    if jobs.send(block).is_err() {
                        return result;
                    }
                    line_no += lines;
                    // The next block needs its own token.
                    if tokens.recv().is_err() || stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
                bytes = piece;
                lines = 0;
                line_start = 0;
                if newline.is_some() {
                    // The line ended in this buffer: one piece is all of it.
                    raw = Some(true);
                    lines = 1;
                    break;
                }
                oversized = true;
                if bytes.len() >= BLOCK_BYTES {
                    raw = Some(false);
                    break;
                }
                continue;
            }
            bytes.extend_from_slice(&buf[..take]);
            reader.consume(take);
            if newline.is_some() {
                lines += 1;
                line_start = bytes.len();
                idle = live && reader.buffer().is_empty();
                if idle || bytes.len() >= BLOCK_BYTES || lines >= BLOCK_LINES as u64 {
                    break;
                }
            } else if live && lines > 0 && reader.buffer().is_empty() {
                // The start of a line whose end has not arrived: the whole lines before
                // it go out now, and it waits in the next block.
                carry = bytes.split_off(line_start);
                idle = true;
                break;
            }
        }
        let first_line = if raw.is_some() {
            line_no + 1
        } else {
            first_line
        };
        line_no += lines;
        if !bytes.is_empty() || raw == Some(true) {
            let block = Block {
                seq,
                first_line,
                bytes,
                idle: idle || ended,
                raw,
            };
            seq += 1;
            if jobs.send(block).is_err() {
                return result;
            }
        }
        if ended {
            return result;
        }
    }
}

/// One block through the transform, line by line (with correlations, through
/// [`prepare`], leaving what needs the correlation state to the ordered stage).
fn process(
    t: &SigmaTransform,
    scratch: &mut crate::transform::TransformScratch,
    tmp: &mut Vec<u8>,
    block: &Block,
    rules: usize,
    correlating: bool,
) -> Done {
    let mut done = Done {
        buf: Buffers {
            main: Vec::with_capacity(block.bytes.len() + block.bytes.len() / 4),
            unmatched: Vec::new(),
        },
        tally: Tally::new(rules),
        unparsed: Vec::new(),
        too_long: Vec::new(),
        idle: block.idle,
        steps: Vec::new(),
        deferred: Vec::new(),
    };
    if let Some(line_ended) = block.raw {
        // A piece of a line over the limit: as it is, where an unparsable line goes.
        let route = t.engine().route(Outcome::Unparsed);
        let target = match route {
            crate::transform::Route::Unmatched => &mut done.buf.unmatched,
            crate::transform::Route::Discarded => return done,
            _ => &mut done.buf.main,
        };
        target.extend_from_slice(&block.bytes);
        // Like every output line, one cut short by the end of input gets its line end.
        if line_ended && !block.bytes.ends_with(b"\n") {
            target.push(b'\n');
        }
        if line_ended {
            done.tally.counters.record_routed(Outcome::Unparsed, route);
            done.tally.too_long += 1;
            done.too_long.push(block.first_line);
        }
        return done;
    }
    let lines = block.bytes.split_inclusive(|b| *b == b'\n');
    for (line_no, line) in (block.first_line..).zip(lines) {
        let mut end = line.len();
        if line[..end].ends_with(b"\n") {
            end -= 1;
        }
        if line[..end].ends_with(b"\r") {
            end -= 1;
        }
        let terminator: &[u8] = if end < line.len() {
            &line[end..]
        } else {
            b"\n"
        };
        let outcome = if correlating {
            prepared(t, scratch, &line[..end], terminator, &mut done)
        } else {
            one(
                t,
                scratch,
                &line[..end],
                terminator,
                &mut done.tally,
                &mut done.buf,
                tmp,
            )
        };
        if outcome == Outcome::Unparsed {
            done.unparsed.push(line_no);
        }
    }
    done
}

/// One line of a stream with correlations, on a worker: written and counted, with the
/// step the ordered stage takes for it; or kept for the ordered stage whole.
fn prepared(
    t: &SigmaTransform,
    scratch: &mut crate::transform::TransformScratch,
    line: &[u8],
    terminator: &[u8],
    done: &mut Done,
) -> Outcome {
    let mut out = std::mem::take(&mut done.buf.main);
    let before = out.len();
    let p = prepare(t, line, scratch, &mut out);
    let Prepared::Done {
        outcome,
        route,
        time,
    } = p
    else {
        done.buf.main = out;
        let start = done.deferred.len();
        done.deferred.extend_from_slice(line);
        let end = done.deferred.len();
        done.deferred.extend_from_slice(terminator);
        done.steps.push(Step::Deferred {
            line: start..end,
            terminator: end..done.deferred.len(),
        });
        // Counted by the ordered stage, which processes it.
        return Outcome::Blank;
    };
    record_line(t.engine(), scratch, outcome, route, &mut done.tally);
    // The event went to the main buffer; move it where its route says.
    match route {
        Route::Discarded => out.truncate(before),
        Route::Unmatched => {
            done.buf.unmatched.extend_from_slice(&out[before..]);
            done.buf.unmatched.extend_from_slice(terminator);
            out.truncate(before);
        }
        Route::Default | Route::Matched | Route::Correlations => out.extend_from_slice(terminator),
    }
    done.buf.main = out;
    done.steps.push(Step::Written {
        main: done.buf.main.len(),
        unmatched: done.buf.unmatched.len(),
        time,
    });
    outcome
}
