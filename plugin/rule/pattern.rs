//! Sigma string values as a sequence of pieces: literal bytes, the wildcards `*` and `?`,
//! and the "any dash" class that `windash` introduces.
//!
//! This is the typed form every string modifier works on. Parsing follows the
//! specification's escaping rules (backslash escapes `*`, `?` and itself; a backslash before
//! anything else is a plain backslash). The compiled matcher lowers a pattern to a literal
//! search where it can ([`Shape`]) and to a regular expression otherwise.

/// The five characters `windash` makes interchangeable: `-`, `/`, en dash, em dash,
/// horizontal bar.
pub const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// One piece of a Sigma string value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Piece {
    /// Bytes that must appear as they are (case folding aside).
    Literal(Vec<u8>),
    /// `*`: any run of characters, possibly empty.
    AnyRun,
    /// `?`: exactly one character.
    AnyChar,
    /// One of [`DASHES`] (from `windash`).
    Dash,
}

/// A Sigma string value with wildcards.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pattern {
    pieces: Vec<Piece>,
}

/// How a pattern can be searched for: literal shapes go to Aho-Corasick, the rest to a
/// regular expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shape<'a> {
    /// The whole value equals the literal.
    Exact(&'a [u8]),
    /// The value starts with the literal.
    Prefix(&'a [u8]),
    /// The value ends with the literal.
    Suffix(&'a [u8]),
    /// The literal appears anywhere in the value.
    Contains(&'a [u8]),
    /// Any value at all (`*`).
    Anything,
    /// Needs a regular expression (inner wildcards, `?`, dashes).
    Complex,
}

impl Pattern {
    /// Parses a Sigma string value: `*` and `?` are wildcards, `\*`, `\?`, `\\` escape.
    pub fn parse(text: &str) -> Pattern {
        let mut p = Pattern::default();
        let mut chars = text.chars().peekable();
        let mut buf = [0u8; 4];
        while let Some(c) = chars.next() {
            match c {
                '*' => p.push(Piece::AnyRun),
                '?' => p.push(Piece::AnyChar),
                '\\' => match chars.peek() {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        chars.next();
                        p.push_bytes(n.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => p.push_bytes(b"\\"),
                },
                _ => p.push_bytes(c.encode_utf8(&mut buf).as_bytes()),
            }
        }
        p
    }

    /// A pattern that matches exactly these bytes.
    pub fn literal(bytes: &[u8]) -> Pattern {
        let mut p = Pattern::default();
        p.push_bytes(bytes);
        p
    }

    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    fn push(&mut self, piece: Piece) {
        if piece == Piece::AnyRun && self.pieces.last() == Some(&Piece::AnyRun) {
            return;
        }
        self.pieces.push(piece);
    }

    fn push_bytes(&mut self, bytes: &[u8]) {
        if let Some(Piece::Literal(last)) = self.pieces.last_mut() {
            last.extend_from_slice(bytes);
        } else if !bytes.is_empty() {
            self.pieces.push(Piece::Literal(bytes.to_vec()));
        }
    }

    /// `contains`: a `*` at both ends.
    pub fn contains(mut self) -> Pattern {
        self = self.startswith();
        self.endswith()
    }

    /// `startswith`: a `*` at the end.
    pub fn startswith(mut self) -> Pattern {
        self.push(Piece::AnyRun);
        self
    }

    /// `endswith`: a `*` at the start.
    pub fn endswith(mut self) -> Pattern {
        if self.pieces.first() != Some(&Piece::AnyRun) {
            self.pieces.insert(0, Piece::AnyRun);
        }
        self
    }

    /// `windash`: every dash character in a literal becomes the any-dash class.
    pub fn windash(self) -> Pattern {
        let mut out = Pattern::default();
        for piece in self.pieces {
            match piece {
                Piece::Literal(bytes) => match String::from_utf8(bytes) {
                    Ok(text) => {
                        let mut buf = [0u8; 4];
                        for c in text.chars() {
                            if DASHES.contains(&c) {
                                out.push(Piece::Dash);
                            } else {
                                out.push_bytes(c.encode_utf8(&mut buf).as_bytes());
                            }
                        }
                    }
                    Err(e) => out.push_bytes(e.as_bytes()),
                },
                other => out.push(other),
            }
        }
        out
    }

    /// Every spelling of this pattern with each `windash` dash written as one of
    /// [`DASHES`], so that a pattern whose only non-literal pieces are dashes can be
    /// searched as literals. `None` without dashes, or when there would be more than
    /// `limit` spellings.
    pub fn dash_spellings(&self, limit: usize) -> Option<Vec<Pattern>> {
        let dashes = self.pieces.iter().filter(|p| **p == Piece::Dash).count();
        if dashes == 0 {
            return None;
        }
        if DASHES
            .len()
            .checked_pow(dashes as u32)
            .is_none_or(|n| n > limit)
        {
            return None;
        }
        let mut out = vec![Pattern::default()];
        for piece in &self.pieces {
            match piece {
                Piece::Dash => {
                    out = out
                        .iter()
                        .flat_map(|p| {
                            DASHES.iter().map(|d| {
                                let mut q = p.clone();
                                q.push_bytes(d.encode_utf8(&mut [0u8; 4]).as_bytes());
                                q
                            })
                        })
                        .collect();
                }
                Piece::Literal(b) => out.iter_mut().for_each(|p| p.push_bytes(b)),
                other => out.iter_mut().for_each(|p| p.push(other.clone())),
            }
        }
        Some(out)
    }

    /// The literal bytes when the pattern has no wildcard at all.
    pub fn as_literal(&self) -> Option<&[u8]> {
        match self.pieces.as_slice() {
            [] => Some(b""),
            [Piece::Literal(b)] => Some(b),
            _ => None,
        }
    }

    /// The search shape of this pattern.
    pub fn shape(&self) -> Shape<'_> {
        use Piece::*;
        match self.pieces.as_slice() {
            [] => Shape::Exact(b""),
            [Literal(b)] => Shape::Exact(b),
            [AnyRun] => Shape::Anything,
            [Literal(b), AnyRun] => Shape::Prefix(b),
            [AnyRun, Literal(b)] => Shape::Suffix(b),
            [AnyRun, Literal(b), AnyRun] => Shape::Contains(b),
            _ => Shape::Complex,
        }
    }

    /// A readable rendering for messages and the catalog (wildcards shown as written).
    pub fn display(&self) -> String {
        let mut s = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(b) => {
                    for c in String::from_utf8_lossy(b).chars() {
                        if matches!(c, '*' | '?' | '\\') {
                            s.push('\\');
                        }
                        s.push(c);
                    }
                }
                Piece::AnyRun => s.push('*'),
                Piece::AnyChar => s.push('?'),
                Piece::Dash => s.push_str("[-/–—―]"),
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_follow_the_specification() {
        // Plain backslash: single or double.
        assert_eq!(
            Pattern::parse(r"C:\Windows").as_literal(),
            Some(&br"C:\Windows"[..])
        );
        assert_eq!(
            Pattern::parse(r"C:\\Windows").as_literal(),
            Some(&br"C:\Windows"[..])
        );
        // Escaped wildcard is a plain character.
        assert_eq!(Pattern::parse(r"a\*b").as_literal(), Some(&b"a*b"[..]));
        // Escaped backslash before a wildcard keeps the wildcard.
        assert_eq!(
            Pattern::parse(r"a\\*").pieces(),
            &[Piece::Literal(br"a\".to_vec()), Piece::AnyRun]
        );
        // Three backslashes: a plain backslash and a plain star.
        assert_eq!(Pattern::parse(r"a\\\*").as_literal(), Some(&br"a\*"[..]));
        // Four backslashes: a double backslash.
        assert_eq!(
            Pattern::parse(r"\\\\srv").as_literal(),
            Some(&br"\\srv"[..])
        );
    }

    #[test]
    fn dash_spellings_write_each_dash_every_way() {
        let p = Pattern::parse("* -enc *").contains().windash();
        let spelled = p.dash_spellings(64).expect("one dash: five spellings");
        let want: Vec<String> = DASHES.iter().map(|d| format!(" {d}enc ")).collect();
        let shapes: Vec<Shape<'_>> = spelled.iter().map(Pattern::shape).collect();
        let want: Vec<Shape<'_>> = want.iter().map(|s| Shape::Contains(s.as_bytes())).collect();
        assert_eq!(shapes, want);
        // Two dashes: every pair, in order; anchors and wildcards kept.
        let two = Pattern::parse("-a?/b*")
            .windash()
            .dash_spellings(25)
            .unwrap();
        assert_eq!(two.len(), 25);
        assert_eq!(two[0].display(), "-a?-b*");
        assert_eq!(two[6].display(), "/a?/b*");
        assert_eq!(two[24].display(), "―a?―b*");
        // Past the limit, or without dashes: none.
        assert!(
            Pattern::parse("-a-b-c")
                .windash()
                .dash_spellings(64)
                .is_none()
        );
        assert!(Pattern::parse("abc").windash().dash_spellings(64).is_none());
    }

    #[test]
    fn shapes() {
        assert_eq!(Pattern::parse("abc").shape(), Shape::Exact(b"abc"));
        assert_eq!(Pattern::parse("abc*").shape(), Shape::Prefix(b"abc"));
        assert_eq!(Pattern::parse("*abc").shape(), Shape::Suffix(b"abc"));
        assert_eq!(Pattern::parse("*abc*").shape(), Shape::Contains(b"abc"));
        assert_eq!(
            Pattern::parse("abc").contains().shape(),
            Shape::Contains(b"abc")
        );
        assert_eq!(Pattern::parse("*").contains().shape(), Shape::Anything);
        assert_eq!(Pattern::parse("a?c").shape(), Shape::Complex);
        assert_eq!(Pattern::parse("a*c").shape(), Shape::Complex);
        assert_eq!(Pattern::parse("").shape(), Shape::Exact(b""));
    }

    #[test]
    fn windash_replaces_every_dash() {
        let p = Pattern::parse("-a /b").windash();
        assert_eq!(
            p.pieces(),
            &[
                Piece::Dash,
                Piece::Literal(b"a ".to_vec()),
                Piece::Dash,
                Piece::Literal(b"b".to_vec())
            ]
        );
    }
}
