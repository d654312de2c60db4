//! The `fluent` source: a forward-protocol v1 server, what Fluent Bit's `forward` output
//! and Fluentd's `out_forward` send. Each connection is read one message at a time: the
//! message's entries go through the pipeline, and only when every sink has them is its
//! `chunk` answered with `{"ack": chunk}`. A message that fails (a sink failing, serve
//! stopping) gets no ack and its connection is closed, so the sender sends it again.
//! A malformed message closes the connection, counted and logged.
//!
//! Memory: a connection's read buffer is reserved from the in-flight byte budget as it
//! grows, so many slow senders of large messages wait instead of growing serve.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::super::event::{Event, Meta};
use super::super::forward::{self, Framer};
use super::super::lifecycle::Lifecycle;
use super::super::metrics::Component;
use super::super::pipeline::{Pipeline, Reservation};
use super::super::sinks::RateLimited;
use super::accept::accept_loop;

/// Bytes read at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The source's options, read from its config.
#[derive(Clone, Debug)]
pub struct FluentOptions {
    pub max_message_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// Accepts connections until serve stops.
pub async fn run(
    listener: TcpListener,
    opts: FluentOptions,
    pipeline: Arc<Pipeline>,
    component: Arc<Component>,
    life: Lifecycle,
) {
    let log = Arc::new(std::sync::Mutex::new(RateLimited::new(
        Duration::from_secs(10),
    )));
    let handle = |stream| {
        let (pipeline, component, life, opts, log) = (
            pipeline.clone(),
            component.clone(),
            life.clone(),
            opts.clone(),
            log.clone(),
        );
        async move {
            if let Err(e) = connection(stream, &opts, &pipeline, &component, &life).await {
                component.error(e.0, e.1);
                let allow = log.lock().expect("log lock").allow();
                if let Some(held) = allow {
                    tracing::warn!(source = %component.id, held_back = held, "connection closed: {}", e.2);
                }
            }
        }
    };
    accept_loop(listener, opts.max_connections, &component, &life, handle).await;
}

/// (error_type, stage, message) of a connection that ends in error.
type ConnError = (&'static str, &'static str, String);

async fn connection(
    mut stream: TcpStream,
    opts: &FluentOptions,
    pipeline: &Pipeline,
    component: &Component,
    life: &Lifecycle,
) -> Result<(), ConnError> {
    let mut buf = BytesMut::new();
    let mut held = Reservation::none();
    let mut held_bytes = 0usize;
    let mut framer = Framer::default();
    loop {
        match framer.advance(&buf) {
            Ok(Some(len)) => {
                let message = buf.split_to(len).freeze();
                framer = Framer::default();
                let mut res = std::mem::replace(&mut held, Reservation::none());
                held_bytes = 0;
                res.shrink_bytes(len);
                if let Some(ack) = handle(message, opts, pipeline, component, res).await? {
                    stream
                        .write_all(&ack)
                        .await
                        .map_err(|e| ("write_failed", "sending", format!("ack: {e}")))?;
                }
                if life.is_stopping() {
                    return Ok(());
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => return Err(("parser_failed", "receiving", e.to_string())),
        }
        if buf.len() > opts.max_message_bytes {
            return Err((
                "message_too_large",
                "receiving",
                format!("a message over {} bytes", opts.max_message_bytes),
            ));
        }
        if held_bytes < buf.len() + READ_CHUNK {
            // Bounded wait: connections that each hold part of the budget and wait for
            // more must not wait on each other forever.
            let more = tokio::time::timeout(opts.idle_timeout, pipeline.budget.bytes(READ_CHUNK))
                .await
                .map_err(|_| {
                    (
                        "buffer_full",
                        "receiving",
                        "the in-flight byte budget stayed full".to_string(),
                    )
                })?;
            held.merge(more);
            held_bytes += READ_CHUNK;
        }
        buf.reserve(READ_CHUNK);
        let read = tokio::select! {
            r = tokio::time::timeout(opts.idle_timeout, stream.read_buf(&mut buf)) => r,
            _ = life.stopped(), if buf.is_empty() => return Ok(()),
        };
        match read {
            Ok(Ok(0)) => {
                return if buf.is_empty() {
                    Ok(())
                } else {
                    Err((
                        "connection_closed",
                        "receiving",
                        "closed in the middle of a message".into(),
                    ))
                };
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(("read_failed", "receiving", e.to_string())),
            Err(_) => {
                return Err((
                    "idle_timeout",
                    "receiving",
                    format!("nothing read for {:?}", opts.idle_timeout),
                ));
            }
        }
    }
}

/// One complete message: its entries through the pipeline; the ack to send, if any.
async fn handle(
    message: Bytes,
    opts: &FluentOptions,
    pipeline: &Pipeline,
    component: &Component,
    reservation: Reservation,
) -> Result<Option<Vec<u8>>, ConnError> {
    let parsed = forward::decode(&message)
        .and_then(|v| forward::parse(v, opts.max_message_bytes))
        .map_err(|e| ("parser_failed", "receiving", e.to_string()))?;
    tracing::debug!(
        bytes = message.len(),
        entries = parsed.entries.len(),
        "forward message"
    );
    let tag: Arc<str> = parsed.tag.into();
    // One scratch buffer for every record, each event copied out at its exact size: no
    // growth slack is held while the batch is in flight.
    let mut scratch = Vec::new();
    let events: Vec<Event> = parsed
        .entries
        .into_iter()
        .map(|entry| {
            scratch.clear();
            forward::record_to_json(&entry.record, &mut scratch);
            Event {
                data: Bytes::copy_from_slice(&scratch),
                meta: Meta {
                    tag: Some(tag.clone()),
                    time: Some(entry.time),
                },
            }
        })
        .collect();
    drop(message);
    match pipeline.submit(component, events, reservation).await {
        Ok(()) => Ok(parsed.chunk.as_ref().map(forward::encode_ack)),
        Err(r) => Err((
            "delivery_refused",
            "sending",
            format!("message not acknowledged ({r:?}); the sender will send it again"),
        )),
    }
}
