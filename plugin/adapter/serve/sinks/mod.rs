//! Sinks: where transformed events go. Each sink is one task that takes batches from its
//! bounded queue in order, delivers each with retries and backoff, and answers the batch's
//! sources: delivered, or failed after the retries (then the sink counts as failing for a
//! while, and sources refuse new input instead of dropping it). The transport of each kind
//! lives in its own module; this one holds what they share.

pub mod file;
pub mod fluent;
pub mod http;
pub mod socket;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::config::{RequestConfig, SinkConfig};
use super::event::{Event, byte_size};
use super::metrics::Component;
use super::pipeline::{Health, SinkBatch, SinkHandle};
use crate::transform::Route;

/// Batches a sink's queue holds before its sources wait.
const QUEUE_BATCHES: usize = 16;

/// A sink's transport.
pub enum Driver {
    Http(http::HttpSink),
    Fluent(fluent::FluentSink),
    Socket(socket::SocketSink),
    File(file::FileSink),
}

impl Driver {
    /// Delivers a batch once. An error leaves the driver ready to try again (it reconnects
    /// or reopens as needed).
    async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        match self {
            Driver::Http(s) => s.deliver(events).await,
            Driver::Fluent(s) => s.deliver(events).await,
            Driver::Socket(s) => s.deliver(events).await,
            Driver::File(s) => s.deliver(events),
        }
    }
}

/// Logs a repeated error at most once per interval, with the count of those held back.
pub struct RateLimited {
    last: Option<Instant>,
    held: u64,
    every: Duration,
}

impl RateLimited {
    pub fn new(every: Duration) -> RateLimited {
        RateLimited {
            last: None,
            held: 0,
            every,
        }
    }

    /// Whether to log now; `Some(n)`: log, with `n` earlier ones held back.
    pub fn allow(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < self.every) {
            self.held += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.held))
    }
}

/// Starts a sink task; returns the pipeline's handle and the task.
pub fn start(
    id: &str,
    cfg: &SinkConfig,
    routes: Vec<Route>,
    component: Arc<Component>,
) -> (SinkHandle, tokio::task::JoinHandle<()>) {
    let (driver, request) = match cfg {
        SinkConfig::Http {
            uri,
            request,
            batch,
            ..
        } => (
            Driver::Http(http::HttpSink::new(
                uri,
                batch.clone(),
                request.timeout_secs,
            )),
            request.clone(),
        ),
        SinkConfig::Fluent {
            address,
            tag,
            request,
            batch,
            ..
        } => (
            Driver::Fluent(fluent::FluentSink::new(
                *address,
                tag.clone(),
                batch.clone(),
                request.timeout_secs,
            )),
            request.clone(),
        ),
        SinkConfig::Socket {
            address, request, ..
        } => (
            Driver::Socket(socket::SocketSink::new(*address)),
            request.clone(),
        ),
        SinkConfig::File { path, .. } => (
            Driver::File(file::FileSink::to_file(path.clone())),
            RequestConfig::default(),
        ),
        SinkConfig::Console { target, .. } => (
            Driver::File(file::FileSink::console(*target)),
            RequestConfig::default(),
        ),
    };
    let (queue, rx) = mpsc::channel(QUEUE_BATCHES);
    let health = Arc::new(Health::default());
    let task = tokio::spawn(run(driver, rx, request, health.clone(), component.clone()));
    (
        SinkHandle {
            id: id.to_string(),
            routes,
            queue,
            health,
            component,
        },
        task,
    )
}

/// The sink task: batches in order until the queue closes.
async fn run(
    mut driver: Driver,
    mut rx: mpsc::Receiver<SinkBatch>,
    request: RequestConfig,
    health: Arc<Health>,
    component: Arc<Component>,
) {
    let mut log = RateLimited::new(Duration::from_secs(10));
    let timeout = Duration::from_secs_f64(request.timeout_secs.max(0.001));
    let first_backoff = Duration::from_secs_f64(request.retry_initial_backoff_secs.max(0.0));
    let max_backoff = Duration::from_secs_f64(request.retry_max_duration_secs.max(0.0));
    while let Some(batch) = rx.recv().await {
        let n = batch.events.len() as u64;
        let bytes = byte_size(&batch.events);
        // A sink already failing tries a queued batch once, so a backlog fails fast.
        let attempts = if health.failing_for().is_some() {
            1
        } else {
            1 + request.retry_attempts
        };
        let mut backoff = first_backoff;
        let mut result = Err(String::new());
        for attempt in 1..=attempts {
            result = match tokio::time::timeout(timeout, driver.deliver(&batch.events)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {timeout:?}")),
            };
            let Err(e) = &result else { break };
            component.error("delivery_failed", "sending");
            if let Some(held) = log.allow() {
                tracing::warn!(
                    sink = %component.id,
                    attempt,
                    attempts,
                    held_back = held,
                    "delivery failed: {e}"
                );
            }
            if attempt < attempts {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(max_backoff.max(first_backoff));
            }
        }
        component
            .buffer_events
            .fetch_sub(n as i64, Ordering::Relaxed);
        component
            .buffer_bytes
            .fetch_sub(bytes as i64, Ordering::Relaxed);
        match result {
            Ok(()) => {
                health.ok();
                component.sent(None, n, bytes);
            }
            Err(_) => health.fail_for(max_backoff.max(Duration::from_secs(1))),
        }
        let _ = batch.done.send(result);
    }
}

/// Opens a TCP connection to a sink's peer (no Nagle delay: batches are written whole).
pub async fn connect(address: std::net::SocketAddr) -> Result<tokio::net::TcpStream, String> {
    let s = tokio::net::TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect {address}: {e}"))?;
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// Cuts events into runs of at most `max_events` events and about `max_bytes` bytes
/// (a single larger event is a run of its own).
pub fn runs(events: &[Event], max_events: usize, max_bytes: usize) -> Vec<&[Event]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, e) in events.iter().enumerate() {
        let len = e.data.len() + 1;
        if i > start && (i - start >= max_events.max(1) || bytes + len > max_bytes) {
            out.push(&events[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn runs_respect_both_limits_and_keep_order() {
        let events: Vec<Event> = (0..10)
            .map(|i| Event::plain(Bytes::from(format!("{{\"i\":{i}}}"))))
            .collect();
        let r = runs(&events, 4, 1 << 20);
        assert_eq!(r.iter().map(|r| r.len()).collect::<Vec<_>>(), [4, 4, 2]);
        let r = runs(&events, 100, 20);
        assert!(r.iter().all(|r| r.len() <= 2), "{}", r.len());
        let flat: Vec<&Event> = r.iter().flat_map(|r| r.iter()).collect();
        assert_eq!(flat.len(), 10);
        assert!(flat.iter().zip(&events).all(|(a, b)| *a == b));
        assert!(runs(&[], 4, 4).is_empty());
    }

    #[test]
    fn rate_limited_logs_once_per_interval() {
        let mut r = RateLimited::new(Duration::from_secs(3600));
        assert_eq!(r.allow(), Some(0));
        assert_eq!(r.allow(), None);
        assert_eq!(r.allow(), None);
        r.last = Some(Instant::now() - Duration::from_secs(7200));
        assert_eq!(r.allow(), Some(2));
    }
}
