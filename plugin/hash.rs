//! A fast hash for the maps probed on every event (the field-name vocabulary, exact-value
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
            self.add(tail(rest));
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

/// The 1 to 7 bytes of `rest` in one word, read with two overlapping loads rather than
/// copied byte by byte (field names end in such tails; the length, hashed too, keeps
/// tails of different lengths apart).
#[inline]
fn tail(rest: &[u8]) -> u64 {
    let n = rest.len();
    if n >= 4 {
        let lo = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let hi = u32::from_le_bytes([rest[n - 4], rest[n - 3], rest[n - 2], rest[n - 1]]);
        lo as u64 | (hi as u64) << 32
    } else {
        rest[0] as u64 | (rest[n / 2] as u64) << 8 | (rest[n - 1] as u64) << 16
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

    #[test]
    fn tails_of_one_length_hash_apart() {
        // Every string of 1 to 11 bytes over three letters: the tail read must see
        // each byte, so none of them collide.
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        for len in 1..=11u32 {
            for mut code in 0..3usize.pow(len.min(7)) {
                let mut s = vec![b'x'; len as usize];
                for b in s.iter_mut().rev().take(7) {
                    *b = b"abc"[code % 3];
                    code /= 3;
                }
                assert!(
                    seen.insert(hash_bytes(&s)),
                    "{}",
                    String::from_utf8_lossy(&s)
                );
                total += 1;
            }
        }
        assert_eq!(seen.len(), total);
    }
}
