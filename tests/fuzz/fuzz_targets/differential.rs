//! Compiled matcher against the reference evaluator (`tests/support/reference.rs`) on
//! rules and events generated from the fuzzer's bytes: every (rule, event) pair gets the
//! same verdict from both.
//!
//! The bytes drive a small grammar: up to four rules of one to three field tests (fields
//! `CommandLine`, `Image`, `User`; modifier chains of `contains`, `startswith`,
//! `endswith`, `all`, `windash`, `cased`, `re`), four condition forms, and up to three
//! flat process-creation events whose values come from the same alphabet.
#![no_main]

#[path = "../../support/reference.rs"]
#[allow(dead_code)]
mod reference;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use sigma_transform::event::json::JsonEvent;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::matcher::Matcher;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;

const TOKENS: &[&str] = &[
    "a", "A", "b", "cmd", "CMD", "ä", "Ä", "é", "k", "K", "\u{212A}", "-", "/", "\u{2013}", "\\",
    " ", ".exe", "1", "x", "Σ", "ς", "ß", "İ",
];
const FIELDS: &[&str] = &["CommandLine", "Image", "User"];
const MODIFIERS: &[&str] = &[
    "",
    "|contains",
    "|startswith",
    "|endswith",
    "|contains|all",
    "|windash",
    "|contains|windash",
    "|cased",
    "|contains|cased",
    "|re",
];
const CONDITIONS: &[&str] = &["sel", "sel and not flt", "1 of sel*", "sel or flt"];

/// The fuzzer's bytes, read as small choices; past the end every choice is 0.
struct Choices<'a>(&'a [u8]);

impl Choices<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b as usize % n
    }

    fn text(&mut self, wildcards: bool) -> String {
        let mut s = String::new();
        for _ in 0..1 + self.pick(4) {
            match self.pick(if wildcards { 12 } else { 10 }) {
                10 => s.push('*'),
                11 => s.push('?'),
                _ => s.push_str(TOKENS[self.pick(TOKENS.len())]),
            }
        }
        s
    }
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn selection(c: &mut Choices) -> String {
    let mut out = String::new();
    for _ in 0..1 + c.pick(3) {
        let field = FIELDS[c.pick(FIELDS.len())];
        let modifier = MODIFIERS[c.pick(MODIFIERS.len())];
        let re = modifier == "|re";
        let values: Vec<String> = (0..1 + c.pick(3))
            .map(|_| {
                let t = c.text(!re);
                // Regexes from the alphabet: escape what is not a literal there.
                if re { regex_literalish(&t) } else { t }
            })
            .collect();
        out.push_str(&format!("    {field}{modifier}:\n"));
        for v in values {
            out.push_str(&format!("      - {}\n", yaml_quote(&v)));
        }
    }
    out
}

fn regex_literalish(t: &str) -> String {
    t.chars()
        .map(|ch| match ch {
            '\\' | '.' | '*' | '?' | '/' => format!("\\{ch}"),
            c => c.to_string(),
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let mut c = Choices(data);
    let mut text = String::new();
    let rules = 1 + c.pick(4);
    for i in 0..rules {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(&format!(
            "title: r{i}\nlogsource: {{product: windows, category: process_creation}}\ndetection:\n  sel:\n{}  flt:\n{}  condition: {}\n",
            selection(&mut c),
            selection(&mut c),
            CONDITIONS[c.pick(CONDITIONS.len())]
        ));
    }
    let set = RuleSet::from_text("fuzz.yml", &text, &BuildOptions::default());
    if set.rules.is_empty() {
        return;
    }
    static MAP: std::sync::OnceLock<LogsourceMap> = std::sync::OnceLock::new();
    let map = MAP.get_or_init(LogsourceMap::builtin);
    let (matcher, _notes) = Matcher::compile(&set.rules, map);
    let mut scratch = matcher.scratch();
    for _ in 0..1 + c.pick(3) {
        let mut event = Map::new();
        event.insert("EventID".into(), json!(1));
        event.insert(
            "Channel".into(),
            json!("Microsoft-Windows-Sysmon/Operational"),
        );
        for f in FIELDS {
            if c.pick(4) > 0 {
                event.insert((*f).into(), Value::String(c.text(false)));
            }
        }
        let event = Value::Object(event);
        let bytes = serde_json::to_vec(&event).unwrap();
        let doc = JsonEvent::parse(&bytes).unwrap();
        let mut got = Vec::new();
        matcher.matches(&doc, &mut scratch, &mut got);
        let want = reference::matching_rules(&set.rules, map, &event);
        assert_eq!(got, want, "rules:\n{text}\nevent: {event}");
    }
});
