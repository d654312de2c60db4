//! NDJSON input of `run` on several threads. A reader thread cuts the input into blocks of
//! whole lines (at most [`BLOCK_BYTES`] or [`BLOCK_LINES`]; from standard input also
//! wherever no more input is ready, so a live pipe is not held back), the transform threads
//! process blocks as they come, and the calling thread writes the results in input order.
//! At most `2 * threads + 2` blocks are in flight, so a slow writer slows the reader
//! instead of growing memory. An input error ends the file after every line read before
//! it has been written.

use std::collections::BTreeMap;
use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use super::input::Input;
use super::run::{Buffers, Tally, one};
use crate::transform::Outcome;
use crate::transform::stage::SigmaTransform;

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
    /// The block ended because no more input was ready: flush what is written.
    pub idle: bool,
}

struct Block {
    seq: u64,
    first_line: u64,
    bytes: Vec<u8>,
    idle: bool,
}

/// Runs the transform over `reader` on `threads` threads; `emit` gets the blocks in order.
/// `Err` is the input's read error, returned after everything before it was emitted.
pub fn run(
    t: &SigmaTransform,
    reader: &mut Input,
    threads: usize,
    live: bool,
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
    std::thread::scope(|s| {
        let stop_ref = &stop;
        let reader_thread = s.spawn(move || read_blocks(reader, live, stop_ref, &token_rx, job_tx));
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
                    let done = process(t, &mut scratch, &mut tmp, &block, rules);
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

/// Cuts the input into blocks of whole lines.
fn read_blocks(
    reader: &mut Input,
    live: bool,
    stop: &AtomicBool,
    tokens: &mpsc::Receiver<()>,
    jobs: mpsc::SyncSender<Block>,
) -> Result<(), io::Error> {
    let mut seq = 0;
    let mut line_no = 0u64;
    loop {
        if tokens.recv().is_err() || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut bytes = Vec::new();
        let first_line = line_no + 1;
        let mut lines = 0;
        let mut result = Ok(());
        let mut ended = false;
        let mut idle = false;
        loop {
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(_) => {
                    lines += 1;
                    idle = live && reader.buffer().is_empty();
                    if idle || bytes.len() >= BLOCK_BYTES || lines >= BLOCK_LINES {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    ended = true;
                    break;
                }
            }
        }
        line_no += lines as u64;
        if !bytes.is_empty() {
            let block = Block {
                seq,
                first_line,
                bytes,
                idle: idle || ended,
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

/// One block through the transform, line by line.
fn process(
    t: &SigmaTransform,
    scratch: &mut crate::transform::TransformScratch,
    tmp: &mut Vec<u8>,
    block: &Block,
    rules: usize,
) -> Done {
    let mut done = Done {
        buf: Buffers {
            main: Vec::with_capacity(block.bytes.len() + block.bytes.len() / 4),
            unmatched: Vec::new(),
        },
        tally: Tally::new(rules),
        unparsed: Vec::new(),
        idle: block.idle,
    };
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
        let outcome = one(
            t,
            scratch,
            &line[..end],
            terminator,
            &mut done.tally,
            &mut done.buf,
            tmp,
        );
        if outcome == Outcome::Unparsed {
            done.unparsed.push(line_no);
        }
    }
    done
}
