//! Fluent Bit's positional `StringInserts` and Winlogbeat's `paramN` against the evtx_dump
//! form of the same events (issue 22): the template table names every sample event's
//! data as the record does, the OSSEM rows it was built from agree with real records
//! (differences listed and explained), and every one of the 8,255 sample events fires
//! the same SigmaHQ rules in the inserts and Winlogbeat shapes as in evtx_dump form.

mod common;
mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use sigma_transform::event::inserts::{Fit, InsertNames};
use sigma_transform::event::json::JsonEvent;

/// The named data of an evtx_dump record, in document order, with its key.
fn named(v: &Value) -> Option<((String, u64, u64), Vec<String>)> {
    let r = support::shapes::record(v);
    let version = r.version.as_u64()?;
    if r.data.is_empty() || support::shapes::unnamed(&r).is_some() {
        return None;
    }
    Some((
        (r.provider.clone(), r.event_id, version),
        r.data.keys().cloned().collect(),
    ))
}

fn samples(shared: &std::path::Path) -> Vec<Value> {
    use std::io::Read;
    let gz = std::fs::File::open(shared.join("events/evtx-attack-samples.ndjson.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .unwrap();
    let events: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 8_255, "the sample events");
    // The checks below read names in document order: serde_json must keep it.
    let sysmon1 = events
        .iter()
        .find_map(|v| {
            named(v).filter(|((p, id, _), _)| p == "Microsoft-Windows-Sysmon" && *id == 1)
        })
        .expect("a Sysmon 1 event");
    assert_eq!(
        sysmon1.1[0], "RuleName",
        "JSON objects keep their key order"
    );
    events
}

#[test]
fn the_table_names_every_sample_event_as_its_record_does() {
    let Some(shared) =
        common::shared_or_skip("the_table_names_every_sample_event_as_its_record_does")
    else {
        return;
    };
    let table = InsertNames::builtin();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for v in samples(&shared) {
        let Some(((provider, id, version), names)) = named(&v) else {
            continue;
        };
        checked += 1;
        let got: Option<Vec<String>> = table
            .lookup(&provider, id, Some(version), names.len())
            .and_then(|n| {
                (0..names.len())
                    .map(|i| n.name(i).map(|s| s.into_owned()))
                    .collect()
            });
        if got.as_ref() != Some(&names) {
            wrong.push(format!(
                "{provider} {id} v{version}: record {names:?}, table {got:?}"
            ));
        }
    }
    eprintln!("string_inserts: {checked} named sample events checked against the table");
    assert!(checked > 7_000, "{checked}");
    assert!(
        wrong.is_empty(),
        "{} events misnamed:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Differences between `../shared/winevt/templates.tsv` and real records that are
/// understood; the generator keeps the records' layout (samples win over OSSEM).
const EXPLAINED: &[(&str, u64, &str)] = &[
    // Sysmon added fields without raising the event version: OriginalFileName in the
    // middle of events 1 and 7 (schema 4.21), User / ParentUser / SourceUser /
    // TargetUser at the end (4.80). The OSSEM rows are the newest schema; older Sysmon
    // writes a shorter or differently ordered layout at the same version.
    (
        "Microsoft-Windows-Sysmon",
        1,
        "older schema (before OriginalFileName or ParentUser)",
    ),
    (
        "Microsoft-Windows-Sysmon",
        7,
        "older schema (before OriginalFileName or User)",
    ),
    (
        "Microsoft-Windows-Sysmon",
        10,
        "Sysmon writes SourceProcessGUID and TargetProcessGUID; OSSEM spells them Guid",
    ),
    (
        "Microsoft-Windows-Sysmon",
        17,
        "OSSEM puts EventType before RuleName; records have RuleName first",
    ),
    (
        "Microsoft-Windows-Sysmon",
        18,
        "OSSEM puts EventType before RuleName; records have RuleName first",
    ),
    (
        "Microsoft-Windows-Sysmon",
        23,
        "OSSEM puts Image before User; records have User first",
    ),
    (
        "Microsoft-Windows-Sysmon",
        26,
        "OSSEM puts Image before User; records have User first",
    ),
];

#[test]
fn ossem_templates_agree_with_the_records_or_the_difference_is_explained() {
    let Some(shared) = common::shared_or_skip(
        "ossem_templates_agree_with_the_records_or_the_difference_is_explained",
    ) else {
        return;
    };
    let tsv = std::fs::read_to_string(shared.join("winevt/templates.tsv")).unwrap();
    let mut rows: BTreeMap<(String, u64, u64), Vec<String>> = BTreeMap::new();
    for line in tsv.lines().skip(1) {
        let c: Vec<&str> = line.split('\t').collect();
        if let (Ok(id), Ok(v)) = (c[1].parse(), c[2].parse()) {
            rows.insert(
                (c[0].to_lowercase(), id, v),
                c[3].split(',').map(String::from).collect(),
            );
        }
    }
    let (mut agree, mut explained) = (0, BTreeMap::<String, usize>::new());
    let mut unexplained = BTreeSet::new();
    for v in samples(&shared) {
        let Some(((provider, id, version), names)) = named(&v) else {
            continue;
        };
        let Some(row) = rows.get(&(provider.to_lowercase(), id, version)) else {
            continue;
        };
        if row.starts_with(&names) {
            agree += 1;
        } else if let Some((_, _, why)) = EXPLAINED
            .iter()
            .find(|(p, e, _)| *p == provider && *e == id)
        {
            *explained
                .entry(format!("{provider} {id} v{version}: {why}"))
                .or_default() += 1;
        } else {
            unexplained.insert(format!(
                "{provider} {id} v{version}:\n  record {names:?}\n  ossem  {row:?}"
            ));
        }
    }
    eprintln!("OSSEM templates: {agree} sample events have their names as a prefix of the row");
    for (why, n) in &explained {
        eprintln!("  {n:5} differ, explained: {why}");
    }
    assert!(agree > 4_000, "{agree}");
    assert!(
        unexplained.is_empty(),
        "unexplained differences:\n{}",
        unexplained.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn every_sample_event_fires_alike_as_string_inserts_and_in_winlogbeat_shape() {
    let Some(shared) = common::shared_or_skip(
        "every_sample_event_fires_alike_as_string_inserts_and_in_winlogbeat_shape",
    ) else {
        return;
    };
    let t = common::sigmahq_transform(&shared);
    let mut scratch = t.scratch();
    let mut pairs = 0;
    let mut no_template = BTreeMap::<String, usize>::new();
    let mut fits = BTreeMap::<String, usize>::new();
    let mut failures = Vec::new();
    for (i, v) in samples(&shared).iter().enumerate() {
        let base = support::rule_ids(&t, &mut scratch, v);
        pairs += base.len();
        for shape in ["fluentbit_inserts", "winlogbeat"] {
            let converted = support::shapes::convert(v, shape);
            let doc = JsonEvent::from_value(&converted).unwrap();
            if shape == "fluentbit_inserts" {
                if doc.lacks_template() {
                    let r = support::shapes::record(v);
                    *no_template
                        .entry(format!("{} {} v{}", r.provider, r.event_id, r.version))
                        .or_default() += 1;
                }
                if let Some(fit) = doc.inserts_fit() {
                    *fits.entry(format!("{fit:?}")).or_default() += 1;
                }
            }
            let got = support::rule_ids(&t, &mut scratch, &converted);
            if got != base {
                failures.push(format!(
                    "sample {} {shape}: lost {:?}, added {:?}",
                    i + 1,
                    base.difference(&got).collect::<Vec<_>>(),
                    got.difference(&base).collect::<Vec<_>>()
                ));
            }
        }
    }
    eprintln!(
        "string_inserts: {pairs} (event, rule) pairs in evtx_dump form; inserts named {fits:?}"
    );
    assert!(pairs > 1_000, "{pairs}");
    assert!(
        no_template.is_empty(),
        "sample events without a StringInserts template: {no_template:?}"
    );
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A Security 4688 version 2 record, as Windows writes it with 13 of the template's 15
/// insertion strings (no ParentProcessName, no MandatoryLabel).
fn process_creation_4688_v2() -> Value {
    serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
            "EventID": 4688, "Version": 2, "Channel": "Security", "Computer": "ws1",
            "EventRecordID": 7
        },
        "EventData": {
            "SubjectUserSid": "S-1-5-18", "SubjectUserName": "WS1$", "SubjectDomainName": "CORP",
            "SubjectLogonId": "0x3e7", "NewProcessId": "0x1a2c",
            "NewProcessName": "C:\\Windows\\System32\\vssadmin.exe",
            "TokenElevationType": "%%1936", "ProcessId": "0x1b00",
            "CommandLine": "vssadmin.exe delete shadows /all /quiet",
            "TargetUserSid": "S-1-0-0", "TargetUserName": "-", "TargetDomainName": "-",
            "TargetLogonId": "0x0"
        }
    }})
}

#[test]
fn security_4688_v2_with_13_inserts_fires_its_process_creation_rules() {
    let Some(shared) =
        common::shared_or_skip("security_4688_v2_with_13_inserts_fires_its_process_creation_rules")
    else {
        return;
    };
    let t = common::sigmahq_transform(&shared);
    let mut scratch = t.scratch();
    let record = process_creation_4688_v2();
    let base = support::rule_ids(&t, &mut scratch, &record);
    assert!(
        base.contains("c947b146-0abc-4c87-9c64-b17e9d7274a2"),
        "the evtx_dump form fires 'Shadow Copies Deletion Using Operating Systems Utilities': {base:?}"
    );
    let inserts = support::shapes::convert(&record, "fluentbit_inserts");
    assert_eq!(inserts["StringInserts"].as_array().unwrap().len(), 13);
    let doc = JsonEvent::from_value(&inserts).unwrap();
    assert_eq!(doc.inserts_fit(), Some(Fit::Prefix));
    assert_eq!(support::rule_ids(&t, &mut scratch, &inserts), base);
}

#[test]
fn msiinstaller_1040_in_winlogbeat_shape_fires_as_in_evtx_dump_form() {
    let Some(shared) =
        common::shared_or_skip("msiinstaller_1040_in_winlogbeat_shape_fires_as_in_evtx_dump_form")
    else {
        return;
    };
    let t = common::sigmahq_transform(&shared);
    let mut scratch = t.scratch();
    let record = serde_json::json!({"Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "MsiInstaller"}},
            "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 1040},
            "Channel": "Application", "Computer": "ws1", "EventRecordID": 9
        },
        "EventData": {
            "Data": {"#text": ["C:\\Users\\Public\\x.msi", "(NULL)", "(NULL)", "(NULL)", "(NULL)", "(NULL)", ""]},
            "Binary": ""
        }
    }});
    let base = support::rule_ids(&t, &mut scratch, &record);
    assert!(
        !base.is_empty(),
        "the evtx_dump form fires a rule on an MSI installed from Users\\Public: {base:?}"
    );
    let winlogbeat = support::shapes::convert(&record, "winlogbeat");
    assert_eq!(
        winlogbeat["winlog"]["event_data"]["param1"],
        "C:\\Users\\Public\\x.msi"
    );
    assert_eq!(support::rule_ids(&t, &mut scratch, &winlogbeat), base);
    let inserts = support::shapes::convert(&record, "fluentbit_inserts");
    assert_eq!(support::rule_ids(&t, &mut scratch, &inserts), base);
}
