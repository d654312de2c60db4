//! A set of small integers that lives for one event: which predicates fired, which rule
//! variants were evaluated.
//!
//! Tests hit ids spread over tens of thousands of predicates, so the set is a bitset
//! (n / 8 bytes: it stays in cache, where a stamp per id would be 4n bytes) plus the list
//! of members, which both drives the evaluation and clears the set in time proportional
//! to the members instead of n.

/// Members of `0..n`.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    bits: Vec<u64>,
    members: Vec<u32>,
}

impl Marks {
    /// An empty set of ids below `n`.
    pub fn new(n: usize) -> Marks {
        Marks {
            bits: vec![0; n.div_ceil(64)],
            members: Vec::new(),
        }
    }

    /// Adds `id`; true when it was not a member yet.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
        let w = &mut self.bits[word];
        if *w & bit != 0 {
            return false;
        }
        *w |= bit;
        self.members.push(id);
        true
    }

    /// True when `id` is a member.
    #[inline]
    pub fn contains(&self, id: u32) -> bool {
        self.bits[id as usize / 64] & (1u64 << (id % 64)) != 0
    }

    /// The members, in insertion order.
    #[inline]
    pub fn members(&self) -> &[u32] {
        &self.members
    }

    /// Removes every member.
    pub fn clear(&mut self) {
        for &id in &self.members {
            self.bits[id as usize / 64] = 0;
        }
        self.members.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_once_and_clears_what_it_holds() {
        let mut m = Marks::new(200);
        assert!(m.insert(3) && m.insert(64) && m.insert(199));
        assert!(!m.insert(64), "a second insert is not new");
        assert!(m.contains(3) && m.contains(199) && !m.contains(4) && !m.contains(65));
        assert_eq!(m.members(), [3, 64, 199]);
        m.clear();
        assert!(m.members().is_empty());
        assert!((0..200).all(|i| !m.contains(i)));
        assert!(m.insert(64));
    }
}
