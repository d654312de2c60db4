//! A plain reference evaluator for typed Sigma rules, used only by tests.
//!
//! It interprets a [`Rule`] directly, one rule and one event at a time, on the
//! `serde_json::Value` of the event, with deliberately naive algorithms: its own field
//! lookup, its own logsource resolution and `when` check, a recursive (memoised)
//! backtracking wildcard matcher over characters, and one `regex_automata` meta regex per
//! `re` value. Nothing here uses the engine's automata, scanners, selector index, event
//! `Document` implementation or boolean programs; only the typed rule, the mapping's
//! public data and a few leaf helpers the brief names (`Cidr::contains`, `regex_source`).
//!
//! Event shapes: only evtx_dump JSON (`Event.System` is an object) and flat JSON are
//! modelled. The engine also recognises Winlogbeat, NXLog, Vector and Fluent Bit events by
//! their keys (`winlog`, `SourceName`, `event_id`, `ProviderName`, `StringInserts`); events
//! given to this evaluator must not carry those keys at the top level.
//!
//! Semantics (from the engine's documentation, `plugin/rule/detection.rs`,
//! `plugin/event/json.rs`, `plugin/matcher/glob.rs`, `rules/logsources.yaml`):
//! - a rule fires when its logsource resolves to event kinds and, for at least one kind,
//!   every `when` condition holds for the event and the detection holds with that kind's
//!   renames applied to the rule's field names;
//! - a field's values: JSON null is a null value, strings/numbers/booleans are text
//!   (numbers in decimal), arrays give each element, objects give their `#text` (if any);
//! - `null`: the field is absent or one of its values is null; `''`: a present empty
//!   string; `exists`: presence only; `neq`: NOT(the value list holds), absent included;
//! - keywords: some scalar anywhere in the event matches;
//! - strings: case-insensitive unless `cased` (ASCII letters fold to ASCII only, other
//!   characters compare by `char::to_lowercase`), `*` any run, `?` one character, the dash
//!   class one of five dash characters.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use regex_automata::meta::Regex;
use serde_json::Value;

use sigma_transform::logsource::{EventKind, LogsourceMap, WhenValue};
use sigma_transform::rule::condition::Expr;
use sigma_transform::rule::detection::{CmpOp, FieldTest, Matcher, SearchExpr, ValueTest};
use sigma_transform::rule::pattern::{Pattern, Piece};
use sigma_transform::rule::values::regex_source;
use sigma_transform::rule::{LogSource, Rule};

/// The five characters of the `windash` class.
const DASH_CHARS: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

// ---------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------

/// True when `rule` fires on `event` under the logsource mapping `map`.
pub fn rule_matches(rule: &Rule, map: &LogsourceMap, event: &Value) -> bool {
    if !event.is_object() {
        return false;
    }
    let Some(kinds) = kinds_for(map, &rule.logsource) else {
        return false;
    };
    kinds
        .iter()
        .any(|kind| kind_holds(kind, event) && expr_holds(&rule.detection.expr, rule, kind, event))
}

/// The indices of `rules` that fire on `event`.
pub fn matching_rules(rules: &[Rule], map: &LogsourceMap, event: &Value) -> Vec<usize> {
    (0..rules.len())
        .filter(|&i| rule_matches(&rules[i], map, event))
        .collect()
}

/// The fields that decided `rule`'s match on `event` (`matched_fields`): of every kind
/// that holds and whose condition holds, the fields of the tests that made it hold (every
/// item of a holding `and`, the holding items of an `or` or `N of`; nothing under `not`,
/// in a negated test or in a keyword search), those with at least one value in the event.
pub fn deciding_fields(rule: &Rule, map: &LogsourceMap, event: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for kind in kinds_for(map, &rule.logsource).unwrap_or_default() {
        if kind_holds(&kind, event) && expr_holds(&rule.detection.expr, rule, &kind, event) {
            expr_deciding(&rule.detection.expr, rule, &kind, event, &mut out);
        }
    }
    out.retain(|f| !field_values(event, f).1.is_empty());
    out
}

/// Adds the deciding fields of `e`, which holds.
fn expr_deciding(
    e: &Expr,
    rule: &Rule,
    kind: &EventKind,
    event: &Value,
    out: &mut BTreeSet<String>,
) {
    match e {
        Expr::Search(i) => search_deciding(&rule.detection.searches[*i].expr, kind, event, out),
        Expr::Not(_) => {}
        Expr::And(items) | Expr::Or(items) | Expr::AtLeast(_, items) => {
            for x in items {
                if expr_holds(x, rule, kind, event) {
                    expr_deciding(x, rule, kind, event, out);
                }
            }
        }
    }
}

fn search_deciding(s: &SearchExpr, kind: &EventKind, event: &Value, out: &mut BTreeSet<String>) {
    match s {
        SearchExpr::Test(t) => {
            if let (Some(f), false) = (&t.field, t.negated) {
                out.insert(renamed(kind, f).to_string());
            }
        }
        SearchExpr::And(items) | SearchExpr::Or(items) => {
            for x in items {
                if search_holds(x, kind, event) {
                    search_deciding(x, kind, event, out);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Logsource
// ---------------------------------------------------------------------------------------

fn same_opt(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
        (None, None) => true,
        _ => false,
    }
}

fn entry_kinds<'m>(
    map: &'m LogsourceMap,
    product: &Option<String>,
    category: &Option<String>,
    service: &Option<String>,
) -> Option<&'m [EventKind]> {
    for e in map.entries() {
        if same_opt(&e.product, product)
            && same_opt(&e.category, category)
            && same_opt(&e.service, service)
        {
            return Some(&e.events);
        }
    }
    None
}

/// The event kinds a logsource means: the exact entry, or for category + service the
/// category's kinds whose Channel is one of the service's channels.
pub fn kinds_for(map: &LogsourceMap, ls: &LogSource) -> Option<Vec<EventKind>> {
    if let Some(k) = entry_kinds(map, &ls.product, &ls.category, &ls.service) {
        return Some(k.to_vec());
    }
    if ls.category.is_none() || ls.service.is_none() {
        return None;
    }
    let cat = entry_kinds(map, &ls.product, &ls.category, &None)?;
    let svc = entry_kinds(map, &ls.product, &None, &ls.service)?;
    let mut svc_channels: Vec<&WhenValue> = Vec::new();
    for k in svc {
        for (f, vals) in &k.when {
            if f == "Channel" {
                svc_channels.extend(vals.iter());
            }
        }
    }
    let mut out = Vec::new();
    for k in cat {
        let ch = k.when.iter().find(|(f, _)| f == "Channel");
        if let Some((_, vals)) = ch
            && vals.iter().any(|v| svc_channels.contains(&v))
        {
            out.push(k.clone());
        }
    }
    if out.is_empty() { None } else { Some(out) }
}

/// Every `when` condition of the kind holds: some non-null value of the field equals one
/// of the accepted values case-insensitively (`*`: any non-null value).
pub fn kind_holds(kind: &EventKind, event: &Value) -> bool {
    for (field, accepted) in &kind.when {
        let (_, values) = field_values(event, field);
        let mut ok = false;
        for v in &values {
            let Some(text) = scalar_text(v) else { continue };
            for a in accepted {
                match a {
                    WhenValue::Present => ok = true,
                    WhenValue::Text(t) => {
                        if t.to_lowercase() == text.to_lowercase() {
                            ok = true;
                        }
                    }
                }
            }
        }
        if !ok {
            return false;
        }
    }
    true
}

/// The event field that carries Sigma field `name` in this kind of event.
fn renamed<'a>(kind: &'a EventKind, name: &'a str) -> &'a str {
    for (from, to) in &kind.rename {
        if from == name {
            return to;
        }
    }
    name
}

// ---------------------------------------------------------------------------------------
// Field lookup on the JSON event
// ---------------------------------------------------------------------------------------

/// True when the event is in evtx_dump shape (`Event.System` is an object).
pub fn is_evtx(event: &Value) -> bool {
    matches!(
        event.get("Event").and_then(|e| e.get("System")),
        Some(Value::Object(_))
    )
}

fn dotted<'a>(root: &'a Value, name: &str) -> Option<&'a Value> {
    if !name.contains('.') {
        return None;
    }
    let mut cur = root;
    for part in name.split('.') {
        match cur {
            Value::Object(m) => cur = m.get(part)?,
            _ => return None,
        }
    }
    Some(cur)
}

fn obj_get<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    match v {
        Some(Value::Object(m)) => m.get(key),
        _ => None,
    }
}

/// The raw JSON value of Sigma field `name`, following the documented resolution order.
pub fn lookup<'a>(event: &'a Value, name: &str) -> Option<&'a Value> {
    if is_evtx(event) {
        let ev = event.get("Event");
        let system = obj_get(ev, "System");
        // 1. Event.System.<name>
        if let Some(v) = obj_get(system, name) {
            return Some(v);
        }
        // 1b. X_Y -> Event.System.X.#attributes.Y, every underscore tried left to right.
        for (i, c) in name.char_indices() {
            if c != '_' {
                continue;
            }
            let elem = &name[..i];
            let attr = &name[i + 1..];
            let attrs = obj_get(obj_get(system, elem), "#attributes");
            if let Some(v) = obj_get(attrs, attr) {
                return Some(v);
            }
        }
        // 2. Event.EventData.<name>
        let data = obj_get(ev, "EventData");
        if let Some(v) = obj_get(data, name) {
            return Some(v);
        }
        // 2b. EventData names with spaces answer to the name without spaces (only when
        // EventData has such names at all).
        if let Some(Value::Object(m)) = data {
            for (k, v) in m {
                if k.contains(' ') && k.replace(' ', "") == name {
                    return Some(v);
                }
            }
        }
        // 3. Event.UserData.<Element>.<name>
        if let Some(Value::Object(user)) = obj_get(ev, "UserData") {
            for (k, child) in user {
                if k == "#attributes" {
                    continue;
                }
                if let Some(v) = obj_get(Some(child), name) {
                    return Some(v);
                }
            }
        }
    } else if let Some(v) = obj_get(Some(event), name) {
        return Some(v);
    } else if let Value::Object(m) = event {
        // Flat: top-level names with spaces answer to the name without spaces too.
        for (k, v) in m {
            if k.contains(' ') && k.replace(' ', "") == name {
                return Some(v);
            }
        }
    }
    // 4. dotted path from the top
    dotted(event, name)
}

/// Flattens a field value into its scalar values (null, bool, number, string).
fn push_scalars<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => {
            for i in items {
                push_scalars(i, out);
            }
        }
        Value::Object(m) => {
            if let Some(t) = m.get("#text") {
                push_scalars(t, out);
            }
        }
        scalar => out.push(scalar),
    }
}

/// (present, scalar values) of Sigma field `name`.
pub fn field_values<'a>(event: &'a Value, name: &str) -> (bool, Vec<&'a Value>) {
    match lookup(event, name) {
        None => (false, Vec::new()),
        Some(v) => {
            let mut out = Vec::new();
            push_scalars(v, &mut out);
            (true, out)
        }
    }
}

/// Every scalar anywhere in the event (keyword search).
pub fn all_scalars(event: &Value) -> Vec<&Value> {
    fn walk<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(m) => m.values().for_each(|i| walk(i, out)),
            s => out.push(s),
        }
    }
    let mut out = Vec::new();
    walk(event, &mut out);
    out
}

/// The text of a scalar as Sigma compares it; `None` for null (and non-scalars).
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(true) => Some("true".to_string()),
        Value::Bool(false) => Some("false".to_string()),
        Value::Number(n) => Some(if let Some(i) = n.as_i64() {
            i.to_string()
        } else if let Some(u) = n.as_u64() {
            u.to_string()
        } else {
            // Floats: Rust's shortest round-trip decimal form.
            format!("{}", n.as_f64().unwrap_or(f64::NAN))
        }),
        _ => None,
    }
}

/// The number a scalar reads as: JSON numbers, and strings holding a decimal number
/// (surrounding spaces allowed) or `0x` hexadecimal.
pub fn scalar_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => {
            let t = s.trim();
            let hex = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
            match hex {
                Some(h) => u64::from_str_radix(h, 16).ok().map(|x| x as f64),
                None => match t.parse::<f64>() {
                    Ok(f) if f.is_finite() => Some(f),
                    _ => None,
                },
            }
        }
        _ => None,
    }
}

/// An IP address as events write it: spaces around, IPv6 in brackets or with a zone.
pub fn scalar_ip(text: &str) -> Option<IpAddr> {
    let mut t = text.trim();
    while let Some(r) = t.strip_prefix('[') {
        t = r;
    }
    while let Some(r) = t.strip_suffix(']') {
        t = r;
    }
    if let Some(i) = t.find('%') {
        t = &t[..i];
    }
    t.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Detection
// ---------------------------------------------------------------------------------------

fn expr_holds(e: &Expr, rule: &Rule, kind: &EventKind, event: &Value) -> bool {
    match e {
        Expr::Search(i) => search_holds(&rule.detection.searches[*i].expr, kind, event),
        Expr::Not(inner) => !expr_holds(inner, rule, kind, event),
        Expr::And(items) => items.iter().all(|x| expr_holds(x, rule, kind, event)),
        Expr::Or(items) => items.iter().any(|x| expr_holds(x, rule, kind, event)),
        Expr::AtLeast(k, items) => {
            items
                .iter()
                .filter(|x| expr_holds(x, rule, kind, event))
                .count()
                >= *k
        }
    }
}

fn search_holds(s: &SearchExpr, kind: &EventKind, event: &Value) -> bool {
    match s {
        SearchExpr::Test(t) => field_test_holds(t, kind, event),
        SearchExpr::And(items) => items.iter().all(|x| search_holds(x, kind, event)),
        SearchExpr::Or(items) => items.iter().any(|x| search_holds(x, kind, event)),
    }
}

/// A field test: each value test holds when one of its alternatives holds on the field;
/// the values combine with OR (AND with `all`); `neq` negates the result.
pub fn field_test_holds(t: &FieldTest, kind: &EventKind, event: &Value) -> bool {
    let (present, scalars) = match &t.field {
        Some(f) => field_values(event, renamed(kind, f)),
        // Keywords: every value of the event; "present" has no meaning there, so only a
        // null scalar can satisfy `null`.
        None => (true, all_scalars(event)),
    };
    let value_holds = |v: &ValueTest| v.any.iter().any(|m| matcher_holds(m, present, &scalars));
    let combined = if t.all {
        t.values.iter().all(value_holds)
    } else {
        t.values.iter().any(value_holds)
    };
    let r = if t.negated { !combined } else { combined };
    match (&t.field, t.negated) {
        (None, _) => note("keyword test", r),
        (_, true) => note("neq test", r),
        _ => r,
    }
}

fn cmp(op: CmpOp, left: f64, right: f64) -> bool {
    match op {
        CmpOp::Eq => left == right,
        CmpOp::Lt => left < right,
        CmpOp::Lte => left <= right,
        CmpOp::Gt => left > right,
        CmpOp::Gte => left >= right,
    }
}

thread_local! {
    static COVERAGE: RefCell<std::collections::BTreeMap<&'static str, (usize, usize)>> = RefCell::default();
}

fn note(what: &'static str, result: bool) -> bool {
    COVERAGE.with(|c| {
        let mut c = c.borrow_mut();
        let e = c.entry(what).or_default();
        e.0 += 1;
        if result {
            e.1 += 1;
        }
    });
    result
}

/// How often each kind of test was evaluated by this thread, and how often it held:
/// (kind, evaluated, held). Lets a generator check it produces both outcomes.
pub fn coverage() -> Vec<(&'static str, usize, usize)> {
    COVERAGE.with(|c| c.borrow().iter().map(|(k, (n, t))| (*k, *n, *t)).collect())
}

/// One matcher against one field (present or not, with its scalar values).
pub fn matcher_holds(m: &Matcher, present: bool, scalars: &[&Value]) -> bool {
    let r = matcher_holds_inner(m, present, scalars);
    let what = match m {
        Matcher::Str { cased: true, .. } => "string (cased)",
        Matcher::Str { pattern, .. }
            if pattern
                .pieces()
                .iter()
                .any(|p| !matches!(p, Piece::Literal(_) | Piece::AnyRun)) =>
        {
            "string (?, dash)"
        }
        Matcher::Str { .. } => "string",
        Matcher::Regex { .. } => "re",
        Matcher::Compare { .. } => "compare",
        Matcher::Cidr(_) => "cidr",
        Matcher::Exists(_) => "exists",
        Matcher::Null => "null",
        Matcher::Time { .. } => "time",
        Matcher::FieldRef { .. } => "fieldref",
    };
    note(what, r)
}

fn matcher_holds_inner(m: &Matcher, present: bool, scalars: &[&Value]) -> bool {
    let texts = || scalars.iter().filter_map(|v| scalar_text(v));
    match m {
        Matcher::Str { pattern, cased } => texts().any(|t| pattern_matches(pattern, *cased, &t)),
        Matcher::Regex { source, flags } => {
            let full = regex_source(source, *flags);
            texts().any(|t| regex_is_match(&full, &t))
        }
        Matcher::Compare { op, value } => scalars
            .iter()
            .filter_map(|v| scalar_number(v))
            .any(|n| cmp(*op, n, *value)),
        Matcher::Cidr(c) => texts()
            .filter_map(|t| scalar_ip(&t))
            .any(|ip| c.contains(&ip)),
        Matcher::Exists(want) => present == *want,
        Matcher::Null => !present || scalars.iter().any(|v| v.is_null()),
        Matcher::Time { .. } => panic!("reference evaluator: time modifiers are not modelled"),
        Matcher::FieldRef { .. } => panic!("reference evaluator: fieldref is not modelled"),
    }
}

thread_local! {
    static REGEXES: RefCell<HashMap<String, Regex>> = RefCell::new(HashMap::new());
}

fn regex_is_match(source: &str, text: &str) -> bool {
    REGEXES.with(|cache| {
        let mut cache = cache.borrow_mut();
        let re = cache.entry(source.to_string()).or_insert_with(|| {
            Regex::new(source).unwrap_or_else(|e| panic!("reference: regex {source:?}: {e}"))
        });
        re.is_match(text.as_bytes())
    })
}

// ---------------------------------------------------------------------------------------
// Wildcard patterns
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Atom<T> {
    Unit(T),
    Star,
    One,
    Dash,
}

/// Documented character comparison: equal; or, without `cased`, ASCII letters equal
/// ignoring ASCII case, and non-ASCII characters with equal lowercase mappings. An ASCII
/// character never equals a non-ASCII one.
pub fn chars_equal(p: char, h: char, cased: bool) -> bool {
    if p == h {
        return true;
    }
    if cased {
        return false;
    }
    if p.is_ascii() && h.is_ascii() {
        return p.eq_ignore_ascii_case(&h);
    }
    if !p.is_ascii() && !h.is_ascii() {
        let a: String = p.to_lowercase().collect();
        let b: String = h.to_lowercase().collect();
        return a == b;
    }
    false
}

/// True when the whole of `text` matches the pattern.
pub fn pattern_matches(pattern: &Pattern, cased: bool, text: &str) -> bool {
    let pieces = pattern.pieces();
    let all_utf8 = pieces.iter().all(|p| match p {
        Piece::Literal(b) => std::str::from_utf8(b).is_ok(),
        _ => true,
    });
    if all_utf8 {
        let mut atoms = Vec::new();
        for p in pieces {
            match p {
                Piece::Literal(b) => {
                    atoms.extend(std::str::from_utf8(b).unwrap().chars().map(Atom::Unit))
                }
                Piece::AnyRun => atoms.push(Atom::Star),
                Piece::AnyChar => atoms.push(Atom::One),
                Piece::Dash => atoms.push(Atom::Dash),
            }
        }
        let hay: Vec<char> = text.chars().collect();
        backtrack(
            &atoms,
            &hay,
            &|p: &char, h: &char| chars_equal(*p, *h, cased),
            &|h: &char| DASH_CHARS.contains(h),
        )
    } else {
        // Encoded (non-UTF-8) literals: compare bytes, folding ASCII case unless cased.
        let mut atoms = Vec::new();
        for p in pieces {
            match p {
                Piece::Literal(b) => atoms.extend(b.iter().copied().map(Atom::Unit)),
                Piece::AnyRun => atoms.push(Atom::Star),
                Piece::AnyChar => atoms.push(Atom::One),
                Piece::Dash => atoms.push(Atom::Dash),
            }
        }
        let eq = |p: &u8, h: &u8| {
            if cased {
                p == h
            } else {
                p.eq_ignore_ascii_case(h)
            }
        };
        backtrack(&atoms, text.as_bytes(), &eq, &|_: &u8| false)
    }
}

/// Recursive backtracking match of atoms against the whole haystack, memoised on
/// (atom index, haystack index) so `*` runs stay polynomial.
fn backtrack<T: Copy>(
    atoms: &[Atom<T>],
    hay: &[T],
    eq: &dyn Fn(&T, &T) -> bool,
    dash: &dyn Fn(&T) -> bool,
) -> bool {
    fn go<T: Copy>(
        i: usize,
        j: usize,
        atoms: &[Atom<T>],
        hay: &[T],
        eq: &dyn Fn(&T, &T) -> bool,
        dash: &dyn Fn(&T) -> bool,
        memo: &mut HashMap<(usize, usize), bool>,
    ) -> bool {
        if let Some(&r) = memo.get(&(i, j)) {
            return r;
        }
        let r = if i == atoms.len() {
            j == hay.len()
        } else {
            match atoms[i] {
                Atom::Star => (j..=hay.len()).any(|k| go(i + 1, k, atoms, hay, eq, dash, memo)),
                Atom::One => j < hay.len() && go(i + 1, j + 1, atoms, hay, eq, dash, memo),
                Atom::Dash => {
                    j < hay.len() && dash(&hay[j]) && go(i + 1, j + 1, atoms, hay, eq, dash, memo)
                }
                Atom::Unit(p) => {
                    j < hay.len() && eq(&p, &hay[j]) && go(i + 1, j + 1, atoms, hay, eq, dash, memo)
                }
            }
        };
        memo.insert((i, j), r);
        r
    }
    let mut memo = HashMap::new();
    go(0, 0, atoms, hay, eq, dash, &mut memo)
}
