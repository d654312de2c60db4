//! Shared by the benches (`throughput`, `scaling`, `transform`, `correlation`): the rule set and the events
//! of issue 4, read from `../shared`, and the flat event shape the peer engines expect.
//!
//! - Rules: every `.yml` under `sigma/rules/windows`, `sigma/rules-emerging-threats` and
//!   `sigma/rules-threat-hunting` whose `logsource.product` is `windows` (2,858 files at
//!   the pinned commit), read once into memory so that compile times exclude disk reads.
//! - Events: `events/evtx-attack-samples.ndjson.gz`, 8,255 evtx_dump lines.
//! - [`Logsources`]: `rules/logsources.yaml` (the mapping sigma-transform uses) as plain
//!   data, so the peers get the same logsource semantics: RSigma through a generated
//!   processing pipeline, sigma-rust through a small router.
//! - [`flatten`]: an evtx_dump line as flat JSON with Sigma field names at the top level.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// The sample events as lines: ../shared's 8,255 when present, else the bundled samples.
pub fn events_or_bundled() -> Vec<Vec<u8>> {
    let gz = root().join("../shared/events/evtx-attack-samples.ndjson.gz");
    let text = if gz.exists() {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(gz).unwrap())
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        eprintln!("bench: ../shared is not present; using the bundled samples");
        std::fs::read_to_string(root().join("examples/events/windows-sample.ndjson")).unwrap()
    };
    text.lines().map(|l| l.as_bytes().to_vec()).collect()
}

/// The SigmaHQ Windows rule folders when ../shared is present, else the bundled rules.
pub fn rule_paths_or_bundled() -> Vec<PathBuf> {
    let sigma = root().join("../shared/sigma");
    if sigma.exists() {
        vec![
            sigma.join("rules/windows"),
            sigma.join("rules-emerging-threats"),
            sigma.join("rules-threat-hunting/windows"),
        ]
    } else {
        vec![root().join("rules")]
    }
}

/// The number after `name` on the bench's command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn shared() -> PathBuf {
    root().join("../shared")
}

/// The events, one evtx_dump JSON line each.
pub fn events() -> Vec<String> {
    let gz = shared().join("events/evtx-attack-samples.ndjson.gz");
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(
        std::fs::File::open(&gz).unwrap_or_else(|e| panic!("{}: {e}", gz.display())),
    )
    .read_to_string(&mut s)
    .unwrap();
    s.lines().map(str::to_owned).collect()
}

/// A rule file held in memory.
pub struct RuleFile {
    pub path: PathBuf,
    pub text: String,
}

fn yml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            yml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push(p);
        }
    }
}

/// The Windows rules of issue 4, in path order.
pub fn windows_rules() -> Vec<RuleFile> {
    let sigma = shared().join("sigma");
    let mut paths = Vec::new();
    for d in [
        "rules/windows",
        "rules-emerging-threats",
        "rules-threat-hunting",
    ] {
        yml_files(&sigma.join(d), &mut paths);
    }
    paths
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let y: serde_yaml::Value = serde_yaml::from_str(&text).ok()?;
            let product = y.get("logsource")?.get("product")?.as_str()?;
            (product == "windows").then_some(RuleFile { path, text })
        })
        .collect()
}

/// The text of a JSON scalar as Sigma compares it.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One kind of event a logsource means: all `when` conditions hold.
#[derive(Clone, Debug)]
pub struct Kind {
    /// Field -> accepted values (`*`: present and not null).
    pub when: Vec<(String, Vec<String>)>,
    pub rename: Vec<(String, String)>,
}

impl Kind {
    pub fn holds(&self, flat: &Map<String, Value>) -> bool {
        self.when.iter().all(|(field, values)| {
            let v = flat.get(field);
            values.iter().any(|want| {
                if want == "*" {
                    return v.is_some_and(|v| !v.is_null());
                }
                v.and_then(scalar_text)
                    .is_some_and(|t| t.eq_ignore_ascii_case(want))
            })
        })
    }
}

/// One entry of `rules/logsources.yaml`.
#[derive(Clone, Debug)]
pub struct Entry {
    pub product: String,
    pub category: Option<String>,
    pub service: Option<String>,
    pub kinds: Vec<Kind>,
}

/// `rules/logsources.yaml` as plain data.
pub struct Logsources {
    pub entries: Vec<Entry>,
}

fn strings(v: &serde_yaml::Value) -> Vec<String> {
    let one = |v: &serde_yaml::Value| match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => panic!("unexpected value in logsources.yaml: {other:?}"),
    };
    match v {
        serde_yaml::Value::Sequence(s) => s.iter().map(one).collect(),
        v => vec![one(v)],
    }
}

impl Logsources {
    pub fn load() -> Logsources {
        let text = std::fs::read_to_string(root().join("rules/logsources.yaml")).unwrap();
        let y: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let s =
            |e: &serde_yaml::Value, k: &str| e.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let entries = y["logsources"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| Entry {
                product: s(e, "product").unwrap(),
                category: s(e, "category"),
                service: s(e, "service"),
                kinds: e["events"]
                    .as_sequence()
                    .unwrap()
                    .iter()
                    .map(|k| Kind {
                        when: k["when"]
                            .as_mapping()
                            .unwrap()
                            .iter()
                            .map(|(f, v)| (f.as_str().unwrap().to_owned(), strings(v)))
                            .collect(),
                        rename: k
                            .get("rename")
                            .and_then(|r| r.as_mapping())
                            .map(|m| {
                                m.iter()
                                    .map(|(a, b)| {
                                        (
                                            a.as_str().unwrap().to_owned(),
                                            b.as_str().unwrap().to_owned(),
                                        )
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect();
        Logsources { entries }
    }

    /// The entry for exactly this logsource.
    pub fn entry(&self, category: Option<&str>, service: Option<&str>) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.product == "windows"
                && e.category.as_deref() == category
                && e.service.as_deref() == service
        })
    }

    /// The `when` field names used anywhere.
    pub fn when_fields(&self) -> Vec<String> {
        let mut f: Vec<String> = self
            .entries
            .iter()
            .flat_map(|e| {
                e.kinds
                    .iter()
                    .flat_map(|k| k.when.iter().map(|(f, _)| f.clone()))
            })
            .collect();
        f.sort();
        f.dedup();
        f
    }

    /// Which entries a flat event is inside.
    pub fn entries_of(&self, flat: &Map<String, Value>) -> Vec<usize> {
        (0..self.entries.len())
            .filter(|&i| self.entries[i].kinds.iter().any(|k| k.holds(flat)))
            .collect()
    }

    /// Whether a rule with this logsource applies to an event inside `inside` (the
    /// semantics of `rules/logsources.yaml`: exact lookup, category and service
    /// intersected, unmapped never fires).
    pub fn applies(&self, category: Option<&str>, service: Option<&str>, inside: &[usize]) -> bool {
        let has = |c: Option<&str>, s: Option<&str>| {
            self.entry(c, s).is_some_and(|i| inside.contains(&i))
        };
        match (category, service) {
            (None, None) => has(None, None),
            (Some(c), Some(s)) => match (self.entry(Some(c), None), self.entry(None, Some(s))) {
                (Some(_), Some(_)) => has(Some(c), None) && has(None, Some(s)),
                _ => has(Some(c), Some(s)),
            },
            (c, s) => has(c, s),
        }
    }
}

/// The category or service of an event that is inside no category (service) entry of the
/// mapping: a value no rule has, so that RSigma's conflict pruning drops every rule of a
/// category (service) for it, as `rules/logsources.yaml` does.
pub const NO_LOGSOURCE: &str = "(none)";

/// The categories whose events are a subset of another category's: an event has one
/// category for RSigma, so these rules are moved to the wider category and keep their
/// narrower `when` as an added condition (see `rsigma_pipeline` in throughput.rs).
pub const SUB_CATEGORIES: [(&str, &str); 5] = [
    ("registry_add", "registry_event"),
    ("registry_delete", "registry_event"),
    ("registry_set", "registry_event"),
    ("registry_rename", "registry_event"),
    ("file_delete_detected", "file_delete"),
];

pub fn parent_category(c: &str) -> &str {
    SUB_CATEGORIES
        .iter()
        .find(|(sub, _)| *sub == c)
        .map_or(c, |(_, parent)| parent)
}

/// Prefix of the logsource fields [`flatten`] adds for RSigma's `LogSourceExtractor`.
pub const LS_PRODUCT: &str = "_logsource_product";
pub const LS_CATEGORY: &str = "_logsource_category";
pub const LS_SERVICE: &str = "_logsource_service";

/// An evtx_dump line as one flat JSON object with Sigma field names at the top level, the
/// shape RSigma and sigma-rust match on. Field for field what sigma-transform reads from
/// the evtx_dump shape (docs/shapes.md):
///
/// - `Event.System.<F>` as `F` (`EventID` is its `#text` when it has qualifiers) and
///   `Event.System.<F>.#attributes.<A>` as `F_A` (`Provider_Name`); they win over data;
/// - `Event.EventData.<F>` as `F` (and, for names with spaces, also without the spaces);
/// - `Event.UserData.<element>.<F>` as `F` (the first element holding `F`);
/// - a data value `{"#text": x, ...}` as `x` (unnamed `Data` is a list of strings).
///
/// Then the mapping's renames for the event's kind (Security 4688: `Image` =
/// `NewProcessName`, `ParentImage` = `ParentProcessName`), and, for RSigma's logsource
/// routing, the event's logsource: `_logsource_product` (`windows`), `_logsource_category`
/// (the category entry the event is inside, sub-categories folded into their parent, or
/// [`NO_LOGSOURCE`]) and `_logsource_service` (likewise). A field is left out (RSigma then
/// fails open) when the event is inside two entries.
pub fn flatten(line: &str, ls: &Logsources) -> String {
    let v: Value = serde_json::from_str(line).unwrap();
    let ev = &v["Event"];
    let mut out = Map::new();
    if let Some(Value::Object(ud)) = ev.get("UserData") {
        for (k, child) in ud {
            if k == "#attributes" {
                continue;
            }
            if let Value::Object(m) = child {
                for (f, x) in m {
                    if f != "#attributes" && !out.contains_key(f) {
                        out.insert(f.clone(), text_of(x).clone());
                    }
                }
            }
        }
    }
    if let Some(Value::Object(data)) = ev.get("EventData") {
        for (k, x) in data {
            out.insert(k.clone(), text_of(x).clone());
        }
        for (k, x) in data {
            if k.contains(' ') {
                let plain: String = k.chars().filter(|c| *c != ' ').collect();
                out.entry(plain).or_insert_with(|| text_of(x).clone());
            }
        }
    }
    if let Some(Value::Object(sys)) = ev.get("System") {
        for (k, x) in sys {
            match x {
                Value::Object(o) => {
                    if let Some(t) = o.get("#text") {
                        out.insert(k.clone(), t.clone());
                    }
                    if let Some(Value::Object(attrs)) = o.get("#attributes") {
                        for (a, av) in attrs {
                            out.insert(format!("{k}_{a}"), av.clone());
                        }
                    }
                }
                x => {
                    out.insert(k.clone(), x.clone());
                }
            }
        }
    }
    let inside = ls.entries_of(&out);
    for &i in &inside {
        for kind in &ls.entries[i].kinds {
            if kind.holds(&out) {
                for (sigma, field) in &kind.rename {
                    if let Some(x) = out.get(field).cloned() {
                        out.entry(sigma.clone()).or_insert(x);
                    }
                }
            }
        }
    }
    let unique = |name: &dyn Fn(&Entry) -> Option<String>| {
        let mut found: Vec<String> = inside
            .iter()
            .filter_map(|&i| name(&ls.entries[i]))
            .collect();
        found.sort();
        found.dedup();
        match found.len() {
            0 => Some(NO_LOGSOURCE.to_owned()),
            1 => found.pop(),
            _ => None,
        }
    };
    let category = unique(&|e| {
        let c = e.category.as_deref().filter(|_| e.service.is_none())?;
        Some(parent_category(c).to_owned())
    });
    let service = unique(&|e| e.service.clone().filter(|_| e.category.is_none()));
    out.insert(LS_PRODUCT.into(), Value::String("windows".into()));
    if let Some(c) = category {
        out.insert(LS_CATEGORY.into(), Value::String(c));
    }
    if let Some(s) = service {
        out.insert(LS_SERVICE.into(), Value::String(s));
    }
    serde_json::to_string(&Value::Object(out)).unwrap()
}

/// An element with attributes renders as `{"#attributes": .., "#text": value}`: its value
/// is the `#text` (unnamed `Data` of classic providers is `{"#text": [..]}`).
fn text_of(v: &Value) -> &Value {
    match v {
        Value::Object(o) => o.get("#text").unwrap_or(v),
        v => v,
    }
}

/// Peak and current resident memory of this process, in KiB (`VmHWM`, `VmRSS`).
pub fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let get = |k: &str| {
        status
            .lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (get("VmHWM:"), get("VmRSS:"))
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs` 5); false when refused.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// `lines` (evtx_dump JSON) as one time-ordered stream of `n` events: sorted by
/// `SystemTime`, then repeated, copy `k` moved `10 k` years on (the sample events span
/// 2017 to 2023), so that correlation windows see a stream, not the same past again.
pub fn time_ordered_stream(lines: &[String], n: usize) -> Vec<String> {
    const KEY: &str = "\"SystemTime\":\"";
    let time = |l: &str| l.find(KEY).map(|i| l[i + KEY.len()..].to_string());
    let mut sorted = lines.to_vec();
    sorted.sort_by_cached_key(|l| time(l));
    let shift = |line: &str, years: usize| {
        let mut out = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(i) = rest.find(KEY) {
            let at = i + KEY.len();
            out.push_str(&rest[..at]);
            let year: usize = rest
                .get(at..at + 4)
                .and_then(|y| y.parse().ok())
                .unwrap_or(2000);
            out.push_str(&(year + years).to_string());
            rest = rest.get(at + 4..).unwrap_or("");
        }
        out.push_str(rest);
        out
    };
    (0..n)
        .map(|i| shift(&sorted[i % sorted.len()], 10 * (i / sorted.len())))
        .collect()
}
