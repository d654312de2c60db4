//! The condition grammar: `and`, `or`, `not`, parentheses, `1 of` / `all of` / `N of` over
//! `them` or identifier patterns.
//!
//! Precedence, least to most binding, as the specification orders it: `or`, `and`, `not`,
//! `x of`, parentheses. Parsing gives a [`Condition`] that keeps the rule's words (for the
//! catalog); [`Condition::resolve`] turns it into an [`Expr`] over search-identifier indices,
//! expanding patterns and `them` (which skips identifiers starting with `_`).

use std::fmt;

/// How many of a set of identifiers must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    /// `all of`.
    All,
    /// `N of` (`1 of` is the usual one): at least N.
    AtLeast(usize),
}

/// The identifiers an `x of` ranges over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `them`: every identifier not starting with `_`.
    Them,
    /// A name or a pattern with `*` wildcards.
    Pattern(String),
}

/// A parsed condition, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    Ident(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Of(Quantifier, Target),
}

/// A condition over search identifiers by index, ready to evaluate or compile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Search(usize),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// At least `k` of the expressions hold.
    AtLeast(usize, Vec<Expr>),
}

/// Why a condition cannot be parsed or resolved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    #[error("unexpected end of condition (expected {0})")]
    UnexpectedEnd(&'static str),
    #[error("unexpected '{found}' in condition at column {column} (expected {expected})")]
    Unexpected {
        found: String,
        column: usize,
        expected: &'static str,
    },
    #[error("condition refers to '{0}', which is not a search identifier of this rule")]
    UnknownIdentifier(String),
    #[error("'{0}' in the condition matches no search identifier of this rule")]
    EmptyPattern(String),
    #[error("condition nests deeper than {MAX_DEPTH} parentheses and 'not's (at column {0})")]
    TooDeep(usize),
    #[error(
        "condition uses the aggregation '|' syntax of Sigma 1.0, which is not evaluated (use a correlation rule)"
    )]
    Aggregation,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    All,
    Num(usize),
    Them,
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<(Tok, usize)>, ConditionError> {
    // Sigma 1.0 aggregations: `count(x) by y > n`, `near ...`.
    let lower = text.to_ascii_lowercase();
    if ["count(", "min(", "max(", "avg(", "sum("]
        .iter()
        .any(|a| lower.contains(a))
        || lower.trim_start().starts_with("near ")
    {
        return Err(ConditionError::Aggregation);
    }
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let col = i + 1;
        match c {
            b'(' => {
                out.push((Tok::LParen, col));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, col));
                i += 1;
            }
            b'|' => return Err(ConditionError::Aggregation),
            _ => {
                let start = i;
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !matches!(bytes[i], b'(' | b')' | b'|')
                {
                    i += 1;
                }
                let word = &text[start..i];
                let tok = match word.to_ascii_lowercase().as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "of" => Tok::Of,
                    "all" => Tok::All,
                    "them" => Tok::Them,
                    w if !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) => {
                        Tok::Num(w.parse().unwrap_or(usize::MAX))
                    }
                    _ => Tok::Word(word.to_string()),
                };
                out.push((tok, col));
            }
        }
    }
    Ok(out)
}

/// How deep parentheses and `not`s may nest in a condition. Real rules stay below five;
/// the parser and every later pass over the condition recurse, so a bound keeps a
/// hostile rule from overflowing the stack (it is rejected with a reason instead).
pub const MAX_DEPTH: usize = 64;

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    /// Open parentheses and `not`s around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn unexpected(&self, expected: &'static str) -> ConditionError {
        match self.toks.get(self.pos) {
            None => ConditionError::UnexpectedEnd(expected),
            Some((t, col)) => ConditionError::Unexpected {
                found: tok_text(t),
                column: *col,
                expected,
            },
        }
    }

    fn or(&mut self) -> Result<Condition, ConditionError> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Condition::Or(items)
        })
    }

    fn and(&mut self) -> Result<Condition, ConditionError> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Condition::And(items)
        })
    }

    /// Enters one more level of nesting (a `(` or a `not` at the current token).
    fn deeper(&mut self) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let column = self.toks.get(self.pos).map_or(0, |(_, col)| *col);
            return Err(ConditionError::TooDeep(column));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Condition, ConditionError> {
        if self.peek() == Some(&Tok::Not) {
            self.deeper()?;
            self.pos += 1;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Condition::Not(Box::new(inner)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Condition, ConditionError> {
        let expected = "an identifier, 'not', 'N of', 'all of' or '('";
        let Some(tok) = self.peek().cloned() else {
            return Err(self.unexpected(expected));
        };
        match tok {
            Tok::LParen => {
                self.deeper()?;
                self.pos += 1;
                let inner = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return Err(self.unexpected("')'"));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Tok::All | Tok::Num(_) => {
                self.pos += 1;
                let quant = match tok {
                    Tok::Num(n) if n >= 1 => Quantifier::AtLeast(n),
                    Tok::Num(_) => {
                        self.pos -= 1;
                        return Err(self.unexpected("a count of at least 1"));
                    }
                    _ => Quantifier::All,
                };
                if self.peek() != Some(&Tok::Of) {
                    return Err(self.unexpected("'of'"));
                }
                self.pos += 1;
                let target = match self.peek().cloned() {
                    Some(Tok::Them) => Target::Them,
                    Some(Tok::Word(w)) => Target::Pattern(w),
                    _ => return Err(self.unexpected("'them' or an identifier pattern")),
                };
                self.pos += 1;
                Ok(Condition::Of(quant, target))
            }
            Tok::Word(w) => {
                self.pos += 1;
                Ok(Condition::Ident(w))
            }
            _ => Err(self.unexpected(expected)),
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::And => "and".into(),
        Tok::Or => "or".into(),
        Tok::Not => "not".into(),
        Tok::Of => "of".into(),
        Tok::All => "all".into(),
        Tok::Num(n) => n.to_string(),
        Tok::Them => "them".into(),
        Tok::Word(w) => w.clone(),
    }
}

/// True when `name` matches an identifier pattern where `*` stands for any run.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| go(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && go(rest, &n[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

impl Condition {
    /// Parses one condition string.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let mut p = Parser {
            toks: tokenize(text)?,
            pos: 0,
            depth: 0,
        };
        let c = p.or()?;
        if p.pos != p.toks.len() {
            return Err(p.unexpected("'and', 'or' or the end"));
        }
        Ok(c)
    }

    /// Resolves identifiers against the rule's search identifiers (in definition order).
    pub fn resolve(&self, names: &[String]) -> Result<Expr, ConditionError> {
        Ok(match self {
            Condition::Ident(name) => match names.iter().position(|n| n == name) {
                Some(i) => Expr::Search(i),
                None => return Err(ConditionError::UnknownIdentifier(name.clone())),
            },
            Condition::Not(c) => Expr::Not(Box::new(c.resolve(names)?)),
            Condition::And(cs) => Expr::And(
                cs.iter()
                    .map(|c| c.resolve(names))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Or(cs) => Expr::Or(
                cs.iter()
                    .map(|c| c.resolve(names))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Of(q, target) => {
                let members: Vec<Expr> = names
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| match target {
                        Target::Them => !n.starts_with('_'),
                        Target::Pattern(p) => pattern_matches(p, n),
                    })
                    .map(|(i, _)| Expr::Search(i))
                    .collect();
                if members.is_empty() {
                    let what = match target {
                        Target::Them => "them".to_string(),
                        Target::Pattern(p) => p.clone(),
                    };
                    return Err(ConditionError::EmptyPattern(what));
                }
                match q {
                    Quantifier::All => Expr::And(members),
                    Quantifier::AtLeast(1) => Expr::Or(members),
                    Quantifier::AtLeast(k) => Expr::AtLeast(*k, members),
                }
            }
        })
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join(f: &mut fmt::Formatter<'_>, cs: &[Condition], op: &str) -> fmt::Result {
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    write!(f, " {op} ")?;
                }
                match c {
                    Condition::And(_) | Condition::Or(_) => write!(f, "({c})")?,
                    _ => write!(f, "{c}")?,
                }
            }
            Ok(())
        }
        match self {
            Condition::Ident(n) => f.write_str(n),
            Condition::Not(c) => match **c {
                Condition::And(_) | Condition::Or(_) => write!(f, "not ({c})"),
                _ => write!(f, "not {c}"),
            },
            Condition::And(cs) => join(f, cs, "and"),
            Condition::Or(cs) => join(f, cs, "or"),
            Condition::Of(q, t) => {
                match q {
                    Quantifier::All => f.write_str("all of ")?,
                    Quantifier::AtLeast(n) => write!(f, "{n} of ")?,
                }
                match t {
                    Target::Them => f.write_str("them"),
                    Target::Pattern(p) => f.write_str(p),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(ns: &[&str]) -> Vec<String> {
        ns.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn precedence_or_and_not() {
        let c = Condition::parse("a or b and not c").unwrap();
        assert_eq!(
            c,
            Condition::Or(vec![
                Condition::Ident("a".into()),
                Condition::And(vec![
                    Condition::Ident("b".into()),
                    Condition::Not(Box::new(Condition::Ident("c".into())))
                ])
            ])
        );
        let c = Condition::parse("(a or b) and c").unwrap();
        assert!(matches!(c, Condition::And(_)));
        // `not` binds tighter than `and` but looser than `x of`.
        let c = Condition::parse("not 1 of filter_* and sel").unwrap();
        assert!(matches!(&c, Condition::And(v) if matches!(v[0], Condition::Not(_))));
    }

    #[test]
    fn of_expands_patterns_and_them_skips_underscore() {
        let n = names(&["selection_a", "selection_b", "filter", "_hidden"]);
        let e = Condition::parse("1 of selection_*")
            .unwrap()
            .resolve(&n)
            .unwrap();
        assert_eq!(e, Expr::Or(vec![Expr::Search(0), Expr::Search(1)]));
        let e = Condition::parse("all of them")
            .unwrap()
            .resolve(&n)
            .unwrap();
        assert_eq!(
            e,
            Expr::And(vec![Expr::Search(0), Expr::Search(1), Expr::Search(2)])
        );
        let e = Condition::parse("2 of *").unwrap().resolve(&n).unwrap();
        assert!(matches!(e, Expr::AtLeast(2, ref v) if v.len() == 4));
    }

    #[test]
    fn errors_name_the_problem() {
        let n = names(&["sel"]);
        assert_eq!(
            Condition::parse("sel and missing").unwrap().resolve(&n),
            Err(ConditionError::UnknownIdentifier("missing".into()))
        );
        assert_eq!(
            Condition::parse("1 of filter*").unwrap().resolve(&n),
            Err(ConditionError::EmptyPattern("filter*".into()))
        );
        assert!(matches!(
            Condition::parse("sel and"),
            Err(ConditionError::UnexpectedEnd(_))
        ));
        assert!(matches!(
            Condition::parse("(sel"),
            Err(ConditionError::UnexpectedEnd(_))
        ));
        assert!(matches!(
            Condition::parse("sel sel"),
            Err(ConditionError::Unexpected { .. })
        ));
        assert_eq!(
            Condition::parse("sel | count() > 5"),
            Err(ConditionError::Aggregation)
        );
        assert_eq!(
            Condition::parse("count(x) per y > 200"),
            Err(ConditionError::Aggregation)
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let nested = |n: usize| format!("{}a{}", "(".repeat(n), ")".repeat(n));
        let nots = |n: usize| format!("{}a", "not ".repeat(n));
        assert!(Condition::parse(&nested(MAX_DEPTH)).is_ok());
        assert!(Condition::parse(&nots(MAX_DEPTH)).is_ok());
        assert!(Condition::parse(&format!("not ({})", nested(MAX_DEPTH - 2))).is_ok());
        assert!(Condition::parse(&format!("not ({})", nested(MAX_DEPTH - 1))).is_err());
        for deep in [
            nested(MAX_DEPTH + 1),
            nots(MAX_DEPTH + 1),
            nested(100_000),
            nots(100_000),
        ] {
            let err = Condition::parse(&deep).unwrap_err();
            assert!(matches!(err, ConditionError::TooDeep(_)), "{err}");
        }
        assert_eq!(
            Condition::parse(&nested(65)),
            Err(ConditionError::TooDeep(65))
        );
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "a and not (b or c)",
            "1 of sel* and not all of filter_*",
            "a or b and c",
        ] {
            let c = Condition::parse(text).unwrap();
            assert_eq!(Condition::parse(&c.to_string()).unwrap(), c);
        }
    }
}
