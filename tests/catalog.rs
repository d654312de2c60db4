//! The rule catalog (issue 5): `explain` on the SigmaHQ PsExec rule, the implication check
//! against the real matcher (hand-picked true and false cases, random rules on random
//! events, and every pair claimed over the whole SigmaHQ corpus on events generated from
//! the stricter rule), statistics, the ATT&CK Navigator layer, and the HTML catalog in a
//! real headless browser.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Map, Value, json};
use sigma_transform::catalog::{Catalog, OPAQUE_FIELD, opaque_value};
use sigma_transform::event::json::EventReader;
use sigma_transform::event::shape::Shape;
use sigma_transform::logsource::{EventKind, LogsourceMap, WhenValue};
use sigma_transform::rule::condition::Expr;
use sigma_transform::rule::detection::{
    Anchor, CmpOp, FieldTest, Matcher as M, SearchExpr, TimePart,
};
use sigma_transform::rule::pattern::{DASHES, Piece};
use sigma_transform::rule::{BuildOptions, Rule};
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

const PSEXEC_ID: &str = "42c575ea-e41e-41f1-b248-8093c3e82a28";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
}

fn corpus_dirs(shared: &Path) -> Vec<PathBuf> {
    ["rules", "rules-emerging-threats", "rules-threat-hunting"]
        .iter()
        .map(|d| shared.join("sigma").join(d))
        .collect()
}

/// A small deterministic PRNG (xorshift64*), so failures reproduce from the seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E3779B97F4A7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The mapping plus a stand-in entry for every unmapped logsource, as the catalog treats
/// them (see `catalog::OPAQUE_FIELD`), so that the real matcher can fire those rules too.
fn mapping_with_opaque(base_yaml: &str, rules: &[Rule]) -> LogsourceMap {
    let base = LogsourceMap::from_yaml(base_yaml).unwrap();
    let mut text = base_yaml.to_string();
    let mut seen = HashSet::new();
    for r in rules {
        if base.resolve(&r.logsource).is_some() || !seen.insert(opaque_value(&r.logsource)) {
            continue;
        }
        let q = |v: &Option<String>| match v {
            Some(s) => serde_json::to_string(s).unwrap(),
            None => "null".into(),
        };
        text.push_str(&format!(
            "\n  - product: {}\n    category: {}\n    service: {}\n    events:\n      - when: {{ {OPAQUE_FIELD}: {} }}\n",
            q(&r.logsource.product),
            q(&r.logsource.category),
            q(&r.logsource.service),
            serde_json::to_string(&opaque_value(&r.logsource)).unwrap()
        ));
    }
    LogsourceMap::from_yaml(&text).unwrap()
}

fn flat_transform(rules: Vec<Rule>, map: &LogsourceMap) -> Transform {
    Transform::new(
        rules,
        map,
        TransformOptions {
            reader: EventReader::with_shape(Shape::Flat),
            ..TransformOptions::default()
        },
    )
}

fn matches(t: &Transform, event: &Value) -> Vec<usize> {
    let bytes = serde_json::to_vec(event).unwrap();
    let e = t.read(&bytes).unwrap();
    let mut s = t.scratch();
    t.match_event(&e, &mut s)
}

fn load_text(rules: &[String]) -> Vec<Rule> {
    let mut out = Vec::new();
    for (i, text) in rules.iter().enumerate() {
        let set = RuleSet::from_text(&format!("r{i}.yml"), text, &BuildOptions::default());
        assert!(
            set.rejected.is_empty(),
            "test rule rejected: {:?}\n{text}",
            set.rejected
        );
        out.extend(set.rules);
    }
    out
}

// ---------------------------------------------------------------------------------------
// explain on the reference rule
// ---------------------------------------------------------------------------------------

#[test]
fn explain_psexec_shows_every_section_of_the_reference_page() {
    let Some(shared) =
        common::shared_or_skip("explain_psexec_shows_every_section_of_the_reference_page")
    else {
        return;
    };
    let dirs = corpus_dirs(&shared);
    // The full corpus once (corpus counts), the rule's own folder for the other formats.
    let scm_dir = shared.join("sigma/rules/windows/builtin/system/service_control_manager");
    let run_on = |dirs: &[PathBuf], format: &str| -> String {
        let out = bin()
            .arg("explain")
            .arg(PSEXEC_ID)
            .args(
                dirs.iter()
                    .flat_map(|d| [std::ffi::OsStr::new("--rules"), d.as_os_str()]),
            )
            .args(["--format", format])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let run = |format: &str| run_on(std::slice::from_ref(&scm_dir), format);
    let page: Value = serde_json::from_str(&run_on(&dirs, "json")).unwrap();
    assert_eq!(page["title"], "PsExec Service Installation");
    assert_eq!(page["level"], "medium");
    assert_eq!(page["author"], "Thomas Patzke");
    // ATT&CK: T1569.002 named, under Execution.
    assert_eq!(
        page["attack"]["tactics"],
        json!([{"id": "TA0002", "name": "Execution"}])
    );
    let t = &page["attack"]["techniques"][0];
    assert_eq!(t["id"], "T1569.002");
    assert_eq!(t["name"], "System Services: Service Execution");
    assert_eq!(t["tactics"][0]["name"], "Execution");
    // Event coverage: Service Control Manager 7045 in System, with a title.
    assert_eq!(
        page["event_coverage"]["events"],
        json!([{"channel": "System", "provider": "Service Control Manager", "event_id": "7045",
                "title": "A service was installed in the system"}])
    );
    // Two stages, as written.
    let stages = page["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    assert_eq!(stages[0]["condition"], "selection_eid");
    assert_eq!(
        stages[0]["searches"][0]["groups"][0],
        json!([{"key": "Provider_Name", "values": ["Service Control Manager"]},
               {"key": "EventID", "values": ["7045"]}])
    );
    assert_eq!(stages[1]["searches"][0]["combine"], "any");
    assert_eq!(
        stages[1]["searches"][0]["groups"],
        json!([[{"key": "ServiceName", "values": ["PSEXESVC"]}],
               [{"key": "ImagePath|endswith", "values": ["\\PSEXESVC.exe"]}]])
    );
    // Three indicators with corpus counts.
    let ind = page["indicators"].as_array().unwrap();
    assert_eq!(ind.len(), 3, "{ind:?}");
    let row = |f: &str| ind.iter().find(|i| i["field"] == f).unwrap().clone();
    assert_eq!(row("Provider_Name")["op"], "equals");
    assert_eq!(row("ServiceName")["value"], "PSEXESVC");
    assert_eq!(row("ImagePath")["op"], "endswith");
    assert_eq!(row("ImagePath")["value"], "\\PSEXESVC.exe");
    assert_eq!(row("ServiceName")["corpus"], 1);
    // Many System rules name the Service Control Manager provider: count them ourselves.
    let scm = RuleSet::load(&dirs, &BuildOptions::default())
        .rules
        .iter()
        .filter(|r| {
            r.detection.searches.iter().any(|s| {
                s.expr.tests().iter().any(|t| {
                    !t.negated
                        && t.field.as_deref() == Some("Provider_Name")
                        && t.values.iter().any(|v| {
                            v.any.iter().any(|m| matches!(m, M::Str { pattern, .. } if pattern.as_literal() == Some(b"Service Control Manager")))
                        })
                })
            })
        })
        .count();
    assert!(scm > 10);
    assert_eq!(row("Provider_Name")["corpus"], scm);
    // Neighbour lists are there; same-event neighbours are System 7045 rules.
    let nb = &page["neighbours"];
    for k in ["stricter", "broader", "equivalent", "same_events"] {
        assert!(nb[k].is_array(), "{k}");
    }
    assert!(nb["same_events_total"].as_u64().unwrap() >= 10);
    assert_eq!(nb["same_events"].as_array().unwrap().len(), 10);

    let text = run("text");
    for needle in [
        "MITRE ATT&CK coverage",
        "Tactic:    TA0002 Execution",
        "Technique: T1569.002 System Services: Service Execution",
        "Provider: Service Control Manager, Channel: System, Event ID: 7045, \"A service was installed in the system\"",
        "Stage 1: selection_eid",
        "Stage 2: selection_service",
        "ServiceName: 'PSEXESVC' | ImagePath|endswith: '\\PSEXESVC.exe'",
        "Indicators",
        "Stricter",
        "Broader",
        "Same events, other filters",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    assert!(!text.contains("Stage 3"));
    let md = run("markdown");
    for needle in [
        "# PsExec Service Installation",
        "## MITRE ATT&CK coverage",
        "| Technique | T1569.002 | System Services: Service Execution |",
        "## Event coverage",
        "## Stages and predicates",
        "## Indicators",
        "## Neighbours",
    ] {
        assert!(md.contains(needle), "missing {needle:?} in\n{md}");
    }
    // By title and by file path too; an unknown rule is an error.
    for key in [
        "PsExec Service Installation",
        "win_system_service_install_sysinternals_psexec.yml",
    ] {
        let out = bin()
            .arg("explain")
            .arg(key)
            .arg("--rules")
            .arg(&scm_dir)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("PsExec Service Installation"));
    }
    let out = bin()
        .args(["explain", "no such rule", "--rules"])
        .arg(&scm_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("did you mean"), "nothing near: {err}");
    // A few words of the title: the error names the rules that come nearest.
    let out = bin()
        .args(["explain", "PsExec", "-r"])
        .arg(&scm_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "did you mean: \"PsExec Service Installation\" (42c575ea-e41e-41f1-b248-8093c3e82a28)"
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// implication: hand-picked cases, each checked against the matcher
// ---------------------------------------------------------------------------------------

const SMALL_MAP: &str = r#"
logsources:
  - product: windows
    category: process_creation
    events:
      - when: { Channel: Microsoft-Windows-Sysmon/Operational, EventID: 1 }
      - when: { Channel: Security, EventID: 4688 }
        rename: { Image: NewProcessName }
  - product: windows
    service: sysmon
    events:
      - when: { Channel: Microsoft-Windows-Sysmon/Operational }
  - product: windows
    service: security
    events:
      - when: { Channel: Security }
  - product: windows
    service: system
    events:
      - when: { Channel: System }
  - product: windows
    events:
      - when: { Channel: "*" }
"#;

fn rule(ls: &str, detection: &str) -> String {
    let det: String = detection.lines().map(|l| format!("    {l}\n")).collect();
    format!("title: t\nlogsource: {{{ls}}}\ndetection:\n{det}")
}

/// (stricter, broader, implication holds, an event that A matches and B does not when it
/// does not hold)
struct Case {
    name: &'static str,
    a: String,
    b: String,
    holds: bool,
    witness: Option<Value>,
}

fn cases() -> Vec<Case> {
    let pc = "product: windows, category: process_creation";
    let sys = "product: windows, service: system";
    let sysmon = "product: windows, service: sysmon";
    let win = "product: windows";
    let sel = |body: &str| {
        format!(
            "sel:\n{}\ncondition: sel",
            body.lines()
                .map(|l| format!("    {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    let ev = |v: Value| Some(v);
    let s1 = |extra: Value| {
        let mut m = json!({"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1});
        m.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        m
    };
    vec![
        Case {
            name: "equality implies endswith of its tail",
            a: rule(pc, &sel("Image: 'C:\\Windows\\psexec.exe'")),
            b: rule(pc, &sel("Image|endswith: '\\psexec.exe'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "endswith does not imply equality",
            a: rule(pc, &sel("Image|endswith: '\\psexec.exe'")),
            b: rule(pc, &sel("Image: 'C:\\Windows\\psexec.exe'")),
            holds: false,
            witness: ev(s1(json!({"Image": "D:\\psexec.exe"}))),
        },
        Case {
            name: "longer endswith implies shorter",
            a: rule(pc, &sel("Image|endswith: '\\psexec.exe'")),
            b: rule(pc, &sel("Image|endswith: '.exe'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "shorter endswith does not imply longer",
            a: rule(pc, &sel("Image|endswith: '.exe'")),
            b: rule(pc, &sel("Image|endswith: '\\psexec.exe'")),
            holds: false,
            witness: ev(s1(json!({"Image": "a.exe"}))),
        },
        Case {
            name: "contains implies contains of a substring",
            a: rule(pc, &sel("CommandLine|contains: 'Invoke-Mimikatz'")),
            b: rule(pc, &sel("CommandLine|contains: 'mimikatz'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "startswith implies contains",
            a: rule(pc, &sel("CommandLine|startswith: 'powershell -enc'")),
            b: rule(pc, &sel("CommandLine|contains: 'shell'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "contains does not imply startswith",
            a: rule(pc, &sel("CommandLine|contains: 'shell'")),
            b: rule(pc, &sel("CommandLine|startswith: 'shell'")),
            holds: false,
            witness: ev(s1(json!({"CommandLine": "powershell"}))),
        },
        Case {
            name: "cased implies case-insensitive",
            a: rule(pc, &sel("CommandLine|contains|cased: 'ABC'")),
            b: rule(pc, &sel("CommandLine|contains: 'abc'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "case-insensitive does not imply cased",
            a: rule(pc, &sel("CommandLine|contains: 'abc'")),
            b: rule(pc, &sel("CommandLine|contains|cased: 'abc'")),
            holds: false,
            witness: ev(s1(json!({"CommandLine": "xABCx"}))),
        },
        Case {
            name: "a conjunction implies each part",
            a: rule(
                pc,
                &sel("Image|endswith: '\\a.exe'\nCommandLine|contains: 'x'"),
            ),
            b: rule(pc, &sel("Image|endswith: '\\a.exe'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a part does not imply the conjunction",
            a: rule(pc, &sel("Image|endswith: '\\a.exe'")),
            b: rule(
                pc,
                &sel("Image|endswith: '\\a.exe'\nCommandLine|contains: 'x'"),
            ),
            holds: false,
            witness: ev(s1(json!({"Image": "\\a.exe"}))),
        },
        Case {
            name: "one value implies the value list",
            a: rule(pc, &sel("Image|endswith: '\\a.exe'")),
            b: rule(
                pc,
                &sel("Image|endswith:\n    - '\\a.exe'\n    - '\\b.exe'"),
            ),
            holds: true,
            witness: None,
        },
        Case {
            name: "the value list does not imply one value",
            a: rule(
                pc,
                &sel("Image|endswith:\n    - '\\a.exe'\n    - '\\b.exe'"),
            ),
            b: rule(pc, &sel("Image|endswith: '\\a.exe'")),
            holds: false,
            witness: ev(s1(json!({"Image": "\\b.exe"}))),
        },
        Case {
            name: "more filters imply fewer filters",
            a: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf1:\n    User: SYSTEM\nf2:\n    ParentImage|endswith: '\\b.exe'\ncondition: sel and not f1 and not f2",
            ),
            b: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf1:\n    User: SYSTEM\ncondition: sel and not f1",
            ),
            holds: true,
            witness: None,
        },
        Case {
            name: "fewer filters do not imply more",
            a: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf1:\n    User: SYSTEM\ncondition: sel and not f1",
            ),
            b: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf1:\n    User: SYSTEM\nf2:\n    ParentImage|endswith: '\\b.exe'\ncondition: sel and not f1 and not f2",
            ),
            holds: false,
            witness: ev(s1(json!({"Image": "\\a.exe", "ParentImage": "c:\\b.exe"}))),
        },
        Case {
            name: "a wider filter implies a narrower filter",
            a: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf:\n    ParentImage|endswith: '.exe'\ncondition: sel and not f",
            ),
            b: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf:\n    ParentImage|endswith: '\\b.exe'\ncondition: sel and not f",
            ),
            holds: true,
            witness: None,
        },
        Case {
            name: "a narrower filter does not imply a wider one",
            a: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf:\n    ParentImage|endswith: '\\b.exe'\ncondition: sel and not f",
            ),
            b: rule(
                pc,
                "sel:\n    Image|endswith: '\\a.exe'\nf:\n    ParentImage|endswith: '.exe'\ncondition: sel and not f",
            ),
            holds: false,
            witness: ev(s1(json!({"Image": "\\a.exe", "ParentImage": "c.exe"}))),
        },
        Case {
            name: "neq on a longer value list implies neq on a shorter one",
            a: rule(pc, &sel("User|neq:\n    - a\n    - b\nImage: x")),
            b: rule(pc, &sel("User|neq: a\nImage: x")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a narrower logsource implies a wider one",
            a: rule(sysmon, &sel("EventID: 1\nImage: x")),
            b: rule(win, &sel("Image: x")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a wider logsource does not imply a narrower one",
            a: rule(win, &sel("Image: x")),
            b: rule(sysmon, &sel("Image: x")),
            holds: false,
            witness: ev(json!({"Channel": "Security", "Image": "x"})),
        },
        Case {
            name: "the detection's EventID meets a category's event",
            a: rule(sysmon, &sel("EventID: 1\nCommandLine: x")),
            b: rule(pc, &sel("CommandLine: x")),
            holds: true,
            witness: None,
        },
        // process_creation also reads Security 4688, where Image is NewProcessName: a
        // product-wide rule on Image does not see that event's image.
        Case {
            name: "a category with renames does not imply a product-wide rule on the renamed field",
            a: rule(pc, &sel("Image: x")),
            b: rule(win, &sel("Image: x")),
            holds: false,
            witness: ev(json!({"Channel": "Security", "EventID": 4688, "NewProcessName": "x"})),
        },
        Case {
            name: "equality on a number implies a range",
            a: rule(sys, &sel("EventID: 7045\nCount|gt: 10")),
            b: rule(sys, &sel("EventID: 7045\nCount|gte: 5")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a wider range does not imply a narrower one",
            a: rule(sys, &sel("Count|gte: 5")),
            b: rule(sys, &sel("Count|gt: 10")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Count": 7})),
        },
        Case {
            name: "a smaller network implies a containing one",
            a: rule(sys, &sel("Ip|cidr: 10.1.2.0/24")),
            b: rule(sys, &sel("Ip|cidr: 10.0.0.0/8")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a larger network does not imply a contained one",
            a: rule(sys, &sel("Ip|cidr: 10.0.0.0/8")),
            b: rule(sys, &sel("Ip|cidr: 10.1.2.0/24")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Ip": "10.9.9.9"})),
        },
        Case {
            name: "any value implies exists",
            a: rule(sys, &sel("Svc|contains: a")),
            b: rule(sys, &sel("Svc|exists: true")),
            holds: true,
            witness: None,
        },
        Case {
            name: "exists does not imply a value",
            a: rule(sys, &sel("Svc|exists: true")),
            b: rule(sys, &sel("Svc|contains: a")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Svc": "b"})),
        },
        Case {
            name: "absent implies null",
            a: rule(sys, &sel("Svc|exists: false")),
            b: rule(sys, &sel("Svc: null")),
            holds: true,
            witness: None,
        },
        Case {
            name: "null does not imply absent",
            a: rule(sys, &sel("Svc: null")),
            b: rule(sys, &sel("Svc|exists: false")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Svc": null})),
        },
        Case {
            name: "one of several selections implies 1 of them",
            a: rule(
                sys,
                "sel_a:\n    Svc: a\nsel_b:\n    Svc: b\ncondition: sel_a",
            ),
            b: rule(
                sys,
                "sel_a:\n    Svc: a\nsel_b:\n    Svc: b\ncondition: 1 of sel_*",
            ),
            holds: true,
            witness: None,
        },
        Case {
            name: "1 of them does not imply one of them",
            a: rule(
                sys,
                "sel_a:\n    Svc: a\nsel_b:\n    Svc: b\ncondition: 1 of sel_*",
            ),
            b: rule(
                sys,
                "sel_a:\n    Svc: a\nsel_b:\n    Svc: b\ncondition: sel_a",
            ),
            holds: false,
            witness: ev(json!({"Channel": "System", "Svc": "b"})),
        },
        Case {
            name: "keywords: a longer keyword implies its part",
            a: rule(sys, "kw:\n    - 'evil payload'\ncondition: kw"),
            b: rule(sys, "kw:\n    - 'payload'\ncondition: kw"),
            holds: true,
            witness: None,
        },
        Case {
            name: "wildcards: a literal implies the glob it fits",
            a: rule(sys, &sel("Svc: 'abcXdef'")),
            b: rule(sys, &sel("Svc: 'abc*def'")),
            holds: true,
            witness: None,
        },
        Case {
            name: "a glob does not imply a literal",
            a: rule(sys, &sel("Svc: 'abc*def'")),
            b: rule(sys, &sel("Svc: 'abcXdef'")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Svc": "abcdef"})),
        },
        Case {
            name: "windash is no literal dash",
            a: rule(sys, &sel("Cmd|windash|contains: ' -k'")),
            b: rule(sys, &sel("Cmd|contains: ' -k'")),
            holds: false,
            witness: ev(json!({"Channel": "System", "Cmd": "x /k"})),
        },
    ]
}

#[test]
fn implication_cases_agree_with_the_matcher() {
    let cases = cases();
    let mut texts = Vec::new();
    for c in &cases {
        texts.push(c.a.clone());
        texts.push(c.b.clone());
    }
    let rules = load_text(&texts);
    let map = LogsourceMap::from_yaml(SMALL_MAP).unwrap();
    let cat = Catalog::build(rules.clone(), &map);
    let t = flat_transform(rules, &map);
    for (i, c) in cases.iter().enumerate() {
        let (a, b) = (2 * i, 2 * i + 1);
        assert_eq!(cat.implies(a, b), c.holds, "{}", c.name);
        if let Some(w) = &c.witness {
            let hits = matches(&t, w);
            assert!(
                hits.contains(&a) && !hits.contains(&b),
                "{}: the witness {w} should match A and not B (hits {hits:?})",
                c.name
            );
        }
    }
    // The catalog's pair list is the check's answer for the pairs it proposes.
    for &(a, b) in cat.implications() {
        assert!(cat.implies(a as usize, b as usize));
    }
}

// ---------------------------------------------------------------------------------------
// implication: random rules, random events
// ---------------------------------------------------------------------------------------

const RANDOM_MAP: &str = r#"
logsources:
  - product: windows
    category: cat_a
    events:
      - when: { Channel: ChanA, EventID: 1 }
      - when: { Channel: ChanB, EventID: [2, 3] }
        rename: { F1: G1 }
  - product: windows
    service: sa
    events:
      - when: { Channel: ChanA }
  - product: windows
    service: sb
    events:
      - when: { Channel: ChanB }
  - product: windows
    events:
      - when: { Channel: "*" }
"#;

const WORDS: [&str; 10] = [
    "ab", "abc", "b", "xabc", "ABC", "c-d", "c/d", "Ab", "abcab", "ä",
];

fn random_value(r: &mut Rng) -> String {
    let mut v = r.pick(&WORDS).to_string();
    if r.chance(15) {
        v = format!("{v}*{}", r.pick(&WORDS));
    }
    if r.chance(10) {
        v = v.replacen('b', "?", 1);
    }
    v
}

fn random_key(r: &mut Rng, field: &str) -> String {
    let mods = [
        "",
        "|contains",
        "|startswith",
        "|endswith",
        "|contains|cased",
        "|endswith|cased",
        "|windash|contains",
        "|neq",
        "|contains|all",
        "|re",
    ];
    format!("{field}{}", r.pick(&mods))
}

fn random_map(r: &mut Rng) -> String {
    let mut out = String::new();
    let fields = ["F1", "F2", "G1", "EventID", "N1", "IP", "F3"];
    let mut used = HashSet::new();
    for _ in 0..1 + r.below(2) {
        let f = *r.pick(&fields);
        if !used.insert(f) {
            continue;
        }
        match f {
            "EventID" => out.push_str(&format!(
                "EventID: {}\n",
                r.pick(&["1", "2", "3", "[1, 2]"])
            )),
            "N1" => out.push_str(&format!(
                "N1|{}: {}\n",
                r.pick(&["gt", "gte", "lt", "lte"]),
                r.below(10)
            )),
            "IP" => out.push_str(&format!(
                "IP|cidr: {}\n",
                r.pick(&["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3", "192.168.0.0/16"])
            )),
            "F3" => out.push_str(&format!(
                "F3{}\n",
                r.pick(&[": null", "|exists: true", "|exists: false", ": ''"])
            )),
            _ => {
                let key = random_key(r, f);
                if key.ends_with("|re") {
                    out.push_str(&format!(
                        "{key}: '{}'\n",
                        r.pick(&["^ab", "c$", "b.c", "(?i)abc"])
                    ));
                } else if key.ends_with("|all") || r.chance(30) {
                    out.push_str(&format!(
                        "{key}:\n    - '{}'\n    - '{}'\n",
                        random_value(r),
                        random_value(r)
                    ));
                } else {
                    out.push_str(&format!("{key}: '{}'\n", random_value(r)));
                }
            }
        }
    }
    out
}

fn indent(s: &str, n: usize) -> String {
    s.lines()
        .map(|l| format!("{}{l}\n", " ".repeat(n)))
        .collect()
}

fn random_rule(r: &mut Rng) -> (String, Vec<String>, String) {
    let ls = r
        .pick(&[
            "product: windows, category: cat_a",
            "product: windows, service: sa",
            "product: windows, service: sb",
            "product: windows",
            "product: linux",
        ])
        .to_string();
    let mut searches = Vec::new();
    for name in ["sel1", "sel2", "filter1", "filter2"] {
        let body = if r.chance(20) {
            // a list of maps
            format!(
                "{name}:\n  - \n{}  - \n{}",
                indent(&random_map(r), 4),
                indent(&random_map(r), 4)
            )
        } else if r.chance(5) {
            format!("{name}:\n  - '{}'\n", random_value(r))
        } else {
            format!("{name}:\n{}", indent(&random_map(r), 2))
        };
        searches.push(body);
    }
    let cond = r
        .pick(&[
            "sel1",
            "sel1 and not filter1",
            "sel1 and sel2",
            "1 of sel*",
            "all of sel*",
            "sel1 and not 1 of filter*",
            "(sel1 or sel2) and not filter1",
            "2 of them",
            "sel1 or not filter2",
        ])
        .to_string();
    (ls, searches, cond)
}

fn render(ls: &str, searches: &[String], cond: &str) -> String {
    let mut det = String::new();
    for s in searches {
        det.push_str(&indent(s, 2));
    }
    format!("title: random\nlogsource: {{{ls}}}\ndetection:\n{det}  condition: {cond}\n")
}

/// A rule and a variant of it that is often stricter or broader.
fn random_pair(r: &mut Rng) -> [String; 2] {
    let (ls, searches, cond) = random_rule(r);
    let a = render(&ls, &searches, &cond);
    let mut s2 = searches.clone();
    let (ls2, cond2) = match r.below(8) {
        6 | 7 => {
            // The same rule with one modifier or value changed: case, anchoring, dashes.
            let swaps = [
                ("|contains|cased", "|contains"),
                ("|contains", "|contains|cased"),
                ("|endswith|cased", "|endswith"),
                ("|endswith", "|endswith|cased"),
                ("|endswith", "|contains"),
                ("|startswith", "|contains"),
                ("|contains", "|startswith"),
                ("|windash|contains", "|contains"),
                ("|contains", "|windash|contains"),
                ("'ab'", "'abc'"),
                ("'abc'", "'ab'"),
                ("'ABC'", "'abc'"),
            ];
            let (from, to) = *r.pick(&swaps);
            for x in s2.iter_mut() {
                *x = x.replacen(from, to, 1);
            }
            (ls.clone(), cond.clone())
        }
        0 => (ls.clone(), format!("({cond}) and not filter2")),
        1 => (ls.clone(), format!("({cond}) or sel2")),
        2 => (
            r.pick(&[
                "product: windows",
                "product: windows, service: sa",
                "product: windows, category: cat_a",
            ])
            .to_string(),
            cond.clone(),
        ),
        3 => {
            s2[0] = format!("sel1:\n{}", indent(&random_map(r), 2));
            (ls.clone(), cond.clone())
        }
        4 => (ls.clone(), format!("({cond}) and sel2")),
        _ => {
            s2[2] = format!("filter1:\n{}", indent(&random_map(r), 2));
            (ls.clone(), cond.clone())
        }
    };
    [a, render(&ls2, &s2, &cond2)]
}

fn random_event(r: &mut Rng, literals: &[String]) -> Value {
    let mut m = Map::new();
    let value = |r: &mut Rng| -> Value {
        let mut s = if r.chance(70) && !literals.is_empty() {
            r.pick(literals).clone()
        } else {
            r.pick(&WORDS).to_string()
        };
        if r.chance(30) {
            s = format!("{}{s}", r.pick(&["", "x", "c:\\", "Z"]));
        }
        if r.chance(30) {
            s = format!("{s}{}", r.pick(&["", "b", "q", ".exe"]));
        }
        if r.chance(20) {
            s = s.to_uppercase();
        }
        if r.chance(10) {
            s = s.replace('-', "/");
        }
        Value::String(s)
    };
    if r.chance(95) {
        m.insert(
            "Channel".into(),
            json!(r.pick(&["ChanA", "ChanB", "chana", "Other"])),
        );
    }
    if r.chance(85) {
        m.insert(
            "EventID".into(),
            r.pick(&[json!(1), json!(2), json!(3), json!("2"), json!(4)])
                .clone(),
        );
    }
    for f in ["F1", "F2", "G1"] {
        match r.below(10) {
            0..=1 => {}
            2 => {
                m.insert(f.into(), json!([value(r), value(r)]));
            }
            3 => {
                m.insert(f.into(), Value::Null);
            }
            _ => {
                m.insert(f.into(), value(r));
            }
        }
    }
    if r.chance(70) {
        m.insert(
            "N1".into(),
            r.pick(&[
                json!(0),
                json!(3),
                json!(5),
                json!(9),
                json!("7"),
                json!("0x8"),
                json!("x"),
            ])
            .clone(),
        );
    }
    if r.chance(70) {
        m.insert(
            "IP".into(),
            json!(r.pick(&[
                "10.1.2.3",
                "10.1.9.9",
                "10.200.0.1",
                "192.168.1.1",
                "::1",
                "x"
            ])),
        );
    }
    match r.below(4) {
        0 => {}
        1 => {
            m.insert("F3".into(), Value::Null);
        }
        2 => {
            m.insert("F3".into(), json!(""));
        }
        _ => {
            m.insert("F3".into(), json!("v"));
        }
    }
    Value::Object(m)
}

fn literals_of(rules: &[Rule]) -> Vec<String> {
    let mut out = Vec::new();
    for r in rules {
        for s in &r.detection.searches {
            for t in s.expr.tests() {
                for v in &t.values {
                    for m in &v.any {
                        if let M::Str { pattern, .. } = m {
                            let mut s = String::new();
                            for p in pattern.pieces() {
                                match p {
                                    Piece::Literal(b) => s.push_str(&String::from_utf8_lossy(b)),
                                    Piece::AnyChar => s.push('z'),
                                    Piece::Dash => s.push('-'),
                                    Piece::AnyRun => {}
                                }
                            }
                            out.push(s);
                        }
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn random_rules_never_contradict_a_claimed_implication() {
    let t0 = Instant::now();
    let (mut claims, mut witnessed, mut pairs_checked, mut events_total) =
        (0usize, 0usize, 0usize, 0usize);
    for seed in 1..=40u64 {
        let mut r = Rng::new(seed);
        let mut texts = Vec::new();
        for _ in 0..25 {
            texts.extend(random_pair(&mut r));
        }
        let rules = load_text(&texts);
        let cat = Catalog::build(rules.clone(), &LogsourceMap::from_yaml(RANDOM_MAP).unwrap());
        let map = mapping_with_opaque(RANDOM_MAP, &rules);
        let lits = literals_of(&rules);
        let t = flat_transform(rules.clone(), &map);
        let events: Vec<Value> = (0..600).map(|_| random_event(&mut r, &lits)).collect();
        events_total += events.len();
        let hits: Vec<HashSet<usize>> = events
            .iter()
            .map(|e| matches(&t, e).into_iter().collect())
            .collect();
        let n = rules.len();
        for a in 0..n {
            for b in 0..n {
                if a == b {
                    continue;
                }
                pairs_checked += 1;
                if !cat.implies(a, b) {
                    continue;
                }
                claims += 1;
                let mut seen_a = false;
                for (e, h) in events.iter().zip(&hits) {
                    if h.contains(&a) {
                        seen_a = true;
                        assert!(
                            h.contains(&b),
                            "seed {seed}: claimed rule {a} implies rule {b}, but this event matches {a} only:\n{e}\n--- rule {a}:\n{}\n--- rule {b}:\n{}",
                            texts[a],
                            texts[b]
                        );
                    }
                }
                witnessed += usize::from(seen_a);
            }
        }
        // The catalog's own pair list agrees with the check.
        let listed: HashSet<(u32, u32)> = cat.implications().iter().copied().collect();
        for &(a, b) in &listed {
            assert!(cat.implies(a as usize, b as usize));
        }
    }
    eprintln!(
        "random rules: {pairs_checked} ordered pairs, {claims} implications claimed, {witnessed} of them with an event matching the stricter rule, {events_total} events, {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    // The test is only meaningful if it claims and exercises many implications.
    assert!(claims >= 200, "only {claims} implications claimed");
    assert!(
        witnessed * 2 >= claims,
        "only {witnessed} of {claims} claims met an event"
    );
}

// ---------------------------------------------------------------------------------------
// every pair claimed over the SigmaHQ corpus, on events generated from the stricter rule
// ---------------------------------------------------------------------------------------

/// Builds flat events meant to satisfy a rule on one of its event kinds.
struct Gen<'a> {
    r: &'a mut Rng,
    kind: &'a EventKind,
    fields: BTreeMap<String, Vec<Value>>,
    absent: HashSet<String>,
    keyword: usize,
}

impl Gen<'_> {
    fn name(&self, t: &FieldTest) -> String {
        match &t.field {
            Some(f) => self.kind.resolve(f).to_string(),
            None => String::new(),
        }
    }

    fn put(&mut self, field: &str, v: Value) {
        if field.is_empty() {
            self.keyword += 1;
            let k = format!("Keyword{}", self.keyword);
            self.fields.entry(k).or_default().push(v);
        } else {
            self.fields.entry(field.to_string()).or_default().push(v);
        }
    }

    fn text(&mut self, pieces: &[Piece], cased: bool) -> String {
        let mut s = String::new();
        for p in pieces {
            match p {
                Piece::Literal(b) => {
                    let t = String::from_utf8_lossy(b).into_owned();
                    if !cased && self.r.chance(30) {
                        s.push_str(&t.to_uppercase());
                    } else {
                        s.push_str(&t);
                    }
                }
                Piece::AnyRun => {
                    let fill = ["", "zz", " x "][self.r.below(3)];
                    s.push_str(fill)
                }
                Piece::AnyChar => s.push('q'),
                Piece::Dash => s.push(*self.r.pick(&DASHES)),
            }
        }
        s
    }

    fn witness(&mut self, field: &str, m: &M) {
        match m {
            M::Str { pattern, cased } => {
                let s = self.text(pattern.pieces(), *cased);
                self.put(field, Value::String(s));
            }
            M::Regex { source, .. } => {
                // Not generated: the literal text of the regex sometimes matches itself.
                let lit: String = source
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ')
                    .collect();
                self.put(field, Value::String(lit));
            }
            M::Compare { op, value } => {
                let v = match op {
                    CmpOp::Lt => value - 1.0,
                    CmpOp::Gt => value + 1.0,
                    _ => *value,
                };
                self.put(field, json!(v));
            }
            M::Time { part, op, value } => {
                let v = match op {
                    CmpOp::Lt => value - 1.0,
                    CmpOp::Gt => value + 1.0,
                    _ => *value,
                } as i64;
                let (mut y, mut mo, mut d, mut h, mut mi) = (2024, 3, 13, 10, 30);
                match part {
                    TimePart::Minute => mi = v.clamp(0, 59),
                    TimePart::Hour => h = v.clamp(0, 23),
                    TimePart::Day => d = v.clamp(1, 28),
                    TimePart::Month => mo = v.clamp(1, 12),
                    TimePart::Year => y = v.clamp(1970, 2100),
                    TimePart::Week => {}
                }
                self.put(
                    field,
                    json!(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:00Z")),
                );
            }
            M::Cidr(c) => self.put(field, json!(c.network.to_string())),
            M::Exists(true) => self.put(field, json!("x")),
            M::Exists(false) => {
                self.absent.insert(field.to_string());
            }
            M::Null => {
                if self.r.chance(50) {
                    self.put(field, Value::Null)
                } else {
                    self.absent.insert(field.to_string());
                }
            }
            M::FieldRef {
                field: other,
                anchor,
                ..
            } => {
                let v = format!("ref{}", self.r.below(3));
                let own = match anchor {
                    Anchor::Exact => v.clone(),
                    Anchor::Prefix => format!("{v}tail"),
                    Anchor::Suffix => format!("head{v}"),
                    Anchor::Contains => format!("a{v}b"),
                };
                self.put(other, json!(v));
                self.put(field, json!(own));
            }
        }
    }

    /// Tries to make the test hold (`goal`) or fail.
    fn test(&mut self, t: &FieldTest, goal: bool) {
        let field = self.name(t);
        let goal = goal != t.negated;
        if !goal {
            // Most tests fail on an absent field; null and `exists: false` hold there.
            let on_absent = t
                .values
                .iter()
                .any(|v| v.any.iter().any(|m| m.holds_on_absent()));
            if on_absent {
                self.put(&field, json!("present"));
            } else if !field.is_empty() && !self.fields.contains_key(&field) {
                self.absent.insert(field);
            }
            return;
        }
        let chosen: Vec<usize> = if t.all {
            (0..t.values.len()).collect()
        } else {
            vec![self.r.below(t.values.len())]
        };
        for i in chosen {
            let alts = &t.values[i].any;
            let m = alts[self.r.below(alts.len())].clone();
            self.witness(&field, &m);
        }
    }

    fn search(&mut self, e: &SearchExpr, goal: bool) {
        match (e, goal) {
            (SearchExpr::Test(t), g) => self.test(t, g),
            (SearchExpr::And(v), true) | (SearchExpr::Or(v), false) => {
                v.iter().for_each(|x| self.search(x, goal))
            }
            (SearchExpr::And(v), false) | (SearchExpr::Or(v), true) => {
                let i = self.r.below(v.len());
                self.search(&v[i], goal)
            }
        }
    }

    fn expr(&mut self, rule: &Rule, e: &Expr, goal: bool) {
        match (e, goal) {
            (Expr::Search(i), g) => self.search(&rule.detection.searches[*i].expr, g),
            (Expr::Not(x), g) => self.expr(rule, x, !g),
            (Expr::And(v), true) | (Expr::Or(v), false) => {
                v.iter().for_each(|x| self.expr(rule, x, goal))
            }
            (Expr::And(v), false) | (Expr::Or(v), true) => {
                let i = self.r.below(v.len());
                self.expr(rule, &v[i], goal)
            }
            (Expr::AtLeast(k, v), g) => {
                let need = if g { *k } else { v.len() + 1 - k };
                let mut idx: Vec<usize> = (0..v.len()).collect();
                for i in (1..idx.len()).rev() {
                    let j = self.r.below(i + 1);
                    idx.swap(i, j);
                }
                for i in idx.into_iter().take(need) {
                    self.expr(rule, &v[i], g);
                }
            }
        }
    }

    fn event(mut self) -> Value {
        let mut m = Map::new();
        for (f, vs) in &self.kind.when {
            let v = match self.r.pick(vs) {
                WhenValue::Text(t) => {
                    if f == "EventID" && t.parse::<i64>().is_ok() && self.r.chance(50) {
                        json!(t.parse::<i64>().unwrap())
                    } else {
                        json!(t)
                    }
                }
                WhenValue::Present => json!("Some/Channel"),
            };
            m.insert(f.clone(), v);
        }
        for (f, mut vs) in std::mem::take(&mut self.fields) {
            if m.contains_key(&f) {
                continue;
            }
            let v = if vs.len() == 1 {
                vs.pop().unwrap()
            } else {
                Value::Array(vs)
            };
            m.insert(f, v);
        }
        // Fields asked to be absent are simply never written (unless a later part of the
        // rule asked for a value there: then the rule may not match, which is counted).
        let _ = &self.absent;
        Value::Object(m)
    }
}

fn kinds_of(map: &LogsourceMap, rule: &Rule) -> Vec<EventKind> {
    map.resolve(&rule.logsource)
        .expect("the test mapping has an entry for every logsource")
}

/// Events meant to match `a`, some of them also meant to trip `b`'s exclusions.
fn events_for(r: &mut Rng, map: &LogsourceMap, a: &Rule, b: &Rule, n: usize) -> Vec<Value> {
    let kinds = kinds_of(map, a);
    let kinds_b = kinds_of(map, b);
    (0..n)
        .map(|i| {
            let kind = &kinds[i % kinds.len()];
            let mut g = Gen {
                r: &mut *r,
                kind,
                fields: BTreeMap::new(),
                absent: HashSet::new(),
                keyword: 0,
            };
            g.expr(a, &a.detection.expr, true);
            let mut ev = g.event();
            if i % 2 == 1 {
                // Also try to make b fail, adding values only where a has none.
                let kb = &kinds_b[i % kinds_b.len()];
                let mut h = Gen {
                    r: &mut *r,
                    kind: kb,
                    fields: BTreeMap::new(),
                    absent: HashSet::new(),
                    keyword: 10,
                };
                h.expr(b, &b.detection.expr, false);
                let extra = h.event();
                let obj = ev.as_object_mut().unwrap();
                for (k, v) in extra.as_object().unwrap() {
                    obj.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            ev
        })
        .collect()
}

#[test]
fn every_claimed_corpus_pair_holds_on_generated_events() {
    let Some(shared) =
        common::shared_or_skip("every_claimed_corpus_pair_holds_on_generated_events")
    else {
        return;
    };
    let t0 = Instant::now();
    let rules = RuleSet::load(&corpus_dirs(&shared), &BuildOptions::default()).rules;
    let builtin = LogsourceMap::builtin();
    let cat = Catalog::build(rules.clone(), &builtin);
    let built = t0.elapsed().as_secs_f64();
    let map = mapping_with_opaque(sigma_transform::logsource::BUILTIN, &rules);
    let t = flat_transform(rules.clone(), &map);
    let pairs = cat.implications().to_vec();
    let stats = cat.build_stats().clone();
    assert!(!pairs.is_empty());
    let mut r = Rng::new(5);
    let (mut events, mut a_hits, mut witnessed) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for &(a, b) in &pairs {
        let (a, b) = (a as usize, b as usize);
        let evs = events_for(&mut r, &map, &rules[a], &rules[b], 8);
        let mut seen = false;
        for e in evs {
            events += 1;
            let h = matches(&t, &e);
            if h.contains(&a) {
                a_hits += 1;
                seen = true;
                if !h.contains(&b) && failures.len() < 5 {
                    failures.push(format!(
                        "{} ({}) claimed stricter than {} ({}), but this event matches only the first:\n{e}",
                        rules[a].meta.title,
                        rules[a].path.display(),
                        rules[b].meta.title,
                        rules[b].path.display()
                    ));
                }
            }
        }
        witnessed += usize::from(seen);
    }
    eprintln!(
        "corpus: {} rules, {} implications ({} stricter/broader pairs, {} equivalent pairs) from {} candidate pairs; catalog built in {built:.2} s (neighbours {} ms); {events} generated events, {a_hits} matched the stricter rule, {witnessed} pairs witnessed; total {:.2} s",
        rules.len(),
        pairs.len(),
        stats.stricter_pairs,
        stats.equivalent_pairs,
        stats.candidate_pairs,
        stats.millis_neighbours,
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The generated events must exercise the claims, or the test proves nothing.
    assert!(
        witnessed * 10 >= pairs.len() * 8,
        "only {witnessed} of {} pairs met an event matching the stricter rule",
        pairs.len()
    );
}

// ---------------------------------------------------------------------------------------
// statistics and ATT&CK coverage
// ---------------------------------------------------------------------------------------

const OWN_RULES: &str = "rules/windows";

#[test]
fn stats_and_navigator_layer_count_the_rules() {
    let own = common::project(OWN_RULES);
    let set = RuleSet::load(std::slice::from_ref(&own), &BuildOptions::default());
    let n = set.rules.len();
    assert!(n > 3);
    // Count techniques from the tags ourselves.
    let mut by_tech: BTreeMap<String, usize> = BTreeMap::new();
    let mut untagged = 0;
    for r in &set.rules {
        let techs: HashSet<String> = r
            .meta
            .tags
            .iter()
            .filter_map(|t| {
                t.strip_prefix("attack.t")
                    .map(|x| format!("T{}", x.to_uppercase()))
            })
            .collect();
        let tactics = r
            .meta
            .tags
            .iter()
            .filter(|t| {
                t.starts_with("attack.")
                    && !t.starts_with("attack.t")
                    && !t.starts_with("attack.s0")
                    && !t.starts_with("attack.g0")
            })
            .count();
        if techs.is_empty() && tactics == 0 {
            untagged += 1;
        }
        for t in techs {
            *by_tech.entry(t).or_default() += 1;
        }
    }
    let out = bin()
        .args(["catalog", "stats", "--format", "json", "--rules"])
        .arg(&own)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["rules"], n);
    let sum = |k: &str| {
        s[k].as_array()
            .unwrap()
            .iter()
            .map(|c| c["rules"].as_u64().unwrap())
            .sum::<u64>() as usize
    };
    assert_eq!(sum("by_level"), n);
    assert_eq!(sum("by_status"), n);
    assert_eq!(sum("by_logsource"), n);
    assert_eq!(s["without_attack"].as_array().unwrap().len(), untagged);
    for c in s["by_technique"].as_array().unwrap() {
        assert_eq!(
            by_tech.get(c["key"].as_str().unwrap()).copied(),
            Some(c["rules"].as_u64().unwrap() as usize),
            "{c}"
        );
    }
    let text = bin()
        .args(["catalog", "stats", "--rules"])
        .arg(&own)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("Rules per level")
            && text.contains("Most shared indicators")
            && text.contains("Rules without ATT&CK tags")
    );

    let out = bin()
        .args(["coverage", "--format", "navigator", "--rules"])
        .arg(&own)
        .output()
        .unwrap();
    assert!(out.status.success());
    let layer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(layer["versions"]["layer"], "4.5");
    assert_eq!(layer["domain"], "enterprise-attack");
    let techs = layer["techniques"].as_array().unwrap();
    assert_eq!(techs.len(), by_tech.len());
    for t in techs {
        let id = t["techniqueID"].as_str().unwrap();
        assert_eq!(t["score"].as_u64().unwrap() as usize, by_tech[id], "{id}");
        let per_level: u64 = t["metadata"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] != "rules")
            .map(|m| m["value"].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(per_level <= t["score"].as_u64().unwrap());
    }
    let out = bin()
        .args(["coverage", "--rules"])
        .arg(&own)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ATT&CK coverage:"), "{text}");
    assert!(text.contains("TA0002 Execution"), "{text}");
}

// ---------------------------------------------------------------------------------------
// the HTML catalog in a real browser
// ---------------------------------------------------------------------------------------

fn chromium() -> Option<PathBuf> {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return Some(PathBuf::from(c));
        }
    }
    None
}

fn browser(exe: &Path, args: &[String]) -> String {
    let profile = std::env::temp_dir().join(format!(
        "sigma-catalog-chromium-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let out = Command::new(exe)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn dom(exe: &Path, url: &str) -> String {
    browser(
        exe,
        &[
            "--virtual-time-budget=5000".into(),
            "--dump-dom".into(),
            url.into(),
        ],
    )
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

fn hrefs(dom: &str) -> Vec<String> {
    dom.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&amp;", "&"))
        .collect()
}

#[test]
fn html_catalog_works_in_a_headless_browser() {
    let Some(exe) = chromium() else {
        common::skip(
            "html_catalog_works_in_a_headless_browser",
            "chromium is not installed (CI installs Debian's chromium; apt-get install chromium)",
        );
        return;
    };
    let shared = common::shared_dir();
    let rule_dirs = match &shared {
        Some(s) => corpus_dirs(s),
        None => {
            eprintln!(
                "note: ../shared is absent; the browser test runs on the project's own rules"
            );
            vec![common::project(OWN_RULES)]
        }
    };
    let target = common::project("target/catalog-test");
    let site = target.join("site");
    std::fs::create_dir_all(&target).unwrap();
    let t0 = Instant::now();
    let out = bin()
        .args(["catalog", "html", "--out"])
        .arg(&site)
        .args(
            rule_dirs
                .iter()
                .flat_map(|d| [std::ffi::OsStr::new("--rules"), d.as_os_str()]),
        )
        .output()
        .unwrap();
    let secs = t0.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!(
        "catalog html: {secs:.2} s; {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    assert!(secs < 30.0, "the HTML catalog took {secs:.1} s");

    let set = RuleSet::load(&rule_dirs, &BuildOptions::default());
    let total = set.rules.len();
    // A level some but not all rules have (the project's own rules have no critical one).
    let (level, at_level) = ["critical", "high", "medium", "low"]
        .iter()
        .map(|l| {
            let n = set
                .rules
                .iter()
                .filter(|r| r.meta.level.as_deref() == Some(*l))
                .count();
            (*l, n)
        })
        .find(|(_, n)| *n > 0 && *n < total)
        .expect("the rules span more than one level");
    let cat = Catalog::build(set.rules, &LogsourceMap::builtin());
    let index = site.join("index.html");
    let url = |frag: &str| format!("file://{}{frag}", index.display());

    // The index loads and lists every rule.
    let d = dom(&exe, &url(""));
    assert_eq!(count(&d, "<tr class=\"rule\""), total, "index rows");
    assert!(d.contains(&format!("{total} of {total} rules")));
    // Search narrows the list; every row left mentions the word.
    let word = if shared.is_some() {
        "psexec"
    } else {
        "service"
    };
    let d = dom(&exe, &url(&format!("#q={word}")));
    let rows = count(&d, "<tr class=\"rule\"");
    assert!(rows > 0 && rows < total, "search rows {rows} of {total}");
    assert!(d.contains(&format!("{rows} of {total} rules")));
    let data = std::fs::read_to_string(site.join("assets/data.js")).unwrap();
    let json: Value = serde_json::from_str(
        data.trim()
            .trim_start_matches("window.CATALOG = ")
            .trim_end_matches(';'),
    )
    .unwrap();
    let expected = json["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            let hay = [&r["t"], &r["i"], &r["d"], &r["f"], &r["ls"]]
                .iter()
                .map(|v| v.as_str().unwrap_or("").to_string())
                .chain(["ta", "te", "tags"].iter().map(|k| {
                    r[*k]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|x| x.as_str().unwrap().to_string())
                        .collect::<Vec<_>>()
                        .join(" ")
                }))
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            hay.contains(word)
        })
        .count();
    assert_eq!(rows, expected, "rows the search keeps");
    if shared.is_some() {
        assert!(d.contains(&format!("data-slug=\"{PSEXEC_ID}\"")));
    }
    // A filter narrows too.
    let d = dom(&exe, &url(&format!("#level={level}")));
    assert_eq!(
        count(&d, "<tr class=\"rule\""),
        at_level,
        "level filter {level}"
    );

    // A rule page with neighbours shows them, and its links resolve.
    let with_nb = (0..cat.rules().len())
        .max_by_key(|i| {
            let n = cat.neighbours(*i);
            (
                n.stricter.len().min(1) + n.broader.len().min(1),
                n.same_events_total.min(1),
            )
        })
        .unwrap();
    let nb = cat.neighbours(with_nb);
    let slug = &cat.info(with_nb).slug;
    let page = site.join("rules").join(format!("{slug}.html"));
    let d = dom(&exe, &format!("file://{}", page.display()));
    assert!(d.contains("id=\"neighbours\""));
    let links: Vec<String> = hrefs(&d);
    let neighbour_links = count(&d, "class=\"neighbour\"");
    assert_eq!(
        neighbour_links,
        nb.stricter.len() + nb.broader.len() + nb.equivalent.len() + nb.same_events.len()
    );
    assert!(neighbour_links > 0, "the chosen page has no neighbours");
    for n in nb.stricter.iter().chain(&nb.broader).chain(&nb.same_events) {
        assert!(
            d.contains(&format!("href=\"{}.html\"", n.slug)),
            "{} missing",
            n.title
        );
    }
    for l in &links {
        let target = page.parent().unwrap().join(l.split('#').next().unwrap());
        assert!(
            target.exists(),
            "link {l} of {} does not resolve",
            page.display()
        );
    }
    // Index rows link to existing pages.
    let d = dom(&exe, &url(&format!("#q={word}")));
    for l in hrefs(&d).iter().filter(|l| l.starts_with("rules/")) {
        assert!(site.join(l).exists(), "index link {l}");
    }

    // A screenshot of a rule page, kept as a test artifact.
    let shot_page = if shared.is_some() {
        site.join(format!("rules/{PSEXEC_ID}.html"))
    } else {
        page.clone()
    };
    for (name, p) in [
        ("rule-page.png", &shot_page),
        ("rule-with-neighbours.png", &page),
    ] {
        let png = target.join(name);
        let _ = std::fs::remove_file(&png);
        browser(
            &exe,
            &[
                format!("--screenshot={}", png.display()),
                "--window-size=1280,2600".into(),
                format!("file://{}", p.display()),
            ],
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 20_000,
            "{name}: {} bytes",
            bytes.len()
        );
        eprintln!("screenshot: {}", png.display());
    }
}

/// `coverage` counts the rules that can fire: a rule with no logsource mapping is left
/// out, and `--config` applies the config's selection (`min_level`) as `run` would.
#[test]
fn coverage_leaves_out_rules_that_cannot_fire_and_takes_a_config() {
    let dir = std::env::temp_dir().join(format!("sigma-coverage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rule = |title: &str, id: u8, logsource: &str, level: &str, tag: &str| {
        format!(
            "title: {title}\nid: 00000000-0000-4000-8000-0000000000{id:02x}\nlogsource:\n{logsource}\ndetection:\n    selection:\n        EventID: 1\n    condition: selection\nlevel: {level}\ntags:\n    - {tag}\n"
        )
    };
    let rules = [
        rule(
            "Mapped high",
            1,
            "    product: windows\n    service: system",
            "high",
            "attack.t1569.002",
        ),
        rule(
            "Unmapped",
            2,
            "    product: nosuchproduct",
            "high",
            "attack.t1059",
        ),
        rule(
            "Mapped low",
            3,
            "    product: windows\n    service: security",
            "low",
            "attack.t1003",
        ),
    ]
    .join("---\n");
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("sigma.toml"),
        "rules = [\"rules.yml\"]\nmin_level = \"medium\"\n",
    )
    .unwrap();
    let run = |args: &[&str]| common::run_ok(bin().arg("coverage").args(args).current_dir(&dir));
    let (text, note) = run(&["--rules", "rules.yml"]);
    assert!(
        text.contains("T1569.002") && text.contains("T1003"),
        "{text}"
    );
    assert!(
        !text.contains("T1059"),
        "an unmapped rule cannot fire: {text}"
    );
    assert!(note.contains("left out: 1 that will not fire"), "{note}");
    let (text, note) = run(&["--config", "sigma.toml"]);
    assert!(text.contains("T1569.002"), "{text}");
    assert!(!text.contains("T1003"), "below min_level: {text}");
    assert!(!text.contains("T1059"), "{text}");
    assert!(note.contains("1 deselected"), "{note}");
    let (layer, _) = run(&["--config", "sigma.toml", "--format", "navigator"]);
    let layer: serde_json::Value = serde_json::from_str(&layer).unwrap();
    let ids: Vec<&str> = layer["techniques"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["techniqueID"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["T1569.002"]);
    let _ = std::fs::remove_dir_all(&dir);
}
