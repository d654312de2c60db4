//! The event path of `serve`, shared by every source: admit a batch within the in-flight
//! budget, run the transform on the workers, hand each sink the events of the outputs it
//! reads, and report success only when every sink has taken them. A source acknowledges
//! its request or chunk only on that success, so delivery is at least once end to end.
//!
//! Backpressure: the budget (events and bytes held between arrival and acknowledgement)
//! is a pair of semaphores; a source that would go over waits, and while it waits it reads
//! nothing more from its client. A sink that failed after its retries makes every source
//! refuse new input for a while ([`Refusal::Unavailable`]) instead of dropping it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::event::{Event, byte_size};
use super::lane::Lane;
use super::metrics::{Component, Metrics};
use super::workers::{Processed, Rules, Workers};
use crate::transform::Route;

/// Bytes are counted against the budget in units of this many.
const BYTE_UNIT: usize = 1024;

/// Why a batch was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A sink is failing; try again after this long.
    Unavailable { retry_after: Duration },
    /// serve is shutting down.
    ShuttingDown,
    /// The transform could not process the batch (see the logs).
    Failed,
}

/// The in-flight budget: events and bytes between arrival and acknowledgement.
pub struct Budget {
    events: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    max_events: usize,
    max_units: usize,
}

/// A share of the budget, given back when dropped.
pub struct Reservation {
    bytes: Option<OwnedSemaphorePermit>,
    events: Option<OwnedSemaphorePermit>,
}

impl Reservation {
    /// Keeps `bytes` of the byte share and gives the rest back.
    pub fn shrink_bytes(&mut self, bytes: usize) {
        let keep = bytes.div_ceil(BYTE_UNIT);
        if let Some(p) = &mut self.bytes
            && p.num_permits() > keep
        {
            let extra = p.num_permits() - keep;
            drop(p.split(extra));
        }
    }

    /// Adds another reservation to this one.
    pub fn merge(&mut self, other: Reservation) {
        for (mine, theirs) in [
            (&mut self.bytes, other.bytes),
            (&mut self.events, other.events),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => m.merge(t),
                (None, Some(t)) => *mine = Some(t),
                _ => {}
            }
        }
    }

    /// An empty reservation.
    pub fn none() -> Reservation {
        Reservation {
            bytes: None,
            events: None,
        }
    }
}

impl Budget {
    pub fn new(max_events: usize, max_bytes: usize) -> Budget {
        let max_events = max_events.clamp(1, Semaphore::MAX_PERMITS);
        let max_units = max_bytes
            .div_ceil(BYTE_UNIT)
            .clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            events: Arc::new(Semaphore::new(max_events)),
            bytes: Arc::new(Semaphore::new(max_units)),
            max_events,
            max_units,
        }
    }

    /// Waits until `bytes` fit. A request larger than the whole budget takes the whole
    /// budget (it then runs alone).
    pub async fn bytes(&self, bytes: usize) -> Reservation {
        let units = bytes.div_ceil(BYTE_UNIT).clamp(1, self.max_units) as u32;
        Reservation {
            bytes: self.bytes.clone().acquire_many_owned(units).await.ok(),
            events: None,
        }
    }

    /// Waits until `events` fit (at most the whole budget).
    pub async fn events(&self, events: usize) -> Reservation {
        let n = events.clamp(1, self.max_events) as u32;
        Reservation {
            bytes: None,
            events: self.events.clone().acquire_many_owned(n).await.ok(),
        }
    }

    /// Events and bytes held now.
    pub fn held(&self) -> (usize, usize) {
        (
            self.max_events - self.events.available_permits(),
            (self.max_units - self.bytes.available_permits()) * BYTE_UNIT,
        )
    }
}

/// A batch handed to a sink: it answers on `done` once the events are delivered, or
/// failed after its retries.
pub struct SinkBatch {
    pub events: Vec<Event>,
    pub done: oneshot::Sender<Result<(), String>>,
}

/// Whether a sink takes input now.
#[derive(Debug, Default)]
pub struct Health {
    /// Until when (milliseconds since the Unix epoch) the sink counts as failing.
    failing_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Health {
    /// Marks the sink failing for `d`.
    pub fn fail_for(&self, d: Duration) {
        self.failing_until_ms
            .store(now_ms() + d.as_millis() as u64, Ordering::Relaxed);
    }

    /// Marks it healthy.
    pub fn ok(&self) {
        self.failing_until_ms.store(0, Ordering::Relaxed);
    }

    /// How long it still counts as failing, if it does.
    pub fn failing_for(&self) -> Option<Duration> {
        let until = self.failing_until_ms.load(Ordering::Relaxed);
        let now = now_ms();
        (until > now).then(|| Duration::from_millis(until - now))
    }
}

/// The pipeline's end of one sink.
pub struct SinkHandle {
    pub id: String,
    /// The transform outputs it reads.
    pub routes: Vec<Route>,
    pub queue: mpsc::Sender<SinkBatch>,
    pub health: Arc<Health>,
    pub component: Arc<Component>,
}

/// Sources -> transform -> sinks.
pub struct Pipeline {
    pub rules: Rules,
    pub workers: Workers,
    /// The ordered stage, for rule sets with correlations.
    pub lane: Lane,
    pub sinks: Vec<SinkHandle>,
    pub budget: Budget,
    pub metrics: Arc<Metrics>,
    pub shutting_down: std::sync::atomic::AtomicBool,
}

impl Pipeline {
    /// Refuses early when a sink is failing or serve is stopping.
    pub fn admit(&self) -> Result<(), Refusal> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err(Refusal::ShuttingDown);
        }
        match self
            .sinks
            .iter()
            .filter_map(|s| s.health.failing_for())
            .max()
        {
            Some(retry_after) => Err(Refusal::Unavailable { retry_after }),
            None => Ok(()),
        }
    }

    /// Runs a batch through the transform to every sink. `Ok` once every sink has its
    /// events; the caller then acknowledges. The reservation is held until then.
    pub async fn submit(
        &self,
        source: &Component,
        events: Vec<Event>,
        mut reservation: Reservation,
    ) -> Result<(), Refusal> {
        let started = Instant::now();
        let result = self.submit_inner(source, events, &mut reservation).await;
        self.metrics.request_latency.observe(started.elapsed());
        drop(reservation);
        result
    }

    async fn submit_inner(
        &self,
        source: &Component,
        events: Vec<Event>,
        reservation: &mut Reservation,
    ) -> Result<(), Refusal> {
        source.received(events.len() as u64, byte_size(&events));
        if events.is_empty() {
            return Ok(());
        }
        self.admit()?;
        reservation.merge(self.budget.events(events.len()).await);
        let n = events.len() as u64;
        let bytes = byte_size(&events);
        let loaded = self.rules.current();
        let Some(processed) = self.transform(loaded, events).await else {
            source.error("transform_failed", "processing");
            return Err(Refusal::Failed);
        };
        self.deliver(&processed.events).await?;
        source.sent(None, n, bytes);
        Ok(())
    }

    /// Runs a batch through the workers; when the rule set has correlations, the workers
    /// prepare it and the correlation lane finishes it in order.
    async fn transform(
        &self,
        loaded: Arc<super::workers::Loaded>,
        events: Vec<Event>,
    ) -> Option<Processed> {
        if loaded.transform.correlations().correlations.is_empty() {
            return self.workers.process(loaded, events).await;
        }
        let started = std::time::Instant::now();
        let prepared = self.workers.prepare(loaded.clone(), events).await?;
        let processed = self
            .lane
            .process(loaded, prepared, self.metrics.clone())
            .await?;
        self.workers.record(&processed, started);
        Some(processed)
    }

    /// Shutdown: the windows still open are decided, and their alert events delivered
    /// (within `limit`). Returns how many were delivered.
    pub async fn finish_correlations(&self, limit: Duration) -> usize {
        let events = self.lane.finish().await;
        if events.is_empty() {
            return 0;
        }
        let n = events.len();
        match tokio::time::timeout(limit, self.deliver(&events)).await {
            Ok(Ok(())) => n,
            _ => {
                tracing::warn!(
                    alerts = n,
                    "correlation alerts of windows open at shutdown were not delivered"
                );
                0
            }
        }
    }

    /// Hands every sink the events of the outputs it reads, and waits until each has them.
    async fn deliver(&self, processed: &[(Route, Event)]) -> Result<(), Refusal> {
        let mut waits = Vec::with_capacity(self.sinks.len());
        for sink in &self.sinks {
            let events: Vec<Event> = processed
                .iter()
                .filter(|(r, _)| sink.routes.contains(r))
                .map(|(_, e)| e.clone())
                .collect();
            if events.is_empty() {
                continue;
            }
            let (done, rx) = oneshot::channel();
            sink.component
                .received(events.len() as u64, byte_size(&events));
            sink.component
                .buffer_events
                .fetch_add(events.len() as i64, Ordering::Relaxed);
            sink.component
                .buffer_bytes
                .fetch_add(byte_size(&events) as i64, Ordering::Relaxed);
            if sink.queue.send(SinkBatch { events, done }).await.is_err() {
                return Err(Refusal::ShuttingDown);
            }
            waits.push((sink, rx));
        }
        let mut failed = None;
        for (sink, rx) in waits {
            match rx.await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => {
                    failed.get_or_insert(Refusal::Unavailable {
                        retry_after: sink.health.failing_for().unwrap_or(Duration::from_secs(1)),
                    });
                }
                Err(_) => {
                    failed.get_or_insert(Refusal::ShuttingDown);
                }
            }
        }
        match failed {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }
}
