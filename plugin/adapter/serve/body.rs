//! Request bodies of the `http_server` source into events: the content encoding undone
//! (gzip, zstd, identity) within a size bound, then the body cut into events. A body is
//! NDJSON (Vector's `http` sink with `framing.method = "newline_delimited"`, Fluent Bit's
//! `json_lines`), a JSON array (Vector's `json` codec, Fluent Bit's `json`, Logstash), or
//! one object, pretty-printed or not (NXLog, curl). Events that span lines are written
//! back on one line, so every event leaves as one NDJSON line.

use std::io::Read;

use bytes::Bytes;
use serde_json::value::RawValue;

/// Why a body cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("Content-Encoding {0:?} is not supported (gzip, zstd or identity)")]
    Encoding(String),
    #[error("the body is larger than {0} bytes once decoded")]
    TooLarge(usize),
    #[error("the {0} body cannot be decoded: {1}")]
    Corrupt(&'static str, String),
}

/// Undoes `Content-Encoding`; at most `max` bytes come out.
pub fn decode(encoding: Option<&str>, raw: Bytes, max: usize) -> Result<Bytes, BodyError> {
    let enc = encoding.map(|e| e.trim().to_ascii_lowercase());
    let (name, reader): (&'static str, Box<dyn Read + '_>) = match enc.as_deref() {
        None | Some("") | Some("identity") => {
            return if raw.len() > max {
                Err(BodyError::TooLarge(max))
            } else {
                Ok(raw)
            };
        }
        Some("gzip") | Some("x-gzip") => (
            "gzip",
            Box::new(flate2::read::MultiGzDecoder::new(&raw[..])),
        ),
        Some("zstd") => (
            "zstd",
            Box::new(
                zstd::stream::read::Decoder::new(&raw[..])
                    .map_err(|e| BodyError::Corrupt("zstd", e.to_string()))?,
            ),
        ),
        Some(other) => return Err(BodyError::Encoding(other.to_string())),
    };
    let mut out = Vec::new();
    reader
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Corrupt(name, e.to_string()))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(max));
    }
    Ok(Bytes::from(out))
}

/// Cuts a body into events (each one JSON value's bytes on one line; a line that is not
/// JSON is kept as it is, to pass through the transform unchanged and counted).
/// Whitespace-only lines are not events.
pub fn split(body: &Bytes) -> Vec<Bytes> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let trimmed = &body[start..];
    if trimmed.first() == Some(&b'[')
        && let Ok(items) = serde_json::from_slice::<Vec<&RawValue>>(trimmed)
    {
        return items
            .into_iter()
            .map(|raw| one_line(body, raw.get().as_bytes()))
            .collect();
    }
    let lines: Vec<&[u8]> = trimmed
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    if lines.len() > 1
        && serde_json::from_slice::<&RawValue>(lines[0]).is_err()
        && let Ok(raw) = serde_json::from_slice::<&RawValue>(trimmed)
    {
        // One pretty-printed object.
        return vec![one_line(body, raw.get().as_bytes())];
    }
    lines.into_iter().map(|l| body.slice_ref(l)).collect()
}

/// The value's bytes, shared with the body when they hold no line break, else rewritten
/// without the whitespace between tokens.
fn one_line(body: &Bytes, raw: &[u8]) -> Bytes {
    if !raw.iter().any(|b| *b == b'\n' || *b == b'\r') {
        return body.slice_ref(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn texts(body: &str) -> Vec<String> {
        split(&Bytes::from(body.to_string()))
            .into_iter()
            .map(|b| String::from_utf8(b.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn ndjson_array_and_single_object_bodies() {
        assert_eq!(
            texts("{\"a\":1}\n{\"b\":2}\r\n\n  \nnot json\n"),
            ["{\"a\":1}", "{\"b\":2}", "not json"]
        );
        assert_eq!(
            texts(" [ {\"a\":1} , {\"b\": [1, 2]}]"),
            ["{\"a\":1}", "{\"b\": [1, 2]}"]
        );
        assert_eq!(
            texts("{\n  \"a\": \"x y\\n\\\"z\",\n  \"b\": [1,\n 2]\n}\n"),
            ["{\"a\":\"x y\\n\\\"z\",\"b\":[1,2]}"]
        );
        assert_eq!(texts("[{\n\"a\": 1\n}]"), ["{\"a\":1}"]);
        assert_eq!(texts("{\"a\":1}"), ["{\"a\":1}"]);
        assert!(texts("  \n").is_empty());
        // A broken array is not an array: its lines pass through as they are.
        assert_eq!(texts("[{\"a\":1},"), ["[{\"a\":1},"]);
    }

    #[test]
    fn encodings_bounds_and_corruption() {
        let plain = b"{\"a\":1}\n".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&plain).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decode(Some("gzip"), Bytes::from(gz.clone()), 1 << 20).unwrap(),
            plain
        );
        let zs = zstd::encode_all(&plain[..], 1).unwrap();
        assert_eq!(
            decode(Some("zstd"), Bytes::from(zs), 1 << 20).unwrap(),
            plain
        );
        assert_eq!(
            decode(Some("gzip"), Bytes::from(gz.clone()), 100),
            Err(BodyError::TooLarge(100))
        );
        assert_eq!(
            decode(None, Bytes::from(plain.clone()), 100),
            Err(BodyError::TooLarge(100))
        );
        let cut = Bytes::copy_from_slice(&gz[..gz.len() / 2]);
        assert!(matches!(
            decode(Some("gzip"), cut, 1 << 20),
            Err(BodyError::Corrupt("gzip", _))
        ));
        assert_eq!(
            decode(Some("br"), Bytes::new(), 10),
            Err(BodyError::Encoding("br".into()))
        );
    }
}
