//! A fast hash for the maps probed on every event (an event's field index, exact-value
//! sets, the channel index):
//! their keys are event values, not attacker-chosen map keys that could be made to
//! collide at scale (a value is looked up, never inserted), so the DoS resistance of the
//! standard library's SipHash buys nothing there and costs a few hundred instructions per
//! lookup. Multiply-rotate over eight bytes at a time, as rustc's FxHash.

use std::hash::{BuildHasherDefault, Hasher};

/// The hash of `bytes`.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = FastHasher(bytes.len() as u64);
    h.write(bytes);
    h.finish()
}

/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// See the module documentation.
#[derive(Clone, Copy, Default)]
pub struct FastHasher(u64);

const K: u64 = 0x517c_c1b7_2722_0a95;

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("eight bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut tail = [0u8; 8];
            tail[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(tail));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(i as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 29)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_find_what_they_hold() {
        let mut m: FastMap<Box<[u8]>, usize> = FastMap::default();
        let keys: Vec<Vec<u8>> = (0..2000)
            .map(|i| format!("c:\\windows\\system32\\{i}.exe").into_bytes())
            .chain([Vec::new(), b"a".to_vec(), b"abcdefgh".to_vec()])
            .collect();
        for (i, k) in keys.iter().enumerate() {
            m.insert(k.clone().into_boxed_slice(), i);
        }
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(m.get(k.as_slice()), Some(&i));
        }
        assert_eq!(m.get(b"abcdefg".as_slice()), None);
        assert_eq!(m.get(b"abcdefgh\0".as_slice()), None);
    }
}
