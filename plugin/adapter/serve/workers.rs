//! The transform on all cores. A batch is cut into one part per worker thread (parts of at
//! least [`MIN_PART`] events), each part runs on its own thread with that thread's scratch,
//! and the parts are joined back in order, so a connection's events leave in the order
//! they came. The rule set is held as an `Arc` taken once per batch: a reload swaps it
//! between batches and no batch sees two rule sets.
//!
//! Cost: one channel send and one wake-up per part; a batch of fewer than `2 * MIN_PART`
//! events runs as one part.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::time::Instant;

use tokio::sync::oneshot;

use super::event::Event;
use super::metrics::{Component, Metrics};
use crate::transform::correlating::{Prepared, prepare};
use crate::transform::stage::{Output, SigmaTransform};
use crate::transform::{Counters, Route, TransformScratch};

/// Smallest part sent to a worker on its own.
pub const MIN_PART: usize = 64;

/// A compiled rule set and its generation (which reload made it).
pub struct Loaded {
    /// Shared with the correlation lane, whose stage outlives a batch.
    pub transform: Arc<SigmaTransform>,
    pub generation: u64,
    /// Per rule index: (id, level), for the per-rule match metrics.
    keys: Vec<(String, String)>,
}

impl Loaded {
    pub fn new(transform: SigmaTransform, generation: u64) -> Loaded {
        let keys = transform
            .engine()
            .rules()
            .iter()
            .map(|r| {
                (
                    r.meta.id.clone().unwrap_or_else(|| r.meta.title.clone()),
                    r.meta.level.clone().unwrap_or_else(|| "none".into()),
                )
            })
            .collect();
        Loaded {
            transform: Arc::new(transform),
            generation,
            keys,
        }
    }
}

/// The running rule set, swapped whole by a reload.
pub struct Rules {
    current: RwLock<Arc<Loaded>>,
}

impl Rules {
    pub fn new(first: Loaded) -> Rules {
        Rules {
            current: RwLock::new(Arc::new(first)),
        }
    }

    /// The rule set a batch runs with.
    pub fn current(&self) -> Arc<Loaded> {
        self.current.read().expect("rules lock").clone()
    }

    /// Puts a new rule set in place; batches already running keep theirs.
    pub fn swap(&self, next: Loaded) {
        *self.current.write().expect("rules lock") = Arc::new(next);
    }
}

/// A transformed batch: events in order with their routes (discarded ones left out).
pub struct Processed {
    pub events: Vec<(Route, Event)>,
    pub counters: Counters,
    /// With correlations, from the workers: per input event, in order, what the
    /// correlation lane does with it ([`super::lane`]); empty otherwise.
    pub steps: Vec<Step>,
}

/// One input event of a batch prepared for the correlation lane
/// ([`crate::transform::correlating::prepare`]).
pub enum Step {
    /// The worker wrote it: its output is the next `outputs` events of
    /// [`Processed::events`] (none when discarded, several for output `alerts`); `time`
    /// moves the stream on (`None`: blank or not an event). `tag` is its forward-protocol
    /// tag, for the alert events its time releases.
    Written {
        outputs: usize,
        time: Option<Option<i64>>,
        tag: Option<Arc<str>>,
    },
    /// It matched a rule a correlation references: the lane processes it whole.
    Deferred(Event),
}

struct Job {
    loaded: Arc<Loaded>,
    events: Vec<Event>,
    /// Prepare for the correlation lane ([`Step`]) instead of transforming whole.
    prepare: bool,
    reply: oneshot::Sender<Processed>,
}

/// The worker threads.
pub struct Workers {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    threads: usize,
    handles: Mutex<Vec<std::thread::JoinHandle<()>>>,
    metrics: Arc<Metrics>,
    component: Arc<Component>,
}

impl Workers {
    /// Starts `threads` workers (at least one).
    pub fn start(threads: usize, metrics: Arc<Metrics>, component: Arc<Component>) -> Workers {
        let threads = threads.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let handles = (0..threads)
            .map(|i| {
                let rx = rx.clone();
                let metrics = metrics.clone();
                std::thread::Builder::new()
                    .name(format!("sigma-worker-{i}"))
                    .spawn(move || worker(&rx, &metrics))
                    .expect("spawn a worker thread")
            })
            .collect();
        Workers {
            tx: Mutex::new(Some(tx)),
            threads,
            handles: Mutex::new(handles),
            metrics,
            component,
        }
    }

    /// Runs the transform over a batch and returns it in order. `None` when a part could not
    /// be processed (a worker failed, or the workers are stopped).
    pub async fn process(&self, loaded: Arc<Loaded>, events: Vec<Event>) -> Option<Processed> {
        let started = Instant::now();
        self.received(&events);
        let out = self.parts(loaded, events, false).await?;
        self.record(&out, started);
        Some(out)
    }

    /// Prepares a batch for the correlation lane on all workers: parsed, matched and
    /// written, except the events the lane must see whole ([`Processed::steps`]). Counted
    /// as received; the lane's result is recorded by the caller.
    pub async fn prepare(&self, loaded: Arc<Loaded>, events: Vec<Event>) -> Option<Processed> {
        self.received(&events);
        self.parts(loaded, events, true).await
    }

    /// The batch cut into parts, one per worker, joined back in order.
    async fn parts(
        &self,
        loaded: Arc<Loaded>,
        events: Vec<Event>,
        prepare: bool,
    ) -> Option<Processed> {
        let n = events.len();
        let parts = (n / MIN_PART).clamp(1, self.threads);
        let per = n.div_ceil(parts).max(1);
        let mut replies = Vec::with_capacity(parts);
        {
            let tx = self.tx.lock().expect("workers lock");
            let tx = tx.as_ref()?;
            let mut rest = events;
            while !rest.is_empty() {
                let tail = rest.split_off(per.min(rest.len()));
                let (reply, rx) = oneshot::channel();
                tx.send(Job {
                    loaded: loaded.clone(),
                    events: rest,
                    prepare,
                    reply,
                })
                .ok()?;
                replies.push(rx);
                rest = tail;
            }
        }
        let mut out = Processed {
            events: Vec::with_capacity(n),
            counters: Counters::default(),
            steps: Vec::new(),
        };
        for rx in replies {
            let part = rx.await.ok()?;
            out.events.extend(part.events);
            out.counters.merge(&part.counters);
            out.steps.extend(part.steps);
        }
        Some(out)
    }

    /// Counts a processed batch in the transform's metrics (also for batches the
    /// correlation lane ran).
    pub fn record(&self, out: &Processed, started: Instant) {
        self.metrics.transform_latency.observe(started.elapsed());
        let comp = &self.component;
        comp.discarded_intentional
            .fetch_add(out.counters.discarded, Ordering::Relaxed);
        self.metrics
            .unparsed_events
            .fetch_add(out.counters.unparsed, Ordering::Relaxed);
        self.metrics
            .unwrapped_events
            .fetch_add(out.counters.unwrapped, Ordering::Relaxed);
        let unknown = out.counters.unknown_shape;
        if unknown > 0
            && self
                .metrics
                .unknown_shape_events
                .fetch_add(unknown, Ordering::Relaxed)
                == 0
        {
            tracing::warn!(
                "events of no known shape (flat, with no EventID) arrive: Windows rules cannot match them; is the event JSON inside a string field (set the shipper's JSON codec or parser)? Counted in sigma_unknown_shape_events_total; warned once"
            );
        }
        for route in [
            Route::Default,
            Route::Matched,
            Route::Unmatched,
            Route::Correlations,
        ] {
            let (count, bytes) = out
                .events
                .iter()
                .filter(|(r, _)| *r == route)
                .fold((0u64, 0u64), |a, (_, e)| {
                    (a.0 + 1, a.1 + e.data.len() as u64)
                });
            let output = match route {
                Route::Default => None,
                r => r.name(),
            };
            comp.sent(output, count, bytes);
        }
    }

    /// Counts a batch's arrival at the transform.
    pub fn received(&self, events: &[Event]) {
        self.component
            .received(events.len() as u64, super::event::byte_size(events));
    }

    /// Stops the workers after the jobs already sent.
    pub fn stop(&self) {
        self.tx.lock().expect("workers lock").take();
        for h in self.handles.lock().expect("workers lock").drain(..) {
            let _ = h.join();
        }
    }
}

/// One worker thread: jobs until the channel closes. A rule set it has not seen yet gets
/// a fresh scratch.
fn worker(rx: &Mutex<mpsc::Receiver<Job>>, metrics: &Metrics) {
    let mut scratch: Option<(u64, TransformScratch)> = None;
    let mut per_rule: Vec<u64> = Vec::new();
    loop {
        let job = {
            let rx = rx.lock().expect("worker queue lock");
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let Job {
            loaded,
            events,
            prepare,
            reply,
        } = job;
        let t = &loaded.transform;
        let s = match &mut scratch {
            Some((g, s)) if *g == loaded.generation => s,
            slot => &mut slot.insert((loaded.generation, t.scratch())).1,
        };
        // A panic in the transform is a bug; it costs this job (its batch is refused and
        // the shipper sends it again), never the worker.
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if prepare {
                prepare_job(&loaded, events, s, &mut per_rule, metrics)
            } else {
                run_job(&loaded, events, s, &mut per_rule, metrics)
            }
        }));
        match done {
            Ok(p) => {
                let _ = reply.send(p);
            }
            Err(_) => {
                scratch = None;
                tracing::error!("a transform worker job panicked; its batch is refused");
            }
        }
    }
}

/// Adds each rule's matches (`per_rule`, by rule index) to the metrics.
pub fn add_matches(loaded: &Loaded, per_rule: &[u64], metrics: &Metrics) {
    metrics.add_matches(
        per_rule
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (loaded.keys[i].0.as_str(), loaded.keys[i].1.as_str(), *n)),
    );
}

/// Event `e` as the correlation stage wrote it (`out`), to `route` unless discarded: the
/// same buffer when it is unchanged; under output `alerts` (`split`), a matched event's
/// documents each as an event of its own.
pub fn push_written(
    events: &mut Vec<(Route, Event)>,
    e: Event,
    out: &[u8],
    outcome: crate::transform::Outcome,
    route: Route,
    split: bool,
) {
    if route == Route::Discarded {
        return;
    }
    let data = if out == &e.data[..] {
        e.data
    } else {
        bytes::Bytes::copy_from_slice(out)
    };
    let matched = matches!(outcome, crate::transform::Outcome::Matched(_));
    push_output(events, route, data, e.meta, split && matched);
}

/// Output `alerts` writes a document per match: each becomes an event of its own.
pub fn push_output(
    events: &mut Vec<(Route, Event)>,
    route: Route,
    data: bytes::Bytes,
    meta: super::event::Meta,
    split: bool,
) {
    if !split {
        events.push((route, Event { data, meta }));
        return;
    }
    for doc in crate::transform::alerts::documents(&data) {
        events.push((
            route,
            Event {
                data: doc,
                meta: meta.clone(),
            },
        ));
    }
}

fn run_job(
    loaded: &Loaded,
    input: Vec<Event>,
    s: &mut TransformScratch,
    per_rule: &mut Vec<u64>,
    metrics: &Metrics,
) -> Processed {
    let t = &loaded.transform;
    per_rule.clear();
    per_rule.resize(t.engine().rules().len(), 0);
    let mut counters = Counters::default();
    let mut events = Vec::with_capacity(input.len());
    let alerts = t.engine().options().output == crate::config::OutputProfile::Alerts;
    for e in input {
        let out = t.process(e.data, s, &mut counters);
        for &h in t.engine().last_hits(s) {
            per_rule[h] += 1;
        }
        match out {
            Output::Pass(route, data) => {
                let split = alerts && !t.engine().last_hits(s).is_empty();
                push_output(&mut events, route, data, e.meta, split);
            }
            Output::Discarded => {}
        }
    }
    if counters.matches > 0 {
        add_matches(loaded, per_rule, metrics);
    }
    Processed {
        events,
        counters,
        steps: Vec::new(),
    }
}

/// A part of a batch prepared for the correlation lane: each event written as the lane
/// would write it and counted, or deferred to the lane whole (counted there).
fn prepare_job(
    loaded: &Loaded,
    input: Vec<Event>,
    s: &mut TransformScratch,
    per_rule: &mut Vec<u64>,
    metrics: &Metrics,
) -> Processed {
    let t = &loaded.transform;
    let engine = t.engine();
    per_rule.clear();
    per_rule.resize(engine.rules().len(), 0);
    let split = engine.options().output == crate::config::OutputProfile::Alerts;
    let mut counters = Counters::default();
    let mut events = Vec::with_capacity(input.len());
    let mut steps = Vec::with_capacity(input.len());
    let mut out = Vec::new();
    for e in input {
        out.clear();
        let Prepared::Done {
            outcome,
            route,
            time,
        } = prepare(t, &e.data, s, &mut out)
        else {
            steps.push(Step::Deferred(e));
            continue;
        };
        counters.record_routed(outcome, route);
        if time.is_some() {
            counters.record_reading(engine, s);
            for &h in engine.last_hits(s) {
                per_rule[h] += 1;
            }
        }
        let before = events.len();
        let tag = e.meta.tag.clone();
        push_written(&mut events, e, &out, outcome, route, split);
        steps.push(Step::Written {
            outputs: events.len() - before,
            time,
            tag,
        });
    }
    if per_rule.iter().any(|n| *n > 0) {
        add_matches(loaded, per_rule, metrics);
    }
    Processed {
        events,
        counters,
        steps,
    }
}
