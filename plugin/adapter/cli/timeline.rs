//! `run --format table|csv`: the analyst's view, a timeline row per detection (one per
//! matched rule of an event), as Chainsaw and Hayabusa print them: time, computer,
//! channel, event id, level, rule, the values of the fields the rule reads, and where the
//! event came from (file and line, or EVTX file and record).
//!
//! It sits where NDJSON would be written ([`Output`] is the `run` output stream): the
//! tagged lines pass through it, and only those with tag entries are parsed again, so the
//! cost is paid per detection, not per event.

use std::collections::HashMap;
use std::io::{self, Write};

use clap::ValueEnum;
use serde_json::Value;

use crate::correlate::time;
use crate::event::json::JsonEvent;
use crate::event::{Document, Scalar};
use crate::transform::Transform;

/// What `run` writes to standard output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The events, tagged (NDJSON).
    #[default]
    Ndjson,
    /// A timeline row per detection, columns separated by ` | `.
    Table,
    /// A timeline row per detection, as CSV (RFC 4180) with a header row.
    Csv,
}

/// Fields every row shows in their own columns, so never among a rule's details.
const OWN_COLUMNS: [&str; 4] = ["EventID", "Channel", "Provider_Name", "Computer"];

/// Longest details text in a table row, in characters.
const TABLE_DETAILS: usize = 160;

/// The timeline writer.
pub struct Timeline {
    format: Format,
    /// The tag field of the transform.
    field: String,
    /// Rule index by (id, title), as the tag entries name them.
    rules: HashMap<(Option<String>, String), usize>,
    /// Per rule: the fields its detection reads (or its `fields:`), in order.
    details: Vec<Vec<String>>,
    /// The input being written, and the number of its last line or record.
    source: String,
    line: u64,
    /// Bytes of a line not yet ended.
    partial: Vec<u8>,
    header: bool,
}

impl Timeline {
    pub fn new(format: Format, engine: &Transform) -> Timeline {
        let mut rules = HashMap::new();
        let mut details = Vec::new();
        for (i, r) in engine.rules().iter().enumerate() {
            rules
                .entry((r.meta.id.clone(), r.meta.title.clone()))
                .or_insert(i);
            let mut names: Vec<String> = if r.meta.fields.is_empty() {
                r.detection
                    .searches
                    .iter()
                    .flat_map(|s| s.expr.tests())
                    .filter_map(|t| t.field.clone())
                    .collect()
            } else {
                r.meta.fields.clone()
            };
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| !OWN_COLUMNS.contains(&n.as_str()) && seen.insert(n.clone()));
            details.push(names);
        }
        Timeline {
            format,
            field: engine.options().field.clone(),
            rules,
            details,
            source: String::new(),
            line: 0,
            partial: Vec::new(),
            header: false,
        }
    }

    /// The input the next lines come from (its line count starts again when it changes).
    pub fn set_source(&mut self, source: &str) {
        if self.source != source {
            self.source = source.to_string();
            self.line = 0;
        }
    }

    /// The rows of one output line.
    fn line(&mut self, line: &[u8], out: &mut dyn Write) -> io::Result<()> {
        self.line += 1;
        let needle = format!("\"{}\":", self.field);
        if memchr::memmem::find(line, needle.as_bytes()).is_none() {
            return Ok(());
        }
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            return Ok(());
        };
        let Some(matches) = value[&self.field]["matches"].as_array() else {
            return Ok(());
        };
        let Ok(event) = JsonEvent::parse(line) else {
            return Ok(());
        };
        let first = |name: &str| -> String {
            let mut text = String::new();
            event.field(name, &mut |s| {
                if text.is_empty() {
                    text = scalar_text(s);
                }
            });
            text
        };
        let when = time::event_time(&event, None)
            .map(time::format)
            .unwrap_or_default();
        let (computer, channel, id) = (first("Computer"), first("Channel"), first("EventID"));
        let source = format!("{}:{}", self.source, self.line);
        if !self.header {
            self.header = true;
            self.write_row(
                out,
                &[
                    "time", "computer", "channel", "event_id", "level", "rule", "rule_id",
                    "details", "source",
                ],
            )?;
        }
        for m in matches {
            let title = m["title"].as_str().unwrap_or_default().to_string();
            let rule_id = m["id"].as_str().map(String::from);
            let details = self
                .rules
                .get(&(rule_id.clone(), title.clone()))
                .map(|&i| {
                    self.details[i]
                        .iter()
                        .filter_map(|f| {
                            let v = first(f);
                            (!v.is_empty()).then(|| format!("{f}: {v}"))
                        })
                        .collect::<Vec<_>>()
                        .join(" ¦ ")
                })
                .unwrap_or_default();
            let level = m["level"].as_str().unwrap_or_default();
            self.write_row(
                out,
                &[
                    &when,
                    &computer,
                    &channel,
                    &id,
                    level,
                    &title,
                    rule_id.as_deref().unwrap_or_default(),
                    &details,
                    &source,
                ],
            )?;
        }
        Ok(())
    }

    fn write_row(&self, out: &mut dyn Write, cells: &[&str]) -> io::Result<()> {
        match self.format {
            Format::Csv => {
                let row: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                writeln!(out, "{}", row.join(","))
            }
            _ => {
                let row: Vec<String> = cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let c = c.replace(['\n', '\r', '\t'], " ");
                        if i == 7 && c.chars().count() > TABLE_DETAILS {
                            c.chars().take(TABLE_DETAILS - 1).collect::<String>() + "…"
                        } else {
                            c
                        }
                    })
                    .collect();
                writeln!(out, "{}", row.join(" | "))
            }
        }
    }

    /// Takes NDJSON bytes (lines may be split across calls) and writes rows.
    pub fn write_lines(&mut self, mut bytes: &[u8], out: &mut dyn Write) -> io::Result<()> {
        while let Some(i) = memchr::memchr(b'\n', bytes) {
            let (line, rest) = bytes.split_at(i);
            bytes = &rest[1..];
            if self.partial.is_empty() {
                self.line(trim_cr(line), out)?;
            } else {
                let mut whole = std::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.line(trim_cr(&whole), out)?;
            }
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn scalar_text(s: Scalar<'_>) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Int(i) => i.to_string(),
        Scalar::UInt(u) => u.to_string(),
        Scalar::Float(f) => f.to_string(),
        Scalar::Str(s) => s.to_string(),
    }
}

/// A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The output stream of `run`: NDJSON as it is, or a [`Timeline`] of it.
pub struct Output<W: Write> {
    inner: W,
    timeline: Option<Timeline>,
}

impl<W: Write> Output<W> {
    pub fn new(inner: W, timeline: Option<Timeline>) -> Output<W> {
        Output { inner, timeline }
    }

    /// The input the next lines come from (for the timeline's source column).
    pub fn set_source(&mut self, source: &str) {
        if let Some(t) = &mut self.timeline {
            t.set_source(source);
        }
    }
}

impl<W: Write> Write for Output<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.timeline {
            Some(t) => {
                t.write_lines(buf, &mut self.inner)?;
                Ok(buf.len())
            }
            None => self.inner.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.timeline {
            Some(t) => t.write_lines(buf, &mut self.inner),
            None => self.inner.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_when_they_must_be() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("two\nlines"), "\"two\nlines\"");
    }
}
