//! The transform with correlations: events in stream order through the matcher and the
//! [`Correlator`], one at a time.
//!
//! Per line: parse, match, feed the correlator (event time, hits, the event for group
//! values), then write. A correlation that fires on the event adds
//! `correlations: [{id, title, level, type, group, value, window, rules, author, attack}]`
//! to the event's tag object (next to `matches`), and every firing is also written as an
//! alert line of its own after the event (windows closed by time have no event: only their
//! alert line). Rules a correlation references are not tagged on their own unless it says
//! `generate: true` (or `correlation.emit_referenced_rules` is set); an event tagged only
//! with correlations is a match for the modes.
//!
//! This is a separate stage, not a copy of the event path: it calls the same
//! [`Transform`] for parsing, matching and the rule tags.

use std::borrow::Borrow;

use serde::Serialize;

use super::decided::Decided;
use super::ecs::EcsRule;
use super::tag::RuleTag;
use super::{Outcome, Route, SigmaTransform, Transform, TransformScratch};
use crate::attack::{Attack, AttackRef};
use crate::config::OutputProfile;
use crate::correlate::{Compiled, CorrelationOptions, Correlator, Firing, time};
use crate::event::json::JsonEvent;

/// A correlation's fixed part of its entry, rendered once.
#[derive(Serialize)]
struct Fixed<'a> {
    id: Option<&'a str>,
    title: &'a str,
    level: Option<&'a str>,
    #[serde(rename = "type")]
    kind: &'static str,
    rules: &'a [String],
    author: Option<&'a str>,
    attack: AttackPart,
}

#[derive(Serialize)]
struct AttackPart {
    techniques: Vec<AttackRef>,
    tactics: Vec<AttackRef>,
}

/// The transform and the correlation state.
/// `S` holds the transform: a reference in `run`, an `Arc` in `serve`, where the stage
/// outlives any one batch.
pub struct Correlating<S: Borrow<SigmaTransform>> {
    stage: S,
    correlator: Correlator,
    /// Per correlation: its entry's JSON without the closing brace.
    fixed: Vec<String>,
    /// Per correlation: its values for the ECS profiles (`rule.*`, `threat.*`), as a
    /// rule's.
    ecs_tags: Vec<RuleTag>,
    timestamp_field: Option<String>,
    firings: Vec<Firing>,
    emitted: Vec<usize>,
}

impl<S: Borrow<SigmaTransform>> Correlating<S> {
    /// The stage over `stage`'s transform and its correlations.
    pub fn new(stage: S, compiled: Compiled, opts: CorrelationOptions) -> Self {
        let attack = Attack::builtin();
        let fixed = compiled
            .correlations
            .iter()
            .map(|c| {
                let resolved = attack.resolve(&c.meta.tags);
                let f = Fixed {
                    id: c.meta.id.as_deref(),
                    title: &c.meta.title,
                    level: c.meta.level.as_deref(),
                    kind: c.kind.name(),
                    rules: &c.rules,
                    author: c.meta.author.as_deref(),
                    attack: AttackPart {
                        techniques: resolved.techniques,
                        tactics: resolved.tactics,
                    },
                };
                let mut s = serde_json::to_string(&f).expect("entries serialize");
                s.pop();
                s
            })
            .collect();
        let ecs_tags = compiled
            .correlations
            .iter()
            .map(|c| {
                let category = Some(format!("correlation:{}", c.kind.name()));
                RuleTag::from_meta(&c.meta, EcsRule::from_meta(&c.meta, category), &attack)
            })
            .collect();
        Correlating {
            stage,
            ecs_tags,
            timestamp_field: opts.timestamp_field.clone(),
            correlator: Correlator::new(compiled, opts),
            fixed,
            firings: Vec::new(),
            emitted: Vec::new(),
        }
    }

    /// Where an event with this outcome goes.
    pub fn route(&self, o: Outcome) -> Route {
        self.stage.borrow().engine().route(o)
    }

    pub fn correlator(&self) -> &Correlator {
        &self.correlator
    }

    /// Takes over the state of `old` (the stage of the rule set this one replaces) for
    /// every correlation whose definition is unchanged ([`Correlator::take_state`]).
    /// Returns how many kept their state.
    pub fn take_state<T: Borrow<SigmaTransform>>(&mut self, old: Correlating<T>) -> usize {
        self.correlator.take_state(old.correlator)
    }

    /// The engine it runs the rules with.
    pub fn engine(&self) -> &Transform {
        self.stage.borrow().engine()
    }

    /// Processes one line (no terminator). The event goes to `out` (with `route`), alert
    /// lines (each without terminator) to `alerts`. Returns the outcome and route.
    pub fn process_line(
        &mut self,
        line: &[u8],
        scratch: &mut TransformScratch,
        out: &mut Vec<u8>,
        alerts: &mut Vec<Vec<u8>>,
    ) -> (Outcome, Route) {
        self.firings.clear();
        let engine = self.stage.borrow().engine();
        let (event, hits) = match read_and_match(engine, line, scratch) {
            Err(o) => {
                out.extend_from_slice(line);
                return (o, engine.route(o));
            }
            Ok(read) => read,
        };
        let t = time::event_time(&event, self.timestamp_field.as_deref());
        self.correlator.observe(t, &hits, &event, &mut self.firings);
        let silent = &self.correlator.compiled().silent;
        self.emitted.clear();
        self.emitted
            .extend(hits.iter().copied().filter(|&h| !silent[h]));
        let quiet = &self.correlator.compiled().silent_correlations;
        self.firings.retain(|f| !quiet[f.correlation]);
        let on_event: Vec<usize> = (0..self.firings.len())
            .filter(|&i| self.firings[i].on_event)
            .collect();
        let n = self.emitted.len() + on_event.len();
        let outcome = if n == 0 {
            Outcome::Unmatched
        } else {
            Outcome::Matched(n)
        };
        let route = engine.route(outcome);
        if n == 0 {
            out.extend_from_slice(line);
        } else {
            self.write_event(line, &on_event, engine.last_decided(scratch), out);
        }
        for f in &self.firings {
            alerts.push(self.alert(f));
        }
        (outcome, route)
    }

    /// The ordered half of a line a worker thread prepared ([`prepare`]) as
    /// [`Prepared::Done`]: its time moves the stream on, which may close windows; their
    /// alert lines go to `alerts` (the event itself is already written). Only for lines
    /// `prepare` finished: a [`Prepared::Deferred`] one goes through [`Self::process_line`].
    pub fn advance(&mut self, time: Option<i64>, alerts: &mut Vec<Vec<u8>>) {
        self.firings.clear();
        self.correlator.tick(time, &mut self.firings);
        let quiet = &self.correlator.compiled().silent_correlations;
        self.firings.retain(|f| !quiet[f.correlation]);
        debug_assert!(self.firings.iter().all(|f| !f.on_event));
        for f in &self.firings {
            alerts.push(self.alert(f));
        }
    }

    /// End of input: decides every open window; their alert lines go to `alerts`.
    pub fn finish(&mut self, alerts: &mut Vec<Vec<u8>>) {
        self.firings.clear();
        self.correlator.finish(&mut self.firings);
        let quiet = &self.correlator.compiled().silent_correlations;
        self.firings.retain(|f| !quiet[f.correlation]);
        for f in &self.firings {
            alerts.push(self.alert(f));
        }
    }

    fn entry(&self, f: &Firing, out: &mut Vec<u8>) {
        out.extend_from_slice(self.fixed[f.correlation].as_bytes());
        let group: serde_json::Map<String, serde_json::Value> = f
            .group
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        let rest = serde_json::json!({
            "group": group,
            "value": f.value,
            "window": {"start": time::format(f.start), "end": time::format(f.end)},
        });
        let rest = serde_json::to_string(&rest).expect("serializes");
        out.push(b',');
        out.extend_from_slice(&rest.as_bytes()[1..]);
    }

    fn write_event(&self, line: &[u8], on_event: &[usize], decided: &Decided, out: &mut Vec<u8>) {
        let engine = self.engine();
        let opts = engine.options();
        let tags = engine.tags();
        let members = |o: &mut Vec<u8>| {
            o.extend_from_slice(b"\"matches\":");
            super::tag::write_entries(&self.emitted, tags, decided, o);
            o.extend_from_slice(b",\"correlations\":[");
            for (i, &k) in on_event.iter().enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                self.entry(&self.firings[k], o);
            }
            o.push(b']');
        };
        match opts.output {
            _ if on_event.is_empty() => engine.write_tags(line, &self.emitted, decided, out),
            OutputProfile::Sigma => sigma_tagged(line, &opts.field, out, members),
            // Correlations map as rules do: `rule.*` and `threat.*` have one element per
            // rule match, then one per correlation, in the order of their entries.
            OutputProfile::Ecs => {
                let matched: Vec<&RuleTag> = (self.emitted.iter().map(|&h| &tags[h]))
                    .chain(on_event.iter().map(|&k| self.correlation_tag(k)))
                    .collect();
                super::ecs::write_with(line, &opts.field, &matched, out, members);
            }
            // One document per rule; a correlation's is its alert line. An event that only
            // completed a correlation leaves as it came.
            OutputProfile::Alerts if self.emitted.is_empty() => out.extend_from_slice(line),
            OutputProfile::Alerts => engine.write_tags(line, &self.emitted, decided, out),
        }
    }

    /// The ECS values of the correlation of firing `k`.
    fn correlation_tag(&self, k: usize) -> &RuleTag {
        &self.ecs_tags[self.firings[k].correlation]
    }

    /// An alert line: `{"@timestamp": window end, "message": ..., <field>: {"matches": [],
    /// "correlations": [entry]}}`; in the ECS profiles also the correlation's `rule.*`,
    /// `threat.*` and `event.kind: alert`, as [`super::ecs`] writes a rule's.
    fn alert(&self, f: &Firing) -> Vec<u8> {
        let c = &self.correlator.compiled().correlations[f.correlation];
        let head = serde_json::json!({
            "@timestamp": time::format(f.end),
            "message": format!("Sigma correlation: {}", c.meta.title),
        });
        let head = serde_json::to_vec(&head).expect("serializes");
        let opts = self.engine().options();
        let members = |o: &mut Vec<u8>| {
            o.extend_from_slice(b"\"matches\":[],\"correlations\":[");
            self.entry(f, o);
            o.push(b']');
        };
        let mut out = Vec::with_capacity(head.len() + 1024);
        match opts.output {
            OutputProfile::Sigma => sigma_tagged(&head, &opts.field, &mut out, members),
            OutputProfile::Ecs | OutputProfile::Alerts => {
                let tag = &self.ecs_tags[f.correlation];
                super::ecs::write_with(&head, &opts.field, &[tag], &mut out, members);
            }
        }
        out
    }
}

/// The first step of every line, in [`Correlating::process_line`] and [`prepare`] alike:
/// the event read and the rules it matched, or (`Err`) the outcome of a blank or
/// unparsable line, which is written unchanged and is nothing to the correlations.
fn read_and_match<'a>(
    engine: &Transform,
    line: &'a [u8],
    scratch: &mut TransformScratch,
) -> Result<(JsonEvent<'a>, Vec<usize>), Outcome> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err(Outcome::Blank);
    }
    let event = engine.read(line).map_err(|_| Outcome::Unparsed)?;
    let hits = engine.match_event(&event, scratch);
    Ok((event, hits))
}

/// What a worker thread made of one line of a stream with correlations
/// ([`prepare`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// The line is written to `out` as it leaves the transform. The ordered stage only
    /// moves time on with it ([`Correlating::advance`]): `Some(time)` (the event's own,
    /// or `None` for arrival time), or `None` for a blank or unparsable line, which has
    /// no time.
    Done {
        outcome: Outcome,
        route: Route,
        time: Option<Option<i64>>,
    },
    /// The event matched a rule a correlation references: nothing is written, and the
    /// ordered stage processes the line whole ([`Correlating::process_line`]), matching
    /// it again.
    Deferred,
}

/// The part of [`Correlating::process_line`] that needs no correlation state, for worker
/// threads: an event that matched no rule a correlation references leaves exactly as the
/// ordered stage would write it (its matches are none of them silenced, and no firing is
/// on it: an event that moves time on only closes windows, whose firings are alert
/// lines). Most events are such; the few that are not are [`Prepared::Deferred`].
///
/// Cost: on a deferred line, parsing and matching run twice (here and in the ordered
/// stage); every other line costs what it costs without correlations.
pub fn prepare(
    stage: &SigmaTransform,
    line: &[u8],
    scratch: &mut TransformScratch,
    out: &mut Vec<u8>,
) -> Prepared {
    let engine = stage.engine();
    let (event, hits) = match read_and_match(engine, line, scratch) {
        Err(outcome) => {
            out.extend_from_slice(line);
            let route = engine.route(outcome);
            return Prepared::Done {
                outcome,
                route,
                time: None,
            };
        }
        Ok(read) => read,
    };
    let correlations = stage.correlations();
    if hits.iter().any(|&h| correlations.feeds(h)) {
        return Prepared::Deferred;
    }
    let time = time::event_time(
        &event,
        stage.correlation_options().timestamp_field.as_deref(),
    );
    let outcome = if hits.is_empty() {
        out.extend_from_slice(line);
        Outcome::Unmatched
    } else {
        engine.write_tags(line, &hits, engine.last_decided(scratch), out);
        Outcome::Matched(hits.len())
    };
    Prepared::Done {
        outcome,
        route: engine.route(outcome),
        time: Some(time),
    }
}

/// Writes `line` with its `field` member replaced by the object whose members `members`
/// writes (the `sigma` profile's tag object).
fn sigma_tagged(line: &[u8], field: &str, out: &mut Vec<u8>, members: impl FnOnce(&mut Vec<u8>)) {
    super::splice::replace_member(line, field, out, |o| {
        o.push(b'{');
        members(o);
        o.push(b'}');
    });
}
