//! The `sigma` transform as a native Vector component (`type = "sigma"` inside Vector).
//!
//! This file is not part of the sigma-transform crate: `tools/vector/build.sh` copies it to
//! `src/transforms/sigma.rs` of Vector's source and builds Vector with the
//! `transforms-sigma` feature, which depends on our crate by path. It is a thin adapter, so
//! that Vector's rebuild is paid only for it: the options, names and docs are those of
//! `sigma_transform::config::SigmaConfig` (the config is handed to it through serde, so the
//! two cannot disagree), and every event goes through `SigmaTransform::process`, the event
//! path `run` and `serve` use.
//!
//! Correlations: when the rules have some, one ordered stage (`Correlating`, as in `run`
//! and `serve`) is shared by the transform's concurrent tasks. Each task parses and
//! matches its events itself (`correlating::prepare`); an event that matched no rule a
//! correlation references only moves event time on in the shared stage, and the others
//! go through it whole. An event that completes a correlation carries `sigma.correlations`; each firing is also
//! an alert event of its own after it, on output `correlations` in mode `route`. Windows
//! decided only when they close (`lt`, ...) are decided as event time moves past them; a
//! window still open when Vector stops is not decided (a function transform sees no stop).
//!
//! Cost per event: the log event is serialized to JSON once, for the matcher, which reads
//! events as bytes; an unmatched event leaves untouched. Only a tagged event is read back:
//! its tag object (output `sigma`) or, for output `ecs`, the whole tagged object, so that
//! ECS merging is exactly the library's.

use std::sync::Arc;

use bytes::Bytes;
use sigma_transform::config::{OutputProfile, SigmaConfig as LibraryConfig};
use sigma_transform::transform::correlating::{Correlating, Prepared, prepare};
use sigma_transform::transform::stage::{Output, SigmaTransform};
use sigma_transform::transform::{Counters, Outcome, Route as SigmaRoute, TransformScratch};
use vector_lib::{
    config::clone_input_definitions,
    configurable::configurable_component,
    internal_event::{
        ComponentEventsDropped, Count, INTENTIONAL, InternalEventHandle as _, Registered,
    },
    transform::TransformOutputsBuf,
};

use crate::{
    config::{
        DataType, GenerateConfig, Input, OutputId, TransformConfig, TransformContext,
        TransformOutput,
    },
    event::{Event, LogEvent},
    schema,
    transforms::{FunctionTransform, OutputBuffer, SyncTransform, Transform},
};

/// Output `matched` of mode `route`.
const MATCHED: &str = "matched";
/// Output `_unmatched` of mode `route`.
const UNMATCHED: &str = "_unmatched";
/// Output `correlations` of mode `route`: an alert event per correlation firing.
const CORRELATIONS: &str = "correlations";

/// The ordered correlation stage and its scratch, shared by the transform's tasks.
struct Lane {
    stage: Correlating<Arc<SigmaTransform>>,
    scratch: TransformScratch,
}

/// The shape of incoming events.
#[configurable_component]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SigmaShape {
    /// Detect the shape of each event from its keys.
    #[default]
    Auto,
    /// evtx_dump JSON: `Event.System`, `Event.EventData`, `Event.UserData`, `#attributes`.
    EvtxDump,
    /// Winlogbeat / Elastic Agent ECS: `winlog.event_id`, `winlog.channel`, `winlog.event_data.*`.
    Winlogbeat,
    /// NXLog `im_msvistalog` JSON: flat, `SourceName` as provider, event data at the top level.
    Nxlog,
    /// Vector's `windows_event_log` source: `event_id`, `provider_name`, `channel`, `event_data`.
    Vector,
    /// Fluent Bit `winevtlog`: an `EventData` map or the positional `StringInserts` array.
    Fluentbit,
    /// Flat JSON with Sigma field names at the top level.
    Flat,
}

/// Where and how tags are written.
#[configurable_component]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SigmaOutput {
    /// A `sigma` object (name set by `field`) with one entry per matched rule: id, title,
    /// level, status, author, tags and ATT&CK techniques and tactics.
    #[default]
    Sigma,
    /// Elastic Common Schema 8.x fields (`event.kind`, `event.risk_score`, `rule.*` one
    /// element per match, `threat.*`), merged into the event without dropping any of its
    /// values; the tag entries, and what could not be placed, go under `field`.
    Ecs,
    /// One ECS alert document per (event, matched rule), each an event of its own, the
    /// way Elastic's detection engine writes alerts: the event's fields copied, its own
    /// `event`, `rule` and `threat` under `field` as `original_*`.
    Alerts,
}

/// What the transform does with events.
#[configurable_component]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SigmaMode {
    /// Every event passes; matching events are tagged.
    #[default]
    Tag,
    /// Only matching events pass (tagged); the others are counted as intentionally discarded.
    Filter,
    /// Matching events go to the output `matched` (tagged), the others to `_unmatched`, as
    /// Vector's `route` transform names its outputs.
    Route,
}

/// Sigma rule levels, in order.
#[configurable_component]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SigmaLevel {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

/// A set of rules named by id, tag or status.
#[configurable_component]
#[derive(Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SigmaRuleSelector {
    /// Rule ids.
    #[serde(default)]
    ids: Vec<String>,
    /// Rule tags (e.g. `attack.t1569.002`, `attack.execution`), compared case-insensitively.
    #[serde(default)]
    tags: Vec<String>,
    /// Rule statuses (`stable`, `test`, `experimental`, `deprecated`, `unsupported`).
    #[serde(default)]
    statuses: Vec<String>,
}

/// Configuration for the `sigma` transform.
#[configurable_component(transform(
    "sigma",
    "Tag events with the Sigma rules they match: id, title, level, author, and ATT&CK techniques and tactics."
))]
#[derive(Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SigmaConfig {
    /// Sigma rule files or directories (searched recursively for `.yml` and `.yaml`).
    /// Relative paths are relative to Vector's working directory.
    #[configurable(metadata(docs::examples = "/etc/vector/sigma"))]
    rules: Vec<String>,
    /// Sigma filter files or directories, kept apart from the rules they tune (filters in
    /// `rules` paths are read too). Anything but a filter document here is rejected.
    #[serde(default)]
    filters: Vec<String>,
    /// The shape of incoming events; `auto` detects it per event.
    #[serde(default)]
    shape: SigmaShape,
    /// How matches are written into events.
    #[serde(default)]
    output: SigmaOutput,
    /// Which events leave the transform, and where.
    #[serde(default)]
    mode: SigmaMode,
    /// The top-level field that receives the tag object (output `sigma`), or the tag
    /// entries and displaced ECS values (output `ecs`).
    #[serde(default = "default_field")]
    field: String,
    /// Logsource mapping file; the built-in `rules/logsources.yaml` when unset.
    #[serde(default)]
    logsources: Option<String>,
    /// Values for `expand` placeholders: a YAML file mapping each placeholder name to a
    /// list of values.
    #[serde(default)]
    placeholders: Option<String>,
    /// Table naming Fluent Bit's positional `StringInserts`; the built-in table when unset.
    #[serde(default)]
    string_inserts: Option<String>,
    /// Only rules at this level or above tag events.
    #[serde(default)]
    min_level: Option<SigmaLevel>,
    /// When set, only the rules it names are used.
    #[serde(default)]
    include: SigmaRuleSelector,
    /// Rules it names are not used (applied after `include`).
    #[serde(default)]
    exclude: SigmaRuleSelector,
    /// Refuse to start when any rule is rejected.
    #[serde(default)]
    strict: bool,
    /// Match an event serialized as JSON in a `message` or `log` string (a `file` source
    /// without `decoding.codec = "json"`), when the event has no other shape; the tags
    /// go on the event as it came.
    #[serde(default = "default_wrapped_json")]
    wrapped_json: bool,
    /// Each match's tag entry carries `fields`: the event's values of the fields whose
    /// tests decided it (off by default: it costs time on matched events).
    #[serde(default)]
    matched_fields: bool,
}

fn default_field() -> String {
    "sigma".into()
}

const fn default_wrapped_json() -> bool {
    true
}

/// Set once the first event of no known shape has been warned about.
static WARNED_UNKNOWN_SHAPE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

impl GenerateConfig for SigmaConfig {
    fn generate_config() -> serde_json::Value {
        serde_json::json!({ "rules": ["/etc/vector/sigma"] })
    }
}

impl SigmaConfig {
    /// The library's config: the same options under the same names.
    fn library(&self) -> crate::Result<LibraryConfig> {
        for path in self.rules.iter().chain(&self.filters) {
            if !std::path::Path::new(path).exists() {
                return Err(format!("sigma: rules path {path} does not exist").into());
            }
        }
        let value = serde_json::to_value(self)?;
        serde_json::from_value(value).map_err(|e| format!("sigma: {e}").into())
    }
}

impl SigmaConfig {
    /// Loads and compiles the rules: what both `build` and `vector validate` do, so that
    /// both refuse the same configs with the same message.
    fn compile(&self) -> crate::Result<(LibraryConfig, SigmaTransform)> {
        let config = self.library()?;
        let transform = SigmaTransform::from_config(&config).map_err(|e| format!("sigma: {e}"))?;
        if transform.engine().rules().is_empty() {
            return Err(format!(
                "sigma: no rule loaded from {} ({} rejected)",
                self.rules.join(", "),
                transform.report().rejected.len()
            )
            .into());
        }
        Ok((config, transform))
    }
}

#[async_trait::async_trait]
#[typetag::serde(name = "sigma")]
impl TransformConfig for SigmaConfig {
    async fn build(&self, _context: &TransformContext) -> crate::Result<Transform> {
        let (config, transform) = self.compile()?;
        let report = transform.report();
        for r in &report.rejected {
            warn!(message = "Sigma rule rejected.", rule = %r);
        }
        info!(
            message = "Sigma rules loaded.",
            rules = transform.engine().rules().len(),
            rejected = report.rejected.len()
        );
        #[allow(clippy::disallowed_macros)]
        metrics::counter!("sigma_rules_rejected_total").increment(report.rejected.len() as u64);
        let transform = Arc::new(transform);
        // Correlations: one ordered stage shared by every concurrent task of this
        // transform (state follows the stream; Vector's tasks hand it events in about
        // arrival order, which the allowed lateness absorbs).
        let lane = (!transform.correlations().correlations.is_empty()).then(|| {
            info!(
                message = "Sigma correlations are evaluated in one ordered stage.",
                correlations = transform.report().correlations,
            );
            Arc::new(std::sync::Mutex::new(Lane {
                stage: transform.correlating_shared(),
                scratch: transform.scratch(),
            }))
        });
        let mut runtime = Sigma::new(transform, config.output, config.field.clone());
        runtime.lane = lane;
        Ok(match self.mode {
            SigmaMode::Route => Transform::synchronous(SigmaRouter(runtime)),
            _ => Transform::function(runtime),
        })
    }

    fn validate_with_context(&self, _context: &TransformContext) -> Result<(), Vec<String>> {
        self.compile().map(|_| ()).map_err(|e| vec![e.to_string()])
    }

    fn input(&self) -> Input {
        Input::log()
    }

    fn outputs(
        &self,
        _: &TransformContext,
        input_definitions: &[(OutputId, schema::Definition)],
    ) -> Vec<TransformOutput> {
        let output =
            || TransformOutput::new(DataType::Log, clone_input_definitions(input_definitions));
        match self.mode {
            SigmaMode::Route => vec![
                output().with_port(MATCHED),
                output().with_port(UNMATCHED),
                output().with_port(CORRELATIONS),
            ],
            _ => vec![output()],
        }
    }

    fn enable_concurrency(&self) -> bool {
        true
    }
}

/// The runtime: the compiled rules, shared, and this task's scratch.
pub struct Sigma {
    transform: Arc<SigmaTransform>,
    scratch: TransformScratch,
    /// Set when the rules have correlations: every event's time goes through it, and every
    /// event that matched a rule a correlation references.
    lane: Option<Arc<std::sync::Mutex<Lane>>>,
    counters: Counters,
    output: OutputProfile,
    field: String,
    dropped: Registered<ComponentEventsDropped<'static, INTENTIONAL>>,
}

impl Sigma {
    fn new(transform: Arc<SigmaTransform>, output: OutputProfile, field: String) -> Sigma {
        Sigma {
            scratch: transform.scratch(),
            transform,
            counters: Counters::default(),
            output,
            field,
            lane: None,
            dropped: register!(ComponentEventsDropped::<INTENTIONAL>::from(
                "Event matched no Sigma rule (mode filter)."
            )),
        }
    }
}

/// Each concurrent task gets its own scratch; the correlation stage is shared.
impl Clone for Sigma {
    fn clone(&self) -> Self {
        let mut s = Sigma::new(self.transform.clone(), self.output, self.field.clone());
        s.lane = self.lane.clone();
        s
    }
}

impl Sigma {
    /// One event through the library's event path (with correlations, the ordered stage
    /// `run` and `serve` use). `emit` gets the event, unless it is dropped on purpose,
    /// then the alert event of each correlation it completes or whose window it closed.
    fn run(&mut self, event: Event, emit: &mut dyn FnMut(SigmaRoute, Event)) {
        let Event::Log(log) = event else {
            emit(SigmaRoute::Default, event);
            return;
        };
        let Ok(json) = serde_json::to_vec(&log) else {
            emit(SigmaRoute::Default, Event::Log(log));
            return;
        };
        let mut alerts = Vec::new();
        let (out, matched) = match &self.lane {
            Some(lane) => {
                // Parsing and matching run on this task; only the correlator is shared. An
                // event that matched no rule a correlation references is written here and
                // only moves event time on in the lane; the others go through it whole.
                let mut buf = Vec::with_capacity(json.len() + 512);
                let lock = || lane.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                let (outcome, route) =
                    match prepare(&self.transform, &json, &mut self.scratch, &mut buf) {
                        // Blank or not an event: no time, nothing read.
                        Prepared::Done {
                            outcome,
                            route,
                            time: None,
                        } => (outcome, route),
                        Prepared::Done {
                            outcome,
                            route,
                            time: Some(time),
                        } => {
                            lock().stage.advance(time, &mut alerts);
                            observe(&self.transform, &self.scratch);
                            (outcome, route)
                        }
                        Prepared::Deferred => {
                            let mut lane = lock();
                            let Lane { stage, scratch } = &mut *lane;
                            let done = stage.process_line(&json, scratch, &mut buf, &mut alerts);
                            observe(&self.transform, scratch);
                            done
                        }
                    };
                self.counters.record_routed(outcome, route);
                let out = match route {
                    SigmaRoute::Discarded => Output::Discarded,
                    route => Output::Pass(route, Bytes::from(buf)),
                };
                (out, matches!(outcome, Outcome::Matched(_)))
            }
            None => {
                let out = self.transform.process(
                    Bytes::from(json),
                    &mut self.scratch,
                    &mut self.counters,
                );
                observe(&self.transform, &self.scratch);
                let matched = !self.transform.engine().last_hits(&self.scratch).is_empty();
                (out, matched)
            }
        };
        match out {
            Output::Discarded => self.dropped.emit(Count(1)),
            // Output `alerts`: a document per match, each an event of its own (sharing the
            // event's metadata, so its acknowledgement waits for all of them).
            Output::Pass(route, tagged) if matched && self.output == OutputProfile::Alerts => {
                let (_, metadata) = log.into_parts();
                for doc in sigma_transform::transform::alerts::documents(&tagged) {
                    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&doc) {
                        emit(
                            route,
                            Event::Log(LogEvent::from_parts(v.into(), metadata.clone())),
                        );
                    }
                }
            }
            Output::Pass(route, tagged) if matched => {
                emit(route, Event::Log(self.tagged(log, &tagged)));
            }
            Output::Pass(route, _) => emit(route, Event::Log(log)),
        }
        let alert_route = match self.transform.engine().options().mode {
            sigma_transform::config::Mode::Route => SigmaRoute::Correlations,
            _ => SigmaRoute::Default,
        };
        for alert in alerts {
            #[allow(clippy::disallowed_macros)]
            metrics::counter!("sigma_correlation_firings_total").increment(1);
            if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&alert) {
                emit(
                    alert_route,
                    Event::Log(LogEvent::from(vrl::value::Value::from(value))),
                );
            }
        }
    }

    /// The tags of a matched event, taken from the library's tagged JSON.
    fn tagged(&self, mut log: LogEvent, tagged: &[u8]) -> LogEvent {
        let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice(tagged) else {
            return log;
        };
        match self.output {
            OutputProfile::Sigma => {
                if let Some(tag) = object.remove(&self.field)
                    && let vrl::value::Value::Object(map) = log.value_mut()
                {
                    map.insert(self.field.clone().into(), tag.into());
                }
                log
            }
            // `alerts` documents are made in `run`; each is a whole object too.
            OutputProfile::Ecs | OutputProfile::Alerts => {
                let (_, metadata) = log.into_parts();
                LogEvent::from_parts(serde_json::Value::Object(object).into(), metadata)
            }
        }
    }
}

/// Counts what the last event showed: unwrapped, of no known shape (warned once), and
/// the rules it matched.
fn observe(transform: &SigmaTransform, scratch: &TransformScratch) {
    let engine = transform.engine();
    if engine.last_unwrapped(scratch) {
        #[allow(clippy::disallowed_macros)]
        metrics::counter!("sigma_unwrapped_events_total").increment(1);
    }
    if engine.last_unknown_shape(scratch) {
        #[allow(clippy::disallowed_macros)]
        metrics::counter!("sigma_unknown_shape_events_total").increment(1);
        if !WARNED_UNKNOWN_SHAPE.swap(true, std::sync::atomic::Ordering::Relaxed) {
            warn!(
                message = "Events of no known shape (flat, with no EventID) arrive: Windows rules cannot match them. Is the event JSON inside a string field (set the source's decoding.codec = \"json\")? Counted in sigma_unknown_shape_events_total; warned once."
            );
        }
    }
    for &h in engine.last_hits(scratch) {
        let meta = &engine.rules()[h].meta;
        #[allow(clippy::disallowed_macros)]
        metrics::counter!(
            "sigma_rule_matches_total",
            "rule_id" => meta.id.clone().unwrap_or_default(),
            "level" => meta.level.clone().unwrap_or_default()
        )
        .increment(1);
    }
}

impl FunctionTransform for Sigma {
    fn transform(&mut self, output: &mut OutputBuffer, event: Event) {
        self.run(event, &mut |_, event| output.push(event));
    }
}

/// Mode route: the same runtime with named outputs (every `FunctionTransform` is already a
/// `SyncTransform` with one output, so the router is its own type).
#[derive(Clone)]
pub struct SigmaRouter(Sigma);

impl SyncTransform for SigmaRouter {
    fn transform(&mut self, event: Event, output: &mut TransformOutputsBuf) {
        self.0.run(event, &mut |route, event| {
            let port = match route {
                SigmaRoute::Matched => MATCHED,
                SigmaRoute::Correlations => CORRELATIONS,
                _ => UNMATCHED,
            };
            output.push(Some(port), event);
        });
    }
}

#[cfg(test)]
mod test {
    use std::sync::Arc;

    use tokio::sync::mpsc;
    use tokio_stream::wrappers::ReceiverStream;

    use super::*;
    use crate::{
        config::schema::Definition,
        event::{Event, LogEvent},
        test_util::components::assert_transform_compliance,
        transforms::test::create_topology,
    };

    fn rules_dir() -> String {
        // The bundled rules of the crate copy beside Vector's source.
        concat!(env!("CARGO_MANIFEST_DIR"), "/../sigma-transform/rules").to_string()
    }

    #[test]
    fn generate_config() {
        crate::test_util::test_generate_config::<super::SigmaConfig>();
    }

    #[tokio::test]
    async fn sigma_tags_a_matching_event_and_passes_the_others() {
        assert_transform_compliance(async {
            let config: SigmaConfig =
                serde_json::from_value(serde_json::json!({ "rules": [rules_dir()] })).unwrap();
            let (tx, rx) = mpsc::channel(1);
            let (topology, mut out) = create_topology(ReceiverStream::new(rx), config).await;
            let event: serde_json::Value = serde_json::from_str(
                r##"{"Event":{"System":{"Channel":"System","EventID":7045,"Provider":{"#attributes":{"Name":"Service Control Manager"}}},"EventData":{"ServiceName":"PSEXESVC","ImagePath":"%SystemRoot%\\PSEXESVC.exe"}}}"##,
            )
            .unwrap();
            let mut log = LogEvent::from(vrl::value::Value::from(event));
            log.metadata_mut()
                .set_schema_definition(&Arc::new(Definition::default_legacy_namespace()));
            tx.send(Event::Log(log)).await.unwrap();
            let tagged = out.recv().await.unwrap();
            let matches = tagged
                .as_log()
                .get(vrl::event_path!("sigma", "matches"))
                .and_then(|m| m.as_array().map(|a| a.len()))
                .unwrap_or(0);
            assert!(matches >= 1, "{tagged:?}");
            let plain = LogEvent::from("not a windows event");
            tx.send(Event::Log(plain)).await.unwrap();
            let passed = out.recv().await.unwrap();
            assert!(passed.as_log().get(vrl::event_path!("sigma")).is_none());
            drop(tx);
            topology.stop().await;
            assert_eq!(out.recv().await, None);
        })
        .await;
    }
}
