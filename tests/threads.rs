//! One compiled transform shared by several threads, each with its own scratch, as a
//! pipeline's workers run it: every thread gets the matches a reference gives, with
//! regexes (one behind a literal prefilter, two merged into one set) whose search state
//! lives in each thread's scratch.

use std::collections::BTreeSet;

use regex_automata::meta::Regex;
use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Transform, TransformOptions};

/// `product: test` means every event.
const MAP: &str = "logsources:\n  - product: test\n    events:\n      - when: {}\n";

/// (title, field, modifier, value): one rule each.
const RULES: [(&str, &str, &str, &str); 4] = [
    // A regex with a required literal (`\evil`): run only when the literal is found.
    ("prefiltered", "CommandLine", "|re", r"\\evil[0-9]+\.exe"),
    // Regexes without one, small: merged into one multi-pattern search.
    ("set-a", "Image", "|re", "^[a-c]+$"),
    ("set-b", "Image", "|re", "^[x-z]{2,}$"),
    ("literal", "Image", "|contains", "zz"),
];

fn transform() -> Transform {
    let mut rules = Vec::new();
    for (title, field, modifier, value) in RULES {
        let text = format!(
            "title: {title}\nlogsource:\n    product: test\ndetection:\n    sel:\n        \
             {field}{modifier}: '{value}'\n    condition: sel\n"
        );
        let set = RuleSet::from_text("threads.yml", &text, &BuildOptions::default());
        assert!(set.rejected.is_empty(), "{text}");
        rules.extend(set.rules);
    }
    let map = LogsourceMap::from_yaml(MAP).expect("test mapping");
    let t = Transform::new(rules, &map, TransformOptions::default());
    assert!(t.notes().is_empty(), "{:?}", t.notes());
    t
}

/// Every `Image` of up to 4 symbols over a, b, c, x, y, z, with a command line that does
/// or does not hold the prefiltered regex (or only its literal).
fn events() -> Vec<(String, String, String)> {
    let alphabet = ['a', 'b', 'c', 'x', 'y', 'z'];
    let commands = [r"run \evil12.exe", r"run \evil.exe", r"\EVIL7.exe", "plain"];
    let mut out = Vec::new();
    for len in 0..=4u32 {
        for n in 0..6usize.pow(len) {
            let mut k = n;
            let image: String = (0..len)
                .map(|_| {
                    let c = alphabet[k % 6];
                    k /= 6;
                    c
                })
                .collect();
            let command = commands[out.len() % commands.len()].to_string();
            let line = serde_json::json!({"Image": image, "CommandLine": command}).to_string();
            out.push((line, image, command));
        }
    }
    out
}

/// The titles that should fire, from each rule's regex or substring test alone.
fn reference(image: &str, command: &str) -> BTreeSet<&'static str> {
    RULES
        .iter()
        .filter(|(_, field, modifier, value)| {
            let v = if *field == "Image" { image } else { command };
            match *modifier {
                "|re" => Regex::new(value).unwrap().is_match(v),
                _ => v.contains(value),
            }
        })
        .map(|r| r.0)
        .collect()
}

#[test]
fn threads_sharing_a_transform_match_as_one() {
    let t = transform();
    let events = events();
    let want: Vec<BTreeSet<&str>> = events.iter().map(|(_, i, c)| reference(i, c)).collect();
    // Every rule fires on some events and not on others.
    for (title, ..) in RULES {
        let fired = want.iter().filter(|w| w.contains(title)).count();
        assert!(fired > 0 && fired < events.len(), "{title}: {fired}");
    }
    let checked: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|k| {
                let (t, events, want) = (&t, &events, &want);
                s.spawn(move || {
                    let mut scratch = t.scratch();
                    let mut out = Vec::new();
                    let mut checked = 0;
                    // Each thread in its own order (strides prime to the 1,555 events),
                    // three times over.
                    let stride = [1, 7, 11, 13][k];
                    for pass in 0..3 {
                        for j in 0..events.len() {
                            let i = (j * stride + pass * 7) % events.len();
                            out.clear();
                            t.process_line(events[i].0.as_bytes(), &mut scratch, &mut out);
                            let got: BTreeSet<&str> = t
                                .last_hits(&scratch)
                                .iter()
                                .map(|&r| t.rules()[r].meta.title.as_str())
                                .collect();
                            assert_eq!(got, want[i], "thread {k}, event {}", events[i].0);
                            checked += 1;
                        }
                    }
                    checked
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(checked, 4 * 3 * events.len());
}
