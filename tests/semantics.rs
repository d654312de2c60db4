//! Conformance of sigma-transform to the Sigma specification v2.1
//! (`sigma-rules-specification.md`, `sigma-appendix-modifiers.md`).
//!
//! Every case builds a rule from YAML text, compiles it with the transform and matches one
//! JSON event. Each construct has at least one case that must match and one that must not;
//! the sentence of the specification a case follows is quoted above it. Cases marked
//! "Decision" test a choice the specification leaves open (see docs/semantics.md).
//!
//! Rules use `logsource: {product: test}`, mapped by [`MAP`] to every event, so the
//! detection alone decides. Events are flat JSON unless the case is about evtx_dump JSON.

use sigma_transform::event::json::JsonEvent;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::placeholders::Placeholders;
use sigma_transform::rule::{BuildOptions, Rejection};
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

/// A logsource mapping under which `product: test` means every event.
const MAP: &str = "logsources:\n  - product: test\n    events:\n      - when: {}\n";

/// The rule around a detection; the detection's first line is line 5 of the text.
const HEADER: &str = "title: conformance\nlogsource:\n    product: test\ndetection:\n";

/// The rule text for a detection (lines indented under `detection:`); `condition: sel` is
/// added when the detection has no condition.
fn rule_text(header: &str, detection: &str) -> String {
    let mut s = header.to_string();
    for line in detection.lines() {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    if !detection.lines().any(|l| l.starts_with("condition:")) {
        s.push_str("    condition: sel\n");
    }
    s
}

#[track_caller]
fn compile(header: &str, map: &LogsourceMap, detection: &str, opts: &BuildOptions) -> Transform {
    let text = rule_text(header, detection);
    let set = RuleSet::from_text("semantics.yml", &text, opts);
    assert!(
        set.rejected.is_empty(),
        "rule rejected: {}\n--- rule ---\n{text}",
        set.rejected
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert_eq!(set.rules.len(), 1, "one rule expected from\n{text}");
    let t = Transform::new(set.rules, map, TransformOptions::default());
    assert!(
        t.notes().is_empty(),
        "rule will not fire: {:?}\n--- rule ---\n{text}",
        t.notes()
    );
    t
}

#[track_caller]
fn run(
    header: &str,
    map: &LogsourceMap,
    detection: &str,
    event: &str,
    opts: &BuildOptions,
) -> bool {
    let t = compile(header, map, detection, opts);
    let ev = JsonEvent::parse(event.as_bytes())
        .unwrap_or_else(|e| panic!("bad test event {event}: {e}"));
    let mut scratch = t.scratch();
    !t.match_event(&ev, &mut scratch).is_empty()
}

fn test_map() -> LogsourceMap {
    LogsourceMap::from_yaml(MAP).expect("test mapping")
}

#[track_caller]
fn assert_matches_with(detection: &str, event: &str, opts: &BuildOptions) {
    assert!(
        run(HEADER, &test_map(), detection, event, opts),
        "expected a MATCH\n--- detection ---\n{detection}\n--- event ---\n{event}"
    );
}

#[track_caller]
fn assert_no_match_with(detection: &str, event: &str, opts: &BuildOptions) {
    assert!(
        !run(HEADER, &test_map(), detection, event, opts),
        "expected NO match\n--- detection ---\n{detection}\n--- event ---\n{event}"
    );
}

/// The detection must match the event.
#[track_caller]
fn assert_matches(detection: &str, event: &str) {
    assert_matches_with(detection, event, &BuildOptions::default());
}

/// The detection must not match the event.
#[track_caller]
fn assert_no_match(detection: &str, event: &str) {
    assert_no_match_with(detection, event, &BuildOptions::default());
}

/// Rules on evtx_dump JSON under the built-in mapping (`product: windows` = any channel).
const WINDOWS_HEADER: &str = "title: conformance\nlogsource:\n    product: windows\ndetection:\n";

#[track_caller]
fn assert_evtx_matches(detection: &str, event: &str) {
    assert!(
        run(
            WINDOWS_HEADER,
            &LogsourceMap::builtin(),
            detection,
            event,
            &BuildOptions::default()
        ),
        "expected a MATCH\n--- detection ---\n{detection}\n--- event ---\n{event}"
    );
}

#[track_caller]
fn assert_evtx_no_match(detection: &str, event: &str) {
    assert!(
        !run(
            WINDOWS_HEADER,
            &LogsourceMap::builtin(),
            detection,
            event,
            &BuildOptions::default()
        ),
        "expected NO match\n--- detection ---\n{detection}\n--- event ---\n{event}"
    );
}

/// The detection must be rejected; returns the rejection.
#[track_caller]
fn assert_rejected_with(detection: &str, opts: &BuildOptions) -> Rejection {
    let text = rule_text(HEADER, detection);
    let mut set = RuleSet::from_text("semantics.yml", &text, opts);
    assert!(
        set.rules.is_empty() && set.rejected.len() == 1,
        "expected the rule to be REJECTED\n--- rule ---\n{text}"
    );
    set.rejected.pop().unwrap()
}

#[track_caller]
fn assert_rejected(detection: &str) -> Rejection {
    assert_rejected_with(detection, &BuildOptions::default())
}

/// The rejection's reason contains every one of `words`.
#[track_caller]
fn assert_reason(rej: &Rejection, words: &[&str]) {
    let reason = rej.error.to_string();
    for w in words {
        assert!(reason.contains(w), "reason {reason:?} should mention {w:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Generic modifiers
// ---------------------------------------------------------------------------------------

/// "`contains`: Puts `*` wildcards around the values, such that the value is matched
/// anywhere in the field."
#[test]
fn modifier_contains() {
    assert_matches(
        "sel: {CommandLine|contains: 'whoami'}",
        r#"{"CommandLine": "cmd.exe /c whoami /all"}"#,
    );
    assert_matches(
        "sel: {CommandLine|contains: 'whoami'}",
        r#"{"CommandLine": "whoami"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|contains: 'whoami'}",
        r#"{"CommandLine": "who ami"}"#,
    );
    // Wildcards inside the value stay wildcards: `*evil*.exe*`.
    assert_matches(
        "sel: {CommandLine|contains: 'evil*.exe'}",
        r#"{"CommandLine": "run C:\\evil123.exe now"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|contains: 'evil*.exe'}",
        r#"{"CommandLine": "run C:\\evil123.dll now"}"#,
    );
}

/// "`startswith`: The value is expected at the beginning of the field's content.
/// (replaces e.g. 'adm\*')"
#[test]
fn modifier_startswith() {
    assert_matches(
        r"sel: {Image|startswith: 'C:\Windows\'}",
        r#"{"Image": "C:\\Windows\\System32\\cmd.exe"}"#,
    );
    assert_no_match(
        r"sel: {Image|startswith: 'C:\Windows\'}",
        r#"{"Image": "D:\\C:\\Windows\\cmd.exe"}"#,
    );
    assert_matches(
        "sel: {User|startswith: 'adm'}",
        r#"{"User": "administrator"}"#,
    );
    assert_no_match("sel: {User|startswith: 'adm'}", r#"{"User": "sysadm"}"#);
}

/// "`endswith`: The value is expected at the end of the field's content (replaces e.g.
/// '\*\\cmd.exe')"
#[test]
fn modifier_endswith() {
    assert_matches(
        r"sel: {Image|endswith: '\cmd.exe'}",
        r#"{"Image": "C:\\Windows\\System32\\cmd.exe"}"#,
    );
    assert_no_match(
        r"sel: {Image|endswith: '\cmd.exe'}",
        r#"{"Image": "C:\\Windows\\System32\\cmd.exe.bak"}"#,
    );
    assert_no_match(
        r"sel: {Image|endswith: '\cmd.exe'}",
        r#"{"Image": "C:\\Windows\\System32\\xcmd.exe"}"#,
    );
}

/// "`all`: Normally, lists of values are linked with *OR* in the generated query. This
/// modifier changes this to *AND*."
#[test]
fn modifier_all() {
    let all = "sel: {CommandLine|contains|all: ['-nop', '-enc']}";
    assert_matches(
        all,
        r#"{"CommandLine": "powershell -enc ZQB4AGkAdAA= -nop"}"#,
    );
    assert_no_match(all, r#"{"CommandLine": "powershell -enc ZQB4AGkAdAA="}"#);
    // Without `all` the same list is OR.
    let any = "sel: {CommandLine|contains: ['-nop', '-enc']}";
    assert_matches(any, r#"{"CommandLine": "powershell -enc ZQB4AGkAdAA="}"#);
    assert_no_match(any, r#"{"CommandLine": "powershell -File x.ps1"}"#);
}

/// "Single item values are not allowed to have an `all` modifier as some back-ends cannot
/// support it."
#[test]
fn modifier_all_on_single_value_is_rejected() {
    let rej = assert_rejected("sel: {CommandLine|contains|all: 'whoami'}");
    assert_reason(&rej, &["all"]);
}

/// "`exists`: Defines that a certain field has to exist or must not exist in a log event by
/// providing a boolean value. Note that this check only verifies the presence of a field,
/// not its value, be it empty or null."
#[test]
fn modifier_exists() {
    let yes = "sel: {PasswordLastSet|exists: true}";
    assert_matches(yes, r#"{"PasswordLastSet": "2024-01-01"}"#);
    assert_matches(yes, r#"{"PasswordLastSet": ""}"#);
    assert_matches(yes, r#"{"PasswordLastSet": null}"#);
    assert_no_match(yes, r#"{"Other": "x"}"#);
    let no = "sel: {PasswordLastSet|exists: false}";
    assert_matches(no, r#"{"Other": "x"}"#);
    assert_no_match(no, r#"{"PasswordLastSet": null}"#);
    assert_no_match(no, r#"{"PasswordLastSet": ""}"#);
    // The specification's example.
    let spec = "sel:\n    EventID: 4738\n    PasswordLastSet|exists: true";
    assert_matches(spec, r#"{"EventID": 4738, "PasswordLastSet": "-"}"#);
    assert_no_match(spec, r#"{"EventID": 4738}"#);
}

/// "`exists`: ... by providing a boolean value." A value that is not a boolean is an error.
#[test]
fn modifier_exists_rejects_non_boolean() {
    let rej = assert_rejected("sel: {PasswordLastSet|exists: maybe}");
    assert_reason(&rej, &["exists", "true or false"]);
    let rej = assert_rejected("sel: {PasswordLastSet|exists: 1}");
    assert_reason(&rej, &["exists"]);
}

/// "`cased`: Values are applied case sensitively. Default Sigma behavior is
/// case-insensitive matching."
#[test]
fn modifier_cased() {
    assert_matches(
        "sel: {CommandLine|cased: 'Whoami'}",
        r#"{"CommandLine": "Whoami"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|cased: 'Whoami'}",
        r#"{"CommandLine": "whoami"}"#,
    );
    assert_matches(
        "sel: {CommandLine|contains|cased: 'Invoke-'}",
        r#"{"CommandLine": "x Invoke-Mimikatz"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|contains|cased: 'Invoke-'}",
        r#"{"CommandLine": "x invoke-mimikatz"}"#,
    );
    // Without `cased`, the same value matches either case.
    assert_matches(
        "sel: {CommandLine: 'Whoami'}",
        r#"{"CommandLine": "WHOAMI"}"#,
    );
}

/// "`neq`: The field is different from the specified values." / numeric "`neq`: Field is
/// not equal than the value"
#[test]
fn modifier_neq() {
    assert_matches("sel: {User|neq: 'SYSTEM'}", r#"{"User": "bob"}"#);
    assert_no_match("sel: {User|neq: 'SYSTEM'}", r#"{"User": "SYSTEM"}"#);
    // Comparison is case-insensitive like any other string comparison.
    assert_no_match("sel: {User|neq: 'SYSTEM'}", r#"{"User": "system"}"#);
    // "different from the specified values": none of them.
    assert_matches(
        "sel: {User|neq: [SYSTEM, 'LOCAL SERVICE']}",
        r#"{"User": "bob"}"#,
    );
    assert_no_match(
        "sel: {User|neq: [SYSTEM, 'LOCAL SERVICE']}",
        r#"{"User": "local service"}"#,
    );
    // Numbers.
    assert_matches("sel: {LogonType|neq: 3}", r#"{"LogonType": 10}"#);
    assert_no_match("sel: {LogonType|neq: 3}", r#"{"LogonType": 3}"#);
    assert_no_match("sel: {LogonType|neq: 3}", r#"{"LogonType": "3"}"#);
}

/// Decision (the specification does not say): `neq` holds on an absent field, as pySigma's
/// `not field = value`.
#[test]
fn decision_neq_on_absent_field_holds() {
    assert_matches("sel: {User|neq: 'SYSTEM'}", r#"{"Other": "x"}"#);
    assert_no_match(
        "sel:\n    User|neq: 'SYSTEM'\n    User|exists: true",
        r#"{"Other": "x"}"#,
    );
}

// ---------------------------------------------------------------------------------------
// String modifiers
// ---------------------------------------------------------------------------------------

/// "`windash`: Creates all possible permutations of the `-`, `/`, `–` (en dash), `—` (em
/// dash), and `―` (horizontal bar) characters."
#[test]
fn modifier_windash_all_five_dashes() {
    let det = "sel: {CommandLine|windash|contains: ' -enc '}";
    for dash in ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"] {
        assert_matches(
            det,
            &format!(r#"{{"CommandLine": "powershell {dash}enc ZQB4AGkAdAA="}}"#),
        );
    }
    assert_no_match(det, r#"{"CommandLine": "powershell +enc ZQB4AGkAdAA="}"#);
    assert_no_match(det, r#"{"CommandLine": "powershell enc ZQB4AGkAdAA="}"#);
    // The value's own dash may be any of the five: '/' in the rule finds '-' in the event.
    assert_matches(
        "sel: {CommandLine|windash|contains: ' /enc '}",
        r#"{"CommandLine": "powershell -enc x"}"#,
    );
    // "all possible permutations": every dash of the value varies independently.
    let two = "sel: {CommandLine|windash|contains: ' -a -b'}";
    assert_matches(two, "{\"CommandLine\": \"tool /a \u{2014}b\"}");
    assert_no_match(two, r#"{"CommandLine": "tool /a +b"}"#);
}

/// "`re`: Value is handled as a regular expression by backends. Regex is matched
/// case-sensitive by default." (and "Regular expressions are case-sensitive by default.")
#[test]
fn modifier_re() {
    assert_matches(
        "sel: {CommandLine|re: 'who.mi'}",
        r#"{"CommandLine": "cmd /c whoami /all"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|re: 'who.mi'}",
        r#"{"CommandLine": "cmd /c WHOAMI /all"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|re: 'who.mi'}",
        r#"{"CommandLine": "cmd /c who"}"#,
    );
}

/// "The supported flavor is PCRE with the following metacharacters: Wildcards `.`;
/// Anchors `^`, `$`; Quantifiers `*`, `+`, `?`, `{n,m}`; Character Classes [a-z], [^a-z];
/// Alternation `|`; Grouping `()`."
#[test]
fn modifier_re_metacharacters() {
    let det = r"sel: {Image|re: '^C:\\Windows\\(System32|SysWOW64)\\[a-z]{2,8}\.exe$'}";
    assert_matches(det, r#"{"Image": "C:\\Windows\\SysWOW64\\cmd.exe"}"#);
    assert_no_match(det, r#"{"Image": "C:\\Windows\\Temp\\cmd.exe"}"#);
    assert_no_match(det, r#"{"Image": "C:\\Windows\\System32\\c.exe"}"#);
    let det = "sel: {CommandLine|re: 'ab+c?d*[^0-9]$'}";
    assert_matches(det, r#"{"CommandLine": "xabbx"}"#);
    assert_no_match(det, r#"{"CommandLine": "xacx"}"#);
    assert_no_match(det, r#"{"CommandLine": "xabc9"}"#);
}

/// "The supported flavor is PCRE": without UCP, PCRE's `\d \w \s` and `\b` are ASCII.
#[test]
fn modifier_re_perl_classes_are_ascii_as_in_pcre() {
    let det = r"sel: {CommandLine|re: '^\w+ \d$'}";
    assert_matches(det, r#"{"CommandLine": "run_1 7"}"#);
    assert_no_match(det, r#"{"CommandLine": "exécute 7"}"#);
    assert_no_match(det, r#"{"CommandLine": "run ٣"}"#);
    // é is not a word character, so there is a word boundary between it and `f`.
    let det = r"sel: {CommandLine|re: '\bfoo\b'}";
    assert_matches(det, r#"{"CommandLine": "éfooé"}"#);
    assert_no_match(det, r#"{"CommandLine": "xfoo"}"#);
    let det = r"sel: {CommandLine|re: 'a\sb'}";
    assert_matches(det, r#"{"CommandLine": "a\u000bb"}"#);
    assert_no_match(det, r#"{"CommandLine": "a\u00a0b"}"#);
    // Case folding does not bring the Kelvin sign into `\w`.
    let det = r"sel: {CommandLine|re|i: '^[\w]\w$'}";
    assert_matches(det, r#"{"CommandLine": "kK"}"#);
    assert_no_match(det, r#"{"CommandLine": "k\u212a"}"#);
}

/// "`i`: (insensitive) to enable case-insensitive matching."
#[test]
fn modifier_re_i() {
    assert_matches(
        "sel: {CommandLine|re|i: 'who.mi'}",
        r#"{"CommandLine": "cmd /c WHOAMI"}"#,
    );
    assert_no_match(
        "sel: {CommandLine|re|i: 'who.mi'}",
        r#"{"CommandLine": "cmd /c WHO"}"#,
    );
}

/// "`m`: (multi line) to match across multiple lines. `^` /`$` match the start/end of
/// line."
#[test]
fn modifier_re_m() {
    let ev = r#"{"ScriptBlockText": "first\nsecond\nthird"}"#;
    assert_matches("sel: {ScriptBlockText|re|m: '^second$'}", ev);
    assert_no_match("sel: {ScriptBlockText|re: '^second$'}", ev);
}

/// "`s`: (single line) to enable that dot (`.`) matches all characters, including the
/// newline character."
#[test]
fn modifier_re_s() {
    let ev = r#"{"ScriptBlockText": "first\nsecond"}"#;
    assert_matches("sel: {ScriptBlockText|re|s: 'first.second'}", ev);
    assert_no_match("sel: {ScriptBlockText|re: 'first.second'}", ev);
}

/// "Other metacharacters are **unsupported** and can not be used." Look-around and
/// backreferences have no linear-time matching; they are rejected with that reason.
#[test]
fn modifier_re_rejects_lookaround_and_backreferences() {
    for re in [
        "foo(?=bar)",
        "foo(?!bar)",
        "(?<=foo)bar",
        "(?<!foo)bar",
        r"(a)\1",
    ] {
        let rej = assert_rejected(&format!("sel:\n    CommandLine|re: '{re}'"));
        assert_reason(&rej, &["CommandLine|re", "linear time"]);
        assert_eq!(rej.line, Some(6), "{re}: the line of the key");
    }
}

/// "`base64`: The value is encoded with Base64."
#[test]
fn modifier_base64() {
    // base64("cmd /c whoami") = Y21kIC9jIHdob2FtaQ==
    assert_matches(
        "sel: {Payload|base64: 'cmd /c whoami'}",
        r#"{"Payload": "Y21kIC9jIHdob2FtaQ=="}"#,
    );
    assert_no_match(
        "sel: {Payload|base64: 'cmd /c whoami'}",
        r#"{"Payload": "cmd /c whoami"}"#,
    );
    assert_matches(
        "sel: {Payload|base64|contains: 'cmd /c whoami'}",
        r#"{"Payload": "x Y21kIC9jIHdob2FtaQ== y"}"#,
    );
}

/// Decision: encoded values are matched case-sensitively (another letter case is other
/// bytes once decoded).
#[test]
fn decision_encoded_values_are_case_sensitive() {
    assert_no_match(
        "sel: {Payload|base64: 'cmd /c whoami'}",
        r#"{"Payload": "y21kic9jihdob2ftaq=="}"#,
    );
    assert_no_match(
        "sel: {Payload|base64offset|contains: 'http://'}",
        r#"{"Payload": "AHR0CDOVL2EUYI94"}"#,
    );
}

/// "`base64offset`: If a value might appear somewhere in a base64-encoded string the
/// representation might change depending on the position of the value in the overall
/// string. There are three variants for shifts by zero to two bytes"
#[test]
fn modifier_base64offset() {
    let det = "sel: {Payload|base64offset|contains: 'http://'}";
    // base64("http://a.b/x"), base64("Xhttp://a.b/x"), base64("XXhttp://a.b/x")
    assert_matches(det, r#"{"Payload": "aHR0cDovL2EuYi94"}"#);
    assert_matches(det, r#"{"Payload": "WGh0dHA6Ly9hLmIveA=="}"#);
    assert_matches(det, r#"{"Payload": "WFhodHRwOi8vYS5iL3g="}"#);
    // base64("https://a.b/x")
    assert_no_match(det, r#"{"Payload": "aHR0cHM6Ly9hLmIveA=="}"#);
    // The plain value is not its encoding.
    assert_no_match(det, r#"{"Payload": "http://a.b/x"}"#);
}

/// "`utf16le`: Transforms value to UTF16-LE encoding, e.g. `cmd` > `63 00 6d 00 64 00`"
/// and "`wide`: an alias for the `utf16le` modifier."
#[test]
fn modifier_utf16le_and_wide() {
    // Raw: the field holds the UTF-16LE bytes (valid UTF-8 here: NULs after ASCII).
    assert_matches(
        "sel: {Data|utf16le: 'cmd'}",
        r#"{"Data": "c\u0000m\u0000d\u0000"}"#,
    );
    assert_no_match("sel: {Data|utf16le: 'cmd'}", r#"{"Data": "cmd"}"#);
    assert_matches(
        "sel: {Data|wide: 'cmd'}",
        r#"{"Data": "c\u0000m\u0000d\u0000"}"#,
    );
    assert_no_match(
        "sel: {Data|wide: 'cmd'}",
        r#"{"Data": "\u0000c\u0000m\u0000d"}"#,
    );
    // base64(utf16le("cmd")) = YwBtAGQA
    assert_matches(
        "sel: {Data|utf16le|base64: 'cmd'}",
        r#"{"Data": "YwBtAGQA"}"#,
    );
    assert_no_match("sel: {Data|utf16le|base64: 'cmd'}", r#"{"Data": "Y21k"}"#);
    // As rules use them: PowerShell -EncodedCommand payloads. base64(utf16le(...)) of
    // "powershell ping 1.2.3.4" with 0, 1 and 2 extra spaces (byte shifts 1, 0, 2).
    for det in [
        "sel: {CommandLine|wide|base64offset|contains: 'ping'}",
        "sel: {CommandLine|utf16le|base64offset|contains: 'ping'}",
    ] {
        assert_matches(
            det,
            r#"{"CommandLine": "powershell -enc cABvAHcAZQByAHMAaABlAGwAbAAgAHAAaQBuAGcAIAAxAC4AMgAuADMALgA0AA=="}"#,
        );
        assert_matches(
            det,
            r#"{"CommandLine": "powershell -enc cABvAHcAZQByAHMAaABlAGwAbAAgACAAcABpAG4AZwAgADEALgAyAC4AMwAuADQA"}"#,
        );
        assert_matches(
            det,
            r#"{"CommandLine": "powershell -enc cABvAHcAZQByAHMAaABlAGwAbAAgACAAIABwAGkAbgBnACAAMQAuADIALgAzAC4ANAA="}"#,
        );
        // base64 of the UTF-8 text: not UTF-16.
        assert_no_match(
            det,
            r#"{"CommandLine": "powershell -enc cG93ZXJzaGVsbCBwaW5nIDEuMi4zLjQ="}"#,
        );
    }
}

/// "`utf16be`: Transforms value to UTF16-BE encoding, e.g. `cmd` > `00 63 00 6d 00 64`"
#[test]
fn modifier_utf16be() {
    assert_matches(
        "sel: {Data|utf16be: 'cmd'}",
        r#"{"Data": "\u0000c\u0000m\u0000d"}"#,
    );
    assert_no_match(
        "sel: {Data|utf16be: 'cmd'}",
        r#"{"Data": "c\u0000m\u0000d\u0000"}"#,
    );
    // base64(utf16be("cmd")) = AGMAbQBk
    assert_matches(
        "sel: {Data|utf16be|base64: 'cmd'}",
        r#"{"Data": "AGMAbQBk"}"#,
    );
    assert_no_match(
        "sel: {Data|utf16be|base64: 'cmd'}",
        r#"{"Data": "YwBtAGQA"}"#,
    );
    // base64(utf16be("x ping y")), base64(utf16be("xx ping y"))
    let det = "sel: {Data|utf16be|base64offset|contains: 'ping'}";
    assert_matches(det, r#"{"Data": "AHgAIABwAGkAbgBnACAAeQ=="}"#);
    assert_matches(det, r#"{"Data": "AHgAeAAgAHAAaQBuAGcAIAB5"}"#);
    // base64("x ping y") in UTF-8 and base64(utf16be("x pong y")). (A UTF-16LE stream is
    // no negative case: "\0 p\0i\0n\0g" shifted by one byte holds the big-endian "ping".)
    assert_no_match(det, r#"{"Data": "eCBwaW5nIHk="}"#);
    assert_no_match(det, r#"{"Data": "AHgAIABwAG8AbgBnACAAeQ=="}"#);
}

/// "`utf16`: Prepends a byte order mark and encodes UTF16, e.g. `cmd` > `FF FE 63 00 6d
/// 00 64 00`"
#[test]
fn modifier_utf16() {
    // base64(FF FE + utf16le("cmd")) = //5jAG0AZAA=
    assert_matches(
        "sel: {Data|utf16|base64: 'cmd'}",
        r#"{"Data": "//5jAG0AZAA="}"#,
    );
    assert_no_match("sel: {Data|utf16|base64: 'cmd'}", r#"{"Data": "YwBtAGQA"}"#);
    // base64(FF FE + utf16le("cmd /c calc")) and the same without the byte order mark.
    let det = "sel: {Data|utf16|base64offset|contains: 'cmd'}";
    assert_matches(det, r#"{"Data": "//5jAG0AZAAgAC8AYwAgAGMAYQBsAGMA"}"#);
    assert_no_match(det, r#"{"Data": "YwBtAGQAIAAvAGMAIABjAGEAbABjAA=="}"#);
}

// ---------------------------------------------------------------------------------------
// Numeric modifiers
// ---------------------------------------------------------------------------------------

/// "`lt`: Field is less than the value"
#[test]
fn modifier_lt() {
    assert_matches("sel: {Count|lt: 10}", r#"{"Count": 9}"#);
    assert_matches("sel: {Count|lt: 10}", r#"{"Count": "9"}"#);
    assert_no_match("sel: {Count|lt: 10}", r#"{"Count": 10}"#);
    assert_no_match("sel: {Count|lt: 10}", r#"{"Count": "abc"}"#);
}

/// "`lte`: Field is less or equal than the value"
#[test]
fn modifier_lte() {
    assert_matches("sel: {Count|lte: 10}", r#"{"Count": 10}"#);
    assert_matches("sel: {Count|lte: 10}", r#"{"Count": -3}"#);
    assert_no_match("sel: {Count|lte: 10}", r#"{"Count": 11}"#);
}

/// "`gt`: Field is greater than the value"
#[test]
fn modifier_gt() {
    assert_matches("sel: {Count|gt: 10}", r#"{"Count": 11}"#);
    assert_matches("sel: {Count|gt: 1.5}", r#"{"Count": 2}"#);
    assert_no_match("sel: {Count|gt: 10}", r#"{"Count": 10}"#);
}

/// "`gte`: Field is greater or equal than the value"
#[test]
fn modifier_gte() {
    assert_matches("sel: {Count|gte: 10}", r#"{"Count": 10}"#);
    assert_matches("sel: {Count|gte: 10}", r#"{"Count": "10"}"#);
    assert_no_match("sel: {Count|gte: 10}", r#"{"Count": 9}"#);
}

/// "The modifiers listed in this section can only be applied to numeric values."
#[test]
fn modifier_numeric_rejects_non_numbers() {
    let rej = assert_rejected("sel: {Count|gt: many}");
    assert_reason(&rej, &["Count|gt", "not a number"]);
}

// ---------------------------------------------------------------------------------------
// Time modifiers
// ---------------------------------------------------------------------------------------

const SYSMON_TIME: &str = r#"{"UtcTime": "2019-03-19 23:52:41.631"}"#;
const ISO_TIME: &str = r#"{"UtcTime": "2019-03-19T23:52:41.6316830Z"}"#;

/// "`minute`: number between 0 and 59."
#[test]
fn modifier_minute() {
    assert_matches("sel: {UtcTime|minute: 52}", SYSMON_TIME);
    assert_no_match("sel: {UtcTime|minute: 53}", SYSMON_TIME);
}

/// "`hour`: number between 0 and 23."
#[test]
fn modifier_hour() {
    assert_matches("sel: {UtcTime|hour: 23}", ISO_TIME);
    assert_no_match("sel: {UtcTime|hour: 22}", ISO_TIME);
    // Combined with a comparison: out of office hours.
    assert_matches("sel: {UtcTime|hour|gte: 20}", ISO_TIME);
    assert_no_match("sel: {UtcTime|hour|lt: 20}", ISO_TIME);
}

/// "`day`: number between 1 and 31."
#[test]
fn modifier_day() {
    assert_matches("sel: {UtcTime|day: 19}", SYSMON_TIME);
    assert_no_match("sel: {UtcTime|day: 20}", SYSMON_TIME);
}

/// "`week`: number between 1 and 52."
#[test]
fn modifier_week() {
    // 2019-03-19 is in ISO week 12; 2024-06-15 in week 24.
    assert_matches("sel: {UtcTime|week: 12}", SYSMON_TIME);
    assert_matches(
        "sel: {UtcTime|week: 24}",
        r#"{"UtcTime": "2024-06-15T10:00:00Z"}"#,
    );
    assert_no_match("sel: {UtcTime|week: 11}", SYSMON_TIME);
}

/// Decision: `week` is the ISO 8601 week, which runs to 53 in some years (the appendix says
/// "between 1 and 52"); the first days of January may be in week 52/53 of the year before.
#[test]
fn decision_week_is_iso_8601() {
    assert_matches(
        "sel: {UtcTime|week: 53}",
        r#"{"UtcTime": "2020-12-31T12:00:00Z"}"#,
    );
    assert_matches(
        "sel: {UtcTime|week: 53}",
        r#"{"UtcTime": "2021-01-03T12:00:00Z"}"#,
    );
    assert_no_match(
        "sel: {UtcTime|week: 1}",
        r#"{"UtcTime": "2021-01-03T12:00:00Z"}"#,
    );
}

/// "`month`: number between 1 and 12."
#[test]
fn modifier_month() {
    assert_matches("sel: {UtcTime|month: 3}", SYSMON_TIME);
    assert_no_match("sel: {UtcTime|month: 4}", SYSMON_TIME);
}

/// "`year`: number of the year"
#[test]
fn modifier_year() {
    assert_matches("sel: {UtcTime|year: 2019}", ISO_TIME);
    assert_matches("sel: {UtcTime|year|lt: 2020}", ISO_TIME);
    assert_no_match("sel: {UtcTime|year: 2020}", ISO_TIME);
    assert_no_match("sel: {UtcTime|year: 2019}", r#"{"UtcTime": "not a date"}"#);
}

/// "**Warning**: It is not designed to handle timezone or format conversions." The parts
/// are read as written: 23:52 at +02:00 is hour 23, not 21 UTC.
#[test]
fn modifier_time_without_timezone_conversion() {
    let ev = r#"{"UtcTime": "2019-03-19T23:52:41+02:00"}"#;
    assert_matches("sel: {UtcTime|hour: 23}", ev);
    assert_no_match("sel: {UtcTime|hour: 21}", ev);
}

// ---------------------------------------------------------------------------------------
// IP modifiers
// ---------------------------------------------------------------------------------------

/// "`cidr`: The value is handled as a CIDR network range specification by backends.
/// Supports both IPv4 and IPv6 notations. Example: `DestinationIp|cidr: 10.0.0.0/8`"
#[test]
fn modifier_cidr_v4() {
    assert_matches(
        "sel: {DestinationIp|cidr: 10.0.0.0/8}",
        r#"{"DestinationIp": "10.20.30.40"}"#,
    );
    assert_no_match(
        "sel: {DestinationIp|cidr: 10.0.0.0/8}",
        r#"{"DestinationIp": "11.0.0.1"}"#,
    );
    let list = "sel: {DestinationIp|cidr: ['10.0.0.0/8', '192.168.0.0/16']}";
    assert_matches(list, r#"{"DestinationIp": "192.168.1.1"}"#);
    assert_no_match(list, r#"{"DestinationIp": "172.16.0.1"}"#);
    assert_no_match(list, r#"{"DestinationIp": "not an ip"}"#);
}

#[test]
fn modifier_cidr_v6() {
    let det = "sel: {DestinationIp|cidr: '2001:db8::/32'}";
    assert_matches(det, r#"{"DestinationIp": "2001:db8:1::5"}"#);
    assert_no_match(det, r#"{"DestinationIp": "2001:db9::1"}"#);
    assert_matches(
        "sel: {DestinationIp|cidr: 'fe80::/10'}",
        r#"{"DestinationIp": "fe80::1"}"#,
    );
    // A v4 range never holds a v6 address and the reverse.
    assert_no_match(
        "sel: {DestinationIp|cidr: 10.0.0.0/8}",
        r#"{"DestinationIp": "2001:db8::1"}"#,
    );
}

/// "The modifiers listed in this section can only be applied to IP values."
#[test]
fn modifier_cidr_rejects_non_ranges() {
    let rej = assert_rejected("sel: {DestinationIp|cidr: 10.0.0.0/33}");
    assert_reason(&rej, &["DestinationIp|cidr", "prefix length"]);
    let rej = assert_rejected("sel: {DestinationIp|cidr: intranet}");
    assert_reason(&rej, &["not an IP address"]);
}

// ---------------------------------------------------------------------------------------
// Specific modifiers
// ---------------------------------------------------------------------------------------

fn placeholders() -> BuildOptions {
    BuildOptions::new(
        Placeholders::from_yaml("Workstations: [ws1, 'ws2*']\nAdministrators: admin\n").unwrap(),
        Default::default(),
    )
}

/// "`expand`: Modifier for expansion of placeholders in values." / "Expand to value list"
/// / "`field|expand: %name%` handles `%name%` as placeholder."
#[test]
fn modifier_expand() {
    let opts = placeholders();
    let det = "sel: {ComputerName|expand: '%Workstations%'}";
    assert_matches_with(det, r#"{"ComputerName": "WS1"}"#, &opts);
    assert_matches_with(det, r#"{"ComputerName": "ws2-lab"}"#, &opts);
    assert_no_match_with(det, r#"{"ComputerName": "srv1"}"#, &opts);
    assert_no_match_with(det, r#"{"ComputerName": "%Workstations%"}"#, &opts);
}

/// "`field: %name%` handles `%name%` as literal value." and "`field|expand:
/// \%plain%name%` handles `%plain` as plain value and `%name%` as placeholder."
#[test]
fn modifier_expand_only_with_expand_and_escaped_percent() {
    let opts = placeholders();
    assert_matches_with(
        "sel: {ComputerName: '%Workstations%'}",
        r#"{"ComputerName": "%Workstations%"}"#,
        &opts,
    );
    assert_no_match_with(
        "sel: {ComputerName: '%Workstations%'}",
        r#"{"ComputerName": "ws1"}"#,
        &opts,
    );
    let det = r"sel: {User|expand: '\%plain%Administrators%'}";
    assert_matches_with(det, r#"{"User": "%plainadmin"}"#, &opts);
    assert_no_match_with(det, r#"{"User": "\\%plainadmin"}"#, &opts);
}

/// "Placeholders must be handled appropriately by a tool that uses Sigma rules. If the tool
/// isn't able to handle placeholders, it must reject the rule."
#[test]
fn modifier_expand_rejects_placeholder_without_values() {
    let rej = assert_rejected_with(
        "sel:\n    ComputerName|expand: '%Servers%'",
        &placeholders(),
    );
    assert_reason(&rej, &["%Servers%", "no values"]);
    assert_eq!(rej.line, Some(6));
    let rej = assert_rejected("sel:\n    ComputerName|expand: '%Workstations%'");
    assert_reason(&rej, &["%Workstations%"]);
}

/// "`fieldref`: Modifies a plain string into a field reference. A field reference can be
/// used to compare fields of matched events directly at query/matching time."
#[test]
fn modifier_fieldref() {
    let det = "sel: {TargetUserName|fieldref: SubjectUserName}";
    assert_matches(
        det,
        r#"{"TargetUserName": "bob", "SubjectUserName": "bob"}"#,
    );
    // Case-insensitive like every comparison without `cased`.
    assert_matches(
        det,
        r#"{"TargetUserName": "bob", "SubjectUserName": "BOB"}"#,
    );
    assert_no_match(
        det,
        r#"{"TargetUserName": "bob", "SubjectUserName": "alice"}"#,
    );
    assert_no_match(det, r#"{"TargetUserName": "bob"}"#);
}

/// "Can be conbine with the `neq` modifier."
#[test]
fn modifier_fieldref_neq() {
    let det = "sel: {TargetUserName|fieldref|neq: SubjectUserName}";
    assert_matches(
        det,
        r#"{"TargetUserName": "bob", "SubjectUserName": "alice"}"#,
    );
    assert_no_match(
        det,
        r#"{"TargetUserName": "bob", "SubjectUserName": "bob"}"#,
    );
}

/// Unknown modifiers are not Sigma: "[List of modifiers](sigma-appendix-modifiers.md)".
#[test]
fn modifier_unknown_is_rejected_with_line() {
    let rej = assert_rejected(
        "sel:\n    Image|endswith: '\\cmd.exe'\n    CommandLine|containz: 'whoami'",
    );
    assert_reason(
        &rej,
        &["unknown modifier", "containz", "CommandLine|containz"],
    );
    assert_eq!(
        rej.line,
        Some(7),
        "the line of the key with the unknown modifier"
    );
    assert!(rej.to_string().starts_with("semantics.yml:7: "), "{rej}");
}

// ---------------------------------------------------------------------------------------
// Strings: case, wildcards, escaping
// ---------------------------------------------------------------------------------------

/// "All values are treated as case-insensitive strings."
#[test]
fn strings_are_case_insensitive() {
    assert_matches(
        r"sel: {Image: 'C:\WINDOWS\system32\CMD.exe'}",
        r#"{"Image": "c:\\windows\\System32\\cmd.EXE"}"#,
    );
    assert_no_match(
        r"sel: {Image: 'C:\WINDOWS\system32\CMD.exe'}",
        r#"{"Image": "c:\\windows\\System32\\cmd.com"}"#,
    );
}

/// Decision: non-ASCII letters fold by their Unicode lowercase mapping, one character at a
/// time; ASCII letters match only ASCII letters.
#[test]
fn decision_non_ascii_case_folding() {
    assert_matches("sel: {Message: 'ÄRGER'}", r#"{"Message": "ärger"}"#);
    assert_matches(
        "sel: {Message|contains: 'ПРИВЕТ'}",
        r#"{"Message": "x привет y"}"#,
    );
    assert_no_match("sel: {Message: 'ÄRGER'}", r#"{"Message": "arger"}"#);
    // Kelvin sign K (U+212A) lowercases to ASCII k but does not match it.
    assert_no_match("sel: {Message: 'k'}", "{\"Message\": \"\u{212A}\"}");
    // No full case folding: ß is not "ss".
    assert_no_match("sel: {Message: 'straße'}", r#"{"Message": "STRASSE"}"#);
}

/// "`?` to replace a single mandatory character." — "`progA.exe or progB.exe or ...` will
/// be `prog?.exe`"
#[test]
fn wildcard_question_mark() {
    assert_matches("sel: {Image: 'prog?.exe'}", r#"{"Image": "progA.exe"}"#);
    assert_matches("sel: {Image: 'prog?.exe'}", r#"{"Image": "progé.exe"}"#);
    assert_no_match("sel: {Image: 'prog?.exe'}", r#"{"Image": "prog.exe"}"#);
    assert_no_match("sel: {Image: 'prog?.exe'}", r#"{"Image": "progAB.exe"}"#);
}

/// "`*` to replace an unbounded length wildcard." — "`antivirus_V1.exe or
/// antivirus_V21.2.1.exe or ...` will be `antivirus_V*.exe`"
#[test]
fn wildcard_star() {
    assert_matches(
        "sel: {Image: 'antivirus_V*.exe'}",
        r#"{"Image": "antivirus_V1.exe"}"#,
    );
    assert_matches(
        "sel: {Image: 'antivirus_V*.exe'}",
        r#"{"Image": "antivirus_V21.2.1.exe"}"#,
    );
    assert_matches(
        "sel: {Image: 'antivirus_V*.exe'}",
        r#"{"Image": "antivirus_V.exe"}"#,
    );
    assert_no_match(
        "sel: {Image: 'antivirus_V*.exe'}",
        r#"{"Image": "antivirus_V1.dll"}"#,
    );
    assert_no_match(
        "sel: {Image: 'antivirus_V*.exe'}",
        r#"{"Image": "x antivirus_V1.exe"}"#,
    );
}

/// "Plain backslash not followed by a wildcard can be expressed as single `\` or double
/// backslash `\\`."
#[test]
fn escape_plain_backslash_single_or_double() {
    let ev = r#"{"Image": "C:\\Windows\\cmd.exe"}"#;
    assert_matches(r"sel: {Image: 'C:\Windows\cmd.exe'}", ev);
    assert_matches(r"sel: {Image: 'C:\\Windows\\cmd.exe'}", ev);
    // `\\` is one backslash, so it does not match two.
    assert_no_match(
        r"sel: {Image: 'C:\\Windows\\cmd.exe'}",
        r#"{"Image": "C:\\\\Windows\\\\cmd.exe"}"#,
    );
}

/// "A wildcard has to be escaped to be handled as a plain character. eg: `\*`, `\?`."
#[test]
fn escape_wildcard_is_plain_character() {
    assert_matches(r"sel: {Name: 'a\*b'}", r#"{"Name": "a*b"}"#);
    assert_no_match(r"sel: {Name: 'a\*b'}", r#"{"Name": "axxb"}"#);
    assert_matches(r"sel: {Name: 'a\?b'}", r#"{"Name": "a?b"}"#);
    assert_no_match(r"sel: {Name: 'a\?b'}", r#"{"Name": "axb"}"#);
}

/// "The backslash before a wildcard has to be escaped to handle the value as a backslash
/// followed by a wildcard: `\\*`."
#[test]
fn escape_backslash_before_wildcard() {
    assert_matches(
        r"sel: {Image: 'C:\Temp\\*'}",
        r#"{"Image": "C:\\Temp\\evil.exe"}"#,
    );
    assert_no_match(
        r"sel: {Image: 'C:\Temp\\*'}",
        r#"{"Image": "C:\\Tempevil.exe"}"#,
    );
    // Versus `\*` alone, a plain star.
    assert_no_match(
        r"sel: {Image: 'C:\Temp\*'}",
        r#"{"Image": "C:\\Temp\\evil.exe"}"#,
    );
    assert_matches(r"sel: {Image: 'C:\Temp\*'}", r#"{"Image": "C:\\Temp*"}"#);
}

/// "Three backslashes are necessary to escape both, the backslash and the wildcard and
/// handle them as plain values: `\\\*`."
#[test]
fn escape_three_backslashes_before_wildcard() {
    assert_matches(r"sel: {Name: 'a\\\*'}", r#"{"Name": "a\\*"}"#);
    assert_no_match(r"sel: {Name: 'a\\\*'}", r#"{"Name": "a\\xyz"}"#);
}

/// "Three or four backslashes are handled as double backslash. Four is recommended for
/// consistency reasons: `\\\\` results in the plain value `\\`."
#[test]
fn escape_three_or_four_backslashes() {
    let unc = r#"{"Path": "\\\\srv\\share"}"#; // \\srv\share
    assert_matches(r"sel: {Path: '\\\\srv\share'}", unc);
    assert_matches(r"sel: {Path: '\\\srv\share'}", unc);
    assert_no_match(
        r"sel: {Path: '\\\\srv\share'}",
        r#"{"Path": "\\srv\\share"}"#,
    );
    assert_no_match(
        r"sel: {Path: '\\\srv\share'}",
        r#"{"Path": "\\srv\\share"}"#,
    );
}

// ---------------------------------------------------------------------------------------
// Values: null, empty, numbers, booleans
// ---------------------------------------------------------------------------------------

/// "A null value is defined with `null`" — with the specification's example
/// `filter: {PasswordLastSet: null}` / `selection and not filter`.
#[test]
fn value_null() {
    let det = "sel: {FieldB: null}";
    assert_matches(det, r#"{"FieldB": null}"#);
    assert_matches(det, r#"{"FieldA": "x"}"#);
    assert_no_match(det, r#"{"FieldB": ""}"#);
    assert_no_match(det, r#"{"FieldB": "x"}"#);
    let spec = "selection: {EventID: 4738}\nfilter: {PasswordLastSet: null}\ncondition: selection and not filter";
    assert_matches(
        spec,
        r#"{"EventID": 4738, "PasswordLastSet": "2024-01-01"}"#,
    );
    assert_no_match(spec, r#"{"EventID": 4738, "PasswordLastSet": null}"#);
}

/// "An empty value is defined with `''`"
#[test]
fn value_empty_string() {
    let det = "sel: {FieldB: ''}";
    assert_matches(det, r#"{"FieldB": ""}"#);
    assert_no_match(det, r#"{"FieldB": null}"#);
    assert_no_match(det, r#"{"FieldA": "x"}"#);
    assert_no_match(det, r#"{"FieldB": "x"}"#);
}

/// `null`, `''` and `exists` are three distinct tests: the specification's valid example
/// (`selection_main and 1 of selection_empty*`).
#[test]
fn value_null_empty_exists_are_distinct() {
    let spec = "selection_main: {FieldA: 'something'}\nselection_empty1: {FieldB: ''}\nselection_empty2: {FieldB: null}\ncondition: selection_main and 1 of selection_empty*";
    assert_matches(spec, r#"{"FieldA": "something", "FieldB": ""}"#);
    assert_matches(spec, r#"{"FieldA": "something", "FieldB": null}"#);
    assert_matches(spec, r#"{"FieldA": "something"}"#);
    assert_no_match(spec, r#"{"FieldA": "something", "FieldB": "x"}"#);
    // Present-and-null: null and exists hold, '' does not.
    let ev = r#"{"FieldB": null}"#;
    assert_matches("sel: {FieldB: null}", ev);
    assert_matches("sel: {FieldB|exists: true}", ev);
    assert_no_match("sel: {FieldB: ''}", ev);
    // Absent: only null.
    let ev = r#"{"FieldA": "x"}"#;
    assert_matches("sel: {FieldB: null}", ev);
    assert_no_match("sel: {FieldB|exists: true}", ev);
    assert_no_match("sel: {FieldB: ''}", ev);
}

/// "Also `null` cannot be part of a list of field values as it is its own type and
/// therefore shares no type with any other value." (the "Invalid Example")
#[test]
fn value_null_in_a_list_is_rejected() {
    let rej = assert_rejected(
        "selection_main:\n    FieldA: 'something'\n    FieldB:\n        - ''\n        - null\ncondition: selection_main",
    );
    assert_reason(&rej, &["null"]);
}

/// "All values are treated as case-insensitive strings." — `EventID: 7045` matches the
/// number 7045 and the string "7045".
#[test]
fn value_numbers_and_strings() {
    assert_matches("sel: {EventID: 7045}", r#"{"EventID": 7045}"#);
    assert_matches("sel: {EventID: 7045}", r#"{"EventID": "7045"}"#);
    assert_matches("sel: {EventID: '7045'}", r#"{"EventID": 7045}"#);
    assert_no_match("sel: {EventID: 7045}", r#"{"EventID": 7046}"#);
    assert_no_match("sel: {EventID: 7045}", r#"{"EventID": "70450"}"#);
    // Written as a string, a number is a string pattern with wildcards.
    assert_matches("sel: {EventID: '70*'}", r#"{"EventID": 7045}"#);
}

/// Booleans are values like any other: "All values are treated as case-insensitive
/// strings."
#[test]
fn value_booleans() {
    assert_matches("sel: {Enabled: true}", r#"{"Enabled": true}"#);
    assert_matches("sel: {Enabled: true}", r#"{"Enabled": "true"}"#);
    assert_matches("sel: {Enabled: true}", r#"{"Enabled": "True"}"#);
    assert_no_match("sel: {Enabled: true}", r#"{"Enabled": false}"#);
    assert_matches("sel: {Enabled: false}", r#"{"Enabled": false}"#);
    assert_no_match("sel: {Enabled: false}", r#"{"Enabled": true}"#);
}

// ---------------------------------------------------------------------------------------
// Lists, maps, keywords
// ---------------------------------------------------------------------------------------

/// "All elements of a map are joined with a logical 'AND'." — "matches on EventLog
/// 'Security' **and** ( Event ID 517 **or** Event ID 1102 )"
#[test]
fn map_is_and_value_list_is_or() {
    let spec = "selection:\n    EventLog: Security\n    EventID:\n        - 517\n        - 1102\ncondition: selection";
    assert_matches(spec, r#"{"EventLog": "Security", "EventID": 1102}"#);
    assert_matches(spec, r#"{"EventLog": "Security", "EventID": 517}"#);
    assert_no_match(spec, r#"{"EventLog": "Security", "EventID": 4624}"#);
    assert_no_match(spec, r#"{"EventLog": "System", "EventID": 517}"#);
    let spec = "selection:\n    EventLog: Security\n    EventID: 4769\n    TicketOptions: '0x40810000'\n    TicketEncryption: '0x17'\ncondition: selection";
    assert_matches(
        spec,
        r#"{"EventLog": "Security", "EventID": 4769, "TicketOptions": "0x40810000", "TicketEncryption": "0x17"}"#,
    );
    assert_no_match(
        spec,
        r#"{"EventLog": "Security", "EventID": 4769, "TicketOptions": "0x40810000", "TicketEncryption": "0x12"}"#,
    );
}

/// "maps (see below). All map items of a list are logically linked with 'OR'." — "matches
/// an image value ending with `example.exe` **or** an executable with a description
/// containing the string `Test executable`."
#[test]
fn list_of_maps_is_or() {
    let spec = "selection:\n    - Image|endswith: '\\\\example.exe'\n    - Description|contains: 'Test executable'\ncondition: selection";
    assert_matches(spec, r#"{"Image": "C:\\tools\\example.exe"}"#);
    assert_matches(
        spec,
        r#"{"Image": "C:\\x.exe", "Description": "A Test executable file"}"#,
    );
    assert_no_match(
        spec,
        r#"{"Image": "C:\\x.exe", "Description": "Production"}"#,
    );
    // Each map is still AND inside.
    let det = "sel:\n    - {A: 1, B: 2}\n    - {C: 3}";
    assert_no_match(det, r#"{"A": 1, "B": 9}"#);
    assert_matches(det, r#"{"A": 1, "B": 2}"#);
}

/// "strings that are applied to the full log message and are linked with a logical 'OR'."
/// — "Matches on 'EvilService' **or** 'svchost.exe -n evil'"
#[test]
fn keywords_list_is_or_over_the_whole_event() {
    let spec = "keywords:\n    - 'EVILSERVICE'\n    - 'svchost.exe -n evil'\ncondition: keywords";
    assert_matches(spec, r#"{"Message": "Service EvilService was installed"}"#);
    assert_matches(
        spec,
        r#"{"Data": {"Nested": ["x", "C:\\svchost.exe -n evil -k"]}}"#,
    );
    assert_no_match(spec, r#"{"Message": "Service GoodService was installed"}"#);
    let spec = "mimikatz_keywords:\n    - 'event::clear'\n    - 'event::drop'\ncondition: mimikatz_keywords";
    assert_matches(spec, r#"{"CommandLine": "mimikatz.exe event::drop exit"}"#);
    assert_no_match(spec, r#"{"CommandLine": "mimikatz.exe event::list exit"}"#);
}

/// "To have a **and** operator , we use the `'|all':` modifier" — "Give :
/// "OabVirtualDirectory" **and** " -ExternalUrl ""
#[test]
fn keywords_all_is_and() {
    let spec = "keywords_cmdlet:\n    '|all':\n        - 'OabVirtualDirectory'\n        - ' -ExternalUrl '\ncondition: keywords_cmdlet";
    assert_matches(
        spec,
        r#"{"Payload": "Set-OabVirtualDirectory -ExternalUrl 'http://x'"}"#,
    );
    assert_matches(
        spec,
        r#"{"Cmd": "Set-OabVirtualDirectory", "Args": "x -ExternalUrl y"}"#,
    );
    assert_no_match(
        spec,
        r#"{"Payload": "Set-OabVirtualDirectory -InternalUrl 'http://x'"}"#,
    );
}

/// Decision: a field holding a JSON array matches when any element matches (and `neq`
/// when no element equals the value).
#[test]
fn decision_array_fields_match_any_element() {
    assert_matches(
        "sel: {Tags|contains: 'evil'}",
        r#"{"Tags": ["good", "so evil"]}"#,
    );
    assert_no_match(
        "sel: {Tags|contains: 'evil'}",
        r#"{"Tags": ["good", "fine"]}"#,
    );
    assert_no_match("sel: {Tags|neq: 'good'}", r#"{"Tags": ["good", "fine"]}"#);
}

/// Decision: keywords search the event's values, not its field names, and numbers by
/// their decimal text.
#[test]
fn decision_keywords_search_values_only() {
    assert_no_match(
        "keywords: ['EVILSERVICE']\ncondition: keywords",
        r#"{"EvilService": "x"}"#,
    );
    assert_matches(
        "keywords: ['7045']\ncondition: keywords",
        r#"{"EventID": 7045}"#,
    );
}

/// Decision (and a guard on the engine's whole-event keyword prefilter): a keyword is
/// searched in the values as JSON decodes them, so escapes in the event's text
/// (`\\`, `\"`, `\u`, `\/`) and numbers written with a fraction or exponent do not
/// hide it, and one found only in a field name does not fire.
#[test]
fn decision_keywords_see_through_json_escapes() {
    let spec = r#"keywords: ['C:\Temp\mimi "x"', 'mimikatz', 'a/b', '1500', 'Zz']
condition: keywords"#;
    for event in [
        r#"{"Path": "c:\\temp\\MIMI \"X\" y"}"#,
        r#"{"Cmd": "run mimi\u006batz"}"#,
        r#"{"Cmd": "run MIMI\u004bATZ"}"#,
        r#"{"Url": "a\/b"}"#,
        r#"{"Size": 1.5e3}"#,
        r#"{"Size": 1500.0}"#,
        r#"{"Name": "\u005az"}"#,
    ] {
        assert_matches(spec, event);
    }
    for event in [
        r#"{"mimikatz": "x"}"#,
        r#"{"Path": "c:\\temp\\mimi x"}"#,
        r#"{"Cmd": "mimi\u006bat"}"#,
        r#"{"Size": 1.5}"#,
        r#"{"Url": "a\\/b"}"#,
    ] {
        assert_no_match(spec, event);
    }
}

// ---------------------------------------------------------------------------------------
// Conditions
// ---------------------------------------------------------------------------------------

const ABC: &str = "a: {A: 1}\nb: {B: 1}\nc: {C: 1}\n";

fn cond(condition: &str) -> String {
    format!("{ABC}condition: {condition}")
}

/// "Logical AND/OR — `keywords1 or keywords2`"
#[test]
fn condition_and_or() {
    assert_matches(&cond("a and b"), r#"{"A": 1, "B": 1}"#);
    assert_no_match(&cond("a and b"), r#"{"A": 1}"#);
    assert_matches(&cond("a or b"), r#"{"B": 1}"#);
    assert_no_match(&cond("a or b"), r#"{"C": 1}"#);
}

/// "Negation with 'not' — `keywords and not filters`"
#[test]
fn condition_not() {
    assert_matches(&cond("not a"), r#"{"B": 1}"#);
    assert_no_match(&cond("not a"), r#"{"A": 1}"#);
    assert_matches(&cond("b and not a"), r#"{"B": 1}"#);
    assert_no_match(&cond("b and not a"), r#"{"A": 1, "B": 1}"#);
}

/// "Brackets — `selection1 and (keywords1 or keywords2)`"
#[test]
fn condition_parentheses() {
    assert_matches(&cond("(a or b) and c"), r#"{"B": 1, "C": 1}"#);
    assert_no_match(&cond("(a or b) and c"), r#"{"A": 1}"#);
    assert_matches(&cond("not (a and b)"), r#"{"A": 1}"#);
    assert_no_match(&cond("not (a and b)"), r#"{"A": 1, "B": 1}"#);
}

/// "Operator Precedence (least to most binding): or, and, not, x of search-identifier,
/// ( expression )"
#[test]
fn condition_precedence() {
    // or < and: `a or b and c` = `a or (b and c)`.
    assert_matches(&cond("a or b and c"), r#"{"A": 1}"#);
    assert_no_match(&cond("a or b and c"), r#"{"B": 1}"#);
    assert_matches(&cond("a or b and c"), r#"{"B": 1, "C": 1}"#);
    // and < not: `not a and b` = `(not a) and b`.
    assert_matches(&cond("not a and b"), r#"{"B": 1}"#);
    assert_no_match(&cond("not a and b"), r#"{"C": 1}"#);
    // not < x of: `not 1 of filter*` = `not (1 of filter*)`.
    let det = "sel: {A: 1}\nfilter1: {F: 1}\nfilter2: {G: 1}\ncondition: sel and not 1 of filter*";
    assert_matches(det, r#"{"A": 1}"#);
    assert_no_match(det, r#"{"A": 1, "G": 1}"#);
    // x of < ( ): `all of x*` applies to the identifiers, then `or` inside brackets.
    let det = "x1: {A: 1}\nx2: {B: 1}\ny: {C: 1}\ncondition: all of x* or y";
    assert_matches(det, r#"{"C": 1}"#);
    assert_no_match(det, r#"{"A": 1}"#);
}

/// "Logical OR (`1 of them`) or AND (`all of them`) across all defined search identifiers
/// not starting with an underscore `_`." — "A search identifier `_example` wouldn't be
/// included because detections starting with underscores are excluded by convention."
#[test]
fn condition_of_them_excludes_underscore() {
    let base = "sel1: {A: 1}\nsel2: {B: 1}\n_example: {H: 1}\n";
    let one = format!("{base}condition: 1 of them");
    assert_matches(&one, r#"{"B": 1}"#);
    assert_no_match(&one, r#"{"H": 1}"#);
    let all = format!("{base}condition: all of them");
    assert_matches(&all, r#"{"A": 1, "B": 1}"#);
    assert_no_match(&all, r#"{"A": 1, "H": 1}"#);
    // `_example` still works by name.
    let named = format!("{base}condition: sel1 and _example");
    assert_matches(&named, r#"{"A": 1, "H": 1}"#);
    assert_no_match(&named, r#"{"A": 1}"#);
}

/// "Same as *1/all of them*, but restricted to matching search identifiers. Matching is
/// done with * wildcards (any number of characters) at arbitrary positions in the
/// pattern." — `all of selection*`, `1 of selection* and keywords`
#[test]
fn condition_of_pattern() {
    let base = "selection_a: {A: 1}\nselection_b: {B: 1}\nkeywords: ['evil']\n";
    let one = format!("{base}condition: 1 of selection* and keywords");
    assert_matches(&one, r#"{"B": 1, "M": "so evil"}"#);
    assert_no_match(&one, r#"{"B": 1, "M": "good"}"#);
    assert_no_match(&one, r#"{"M": "evil"}"#);
    let all = format!("{base}condition: all of selection*");
    assert_matches(&all, r#"{"A": 1, "B": 1}"#);
    assert_no_match(&all, r#"{"A": 1, "M": "evil"}"#);
    // Wildcards at arbitrary positions.
    let inner = format!("{base}condition: 1 of sel*_b");
    assert_matches(&inner, r#"{"B": 1}"#);
    assert_no_match(&inner, r#"{"A": 1}"#);
}

/// "The condition can be a list, in this case, each of them generates a query They are
/// logically linked with OR."
#[test]
fn condition_list_is_or() {
    let det = format!("{ABC}condition:\n    - a and b\n    - c");
    assert_matches(&det, r#"{"C": 1}"#);
    assert_matches(&det, r#"{"A": 1, "B": 1}"#);
    assert_no_match(&det, r#"{"A": 1}"#);
}

/// A condition may only name the rule's search identifiers.
#[test]
fn condition_undefined_identifier_is_rejected_with_line() {
    let rej = assert_rejected("sel: {A: 1}\ncondition: sel and not filter");
    assert_reason(&rej, &["filter", "not a search identifier"]);
    assert_eq!(rej.line, Some(6), "the line of the condition");
    let rej = assert_rejected("sel: {A: 1}\ncondition: 1 of filter*");
    assert_reason(&rej, &["filter*"]);
}

// ---------------------------------------------------------------------------------------
// Field lookup in evtx_dump JSON
// ---------------------------------------------------------------------------------------

const SERVICE_INSTALL: &str = r##"{"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
 "System": {"Provider": {"#attributes": {"Name": "Service Control Manager"}},
            "EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045},
            "Channel": "System", "Execution": {"#attributes": {"ProcessID": 788}},
            "TimeCreated": {"#attributes": {"SystemTime": "2019-03-19T23:52:41.6316830Z"}}},
 "EventData": {"ServiceName": "PSEXESVC", "ImagePath": "%SystemRoot%\\PSEXESVC.exe", "Channel": "Payload"}}}"##;

/// "Some fields are defined as attributes of the XML tags (in the `<System>` header of the
/// events). The tag and attribute names have to be linked with an underscore character
/// '\_'." / "In the `<EventData>` body of the event the field name is given by the `Name`
/// attribute of the `Data` tag."
#[test]
fn evtx_field_lookup() {
    assert_evtx_matches("sel: {EventID: 7045}", SERVICE_INSTALL);
    assert_evtx_no_match("sel: {EventID: 16384}", SERVICE_INSTALL);
    assert_evtx_matches(
        "sel: {Provider_Name: 'Service Control Manager'}",
        SERVICE_INSTALL,
    );
    assert_evtx_matches("sel: {Execution_ProcessID: 788}", SERVICE_INSTALL);
    assert_evtx_matches("sel: {ServiceName: 'psexesvc'}", SERVICE_INSTALL);
    assert_evtx_no_match("sel: {ServiceName: 'other'}", SERVICE_INSTALL);
    assert_evtx_matches(
        "sel: {ImagePath|endswith: '\\PSEXESVC.exe'}",
        SERVICE_INSTALL,
    );
    assert_evtx_matches("sel: {TimeCreated_SystemTime|hour: 23}", SERVICE_INSTALL);
    assert_evtx_no_match("sel: {TimeCreated_SystemTime|hour: 0}", SERVICE_INSTALL);
}

/// Decision: `Event.System` is read before `Event.EventData` when both carry a name.
#[test]
fn decision_evtx_system_before_event_data() {
    assert_evtx_matches("sel: {Channel: System}", SERVICE_INSTALL);
    assert_evtx_no_match("sel: {Channel: Payload}", SERVICE_INSTALL);
    assert_evtx_matches("sel: {Event.EventData.Channel: Payload}", SERVICE_INSTALL);
}

/// A logsource's field renames apply to the field a `fieldref` names, as to the tested
/// field: on Security 4688, `Image` is `NewProcessName` and `ParentImage` is
/// `ParentProcessName` (found by the RSigma comparison, docs/peers.md).
#[test]
fn fieldref_follows_logsource_renames() {
    let header = "title: fieldref rename\nlogsource:\n    product: windows\n    category: process_creation\ndetection:\n";
    let detection = "sel:\n    Image|fieldref: ParentImage";
    let map = LogsourceMap::builtin();
    let same = r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"NewProcessName":"C:\\a.exe","ParentProcessName":"C:\\A.EXE"}}}"#;
    let other = r#"{"Event":{"System":{"Channel":"Security","EventID":4688},"EventData":{"NewProcessName":"C:\\a.exe","ParentProcessName":"C:\\b.exe"}}}"#;
    let sysmon = r#"{"Event":{"System":{"Channel":"Microsoft-Windows-Sysmon/Operational","EventID":1},"EventData":{"Image":"C:\\a.exe","ParentImage":"C:\\a.exe"}}}"#;
    let opts = BuildOptions::default();
    assert!(run(header, &map, detection, same, &opts));
    assert!(!run(header, &map, detection, other, &opts));
    assert!(run(header, &map, detection, sysmon, &opts));
}
