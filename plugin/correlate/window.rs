//! What a correlation measures over the entries of one group's window: the value its
//! condition compares. One function per type, over entries in time order.
//!
//! Cost: `event_count` is the entry count; `value_count` and `temporal` hash the entries
//! once; `temporal_ordered` is one pass per referenced rule; the percentile types sort a
//! copy of the values. Entries per group are bounded (`max_entries_per_group`), so every
//! measure is bounded too.

use std::collections::HashSet;

use crate::rule::correlation::CorrelationType;

/// The value a hit carries for its correlation.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No field (event_count, temporal types).
    None,
    /// `value_count`: the field values as one text (fields joined by a separator).
    Text(String),
    /// The numeric types.
    Number(f64),
}

/// One hit in a group's window.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Event time, milliseconds since the epoch.
    pub time: i64,
    /// Which reference of the correlation it came through (its position in `rules`).
    pub pos: u32,
    pub value: Value,
}

/// The measure of `kind` over `entries` (a correlation with `n_refs` references).
pub fn measure(kind: CorrelationType, entries: &[&Entry], n_refs: usize, percentile: f64) -> f64 {
    match kind {
        CorrelationType::EventCount => entries.len() as f64,
        CorrelationType::ValueCount => entries
            .iter()
            .filter_map(|e| match &e.value {
                Value::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .len() as f64,
        CorrelationType::Temporal => {
            entries.iter().map(|e| e.pos).collect::<HashSet<_>>().len() as f64
        }
        CorrelationType::TemporalOrdered => ordered_prefix(entries, n_refs) as f64,
        CorrelationType::ValueSum => numbers(entries).sum(),
        CorrelationType::ValueAvg => {
            let n = numbers(entries).count();
            if n == 0 {
                0.0
            } else {
                numbers(entries).sum::<f64>() / n as f64
            }
        }
        CorrelationType::ValuePercentile | CorrelationType::ValueMedian => {
            let mut v: Vec<f64> = numbers(entries).collect();
            v.sort_by(f64::total_cmp);
            percentile_of(&v, percentile)
        }
    }
}

fn numbers<'a>(entries: &'a [&'a Entry]) -> impl Iterator<Item = f64> + 'a {
    entries.iter().filter_map(|e| match e.value {
        Value::Number(f) => Some(f),
        _ => None,
    })
}

/// The `p`-th percentile of sorted values, interpolated linearly between the closest
/// ranks (the median of an even count is the mean of the middle two); NaN when empty (so
/// no condition holds).
pub fn percentile_of(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = p / 100.0 * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// How many of references 0, 1, 2, ... appear in that order (each at or after the one
/// before it): the greedy earliest choice finds the longest such chain.
pub fn ordered_prefix(entries: &[&Entry], n_refs: usize) -> usize {
    let mut k = 0;
    for e in entries {
        if k < n_refs && e.pos as usize == k {
            k += 1;
        }
    }
    k
}
