//! Event coverage: which Windows events a rule can fire on (channel, provider, event id,
//! and the event's title), from the rule's logsource mapping intersected with the
//! detection's own `EventID` / `Provider_Name` / `Channel` tests. Titles come from
//! `rules/event_titles.tsv` (built in).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::logsource::{EventKind, WhenValue};
use crate::rule::detection::Matcher;
use crate::rule::pattern::Shape;

use super::formula::{Atom, Atoms, Formula};

/// The event titles shipped with the project.
pub const TITLES: &str = include_str!("../../rules/event_titles.tsv");

/// One row of the titles table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TitleRow {
    pub channel: String,
    pub provider: String,
    pub event_id: String,
    pub title: String,
}

/// The titles table.
#[derive(Clone, Debug)]
pub struct EventTitles {
    rows: Vec<TitleRow>,
}

impl EventTitles {
    /// The built-in table.
    pub fn builtin() -> EventTitles {
        EventTitles::parse(TITLES).expect("rules/event_titles.tsv is valid")
    }

    /// Parses the table: a header line, then `channel provider event_id title` rows.
    pub fn parse(text: &str) -> Result<EventTitles, String> {
        let mut rows = Vec::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() != 4 || cols[2].parse::<u32>().is_err() || cols[3].is_empty() {
                return Err(format!(
                    "line {}: expected channel, provider, numeric event id and title",
                    n + 1
                ));
            }
            rows.push(TitleRow {
                channel: cols[0].to_string(),
                provider: cols[1].to_string(),
                event_id: cols[2].to_string(),
                title: cols[3].to_string(),
            });
        }
        Ok(EventTitles { rows })
    }

    /// The rows.
    pub fn rows(&self) -> &[TitleRow] {
        &self.rows
    }

    /// The row for an event: the provider's own row when the rule names a provider, else the
    /// only row for that channel and id (an id whose meaning depends on the provider gets
    /// no title without one).
    pub fn lookup(
        &self,
        channel: &str,
        provider: Option<&str>,
        event_id: &str,
    ) -> Option<&TitleRow> {
        let mut same = self
            .rows
            .iter()
            .filter(|r| r.channel.eq_ignore_ascii_case(channel) && r.event_id == event_id);
        match provider {
            Some(p) => same.find(|r| r.provider.eq_ignore_ascii_case(p)),
            None => {
                let first = same.next()?;
                same.next().is_none().then_some(first)
            }
        }
    }
}

/// One kind of event a rule covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct EventRow {
    /// The channel, or `None` for any channel.
    pub channel: Option<String>,
    /// The provider the rule or its logsource names (or the titles table's, when the
    /// event id has only one).
    pub provider: Option<String>,
    /// The event id, or `None` for any event of the channel.
    pub event_id: Option<String>,
    pub title: Option<String>,
}

/// Exact values the formula requires of `field`, when it requires any: every satisfying
/// event has one of them (`None`: not constrained, as far as this can tell).
pub fn required_values(f: &Formula, atoms: &Atoms, field: &str) -> Option<BTreeSet<String>> {
    match f {
        Formula::Lit(true, a) => match atoms.get(*a) {
            Atom::Test {
                field: fa,
                matcher: Matcher::Str { pattern, .. },
            } if fa == field => match pattern.shape() {
                Shape::Exact(l) => Some(BTreeSet::from([String::from_utf8_lossy(l).into_owned()])),
                _ => None,
            },
            _ => None,
        },
        Formula::Lit(false, _) => None,
        Formula::And(items) => {
            let mut acc: Option<BTreeSet<String>> = None;
            for i in items {
                if let Some(v) = required_values(i, atoms, field) {
                    acc = Some(match acc {
                        None => v,
                        Some(a) => {
                            let lower: BTreeSet<String> =
                                v.iter().map(|s| s.to_lowercase()).collect();
                            a.into_iter()
                                .filter(|x| lower.contains(&x.to_lowercase()))
                                .collect()
                        }
                    });
                }
            }
            acc
        }
        Formula::Or(items) | Formula::AtLeast(_, items) => {
            if matches!(f, Formula::AtLeast(0, _)) {
                return None;
            }
            let mut acc = BTreeSet::new();
            for i in items {
                acc.extend(required_values(i, atoms, field)?);
            }
            Some(acc)
        }
    }
}

fn when_texts(kind: &EventKind, field: &str) -> Option<Vec<String>> {
    let values = kind.condition(field)?;
    let mut out = Vec::new();
    for v in values {
        match v {
            WhenValue::Text(t) => out.push(t.clone()),
            WhenValue::Present => return None,
        }
    }
    Some(out)
}

/// Channel names as Windows writes them (the mapping stores them lowercased).
fn channel_name(lower: &str, titles: &EventTitles) -> String {
    titles
        .rows
        .iter()
        .find(|r| r.channel.eq_ignore_ascii_case(lower))
        .map(|r| r.channel.clone())
        .unwrap_or_else(|| lower.to_string())
}

fn intersect(a: Option<Vec<String>>, b: Option<&BTreeSet<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (None, None) => None,
        (Some(a), None) => Some(a),
        (None, Some(b)) => Some(b.iter().cloned().collect()),
        (Some(a), Some(b)) => Some(
            b.iter()
                .filter(|x| a.iter().any(|y| y.eq_ignore_ascii_case(x)))
                .cloned()
                .collect(),
        ),
    }
}

/// The event rows of a rule on its kinds; `detection` is the rule's detection formula on
/// Sigma field names.
pub fn rows(
    kinds: &[EventKind],
    detection: &Formula,
    atoms: &Atoms,
    titles: &EventTitles,
) -> Vec<EventRow> {
    let det_ids = required_values(detection, atoms, "EventID");
    let det_providers = required_values(detection, atoms, "Provider_Name");
    let det_channels = required_values(detection, atoms, "Channel");
    let mut out = BTreeSet::new();
    for kind in kinds {
        let channels = intersect(when_texts(kind, "Channel"), det_channels.as_ref());
        let ids = intersect(when_texts(kind, "EventID"), det_ids.as_ref());
        let providers = intersect(when_texts(kind, "Provider_Name"), det_providers.as_ref());
        // An empty intersection: the rule cannot fire on this kind.
        if [&channels, &ids, &providers]
            .iter()
            .any(|v| v.as_ref().is_some_and(|v| v.is_empty()))
        {
            continue;
        }
        let channels: Vec<Option<String>> = match channels {
            Some(c) => c
                .into_iter()
                .map(|c| Some(channel_name(&c, titles)))
                .collect(),
            None => vec![None],
        };
        let ids: Vec<Option<String>> = match ids {
            Some(v) => v.into_iter().map(Some).collect(),
            None => vec![None],
        };
        let providers: Vec<Option<String>> = match providers {
            Some(v) => v.into_iter().map(Some).collect(),
            None => vec![None],
        };
        for ch in &channels {
            for id in &ids {
                for p in &providers {
                    let row = match (ch, id) {
                        (Some(c), Some(i)) => titles.lookup(c, p.as_deref(), i),
                        _ => None,
                    };
                    out.insert(EventRow {
                        channel: ch.clone(),
                        provider: p.clone().or_else(|| row.map(|r| r.provider.clone())),
                        event_id: id.clone(),
                        title: row.map(|r| r.title.clone()),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_titles_parse_and_look_up() {
        let t = EventTitles::builtin();
        assert!(t.rows().len() > 200);
        assert_eq!(
            t.lookup("System", Some("Service Control Manager"), "7045")
                .unwrap()
                .title,
            "A service was installed in the system"
        );
        // Unique row: found without a provider.
        assert!(t.lookup("system", None, "7045").is_some());
        // Id 16 means different things for different System providers.
        assert!(t.lookup("System", None, "16").is_none());
        assert!(
            t.lookup("System", Some("Microsoft-Windows-Kernel-General"), "16")
                .is_some()
        );
        assert!(t.lookup("System", Some("Other"), "7045").is_none());
        assert!(EventTitles::parse("h\nSystem\tx\tnotanumber\tT").is_err());
    }
}
