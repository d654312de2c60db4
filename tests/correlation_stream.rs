//! Correlations evaluated over streams (issue 20): each type fires on a stream built to
//! fire it and misses on one built to miss it by one (one event too few; one second past
//! the window); group-by and aliases keep groups apart; state stays within its bounds;
//! and the streaming engine agrees with a reference evaluator (the simplest correct code,
//! `reference` below) on generated streams with random times, groups, values and
//! lateness.

use proptest::prelude::*;

use sigma_transform::correlate::window::percentile_of;
use sigma_transform::correlate::{Compiled, CorrelationOptions, Correlator, Firing};
use sigma_transform::event::json::JsonEvent;
use sigma_transform::rule::BuildOptions;
use sigma_transform::rule::correlation::{Correlation, CorrelationType};
use sigma_transform::ruleset::RuleSet;

/// Two rules, `a` and `b`, fed directly (the tests give the hits; matching is tested
/// elsewhere).
const RULES: &str = "title: A
name: a
logsource: {product: test}
detection: {sel: {K: a}, condition: sel}
---
title: B
name: b
logsource: {product: test}
detection: {sel: {K: b}, condition: sel}
";

fn engine(correlation: &str, opts: CorrelationOptions) -> Correlator {
    let text = format!("{RULES}---\n{correlation}");
    let set = RuleSet::from_text("stream.yml", &text, &BuildOptions::default());
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let (compiled, dropped) = Compiled::new(set.correlations, &set.rules, &opts);
    assert!(dropped.is_empty(), "{dropped:?}");
    Correlator::new(compiled, opts)
}

/// One event: seconds, the rules it matched (0 = a, 1 = b), its fields.
struct Ev {
    t: i64,
    hits: Vec<usize>,
    json: String,
}

fn ev(t: i64, hits: &[usize], fields: serde_json::Value) -> Ev {
    Ev {
        t,
        hits: hits.to_vec(),
        json: fields.to_string(),
    }
}

/// Firings (correlation title, group values, value, start s, end s) over a stream.
fn run(c: &mut Correlator, events: &[Ev]) -> Vec<(String, Vec<String>, f64, i64, i64)> {
    let mut out = Vec::new();
    for e in events {
        let doc = JsonEvent::parse(e.json.as_bytes()).unwrap();
        c.observe(Some(e.t * 1000), &e.hits, &doc, &mut out);
    }
    c.finish(&mut out);
    let titles: Vec<String> = c
        .compiled()
        .correlations
        .iter()
        .map(|x| x.meta.title.clone())
        .collect();
    out.iter()
        .map(|f: &Firing| {
            (
                titles[f.correlation].clone(),
                f.group.iter().map(|(_, v)| v.clone()).collect(),
                f.value,
                f.start / 1000,
                f.end / 1000,
            )
        })
        .collect()
}

fn user(u: &str) -> serde_json::Value {
    serde_json::json!({"User": u})
}

const COUNT: &str = "title: count
correlation:
    type: event_count
    rules: [a]
    group-by: [User]
    timespan: 60s
    condition: {gte: 3}
";

#[test]
fn event_count_fires_at_the_third_hit_and_misses_by_one_event_or_one_second() {
    let fires = [
        ev(0, &[0], user("x")),
        ev(30, &[0], user("x")),
        ev(60, &[0], user("x")),
    ];
    let got = run(&mut engine(COUNT, Default::default()), &fires);
    assert_eq!(got, [("count".into(), vec!["x".into()], 3.0, 0, 60)]);
    // One event too few.
    assert!(run(&mut engine(COUNT, Default::default()), &fires[..2]).is_empty());
    // The third one second past the window (61 s after the first).
    let late = [
        ev(0, &[0], user("x")),
        ev(30, &[0], user("x")),
        ev(61, &[0], user("x")),
    ];
    assert!(run(&mut engine(COUNT, Default::default()), &late).is_empty());
    // Other groups do not add up.
    let mixed = [
        ev(0, &[0], user("x")),
        ev(1, &[0], user("y")),
        ev(2, &[0], user("x")),
    ];
    assert!(run(&mut engine(COUNT, Default::default()), &mixed).is_empty());
    // After firing, the group starts over: three more hits fire again, two do not.
    let again = [
        ev(0, &[0], user("x")),
        ev(1, &[0], user("x")),
        ev(2, &[0], user("x")),
        ev(3, &[0], user("x")),
        ev(4, &[0], user("x")),
    ];
    assert_eq!(run(&mut engine(COUNT, Default::default()), &again).len(), 1);
}

#[test]
fn value_count_counts_distinct_values_per_group() {
    let c = "title: spray
correlation:
    type: value_count
    rules: [a]
    group-by: [Host]
    timespan: 5m
    condition: {field: User, gt: 2}
";
    let e = |t, host: &str, u: &str| ev(t, &[0], serde_json::json!({"Host": host, "User": u}));
    let fires = [
        e(0, "h", "u1"),
        e(10, "h", "u1"),
        e(20, "h", "u2"),
        e(30, "h", "u3"),
    ];
    assert_eq!(
        run(&mut engine(c, Default::default()), &fires),
        [("spray".into(), vec!["h".into()], 3.0, 0, 30)]
    );
    let repeats = [
        e(0, "h", "u1"),
        e(10, "h", "u1"),
        e(20, "h", "u2"),
        e(30, "h", "u2"),
    ];
    assert!(run(&mut engine(c, Default::default()), &repeats).is_empty());
    let past = [e(0, "h", "u1"), e(10, "h", "u2"), e(301, "h", "u3")];
    assert!(run(&mut engine(c, Default::default()), &past).is_empty());
}

#[test]
fn temporal_needs_every_rule_and_temporal_ordered_their_order() {
    let t = "title: both
correlation:
    type: temporal
    rules: [a, b]
    group-by: [User]
    timespan: 10s
";
    let o = t
        .replace("type: temporal", "type: temporal_ordered")
        .replace("title: both", "title: ordered");
    let ab = [ev(0, &[0], user("x")), ev(5, &[1], user("x"))];
    let ba = [ev(0, &[1], user("x")), ev(5, &[0], user("x"))];
    assert_eq!(run(&mut engine(t, Default::default()), &ab).len(), 1);
    assert_eq!(run(&mut engine(t, Default::default()), &ba).len(), 1);
    assert_eq!(run(&mut engine(&o, Default::default()), &ab).len(), 1);
    assert!(run(&mut engine(&o, Default::default()), &ba).is_empty());
    // One rule only, or the second 11 s later.
    assert!(run(&mut engine(t, Default::default()), &ab[..1]).is_empty());
    let far = [ev(0, &[0], user("x")), ev(11, &[1], user("x"))];
    assert!(run(&mut engine(t, Default::default()), &far).is_empty());
}

#[test]
fn aliases_group_across_rules_with_different_field_names() {
    let c = "title: aliased
correlation:
    type: temporal
    rules: [a, b]
    group-by: [internal_ip]
    timespan: 10s
    aliases:
        internal_ip:
            a: destination.ip
            b: source.ip
";
    let same = [
        ev(
            0,
            &[0],
            serde_json::json!({"destination": {"ip": "10.0.0.1"}}),
        ),
        ev(1, &[1], serde_json::json!({"source": {"ip": "10.0.0.1"}})),
    ];
    assert_eq!(
        run(&mut engine(c, Default::default()), &same),
        [("aliased".into(), vec!["10.0.0.1".into()], 2.0, 0, 1)]
    );
    let other = [
        ev(
            0,
            &[0],
            serde_json::json!({"destination": {"ip": "10.0.0.1"}}),
        ),
        ev(1, &[1], serde_json::json!({"source": {"ip": "10.0.0.2"}})),
    ];
    assert!(run(&mut engine(c, Default::default()), &other).is_empty());
}

#[test]
fn numeric_types_sum_average_and_percentile() {
    let sum = "title: sum
correlation:
    type: value_sum
    rules: [a]
    group-by: [User]
    timespan: 1m
    condition: {field: n, gt: 100}
";
    let e = |t, n: f64| ev(t, &[0], serde_json::json!({"User": "x", "n": n}));
    assert_eq!(
        run(
            &mut engine(sum, Default::default()),
            &[e(0, 60.0), e(10, 41.0)]
        )
        .len(),
        1
    );
    assert!(
        run(
            &mut engine(sum, Default::default()),
            &[e(0, 60.0), e(10, 40.0)]
        )
        .is_empty()
    );
    let avg = sum
        .replace("value_sum", "value_avg")
        .replace("gt: 100", "gte: 50");
    assert_eq!(
        run(
            &mut engine(&avg, Default::default()),
            &[e(0, 60.0), e(10, 40.0)]
        )
        .len(),
        1
    );
    // A condition with lt is decided when the window is over: avg 45 < 50 over [0, 60].
    let low = sum
        .replace("value_sum", "value_avg")
        .replace("gt: 100", "lt: 50");
    let got = run(
        &mut engine(&low, Default::default()),
        &[e(0, 60.0), e(10, 30.0)],
    );
    assert_eq!(got, [("sum".into(), vec!["x".into()], 45.0, 0, 60)]);
    assert!(
        run(
            &mut engine(&low, Default::default()),
            &[e(0, 60.0), e(10, 50.0)]
        )
        .is_empty()
    );
    let median = sum
        .replace("value_sum", "value_median")
        .replace("gt: 100", "gte: 5");
    let three = [e(0, 1.0), e(1, 5.0), e(2, 100.0)];
    assert_eq!(
        run(&mut engine(&median, Default::default()), &three).len(),
        1
    );
    assert_eq!(percentile_of(&[1.0, 5.0, 100.0], 50.0), 5.0);
    assert_eq!(percentile_of(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.5);
}

#[test]
fn lt_is_decided_when_event_time_passes_the_window_or_at_the_end() {
    let c = "title: quiet
correlation:
    type: event_count
    rules: [a]
    group-by: [User]
    timespan: 60s
    condition: {lt: 3}
";
    let mut e = engine(
        c,
        CorrelationOptions {
            allowed_lateness_secs: 0,
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    let doc = JsonEvent::parse(br#"{"User":"x"}"#).unwrap();
    e.observe(Some(0), &[0], &doc, &mut out);
    e.observe(Some(30_000), &[0], &doc, &mut out);
    assert!(out.is_empty(), "undecided while the window is open");
    // An event of any kind past the window's end decides it.
    e.observe(Some(61_000), &[], &doc, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, 2.0);
    assert!(!out[0].on_event);
    // Three hits in the window: not fewer than 3, no firing (decided at the end).
    let mut e = engine(c, Default::default());
    let mut out = Vec::new();
    for t in [0, 10_000, 20_000] {
        e.observe(Some(t), &[0], &doc, &mut out);
    }
    e.finish(&mut out);
    assert!(out.is_empty());
}

/// A chain over a correlation decided when its window closes: each firing is a hit for
/// the chain at the window's end, when event time has already passed that end by the
/// allowed lateness. It counts (it is not a late hit), and what it completes fires then,
/// as an alert of its own, not at the end of input.
#[test]
fn a_chain_over_a_close_decided_correlation_fires_when_the_windows_close() {
    let c = "title: quiet
name: quiet
correlation:
    type: event_count
    rules: [a]
    group-by: [User]
    timespan: 10s
    condition: {lt: 2}
---
title: quiet twice
correlation:
    type: event_count
    rules: [quiet]
    group-by: [User]
    timespan: 5m
    condition: {gte: 2}
";
    let mut e = engine(
        c,
        CorrelationOptions {
            allowed_lateness_secs: 30,
            ..Default::default()
        },
    );
    let doc = JsonEvent::parse(br#"{"User":"x"}"#).unwrap();
    let other = JsonEvent::parse(br#"{"User":"y"}"#).unwrap();
    let mut out = Vec::new();
    // Two quiet windows for x (one hit each, at 0 s and 60 s); y's events move time on.
    e.observe(Some(0), &[0], &doc, &mut out);
    e.observe(Some(45_000), &[], &other, &mut out);
    assert_eq!(
        out.len(),
        1,
        "x's first window (0-10 s) closed at 40 s: {out:?}"
    );
    e.observe(Some(60_000), &[0], &doc, &mut out);
    e.observe(Some(105_000), &[], &other, &mut out);
    let titles: Vec<&str> = out
        .iter()
        .map(|f| e.compiled().correlations[f.correlation].meta.title.as_str())
        .collect();
    assert_eq!(titles, ["quiet", "quiet", "quiet twice"], "{out:?}");
    let twice = &out[2];
    assert_eq!((twice.start, twice.end), (10_000, 70_000));
    assert!(
        out.iter().all(|f| !f.on_event),
        "released by time, on no event"
    );
    assert_eq!(e.counters.too_late, 0);
    // One quiet window only: the chain misses by one.
    let mut e = engine(c, CorrelationOptions::default());
    let mut out = Vec::new();
    e.observe(Some(0), &[0], &doc, &mut out);
    e.observe(Some(200_000), &[], &other, &mut out);
    e.finish(&mut out);
    assert_eq!(out.len(), 1, "{out:?}");
}

#[test]
fn a_million_groups_stay_within_the_group_bound() {
    let mut e = engine(
        COUNT,
        CorrelationOptions {
            max_groups: 1000,
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    for i in 0..1_000_000u32 {
        let json = format!("{{\"User\":\"u{i}\"}}");
        let doc = JsonEvent::parse(json.as_bytes()).unwrap();
        e.observe(Some(i64::from(i)), &[0], &doc, &mut out);
        assert!(e.groups_held() <= 1000);
    }
    assert_eq!(e.counters.evicted_groups, 999_000);
    assert!(out.is_empty());
}

/// Extreme options and times are clamped, never an overflow: lateness of u64::MAX
/// seconds, bounds of zero, times at the edges of what an event can say.
#[test]
fn extreme_options_and_times_do_not_overflow() {
    let c = "title: quiet
correlation:
    type: event_count
    rules: [a]
    group-by: [User]
    timespan: 3650d
    condition: {lt: 3}
";
    for (count, early) in [(COUNT, true), (c, false)] {
        let mut e = engine(
            count,
            CorrelationOptions {
                allowed_lateness_secs: u64::MAX,
                max_groups: 0,
                max_entries_per_group: 0,
                ..Default::default()
            },
        );
        let mut out = Vec::new();
        let doc = JsonEvent::parse(br#"{"User":"x"}"#).unwrap();
        for t in [0, 253_402_300_799_999, 0, 1, 253_402_300_799_999] {
            e.observe(Some(t), &[0], &doc, &mut out);
        }
        e.finish(&mut out);
        assert!(e.groups_held() <= 1, "early: {early}");
    }
}

#[test]
fn hits_past_the_allowed_lateness_are_dropped_and_counted() {
    let mut e = engine(
        COUNT,
        CorrelationOptions {
            allowed_lateness_secs: 5,
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    let doc = JsonEvent::parse(br#"{"User":"x"}"#).unwrap();
    e.observe(Some(100_000), &[0], &doc, &mut out);
    e.observe(Some(96_000), &[0], &doc, &mut out); // 4 s late: counts
    e.observe(Some(90_000), &[0], &doc, &mut out); // 10 s late: dropped
    assert_eq!(e.counters.too_late, 1);
    assert!(out.is_empty());
    e.observe(Some(101_000), &[0], &doc, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].start, 96_000);
}

// ---------------------------------------------------------------------------------------
// The reference evaluator: the same semantics, written as plainly as possible (no
// eviction, no ordering tricks): every group keeps the list of hits since it last fired.

#[derive(Clone, Debug)]
struct RefHit {
    time: i64,
    pos: u32,
    text: Option<String>,
    num: Option<f64>,
}

fn ref_measure(c: &Correlation, hits: &[&RefHit]) -> f64 {
    let mut sorted: Vec<&RefHit> = hits.to_vec();
    sorted.sort_by_key(|h| h.time); // stable: ties keep arrival order
    match c.kind {
        CorrelationType::EventCount => sorted.len() as f64,
        CorrelationType::ValueCount => {
            let mut v: Vec<&String> = sorted.iter().filter_map(|h| h.text.as_ref()).collect();
            v.sort();
            v.dedup();
            v.len() as f64
        }
        CorrelationType::Temporal => {
            let mut p: Vec<u32> = sorted.iter().map(|h| h.pos).collect();
            p.sort();
            p.dedup();
            p.len() as f64
        }
        CorrelationType::TemporalOrdered => {
            let mut next = 0u32;
            for h in &sorted {
                if h.pos == next && (next as usize) < c.rules.len() {
                    next += 1;
                }
            }
            f64::from(next)
        }
        CorrelationType::ValueSum => sorted.iter().filter_map(|h| h.num).sum(),
        CorrelationType::ValueAvg => {
            let v: Vec<f64> = sorted.iter().filter_map(|h| h.num).collect();
            if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            }
        }
        CorrelationType::ValuePercentile | CorrelationType::ValueMedian => {
            let mut v: Vec<f64> = sorted.iter().filter_map(|h| h.num).collect();
            v.sort_by(f64::total_cmp);
            percentile_of(&v, c.condition.percentile)
        }
    }
}

type Fired = (Vec<String>, String, i64, i64);

/// One event for the reference: its time (ms) and its hits as (position, group, hit).
type RefEvent = (i64, Vec<(u32, Vec<String>, RefHit)>);

/// The firings of one correlation over `events` (each: time ms, hits as (pos, group,
/// text, number)), as (group, value, start, end), value rounded to text.
fn reference(c: &Correlation, lateness: i64, events: &[RefEvent]) -> Vec<Fired> {
    let span = c.timespan_secs as i64 * 1000;
    let early = c
        .condition
        .tests
        .iter()
        .all(|(op, _)| matches!(op.name(), "gt" | "gte"));
    let mut fired = Vec::new();
    let mut newest = i64::MIN;
    let mut live: std::collections::BTreeMap<Vec<String>, Vec<RefHit>> = Default::default();
    let mut open: std::collections::BTreeMap<Vec<String>, (i64, Vec<RefHit>)> = Default::default();
    let close_due = |open: &mut std::collections::BTreeMap<Vec<String>, (i64, Vec<RefHit>)>,
                     fired: &mut Vec<Fired>,
                     limit: Option<i64>| loop {
        let due = open
            .iter()
            .filter(|(_, (o, _))| limit.is_none_or(|l| o + span < l))
            .min_by_key(|(k, (o, _))| (*o, (*k).clone()))
            .map(|(k, _)| k.clone());
        let Some(k) = due else { break };
        let (o, hits) = open.remove(&k).unwrap();
        let inside: Vec<&RefHit> = hits
            .iter()
            .filter(|h| h.time >= o && h.time <= o + span)
            .collect();
        let v = ref_measure(c, &inside);
        if c.condition.holds(v) {
            fired.push((k.clone(), format!("{v:.6}"), o, o + span));
        }
        let rest: Vec<RefHit> = hits.into_iter().filter(|h| h.time > o + span).collect();
        if let Some(first) = rest.iter().map(|h| h.time).min() {
            open.insert(k, (first, rest));
        }
    };
    for (t, hits) in events {
        newest = newest.max(*t);
        if !early {
            close_due(&mut open, &mut fired, Some(newest - lateness));
        }
        for (_, group, hit) in hits {
            if hit.time < newest - lateness {
                continue;
            }
            if early {
                let list = live.entry(group.clone()).or_default();
                list.push(hit.clone());
                let window: Vec<&RefHit> = list
                    .iter()
                    .filter(|h| h.time >= hit.time - span && h.time <= hit.time)
                    .collect();
                let v = ref_measure(c, &window);
                if c.condition.holds(v) {
                    let start = window.iter().map(|h| h.time).min().unwrap();
                    fired.push((group.clone(), format!("{v:.6}"), start, hit.time));
                    list.clear();
                }
            } else {
                let (o, list) = open.entry(group.clone()).or_insert((hit.time, Vec::new()));
                if hit.time >= *o {
                    list.push(hit.clone());
                }
            }
        }
    }
    close_due(&mut open, &mut fired, None);
    fired
}

const KINDS: [&str; 7] = [
    "event_count",
    "value_count",
    "temporal",
    "temporal_ordered",
    "value_sum",
    "value_avg",
    "value_median",
];

fn correlation_text(kind: &str, cond: &str) -> String {
    let field = match kind {
        "event_count" | "temporal" | "temporal_ordered" => String::new(),
        _ => "field: n, ".into(),
    };
    format!(
        "title: gen\ncorrelation:\n    type: {kind}\n    rules: [a, b]\n    group-by: [User]\n    timespan: 20s\n    condition: {{{field}{cond}}}\n"
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_streaming_engine_agrees_with_the_reference(
        kind in 0..KINDS.len(),
        cond in prop_oneof![
            (1u32..5).prop_map(|n| format!("gte: {n}")),
            (0u32..8).prop_map(|n| format!("gt: {n}")),
            (1u32..5).prop_map(|n| format!("lt: {n}")),
            (0u32..5).prop_map(|n| format!("eq: {n}")),
            (1u32..3).prop_map(|n| format!("gt: {n}, lte: {}", n + 3)),
            (0u32..4).prop_map(|n| format!("neq: {n}")),
        ],
        lateness in 0i64..8,
        steps in proptest::collection::vec((0i64..6, 0u8..3, 0u8..4, 0u8..3, 0u8..10), 1..60),
    ) {
        let text = correlation_text(KINDS[kind], &cond);
        let opts = CorrelationOptions { allowed_lateness_secs: lateness as u64, ..Default::default() };
        let mut engine = engine(&text, opts);
        let corr = engine.compiled().correlations[0].clone();
        // Time moves forward by 0..5 s per event and jumps back by up to `lateness + 2` s.
        let mut clock = 0i64;
        let mut events = Vec::new();
        let mut ref_events = Vec::new();
        for (step, back, rules, user, n) in steps {
            clock += step;
            let t = (clock - i64::from(back) * (lateness + 2) / 2).max(0) * 1000;
            let hits: Vec<usize> = match rules { 0 => vec![0], 1 => vec![1], 2 => vec![0, 1], _ => vec![] };
            let u = format!("u{user}");
            let json = serde_json::json!({"User": u, "n": n}).to_string();
            let ref_hits = hits
                .iter()
                .map(|&r| {
                    (r as u32, vec![u.clone()], RefHit {
                        time: t,
                        pos: r as u32,
                        text: Some(n.to_string()),
                        num: Some(f64::from(n)),
                    })
                })
                .collect::<Vec<_>>();
            ref_events.push((t, ref_hits));
            events.push((t, hits, json));
        }
        let mut out = Vec::new();
        for (t, hits, json) in &events {
            let doc = JsonEvent::parse(json.as_bytes()).unwrap();
            engine.observe(Some(*t), hits, &doc, &mut out);
        }
        engine.finish(&mut out);
        let mut got: Vec<Fired> = out
            .iter()
            .map(|f| (f.group.iter().map(|(_, v)| v.clone()).collect(), format!("{:.6}", f.value), f.start, f.end))
            .collect();
        let mut want = reference(&corr, lateness * 1000, &ref_events);
        got.sort();
        want.sort();
        prop_assert_eq!(got, want, "{}", text);
    }
}
