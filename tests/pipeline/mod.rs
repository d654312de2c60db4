//! What the pipeline tests share: the events they send (the 8,255 sample events of
//! `../shared/events`, the bundled samples), and the comparison of a pipeline's output with
//! what `sigma-transform run` writes for the same events: every event out once, each with
//! the tag `run` gives it.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;

use crate::common;
use crate::procs::sigma_transform;

/// The 8,255 sample events of `../shared/events`, one JSON object per line.
pub fn sample_events(shared: &Path) -> Vec<String> {
    let gz = std::fs::File::open(shared.join("events/evtx-attack-samples.ndjson.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .unwrap();
    text.lines().map(String::from).collect()
}

/// The bundled sample events that are JSON objects.
pub fn bundled_events() -> Vec<String> {
    std::fs::read_to_string(common::project("examples/events/windows-sample.ndjson"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(String::from)
        .collect()
}

/// An event without the fields a hop adds (`sigma`, and Vector's source fields), as text:
/// what identifies it across the pipeline. Keys are sorted (Vector writes objects with sorted keys) and numbers compared to 12
/// significant digits: Vector holds integers as i64, so it writes 18446744073709551615
/// (Bits-Client events) as 1.8446744073709552e+19, which reads back to a neighbouring f64.
pub fn identity(v: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Number(n) => out.push_str(&format!("{:.12e}", n.as_f64().unwrap_or(f64::NAN))),
            Value::Array(items) => {
                out.push('[');
                for i in items {
                    canonical(i, out);
                    out.push(',');
                }
                out.push(']');
            }
            Value::Object(o) => {
                let sorted: BTreeMap<&String, &Value> = o.iter().collect();
                out.push('{');
                for (k, v) in sorted {
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    canonical(v, out);
                    out.push(',');
                }
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in ["sigma", "path", "source_type", "timestamp"] {
            o.remove(k);
        }
    }
    let mut out = String::new();
    canonical(&v, &mut out);
    out
}

/// The raw text of the event's `sigma` object, if it has one.
pub fn raw_tag(line: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Tagged<'a> {
        #[serde(borrow)]
        sigma: Option<&'a serde_json::value::RawValue>,
    }
    let t: Tagged = serde_json::from_str(line).unwrap();
    t.sigma.map(|r| r.get().to_string())
}

/// What `sigma-transform run` writes for `events`: per event identity, the tag objects
/// (raw text) of its copies.
pub fn run_tags(events_file: &Path) -> HashMap<String, Vec<Option<String>>> {
    run_tags_with(events_file, &common::project("rules/windows"), &[])
}

/// [`run_tags`] with the rules in `rules` and `options` for `run`.
pub fn run_tags_with(
    events_file: &Path,
    rules: &Path,
    options: &[&str],
) -> HashMap<String, Vec<Option<String>>> {
    let out = sigma_transform()
        .args(["run", "-q", "--rules"])
        .arg(rules)
        .args(options)
        .arg("--")
        .arg(events_file)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut map: HashMap<String, Vec<Option<String>>> = HashMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        map.entry(identity(&v)).or_default().push(raw_tag(line));
    }
    map
}

/// Compares a pipeline's output with `run`'s: every event out once, with the same tag.
/// `exact_bytes`: the tag objects must be byte-identical (else equal as JSON values).
pub fn assert_same_tags(
    expected: &HashMap<String, Vec<Option<String>>>,
    out_file: &Path,
    exact_bytes: bool,
) -> (usize, usize) {
    let mut left = expected.clone();
    let text = std::fs::read_to_string(out_file).unwrap();
    let (mut events, mut tagged) = (0, 0);
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let copies = left.get_mut(&identity(&v)).unwrap_or_else(|| {
            panic!(
                "an event that was not sent: {}",
                &line[..line.len().min(300)]
            )
        });
        let want = copies
            .pop()
            .expect("an event came out more often than it went in");
        let got = raw_tag(line);
        if exact_bytes {
            assert_eq!(got, want, "tag of {}", &line[..line.len().min(300)]);
        } else {
            let parse = |t: &Option<String>| {
                t.as_deref()
                    .map(|t| serde_json::from_str::<Value>(t).unwrap())
            };
            assert_eq!(
                parse(&got),
                parse(&want),
                "tag of {}",
                &line[..line.len().min(300)]
            );
        }
        events += 1;
        tagged += usize::from(got.is_some());
    }
    let missing: usize = left.values().map(Vec::len).sum();
    assert_eq!(missing, 0, "events that never came out");
    (events, tagged)
}

pub fn tagged_count(expected: &HashMap<String, Vec<Option<String>>>) -> usize {
    expected.values().flatten().filter(|t| t.is_some()).count()
}

pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}
