//! Rule YAML to compiled matcher: any text loads as rules or rejections (never a panic,
//! within the rule limits), and whatever loads compiles and matches an event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigma_transform::event::json::JsonEvent;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::matcher::Matcher;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    static MAP: std::sync::OnceLock<LogsourceMap> = std::sync::OnceLock::new();
    let map = MAP.get_or_init(LogsourceMap::builtin);
    let set = RuleSet::from_text("fuzz.yml", text, &BuildOptions::default());
    let (matcher, _notes) = Matcher::compile(&set.rules, map);
    let event = br#"{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","CommandLine":"a b c","Image":"C:\\x.exe"}"#;
    let doc = JsonEvent::parse(event).expect("the event is JSON");
    let mut scratch = matcher.scratch();
    let mut hits = Vec::new();
    matcher.matches(&doc, &mut scratch, &mut hits);
});
