//! The logsource mapping: which events a Sigma `logsource` means, read from
//! `rules/logsources.yaml` (built in) or a user's file in the same format.
//!
//! A rule with `category: process_creation` means Sysmon event 1 *and* Security event 4688
//! (with `Image` read from `NewProcessName` there). Each such kind of event is an
//! [`EventKind`]: a conjunction of field conditions (`when`) and field renames. The matcher
//! narrows candidate rules by these conditions before it looks at any other field, and a
//! rule never fires on an event outside its logsource.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::rule::LogSource;

/// The mapping shipped with the project.
pub const BUILTIN: &str = include_str!("../../rules/logsources.yaml");

/// One accepted value of a `when` condition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WhenValue {
    /// The field equals this text (case-insensitive; numbers by their decimal text).
    Text(String),
    /// `"*"`: the field is present.
    Present,
}

/// One kind of event a logsource means.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventKind {
    /// Field -> accepted values (any of); all fields must hold.
    pub when: Vec<(String, Vec<WhenValue>)>,
    /// Sigma field -> the field this event carries it in.
    pub rename: Vec<(String, String)>,
}

impl EventKind {
    /// The accepted values for `field`, if the kind constrains it.
    pub fn condition(&self, field: &str) -> Option<&[WhenValue]> {
        self.when
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.as_slice())
    }

    /// The event field that carries the Sigma field `field` in this kind of event.
    pub fn resolve<'a>(&'a self, field: &'a str) -> &'a str {
        self.rename
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, t)| t.as_str())
            .unwrap_or(field)
    }
}

/// A logsource entry of the mapping file.
#[derive(Clone, Debug)]
pub struct Entry {
    pub product: Option<String>,
    pub category: Option<String>,
    pub service: Option<String>,
    pub events: Vec<EventKind>,
}

/// The whole mapping.
#[derive(Clone, Debug)]
pub struct LogsourceMap {
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    logsources: Vec<EntryFormat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryFormat {
    product: Option<String>,
    category: Option<String>,
    service: Option<String>,
    #[serde(default)]
    description: Option<String>,
    events: Vec<EventFormat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventFormat {
    when: BTreeMap<String, serde_yaml::Value>,
    #[serde(default)]
    rename: BTreeMap<String, String>,
    #[serde(default)]
    title: Option<String>,
}

fn when_values(field: &str, v: &serde_yaml::Value) -> Result<Vec<WhenValue>, String> {
    let one = |v: &serde_yaml::Value| -> Result<WhenValue, String> {
        match v {
            serde_yaml::Value::String(s) if s == "*" => Ok(WhenValue::Present),
            serde_yaml::Value::String(s) => Ok(WhenValue::Text(s.to_lowercase())),
            serde_yaml::Value::Number(n) => Ok(WhenValue::Text(n.to_string())),
            _ => Err(format!(
                "'when' value of {field} must be a string or number"
            )),
        }
    };
    match v {
        serde_yaml::Value::Sequence(s) => s.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn eq_opt(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
        _ => false,
    }
}

impl LogsourceMap {
    /// The built-in mapping.
    pub fn builtin() -> LogsourceMap {
        LogsourceMap::from_yaml(BUILTIN).expect("the built-in logsource mapping is valid")
    }

    /// Parses a mapping file.
    pub fn from_yaml(text: &str) -> Result<LogsourceMap, String> {
        let file: FileFormat = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut entries = Vec::new();
        for e in file.logsources {
            let _ = e.description;
            if entries.iter().any(|x: &Entry| {
                eq_opt(&x.product, &e.product)
                    && eq_opt(&x.category, &e.category)
                    && eq_opt(&x.service, &e.service)
            }) {
                return Err(format!(
                    "duplicate entry for product={:?} category={:?} service={:?}",
                    e.product, e.category, e.service
                ));
            }
            let mut events = Vec::new();
            for ev in e.events {
                let _ = ev.title;
                let mut when = Vec::new();
                for (field, v) in &ev.when {
                    when.push((field.clone(), when_values(field, v)?));
                }
                events.push(EventKind {
                    when,
                    rename: ev.rename.into_iter().collect(),
                });
            }
            entries.push(Entry {
                product: e.product,
                category: e.category,
                service: e.service,
                events,
            });
        }
        Ok(LogsourceMap { entries })
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn find(
        &self,
        product: &Option<String>,
        category: &Option<String>,
        service: &Option<String>,
    ) -> Option<&Entry> {
        self.entries.iter().find(|e| {
            eq_opt(&e.product, product)
                && eq_opt(&e.category, category)
                && eq_opt(&e.service, service)
        })
    }

    /// The kinds of event a rule's logsource means, or `None` when the mapping has no entry
    /// for it (such a rule never fires until the mapping gets one).
    ///
    /// A rule with both category and service takes the exact entry when there is one, else
    /// the category's kinds restricted to the service's channels.
    pub fn resolve(&self, ls: &LogSource) -> Option<Vec<EventKind>> {
        if let Some(e) = self.find(&ls.product, &ls.category, &ls.service) {
            return Some(e.events.clone());
        }
        if ls.category.is_some() && ls.service.is_some() {
            let cat = self.find(&ls.product, &ls.category, &None)?;
            let svc = self.find(&ls.product, &None, &ls.service)?;
            let channels: Vec<&WhenValue> = svc
                .events
                .iter()
                .filter_map(|k| k.condition("Channel"))
                .flatten()
                .collect();
            let kinds: Vec<EventKind> = cat
                .events
                .iter()
                .filter(|k| {
                    k.condition("Channel")
                        .is_some_and(|cs| cs.iter().any(|c| channels.contains(&c)))
                })
                .cloned()
                .collect();
            return (!kinds.is_empty()).then_some(kinds);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAP: &str = r#"
logsources:
  - product: windows
    service: sysmon
    events:
      - when: { Channel: Microsoft-Windows-Sysmon/Operational }
  - product: windows
    category: process_creation
    events:
      - when: { Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1 }
      - when: { Channel: Security, EventID: [4688] }
        rename: { Image: NewProcessName }
  - product: windows
    events:
      - when: { Channel: "*" }
"#;

    fn ls(p: Option<&str>, c: Option<&str>, s: Option<&str>) -> LogSource {
        LogSource {
            product: p.map(Into::into),
            category: c.map(Into::into),
            service: s.map(Into::into),
        }
    }

    #[test]
    fn resolves_exact_and_intersected_entries() {
        let m = LogsourceMap::from_yaml(MAP).unwrap();
        let pc = m
            .resolve(&ls(Some("windows"), Some("process_creation"), None))
            .unwrap();
        assert_eq!(pc.len(), 2);
        assert_eq!(pc[1].resolve("Image"), "NewProcessName");
        assert_eq!(pc[1].resolve("CommandLine"), "CommandLine");
        let both = m
            .resolve(&ls(
                Some("windows"),
                Some("process_creation"),
                Some("sysmon"),
            ))
            .unwrap();
        assert_eq!(both.len(), 1);
        assert_eq!(
            m.resolve(&ls(Some("windows"), None, None)).unwrap()[0].when[0].1,
            [WhenValue::Present]
        );
        assert!(
            m.resolve(&ls(Some("linux"), Some("process_creation"), None))
                .is_none()
        );
    }

    #[test]
    fn builtin_mapping_parses() {
        let m = LogsourceMap::builtin();
        assert!(!m.entries().is_empty());
    }
}
