//! Sigma filters (`filter:` documents, sigma-filters-specification.md 2.1; issue 20).
//!
//! A filter's condition is ANDed with the condition of each rule it names, as pySigma and
//! RSigma apply it (docs/semantics.md, "Filters"). Every case has events that must fire and
//! events that must not, and every case also asks the reference evaluator
//! (`tests/support/reference.rs`) about the filtered rule: the compiled engine and the
//! reference must agree on each event.

mod common;
#[path = "support/reference.rs"]
#[allow(dead_code)]
mod reference;

use std::path::{Path, PathBuf};

use sigma_transform::event::json::JsonEvent;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

/// Every logsource the cases use means every event, so only the detections decide.
const MAP: &str = "logsources:
  - product: windows
    events:
      - when: {}
  - product: windows
    category: process_creation
    events:
      - when: {}
  - category: network
    service: dns
    events:
      - when: {}
";

const RAR: &str = "title: Data Compressed - rar.exe
id: 6f3e2987-db24-4c78-a860-b4f4095a7095
name: rar_compression
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\rar.exe'
    condition: selection
level: low
";

const WHOAMI: &str = "title: Whoami
id: 1a2b3c4d-0000-4000-8000-000000000001
logsource:
    category: process_creation
    product: windows
detection:
    selection:
        Image|endswith: '\\whoami.exe'
    condition: selection
";

const DNS_RULE: &str = "title: DNS lookup of google
id: df0841c0-9846-4e9f-ad8a-7df91571771b
taxonomy: ecs
logsource:
    category: network
    service: dns
detection:
    selection:
        dns.question.name|contains: 'google'
    condition: selection
";

fn map() -> LogsourceMap {
    LogsourceMap::from_yaml(MAP).expect("test mapping")
}

/// Loads `docs` (one YAML text each, joined as documents of one file).
fn load(docs: &[&str]) -> RuleSet {
    RuleSet::from_text("filters.yml", &docs.join("---\n"), &BuildOptions::default())
}

/// Titles of the rules that fire on `event`, from the compiled engine; asserts the
/// reference evaluator says the same of every (filtered) rule.
#[track_caller]
fn fired(set: &RuleSet, event: &str) -> Vec<String> {
    let map = map();
    let t = Transform::new(set.rules.clone(), &map, TransformOptions::default());
    let ev = JsonEvent::parse(event.as_bytes()).expect("test event parses");
    let mut scratch = t.scratch();
    let mut got: Vec<String> = t
        .match_event(&ev, &mut scratch)
        .iter()
        .map(|&i| t.rules()[i].meta.title.clone())
        .collect();
    got.sort();
    let value: serde_json::Value = serde_json::from_str(event).unwrap();
    let mut want: Vec<String> = reference::matching_rules(&set.rules, &map, &value)
        .into_iter()
        .map(|i| set.rules[i].meta.title.clone())
        .collect();
    want.sort();
    assert_eq!(got, want, "engine and reference disagree on {event}");
    got
}

fn event(image: &str, user: &str) -> String {
    serde_json::json!({"Image": image, "User": user}).to_string()
}

/// "refers to one or multiple Sigma rules where to add the filter" (by id), with the
/// specification's own example filter, read from ../shared.
#[test]
fn the_specification_example_filter_applies_to_the_rule_it_names_by_id() {
    let Some(shared) = common::shared_or_skip("filters::spec example") else {
        return;
    };
    let dir = shared.join("sigma-specification/examples/filter");
    let filter = std::fs::read_to_string(dir.join("filter_1.yml")).expect("filter_1.yml");
    let set = load(&[RAR, WHOAMI, &filter]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    assert_eq!(set.filters.len(), 1);
    // Its condition is `selection` (User|startswith adm_): ANDed with the rule's, the rule
    // now fires only for adm_ accounts. `check` warns that the condition has no `not`.
    assert_eq!(
        fired(&set, &event("C:\\w\\rar.exe", "adm_jane")),
        ["Data Compressed - rar.exe"]
    );
    assert!(fired(&set, &event("C:\\w\\rar.exe", "jane")).is_empty());
    // A rule the filter does not name is untouched.
    assert_eq!(fired(&set, &event("C:\\w\\whoami.exe", "jane")), ["Whoami"]);
    let rar = &set.rules[0];
    assert_eq!(rar.filters.len(), 1);
    assert_eq!(rar.filters[0].title, "Filter Administrator account");
    assert!(set.rules[1].filters.is_empty());
    assert!(
        set.warnings.iter().any(|w| w.contains("has no 'not'")),
        "{:?}",
        set.warnings
    );
    // The example names a second rule we do not have: reported, nothing else breaks.
    assert!(
        set.warnings
            .iter()
            .any(|w| w.contains("no loaded rule has the id, name or title 'df0841c0")),
        "{:?}",
        set.warnings
    );
}

/// The ECS example (taxonomy ecs, `dns.question.name`), on a rule it names by id.
#[test]
fn the_specification_ecs_example_filter_applies_with_dotted_ecs_fields() {
    let Some(shared) = common::shared_or_skip("filters::ecs example") else {
        return;
    };
    let dir = shared.join("sigma-specification/examples/filter");
    let filter = std::fs::read_to_string(dir.join("filter_ecs.yml")).expect("filter_ecs.yml");
    let set = load(&[DNS_RULE, &filter]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    let dns = |name: &str| serde_json::json!({"dns": {"question": {"name": name}}}).to_string();
    assert_eq!(
        fired(&set, &dns("www.google.com")),
        ["DNS lookup of google"]
    );
    assert!(fired(&set, &dns("mail.google.com")).is_empty());
    assert!(fired(&set, &dns("www.example.com")).is_empty());
}

const NOT_ADMINS: &str = "title: Admins are expected
logsource:
    product: windows
filter:
    rules:
        - rar_compression
    selection:
        User|startswith: 'adm_'
    condition: not selection
";

/// A filter may name a rule by its `name`, and `not selection` excludes.
#[test]
fn a_filter_by_rule_name_excludes_what_its_selection_matches() {
    let set = load(&[RAR, NOT_ADMINS]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    assert!(fired(&set, &event("C:\\w\\rar.exe", "adm_jane")).is_empty());
    assert_eq!(
        fired(&set, &event("C:\\w\\rar.exe", "jane")),
        ["Data Compressed - rar.exe"]
    );
    assert!(fired(&set, &event("C:\\w\\zip.exe", "jane")).is_empty());
    assert!(set.warnings.is_empty(), "{:?}", set.warnings);
}

/// A filter whose selection is the rule's own removes every match of the rule.
#[test]
fn a_filter_can_remove_every_match_of_a_rule() {
    let all = "title: Never rar
logsource:
    category: process_creation
    product: windows
filter:
    rules: 6f3e2987-db24-4c78-a860-b4f4095a7095
    selection:
        Image|endswith: '.exe'
    condition: not selection
";
    let set = load(&[RAR, WHOAMI, all]);
    for user in ["jane", "adm_jane", ""] {
        assert!(fired(&set, &event("C:\\w\\rar.exe", user)).is_empty());
    }
    assert_eq!(fired(&set, &event("C:\\w\\whoami.exe", "jane")), ["Whoami"]);
}

/// A filter naming a rule that is not loaded is reported; every rule still loads and fires.
#[test]
fn a_filter_naming_a_missing_rule_is_reported_and_breaks_nothing() {
    let missing = "title: Tuning for a rule we do not have
logsource:
    product: windows
filter:
    rules: [00000000-0000-4000-8000-00000000dead]
    selection:
        User: svc
    condition: not selection
";
    let set = load(&[RAR, missing]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    assert_eq!(set.rules.len(), 1);
    assert!(set.rules[0].filters.is_empty());
    assert_eq!(
        fired(&set, &event("C:\\w\\rar.exe", "svc")),
        ["Data Compressed - rar.exe"]
    );
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(set.warnings[0].contains("00000000-0000-4000-8000-00000000dead"));
}

/// `rules: any` applies to every rule whose logsource is inside the filter's, and to no
/// other; a named rule outside the filter's logsource is reported and left alone.
#[test]
fn rules_any_follows_the_logsource_and_a_named_rule_outside_it_is_reported() {
    let any = "title: Service accounts
logsource:
    category: process_creation
    product: windows
filter:
    rules: any
    selection:
        User|startswith: 'svc_'
    condition: not selection
";
    let set = load(&[RAR, WHOAMI, DNS_RULE, any]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    assert_eq!(
        set.rules.iter().filter(|r| !r.filters.is_empty()).count(),
        2
    );
    assert!(fired(&set, &event("C:\\w\\rar.exe", "svc_backup")).is_empty());
    assert!(fired(&set, &event("C:\\w\\whoami.exe", "svc_backup")).is_empty());
    assert_eq!(fired(&set, &event("C:\\w\\whoami.exe", "jane")), ["Whoami"]);
    let svc_dns = serde_json::json!({"User": "svc_x", "dns": {"question": {"name": "google.com"}}});
    assert_eq!(fired(&set, &svc_dns.to_string()), ["DNS lookup of google"]);

    let named = "title: Wrong logsource
logsource:
    category: network
filter:
    rules: [rar_compression]
    selection:
        User: x
    condition: not selection
";
    let set = load(&[RAR, named]);
    assert!(set.rules[0].filters.is_empty());
    assert!(
        set.warnings
            .iter()
            .any(|w| w.contains("outside the filter's")),
        "{:?}",
        set.warnings
    );
}

/// Two filters on one rule both hold; the rule's own `1 of them` does not range over the
/// filters' identifiers.
#[test]
fn filters_chain_and_stay_out_of_the_rules_them() {
    let them = "title: Them
name: them_rule
logsource:
    product: windows
detection:
    a:
        Image|endswith: '\\a.exe'
    b:
        Image|endswith: '\\b.exe'
    condition: 1 of them
";
    let f1 = "title: F1
logsource:
    product: windows
filter:
    rules: them_rule
    selection:
        User: one
    condition: not selection
";
    let f2 = "title: F2
logsource:
    product: windows
filter:
    rules: them_rule
    sel_x:
        User: two
    sel_y:
        Host: h
    condition: not 1 of sel_*
";
    let set = load(&[them, f1, f2]);
    assert!(set.rejected.is_empty(), "{:?}", set.rejected);
    assert_eq!(set.rules[0].filters.len(), 2);
    let ev = |image: &str, user: &str, host: &str| {
        serde_json::json!({"Image": image, "User": user, "Host": host}).to_string()
    };
    assert_eq!(fired(&set, &ev("C:\\a.exe", "zed", "x")), ["Them"]);
    assert!(fired(&set, &ev("C:\\a.exe", "one", "x")).is_empty());
    assert!(fired(&set, &ev("C:\\b.exe", "two", "x")).is_empty());
    assert!(fired(&set, &ev("C:\\b.exe", "zed", "h")).is_empty());
    // A filter that keeps only what it matches (no `not`), on the same `1 of them` rule: an
    // event that matches the filter's selection and none of the rule's must not fire, as it
    // would if the rule's `them` took in the filter's (renamed `_filter*`) identifiers.
    let keep = "title: Keep
logsource:
    product: windows
filter:
    rules: them_rule
    selection:
        User: one
    condition: selection
";
    let set = load(&[them, keep]);
    assert!(fired(&set, &ev("C:\\c.exe", "one", "x")).is_empty());
    assert_eq!(fired(&set, &ev("C:\\a.exe", "one", "x")), ["Them"]);
    assert!(fired(&set, &ev("C:\\a.exe", "zed", "x")).is_empty());
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Filters load from their own paths (a team's tuning apart from the vendor's rules);
/// anything but a filter there is rejected with a reason, and a filter without `rules`
/// is rejected (the specification makes it mandatory).
#[test]
fn filter_paths_hold_filters_only_and_rules_is_mandatory() {
    let tmp = std::env::temp_dir().join(format!("sigma-filters-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let rules = tmp.join("rules");
    write(&rules, "rar.yml", RAR);
    let filters = tmp.join("tuning");
    write(&filters, "not_admins.yml", NOT_ADMINS);
    write(&filters, "stray_rule.yml", WHOAMI);
    write(
        &filters,
        "no_rules.yml",
        "title: No rules\nlogsource:\n    product: windows\nfilter:\n    selection:\n        User: x\n    condition: not selection\n",
    );
    let set = RuleSet::load_with_filters(
        std::slice::from_ref(&rules),
        std::slice::from_ref(&filters),
        &BuildOptions::default(),
    );
    assert_eq!(
        set.rules.len(),
        1,
        "the stray rule in the filters path is not loaded"
    );
    assert_eq!(set.filters.len(), 1);
    let reasons: Vec<String> = set.rejected.iter().map(|r| r.to_string()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("stray_rule.yml") && r.contains("only filter documents")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("no_rules.yml") && r.contains("'filter.rules'")),
        "{reasons:?}"
    );
    assert!(fired(&set, &event("C:\\w\\rar.exe", "adm_x")).is_empty());
    assert_eq!(
        fired(&set, &event("C:\\w\\rar.exe", "x")),
        ["Data Compressed - rar.exe"]
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// The command line: `run --filters` applies them, `check` lists each filter with the
/// rules it applies to, `explain` shows them on the rule's page.
#[test]
fn the_cli_applies_lists_and_explains_filters() {
    let tmp = std::env::temp_dir().join(format!("sigma-filters-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let rules = tmp.join("rules");
    write(&rules, "rar.yml", RAR);
    let f = write(&tmp.join("tuning"), "not_admins.yml", NOT_ADMINS);
    let bin = env!("CARGO_BIN_EXE_sigma-transform");
    let sysmon = |user: &str| {
        serde_json::json!({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Image": "C:\\w\\rar.exe", "User": user})
        .to_string()
    };
    let input = format!("{}\n{}\n", sysmon("adm_jane"), sysmon("jane"));
    let mut child = std::process::Command::new(bin)
        .args(["run", "-q", "-r"])
        .arg(&rules)
        .arg("--filters")
        .arg(&f)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(!lines[0].contains("\"sigma\""), "{}", lines[0]);
    assert!(
        lines[1].contains("6f3e2987-db24-4c78-a860-b4f4095a7095"),
        "{}",
        lines[1]
    );

    let check = std::process::Command::new(bin)
        .arg("check")
        .arg(&rules)
        .arg("--filters")
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
    assert!(
        text.contains("filter: Admins are expected")
            && text.contains("applied to 1 rule(s): 6f3e2987-db24-4c78-a860-b4f4095a7095"),
        "{text}"
    );
    assert!(text.contains("1 rules, 1 filters"), "{text}");

    let explain = std::process::Command::new(bin)
        .args(["explain", "rar_compression", "-r"])
        .arg(&rules)
        .arg("--filters")
        .arg(&f)
        .output()
        .unwrap();
    let page = String::from_utf8_lossy(&explain.stdout);
    assert!(explain.status.success(), "{page}");
    assert!(page.contains("Filters applied"), "{page}");
    assert!(page.contains("Admins are expected"), "{page}");
    assert!(page.contains("not selection"), "{page}");
    let _ = std::fs::remove_dir_all(&tmp);
}
