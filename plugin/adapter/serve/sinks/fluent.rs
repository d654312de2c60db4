//! The `fluent` sink: a forward-protocol client. Events go out in Forward mode messages,
//! one per run of events with the same tag, each with a `chunk` option; a message is
//! delivered when the peer answers `{"ack": chunk}`. Events keep the tag and time they
//! came with from a `fluent` source; others get the sink's `tag` and their arrival time.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::super::config::BatchConfig;
use super::super::event::Event;
use super::super::forward::{self, Framer};
use super::runs;

/// Largest answer read from the peer.
const MAX_ANSWER: usize = 64 * 1024;

static CHUNK_SEQ: AtomicU64 = AtomicU64::new(0);

pub struct FluentSink {
    address: SocketAddr,
    tag: Arc<str>,
    batch: BatchConfig,
    conn: Option<TcpStream>,
    timeout: Duration,
}

impl FluentSink {
    pub fn new(
        address: SocketAddr,
        tag: String,
        batch: BatchConfig,
        timeout_secs: f64,
    ) -> FluentSink {
        FluentSink {
            address,
            tag: tag.into(),
            batch,
            conn: None,
            timeout: Duration::from_secs_f64(timeout_secs.max(0.001)),
        }
    }

    pub async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let mut start = 0;
        while start < events.len() {
            let tag = events[start].meta.tag.clone().unwrap_or(self.tag.clone());
            let mut end = start + 1;
            while end < events.len()
                && events[end].meta.tag.as_deref().unwrap_or(&self.tag) == &*tag
            {
                end += 1;
            }
            for run in runs(
                &events[start..end],
                self.batch.max_events,
                self.batch.max_bytes,
            ) {
                if let Err(e) = self.send(&tag, run).await {
                    self.conn = None;
                    return Err(e);
                }
            }
            start = end;
        }
        Ok(())
    }

    async fn send(&mut self, tag: &str, run: &[Event]) -> Result<(), String> {
        let entries: Vec<(rmpv::Value, rmpv::Value)> = run
            .iter()
            .map(|e| {
                (
                    e.meta.time.clone().unwrap_or_else(forward::now),
                    forward::json_to_record(&e.data),
                )
            })
            .collect();
        let chunk = format!(
            "sigma-{}-{}",
            std::process::id(),
            CHUNK_SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let message = forward::encode_forward(tag, &entries, &chunk);
        if self.conn.is_none() {
            self.conn = Some(super::connect(self.address).await?);
        }
        let address = self.address;
        let timeout = self.timeout;
        let conn = self.conn.as_mut().expect("connected above");
        conn.write_all(&message)
            .await
            .map_err(|e| format!("write to {address}: {e}"))?;
        let answer = tokio::time::timeout(timeout, read_answer(conn))
            .await
            .map_err(|_| format!("no ack from {address} within {timeout:?}"))??;
        match forward::ack_of(&answer) {
            Some(a) if a.as_str() == Some(chunk.as_str()) => Ok(()),
            Some(a) => Err(format!("{address} acknowledged {a}, not {chunk}")),
            None => Err(format!("{address} answered {answer} instead of an ack")),
        }
    }
}

/// Reads one MessagePack value from the peer.
async fn read_answer(conn: &mut TcpStream) -> Result<rmpv::Value, String> {
    let mut buf = BytesMut::with_capacity(256);
    let mut framer = Framer::default();
    loop {
        if let Some(len) = framer.advance(&buf).map_err(|e| e.to_string())? {
            return forward::decode(&buf[..len]).map_err(|e| e.to_string());
        }
        if buf.len() > MAX_ANSWER {
            return Err("answer too large".into());
        }
        let n = conn
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("read ack: {e}"))?;
        if n == 0 {
            return Err("connection closed before the ack".into());
        }
    }
}
