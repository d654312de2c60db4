//! The field names a matcher will ask events for, numbered densely, so an event can
//! resolve all of them in one pass over its own keys ([`super::Document::field_in`]).
//!
//! Locating fields by name costs a hash and a probe per lookup, and an index of every
//! name the event answers to costs an insert per key, most of which no rule reads. With
//! a vocabulary fixed at compile time, an event hashes each of its keys once, keeps the
//! ones the vocabulary holds in a slot per name, and every later lookup is an array read:
//! absent fields (most of those the candidate rules read) included.
//!
//! The table is open addressing over `u64` entries that carry the upper half of the
//! name's hash next to its id, so a key the vocabulary lacks is usually rejected by one
//! read of an 8-byte entry, without comparing text. A few hundred names take a few
//! kilobytes: it stays in L1 while an event is resolved.

use std::sync::atomic::{AtomicU64, Ordering};

/// A fixed set of field names with dense ids (`0..len()`), in the order given.
#[derive(Debug)]
pub struct Vocabulary {
    /// `0` empty; else the upper 32 bits of the name's hash, then its id plus one.
    table: Vec<u64>,
    /// Per id: the name's length and the words its hash is made of ([`Key`]): for names
    /// of up to 16 bytes equal keys mean equal names, so a probe compares no text.
    keys: Vec<Key>,
    /// All names, laid end to end; name `i` is `text[ends[i - 1]..ends[i]]`.
    text: String,
    ends: Vec<u32>,
    /// Per name: whether it holds a `.` (a dotted path, walked when not a name).
    dotted: Vec<bool>,
    /// Every `X` of a name `X_Y`: the elements whose attributes (evtx_dump's
    /// `Provider_Name`) may be asked for. A handful; searched by length first.
    owners: Vec<Box<[u8]>>,
    /// Tells vocabularies apart (an event resolved against one answers only for it).
    token: u64,
}

const HIGH: u64 = !0xFFFF_FFFF;

/// A name's length and its first and last eight bytes (overlapping when shorter than 16;
/// four and four below 8; the first, middle and last byte below 4). Up to 16 bytes these
/// cover every byte, so two names of up to 16 bytes are equal exactly when their keys are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    a: u64,
    b: u64,
    len: usize,
}

/// Names up to this long are compared by their [`Key`] alone.
const KEY_COVERS: usize = 16;

#[inline]
fn name_key(name: &[u8]) -> Key {
    let n = name.len();
    let (a, b) = if n >= 8 {
        (
            u64::from_le_bytes(name[..8].try_into().expect("eight bytes")),
            u64::from_le_bytes(name[n - 8..].try_into().expect("eight bytes")),
        )
    } else if n >= 4 {
        (
            u32::from_le_bytes(name[..4].try_into().expect("four bytes")) as u64,
            u32::from_le_bytes(name[n - 4..].try_into().expect("four bytes")) as u64,
        )
    } else if n > 0 {
        (
            name[0] as u64 | (name[n / 2] as u64) << 8 | (name[n - 1] as u64) << 16,
            0,
        )
    } else {
        (0, 0)
    };
    Key { a, b, len: n }
}

/// The hash of a name: its [`Key`], one multiply. Names longer than 16 bytes that agree
/// on their ends share a hash, which costs a probe, never a wrong answer (the text is
/// compared). Cheaper than hashing every byte, and every key of every event is hashed.
#[inline]
fn key_hash(k: &Key) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let h = (k.a ^ k.b.rotate_left(23) ^ (k.len as u64).rotate_left(50)).wrapping_mul(K);
    h ^ (h >> 29)
}

#[cfg(test)]
fn name_hash(name: &[u8]) -> u64 {
    key_hash(&name_key(name))
}

impl Vocabulary {
    /// The vocabulary of `names` (repeats keep their first id).
    pub fn new<'n>(names: impl IntoIterator<Item = &'n str>) -> Vocabulary {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let mut v = Vocabulary {
            table: Vec::new(),
            keys: Vec::new(),
            text: String::new(),
            ends: Vec::new(),
            dotted: Vec::new(),
            owners: Vec::new(),
            token: NEXT.fetch_add(1, Ordering::Relaxed),
        };
        let names: Vec<&str> = names.into_iter().collect();
        // At most half full: a miss ends at an empty entry within a probe or two.
        let size = (names.len() * 2).next_power_of_two().max(16);
        v.table.resize(size, 0);
        for name in names {
            v.add(name);
        }
        v
    }

    fn add(&mut self, name: &str) {
        let key = name_key(name.as_bytes());
        if let Err(slot) = self.probe(name.as_bytes(), &key) {
            self.keys.push(key);
            self.text.push_str(name);
            self.ends.push(self.text.len() as u32);
            self.dotted.push(name.contains('.'));
            self.table[slot] = (key_hash(&key) & HIGH) | self.ends.len() as u64;
            for (i, _) in name.match_indices('_') {
                let owner = name.as_bytes()[..i].to_vec().into_boxed_slice();
                if !self.owners.contains(&owner) {
                    self.owners.push(owner);
                }
            }
        }
    }

    /// The id of `name`, or the empty entry where it would go.
    #[inline(always)]
    fn probe(&self, name: &[u8], key: &Key) -> Result<u32, usize> {
        let h = key_hash(key);
        let mask = self.table.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let e = self.table[i];
            if e == 0 {
                return Err(i);
            }
            if e & HIGH == h & HIGH {
                let id = (e as u32) - 1;
                if self.keys[id as usize] == *key
                    && (key.len <= KEY_COVERS || self.bytes(id) == name)
                {
                    return Ok(id);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// The id of `name`, if the vocabulary holds it.
    #[inline]
    pub fn id(&self, name: &[u8]) -> Option<u32> {
        self.probe(name, &name_key(name)).ok()
    }

    /// The name with id `id`.
    pub fn name(&self, id: u32) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// [`Vocabulary::name`] as bytes, without the checks of a `str` slice.
    #[inline]
    fn bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text.as_bytes()[start..self.ends[i] as usize]
    }

    /// Whether some name is `key` + `_` + something: an attribute of element `key`.
    #[inline]
    pub fn may_own_attributes(&self, key: &[u8]) -> bool {
        self.owners
            .iter()
            .any(|o| o.len() == key.len() && **o == *key)
    }

    /// Whether name `id` holds a `.`.
    pub fn dotted(&self, id: u32) -> bool {
        self.dotted[id as usize]
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when the vocabulary has no names.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// A number no other vocabulary of this process has.
    pub fn token(&self) -> u64 {
        self.token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_dense_ids_and_others_none() {
        let names: Vec<String> = (0..500)
            .map(|i| format!("Field{i}"))
            .chain(["", "a.b", "Image", "Image"].map(String::from))
            .collect();
        let v = Vocabulary::new(names.iter().map(String::as_str));
        assert_eq!(v.len(), 503, "the repeated name is kept once");
        for (i, n) in names.iter().take(503).enumerate() {
            assert_eq!(v.id(n.as_bytes()), Some(i as u32), "{n}");
            assert_eq!(v.name(i as u32), n);
            assert_eq!(v.dotted(i as u32), n.contains('.'));
        }
        for absent in ["Field500", "field0", "Imag", "Image ", "a", "b"] {
            assert_eq!(v.id(absent.as_bytes()), None, "{absent}");
        }
        let attrs = Vocabulary::new(["Provider_Name", "A_B_C", "Image"]);
        for (key, owns) in [
            ("Provider", true),
            ("A", true),
            ("A_B", true),
            ("Provider_Name", false),
            ("Image", false),
            ("B", false),
            ("", false),
        ] {
            assert_eq!(attrs.may_own_attributes(key.as_bytes()), owns, "{key}");
        }
        // Long names that differ only in the middle share a hash: still told apart.
        let long: Vec<String> = (0..200)
            .map(|i| format!("Process_{i:03}_Guid____"))
            .collect();
        let v2 = Vocabulary::new(long.iter().map(String::as_str));
        assert_eq!(name_hash(long[0].as_bytes()), name_hash(long[1].as_bytes()));
        for (i, n) in long.iter().enumerate() {
            assert_eq!(v2.id(n.as_bytes()), Some(i as u32), "{n}");
        }
        assert_eq!(v2.id(b"Process_200_Guid____"), None);
        // Names told apart by their keys alone (up to 16 bytes) and by text (17 and
        // more, where the middle byte is outside the key): every string over {a, b} of
        // up to 18 bytes with at most two b's, every other one in the vocabulary.
        let mut all: Vec<String> = Vec::new();
        for n in 0..=18usize {
            all.push("a".repeat(n));
            for i in 0..n {
                let mut one = vec![b'a'; n];
                one[i] = b'b';
                all.push(String::from_utf8(one.clone()).unwrap());
                for j in i + 1..n {
                    let mut two = one.clone();
                    two[j] = b'b';
                    all.push(String::from_utf8(two).unwrap());
                }
            }
        }
        let held: Vec<&str> = all.iter().step_by(2).map(String::as_str).collect();
        let v3 = Vocabulary::new(held.iter().copied());
        for (i, n) in all.iter().enumerate() {
            let want = (i % 2 == 0).then_some((i / 2) as u32);
            assert_eq!(v3.id(n.as_bytes()), want, "{n}");
        }
        let empty = Vocabulary::new([]);
        assert!(empty.is_empty());
        assert_eq!(empty.id(b"Image"), None);
        assert_ne!(empty.token(), v.token());
    }
}
