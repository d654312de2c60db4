//! Sound, incomplete implication between rule formulas: `implies(a, b)` answers true only
//! when every event that satisfies `a` satisfies `b` under the matcher's semantics. When it
//! cannot tell, it answers false (so a neighbour may be missed, never invented).
//!
//! Atoms (one field each) imply each other on the same event field:
//!
//! - strings: `L(P) ⊆ L(Q)` for wildcard patterns: equality implies startswith / endswith /
//!   contains of a part of its value, a longer endswith implies a shorter one it ends with,
//!   `contains: abc` implies `contains: b`, any literal run of P found in order in Q's
//!   segments, `*` implies nothing but `*`. Case-sensitive (`cased`) implies
//!   case-insensitive; the reverse only for identical tests. Case-insensitive comparison
//!   folds ASCII letters only and needs Q's literals in ASCII (non-ASCII folding differs
//!   between the matcher's paths, so non-ASCII case-insensitive values imply only
//!   themselves);
//! - numbers and time parts: interval containment (`gt: 10` implies `gte: 5`);
//! - `cidr`: a range implies every range that contains it;
//! - any value test implies `exists: true` and `'*'`; `exists: false` implies `null`;
//! - the event kind's `when` values: a smaller set implies a larger one (narrower
//!   logsource implies wider), `EventID: 7045` in a detection implies a kind's
//!   `EventID: [7045, 7036]`, and the reverse.
//!
//! A value test holds when any value of a field holds it (arrays), so atoms are compared
//! value by value, and a negated atom implies another negated atom by contraposition. The
//! formula rules: `a ⇒ b1 ∧ b2` when `a ⇒` each; `a1 ∨ a2 ⇒ b` when each `⇒ b`;
//! `a1 ∧ a2 ⇒ b` when one of them does; `a ⇒ b1 ∨ b2` when `a ⇒` one of them; at-least-k
//! by counting.

use crate::logsource::WhenValue;
use crate::rule::detection::{CmpOp, Matcher};
use crate::rule::pattern::{Pattern, Piece, Shape};

use super::formula::{Atom, Atoms, Formula};

/// One piece of a pattern prepared for comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Lit(Vec<u8>),
    Star,
    /// `?` or a windash class: exactly one character.
    One,
}

/// What the implication check keeps of a string atom.
#[derive(Clone, Debug)]
struct StrInfo {
    cased: bool,
    /// Pieces with literal bytes as written.
    exact: Vec<Item>,
    /// Pieces with ASCII letters lowercased.
    folded: Vec<Item>,
    /// Only literals and `*`, all ASCII: usable as the implied side under folding.
    simple_ascii: bool,
    /// Only literals and `*`: usable as the implied side case-sensitively.
    simple: bool,
    anything: bool,
}

fn items(p: &Pattern, fold: bool) -> Vec<Item> {
    p.pieces()
        .iter()
        .map(|piece| match piece {
            Piece::Literal(b) => Item::Lit(if fold {
                b.to_ascii_lowercase()
            } else {
                b.clone()
            }),
            Piece::AnyRun => Item::Star,
            Piece::AnyChar | Piece::Dash => Item::One,
        })
        .collect()
}

fn str_info(p: &Pattern, cased: bool) -> StrInfo {
    let simple = p
        .pieces()
        .iter()
        .all(|x| matches!(x, Piece::Literal(_) | Piece::AnyRun));
    let ascii = p.pieces().iter().all(|x| match x {
        Piece::Literal(b) => b.is_ascii(),
        _ => true,
    });
    StrInfo {
        cased,
        exact: items(p, false),
        folded: items(p, true),
        simple_ascii: simple && ascii,
        simple,
        anything: p.shape() == Shape::Anything,
    }
}

/// True when every string matched by `p` is matched by `q`, where `q` has only literals and
/// `*` and both are compared byte for byte (after the same folding).
fn includes(p: &[Item], q: &[Item]) -> bool {
    // Segments of q between its stars.
    let mut segs: Vec<&[u8]> = vec![&[]];
    let mut stars = 0;
    for it in q {
        match it {
            Item::Lit(b) => *segs.last_mut().unwrap() = b,
            Item::Star => {
                stars += 1;
                segs.push(&[]);
            }
            Item::One => return false,
        }
    }
    if stars == 0 {
        // q is an exact literal: p must be the same literal.
        return match p {
            [] => segs[0].is_empty(),
            [Item::Lit(b)] => b.as_slice() == segs[0],
            _ => false,
        };
    }
    let first = segs[0];
    let last = segs[segs.len() - 1];
    let mids = &segs[1..segs.len() - 1];
    // Start: first literal of p begins with `first`.
    let (mut i, mut o) = (0usize, 0usize);
    if !first.is_empty() {
        match p.first() {
            Some(Item::Lit(b)) if b.starts_with(first) => o = first.len(),
            _ => return false,
        }
    }
    // End bound: last literal of p ends with `last`.
    let (ei, eo) = if last.is_empty() {
        (p.len(), 0)
    } else {
        match p.last() {
            Some(Item::Lit(b)) if b.ends_with(last) => (p.len() - 1, b.len() - last.len()),
            _ => return false,
        }
    };
    if ei < i || (ei == i && eo < o) {
        return false;
    }
    for m in mids {
        if m.is_empty() {
            continue;
        }
        let mut found = false;
        while i < p.len() && i <= ei {
            if let Item::Lit(b) = &p[i] {
                let to = if i == ei { eo } else { b.len() };
                if to >= o
                    && let Some(at) = find(&b[o..to], m)
                {
                    o = o + at + m.len();
                    found = true;
                    break;
                }
            }
            i += 1;
            o = 0;
        }
        if !found {
            return false;
        }
    }
    true
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() > hay.len() {
        return None;
    }
    memchr::memmem::find(hay, needle)
}

/// Interval of a comparison: (low, low included, high, high included).
fn interval(op: CmpOp, v: f64) -> (f64, bool, f64, bool) {
    match op {
        CmpOp::Eq => (v, true, v, true),
        CmpOp::Lt => (f64::NEG_INFINITY, false, v, false),
        CmpOp::Lte => (f64::NEG_INFINITY, false, v, true),
        CmpOp::Gt => (v, false, f64::INFINITY, false),
        CmpOp::Gte => (v, true, f64::INFINITY, false),
    }
}

fn interval_within(a: (CmpOp, f64), b: (CmpOp, f64)) -> bool {
    let (alo, ali, ahi, ahi_i) = interval(a.0, a.1);
    let (blo, bli, bhi, bhi_i) = interval(b.0, b.1);
    let low = blo == f64::NEG_INFINITY || alo > blo || (alo == blo && (bli || !ali));
    let high = bhi == f64::INFINITY || ahi < bhi || (ahi == bhi && (bhi_i || !ahi_i));
    low && high
}

/// A value test: holds only on a present, non-null value.
fn is_value_test(m: &Matcher) -> bool {
    matches!(
        m,
        Matcher::Str { .. }
            | Matcher::Regex { .. }
            | Matcher::Compare { .. }
            | Matcher::Time { .. }
            | Matcher::Cidr(_)
            | Matcher::FieldRef { .. }
    )
}

/// Text values a number-like or boolean scalar may render as: such a literal may match a
/// JSON number or boolean, which the channel index does not look up.
fn scalar_like(text: &[u8]) -> bool {
    let t = String::from_utf8_lossy(text).to_ascii_lowercase();
    t.parse::<f64>().is_ok() || matches!(t.as_str(), "true" | "false" | "inf" | "-inf" | "nan")
}

/// True when a non-ASCII character lowercases to an ASCII letter of `t` (KELVIN SIGN to
/// `k`): the selector's `when` test accepts such a character, string folding does not.
fn folds_from_non_ascii(t: &str) -> bool {
    static LETTERS: std::sync::OnceLock<Vec<char>> = std::sync::OnceLock::new();
    let letters = LETTERS.get_or_init(|| {
        let mut v: Vec<char> = (0x80u32..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter_map(|c| {
                let mut l = c.to_lowercase();
                match (l.next(), l.next()) {
                    (Some(x), None) if x.is_ascii() => Some(x),
                    _ => None,
                }
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    });
    t.chars().any(|c| letters.contains(&c))
}

/// A formula prepared for the check: each node knows which fields (as bits of a 64-bit
/// Bloom mask) its literals read, and which fields every event satisfying it makes the
/// other side read, so that hopeless branches are cut without looking at atoms.
#[derive(Clone, Debug)]
pub struct Node {
    kind: NodeKind,
    /// Fields of every literal below.
    has: u64,
    /// Fields the left side must read for this node (on the right) to be implied.
    req: u64,
}

#[derive(Clone, Debug)]
enum NodeKind {
    Lit(bool, u32),
    And(Vec<Node>),
    Or(Vec<Node>),
    AtLeast(usize, Vec<Node>),
}

fn field_bit(field: &str) -> u64 {
    // FNV-1a, folded to one of 64 bits.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in field.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    1u64 << (h % 64)
}

/// What the check keeps of each atom, ready to compare.
#[derive(Clone, Debug, Default)]
pub struct Implication {
    strs: Vec<Option<StrInfo>>,
    bits: Vec<u64>,
}

impl Implication {
    /// Prepares every atom of `atoms`.
    pub fn new(atoms: &Atoms) -> Implication {
        let strs = (0..atoms.len() as u32)
            .map(|i| match atoms.get(i) {
                Atom::Test {
                    matcher: Matcher::Str { pattern, cased },
                    ..
                } => Some(str_info(pattern, *cased)),
                _ => None,
            })
            .collect();
        let bits = (0..atoms.len() as u32)
            .map(|i| field_bit(atoms.get(i).field()))
            .collect();
        Implication { strs, bits }
    }

    /// Prepares a formula whose atoms this check knows.
    pub fn prepare(&self, f: &Formula) -> Node {
        let kids =
            |items: &[Formula]| -> Vec<Node> { items.iter().map(|i| self.prepare(i)).collect() };
        let (kind, has, req) = match f {
            Formula::Lit(p, a) => {
                let b = self.bits[*a as usize];
                (NodeKind::Lit(*p, *a), b, b)
            }
            Formula::And(items) => {
                let k = kids(items);
                let has = k.iter().fold(0, |m, n| m | n.has);
                let req = k.iter().fold(0, |m, n| m | n.req);
                (NodeKind::And(k), has, req)
            }
            Formula::Or(items) | Formula::AtLeast(_, items) => {
                let k = kids(items);
                let has = k.iter().fold(0, |m, n| m | n.has);
                let req = if k.is_empty() || matches!(f, Formula::AtLeast(0, _)) {
                    0
                } else {
                    k.iter().fold(u64::MAX, |m, n| m & n.req)
                };
                match f {
                    Formula::AtLeast(n, _) => (NodeKind::AtLeast(*n, k), has, req),
                    _ => (NodeKind::Or(k), has, req),
                }
            }
        };
        Node { kind, has, req }
    }

    /// Every event satisfying `a` satisfies `b` (sound; false when unsure).
    pub fn implies(&self, atoms: &Atoms, a: &Node, b: &Node) -> bool {
        // Every way of proving b reads fields that a must read too.
        if b.req & !a.has != 0 {
            return false;
        }
        if let NodeKind::And(bs) = &b.kind {
            return bs.iter().all(|x| self.implies(atoms, a, x));
        }
        if let NodeKind::Or(as_) = &a.kind {
            return as_.iter().all(|x| self.implies(atoms, x, b));
        }
        if let NodeKind::AtLeast(k, as_) = &a.kind {
            // At least k of n hold: any n - k + 1 of them include one that holds.
            let need = (as_.len() + 1).saturating_sub(*k);
            let mut got = 0;
            for x in as_ {
                if got >= need {
                    break;
                }
                if self.implies(atoms, x, b) {
                    got += 1;
                }
            }
            if got >= need {
                return true;
            }
        }
        match &b.kind {
            NodeKind::Or(bs) if bs.iter().any(|x| self.implies(atoms, a, x)) => {
                return true;
            }
            NodeKind::AtLeast(k, bs) => {
                let mut got = 0;
                for x in bs {
                    if got >= *k {
                        break;
                    }
                    if self.implies(atoms, a, x) {
                        got += 1;
                    }
                }
                if got >= *k {
                    return true;
                }
            }
            _ => {}
        }
        if let NodeKind::And(as_) = &a.kind
            && as_.iter().any(|x| self.implies(atoms, x, b))
        {
            return true;
        }
        match (&a.kind, &b.kind) {
            (NodeKind::Lit(pa, x), NodeKind::Lit(pb, y)) => self.literal(atoms, *pa, *x, *pb, *y),
            _ => false,
        }
    }

    /// Literal implication.
    pub fn literal(&self, atoms: &Atoms, pa: bool, a: u32, pb: bool, b: u32) -> bool {
        match (pa, pb) {
            (true, true) => self.atom(atoms, a, b),
            (false, false) => self.atom(atoms, b, a),
            (false, true) => {
                // Absent implies `null`.
                matches!(
                    (atoms.get(a), atoms.get(b)),
                    (
                        Atom::Test { field: fa, matcher: Matcher::Exists(true) },
                        Atom::Test { field: fb, matcher: Matcher::Null },
                    ) if fa == fb && !fa.is_empty()
                )
            }
            (true, false) => false,
        }
    }

    /// Atom implication: every event satisfying atom `a` satisfies atom `b`.
    pub fn atom(&self, atoms: &Atoms, a: u32, b: u32) -> bool {
        if a == b {
            return true;
        }
        if self.bits[a as usize] != self.bits[b as usize] {
            return false;
        }
        match (atoms.get(a), atoms.get(b)) {
            (
                Atom::Test {
                    field: fa,
                    matcher: ma,
                },
                Atom::Test {
                    field: fb,
                    matcher: mb,
                },
            ) if fa == fb => self.matcher(fa, a, ma, b, mb),
            (
                Atom::When {
                    field: fa,
                    values: va,
                },
                Atom::When {
                    field: fb,
                    values: vb,
                },
            ) if fa == fb => vb.contains(&WhenValue::Present) || va.iter().all(|v| vb.contains(v)),
            (
                Atom::When {
                    field: fa,
                    values: va,
                },
                Atom::Test {
                    field: fb,
                    matcher: mb,
                },
            ) if fa == fb => self.when_implies_test(va, b, mb),
            (
                Atom::Test {
                    field: fa,
                    matcher: ma,
                },
                Atom::When {
                    field: fb,
                    values: vb,
                },
            ) if fa == fb => self.test_implies_when(fa, a, ma, vb),
            _ => false,
        }
    }

    fn matcher(&self, field: &str, a: u32, ma: &Matcher, b: u32, mb: &Matcher) -> bool {
        // Atoms are interned: different ids on one field are different tests.
        let keyword = field.is_empty();
        match mb {
            Matcher::Exists(true) if !keyword => {
                return is_value_test(ma) || matches!(ma, Matcher::Exists(true));
            }
            Matcher::Str { .. } if self.strs[b as usize].as_ref().unwrap().anything => {
                return is_value_test(ma);
            }
            _ => {}
        }
        match (ma, mb) {
            (Matcher::Str { .. }, Matcher::Str { .. }) => {
                let p = self.strs[a as usize].as_ref().unwrap();
                let q = self.strs[b as usize].as_ref().unwrap();
                self.str_implies(p, q)
            }
            (Matcher::Compare { op: oa, value: va }, Matcher::Compare { op: ob, value: vb }) => {
                interval_within((*oa, *va), (*ob, *vb))
            }
            (
                Matcher::Time {
                    part: pa,
                    op: oa,
                    value: va,
                },
                Matcher::Time {
                    part: pb,
                    op: ob,
                    value: vb,
                },
            ) => pa == pb && interval_within((*oa, *va), (*ob, *vb)),
            (Matcher::Cidr(ca), Matcher::Cidr(cb)) => {
                ca.network.is_ipv4() == cb.network.is_ipv4()
                    && ca.prefix >= cb.prefix
                    && cb.contains(&ca.network)
            }
            _ => false,
        }
    }

    /// For a string atom on the implied side: a folded literal that every atom implying it
    /// contains in one of its literal pieces (its longest piece), if it has one.
    pub fn anchor_token(&self, atom: u32) -> Option<Vec<u8>> {
        let q = self.strs[atom as usize].as_ref()?;
        q.folded
            .iter()
            .filter_map(|i| match i {
                Item::Lit(b) if !b.is_empty() => Some(b.clone()),
                _ => None,
            })
            .max_by_key(|b| b.len())
    }

    /// For an atom on the implying side: the folded texts an anchor token may be found in.
    pub fn texts(&self, atoms: &Atoms, atom: u32) -> Vec<Vec<u8>> {
        match (&self.strs[atom as usize], atoms.get(atom)) {
            (Some(p), _) => p
                .folded
                .iter()
                .filter_map(|i| match i {
                    Item::Lit(b) => Some(b.clone()),
                    _ => None,
                })
                .collect(),
            (None, Atom::When { values, .. }) => values
                .iter()
                .filter_map(|v| match v {
                    WhenValue::Text(t) => Some(t.as_bytes().to_ascii_lowercase()),
                    WhenValue::Present => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    fn str_implies(&self, p: &StrInfo, q: &StrInfo) -> bool {
        if q.cased {
            p.cased && q.simple && includes(&p.exact, &q.exact)
        } else {
            q.simple_ascii && includes(&p.folded, &q.folded)
        }
    }

    fn when_implies_test(&self, va: &[WhenValue], b: u32, mb: &Matcher) -> bool {
        match mb {
            Matcher::Exists(true) => true,
            Matcher::Str { cased: false, .. } => {
                let q = self.strs[b as usize].as_ref().unwrap();
                if q.anything {
                    return true;
                }
                q.simple_ascii
                    && va.iter().all(|v| match v {
                        // The selector compares ASCII text case-insensitively, as folding does.
                        WhenValue::Text(t) if t.is_ascii() && !folds_from_non_ascii(t) => {
                            includes(&[Item::Lit(t.as_bytes().to_vec())], &q.folded)
                        }
                        _ => false,
                    })
            }
            _ => false,
        }
    }

    fn test_implies_when(&self, field: &str, a: u32, ma: &Matcher, vb: &[WhenValue]) -> bool {
        if vb.contains(&WhenValue::Present) {
            return is_value_test(ma);
        }
        let Matcher::Str { pattern, .. } = ma else {
            return false;
        };
        let _ = self.strs[a as usize].as_ref();
        match pattern.shape() {
            Shape::Exact(l) if l.is_ascii() && !l.is_empty() => {
                // Channels are looked up as strings only: a literal that a number or boolean
                // could render as might match a value the index never sees.
                if field == "Channel" && scalar_like(l) {
                    return false;
                }
                let lower = String::from_utf8_lossy(&l.to_ascii_lowercase()).into_owned();
                vb.contains(&WhenValue::Text(lower))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Item {
        Item::Lit(s.as_bytes().to_vec())
    }

    fn pat(s: &str) -> Vec<Item> {
        items(&Pattern::parse(s), true)
    }

    #[test]
    fn pattern_inclusion() {
        // equality implies startswith/endswith/contains of its parts
        assert!(includes(&pat("abcdef"), &pat("abc*")));
        assert!(includes(&pat("abcdef"), &pat("*def")));
        assert!(includes(&pat("abcdef"), &pat("*cd*")));
        assert!(includes(&pat("abcdef"), &pat("a*d*f")));
        assert!(!includes(&pat("abcdef"), &pat("*x*")));
        assert!(!includes(&pat("abc"), &pat("abc*d")));
        // prefix and suffix may not overlap in a single literal
        assert!(!includes(&pat("abc"), &pat("ab*bc")));
        assert!(includes(&pat("abbc"), &pat("ab*bc")));
        // longer endswith implies shorter
        assert!(includes(&pat(r"*\psexesvc.exe"), &pat("*.exe")));
        assert!(!includes(&pat("*.exe"), &pat(r"*\psexesvc.exe")));
        // contains implies contains of a substring only
        assert!(includes(&pat("*evil.ps1*"), &pat("*evil*")));
        assert!(!includes(&pat("*evil*"), &pat("*evil.ps1*")));
        // a star implies only a star
        assert!(includes(&pat("*"), &pat("*")));
        assert!(!includes(&pat("*"), &pat("*a*")));
        // `?` in p is a gap a literal of q cannot span
        assert!(!includes(&pat("ab?cd"), &pat("*bc*")));
        assert!(includes(&pat("ab?cd"), &pat("a*d")));
        // q with `?` is never the implied side unless equal
        assert!(!includes(&pat("abc"), &pat("a?c")));
        assert!(includes(&[lit("")], &pat("*")));
        assert!(includes(&[], &pat("*")));
    }

    #[test]
    fn intervals() {
        assert!(interval_within((CmpOp::Gt, 10.0), (CmpOp::Gte, 5.0)));
        assert!(interval_within((CmpOp::Gt, 10.0), (CmpOp::Gte, 10.0)));
        assert!(interval_within((CmpOp::Gte, 10.0), (CmpOp::Gte, 10.0)));
        assert!(!interval_within((CmpOp::Gte, 10.0), (CmpOp::Gt, 10.0)));
        assert!(interval_within((CmpOp::Eq, 3.0), (CmpOp::Lt, 4.0)));
        assert!(!interval_within((CmpOp::Lt, 4.0), (CmpOp::Eq, 3.0)));
        assert!(!interval_within((CmpOp::Lt, 4.0), (CmpOp::Gt, 3.0)));
    }
}
