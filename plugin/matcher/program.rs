//! A rule's condition as a small boolean program over predicate results.
//!
//! Predicates are evaluated per field before any program runs (a field value is scanned
//! once for all rules), so a program only reads bits. The compiler writes a condition in
//! postfix ([`Op`]: easy to emit and to analyse for trigger sets); the matcher runs it in
//! prefix ([`Node`], from [`prefix`]), where each group knows its length, so `and` stops at
//! its first false child and `or` at its first true one without reading the rest. Most
//! programs run because one of their predicates fired while another selection of the rule
//! did not: short-circuit skips most of their bit reads, each a likely cache miss in a
//! table of all predicates.
//!
//! [`run`] keeps its own stack of open groups, so a deeply nested condition costs memory,
//! not call depth.

/// One instruction of a postfix program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Push the result of predicate `n`.
    Pred(u32),
    /// Push a constant.
    Const(bool),
    /// Pop one, push its negation.
    Not,
    /// Pop `n`, push whether all hold.
    And(u32),
    /// Pop `n`, push whether any holds.
    Or(u32),
    /// Pop `n`, push whether at least `k` hold.
    AtLeast(u32, u32),
}

/// One node of a prefix program: a group is followed by its children. `len` is the
/// number of nodes of the group's whole subtree, itself included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Pred(u32),
    Const(bool),
    /// The negation of the one subtree that follows.
    Not {
        len: u32,
    },
    And {
        n: u32,
        len: u32,
    },
    Or {
        n: u32,
        len: u32,
    },
    AtLeast {
        k: u32,
        n: u32,
        len: u32,
    },
}

/// The postfix program `ops` (one whole condition) in prefix order. Linear in its length,
/// however deep the nesting.
pub fn prefix(ops: &[Op]) -> Vec<Node> {
    // Per op: its subtree's length, and its children (ops indices) in order.
    let mut len = vec![1u32; ops.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    let mut open: Vec<usize> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let n = match *op {
            Op::Pred(_) | Op::Const(_) => 0,
            Op::Not => 1,
            Op::And(n) | Op::Or(n) | Op::AtLeast(_, n) => n as usize,
        };
        let kids = open.split_off(open.len() - n);
        len[i] += kids.iter().map(|&c| len[c]).sum::<u32>();
        children[i] = kids;
        open.push(i);
    }
    let mut out = Vec::with_capacity(ops.len());
    let mut todo: Vec<usize> = open.pop().into_iter().collect();
    while let Some(i) = todo.pop() {
        let len = len[i];
        out.push(match ops[i] {
            Op::Pred(p) => Node::Pred(p),
            Op::Const(b) => Node::Const(b),
            Op::Not => Node::Not { len },
            Op::And(n) => Node::And { n, len },
            Op::Or(n) => Node::Or { n, len },
            Op::AtLeast(k, n) => Node::AtLeast { k, n, len },
        });
        todo.extend(children[i].iter().rev());
    }
    if out.is_empty() {
        out.push(Node::Const(false));
    }
    out
}

/// An open group while [`run`] evaluates its children.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    kind: Kind,
    /// Children not evaluated yet.
    left: u32,
    /// Children that held (`AtLeast`).
    held: u32,
    k: u32,
    /// Where the group's subtree ends.
    end: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Not,
    And,
    Or,
    AtLeast,
}

impl Frame {
    /// The group's value once it is known from the children so far.
    #[inline]
    fn decided(&self) -> Option<bool> {
        match self.kind {
            Kind::Not => None,
            Kind::And => (self.left == 0).then_some(true),
            Kind::Or => (self.left == 0).then_some(false),
            Kind::AtLeast => {
                if self.held >= self.k {
                    Some(true)
                } else if self.held + self.left < self.k {
                    Some(false)
                } else {
                    None
                }
            }
        }
    }

    /// Takes one child's value; returns the group's value when that decides it.
    #[inline]
    fn take(&mut self, v: bool) -> Option<bool> {
        self.left -= 1;
        match self.kind {
            Kind::Not => Some(!v),
            Kind::And if !v => Some(false),
            Kind::Or if v => Some(true),
            Kind::AtLeast => {
                self.held += u32::from(v);
                self.decided()
            }
            _ => self.decided(),
        }
    }
}

/// Runs the prefix program `nodes` (one whole condition, from [`prefix`]) with
/// short-circuit; `pred` answers predicate results, `frames` is scratch space.
#[inline]
pub fn run(nodes: &[Node], pred: impl Fn(u32) -> bool, frames: &mut Vec<Frame>) -> bool {
    frames.clear();
    let mut i = 0usize;
    loop {
        let (kind, n, k, len) = match nodes[i] {
            Node::Pred(p) => {
                i += 1;
                if let Some(v) = unwind(pred(p), frames, &mut i) {
                    return v;
                }
                continue;
            }
            Node::Const(b) => {
                i += 1;
                if let Some(v) = unwind(b, frames, &mut i) {
                    return v;
                }
                continue;
            }
            Node::Not { len } => (Kind::Not, 1, 0, len),
            // A group of leaves only (a selection's list of values: `len` is its children
            // plus one, so each child is one node): one tight loop over them, no frame.
            Node::And { n, len } | Node::Or { n, len } if len == n + 1 => {
                let leaves = &nodes[i + 1..i + len as usize];
                let v = if matches!(nodes[i], Node::And { .. }) {
                    leaves.iter().all(|c| leaf(c, &pred))
                } else {
                    leaves.iter().any(|c| leaf(c, &pred))
                };
                i += len as usize;
                if let Some(v) = unwind(v, frames, &mut i) {
                    return v;
                }
                continue;
            }
            Node::And { n, len } => (Kind::And, n, 0, len),
            Node::Or { n, len } => (Kind::Or, n, 0, len),
            Node::AtLeast { k, n, len } => (Kind::AtLeast, n, k, len),
        };
        let frame = Frame {
            kind,
            left: n,
            held: 0,
            k,
            end: (i + len as usize) as u32,
        };
        i += 1;
        match frame.decided() {
            // Known before any child (`and` of none, `1 of` nothing): skip them all.
            Some(v) => {
                i = frame.end as usize;
                if let Some(v) = unwind(v, frames, &mut i) {
                    return v;
                }
            }
            None => frames.push(frame),
        }
    }
}

/// The value of a node of length 1 (a child of a group whose length is its number of
/// children plus one): a predicate, a constant, or a group without children.
#[inline(always)]
fn leaf(node: &Node, pred: &impl Fn(u32) -> bool) -> bool {
    match *node {
        Node::Pred(p) => pred(p),
        Node::Const(b) => b,
        Node::And { .. } => true,
        Node::Or { .. } => false,
        Node::AtLeast { k, .. } => k == 0,
        // Never of length 1.
        Node::Not { .. } => false,
    }
}

/// Hands the value `v` of the subtree that ended at `i` to the open groups: each one it
/// decides is closed (`i` jumps past its remaining children) and hands its own value on.
/// Returns the program's value once the outermost group is decided.
#[inline]
fn unwind(mut v: bool, frames: &mut Vec<Frame>, i: &mut usize) -> Option<bool> {
    loop {
        let Some(top) = frames.last_mut() else {
            return Some(v);
        };
        match top.take(v) {
            Some(value) => {
                *i = top.end as usize;
                frames.pop();
                v = value;
            }
            None => return None,
        }
    }
}

/// The predicates that decided a program that holds: those that held in the groups that
/// made it hold (every child of a holding `and`, the holding children of an `or` or an
/// `at least`), never one under a `not` (an absence shows nothing). Nothing when the
/// program does not hold. Two passes over every node, no short-circuit: this explains a
/// match (opt-in `matched_fields`), it is not on the matching path.
pub fn deciding(nodes: &[Node], pred: impl Fn(u32) -> bool, out: &mut Vec<u32>) {
    let len = |i: usize| match nodes[i] {
        Node::Pred(_) | Node::Const(_) => 1,
        Node::Not { len } | Node::And { len, .. } | Node::Or { len, .. } => len as usize,
        Node::AtLeast { len, .. } => len as usize,
    };
    let children = |i: usize| {
        let end = i + len(i);
        let mut c = i + 1;
        std::iter::from_fn(move || {
            (c < end).then(|| {
                let this = c;
                c += len(this);
                this
            })
        })
    };
    // Children come after their group: one backward pass gives every node's value.
    let mut value = vec![false; nodes.len()];
    for i in (0..nodes.len()).rev() {
        value[i] = match nodes[i] {
            Node::Pred(p) => pred(p),
            Node::Const(b) => b,
            Node::Not { .. } => !value[i + 1],
            Node::And { .. } => children(i).all(|c| value[c]),
            Node::Or { .. } => children(i).any(|c| value[c]),
            Node::AtLeast { k, .. } => children(i).filter(|&c| value[c]).count() >= k as usize,
        };
    }
    let mut decides = vec![false; nodes.len()];
    if let Some(root) = decides.first_mut() {
        *root = value[0];
    }
    for i in 0..nodes.len() {
        if !decides[i] {
            continue;
        }
        match nodes[i] {
            Node::Pred(p) => out.push(p),
            Node::Const(_) | Node::Not { .. } => {}
            Node::And { .. } | Node::Or { .. } | Node::AtLeast { .. } => {
                for c in children(i) {
                    decides[c] = value[c];
                }
            }
        }
    }
}

/// Runs the postfix program `ops` with a value stack, every op read: the reference that
/// [`run`] over [`prefix`] is tested against.
#[cfg(test)]
pub fn eval(ops: &[Op], pred: impl Fn(u32) -> bool, stack: &mut Vec<bool>) -> bool {
    stack.clear();
    for op in ops {
        match *op {
            Op::Pred(p) => stack.push(pred(p)),
            Op::Const(b) => stack.push(b),
            Op::Not => {
                let v = stack.pop().unwrap_or(false);
                stack.push(!v);
            }
            Op::And(n) => {
                let at = stack.len() - n as usize;
                let v = stack[at..].iter().all(|b| *b);
                stack.truncate(at);
                stack.push(v);
            }
            Op::Or(n) => {
                let at = stack.len() - n as usize;
                let v = stack[at..].iter().any(|b| *b);
                stack.truncate(at);
                stack.push(v);
            }
            Op::AtLeast(k, n) => {
                let at = stack.len() - n as usize;
                let v = stack[at..].iter().filter(|b| **b).count() >= k as usize;
                stack.truncate(at);
                stack.push(v);
            }
        }
    }
    stack.pop().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_postfix() {
        // (p0 and not p1) or p2
        let p = [
            Op::Pred(0),
            Op::Pred(1),
            Op::Not,
            Op::And(2),
            Op::Pred(2),
            Op::Or(2),
        ];
        let mut stack = Vec::new();
        let run = |bits: [bool; 3], stack: &mut Vec<bool>| eval(&p, |i| bits[i as usize], stack);
        assert!(run([true, false, false], &mut stack));
        assert!(!run([true, true, false], &mut stack));
        assert!(run([false, true, true], &mut stack));
        assert!(!run([false, false, false], &mut stack));
        let two_of = [Op::Pred(0), Op::Pred(1), Op::Pred(2), Op::AtLeast(2, 3)];
        assert!(eval(&two_of, |i| i != 1, &mut stack));
        assert!(!eval(&two_of, |i| i == 1, &mut stack));
    }

    /// A random condition over `preds` predicates, in postfix.
    fn random_program(rng: &mut u64, depth: u32, preds: u32, out: &mut Vec<Op>) {
        let mut next = || {
            *rng ^= *rng << 13;
            *rng ^= *rng >> 7;
            *rng ^= *rng << 17;
            *rng
        };
        let roll = next() % 10;
        if depth == 0 || roll < 3 {
            out.push(match next() % 8 {
                0 => Op::Const(next() % 2 == 0),
                _ => Op::Pred((next() % preds as u64) as u32),
            });
            return;
        }
        if roll == 3 {
            random_program(rng, depth - 1, preds, out);
            out.push(Op::Not);
            return;
        }
        let n = (next() % 5) as u32;
        let k = (next() % 4) as u32;
        let kind = roll % 3;
        for _ in 0..n {
            random_program(rng, depth - 1, preds, out);
        }
        out.push(match kind {
            0 => Op::And(n),
            1 => Op::Or(n),
            _ => Op::AtLeast(k, n),
        });
    }

    #[test]
    fn short_circuit_prefix_agrees_with_postfix() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let (mut stack, mut frames) = (Vec::new(), Vec::new());
        let (mut held, mut total) = (0, 0);
        for round in 0..20_000u32 {
            let mut ops = Vec::new();
            random_program(&mut rng, 1 + round % 6, 6, &mut ops);
            let nodes = prefix(&ops);
            assert_eq!(nodes.len(), ops.len(), "{ops:?}");
            for bits in 0..64u32 {
                let pred = |p: u32| bits & (1 << p) != 0;
                let want = eval(&ops, pred, &mut stack);
                assert_eq!(run(&nodes, pred, &mut frames), want, "{ops:?} {bits:b}");
                held += usize::from(want);
                total += 1;
            }
        }
        // Both outcomes are well represented.
        assert!(
            held > total / 5 && held < total * 4 / 5,
            "{held} of {total}"
        );
    }

    #[test]
    fn deciding_predicates_are_those_that_made_it_hold() {
        // (p0 and not p1) or p2 or (p3 and p4)
        let ops = [
            Op::Pred(0),
            Op::Pred(1),
            Op::Not,
            Op::And(2),
            Op::Pred(2),
            Op::Pred(3),
            Op::Pred(4),
            Op::And(2),
            Op::Or(3),
        ];
        let nodes = prefix(&ops);
        let decided = |bits: u32| {
            let mut out = Vec::new();
            deciding(&nodes, |p| bits & (1 << p) != 0, &mut out);
            out
        };
        assert_eq!(decided(0b00001), [0], "p1 is under `not`");
        assert_eq!(decided(0b01101), [0, 2], "p3 held, but its `and` did not");
        assert_eq!(decided(0b11010), [3, 4]);
        assert!(decided(0b01010).is_empty(), "the program does not hold");
    }

    /// With no `not`, the deciding predicates held, and they alone make the program hold.
    #[test]
    fn deciding_predicates_suffice() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let (mut stack, mut checked) = (Vec::new(), 0);
        for round in 0..5_000u32 {
            let mut ops = Vec::new();
            random_program(&mut rng, 1 + round % 5, 6, &mut ops);
            if ops.contains(&Op::Not) {
                continue;
            }
            let nodes = prefix(&ops);
            for bits in 0..64u32 {
                let holds = |p: u32| bits & (1 << p) != 0;
                let mut out = Vec::new();
                deciding(&nodes, holds, &mut out);
                if !eval(&ops, holds, &mut stack) {
                    assert!(out.is_empty(), "{ops:?} {bits:b}");
                    continue;
                }
                assert!(out.iter().all(|&p| holds(p)), "{ops:?} {bits:b} {out:?}");
                assert!(
                    eval(&ops, |p| out.contains(&p), &mut stack),
                    "{ops:?} {bits:b} {out:?}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn short_circuit_skips_what_cannot_change_the_result() {
        // p0 and (p1 or p2): with p0 false nothing else is read.
        let nodes = prefix(&[Op::Pred(0), Op::Pred(1), Op::Pred(2), Op::Or(2), Op::And(2)]);
        let read = std::cell::RefCell::new(Vec::new());
        let mut frames = Vec::new();
        let pred = |bits: u32| {
            let read = &read;
            move |p: u32| {
                read.borrow_mut().push(p);
                bits & (1 << p) != 0
            }
        };
        assert!(!run(&nodes, pred(0b110), &mut frames));
        assert_eq!(read.take(), [0]);
        assert!(run(&nodes, pred(0b011), &mut frames));
        assert_eq!(read.take(), [0, 1]);
        // A deep chain of `not`s needs no call depth.
        let mut deep = vec![Op::Pred(0)];
        deep.extend(std::iter::repeat_n(Op::Not, 100_001));
        assert!(!run(&prefix(&deep), |_| true, &mut frames));
    }
}
