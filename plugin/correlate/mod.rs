//! Correlations evaluated over the stream, with bounded state (issue 20).
//!
//! The matcher says which rules an event matches; this layer keeps, for each correlation
//! and each group (the values of its `group-by` fields), the hits of the last `timespan`,
//! and says when a correlation fires. It is the only stateful part of the event path, so
//! it runs where events are in order (the ordered stage of `run`).
//!
//! Windows (docs/semantics.md, "Correlations"):
//! - A condition of only `gt`/`gte` is decided at each hit, over the hits of
//!   `[t - timespan, t]` (a sliding window). When it holds, the correlation fires on that
//!   event, and the group starts over (one alert per burst, not one per later event).
//! - A condition with `lt`, `lte`, `eq` or `neq` can only be decided once the window is
//!   over: the group's window opens at its first hit and is decided when event time passes
//!   its end (plus the allowed lateness), or at the end of input.
//! - Event time comes from the event ([`time`]); an event without one takes its arrival
//!   time, and is counted. Hits up to `allowed_lateness` older than the newest time seen
//!   still count; older ones are dropped and counted.
//! - A correlation that fires is a hit for the correlations that reference it, at the same
//!   time, with group values read from the same event (or, when a window closed with no
//!   event, from the firing's group).
//!
//! State is bounded: at most `max_groups` groups per correlation (the group seen least
//! recently goes first) and `max_entries_per_group` hits per group (the oldest go first);
//! both evictions are counted.

pub mod time;
pub mod window;

use std::collections::{BTreeSet, HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Document;
use crate::rule::Rule;
use crate::rule::correlation::{Correlation, CorrelationType, Target};
use window::{Entry, Value};

/// Bounds and time handling of correlation state (config `correlation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CorrelationOptions {
    /// Most groups kept per correlation; the least recently seen group is evicted first.
    pub max_groups: usize,
    /// Most hits kept per group; the oldest are evicted first.
    pub max_entries_per_group: usize,
    /// How far behind the newest event time a hit may be and still count, in seconds.
    pub allowed_lateness_secs: u64,
    /// The field holding event time (dotted path), tried before the shapes' own.
    pub timestamp_field: Option<String>,
    /// Also tag events with the rules a correlation references when the correlation does
    /// not say `generate: true` (the specification's default is not to).
    pub emit_referenced_rules: bool,
}

impl Default for CorrelationOptions {
    fn default() -> Self {
        CorrelationOptions {
            max_groups: 100_000,
            max_entries_per_group: 10_000,
            allowed_lateness_secs: 60,
            timestamp_field: None,
            emit_referenced_rules: false,
        }
    }
}

/// Correlations ready to evaluate against a rule list.
#[derive(Clone, Debug)]
pub struct Compiled {
    pub correlations: Vec<Correlation>,
    /// Per rule (index in the rule list): the (correlation, reference position) pairs it
    /// feeds.
    by_rule: Vec<Vec<(usize, u32)>>,
    /// Per correlation: the correlations that reference it, with the position.
    parents: Vec<Vec<(usize, u32)>>,
    /// Per correlation: the rule `name` (or id) behind each reference, for aliases.
    ref_names: Vec<Vec<Option<String>>>,
    /// Per correlation: decided at each hit (only `gt`/`gte`).
    early: Vec<bool>,
    /// Per rule: referenced by a correlation and not to be tagged on its own.
    pub silent: Vec<bool>,
    /// Per correlation: referenced by another one and not to be written on its own (its
    /// firings still feed the correlations that reference it).
    pub silent_correlations: Vec<bool>,
}

impl Compiled {
    /// Resolves `correlations` against `rules` (the rules the transform compiled, in its
    /// order). Those that cannot be used (a reference to a rule not in the list) are
    /// returned apart with the reason.
    pub fn new(
        correlations: Vec<Correlation>,
        rules: &[Rule],
        opts: &CorrelationOptions,
    ) -> (Compiled, Vec<(Correlation, String)>) {
        // Dropping one may leave another pointing at it: resolve again on what is kept
        // until every kept one resolves (each pass drops at least one, or stops).
        let mut keep = correlations;
        let mut dropped = Vec::new();
        let targets = loop {
            let resolved = crate::rule::correlation::resolve(&keep, rules);
            if resolved.iter().all(Result::is_ok) {
                break resolved.into_iter().map(Result::unwrap).collect::<Vec<_>>();
            }
            let mut next = Vec::new();
            for (c, r) in keep.into_iter().zip(resolved) {
                match r {
                    Ok(_) => next.push(c),
                    Err(e) => dropped.push((c, e.to_string())),
                }
            }
            keep = next;
        };
        let mut by_rule = vec![Vec::new(); rules.len()];
        let mut parents = vec![Vec::new(); keep.len()];
        let mut silent = vec![false; rules.len()];
        let mut ref_names = Vec::new();
        for (ci, ts) in targets.iter().enumerate() {
            let mut names = Vec::new();
            for (pos, t) in ts.iter().enumerate() {
                match *t {
                    Target::Rule(r) => {
                        by_rule[r].push((ci, pos as u32));
                        if !keep[ci].generate && !opts.emit_referenced_rules {
                            silent[r] = true;
                        }
                        names.push(rules[r].meta.name.clone().or(rules[r].meta.id.clone()));
                    }
                    Target::Correlation(j) => {
                        parents[j].push((ci, pos as u32));
                        let m = &keep[j].meta;
                        names.push(m.name.clone().or(m.id.clone()));
                    }
                }
            }
            ref_names.push(names);
        }
        // A rule a correlation references with `generate: true` fires on its own anyway.
        for (ci, ts) in targets.iter().enumerate() {
            if keep[ci].generate {
                for t in ts {
                    if let Target::Rule(r) = *t {
                        silent[r] = false;
                    }
                }
            }
        }
        let silent_correlations = (0..keep.len())
            .map(|c| !parents[c].is_empty() && !keep[c].generate && !opts.emit_referenced_rules)
            .collect();
        let early = keep
            .iter()
            .map(|c| c.condition.tests.iter().all(|(op, _)| op.decided_early()))
            .collect();
        (
            Compiled {
                correlations: keep,
                by_rule,
                parents,
                ref_names,
                early,
                silent,
                silent_correlations,
            },
            dropped,
        )
    }

    /// True when no correlation is loaded.
    pub fn is_empty(&self) -> bool {
        self.correlations.is_empty()
    }

    /// True when rule `r` feeds a correlation.
    pub fn feeds(&self, r: usize) -> bool {
        self.by_rule.get(r).is_some_and(|v| !v.is_empty())
    }
}

/// One firing of a correlation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Firing {
    /// Index in [`Compiled::correlations`].
    #[serde(skip)]
    pub correlation: usize,
    /// `group-by` field (or alias) -> value.
    pub group: Vec<(String, String)>,
    /// The measure that passed the condition.
    pub value: f64,
    /// Window bounds, ms since the epoch.
    pub start: i64,
    pub end: i64,
    /// True when it fired on the event being processed (false: a window closed).
    pub on_event: bool,
}

/// Counters of the correlation stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CorrelationCounters {
    pub firings: u64,
    /// Events whose time was their arrival time (none in the event).
    pub arrival_time: u64,
    /// Hits older than the allowed lateness, dropped.
    pub too_late: u64,
    /// Hits whose group-by or value field was missing, not counted.
    pub missing_field: u64,
    pub evicted_groups: u64,
    pub evicted_entries: u64,
}

#[derive(Debug, Default)]
struct Group {
    entries: VecDeque<Entry>,
    /// Close-decided windows: where this group's window opened.
    opened: Option<i64>,
    last_seen: u64,
}

/// The state of every correlation.
#[derive(Debug)]
pub struct Correlator {
    compiled: Compiled,
    opts: CorrelationOptions,
    groups: Vec<HashMap<Vec<String>, Group>>,
    /// Close-decided windows by deadline: (end, correlation, group).
    deadlines: BTreeSet<(i64, usize, Vec<String>)>,
    /// Newest event time seen.
    newest: i64,
    /// A clock for "least recently seen".
    tick: u64,
    pub counters: CorrelationCounters,
}

impl Correlator {
    pub fn new(compiled: Compiled, mut opts: CorrelationOptions) -> Correlator {
        let n = compiled.correlations.len();
        // Bounded so that window arithmetic stays far inside i64 (ten years is more
        // lateness than any stream has).
        opts.allowed_lateness_secs = opts.allowed_lateness_secs.min(10 * 366 * 86_400);
        opts.max_groups = opts.max_groups.max(1);
        opts.max_entries_per_group = opts.max_entries_per_group.max(1);
        Correlator {
            compiled,
            opts,
            groups: (0..n).map(|_| HashMap::new()).collect(),
            deadlines: BTreeSet::new(),
            newest: i64::MIN,
            tick: 0,
            counters: CorrelationCounters::default(),
        }
    }

    pub fn compiled(&self) -> &Compiled {
        &self.compiled
    }

    /// Groups held now, over all correlations (for the memory bench and metrics).
    pub fn groups_held(&self) -> usize {
        self.groups.iter().map(HashMap::len).sum()
    }

    /// Feeds one event: its time (None: arrival time is used, and counted), the rules it
    /// matched, and the event for field values. Firings are appended to `out`: those of
    /// windows the event's time closed first, then those the event completes.
    pub fn observe(
        &mut self,
        time: Option<i64>,
        hits: &[usize],
        event: &dyn Document,
        out: &mut Vec<Firing>,
    ) {
        let t = self.tick(time, out);
        let before = out.len();
        for &r in hits {
            let n = self.compiled.by_rule.get(r).map_or(0, Vec::len);
            for k in 0..n {
                let (c, pos) = self.compiled.by_rule[r][k];
                self.hit(c, pos, t, Lookup::Event(event), out);
            }
        }
        // Firings on this event feed the correlations that reference them.
        let mut i = before;
        while i < out.len() {
            let c = out[i].correlation;
            for k in 0..self.compiled.parents[c].len() {
                let (p, pos) = self.compiled.parents[c][k];
                self.hit(p, pos, t, Lookup::Event(event), out);
            }
            i += 1;
        }
    }

    /// An event that matched no rule a correlation references: only its time counts (None:
    /// arrival time, counted), which may close windows. Their firings go to `out`, none of
    /// them on this event. Returns the time used.
    pub fn tick(&mut self, time: Option<i64>, out: &mut Vec<Firing>) -> i64 {
        let t = time.unwrap_or_else(|| {
            self.counters.arrival_time += 1;
            now_ms()
        });
        self.advance(t, out);
        t
    }

    /// Decides every close-decided window whose end (plus lateness) is before `t`.
    pub fn advance(&mut self, t: i64, out: &mut Vec<Firing>) {
        if t > self.newest {
            self.newest = t;
        }
        let limit = self
            .newest
            .saturating_sub(self.opts.allowed_lateness_secs as i64 * 1000);
        while let Some(first) = self.deadlines.first() {
            if first.0 >= limit {
                break;
            }
            let (_, c, key) = self.deadlines.pop_first().expect("not empty");
            self.close(c, key, out);
        }
    }

    /// Takes over the state of `old` (the correlator of the rule set this one replaces)
    /// for every correlation whose definition is unchanged ([`same_definition`]): its
    /// groups and open windows. The newest event time, the clock and the counters carry
    /// over whole. Returns how many correlations kept their state; the others start empty.
    pub fn take_state(&mut self, mut old: Correlator) -> usize {
        let mut kept = 0;
        for (c, corr) in self.compiled.correlations.iter().enumerate() {
            let Some(o) = (0..old.compiled.correlations.len())
                .find(|&o| same_definition(&old.compiled.correlations[o], corr))
            else {
                continue;
            };
            self.groups[c] = std::mem::take(&mut old.groups[o]);
            let moved: Vec<(i64, usize, Vec<String>)> = (old.deadlines.iter())
                .filter(|d| d.1 == o)
                .cloned()
                .collect();
            for (end, _, key) in moved {
                self.deadlines.insert((end, c, key));
            }
            kept += 1;
        }
        self.newest = self.newest.max(old.newest);
        self.tick = self.tick.max(old.tick);
        self.counters = old.counters;
        kept
    }

    /// End of input (or shutdown): decides every open window.
    pub fn finish(&mut self, out: &mut Vec<Firing>) {
        while let Some((_, c, key)) = self.deadlines.pop_first() {
            self.close(c, key, out);
        }
    }

    fn close(&mut self, c: usize, key: Vec<String>, out: &mut Vec<Firing>) {
        let Some(g) = self.groups[c].remove(&key) else {
            return;
        };
        let Some(opened) = g.opened else { return };
        let corr = &self.compiled.correlations[c];
        let end = opened + corr.timespan_secs as i64 * 1000;
        let (value, _) = window_value(corr, &g.entries, opened, end);
        let span = end - opened;
        // Hits after this window's end (kept while lateness held it open) open the next.
        let rest: VecDeque<Entry> = g.entries.iter().filter(|e| e.time > end).cloned().collect();
        let holds = corr.condition.holds(value);
        if let Some(first) = rest.front() {
            let next = first.time;
            self.deadlines.insert((next + span, c, key.clone()));
            self.groups[c].insert(
                key.clone(),
                Group {
                    entries: rest,
                    opened: Some(next),
                    last_seen: g.last_seen,
                },
            );
        }
        if holds {
            let from = out.len();
            self.counters.firings += 1;
            out.push(Firing {
                correlation: c,
                group: group_pairs(corr, &key),
                value,
                start: opened,
                end,
                on_event: false,
            });
            // The firing is a hit for the correlations that reference it, at the window's
            // end, and so on up. None of them is on the event being processed (it only
            // moved time on): they are alert lines.
            let mut i = from;
            while i < out.len() {
                let (fired, group) = (out[i].correlation, out[i].group.clone());
                for k in 0..self.compiled.parents[fired].len() {
                    let (p, pos) = self.compiled.parents[fired][k];
                    self.hit(p, pos, end, Lookup::Group(&group), out);
                }
                out[i].on_event = false;
                i += 1;
            }
        }
    }

    fn hit(&mut self, c: usize, pos: u32, t: i64, look: Lookup<'_>, out: &mut Vec<Firing>) {
        let corr = &self.compiled.correlations[c];
        let rule_name = self.compiled.ref_names[c][pos as usize].as_deref();
        let mut key = Vec::with_capacity(corr.group_by.len());
        for g in &corr.group_by {
            let field = corr.group_field(g, rule_name);
            match field.and_then(|f| look.text(f, g)) {
                Some(v) => key.push(v),
                None => {
                    self.counters.missing_field += 1;
                    return;
                }
            }
        }
        let value = match corr.kind {
            CorrelationType::ValueCount => {
                let mut parts = Vec::new();
                for f in &corr.condition.fields {
                    match look.text(f, f) {
                        Some(v) => parts.push(v),
                        None => {
                            self.counters.missing_field += 1;
                            return;
                        }
                    }
                }
                Value::Text(parts.join("\u{1f}"))
            }
            k if k.needs_field() => match look.number(&corr.condition.fields[0]) {
                Some(n) => Value::Number(n),
                None => {
                    self.counters.missing_field += 1;
                    return;
                }
            },
            _ => Value::None,
        };
        let lateness = self.opts.allowed_lateness_secs as i64 * 1000;
        // A hit from a window that closed is at that window's end, which event time passed
        // by more than the lateness before it could close: it is released now, not late.
        let released = matches!(look, Lookup::Group(_));
        if !released && t < self.newest.saturating_sub(lateness) {
            self.counters.too_late += 1;
            return;
        }
        let span = corr.timespan_secs as i64 * 1000;
        let early = self.compiled.early[c];
        self.tick += 1;
        let tick = self.tick;
        if !self.groups[c].contains_key(&key) && self.groups[c].len() >= self.opts.max_groups {
            evict_oldest(&mut self.groups[c], &mut self.deadlines, c, span);
            self.counters.evicted_groups += 1;
        }
        let g = self.groups[c].entry(key.clone()).or_default();
        g.last_seen = tick;
        if !early {
            let opened = *g.opened.get_or_insert(t);
            if g.entries.is_empty() {
                self.deadlines.insert((opened + span, c, key.clone()));
            }
            if t < opened {
                // Late, before this group's window: it belongs to no open window.
                self.counters.too_late += 1;
                return;
            }
        }
        // Keep entries in time order (a late hit goes where it belongs).
        let at = g
            .entries
            .iter()
            .rposition(|e| e.time <= t)
            .map_or(0, |i| i + 1);
        g.entries.insert(
            at,
            Entry {
                time: t,
                pos,
                value,
            },
        );
        if g.entries.len() > self.opts.max_entries_per_group {
            g.entries.pop_front();
            self.counters.evicted_entries += 1;
        }
        if !early {
            return;
        }
        // Sliding: drop what no later window can hold, then decide at this hit.
        let horizon = self.newest.saturating_sub(span + lateness);
        while g.entries.front().is_some_and(|e| e.time < horizon) {
            g.entries.pop_front();
        }
        let (value, first) = window_value(corr, &g.entries, t - span, t);
        if corr.condition.holds(value) {
            let start = first.unwrap_or(t);
            g.entries.clear();
            self.counters.firings += 1;
            out.push(Firing {
                correlation: c,
                group: group_pairs(corr, &key),
                value,
                start,
                end: t,
                on_event: true,
            });
        }
    }
}

/// Whether two correlations count the same thing, so that one's state is the other's:
/// the same id (or title, when neither has an id), type, references, group-by, aliases,
/// timespan and condition. Level, description, `generate` and the file may differ.
pub fn same_definition(a: &Correlation, b: &Correlation) -> bool {
    let key = |c: &Correlation| {
        (
            c.meta.id.clone(),
            c.meta.id.is_none().then(|| c.meta.title.clone()),
        )
    };
    key(a) == key(b)
        && a.kind == b.kind
        && a.rules == b.rules
        && a.group_by == b.group_by
        && a.aliases == b.aliases
        && a.timespan_secs == b.timespan_secs
        && a.condition == b.condition
}

/// Evicts the least recently seen group of correlation `c` (a scan: it runs only when the
/// group bound is reached, once per new group past it).
fn evict_oldest(
    groups: &mut HashMap<Vec<String>, Group>,
    deadlines: &mut BTreeSet<(i64, usize, Vec<String>)>,
    c: usize,
    span: i64,
) {
    let Some(oldest) = groups
        .iter()
        .min_by_key(|(_, g)| g.last_seen)
        .map(|(k, _)| k.clone())
    else {
        return;
    };
    if let Some(g) = groups.remove(&oldest)
        && let Some(opened) = g.opened
    {
        deadlines.remove(&(opened + span, c, oldest));
    }
}

/// The measure of `corr` over the entries timed in `[from, to]`, and the first such time.
fn window_value(
    corr: &Correlation,
    entries: &VecDeque<Entry>,
    from: i64,
    to: i64,
) -> (f64, Option<i64>) {
    let inside: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.time >= from && e.time <= to)
        .collect();
    let value = window::measure(
        corr.kind,
        &inside,
        corr.rules.len(),
        corr.condition.percentile,
    );
    (value, inside.first().map(|e| e.time))
}

fn group_pairs(corr: &Correlation, key: &[String]) -> Vec<(String, String)> {
    corr.group_by
        .iter()
        .cloned()
        .zip(key.iter().cloned())
        .collect()
}

/// Where a hit's field values come from.
enum Lookup<'a> {
    Event(&'a dyn Document),
    /// A firing from a closed window: its group (by group-by name).
    Group(&'a [(String, String)]),
}

impl Lookup<'_> {
    /// The first value of `field` as text (`group_name`: the name in the firing's group).
    fn text(&self, field: &str, group_name: &str) -> Option<String> {
        match self {
            Lookup::Event(doc) => {
                let mut buf = String::new();
                let mut got = None;
                doc.field(field, &mut |s| {
                    if got.is_none() {
                        got = s.text(&mut buf).map(str::to_string);
                    }
                });
                got
            }
            Lookup::Group(pairs) => pairs
                .iter()
                .find(|(k, _)| k == group_name || k == field)
                .map(|(_, v)| v.clone()),
        }
    }

    fn number(&self, field: &str) -> Option<f64> {
        match self {
            Lookup::Event(doc) => {
                let mut got = None;
                doc.field(field, &mut |s| {
                    if got.is_none() {
                        got = s.number();
                    }
                });
                got
            }
            Lookup::Group(_) => None,
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
