//! How `run` stops on SIGTERM or SIGINT: as at the end of its input. Everything already
//! read, a last line without its newline included, is processed and written, the summary
//! is printed, and the exit status is 0. A second signal exits at once (status 128 + the
//! signal number, as the default action would report it).
//!
//! Standard input is read by a pump thread into a small bounded queue
//! ([`StopAwareStdin`]), so that the reader of `run` can notice the signal while the pipe
//! stays open and quiet: it waits on the queue 100 ms at a time, and once a stop is asked
//! for it takes what the pump has already read, then reports end of input. File inputs
//! check [`requested`] between blocks.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

/// True once SIGTERM or SIGINT has arrived.
pub fn requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Installs the handlers (once per process, from `run`). Without a working signal thread
/// the default actions stay, and a warning says so.
pub fn install() {
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(|| {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    return;
                };
                let mut count = 0;
                loop {
                    let code = tokio::select! {
                        _ = term.recv() => 128 + 15,
                        _ = int.recv() => 128 + 2,
                    };
                    count += 1;
                    if count > 1 {
                        std::process::exit(code);
                    }
                    STOP.store(true, Ordering::Relaxed);
                }
            });
        });
    if started.is_err() {
        super::output::warn_note!(
            "sigma-transform: warning: no signal thread; SIGTERM ends the run without a summary"
        );
    }
}

/// Most chunks the pump holds read ahead (each at most [`CHUNK`] bytes).
const QUEUE: usize = 4;
/// Largest chunk the pump reads at once.
const CHUNK: usize = 1 << 16;

/// Standard input, read by a pump thread; end of input once a stop is requested and what
/// was read has been taken.
pub struct StopAwareStdin {
    chunks: mpsc::Receiver<io::Result<Vec<u8>>>,
    /// The chunk being handed out, and how far.
    current: Vec<u8>,
    at: usize,
    ended: bool,
}

impl StopAwareStdin {
    pub fn new() -> StopAwareStdin {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        // The pump ends at end of input or a read error, or when the reader is gone. While
        // the pipe stays open it waits in `read`; the process exits without it.
        let _ = std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut buf = vec![0u8; CHUNK];
                    match stdin.read(&mut buf) {
                        Ok(0) => {
                            let _ = tx.send(Ok(Vec::new()));
                            return;
                        }
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(buf)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            });
        StopAwareStdin {
            chunks: rx,
            current: Vec::new(),
            at: 0,
            ended: false,
        }
    }

    /// The next chunk: waits while no stop is requested; after one, only what is queued.
    fn next_chunk(&mut self) -> Option<io::Result<Vec<u8>>> {
        loop {
            if requested() {
                return self.chunks.try_recv().ok();
            }
            match self.chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(c) => return Some(c),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
            }
        }
    }
}

impl Default for StopAwareStdin {
    fn default() -> Self {
        StopAwareStdin::new()
    }
}

impl Read for StopAwareStdin {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.next_chunk() {
                Some(Ok(c)) if c.is_empty() => self.ended = true,
                Some(Ok(c)) => {
                    self.current = c;
                    self.at = 0;
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(e);
                }
                None => self.ended = true,
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
