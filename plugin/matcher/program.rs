//! A rule's condition as a small postfix boolean program over predicate results.
//!
//! Predicates are evaluated per field before any program runs (a field value is scanned
//! once for all rules), so a program only reads bits: no short-circuit is needed and the
//! cost is one pass over a few ops.

/// One instruction.
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

/// Runs the program `ops` (the matcher keeps all programs in one array, end to end);
/// `pred` answers predicate results, `stack` is scratch space.
#[inline]
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
}
