//! The typed detection section: search identifiers made of field tests, each field test a
//! list of value tests built from the YAML values and their modifier chain.
//!
//! Semantics decided here (see docs/semantics.md for the full table):
//! - a map is AND over its keys, a list of maps is OR, a value list is OR (AND with `all`);
//! - `null` holds when the field is absent or null; `''` when it is present and empty;
//!   `exists` tests presence only;
//! - `neq` holds when the field equals none of the values (absent field included), as
//!   pySigma's `not (field = a or field = b)`;
//! - keywords (a field test without a field) search every value of the event for the
//!   keyword anywhere in it (implicit `contains`).

use std::net::IpAddr;

use super::pattern::Pattern;

/// Comparison operators of the numeric and time modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    /// Applies the comparison.
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Lt => left < right,
            CmpOp::Lte => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Gte => left >= right,
        }
    }

    /// The operator as the modifier writes it.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Lt => "lt",
            CmpOp::Lte => "lte",
            CmpOp::Gt => "gt",
            CmpOp::Gte => "gte",
        }
    }
}

/// The part of a timestamp a time modifier extracts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimePart {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

/// Where a field reference's value must appear in the field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A network range for `cidr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub network: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or an IPv6 range; a bare address is a single-host range.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{addr}' is not an IP address"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{p}' is not a prefix length between 0 and {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    /// True when `ip` is inside the range.
    pub fn contains(&self, ip: &IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(self.prefix))
                };
                (u32::from(n) & mask) == (u32::from(*a) & mask)
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(self.prefix))
                };
                (u128::from(n) & mask) == (u128::from(*a) & mask)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Flags of a `re` value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RegexFlags {
    pub ignore_case: bool,
    pub multi_line: bool,
    pub dot_all: bool,
}

/// One test on one field value.
#[derive(Clone, Debug, PartialEq)]
pub enum Matcher {
    /// A Sigma string with wildcards; case-insensitive unless `cased`.
    Str { pattern: Pattern, cased: bool },
    /// `re`: an unanchored regular expression (the spec's PCRE subset and what Rust's
    /// linear-time engines accept of PCRE).
    Regex { source: String, flags: RegexFlags },
    /// `lt`/`lte`/`gt`/`gte`: the value read as a number.
    Compare { op: CmpOp, value: f64 },
    /// A time modifier: the part of the value read as a timestamp, compared.
    Time {
        part: TimePart,
        op: CmpOp,
        value: f64,
    },
    /// `cidr`.
    Cidr(Cidr),
    /// `exists: true/false`.
    Exists(bool),
    /// `null`: absent or null.
    Null,
    /// `fieldref`: the value of another field of the same event.
    FieldRef {
        field: String,
        anchor: Anchor,
        cased: bool,
    },
}

impl Matcher {
    /// True when the test needs the field to be absent or null to hold (so the matcher
    /// must evaluate it even when the field is missing).
    pub fn holds_on_absent(&self) -> bool {
        matches!(self, Matcher::Null | Matcher::Exists(false))
    }

    /// A short text for messages and the catalog: operator and value.
    pub fn describe(&self) -> (String, String) {
        match self {
            Matcher::Str { pattern, cased } => {
                let (op, v) = match pattern.shape() {
                    super::pattern::Shape::Exact(_) => ("equals", pattern.display()),
                    super::pattern::Shape::Prefix(b) => {
                        ("startswith", Pattern::literal(b).display())
                    }
                    super::pattern::Shape::Suffix(b) => ("endswith", Pattern::literal(b).display()),
                    super::pattern::Shape::Contains(b) => {
                        ("contains", Pattern::literal(b).display())
                    }
                    _ => ("matches", pattern.display()),
                };
                (
                    if *cased {
                        format!("{op} (cased)")
                    } else {
                        op.to_string()
                    },
                    v,
                )
            }
            Matcher::Regex { source, flags } => {
                let mut op = "re".to_string();
                for (on, f) in [
                    (flags.ignore_case, "i"),
                    (flags.multi_line, "m"),
                    (flags.dot_all, "s"),
                ] {
                    if on {
                        op.push('|');
                        op.push_str(f);
                    }
                }
                (op, source.clone())
            }
            Matcher::Compare { op, value } => (op.name().to_string(), value.to_string()),
            Matcher::Time { part, op, value } => (
                format!("{part:?}|{}", op.name()).to_lowercase(),
                value.to_string(),
            ),
            Matcher::Cidr(c) => ("cidr".into(), c.to_string()),
            Matcher::Exists(b) => ("exists".into(), b.to_string()),
            Matcher::Null => ("is".into(), "null".into()),
            Matcher::FieldRef { field, anchor, .. } => {
                (format!("fieldref {anchor:?}").to_lowercase(), field.clone())
            }
        }
    }
}

/// One value of a field test; it holds when any of its alternatives holds (a value can
/// expand into several: `base64offset` variants, placeholder values).
#[derive(Clone, Debug, PartialEq)]
pub struct ValueTest {
    pub any: Vec<Matcher>,
}

/// `field|modifiers: values`, or a keyword list when `field` is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldTest {
    /// The Sigma field name; `None` for keywords (search all values of the event).
    pub field: Option<String>,
    /// The key as written, for messages.
    pub key: String,
    pub values: Vec<ValueTest>,
    /// `all`: every value must hold (otherwise any).
    pub all: bool,
    /// `neq`: the test is negated.
    pub negated: bool,
}

/// The body of a search identifier.
#[derive(Clone, Debug, PartialEq)]
pub enum SearchExpr {
    Test(FieldTest),
    /// A map: all entries.
    And(Vec<SearchExpr>),
    /// A list of maps or keywords: any entry.
    Or(Vec<SearchExpr>),
}

impl SearchExpr {
    /// Every field test in this expression.
    pub fn tests(&self) -> Vec<&FieldTest> {
        let mut out = Vec::new();
        fn walk<'a>(e: &'a SearchExpr, out: &mut Vec<&'a FieldTest>) {
            match e {
                SearchExpr::Test(t) => out.push(t),
                SearchExpr::And(v) | SearchExpr::Or(v) => v.iter().for_each(|e| walk(e, out)),
            }
        }
        walk(self, &mut out);
        out
    }
}

/// A named search identifier.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    pub name: String,
    pub expr: SearchExpr,
}

/// The detection section.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    pub searches: Vec<Search>,
    /// The conditions as parsed (a list is OR).
    pub conditions: Vec<super::condition::Condition>,
    /// The resolved condition over `searches` indices.
    pub expr: super::condition::Expr,
}
