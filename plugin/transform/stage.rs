//! The configured pipeline stage: a [`SigmaTransform`] built from a
//! [`SigmaConfig`], with one call per event that returns it
//! enriched, routed or dropped, on bytes ([`bytes::Bytes`], no copy for events that pass
//! unchanged) or on parsed values.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::{Counters, Outcome, Route, Transform, TransformOptions, TransformScratch};
use crate::config::{Level, SigmaConfig};
use crate::event::inserts::InsertNames;
use crate::event::json::EventReader;
use crate::logsource::LogsourceMap;
use crate::rule::placeholders::Placeholders;
use crate::rule::{BuildOptions, Rejection, Rule};
use crate::ruleset::RuleSet;

/// Why a transform cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("invalid logsource mapping {path}: {reason}")]
    Mapping { path: PathBuf, reason: String },
    #[error("invalid placeholders file {path}: {reason}")]
    Placeholders { path: PathBuf, reason: String },
    #[error("invalid StringInserts table {path}: {reason}")]
    Inserts { path: PathBuf, reason: String },
    #[error("{count} rule(s) rejected and strict is set; first: {first}")]
    Strict { count: usize, first: String },
    #[error("rules path {path}: {reason}")]
    RulesPath { path: PathBuf, reason: String },
    #[error(
        "field `{0}` is a name events already use (the tag field is replaced in every event); choose another, such as `sigma`"
    )]
    Field(String),
    #[error(
        "no rule is loaded ({loaded} loaded, {rejected} rejected, {deselected} deselected): the transform would tag nothing; set allow_empty (--allow-empty) if that is intended"
    )]
    NoRules {
        loaded: usize,
        rejected: usize,
        deselected: usize,
    },
}

/// Top-level names that the event shapes of `docs/shapes.md` and ECS give a meaning:
/// the tag field (which the transform owns, replacing what an event sends in it) must be
/// none of them, or every event would lose that member.
pub const EVENT_NAMES: &[&str] = &[
    "Event",
    "System",
    "EventData",
    "UserData",
    "winlog",
    "event",
    "tags",
    "message",
    "log",
    "@timestamp",
    "host",
    "agent",
    "ecs",
    "rule",
    "threat",
    "user",
    "process",
    "file",
    "source",
    "destination",
    "related",
    "EventID",
    "Channel",
    "Computer",
    "ProviderName",
    "StringInserts",
    "Hostname",
    "SourceName",
    "event_data",
    "user_data",
    "provider_name",
];

/// What loading the rules gave.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub total: usize,
    pub rejected: Vec<Rejection>,
    pub not_evaluated: Vec<Rejection>,
    pub skipped: Vec<PathBuf>,
    /// Duplicate rule ids, rule-folder entries skipped on purpose ([`RuleSet::warnings`]).
    pub warnings: Vec<String>,
    /// Rules left out by `min_level`, `include` or `exclude`.
    pub deselected: usize,
    /// Filter documents loaded (applied to the rules they name before selection).
    pub filters: usize,
    /// Correlations loaded and usable over the selected rules.
    pub correlations: usize,
}

/// An event after the transform.
#[derive(Clone, Debug, PartialEq)]
pub enum Output<T> {
    /// To the route's output (`default`, `matched` or `_unmatched`).
    Pass(Route, T),
    /// Dropped on purpose (mode `filter`).
    Discarded,
}

/// The configured transform.
pub struct SigmaTransform {
    engine: Transform,
    report: LoadReport,
    /// Correlations over the selected rules ([`super::correlating`] evaluates them).
    correlations: crate::correlate::Compiled,
    correlation_options: crate::correlate::CorrelationOptions,
}

fn read(path: &PathBuf) -> Result<String, BuildError> {
    std::fs::read_to_string(path).map_err(|error| BuildError::Read {
        path: path.clone(),
        error,
    })
}

/// The logsource mapping in `path`, or the built-in one.
pub fn load_mapping(path: Option<&PathBuf>) -> Result<LogsourceMap, BuildError> {
    match path {
        None => Ok(LogsourceMap::builtin()),
        Some(p) => LogsourceMap::from_yaml(&read(p)?).map_err(|reason| BuildError::Mapping {
            path: p.clone(),
            reason,
        }),
    }
}

/// The placeholder values in `path`, or none.
pub fn load_placeholders(path: Option<&PathBuf>) -> Result<Placeholders, BuildError> {
    match path {
        None => Ok(Placeholders::default()),
        Some(p) => Placeholders::from_yaml(&read(p)?).map_err(|reason| BuildError::Placeholders {
            path: p.clone(),
            reason,
        }),
    }
}

/// Applies `min_level`, `include` and `exclude`.
pub fn select(rules: Vec<Rule>, cfg: &SigmaConfig) -> (Vec<Rule>, usize) {
    let before = rules.len();
    let kept: Vec<Rule> = rules
        .into_iter()
        .filter(|r| {
            let level_ok = match cfg.min_level {
                None => true,
                Some(min) => r
                    .meta
                    .level
                    .as_deref()
                    .and_then(Level::parse)
                    .is_some_and(|l| l >= min),
            };
            let included = cfg.include.is_empty() || cfg.include.selects(&r.meta);
            level_ok && included && !cfg.exclude.selects(&r.meta)
        })
        .collect();
    let dropped = before - kept.len();
    (kept, dropped)
}

impl SigmaTransform {
    /// Loads the rules and data files the config names and compiles the transform.
    pub fn from_config(cfg: &SigmaConfig) -> Result<SigmaTransform, BuildError> {
        let map = load_mapping(cfg.logsources.as_ref())?;
        let placeholders = load_placeholders(cfg.placeholders.as_ref())?;
        let reader = match &cfg.string_inserts {
            None => EventReader::with_shape(cfg.shape),
            Some(p) => {
                let table =
                    InsertNames::from_tsv(&read(p)?).map_err(|reason| BuildError::Inserts {
                        path: p.clone(),
                        reason,
                    })?;
                EventReader::new(cfg.shape, Arc::new(table))
            }
        };
        if EVENT_NAMES.contains(&cfg.field.as_str()) {
            return Err(BuildError::Field(cfg.field.clone()));
        }
        // Fail closed: a rules path that is not there is a mistake, not an empty set.
        for p in cfg.rules.iter().chain(&cfg.filters) {
            if let Err(e) = std::fs::metadata(p) {
                return Err(BuildError::RulesPath {
                    path: p.clone(),
                    reason: e.to_string(),
                });
            }
        }
        let set = RuleSet::load_with_filters(
            &cfg.rules,
            &cfg.filters,
            &BuildOptions::new(placeholders, cfg.limits.clone()),
        );
        if cfg.strict && !set.rejected.is_empty() {
            return Err(BuildError::Strict {
                count: set.rejected.len(),
                first: set.rejected[0].to_string(),
            });
        }
        let total = set.total();
        let loaded = set.rules.len();
        let (rules, deselected) = select(set.rules, cfg);
        let (correlations, unusable) =
            crate::correlate::Compiled::new(set.correlations, &rules, &cfg.correlation);
        let mut warnings = set.warnings;
        for (c, why) in unusable {
            warnings.push(format!(
                "correlation '{}' ({}) is not evaluated: {why} (left out by min_level, include or exclude?)",
                c.meta.title,
                c.path.display()
            ));
        }
        if rules.is_empty() && !cfg.allow_empty {
            return Err(BuildError::NoRules {
                loaded,
                rejected: set.rejected.len(),
                deselected,
            });
        }
        let engine = Transform::new(
            rules,
            &map,
            TransformOptions {
                field: cfg.field.clone(),
                output: cfg.output,
                mode: cfg.mode,
                reader,
                wrapped_json: cfg.wrapped_json,
                matched_fields: cfg.matched_fields,
            },
        );
        Ok(SigmaTransform {
            engine,
            report: LoadReport {
                total,
                rejected: set.rejected,
                not_evaluated: set.not_evaluated,
                skipped: set.skipped,
                warnings,
                deselected,
                filters: set.filters.len(),
                correlations: correlations.correlations.len(),
            },
            correlations,
            correlation_options: cfg.correlation.clone(),
        })
    }

    /// The engine (rules, matcher, tags).
    pub fn engine(&self) -> &Transform {
        &self.engine
    }

    /// The correlations over the selected rules (empty when none is loaded).
    pub fn correlations(&self) -> &crate::correlate::Compiled {
        &self.correlations
    }

    /// How correlations are evaluated (bounds, event time, emitted rules).
    pub fn correlation_options(&self) -> &crate::correlate::CorrelationOptions {
        &self.correlation_options
    }

    /// The stage that evaluates the correlations over a stream, in order.
    pub fn correlating(&self) -> super::correlating::Correlating<&SigmaTransform> {
        super::correlating::Correlating::new(
            self,
            self.correlations.clone(),
            self.correlation_options.clone(),
        )
    }

    /// The same stage over a shared transform (serve: the stage outlives any one batch).
    pub fn correlating_shared(
        self: &std::sync::Arc<Self>,
    ) -> super::correlating::Correlating<std::sync::Arc<SigmaTransform>> {
        super::correlating::Correlating::new(
            self.clone(),
            self.correlations.clone(),
            self.correlation_options.clone(),
        )
    }

    /// What loading gave.
    pub fn report(&self) -> &LoadReport {
        &self.report
    }

    /// Fresh per-thread state.
    pub fn scratch(&self) -> TransformScratch {
        self.engine.scratch()
    }

    /// Processes one event held in bytes (one JSON object, no line terminator). Events that
    /// leave unchanged are the same buffer.
    pub fn process(
        &self,
        event: Bytes,
        scratch: &mut TransformScratch,
        counters: &mut Counters,
    ) -> Output<Bytes> {
        let (out, outcome) = self.engine.process_bytes(event, scratch);
        let route = self.engine.route(outcome);
        counters.record_routed(outcome, route);
        counters.record_reading(&self.engine, scratch);
        match route {
            Route::Discarded => Output::Discarded,
            r => Output::Pass(r, out),
        }
    }

    /// Processes one parsed event. A value that is not an object passes unchanged.
    pub fn process_value(
        &self,
        event: Value,
        scratch: &mut TransformScratch,
        counters: &mut Counters,
    ) -> Output<Value> {
        // Not an object, or one the parser refuses (nested past its limit): passed
        // through and counted, as an unparsable line is.
        let parsed = match self.engine.options().reader.read_value(&event) {
            Ok(p) if event.is_object() => p,
            _ => {
                let outcome = Outcome::Unparsed;
                let route = self.engine.route(outcome);
                counters.record_routed(outcome, route);
                return Output::Pass(route, event);
            }
        };
        let hits = self.engine.match_event(&parsed, scratch);
        let outcome = if hits.is_empty() {
            Outcome::Unmatched
        } else {
            Outcome::Matched(hits.len())
        };
        let route = self.engine.route(outcome);
        counters.record_routed(outcome, route);
        counters.record_reading(&self.engine, scratch);
        if route == Route::Discarded {
            return Output::Discarded;
        }
        let mut value = event;
        if !hits.is_empty() {
            let decided = self.engine.last_decided(scratch);
            self.engine.tag_value(&mut value, &hits, decided);
        }
        Output::Pass(route, value)
    }
}
