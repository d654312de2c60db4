//! The encoding modifiers: `base64`, `base64offset` and the UTF-16 family. They turn a
//! literal value into the bytes it would have inside an encoded field.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard Base64 with padding.
pub fn base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
    out
}

/// The three shift variants of `base64offset`: the value encoded at byte offsets 0, 1 and 2
/// of a longer Base64 stream, with the characters that depend on the surrounding bytes cut
/// off at both ends. Any Base64 text that encodes the value somewhere contains one of them.
pub fn base64_offsets(input: &[u8]) -> Vec<Vec<u8>> {
    const START: [usize; 3] = [0, 2, 3];
    const END_CUT: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|shift| {
            let mut shifted = vec![b' '; shift];
            shifted.extend_from_slice(input);
            let encoded = base64(&shifted);
            let cut = END_CUT[(input.len() + shift) % 3];
            let end = encoded.len().saturating_sub(cut);
            encoded[START[shift].min(end)..end].to_vec()
        })
        .filter(|v| !v.is_empty())
        .collect()
}

/// UTF-16 little endian, no byte order mark.
pub fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// UTF-16 big endian, no byte order mark.
pub fn utf16be(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// `utf16`: a little-endian byte order mark, then UTF-16 little endian.
pub fn utf16_bom(text: &str) -> Vec<u8> {
    let mut out = vec![0xFF, 0xFE];
    out.extend(utf16le(text));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc.as_bytes(), "{plain}");
        }
    }

    #[test]
    fn base64offset_variants_appear_in_any_encoding_of_the_value() {
        let needle = b"http://";
        let variants = base64_offsets(needle);
        assert_eq!(variants.len(), 3);
        for prefix in ["", "a", "ab", "abc", "abcd"] {
            let mut text = prefix.as_bytes().to_vec();
            text.extend_from_slice(needle);
            text.extend_from_slice(b"tail");
            let enc = base64(&text);
            assert!(
                variants
                    .iter()
                    .any(|v| enc.windows(v.len()).any(|w| w == v.as_slice())),
                "prefix {prefix:?}: {:?} in {:?}",
                variants
                    .iter()
                    .map(|v| String::from_utf8_lossy(v))
                    .collect::<Vec<_>>(),
                String::from_utf8_lossy(&enc)
            );
        }
    }

    #[test]
    fn utf16_forms() {
        assert_eq!(utf16le("cmd"), [0x63, 0, 0x6d, 0, 0x64, 0]);
        assert_eq!(utf16be("cmd"), [0, 0x63, 0, 0x6d, 0, 0x64]);
        assert_eq!(utf16_bom("cmd"), [0xFF, 0xFE, 0x63, 0, 0x6d, 0, 0x64, 0]);
    }
}
