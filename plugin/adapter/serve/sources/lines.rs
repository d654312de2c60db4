//! The `socket` and `stdin` sources: one JSON event per line from a byte stream. Lines are
//! gathered into a batch until the stream has nothing more ready (or the batch is full),
//! then the batch goes through the pipeline before more is read, so a slow sink slows the
//! reader. These transports have no acknowledgement: at most once.
//!
//! A line longer than `max_length` is dropped (its bytes are skipped up to the next line
//! break) and counted as an error and an unintended discard.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;

use super::super::event::Event;
use super::super::lifecycle::Lifecycle;
use super::super::metrics::Component;
use super::super::pipeline::Pipeline;
use super::accept::accept_loop;

/// Most lines in one batch.
const MAX_BATCH: usize = 1000;

/// Cuts a byte stream into lines, dropping those over a length.
pub struct Lines {
    buf: BytesMut,
    max_length: usize,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    /// Where the search for the next line break resumes.
    scanned: usize,
}

impl Lines {
    pub fn new(max_length: usize) -> Lines {
        Lines {
            buf: BytesMut::with_capacity(64 * 1024),
            max_length,
            skipping: false,
            scanned: 0,
        }
    }

    /// The next complete line (no terminator), or `None` when more bytes are needed.
    /// `dropped` counts lines over the length.
    pub fn next(&mut self, dropped: &mut u64) -> Option<Bytes> {
        loop {
            match memchr::memchr(b'\n', &self.buf[self.scanned..]) {
                Some(i) => {
                    let end = self.scanned + i;
                    let line = self.buf.split_to(end + 1);
                    self.scanned = 0;
                    if std::mem::take(&mut self.skipping) {
                        continue;
                    }
                    if end > self.max_length {
                        *dropped += 1;
                        continue;
                    }
                    let mut line = line.freeze().slice(..end);
                    if line.ends_with(b"\r") {
                        line = line.slice(..line.len() - 1);
                    }
                    return Some(line);
                }
                None => {
                    if self.buf.len() > self.max_length {
                        if !self.skipping {
                            *dropped += 1;
                            self.skipping = true;
                        }
                        self.buf.clear();
                    }
                    self.scanned = self.buf.len();
                    return None;
                }
            }
        }
    }

    /// The last line of a stream that ended without a line break.
    pub fn finish(&mut self) -> Option<Bytes> {
        self.scanned = 0;
        if self.skipping || self.buf.is_empty() {
            self.buf.clear();
            return None;
        }
        Some(self.buf.split().freeze())
    }

    /// Reads more from `r`; `Ok(0)` at end of stream.
    pub async fn fill<R: AsyncRead + Unpin>(&mut self, r: &mut R) -> std::io::Result<usize> {
        self.buf.reserve(64 * 1024);
        r.read_buf(&mut self.buf).await
    }
}

/// Reads lines from `r` into batches until it ends or serve stops.
pub async fn pump<R: AsyncRead + Unpin>(
    mut r: R,
    max_length: usize,
    pipeline: &Pipeline,
    component: &Component,
    life: &Lifecycle,
) {
    let mut lines = Lines::new(max_length);
    let mut batch = Vec::new();
    let mut dropped = 0u64;
    let mut ended = false;
    loop {
        while batch.len() < MAX_BATCH {
            match lines.next(&mut dropped) {
                Some(l) if l.iter().all(u8::is_ascii_whitespace) => {}
                Some(l) => batch.push(Event::plain(l)),
                None => break,
            }
        }
        let full = batch.len() >= MAX_BATCH;
        if !full && !ended {
            // Wait for input only while the batch is empty; otherwise take what is ready
            // now and send the batch.
            let read = if batch.is_empty() {
                tokio::select! {
                    r = lines.fill(&mut r) => Some(r),
                    _ = life.stopped() => return,
                }
            } else {
                tokio::time::timeout(Duration::ZERO, lines.fill(&mut r))
                    .await
                    .ok()
            };
            match read {
                Some(Ok(0)) | Some(Err(_)) => {
                    ended = true;
                    batch.extend(lines.finish().map(Event::plain));
                }
                Some(Ok(_)) => continue,
                None => {}
            }
        }
        if dropped > 0 {
            component
                .discarded_unintentional
                .fetch_add(dropped, Ordering::Relaxed);
            for _ in 0..dropped {
                component.error("line_too_long", "receiving");
            }
            tracing::warn!(source = %component.id, dropped, max_length, "lines over max_length dropped");
            dropped = 0;
        }
        if !batch.is_empty() {
            let events = std::mem::take(&mut batch);
            let reservation = pipeline
                .budget
                .bytes(events.iter().map(|e| e.data.len()).sum())
                .await;
            if let Err(r) = pipeline.submit(component, events, reservation).await {
                tracing::warn!(source = %component.id, "a batch was not delivered ({r:?}); this transport cannot ask for it again");
                component.error("delivery_failed", "sending");
            }
        }
        if ended {
            return;
        }
    }
}

/// The `socket` source: accepts TCP connections until serve stops.
pub async fn run_socket(
    listener: TcpListener,
    max_length: usize,
    max_connections: usize,
    pipeline: Arc<Pipeline>,
    component: Arc<Component>,
    life: Lifecycle,
) {
    let handle = |stream| {
        let (pipeline, component, life) = (pipeline.clone(), component.clone(), life.clone());
        async move { pump(stream, max_length, &pipeline, &component, &life).await }
    };
    accept_loop(listener, max_connections, &component, &life, handle).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &mut Lines, bytes: &[u8]) {
        lines.buf.extend_from_slice(bytes);
    }

    #[test]
    fn lines_are_cut_and_long_ones_dropped() {
        let mut l = Lines::new(10);
        let mut dropped = 0;
        feed(&mut l, b"{\"a\":1}\r\n{\"b\"");
        assert_eq!(l.next(&mut dropped).as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(l.next(&mut dropped), None);
        feed(&mut l, b":2}\n");
        assert_eq!(l.next(&mut dropped).as_deref(), Some(&b"{\"b\":2}"[..]));
        // Over the length, arriving in pieces: dropped once, the next line kept.
        feed(&mut l, b"0123456789abc");
        assert_eq!(l.next(&mut dropped), None);
        feed(&mut l, b"defgh");
        assert_eq!(l.next(&mut dropped), None);
        feed(&mut l, b"ij\nok\n");
        assert_eq!(l.next(&mut dropped).as_deref(), Some(&b"ok"[..]));
        assert_eq!(dropped, 1);
        // Over the length in one piece.
        feed(&mut l, b"0123456789abcdef\nlast");
        assert_eq!(l.next(&mut dropped), None);
        assert_eq!(dropped, 2);
        assert_eq!(l.finish().as_deref(), Some(&b"last"[..]));
        assert_eq!(l.finish(), None);
    }
}
