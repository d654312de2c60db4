//! From one detection key and its YAML values to a [`FieldTest`]: parses the modifier
//! chain, applies the transformation modifiers in the order written, and settles the type
//! of the test (string, regex, number, time, CIDR, existence, field reference).

use serde_yaml::Value;

use super::RuleError;
use super::detection::*;
use super::encoding;
use super::modifier::Modifier;
use super::pattern::Pattern;
use super::placeholders::{ExpandError, Placeholders};

/// Limits on what one value may compile to.
pub const REGEX_NFA_LIMIT: usize = 4 << 20;

/// A YAML scalar as Sigma sees it.
enum Scalar {
    Str(String),
    Num(String),
    Bool(bool),
    Null,
}

fn scalar(v: &Value) -> Option<Scalar> {
    Some(match v {
        Value::String(s) => Scalar::Str(s.clone()),
        Value::Number(n) => Scalar::Num(n.to_string()),
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Null => Scalar::Null,
        Value::Tagged(t) => return scalar(&t.value),
        _ => return None,
    })
}

/// Builds the field test for `key: value`.
pub fn field_test(
    key: &str,
    value: &Value,
    placeholders: &Placeholders,
) -> Result<FieldTest, RuleError> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default().trim();
    let mut mods = Vec::new();
    for name in parts {
        let m = Modifier::parse(name.trim()).ok_or_else(|| RuleError::UnknownModifier {
            key: key.to_string(),
            modifier: name.to_string(),
        })?;
        mods.push(m);
    }
    let raw_values: Vec<&Value> = match value {
        Value::Sequence(seq) => seq.iter().collect(),
        other => vec![other],
    };
    if raw_values.is_empty() {
        return Err(RuleError::BadValue {
            key: key.into(),
            reason: "the value list is empty".into(),
        });
    }
    let keyword = field.is_empty();
    let chain = Chain::new(key, &mods, keyword)?;
    if chain.all && raw_values.len() < 2 {
        return Err(RuleError::ModifierConflict {
            key: key.to_string(),
            reason: "'all' needs a list of two or more values (the specification does not allow it on a single value)".into(),
        });
    }
    if raw_values.len() > 1 && raw_values.iter().any(|v| v.is_null()) {
        return Err(RuleError::BadValue {
            key: key.into(),
            reason: "null cannot be part of a list of values; test it in a selection of its own"
                .into(),
        });
    }
    let mut values = Vec::with_capacity(raw_values.len());
    for raw in raw_values {
        let s = scalar(raw).ok_or_else(|| RuleError::BadValue {
            key: key.into(),
            reason: "values must be strings, numbers, booleans or null (not maps or nested lists)"
                .into(),
        })?;
        values.push(chain.value(s, placeholders)?);
    }
    Ok(FieldTest {
        field: (!keyword).then(|| field.to_string()),
        key: key.to_string(),
        values,
        all: chain.all,
        negated: chain.neq,
    })
}

/// The modifier chain of one key, checked for combinations that make sense.
struct Chain<'a> {
    key: &'a str,
    mods: &'a [Modifier],
    all: bool,
    neq: bool,
    cased: bool,
    expand: bool,
    kind: Kind,
    flags: RegexFlags,
    anchor: Anchor,
    keyword: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    String,
    Regex,
    Compare(CmpOp),
    Time(TimePart, CmpOp),
    Cidr,
    Exists,
    FieldRef,
}

impl<'a> Chain<'a> {
    fn new(key: &'a str, mods: &'a [Modifier], keyword: bool) -> Result<Chain<'a>, RuleError> {
        use Modifier as M;
        let conflict = |reason: String| RuleError::ModifierConflict {
            key: key.to_string(),
            reason,
        };
        let mut c = Chain {
            key,
            mods,
            all: false,
            neq: false,
            cased: false,
            expand: false,
            kind: Kind::String,
            flags: RegexFlags::default(),
            anchor: Anchor::Exact,
            keyword,
        };
        let mut time: Option<TimePart> = None;
        let mut cmp: Option<CmpOp> = None;
        let mut type_mod: Option<Modifier> = None;
        let mut set_type = |m: Modifier, c: &mut Chain| -> Result<(), RuleError> {
            if let Some(prev) = type_mod.replace(m) {
                return Err(conflict(format!(
                    "'{prev}' and '{m}' both set the value's type"
                )));
            }
            c.kind = match m {
                M::Re => Kind::Regex,
                M::Cidr => Kind::Cidr,
                M::Exists => Kind::Exists,
                M::FieldRef => Kind::FieldRef,
                _ => c.kind,
            };
            Ok(())
        };
        for &m in mods {
            match m {
                M::All => c.all = true,
                M::Neq => c.neq = true,
                M::Cased => c.cased = true,
                M::Expand => c.expand = true,
                M::Contains => c.anchor = Anchor::Contains,
                M::StartsWith => {
                    c.anchor = if c.anchor == Anchor::Suffix {
                        Anchor::Contains
                    } else {
                        Anchor::Prefix
                    }
                }
                M::EndsWith => {
                    c.anchor = if c.anchor == Anchor::Prefix {
                        Anchor::Contains
                    } else {
                        Anchor::Suffix
                    }
                }
                M::ReIgnoreCase => c.flags.ignore_case = true,
                M::ReMultiLine => c.flags.multi_line = true,
                M::ReDotAll => c.flags.dot_all = true,
                M::Re | M::Cidr | M::Exists | M::FieldRef => set_type(m, &mut c)?,
                M::Lt | M::Lte | M::Gt | M::Gte => {
                    if let Some(prev) = cmp {
                        return Err(conflict(format!(
                            "two comparisons ('{}' and '{m}')",
                            prev.name()
                        )));
                    }
                    cmp = Some(match m {
                        M::Lt => CmpOp::Lt,
                        M::Lte => CmpOp::Lte,
                        M::Gt => CmpOp::Gt,
                        _ => CmpOp::Gte,
                    });
                }
                M::Minute | M::Hour | M::Day | M::Week | M::Month | M::Year => {
                    if time.is_some() {
                        return Err(conflict("two time modifiers".into()));
                    }
                    time = Some(match m {
                        M::Minute => TimePart::Minute,
                        M::Hour => TimePart::Hour,
                        M::Day => TimePart::Day,
                        M::Week => TimePart::Week,
                        M::Month => TimePart::Month,
                        _ => TimePart::Year,
                    });
                }
                M::Windash | M::Base64 | M::Base64Offset | M::Utf16Le | M::Utf16Be | M::Utf16 => {}
            }
        }
        let has_re_flags = c.flags != RegexFlags::default();
        if has_re_flags && c.kind != Kind::Regex {
            return Err(conflict(
                "the flags 'i', 'm', 's' only apply to 're'".into(),
            ));
        }
        let string_mods = mods.iter().any(|m| {
            matches!(
                m,
                M::Contains
                    | M::StartsWith
                    | M::EndsWith
                    | M::Windash
                    | M::Base64
                    | M::Base64Offset
                    | M::Utf16Le
                    | M::Utf16Be
                    | M::Utf16
            )
        });
        match (time, cmp) {
            (Some(t), op) => {
                if type_mod.is_some() || string_mods {
                    return Err(conflict(
                        "a time modifier only combines with lt/lte/gt/gte".into(),
                    ));
                }
                c.kind = Kind::Time(t, op.unwrap_or(CmpOp::Eq));
            }
            (None, Some(op)) => {
                if type_mod.is_some() || string_mods {
                    return Err(conflict(format!(
                        "'{}' compares numbers and takes no string or type modifier",
                        op.name()
                    )));
                }
                c.kind = Kind::Compare(op);
            }
            (None, None) => {}
        }
        match c.kind {
            Kind::Regex | Kind::Cidr | Kind::Exists if string_mods => {
                return Err(conflict(format!(
                    "'{}' takes the value as it is; string modifiers do not apply",
                    type_mod.map(|m| m.name()).unwrap_or("?")
                )));
            }
            Kind::FieldRef
                if mods.iter().any(|m| {
                    matches!(
                        m,
                        M::Windash
                            | M::Base64
                            | M::Base64Offset
                            | M::Utf16Le
                            | M::Utf16Be
                            | M::Utf16
                    )
                }) =>
            {
                return Err(conflict(
                    "'fieldref' compares field values; encodings do not apply".into(),
                ));
            }
            Kind::Exists if c.neq || c.all => {
                return Err(conflict("'exists' takes a single boolean".into()));
            }
            _ => {}
        }
        if keyword && !matches!(c.kind, Kind::String | Kind::Regex) {
            return Err(conflict(
                "keywords (no field name) only take string and 're' modifiers".into(),
            ));
        }
        Ok(c)
    }

    fn bad(&self, reason: impl Into<String>) -> RuleError {
        RuleError::BadValue {
            key: self.key.to_string(),
            reason: reason.into(),
        }
    }

    fn value(&self, s: Scalar, placeholders: &Placeholders) -> Result<ValueTest, RuleError> {
        match self.kind {
            Kind::Exists => match s {
                Scalar::Bool(b) => Ok(ValueTest {
                    any: vec![Matcher::Exists(b)],
                }),
                _ => Err(self.bad("'exists' needs a boolean: true or false (unquoted)")),
            },
            Kind::Compare(op) => Ok(ValueTest {
                any: vec![Matcher::Compare {
                    op,
                    value: self.number(s)?,
                }],
            }),
            Kind::Time(part, op) => Ok(ValueTest {
                any: vec![Matcher::Time {
                    part,
                    op,
                    value: self.number(s)?,
                }],
            }),
            Kind::Cidr => {
                let text = self.text(s)?;
                let cidr = Cidr::parse(&text).map_err(|e| self.bad(e))?;
                Ok(ValueTest {
                    any: vec![Matcher::Cidr(cidr)],
                })
            }
            Kind::FieldRef => {
                let field = self.text(s)?;
                Ok(ValueTest {
                    any: vec![Matcher::FieldRef {
                        field,
                        anchor: self.anchor,
                        cased: self.cased,
                    }],
                })
            }
            Kind::Regex => {
                let source = self.text(s)?;
                check_regex(&source, self.flags).map_err(|reason| RuleError::Regex {
                    key: self.key.to_string(),
                    reason,
                })?;
                Ok(ValueTest {
                    any: vec![Matcher::Regex {
                        source,
                        flags: self.flags,
                    }],
                })
            }
            Kind::String => self.string_value(s, placeholders),
        }
    }

    fn text(&self, s: Scalar) -> Result<String, RuleError> {
        match s {
            Scalar::Str(t) | Scalar::Num(t) => Ok(t),
            Scalar::Bool(b) => Ok(b.to_string()),
            Scalar::Null => Err(self.bad("null is not allowed here")),
        }
    }

    fn number(&self, s: Scalar) -> Result<f64, RuleError> {
        match s {
            Scalar::Num(t) | Scalar::Str(t) => t
                .trim()
                .parse::<f64>()
                .map_err(|_| self.bad(format!("'{t}' is not a number"))),
            _ => Err(self.bad("a number is needed")),
        }
    }

    fn string_value(&self, s: Scalar, placeholders: &Placeholders) -> Result<ValueTest, RuleError> {
        use Modifier as M;
        let mut patterns: Vec<Pattern> = match s {
            Scalar::Null => {
                if self.mods.iter().any(|m| !matches!(m, M::Neq)) {
                    return Err(self.bad("null cannot take modifiers"));
                }
                return Ok(ValueTest {
                    any: vec![Matcher::Null],
                });
            }
            Scalar::Str(t) if self.expand => placeholders
                .expand(&t)
                .map_err(|e| match e {
                    ExpandError::Missing(placeholder) => RuleError::Placeholder {
                        key: self.key.to_string(),
                        placeholder,
                    },
                    ExpandError::TooMany(n) => RuleError::Limit {
                        limit: "max_values_per_rule",
                        value: format!("'{}' expands to {n} values", self.key),
                    },
                })?
                .iter()
                .map(|v| Pattern::parse(v))
                .collect(),
            Scalar::Str(t) => vec![Pattern::parse(&t)],
            Scalar::Num(t) => vec![Pattern::literal(t.as_bytes())],
            Scalar::Bool(b) => vec![Pattern::literal(b.to_string().as_bytes())],
        };
        let mut encoded = false;
        for &m in self.mods {
            patterns = match m {
                M::Contains => patterns.into_iter().map(Pattern::contains).collect(),
                M::StartsWith => patterns.into_iter().map(Pattern::startswith).collect(),
                M::EndsWith => patterns.into_iter().map(Pattern::endswith).collect(),
                M::Windash => patterns.into_iter().map(Pattern::windash).collect(),
                M::Base64 | M::Base64Offset | M::Utf16Le | M::Utf16Be | M::Utf16 => {
                    encoded = true;
                    let mut out = Vec::new();
                    for p in &patterns {
                        let lit = p.as_literal().ok_or_else(|| {
                            self.bad(format!(
                                "'{m}' cannot encode wildcards; put 'contains' after it"
                            ))
                        })?;
                        let text = || {
                            std::str::from_utf8(lit)
                                .map_err(|_| self.bad(format!("'{m}' needs text")))
                        };
                        match m {
                            M::Base64 => out.push(Pattern::literal(&encoding::base64(lit))),
                            M::Base64Offset => out.extend(
                                encoding::base64_offsets(lit)
                                    .iter()
                                    .map(|v| Pattern::literal(v)),
                            ),
                            M::Utf16Le => out.push(Pattern::literal(&encoding::utf16le(text()?))),
                            M::Utf16Be => out.push(Pattern::literal(&encoding::utf16be(text()?))),
                            _ => out.push(Pattern::literal(&encoding::utf16_bom(text()?))),
                        }
                    }
                    out
                }
                _ => patterns,
            };
        }
        if self.keyword
            && !self
                .mods
                .iter()
                .any(|m| matches!(m, M::StartsWith | M::EndsWith | M::Contains))
        {
            patterns = patterns.into_iter().map(Pattern::contains).collect();
        }
        // Encoded text is case-significant: a Base64 string with other letter cases decodes
        // to other bytes, so matching it case-insensitively would be a false hit.
        let cased = self.cased || encoded;
        Ok(ValueTest {
            any: patterns
                .into_iter()
                .map(|pattern| Matcher::Str { pattern, cased })
                .collect(),
        })
    }
}

/// Checks that a `re` value compiles to a linear-time automaton within the size limit, and
/// returns the reason when not.
pub fn check_regex(source: &str, flags: RegexFlags) -> Result<(), String> {
    pcre_only_construct(source)?;
    let full = regex_source(source, flags);
    let mut parser = regex_syntax::ParserBuilder::new().nest_limit(100).build();
    let hir = parser.parse(&full).map_err(|e| match e {
        regex_syntax::Error::Parse(p) => match p.kind() {
            regex_syntax::ast::ErrorKind::UnsupportedLookAround => {
                "look-around (lookahead/lookbehind) is outside the Sigma regex subset and cannot run in linear time".to_string()
            }
            regex_syntax::ast::ErrorKind::UnsupportedBackreference => {
                "backreferences are outside the Sigma regex subset and cannot run in linear time".to_string()
            }
            kind => format!("{kind} (at column {})", p.span().start.column),
        },
        regex_syntax::Error::Translate(t) => format!("{} (at column {})", t.kind(), t.span().start.column),
        other => other.to_string(),
    })?;
    drop(hir);
    regex_automata::meta::Regex::builder()
        .configure(regex_automata::meta::Config::new().nfa_size_limit(Some(REGEX_NFA_LIMIT)))
        .build(&full)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "too large to compile within {} MiB: {e}",
                REGEX_NFA_LIMIT >> 20
            )
        })
}

/// Rejects PCRE constructs that Rust's regex syntax would otherwise read with another
/// meaning (`a*+` as a repeated repetition, `(?R)` as a flag) or that need backtracking.
fn pcre_only_construct(source: &str) -> Result<(), String> {
    let b = source.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += 2;
                continue;
            }
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'*' | b'+' | b'?' | b'}' if !in_class && b.get(i + 1) == Some(&b'+') => {
                return Err(format!(
                    "possessive quantifier '{}+' at column {} is outside the Sigma regex subset and needs backtracking",
                    b[i] as char,
                    i + 1
                ));
            }
            b'(' if !in_class && b.get(i + 1) == Some(&b'?') => {
                let rest = &source[i + 2..];
                let what = if rest.starts_with('>') {
                    Some("atomic group '(?>'")
                } else if rest.starts_with('R')
                    || rest.starts_with(|c: char| c.is_ascii_digit())
                    || rest.starts_with("P>")
                    || rest.starts_with('&')
                {
                    Some("recursion or subroutine call")
                } else if rest.starts_with('(') {
                    Some("conditional group '(?('")
                } else {
                    None
                };
                if let Some(what) = what {
                    return Err(format!(
                        "{what} at column {} is outside the Sigma regex subset and cannot run in linear time",
                        i + 1
                    ));
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// `source` with PCRE's ASCII meaning of `\d \w \s` and `\b` spelled out for Rust's syntax,
/// which reads them as Unicode classes: PCRE (the flavor the specification names) uses
/// ASCII ones unless UCP is on. `\d` then does not match `٣`, `\w` not `é`, and `\bfoo\b`
/// finds `foo` in `éfooé`. It also keeps the regexes fast: an automaton with a Unicode
/// word boundary gives up on any non-ASCII text and falls back to a slow engine.
///
/// `\B` stays Unicode (an ASCII `\B` could match inside a UTF-8 character, which Rust's
/// syntax refuses). A source that does not parse is returned as is, for the parse that
/// reports it.
fn pcre_ascii_classes(source: &str) -> std::borrow::Cow<'_, str> {
    use regex_syntax::ast::{self, Ast, ClassPerlKind, ClassSetItem};
    if !source.contains('\\') {
        return source.into();
    }
    let Ok(tree) = ast::parse::ParserBuilder::new()
        .nest_limit(100)
        .build()
        .parse(source)
    else {
        return source.into();
    };
    /// Where to splice what: (start, end, replacement).
    struct Spots(Vec<(usize, usize, &'static str)>);
    fn class(c: &ast::ClassPerl, bracketed: bool) -> &'static str {
        // `(?-i:)` around the word class: case folding would add U+212A (K) and U+017F
        // (s) to it, which PCRE's `\w` does not match.
        match (c.kind.clone(), c.negated, bracketed) {
            (ClassPerlKind::Digit, false, false) => "[[:digit:]]",
            (ClassPerlKind::Digit, true, false) => "[[:^digit:]]",
            (ClassPerlKind::Space, false, false) => "[[:space:]]",
            (ClassPerlKind::Space, true, false) => "[[:^space:]]",
            (ClassPerlKind::Word, false, false) => "(?-i:[[:word:]])",
            (ClassPerlKind::Word, true, false) => "(?-i:[[:^word:]])",
            (ClassPerlKind::Digit, false, true) => "[:digit:]",
            (ClassPerlKind::Digit, true, true) => "[:^digit:]",
            (ClassPerlKind::Space, false, true) => "[:space:]",
            (ClassPerlKind::Space, true, true) => "[:^space:]",
            (ClassPerlKind::Word, false, true) => "[:word:]",
            (ClassPerlKind::Word, true, true) => "[:^word:]",
        }
    }
    impl ast::Visitor for Spots {
        type Output = Vec<(usize, usize, &'static str)>;
        type Err = std::convert::Infallible;
        fn finish(self) -> Result<Self::Output, Self::Err> {
            Ok(self.0)
        }
        fn visit_pre(&mut self, node: &Ast) -> Result<(), Self::Err> {
            match node {
                Ast::ClassPerl(c) => {
                    self.0
                        .push((c.span.start.offset, c.span.end.offset, class(c, false)))
                }
                Ast::Assertion(a) if a.kind == ast::AssertionKind::WordBoundary => {
                    self.0
                        .push((a.span.start.offset, a.span.end.offset, r"(?-u:\b)"))
                }
                _ => {}
            }
            Ok(())
        }
        fn visit_class_set_item_pre(&mut self, item: &ClassSetItem) -> Result<(), Self::Err> {
            if let ClassSetItem::Perl(c) = item {
                self.0
                    .push((c.span.start.offset, c.span.end.offset, class(c, true)));
            }
            Ok(())
        }
    }
    let Ok(mut spots) = ast::visit(&tree, Spots(Vec::new()));
    if spots.is_empty() {
        return source.into();
    }
    spots.sort_unstable();
    let mut out = String::with_capacity(source.len() + 8 * spots.len());
    let mut at = 0;
    for (start, end, with) in spots {
        out.push_str(&source[at..start]);
        out.push_str(with);
        at = end;
    }
    out.push_str(&source[at..]);
    out.into()
}

/// The regex text with the flags of a `re` value applied, and PCRE's ASCII meaning of
/// `\d \w \s \b` spelled out (`pcre_ascii_classes`).
pub fn regex_source(source: &str, flags: RegexFlags) -> String {
    let source = pcre_ascii_classes(source);
    let source = source.as_ref();
    let mut f = String::new();
    if flags.ignore_case {
        f.push('i');
    }
    if flags.multi_line {
        f.push('m');
    }
    if flags.dot_all {
        f.push('s');
    }
    if f.is_empty() {
        source.to_string()
    } else {
        format!("(?{f}){source}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_and_word_boundaries_read_as_ascii() {
        for (source, want) in [
            (r"\d+", r"[[:digit:]]+"),
            (r"a\Wb\S", r"a(?-i:[[:^word:]])b[[:^space:]]"),
            (r"[\w.-]+\s", r"[[:word:].-]+[[:space:]]"),
            (r"[^\D\s]", r"[^[:^digit:][:space:]]"),
            (r"\bcmd\b\B", r"(?-u:\b)cmd(?-u:\b)\B"),
            (r"C:\\Windows\.exe", r"C:\\Windows\.exe"),
            (r"no escapes", r"no escapes"),
            (r"(unclosed\d", r"(unclosed\d"),
        ] {
            assert_eq!(pcre_ascii_classes(source), want, "{source}");
        }
        let flags = RegexFlags {
            ignore_case: true,
            ..RegexFlags::default()
        };
        for source in [r"\d+", r"[\w.-]+\W", r"\bx\b\B", r"[^\D\s]"] {
            assert_eq!(check_regex(source, flags), Ok(()), "{source}");
        }
    }

    #[test]
    fn pcre_constructs_with_another_meaning_are_rejected() {
        let f = RegexFlags::default();
        for re in [
            "a*+",
            "(?>ab)",
            "(?R)",
            "a(?1)",
            "(?(1)a|b)",
            "x++",
            "a{2}+",
        ] {
            assert!(check_regex(re, f).is_err(), "{re}");
        }
        for re in [r"a\++", "[*+]", r"\d+\.exe", "(?i)abc", "(a|b)+"] {
            assert!(check_regex(re, f).is_ok(), "{re}");
        }
        assert!(check_regex("(?=a)", f).unwrap_err().contains("linear time"));
        assert!(
            check_regex(r"(a)\1", f)
                .unwrap_err()
                .contains("linear time")
        );
    }
}
