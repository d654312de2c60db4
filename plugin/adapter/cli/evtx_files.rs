//! EVTX inputs of `run` on several threads, streamed in input order with bounded memory.
//!
//! Each worker takes the next file and sends its output in pieces of at most
//! [`PIECE_BYTES`] through the file's own channel of [`PIECES_IN_FLIGHT`] pieces; the
//! calling thread writes file after file, each piece as it comes. A worker ahead of the
//! writer waits once its file's channel is full, so at most `threads * PIECES_IN_FLIGHT`
//! pieces are held, however many and however large the files: output starts with the
//! first file's first piece, not after the last file.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::run::{Buffers, Tally, one};
use crate::adapter::evtx;
use crate::transform::stage::SigmaTransform;

/// Output bytes in one piece.
pub const PIECE_BYTES: usize = 1 << 20;
/// Pieces a file's worker may be ahead of the writer.
pub const PIECES_IN_FLIGHT: usize = 4;

/// What a file sends to the writer.
pub enum Piece {
    /// Output lines and their counts.
    Records(Buffers, Tally),
    /// The file is done: the reason it could not be read at all, if so.
    End(Option<String>),
}

/// Runs `files` on `threads` threads; `emit` gets every file's pieces, file after file in
/// order; `tick` is called with the events done so far and the files finished, at least
/// every 200 ms. Returns the first error `emit` returned (the workers then stop).
pub fn run(
    t: &SigmaTransform,
    files: &[PathBuf],
    threads: usize,
    events_before: u64,
    mut tick: impl FnMut(u64, usize),
    mut emit: impl FnMut(usize, Piece) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let threads = threads.min(files.len()).max(1);
    let next = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let events = AtomicU64::new(events_before);
    let rules = t.engine().rules().len();
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..files.len())
        .map(|_| mpsc::sync_channel::<Piece>(PIECES_IN_FLIGHT))
        .unzip();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let senders = &senders;
        for _ in 0..threads {
            let (next, finished, events, stop) = (&next, &finished, &events, &stop);
            s.spawn(move || {
                let mut scratch = t.scratch();
                let mut tmp = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= files.len() || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let tx = &senders[k];
                    let fresh = || {
                        (
                            Buffers {
                                main: Vec::new(),
                                unmatched: Vec::new(),
                            },
                            Tally::new(rules),
                        )
                    };
                    let (mut buf, mut tally) = fresh();
                    let mut gone = false;
                    let source = evtx::source_member(&files[k]);
                    let error = evtx::for_each_record(&files[k], |rec| {
                        if gone {
                            return;
                        }
                        match rec {
                            Ok(mut json) => {
                                evtx::add_source(&mut json, &source);
                                one(
                                    t,
                                    &mut scratch,
                                    &json,
                                    b"\n",
                                    &mut tally,
                                    &mut buf,
                                    &mut tmp,
                                );
                                events.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => tally.bad_records += 1,
                        }
                        if buf.main.len() + buf.unmatched.len() >= PIECE_BYTES {
                            let (b, n) = fresh();
                            let piece = Piece::Records(
                                std::mem::replace(&mut buf, b),
                                std::mem::replace(&mut tally, n),
                            );
                            // The writer is gone (it failed): stop reading this file.
                            gone = tx.send(piece).is_err();
                        }
                    })
                    .err()
                    .map(|e| e.to_string());
                    let _ = tx.send(Piece::Records(buf, tally));
                    let _ = tx.send(Piece::End(error));
                    finished.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        let mut result = Ok(());
        'files: for (k, rx) in receivers.into_iter().enumerate() {
            loop {
                match rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(piece) => {
                        let end = matches!(piece, Piece::End(_));
                        if let Err(e) = emit(k, piece) {
                            result = Err(e);
                            stop.store(true, Ordering::Relaxed);
                            break 'files;
                        }
                        if end {
                            break;
                        }
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                tick(
                    events.load(Ordering::Relaxed),
                    finished.load(Ordering::Relaxed),
                );
            }
        }
        // Dropping the remaining receivers (on an error) lets blocked workers finish.
        result
    })
}
