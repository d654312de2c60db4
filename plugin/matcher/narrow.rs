//! Narrowing by event id: most rules of a channel-wide logsource (`service: security`,
//! `service: system`) fire on one or a few event ids, which their detection names
//! (`EventID: 4624`). Such a rule's variant is compiled for a narrower event kind, the
//! channel and those ids, so the selector leaves it, and the fields only it reads, out of
//! every other event of the channel: a Security 5145 event is no longer scanned for the
//! fields of the 4624 rules.
//!
//! The ids are a necessary condition of the rule's condition: every event it holds on
//! has an `EventID` value among them. The selector compares an event's `EventID` as text
//! (numbers in decimal), the way an `equals` predicate does, and only ids written as
//! digits are taken, where case folding cannot differ; so narrowing leaves out only
//! variants that could not fire, and the condition itself is still evaluated in full.
//! Compile time only: nothing here runs per event.

use crate::logsource::{EventKind, WhenValue};
use crate::rule::Rule;
use crate::rule::condition::Expr;
use crate::rule::detection::{FieldTest, Matcher, SearchExpr};
use crate::rule::pattern::Shape;

// The event field whose values narrow a kind: the one the selector indexes kinds by.
use super::selector::EVENT_ID;

/// `kind` narrowed to the event ids `rule` requires, when the kind does not constrain
/// `EventID` itself and the rule's condition requires one of a known set of ids.
pub fn narrowed(rule: &Rule, kind: &EventKind) -> Option<EventKind> {
    if kind.condition(EVENT_ID).is_some() {
        return None;
    }
    let ids = required(rule, &rule.detection.expr, kind)?;
    if ids.is_empty() {
        // The condition cannot hold at all; leave such a rule where it was.
        return None;
    }
    let mut narrow = kind.clone();
    narrow.when.push((
        EVENT_ID.to_string(),
        ids.into_iter().map(WhenValue::Text).collect(),
    ));
    Some(narrow)
}

/// Sorted, deduplicated event ids; `None` when the expression does not require one.
type Ids = Option<Vec<String>>;

/// Of the constraints of a conjunction, the narrowest: each is necessary on its own.
/// (Not their intersection: an event may carry several `EventID` values, one meeting
/// each item.)
fn narrowest(items: impl Iterator<Item = Ids>) -> Ids {
    items.flatten().min_by_key(Vec::len)
}

/// The constraints of a disjunction, united: `None` when an item is unconstrained.
fn united(items: impl Iterator<Item = Ids>) -> Ids {
    let mut all = Vec::new();
    let mut any = false;
    for item in items {
        all.extend(item?);
        any = true;
    }
    if !any {
        return None;
    }
    all.sort_unstable();
    all.dedup();
    Some(all)
}

fn required(rule: &Rule, e: &Expr, kind: &EventKind) -> Ids {
    match e {
        Expr::Search(i) => search(&rule.detection.searches[*i].expr, kind),
        Expr::Not(_) => None,
        Expr::And(items) => narrowest(items.iter().map(|i| required(rule, i, kind))),
        Expr::Or(items) => united(items.iter().map(|i| required(rule, i, kind))),
        Expr::AtLeast(0, _) => None,
        Expr::AtLeast(_, items) => united(items.iter().map(|i| required(rule, i, kind))),
    }
}

fn search(e: &SearchExpr, kind: &EventKind) -> Ids {
    match e {
        SearchExpr::Test(t) => test(t, kind),
        SearchExpr::And(items) => narrowest(items.iter().map(|i| search(i, kind))),
        SearchExpr::Or(items) => united(items.iter().map(|i| search(i, kind))),
    }
}

fn test(t: &FieldTest, kind: &EventKind) -> Ids {
    let field = t.field.as_deref()?;
    if t.negated || kind.resolve(field) != EVENT_ID {
        return None;
    }
    let per_value = t
        .values
        .iter()
        .map(|v| united(v.any.iter().map(|m| exact_id(m).map(|id| vec![id]))));
    if t.all {
        narrowest(per_value)
    } else {
        united(per_value)
    }
}

/// The id an `equals` test compares with, when it is written as digits.
fn exact_id(m: &Matcher) -> Option<String> {
    match m {
        Matcher::Str { pattern, .. } => match pattern.shape() {
            Shape::Exact(b) if !b.is_empty() && b.iter().all(u8::is_ascii_digit) => {
                Some(String::from_utf8_lossy(b).into_owned())
            }
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::BuildOptions;
    use crate::ruleset::RuleSet;

    fn rule(detection: &str) -> Rule {
        let text = format!(
            "title: t\nlogsource:\n  product: windows\n  service: security\ndetection:\n{detection}"
        );
        let set = RuleSet::from_text("t.yml", &text, &BuildOptions::default());
        assert!(set.rejected.is_empty(), "{:?}", set.rejected);
        set.rules.into_iter().next().expect("one rule")
    }

    fn kind(when: &[(&str, &str)], rename: &[(&str, &str)]) -> EventKind {
        EventKind {
            when: when
                .iter()
                .map(|(f, v)| (f.to_string(), vec![WhenValue::Text(v.to_string())]))
                .collect(),
            rename: rename
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
        }
    }

    /// The ids `detection` narrows the Security channel to (`None`: not narrowed).
    fn ids(detection: &str) -> Option<Vec<String>> {
        let security = kind(&[("Channel", "security")], &[]);
        narrowed(&rule(detection), &security).map(|k| {
            assert_eq!(
                k.when[0], security.when[0],
                "the kind's own condition stays"
            );
            assert_eq!(k.when.len(), 2);
            k.when[1]
                .1
                .iter()
                .map(|v| match v {
                    WhenValue::Text(t) => t.clone(),
                    WhenValue::Present => panic!("ids are texts"),
                })
                .collect()
        })
    }

    fn some(ids: &[&str]) -> Option<Vec<String>> {
        Some(ids.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn required_ids_narrow_the_kind() {
        let cases = [
            (
                "  sel:\n    EventID: 4624\n  condition: sel",
                some(&["4624"]),
            ),
            (
                "  sel:\n    EventID: [4625, 4624, 4625]\n    TargetUserName: x\n  condition: sel",
                some(&["4624", "4625"]),
            ),
            // Text that reads as digits counts as the number does.
            (
                "  sel:\n    EventID: '5145'\n  condition: sel",
                some(&["5145"]),
            ),
            // A disjunction unites its items' ids...
            (
                "  a:\n    EventID: 1\n  b:\n    EventID: 2\n  condition: a or b",
                some(&["1", "2"]),
            ),
            (
                "  a:\n    EventID: 1\n  b:\n    EventID: 2\n  condition: 1 of them",
                some(&["1", "2"]),
            ),
            (
                "  sel:\n    - EventID: 1\n    - EventID: 3\n  condition: sel",
                some(&["1", "3"]),
            ),
            // ... but is free when one item is.
            (
                "  a:\n    EventID: 1\n  b:\n    Image: x\n  condition: a or b",
                None,
            ),
            // A conjunction takes its narrowest item, not the intersection: an event
            // may carry several ids, one for each item.
            (
                "  a:\n    EventID: [1, 2, 3]\n  b:\n    EventID: [3, 4]\n  condition: a and b",
                some(&["3", "4"]),
            ),
            (
                "  sel:\n    EventID|all: [7, 8]\n  condition: sel",
                some(&["7"]),
            ),
            (
                "  a:\n    EventID: 1\n  f:\n    Image: x\n  condition: a and not f",
                some(&["1"]),
            ),
            // Negations and tests other than digits written out do not narrow.
            ("  a:\n    EventID: 1\n  condition: not a", None),
            ("  a:\n    EventID|neq: 1\n  condition: a", None),
            ("  a:\n    EventID|contains: 46\n  condition: a", None),
            ("  a:\n    EventID: '46*'\n  condition: a", None),
            ("  a:\n    EventID: [4624, 'x']\n  condition: a", None),
            ("  a:\n    EventID: ''\n  condition: a", None),
            ("  a:\n    EventID|gt: 4000\n  condition: a", None),
            ("  a:\n    EventID: null\n  condition: a", None),
            ("  a:\n    - '4624'\n  condition: a", None),
            ("  a:\n    Image: x\n  condition: a", None),
        ];
        for (detection, want) in cases {
            assert_eq!(ids(detection), want, "{detection}");
        }
    }

    #[test]
    fn kinds_that_name_ids_or_rename_the_field_are_left_alone() {
        let r = rule("  sel:\n    EventID: 4688\n  condition: sel");
        let by_id = kind(&[("Channel", "security"), ("EventID", "4688")], &[]);
        assert_eq!(narrowed(&r, &by_id), None);
        let renamed = kind(&[("Channel", "security")], &[("EventID", "event_code")]);
        assert_eq!(narrowed(&r, &renamed), None);
        let plain = kind(&[("Channel", "security")], &[("Image", "NewProcessName")]);
        let narrow = narrowed(&r, &plain).expect("narrowed");
        assert_eq!(narrow.rename, plain.rename, "renames are kept");
    }
}
