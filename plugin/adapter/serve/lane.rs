//! The correlation lane of `serve`: when the running rule set has correlations, every
//! batch goes through one ordered stage ([`Correlating`], the stage `run` uses), because
//! correlation state follows the stream. The workers first prepare the batch on all cores
//! ([`super::workers::Workers::prepare`]): every event that matched no rule a correlation
//! references is parsed, matched and written there, and only moves event time on here;
//! the others go through the stage whole. Batches take the lane one at a time, in the
//! order their preparation ends; each runs on a blocking thread.
//!
//! - **Outputs.** An event leaves as `run` writes it (tagged with `sigma.correlations`
//!   when it completes one). Every firing is also an alert event of its own, after that
//!   event: on the one output in modes `tag` and `filter`, on output `correlations` in
//!   mode `route` ([`Route::Correlations`]).
//! - **Reloads.** A new rule set gets a new stage, which takes over the state of every
//!   correlation whose definition is unchanged ([`crate::correlate::same_definition`]):
//!   a reload does not reset a brute-force count half way.
//! - **Shutdown.** [`Lane::finish`] decides every window still open and returns its alert
//!   events, which serve delivers before it stops. State is not written to disk: a restart
//!   starts empty (docs/serve.md says so).
//!
//! Cost: the lane itself uses one core: it moves time on for every event, and parses,
//! matches and writes again the events it processes whole.

use std::sync::Arc;

use bytes::Bytes;

use super::event::{Event, Meta};
use super::metrics::Metrics;
use super::workers::{Loaded, Processed, Step, add_matches, push_written};
use crate::config::{Mode, OutputProfile};
use crate::transform::correlating::Correlating;
use crate::transform::{Route, SigmaTransform, TransformScratch};

/// The ordered stage of one rule set and its scratch.
struct Stage {
    generation: u64,
    stage: Correlating<Arc<SigmaTransform>>,
    scratch: TransformScratch,
}

/// The lane: at most one stage, shared by every source.
#[derive(Default)]
pub struct Lane {
    stage: Arc<tokio::sync::Mutex<Option<Stage>>>,
}

impl Lane {
    /// Runs a batch the workers prepared ([`super::workers::Workers::prepare`]) through
    /// the correlation stage of `loaded`, in order. `None` when the stage failed (a panic:
    /// a bug; the batch is refused and the shipper sends it again).
    pub async fn process(
        &self,
        loaded: Arc<Loaded>,
        prepared: Processed,
        metrics: Arc<Metrics>,
    ) -> Option<Processed> {
        let mut guard = self.stage.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let stage = stage_for(&mut guard, &loaded);
            let out = run(stage, &loaded, prepared, &metrics);
            metrics.set_correlation_state(
                stage.stage.correlator().counters,
                stage.stage.correlator().groups_held() as u64,
            );
            out
        })
        .await
        .ok()
    }

    /// Decides every window still open (shutdown): their alert events, routed.
    pub async fn finish(&self) -> Vec<(Route, Event)> {
        let mut guard = self.stage.clone().lock_owned().await;
        let Some(stage) = guard.as_mut() else {
            return Vec::new();
        };
        let route = alert_route(stage.stage.engine().options().mode);
        let mut alerts = Vec::new();
        stage.stage.finish(&mut alerts);
        alerts
            .into_iter()
            .map(|a| (route, Event::plain(Bytes::from(a))))
            .collect()
    }
}

/// The stage of `loaded`'s rule set: the current one, or a new one that takes over the
/// state of the one it replaces.
fn stage_for<'a>(slot: &'a mut Option<Stage>, loaded: &Loaded) -> &'a mut Stage {
    if slot
        .as_ref()
        .is_some_and(|s| s.generation == loaded.generation)
    {
        return slot.as_mut().expect("checked");
    }
    let mut next = Stage {
        generation: loaded.generation,
        stage: loaded.transform.correlating_shared(),
        scratch: loaded.transform.scratch(),
    };
    if let Some(old) = slot.take() {
        let kept = next.stage.take_state(old.stage);
        tracing::info!(
            kept,
            correlations = next.stage.correlator().compiled().correlations.len(),
            "correlation state carried over to the new rule set (unchanged correlations)"
        );
    }
    slot.insert(next)
}

/// Where alert events go: output `correlations` in mode `route`, else the one output.
fn alert_route(mode: Mode) -> Route {
    match mode {
        Mode::Route => Route::Correlations,
        Mode::Tag | Mode::Filter => Route::Default,
    }
}

/// The ordered half of a batch the workers prepared ([`Step`]): each event they wrote goes
/// out as they wrote it, then the alert events its time released; each deferred one goes
/// through the stage whole, its alerts after it.
fn run(stage: &mut Stage, loaded: &Loaded, prepared: Processed, metrics: &Metrics) -> Processed {
    let Stage { stage, scratch, .. } = stage;
    let engine = loaded.transform.engine();
    let split = engine.options().output == OutputProfile::Alerts;
    let alert_to = alert_route(engine.options().mode);
    let mut per_rule = vec![0u64; engine.rules().len()];
    let mut counters = prepared.counters;
    let mut events = Vec::with_capacity(prepared.events.len());
    let mut written = prepared.events.into_iter();
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    for step in prepared.steps {
        let tag = match step {
            Step::Written { outputs, time, tag } => {
                events.extend(written.by_ref().take(outputs));
                let Some(time) = time else { continue };
                stage.advance(time, &mut alerts);
                tag
            }
            Step::Deferred(e) => {
                out.clear();
                let (outcome, route) = stage.process_line(&e.data, scratch, &mut out, &mut alerts);
                counters.record_routed(outcome, route);
                counters.record_reading(engine, scratch);
                for &h in engine.last_hits(scratch) {
                    per_rule[h] += 1;
                }
                let tag = e.meta.tag.clone();
                push_written(&mut events, e, &out, outcome, route, split);
                tag
            }
        };
        for a in alerts.drain(..) {
            let meta = Meta {
                tag: tag.clone(),
                time: None,
            };
            events.push((
                alert_to,
                Event {
                    data: Bytes::from(a),
                    meta,
                },
            ));
        }
    }
    if per_rule.iter().any(|n| *n > 0) {
        add_matches(loaded, &per_rule, metrics);
    }
    Processed {
        events,
        counters,
        steps: Vec::new(),
    }
}
