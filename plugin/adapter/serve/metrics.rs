//! What `serve` counts, and its Prometheus text rendering for `GET /metrics`. Component
//! metrics carry Vector's names and labels (`component_id`, `component_kind`,
//! `component_type`) as its component specification defines them, so that dashboards built
//! for Vector read them unchanged; `sigma_*` metrics are this transform's own. Counters
//! are atomics, updated once per batch, not per event; the per-rule match map takes a
//! lock once per worker job.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::correlate::CorrelationCounters;

/// Component kinds, as Vector labels them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Source,
    Transform,
    Sink,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Source => "source",
            Kind::Transform => "transform",
            Kind::Sink => "sink",
        }
    }
}

/// The counters of one component.
#[derive(Debug)]
pub struct Component {
    pub id: String,
    pub kind: Kind,
    pub type_name: &'static str,
    pub received_events: AtomicU64,
    pub received_bytes: AtomicU64,
    /// Sent events and bytes per output (`None`: the default output).
    sent: Mutex<BTreeMap<Option<&'static str>, (u64, u64)>>,
    pub discarded_intentional: AtomicU64,
    pub discarded_unintentional: AtomicU64,
    errors: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Sinks: events and bytes waiting in the sink's queue.
    pub buffer_events: AtomicI64,
    pub buffer_bytes: AtomicI64,
}

impl Component {
    pub fn new(id: &str, kind: Kind, type_name: &'static str) -> Component {
        Component {
            id: id.to_string(),
            kind,
            type_name,
            received_events: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            sent: Mutex::new(BTreeMap::new()),
            discarded_intentional: AtomicU64::new(0),
            discarded_unintentional: AtomicU64::new(0),
            errors: Mutex::new(BTreeMap::new()),
            buffer_events: AtomicI64::new(0),
            buffer_bytes: AtomicI64::new(0),
        }
    }

    pub fn received(&self, events: u64, bytes: u64) {
        self.received_events.fetch_add(events, Ordering::Relaxed);
        self.received_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    pub fn sent(&self, output: Option<&'static str>, events: u64, bytes: u64) {
        if events == 0 {
            return;
        }
        let mut sent = self.sent.lock().expect("metrics lock");
        let e = sent.entry(output).or_default();
        e.0 += events;
        e.1 += bytes;
    }

    /// Counts an error by Vector's `error_type` and `stage` (`receiving`, `processing`,
    /// `sending`).
    pub fn error(&self, error_type: &'static str, stage: &'static str) {
        *self
            .errors
            .lock()
            .expect("metrics lock")
            .entry((error_type, stage))
            .or_default() += 1;
    }

    pub fn errors_total(&self) -> u64 {
        self.errors.lock().expect("metrics lock").values().sum()
    }

    pub fn sent_events(&self) -> u64 {
        self.sent
            .lock()
            .expect("metrics lock")
            .values()
            .map(|v| v.0)
            .sum()
    }

    fn labels(&self) -> String {
        format!(
            "component_id=\"{}\",component_kind=\"{}\",component_type=\"{}\"",
            escape(&self.id),
            self.kind.label(),
            self.type_name
        )
    }
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// A fixed-bucket histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// Every metric of a serve process.
#[derive(Debug)]
pub struct Metrics {
    pub components: Vec<std::sync::Arc<Component>>,
    /// Matches per (rule id, level).
    rule_matches: Mutex<BTreeMap<(String, String), u64>>,
    pub rules_loaded: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Events that were not JSON objects.
    pub unparsed_events: AtomicU64,
    /// Events of no known shape (flat, with no `EventID`), passed through.
    pub unknown_shape_events: AtomicU64,
    /// Events matched on the JSON event in their `message` or `log` string.
    pub unwrapped_events: AtomicU64,
    /// From a request's arrival to its acknowledgement (or refusal).
    pub request_latency: Histogram,
    /// Time in the transform per batch.
    pub transform_latency: Histogram,
    /// The correlation lane's counters and groups held, after its last batch.
    correlations: Mutex<(CorrelationCounters, u64)>,
}

impl Metrics {
    pub fn new(components: Vec<std::sync::Arc<Component>>) -> Metrics {
        Metrics {
            components,
            rule_matches: Mutex::new(BTreeMap::new()),
            rules_loaded: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            unparsed_events: AtomicU64::new(0),
            unknown_shape_events: AtomicU64::new(0),
            unwrapped_events: AtomicU64::new(0),
            request_latency: Histogram::default(),
            transform_latency: Histogram::default(),
            correlations: Mutex::new((CorrelationCounters::default(), 0)),
        }
    }

    /// The correlation lane's counters (cumulative over reloads) and groups held now.
    pub fn set_correlation_state(&self, counters: CorrelationCounters, groups: u64) {
        *self.correlations.lock().expect("metrics lock") = (counters, groups);
    }

    /// Adds matches of rules (id, level), as one worker job counted them.
    pub fn add_matches<'a>(&self, hits: impl IntoIterator<Item = (&'a str, &'a str, u64)>) {
        let mut m = self.rule_matches.lock().expect("metrics lock");
        for (id, level, n) in hits {
            *m.entry((id.to_string(), level.to_string())).or_default() += n;
        }
    }

    /// Total matches so far.
    pub fn matches_total(&self) -> u64 {
        self.rule_matches
            .lock()
            .expect("metrics lock")
            .values()
            .sum()
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in rows {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        };
        let per = |f: &dyn Fn(&Component) -> Option<u64>| -> Vec<(String, String)> {
            self.components
                .iter()
                .filter_map(|c| f(c).map(|v| (c.labels(), v.to_string())))
                .collect()
        };
        family(
            "component_received_events_total",
            "counter",
            "Events received by the component.",
            per(&|c| Some(c.received_events.load(Ordering::Relaxed))),
        );
        family(
            "component_received_event_bytes_total",
            "counter",
            "Bytes of events received by the component.",
            per(&|c| Some(c.received_bytes.load(Ordering::Relaxed))),
        );
        let sent = |bytes: bool| -> Vec<(String, String)> {
            let mut rows = Vec::new();
            for c in &self.components {
                if c.kind == Kind::Sink {
                    continue;
                }
                let map = c.sent.lock().expect("metrics lock");
                if map.is_empty() {
                    rows.push((c.labels(), "0".into()));
                }
                for (output, (e, b)) in map.iter() {
                    let labels = match output {
                        Some(o) => format!("{},output=\"{o}\"", c.labels()),
                        None => c.labels(),
                    };
                    rows.push((labels, if bytes { b } else { e }.to_string()));
                }
            }
            for c in &self.components {
                if c.kind == Kind::Sink {
                    let (e, b) = c
                        .sent
                        .lock()
                        .expect("metrics lock")
                        .values()
                        .fold((0, 0), |a, v| (a.0 + v.0, a.1 + v.1));
                    rows.push((c.labels(), if bytes { b } else { e }.to_string()));
                }
            }
            rows
        };
        family(
            "component_sent_events_total",
            "counter",
            "Events sent by the component (per output for the transform).",
            sent(false),
        );
        family(
            "component_sent_event_bytes_total",
            "counter",
            "Bytes of events sent by the component.",
            sent(true),
        );
        let mut discarded = Vec::new();
        for c in &self.components {
            for (intentional, v) in [
                ("true", &c.discarded_intentional),
                ("false", &c.discarded_unintentional),
            ] {
                discarded.push((
                    format!("{},intentional=\"{intentional}\"", c.labels()),
                    v.load(Ordering::Relaxed).to_string(),
                ));
            }
        }
        family(
            "component_discarded_events_total",
            "counter",
            "Events the component dropped: on purpose (mode filter) or not (a line over max_length).",
            discarded,
        );
        let mut errors = Vec::new();
        for c in &self.components {
            for ((t, s), v) in c.errors.lock().expect("metrics lock").iter() {
                errors.push((
                    format!("{},error_type=\"{t}\",stage=\"{s}\"", c.labels()),
                    v.to_string(),
                ));
            }
        }
        family(
            "component_errors_total",
            "counter",
            "Errors by type and stage.",
            errors,
        );
        family(
            "buffer_events",
            "gauge",
            "Events waiting in the sink's queue.",
            per(&|c| {
                (c.kind == Kind::Sink)
                    .then(|| c.buffer_events.load(Ordering::Relaxed).max(0) as u64)
            }),
        );
        family(
            "buffer_byte_size",
            "gauge",
            "Bytes of events waiting in the sink's queue.",
            per(&|c| {
                (c.kind == Kind::Sink).then(|| c.buffer_bytes.load(Ordering::Relaxed).max(0) as u64)
            }),
        );
        let matches: Vec<(String, String)> = self
            .rule_matches
            .lock()
            .expect("metrics lock")
            .iter()
            .map(|((id, level), n)| {
                (
                    format!("rule_id=\"{}\",level=\"{}\"", escape(id), escape(level)),
                    n.to_string(),
                )
            })
            .collect();
        family(
            "sigma_rule_matches_total",
            "counter",
            "Events matched, per rule id and level.",
            matches,
        );
        let mut by_level: BTreeMap<String, u64> = BTreeMap::new();
        for ((_, level), n) in self.rule_matches.lock().expect("metrics lock").iter() {
            *by_level.entry(level.clone()).or_default() += n;
        }
        family(
            "sigma_level_matches_total",
            "counter",
            "Rule matches per level.",
            by_level
                .into_iter()
                .map(|(l, n)| (format!("level=\"{}\"", escape(&l)), n.to_string()))
                .collect(),
        );
        let plain = |v: &AtomicU64| vec![(String::new(), v.load(Ordering::Relaxed).to_string())];
        family(
            "sigma_rules_loaded",
            "gauge",
            "Rules in the running rule set.",
            plain(&self.rules_loaded),
        );
        family(
            "sigma_reloads_total",
            "counter",
            "Rule reloads, by result.",
            vec![
                (
                    "result=\"success\"".into(),
                    self.reloads_ok.load(Ordering::Relaxed).to_string(),
                ),
                (
                    "result=\"failure\"".into(),
                    self.reloads_failed.load(Ordering::Relaxed).to_string(),
                ),
            ],
        );
        family(
            "sigma_unparsed_events_total",
            "counter",
            "Events that were not JSON objects, passed through unchanged.",
            plain(&self.unparsed_events),
        );
        family(
            "sigma_unknown_shape_events_total",
            "counter",
            "Events of no known shape (flat, with no EventID): Windows rules cannot match them.",
            plain(&self.unknown_shape_events),
        );
        family(
            "sigma_unwrapped_events_total",
            "counter",
            "Events matched on the JSON event in their message or log string (wrapped_json).",
            plain(&self.unwrapped_events),
        );
        let (c, groups) = *self.correlations.lock().expect("metrics lock");
        let one = |v: u64| vec![(String::new(), v.to_string())];
        for (name, kind, help, v) in [
            (
                "sigma_correlation_firings_total",
                "counter",
                "Correlation firings (each also an alert event).",
                c.firings,
            ),
            (
                "sigma_correlation_groups",
                "gauge",
                "Correlation groups held now, over all correlations.",
                groups,
            ),
            (
                "sigma_correlation_evicted_groups_total",
                "counter",
                "Correlation groups evicted at correlation.max_groups (least recently seen first).",
                c.evicted_groups,
            ),
            (
                "sigma_correlation_evicted_hits_total",
                "counter",
                "Hits evicted from a group at correlation.max_entries_per_group (oldest first).",
                c.evicted_entries,
            ),
            (
                "sigma_correlation_late_hits_total",
                "counter",
                "Hits older than correlation.allowed_lateness_secs, dropped.",
                c.too_late,
            ),
            (
                "sigma_correlation_missing_field_hits_total",
                "counter",
                "Hits without a group-by or value field, not counted.",
                c.missing_field,
            ),
            (
                "sigma_correlation_arrival_time_events_total",
                "counter",
                "Events with no time of their own: their arrival time was used.",
                c.arrival_time,
            ),
        ] {
            family(name, kind, help, one(v));
        }
        for (name, help, h) in [
            (
                "sigma_request_duration_seconds",
                "From a request's arrival to its acknowledgement or refusal.",
                &self.request_latency,
            ),
            (
                "sigma_transform_duration_seconds",
                "Time in the transform per batch.",
                &self.transform_latency,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
            }
            cumulative += h.counts[BUCKETS.len()].load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
            let _ = writeln!(
                out,
                "{name}_sum {}",
                h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(out, "{name}_count {cumulative}");
        }
        out
    }
}

/// Escapes a label value.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn renders_vector_names_and_labels() {
        let src = Arc::new(Component::new("in", Kind::Source, "http_server"));
        let tr = Arc::new(Component::new("tag", Kind::Transform, "sigma"));
        let sink = Arc::new(Component::new("out", Kind::Sink, "file"));
        src.received(3, 300);
        tr.sent(Some("matched"), 1, 150);
        tr.sent(Some("_unmatched"), 2, 100);
        tr.discarded_intentional.fetch_add(4, Ordering::Relaxed);
        sink.error("delivery_failed", "sending");
        let m = Metrics::new(vec![src, tr, sink]);
        m.add_matches([("r-1", "high", 2), ("r\"2", "low", 1)]);
        m.request_latency.observe(Duration::from_millis(3));
        let text = m.render();
        for want in [
            "component_received_events_total{component_id=\"in\",component_kind=\"source\",component_type=\"http_server\"} 3",
            "component_received_event_bytes_total{component_id=\"in\",component_kind=\"source\",component_type=\"http_server\"} 300",
            "component_sent_events_total{component_id=\"tag\",component_kind=\"transform\",component_type=\"sigma\",output=\"matched\"} 1",
            "component_sent_events_total{component_id=\"tag\",component_kind=\"transform\",component_type=\"sigma\",output=\"_unmatched\"} 2",
            "component_discarded_events_total{component_id=\"tag\",component_kind=\"transform\",component_type=\"sigma\",intentional=\"true\"} 4",
            "component_errors_total{component_id=\"out\",component_kind=\"sink\",component_type=\"file\",error_type=\"delivery_failed\",stage=\"sending\"} 1",
            "buffer_events{component_id=\"out\",component_kind=\"sink\",component_type=\"file\"} 0",
            "sigma_rule_matches_total{rule_id=\"r-1\",level=\"high\"} 2",
            "sigma_rule_matches_total{rule_id=\"r\\\"2\",level=\"low\"} 1",
            "sigma_level_matches_total{level=\"high\"} 2",
            "sigma_request_duration_seconds_bucket{le=\"0.0025\"} 0",
            "sigma_request_duration_seconds_bucket{le=\"0.005\"} 1",
            "sigma_request_duration_seconds_count 1",
        ] {
            assert!(text.contains(want), "missing {want}\n{text}");
        }
        // Every sample line is `name{labels} number`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
