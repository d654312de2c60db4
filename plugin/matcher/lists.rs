//! Lists of ids per index (which variants a predicate triggers, which targets a literal
//! pattern has), in one array.
//!
//! A `Vec<Vec<u32>>` costs a pointer chase per lookup into a separate allocation; the
//! matcher reads these lists for every predicate that fires, so they are laid end to end
//! and found through an offset table.

/// `lists[i]` for `i` in `0..len()`.
#[derive(Clone, Debug, Default)]
pub struct Lists {
    /// List `i` is `items[starts[i]..starts[i + 1]]`.
    starts: Vec<u32>,
    items: Vec<u32>,
}

impl Lists {
    /// Lays out `lists`.
    pub fn new(lists: &[Vec<u32>]) -> Lists {
        let mut starts = Vec::with_capacity(lists.len() + 1);
        let mut items = Vec::with_capacity(lists.iter().map(Vec::len).sum());
        for l in lists {
            starts.push(items.len() as u32);
            items.extend_from_slice(l);
        }
        starts.push(items.len() as u32);
        Lists { starts, items }
    }

    /// The number of lists.
    pub fn len(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// True when there is no list.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// List `i` (empty past the end).
    #[inline]
    pub fn get(&self, i: usize) -> &[u32] {
        match self.starts.get(i..i + 2) {
            Some(&[a, b]) => &self.items[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_each_list() {
        let lists = vec![vec![1, 2], vec![], vec![7], vec![3, 4, 5]];
        let laid = Lists::new(&lists);
        for (i, l) in lists.iter().enumerate() {
            assert_eq!(laid.get(i), l.as_slice());
        }
        assert_eq!(laid.len(), 4);
        assert!(laid.get(4).is_empty() && laid.get(99).is_empty());
        assert!(Lists::new(&[]).get(0).is_empty() && Lists::new(&[]).is_empty());
    }
}
