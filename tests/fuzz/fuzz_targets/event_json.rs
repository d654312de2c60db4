//! Event JSON to tagged output: every line comes out as one line (no line break added),
//! a tagged line is JSON again, and every byte outside the splice is kept. The same line
//! through the transform with `matched_fields` on gives the same outcome, one line, and
//! when tagged, JSON with a `fields` object in every match.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Outcome, Transform, TransformOptions};

/// The bundled rules, plus one that matches almost everything with a keyword.
fn transform() -> &'static Transform {
    static T: OnceLock<Transform> = OnceLock::new();
    T.get_or_init(|| build(false))
}

/// The same with `matched_fields` on.
fn with_fields() -> &'static Transform {
    static T: OnceLock<Transform> = OnceLock::new();
    T.get_or_init(|| build(true))
}

fn build(matched_fields: bool) -> Transform {
    {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/windows");
        let mut set = RuleSet::load(&[root.into()], &BuildOptions::default());
        let any = RuleSet::from_text(
            "any.yml",
            "title: any\nlogsource: {product: windows}\ndetection:\n  k: ['a']\n  condition: k\n",
            &BuildOptions::default(),
        );
        set.rules.extend(any.rules);
        Transform::new(
            set.rules,
            &LogsourceMap::builtin(),
            TransformOptions {
                matched_fields,
                ..TransformOptions::default()
            },
        )
    }
}

/// `matched_fields` changes what a match carries, never what matches.
fn check_fields(line: &[u8], outcome: Outcome, strict: bool) {
    let t = with_fields();
    let mut scratch = t.scratch();
    let mut out = Vec::new();
    assert_eq!(t.process_line(line, &mut scratch, &mut out), outcome);
    assert!(!out.contains(&b'\n'), "one line in, one line out");
    if let (Outcome::Matched(n), true) = (outcome, strict) {
        let json = out.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&out);
        let v: serde_json::Value = serde_json::from_slice(json).expect("a tagged line is JSON");
        let matches = v["sigma"]["matches"].as_array().expect("matches");
        assert_eq!(matches.len(), n);
        assert!(matches.iter().all(|m| m["fields"].is_object()), "{v}");
    }
}

fuzz_target!(|data: &[u8]| {
    let line: Vec<u8> = data.iter().copied().filter(|b| *b != b'\n').collect();
    let t = transform();
    let mut scratch = t.scratch();
    let mut out = Vec::new();
    let outcome = t.process_line(&line, &mut scratch, &mut out);
    assert!(!out.contains(&b'\n'), "one line in, one line out");
    let strict_in = serde_json::from_slice::<serde_json::Value>(
        line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&line),
    )
    .is_ok();
    check_fields(&line, outcome, strict_in);
    if !t.last_changed(&scratch) {
        assert_eq!(out, line, "an unchanged line is written as it came");
        return;
    }
    if let Outcome::Matched(_) = outcome {
        // The event's bytes up to its closing brace, then the tag, then the rest: when it
        // had no `sigma` member of its own, the splice only adds.
        let close = line.iter().rposition(|b| *b == b'}').expect("an object");
        let had_tag = line.windows(7).any(|w| w == b"\"sigma\"") || line.contains(&b'\\');
        if !had_tag {
            assert!(
                out.starts_with(&line[..close]),
                "bytes before the splice kept"
            );
            assert!(out.ends_with(&line[close..]), "bytes after the splice kept");
        }
        // Strict JSON in, strict JSON out. (A line read leniently keeps its bad token,
        // a number out of range say, byte for byte: still not strict JSON.)
        if strict_in {
            // A byte order mark the event came with is kept; JSON readers skip it.
            let json = out.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&out);
            let v: serde_json::Value = serde_json::from_slice(json).expect("a tagged line is JSON");
            assert!(v.get("sigma").is_some());
        }
    }
});
