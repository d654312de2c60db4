//! Events as the matcher sees them: a [`Document`] answers "what are the values of Sigma
//! field F?" and "what are all your values?" (for keyword search), so any event shape can be
//! matched without converting it first.
//!
//! [`json::JsonEvent`] implements it for JSON in every shape shippers produce for Windows
//! events ([`shape`]): evtx_dump, Winlogbeat, NXLog, Vector, Fluent Bit (with positional
//! inserts named by [`inserts`]) and flat Sigma-named JSON.

pub mod inserts;
pub mod json;
pub mod shape;
pub mod tree;
pub mod vocabulary;

pub use vocabulary::Vocabulary;

/// One scalar value of an event field.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

impl Scalar<'_> {
    /// The value as text, the way Sigma compares it (numbers in decimal, booleans as
    /// `true`/`false`). Strings are borrowed; other values are written into `buf`.
    pub fn text<'s>(&'s self, buf: &'s mut String) -> Option<&'s str> {
        use std::fmt::Write;
        buf.clear();
        match self {
            Scalar::Str(s) => return Some(s),
            Scalar::Null => return None,
            Scalar::Bool(b) => buf.push_str(if *b { "true" } else { "false" }),
            Scalar::Int(i) => {
                if *i < 0 {
                    buf.push('-');
                }
                push_decimal(buf, i.unsigned_abs());
            }
            Scalar::UInt(u) => push_decimal(buf, *u),
            Scalar::Float(f) => {
                let _ = write!(buf, "{f}");
            }
        }
        Some(buf.as_str())
    }

    /// The value as a number, when it is one or is text that reads as one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::UInt(u) => Some(*u as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(s) => {
                let t = s.trim();
                if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                    u64::from_str_radix(hex, 16).ok().map(|v| v as f64)
                } else {
                    t.parse::<f64>().ok().filter(|f| f.is_finite())
                }
            }
            _ => None,
        }
    }
}

/// Appends `v` in decimal (event ids and other numbers are formatted on every event:
/// this skips the formatting machinery).
fn push_decimal(buf: &mut String, v: u64) {
    buf.push_str(decimal(v, &mut [0u8; 20]));
}

/// `v` in decimal, written into `digits` (no allocation: this runs per event).
pub(crate) fn decimal(mut v: u64, digits: &mut [u8; 20]) -> &str {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&digits[i..]).expect("ASCII digits")
}

/// An event that can be matched.
pub trait Document {
    /// Calls `visit` for every scalar value of the Sigma field `name` (arrays give one call
    /// per element) and returns whether the field is present (a field present with value
    /// `null` is present and visited as [`Scalar::Null`]).
    fn field(&self, name: &str, visit: &mut dyn FnMut(Scalar<'_>)) -> bool;

    /// [`Document::field`] for the name `vocab.name(id)`, with the same answer. An event
    /// may resolve every name of `vocab` in one pass over its keys on the first call and
    /// answer later calls from that (a matcher asks for a few dozen names per event, the
    /// same vocabulary every time).
    fn field_in(&self, vocab: &Vocabulary, id: u32, visit: &mut dyn FnMut(Scalar<'_>)) -> bool {
        self.field(vocab.name(id), visit)
    }

    /// Calls `visit` for every scalar value in the event (keyword search).
    fn all_values(&self, visit: &mut dyn FnMut(Scalar<'_>));

    /// False when the event cannot tell which fields it has (Fluent Bit inserts without a
    /// template: their names are unknown). The matcher then skips rules that read a field
    /// for which [`Document::knows`] is false, rather than taking it as absent.
    fn is_complete(&self) -> bool {
        true
    }

    /// The event's bytes when every value's text appears in them as is, except that `\`
    /// and `"` are backslash-escaped (JSON without `\u` escapes or non-integer
    /// numbers): a keyword absent from them is absent from every value.
    fn verbatim_text(&self) -> Option<&[u8]> {
        None
    }

    /// Whether the event can tell if field `name` is present (see [`Document::is_complete`]).
    fn knows(&self, _name: &str) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_decimal_text() {
        let mut buf = String::new();
        for (s, want) in [
            (Scalar::Int(0), "0"),
            (Scalar::Int(-7045), "-7045"),
            (Scalar::Int(i64::MIN), "-9223372036854775808"),
            (Scalar::UInt(u64::MAX), "18446744073709551615"),
            (Scalar::Float(1.5), "1.5"),
            (Scalar::Bool(true), "true"),
        ] {
            assert_eq!(s.text(&mut buf), Some(want));
        }
        assert_eq!(Scalar::Null.text(&mut buf), None);
    }
}
