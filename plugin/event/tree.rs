//! A JSON tree laid out flat, borrowed from the event's bytes: the cheapest structure
//! that still lets a field be found by walking names.
//!
//! Parsing writes one 16-byte slot per value (and per object key) into a single vector,
//! in document order; a container's slot records where its subtree ends, so siblings are
//! skipped without reading their insides. Strings without escapes are not copied: a slot
//! points into the input. Strings with escapes (every Windows path, in JSON) are
//! unescaped into one arena string. Numbers keep their text and are converted when read.
//! A line therefore costs two allocations at most, whatever its size, where a DOM costs
//! one per object and one per escaped string.
//!
//! The parser accepts exactly the JSON that `serde_json` accepts (RFC 8259: no trailing
//! commas, no comments, no lone surrogates, no numbers out of `f64` range, nesting below
//! 128 levels), so a line that one rejects the other rejects too; a property test holds
//! the two together.
//!
//! [`Tree::parse_lenient`] is the second try for a line that fails only on a token an
//! attacker can put in one field to hide the whole event from every rule: invalid UTF-8
//! and lone surrogates read as U+FFFD, numbers out of range as infinity (their text is
//! kept), nesting up to [`LENIENT_MAX_DEPTH`]. Syntax errors fail there too.

use std::borrow::Cow;
use std::fmt;

use super::Scalar;

/// Why a line is not JSON.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset where parsing stopped.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Nesting depth at which parsing fails, as in `serde_json`.
const MAX_DEPTH: usize = 128;

/// Nesting depth at which lenient parsing fails (the tree's readers recurse by depth).
pub const LENIENT_MAX_DEPTH: usize = 1024;

/// The reasons [`Tree::parse`] gives that [`Tree::parse_lenient`] reads past.
pub const LENIENT_REASONS: [&str; 5] = [
    "invalid UTF-8",
    "lone leading surrogate in hex escape",
    "lone trailing surrogate in hex escape",
    "number out of range",
    "recursion limit exceeded",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tag {
    Null,
    True,
    False,
    /// A number: `a..a+b` is its text in the input.
    Num,
    /// A string in the input at `a..a+b`.
    Str,
    /// An unescaped string in the arena at `a..a+b`.
    Esc,
    /// An array of `a` items.
    Arr,
    /// An object of `a` members (each a key slot followed by the value's slots).
    Obj,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    tag: Tag,
    a: u32,
    b: u32,
    /// Index of the slot after this value's subtree.
    end: u32,
}

/// A parsed JSON value.
#[derive(Clone, Debug)]
pub struct Tree<'a> {
    src: Cow<'a, str>,
    arena: String,
    slots: Vec<Slot>,
    /// Every string and number reads as written in `src`, but for `\\` and `\"`.
    verbatim: bool,
}

thread_local! {
    /// The buffers of the last tree dropped on this thread, for the next parse: a thread
    /// parsing one event after another allocates nothing once they have grown.
    static POOL: std::cell::Cell<(Vec<Slot>, String)> = const {
        std::cell::Cell::new((Vec::new(), String::new()))
    };
    /// The parser's stack of open containers, likewise.
    static STACK: std::cell::Cell<Vec<Open>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Drop for Tree<'_> {
    fn drop(&mut self) {
        let slots = std::mem::take(&mut self.slots);
        let arena = std::mem::take(&mut self.arena);
        // Keep modest buffers only: one huge event must not pin its memory.
        if slots.capacity() <= 1 << 16 && arena.capacity() <= 1 << 20 {
            let _ = POOL.try_with(|p| p.set((slots, arena)));
        }
    }
}

/// One value of a [`Tree`].
#[derive(Clone, Copy)]
pub struct NodeRef<'t> {
    tree: &'t Tree<'t>,
    i: u32,
}

impl fmt::Debug for NodeRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}", self.to_value())
    }
}

impl<'a> Tree<'a> {
    /// Parses JSON bytes.
    pub fn parse(bytes: &'a [u8]) -> Result<Tree<'a>, ParseError> {
        let src = std::str::from_utf8(bytes).map_err(|e| ParseError {
            offset: e.valid_up_to(),
            reason: "invalid UTF-8",
        })?;
        Tree::parse_str(Cow::Borrowed(src))
    }

    /// Parses JSON bytes leniently (module documentation).
    pub fn parse_lenient(bytes: &'a [u8]) -> Result<Tree<'a>, ParseError> {
        Tree::parse_with(String::from_utf8_lossy(bytes), true)
    }

    /// Parses JSON text that the tree then owns or borrows.
    pub fn parse_str(src: Cow<'a, str>) -> Result<Tree<'a>, ParseError> {
        Tree::parse_with(src, false)
    }

    fn parse_with(src: Cow<'a, str>, lenient: bool) -> Result<Tree<'a>, ParseError> {
        let (mut slots, mut arena) = POOL.with(|p| p.take());
        slots.clear();
        arena.clear();
        let mut p = Parser {
            src: &src,
            s: src.as_bytes(),
            pos: 0,
            arena,
            slots,
            verbatim: !lenient,
            lenient,
        };
        let done = p.document();
        let Parser {
            arena,
            slots,
            verbatim,
            ..
        } = p;
        match done {
            Ok(()) => Ok(Tree {
                src,
                arena,
                slots,
                verbatim,
            }),
            Err(e) => {
                POOL.with(|p| p.set((slots, arena)));
                Err(e)
            }
        }
    }

    /// A tree of a `serde_json::Value` (serialized, then parsed). Fails as parsing would:
    /// a value built in memory can be nested deeper than the parser's limit, or hold a
    /// number that only a later reader would reject.
    pub fn from_value(v: &serde_json::Value) -> Result<Tree<'static>, ParseError> {
        let text = serde_json::to_string(v).map_err(|_| ParseError {
            offset: 0,
            reason: "the value cannot be written as JSON",
        })?;
        Tree::parse_str(Cow::Owned(text))
    }

    /// The top-level value.
    pub fn root(&self) -> NodeRef<'_> {
        NodeRef { tree: self, i: 0 }
    }

    /// The JSON text, when every string and number in it reads as written there, except
    /// that `\` and `"` inside strings are escaped with a backslash (no `\u` or `\/`
    /// escapes, no numbers with a fraction or exponent, whose text is rewritten). A
    /// substring of any value, so escaped, is then a substring of this text: a cheap
    /// necessary condition for a search over every value.
    pub fn verbatim_text(&self) -> Option<&[u8]> {
        self.verbatim.then(|| self.src.as_bytes())
    }

    /// The value with this [`NodeRef::id`].
    pub fn node(&self, id: u32) -> NodeRef<'_> {
        NodeRef { tree: self, i: id }
    }
}

impl<'t> NodeRef<'t> {
    #[inline]
    fn slot(&self) -> Slot {
        self.tree.slots[self.i as usize]
    }

    fn at(&self, i: u32) -> NodeRef<'t> {
        NodeRef { tree: self.tree, i }
    }

    #[inline]
    fn text(&self, s: Slot) -> &'t str {
        let (a, b) = (s.a as usize, s.b as usize);
        match s.tag {
            Tag::Esc => &self.tree.arena[a..a + b],
            _ => &self.tree.src[a..a + b],
        }
    }

    /// The member `key` of an object: the last, if the key repeats, as `serde_json`,
    /// Elasticsearch and most SIEMs read it (an event cannot show rules one value and
    /// the index another).
    #[inline]
    pub fn get(&self, key: &str) -> Option<NodeRef<'t>> {
        let slots = &self.tree.slots[..];
        let s = slots[self.i as usize];
        if s.tag != Tag::Obj {
            return None;
        }
        let mut k = self.i as usize + 1;
        let mut found = None;
        for _ in 0..s.a {
            let ks = slots[k];
            // Lengths first: most keys differ in length.
            if ks.b as usize == key.len() && self.bytes(ks) == key.as_bytes() {
                found = Some(k as u32 + 1);
            }
            k = slots[k + 1].end as usize;
        }
        found.map(|v| self.at(v))
    }

    #[inline]
    fn bytes(&self, s: Slot) -> &'t [u8] {
        let (a, b) = (s.a as usize, s.b as usize);
        match s.tag {
            Tag::Esc => &self.tree.arena.as_bytes()[a..a + b],
            _ => &self.tree.src.as_bytes()[a..a + b],
        }
    }

    /// The bytes of a string (empty for other values): an object key's name, read
    /// without the checks of [`NodeRef::as_str`].
    #[inline]
    pub fn key_bytes(&self) -> &'t [u8] {
        let s = self.slot();
        match s.tag {
            Tag::Str | Tag::Esc => self.bytes(s),
            _ => &[],
        }
    }

    /// The node's id in its tree ([`Tree::node`]). An object member's key is a string
    /// node whose id is one less than its value's.
    pub fn id(&self) -> u32 {
        self.i
    }

    /// The members of an object (none for other values).
    pub fn members(&self) -> Members<'t> {
        let s = self.slot();
        Members {
            node: *self,
            next: self.i + 1,
            left: if s.tag == Tag::Obj { s.a } else { 0 },
        }
    }

    /// The values of an object's members (none for other values): [`NodeRef::members`]
    /// without reading the keys.
    pub fn member_values(&self) -> Items<'t> {
        let s = self.slot();
        Items {
            node: *self,
            next: self.i + 2,
            left: if s.tag == Tag::Obj { s.a } else { 0 },
            skip: 1,
        }
    }

    /// The items of an array (none for other values).
    pub fn items(&self) -> Items<'t> {
        let s = self.slot();
        Items {
            node: *self,
            next: self.i + 1,
            left: if s.tag == Tag::Arr { s.a } else { 0 },
            skip: 0,
        }
    }

    /// The number of items of an array.
    pub fn array_len(&self) -> Option<usize> {
        let s = self.slot();
        (s.tag == Tag::Arr).then_some(s.a as usize)
    }

    /// True for objects.
    pub fn is_object(&self) -> bool {
        self.slot().tag == Tag::Obj
    }

    /// True for arrays.
    pub fn is_array(&self) -> bool {
        self.slot().tag == Tag::Arr
    }

    /// The text of a string.
    pub fn as_str(&self) -> Option<&'t str> {
        let s = self.slot();
        matches!(s.tag, Tag::Str | Tag::Esc).then(|| self.text(s))
    }

    /// A non-negative integer, from a number or a decimal string.
    pub fn as_u64(&self) -> Option<u64> {
        match self.scalar()? {
            Scalar::UInt(u) => Some(u),
            Scalar::Int(i) => u64::try_from(i).ok(),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// The value as a scalar (`None` for arrays and objects). Integers that fit `i64`
    /// read as [`Scalar::Int`], larger ones as [`Scalar::UInt`], others as
    /// [`Scalar::Float`], as `serde_json` reads them.
    pub fn scalar(&self) -> Option<Scalar<'t>> {
        let s = self.slot();
        Some(match s.tag {
            Tag::Null => Scalar::Null,
            Tag::True => Scalar::Bool(true),
            Tag::False => Scalar::Bool(false),
            Tag::Str | Tag::Esc => Scalar::Str(self.text(s)),
            Tag::Num => number(self.text(s)),
            Tag::Arr | Tag::Obj => return None,
        })
    }

    /// Converts to a `serde_json::Value`.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        if self.is_object() {
            return Value::Object(
                self.members()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            );
        }
        if self.is_array() {
            return Value::Array(self.items().map(|v| v.to_value()).collect());
        }
        match self.scalar() {
            Some(Scalar::Bool(b)) => Value::Bool(b),
            Some(Scalar::Int(i)) => Value::from(i),
            Some(Scalar::UInt(u)) => Value::from(u),
            Some(Scalar::Float(f)) => {
                serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
            }
            Some(Scalar::Str(s)) => Value::String(s.to_string()),
            Some(Scalar::Null) | None => Value::Null,
        }
    }
}

/// The number a validated JSON number text denotes.
fn number(t: &str) -> Scalar<'static> {
    if !t.contains(['.', 'e', 'E']) {
        if let Ok(i) = t.parse::<i64>() {
            // serde_json reads `-0` as the float.
            if i == 0 && t.starts_with('-') {
                return Scalar::Float(-0.0);
            }
            return Scalar::Int(i);
        }
        if let Ok(u) = t.parse::<u64>() {
            return Scalar::UInt(u);
        }
    }
    Scalar::Float(t.parse().unwrap_or(f64::NAN))
}

/// Iterator over an object's members.
pub struct Members<'t> {
    node: NodeRef<'t>,
    next: u32,
    left: u32,
}

impl<'t> Iterator for Members<'t> {
    type Item = (&'t str, NodeRef<'t>);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let key = self.node.tree.slots[self.next as usize];
        let value = self.node.at(self.next + 1);
        self.next = value.slot().end;
        Some((self.node.text(key), value))
    }
}

/// Iterator over an array's items.
pub struct Items<'t> {
    node: NodeRef<'t>,
    next: u32,
    left: u32,
    /// Slots between one item's end and the next item: 1 (a key) for member values.
    skip: u32,
}

impl<'t> Iterator for Items<'t> {
    type Item = NodeRef<'t>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.node.at(self.next);
        self.next = item.slot().end + self.skip;
        Some(item)
    }
}

/// Bytes that end a run of plain string characters: quote, backslash, control.
static SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The position of the first quote, backslash or control byte at or after `from`: 16
/// bytes per step with SSE2 (part of every x86_64 CPU), the last few one at a time.
/// Strings are most of an event's bytes, and this was the parser's hottest loop at a
/// table lookup per byte.
#[cfg(target_arch = "x86_64")]
#[inline]
fn next_special(s: &[u8], from: usize) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let mut i = from;
    // SAFETY: SSE2 is in the x86_64 baseline, so the intrinsics are available; each load
    // reads the 16 bytes s[i..i + 16], which the loop condition keeps in bounds, and
    // `_mm_loadu_si128` accepts any alignment.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let last_control = _mm_set1_epi8(0x1f);
        while i + 16 <= s.len() {
            let v = _mm_loadu_si128(s.as_ptr().add(i).cast::<__m128i>());
            // Unsigned v <= 0x1f exactly when min(v, 0x1f) == v.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(v, last_control), v);
            let special = _mm_or_si128(
                _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                control,
            );
            let mask = _mm_movemask_epi8(special) as u32;
            if mask != 0 {
                return Some(i + mask.trailing_zeros() as usize);
            }
            i += 16;
        }
    }
    s[i..]
        .iter()
        .position(|b| SPECIAL[*b as usize])
        .map(|j| i + j)
}

/// The position of the first quote, backslash or control byte at or after `from`. Most
/// strings in an event are short: a table lookup per byte finds their end before a
/// vectorized search would have started; long ones go to `memchr`.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn next_special(s: &[u8], from: usize) -> Option<usize> {
    let short = s.len().min(from + 32);
    if let Some(i) = s[from..short].iter().position(|b| SPECIAL[*b as usize]) {
        return Some(from + i);
    }
    let rest = &s[short..];
    let j = memchr::memchr2(b'"', b'\\', rest)?;
    Some(short + control(&rest[..j]).unwrap_or(j))
}

/// The offset of the first control character (not allowed in JSON strings) in `run`.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn control(run: &[u8]) -> Option<usize> {
    // A branch-free pass the compiler vectorizes; the position only on failure.
    if run.iter().fold(false, |acc, b| acc | (*b < 0x20)) {
        run.iter().position(|b| *b < 0x20)
    } else {
        None
    }
}

struct Parser<'s> {
    src: &'s str,
    s: &'s [u8],
    pos: usize,
    arena: String,
    slots: Vec<Slot>,
    verbatim: bool,
    /// Read past the tokens of [`LENIENT_REASONS`].
    lenient: bool,
}

/// An open container while parsing.
struct Open {
    slot: usize,
    count: u32,
    object: bool,
}

impl Parser<'_> {
    fn err<T>(&self, reason: &'static str) -> Result<T, ParseError> {
        Err(ParseError {
            offset: self.pos,
            reason,
        })
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline]
    fn push(&mut self, tag: Tag, a: usize, b: usize) {
        let end = self.slots.len() as u32 + 1;
        self.slots.push(Slot {
            tag,
            a: a as u32,
            b: b as u32,
            end,
        });
    }

    fn document(&mut self) -> Result<(), ParseError> {
        if self.s.len() >= u32::MAX as usize {
            return self.err("line too long");
        }
        let mut stack = STACK.with(|s| s.take());
        stack.clear();
        let done = self.values(&mut stack);
        if stack.capacity() <= LENIENT_MAX_DEPTH {
            STACK.with(|s| s.set(stack));
        }
        done
    }

    fn values(&mut self, stack: &mut Vec<Open>) -> Result<(), ParseError> {
        self.skip_ws();
        'value: loop {
            // A value starts here.
            match self.s.get(self.pos) {
                Some(b'{' | b'[') => {
                    let max = if self.lenient {
                        LENIENT_MAX_DEPTH
                    } else {
                        MAX_DEPTH
                    };
                    if stack.len() + 1 >= max {
                        return self.err("recursion limit exceeded");
                    }
                    let object = self.s[self.pos] == b'{';
                    let slot = self.slots.len();
                    self.push(if object { Tag::Obj } else { Tag::Arr }, 0, 0);
                    self.pos += 1;
                    self.skip_ws();
                    let close = if object { b'}' } else { b']' };
                    if self.s.get(self.pos) == Some(&close) {
                        self.pos += 1;
                    } else {
                        stack.push(Open {
                            slot,
                            count: 0,
                            object,
                        });
                        if object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                }
                Some(b'"') => self.string()?,
                Some(b't') => self.word(b"true", Tag::True)?,
                Some(b'f') => self.word(b"false", Tag::False)?,
                Some(b'n') => self.word(b"null", Tag::Null)?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                Some(_) => return self.err("expected a value"),
                None => return self.err("unexpected end of input"),
            }
            // A value ended: close containers until one continues.
            loop {
                let Some(open) = stack.last_mut() else {
                    self.skip_ws();
                    if self.pos != self.s.len() {
                        return self.err("trailing characters");
                    }
                    return Ok(());
                };
                open.count += 1;
                self.skip_ws();
                let close = if open.object { b'}' } else { b']' };
                match self.s.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        self.skip_ws();
                        if open.object {
                            self.key()?;
                        }
                        continue 'value;
                    }
                    Some(&b) if b == close => {
                        self.pos += 1;
                        let open = stack.pop().expect("an open container");
                        let end = self.slots.len() as u32;
                        let slot = &mut self.slots[open.slot];
                        slot.a = open.count;
                        slot.end = end;
                    }
                    Some(_) => {
                        return self.err(if open.object {
                            "expected `,` or `}`"
                        } else {
                            "expected `,` or `]`"
                        });
                    }
                    None => return self.err("unexpected end of input"),
                }
            }
        }
    }

    /// An object key and its colon.
    fn key(&mut self) -> Result<(), ParseError> {
        if self.s.get(self.pos) != Some(&b'"') {
            return self.err("expected a string key");
        }
        self.string()?;
        self.skip_ws();
        if self.s.get(self.pos) != Some(&b':') {
            return self.err("expected `:`");
        }
        self.pos += 1;
        self.skip_ws();
        Ok(())
    }

    fn word(&mut self, w: &[u8], tag: Tag) -> Result<(), ParseError> {
        if self.s[self.pos..].starts_with(w) {
            self.pos += w.len();
            self.push(tag, 0, 0);
            Ok(())
        } else {
            self.err("expected a value")
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.s.get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        if self.s[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.s.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("invalid number"),
        }
        let mut float = false;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            float = true;
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            self.pos += 1;
            float = true;
            if let Some(b'+' | b'-') = self.s.get(self.pos) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("invalid number");
            }
        }
        let text = &self.s[start..self.pos];
        self.verbatim &= !float;
        let out_of_range = || {
            std::str::from_utf8(text)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .is_none_or(|f| !f.is_finite())
        };
        // Integers beyond u64 read as floats; only infinity is out of range.
        if (float || text.len() > 19) && !self.lenient && out_of_range() {
            return self.err("number out of range");
        }
        self.push(Tag::Num, start, self.pos - start);
        Ok(())
    }

    /// Moves to the next quote, backslash or control byte of a string: the end of a run
    /// of plain characters.
    #[inline]
    fn run_end(&mut self) -> Result<(), ParseError> {
        match next_special(self.s, self.pos) {
            Some(i) => {
                self.pos = i;
                if self.s[i] < 0x20 {
                    return self.err("control character in string");
                }
                Ok(())
            }
            None => {
                self.pos = self.s.len();
                self.err("unterminated string")
            }
        }
    }

    #[inline]
    fn string(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        let start = self.pos;
        self.run_end()?;
        // Fast path: no escape before the closing quote.
        if self.s[self.pos] == b'"' {
            self.push(Tag::Str, start, self.pos - start);
            self.pos += 1;
            return Ok(());
        }
        self.escaped(start)
    }

    /// The rest of a string with escapes, from the first escape on: unescaped into the
    /// arena.
    #[inline(never)]
    fn escaped(&mut self, start: usize) -> Result<(), ParseError> {
        // Escapes: unescape into the arena.
        let from = self.arena.len();
        let mut seg = start;
        loop {
            // self.pos is at a quote or a backslash; the bytes from seg are plain.
            let src = self.src;
            // Runs end at an ASCII quote or backslash: character boundaries.
            self.arena.push_str(&src[seg..self.pos]);
            if self.s[self.pos] == b'"' {
                self.pos += 1;
                break;
            }
            self.escape()?;
            seg = self.pos;
            self.run_end()?;
        }
        let len = self.arena.len() - from;
        self.push(Tag::Esc, from, len);
        Ok(())
    }

    /// One escape sequence at a backslash.
    fn escape(&mut self) -> Result<(), ParseError> {
        self.pos += 1;
        let c = match self.s.get(self.pos) {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => {
                self.verbatim = false;
                '/'
            }
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.verbatim = false;
                self.pos += 1;
                let hi = self.hex4()?;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    if !self.s[self.pos..].starts_with(b"\\u") {
                        if self.lenient {
                            self.arena.push(char::REPLACEMENT_CHARACTER);
                            return Ok(());
                        }
                        return self.err("lone leading surrogate in hex escape");
                    }
                    self.pos += 2;
                    let lo = self.hex4()?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        if self.lenient {
                            // The first is lone; the second stands for itself.
                            self.arena.push(char::REPLACEMENT_CHARACTER);
                            self.arena
                                .push(char::from_u32(lo).unwrap_or(char::REPLACEMENT_CHARACTER));
                            return Ok(());
                        }
                        return self.err("lone leading surrogate in hex escape");
                    }
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                } else {
                    char::from_u32(hi)
                };
                let c = match c {
                    Some(c) => c,
                    None if self.lenient => char::REPLACEMENT_CHARACTER,
                    None => return self.err("lone trailing surrogate in hex escape"),
                };
                self.arena.push(c);
                return Ok(());
            }
            Some(_) => return self.err("invalid escape"),
            None => return self.err("unterminated string"),
        };
        self.pos += 1;
        self.arena.push(c);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let Some(h) = self.s.get(self.pos..self.pos + 4) else {
            self.pos = self.s.len();
            return self.err("unterminated string");
        };
        let mut v = 0u32;
        for b in h {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => return self.err("invalid escape"),
            };
            v = v * 16 + d as u32;
        }
        self.pos += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_special_finds_the_first_quote_backslash_or_control_byte() {
        let reference = |s: &[u8], from: usize| {
            s[from..]
                .iter()
                .position(|b| SPECIAL[*b as usize])
                .map(|i| from + i)
        };
        let mut checked = 0;
        for len in 0..70 {
            for at in 0..=len {
                for special in [b'"', b'\\', 0u8, 0x1f, b'\n'] {
                    // Plain bytes around, including 0x20, 0x7f and non-ASCII bytes.
                    let mut s: Vec<u8> = (0..len)
                        .map(|i| [b'a', 0x20, 0x7f, 0xc3, 0xff][i % 5])
                        .collect();
                    if at < len {
                        s[at] = special;
                    }
                    for from in [0, at.saturating_sub(1), at, len] {
                        assert_eq!(
                            next_special(&s, from),
                            reference(&s, from),
                            "{s:?} from {from}"
                        );
                        checked += usize::from(at < len && from <= at);
                    }
                }
            }
        }
        assert!(checked > 10_000);
    }

    #[test]
    fn member_values_are_the_values_of_members() {
        let text = r#"{"a":{"x":[1,{"y":2}],"z":"s"},"b":[],"c":null,"d":{"e":{}}}"#;
        let tree = Tree::parse(text.as_bytes()).unwrap();
        let mut objects = vec![tree.root()];
        let mut checked = 0;
        while let Some(o) = objects.pop() {
            let want: Vec<u32> = o.members().map(|(_, v)| v.id()).collect();
            let got: Vec<u32> = o.member_values().map(|v| v.id()).collect();
            assert_eq!(got, want);
            checked += got.len();
            for (_, v) in o.members() {
                objects.push(v);
                objects.extend(v.items());
            }
        }
        assert_eq!(checked, 8);
        assert_eq!(tree.root().get("b").unwrap().member_values().count(), 0);
    }

    #[test]
    fn borrows_plain_strings_and_round_trips() {
        let text = br#"{"a":"plain","b":"esc\"aped \u00e9\ud83d\ude00","c":[1,-2,18446744073709551615,1.5,true,null],"d":{},"e":[]}"#;
        let t = Tree::parse(text).unwrap();
        let root = t.root();
        assert_eq!(root.get("a").unwrap().as_str(), Some("plain"));
        assert_eq!(root.get("b").unwrap().as_str(), Some("esc\"aped é😀"));
        assert_eq!(root.get("c").unwrap().array_len(), Some(6));
        assert_eq!(
            root.get("c").unwrap().items().nth(2).unwrap().scalar(),
            Some(Scalar::UInt(u64::MAX))
        );
        assert!(root.get("d").unwrap().is_object());
        assert!(root.get("zz").is_none());
        let v: serde_json::Value = serde_json::from_slice(text).unwrap();
        assert_eq!(root.to_value(), v);
        assert_eq!(Tree::from_value(&v).unwrap().root().to_value(), v);
    }

    #[test]
    fn rejects_what_serde_json_rejects() {
        for bad in [
            &b"{\"a\":"[..],
            b"{\"a\":1,}",
            b"[1,]",
            b"{'a':1}",
            b"01",
            b"1.",
            b"-",
            b"1e",
            b"1e400",
            b"\"\\ud800\"",
            b"\"\\udc00\"",
            b"\"a\tb\"",
            b"\"\\x\"",
            b"tru",
            b"{} x",
            b"",
            b"\xff",
            b"{\"a\" 1}",
        ] {
            assert!(
                Tree::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert!(
                serde_json::from_slice::<serde_json::Value>(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        for n in [1, 100, 127, 128, 129, 200] {
            let text = deep(n);
            assert_eq!(
                Tree::parse(text.as_bytes()).is_ok(),
                serde_json::from_str::<serde_json::Value>(&text).is_ok(),
                "depth {n}"
            );
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "(\\PC|[\\\\\"\u{0}-\u{1f}\u{7f}-\u{10ffff}]){0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-zA-Z _\\\\\"é#]{0,8}", inner), 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Equal, floats within an ulp or so: serde_json's default float parsing is not
    /// always correctly rounded, Rust's is.
    fn close(a: &serde_json::Value, b: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                x == y || (x - y).abs() <= x.abs().max(y.abs()) * 1e-15
            }
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len() && x.iter().zip(y).all(|(a, b)| close(a, b))
            }
            (Value::Object(x), Value::Object(y)) => {
                x.len() == y.len()
                    && x.iter()
                        .zip(y)
                        .all(|((ka, a), (kb, b))| ka == kb && close(a, b))
            }
            _ => a == b,
        }
    }

    proptest! {
        /// Whatever serde_json writes, the tree reads back as the same value.
        #[test]
        fn reads_what_serde_json_writes(v in json(), pretty in any::<bool>()) {
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            };
            let tree = Tree::parse(text.as_bytes()).unwrap();
            prop_assert_eq!(tree.root().to_value(), v);
        }

        /// On damaged JSON the tree accepts exactly what serde_json accepts, and reads
        /// the same value.
        #[test]
        fn accepts_what_serde_json_accepts(
            v in json(),
            cut in any::<prop::sample::Index>(),
            byte in prop::sample::select(b"{}[]:,\"\\ 0-eE.tfnu".to_vec()),
            how in 0..3u8,
        ) {
            let mut bytes = serde_json::to_vec(&v).unwrap();
            let i = cut.index(bytes.len() + 1);
            match how {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => { bytes.remove(i); }
                _ => bytes.truncate(i),
            }
            let ours = Tree::parse(&bytes);
            let theirs = serde_json::from_slice::<serde_json::Value>(&bytes);
            prop_assert_eq!(ours.is_ok(), theirs.is_ok(), "{}", String::from_utf8_lossy(&bytes));
            if let (Ok(t), Ok(v)) = (ours, theirs) {
                let got = t.root().to_value();
                prop_assert!(close(&got, &v), "{} != {}", got, v);
            }
        }
    }

    #[test]
    fn lenient_parsing_reads_past_the_tokens_that_would_hide_an_event() {
        for (line, field, want) in [
            (&br#"{"a":"x\ud800y","b":"evil"}"#[..], "a", "x\u{fffd}y"),
            (br#"{"a":"\udc00","b":"evil"}"#, "a", "\u{fffd}"),
            (br#"{"a":"\ud800\u0041","b":"evil"}"#, "a", "\u{fffd}A"),
            (
                b"{\"a\":\"\xff\xfe\",\"b\":\"evil\"}",
                "a",
                "\u{fffd}\u{fffd}",
            ),
        ] {
            assert!(Tree::parse(line).is_err());
            let reason = Tree::parse(line).unwrap_err().reason;
            assert!(LENIENT_REASONS.contains(&reason), "{reason}");
            let t = Tree::parse_lenient(line).unwrap();
            assert_eq!(t.root().get(field).unwrap().as_str(), Some(want));
            assert_eq!(t.root().get("b").unwrap().as_str(), Some("evil"));
        }
        let t = Tree::parse_lenient(br#"{"n":1e999,"b":"evil"}"#).unwrap();
        assert_eq!(
            t.root().get("n").unwrap().scalar(),
            Some(Scalar::Float(f64::INFINITY))
        );
        let deep = format!(
            "{{\"b\":\"evil\",\"d\":{}1{}}}",
            "[".repeat(500),
            "]".repeat(500)
        );
        assert_eq!(
            Tree::parse(deep.as_bytes()).unwrap_err().reason,
            "recursion limit exceeded"
        );
        let t = Tree::parse_lenient(deep.as_bytes()).unwrap();
        assert_eq!(t.root().get("b").unwrap().as_str(), Some("evil"));
        let deeper = format!("{}1{}", "[".repeat(2000), "]".repeat(2000));
        assert!(Tree::parse_lenient(deeper.as_bytes()).is_err());
        assert!(
            Tree::parse_lenient(br#"{"a":1,}"#).is_err(),
            "syntax errors stay errors"
        );
    }
}
