//! The Fluentd forward protocol v1, as bytes: finding where one MessagePack value ends in
//! a stream ([`Framer`], resumable, so a large message costs one pass however it arrives),
//! reading a message in its four modes (Message, Forward, PackedForward,
//! CompressedPackedForward) into entries, writing Forward mode messages and acks, and
//! converting records between MessagePack maps and the JSON objects the transform reads.
//!
//! The specification: `github.com/fluent/fluentd/wiki/Forward-Protocol-Specification-v1`.

use std::io::{Cursor, Read};

use rmpv::Value;

/// Deepest nesting accepted in a message (records included).
pub const MAX_DEPTH: usize = 128;

/// Why a message cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    #[error("invalid MessagePack: {0}")]
    Msgpack(String),
    #[error("nesting deeper than {MAX_DEPTH}")]
    TooDeep,
    #[error("not a forward message: {0}")]
    Shape(&'static str),
    #[error("compressed entries: {0}")]
    Compression(String),
    #[error("larger than {0} bytes")]
    TooLarge(usize),
}

/// Finds the end of one MessagePack value in a growing buffer. Keeps its place between
/// calls, so each byte is looked at once.
#[derive(Debug, Default)]
pub struct Framer {
    pos: usize,
    /// Items still to read in each open array or map.
    open: Vec<u64>,
}

impl Framer {
    /// `Ok(Some(len))` when the value in `buf[..len]` is complete; `Ok(None)` when more
    /// bytes are needed. `buf` must start with the value and only grow between calls.
    pub fn advance(&mut self, buf: &[u8]) -> Result<Option<usize>, ForwardError> {
        loop {
            let Some(&marker) = buf.get(self.pos) else {
                return Ok(None);
            };
            // (header length, payload length) or a container of `items` items.
            let be = |n: usize| -> Option<u64> {
                let b = buf.get(self.pos + 1..self.pos + 1 + n)?;
                Some(b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
            };
            enum Step {
                Skip(usize, u64),
                Open(usize, u64),
            }
            let step = match marker {
                0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Step::Skip(1, 0),
                0x80..=0x8f => Step::Open(1, u64::from(marker & 0x0f) * 2),
                0x90..=0x9f => Step::Open(1, u64::from(marker & 0x0f)),
                0xa0..=0xbf => Step::Skip(1, u64::from(marker & 0x1f)),
                0xc4 | 0xd9 => match be(1) {
                    Some(n) => Step::Skip(2, n),
                    None => return Ok(None),
                },
                0xc5 | 0xda => match be(2) {
                    Some(n) => Step::Skip(3, n),
                    None => return Ok(None),
                },
                0xc6 | 0xdb => match be(4) {
                    Some(n) => Step::Skip(5, n),
                    None => return Ok(None),
                },
                0xc7 => match be(1) {
                    Some(n) => Step::Skip(3, n),
                    None => return Ok(None),
                },
                0xc8 => match be(2) {
                    Some(n) => Step::Skip(4, n),
                    None => return Ok(None),
                },
                0xc9 => match be(4) {
                    Some(n) => Step::Skip(6, n),
                    None => return Ok(None),
                },
                0xca => Step::Skip(5, 0),
                0xcb => Step::Skip(9, 0),
                0xcc | 0xd0 => Step::Skip(2, 0),
                0xcd | 0xd1 => Step::Skip(3, 0),
                0xce | 0xd2 => Step::Skip(5, 0),
                0xcf | 0xd3 => Step::Skip(9, 0),
                0xd4 => Step::Skip(3, 0),
                0xd5 => Step::Skip(4, 0),
                0xd6 => Step::Skip(6, 0),
                0xd7 => Step::Skip(10, 0),
                0xd8 => Step::Skip(18, 0),
                0xdc => match be(2) {
                    Some(n) => Step::Open(3, n),
                    None => return Ok(None),
                },
                0xdd => match be(4) {
                    Some(n) => Step::Open(5, n),
                    None => return Ok(None),
                },
                0xde => match be(2) {
                    Some(n) => Step::Open(3, n * 2),
                    None => return Ok(None),
                },
                0xdf => match be(4) {
                    Some(n) => Step::Open(5, n * 2),
                    None => return Ok(None),
                },
                0xc1 => return Err(ForwardError::Msgpack("reserved marker 0xc1".into())),
            };
            match step {
                Step::Skip(header, payload) => {
                    let end = self.pos as u64 + header as u64 + payload;
                    if end > buf.len() as u64 {
                        return Ok(None);
                    }
                    self.pos = end as usize;
                }
                Step::Open(header, items) => {
                    if buf.len() < self.pos + header {
                        return Ok(None);
                    }
                    self.pos += header;
                    if items > 0 {
                        if self.open.len() >= MAX_DEPTH {
                            return Err(ForwardError::TooDeep);
                        }
                        self.open.push(items);
                        continue;
                    }
                }
            }
            // One item is complete: close every container it completes.
            loop {
                match self.open.last_mut() {
                    None => return Ok(Some(self.pos)),
                    Some(left) => {
                        *left -= 1;
                        if *left > 0 {
                            break;
                        }
                        self.open.pop();
                    }
                }
            }
        }
    }
}

/// Decodes one complete MessagePack value.
pub fn decode(bytes: &[u8]) -> Result<Value, ForwardError> {
    let mut cur = Cursor::new(bytes);
    let v =
        rmpv::decode::read_value_with_max_depth(&mut cur, MAX_DEPTH + 1).map_err(|e| match e {
            rmpv::decode::Error::DepthLimitExceeded => ForwardError::TooDeep,
            e => ForwardError::Msgpack(e.to_string()),
        })?;
    Ok(v)
}

/// One `[time, record]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub time: Value,
    pub record: Value,
}

/// A forward message read into entries.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub tag: String,
    pub entries: Vec<Entry>,
    /// The `chunk` option, to be answered with `{"ack": chunk}`.
    pub chunk: Option<Value>,
}

fn option<'a>(options: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    options?
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(_, v)| v)
}

fn entry(v: Value) -> Result<Entry, ForwardError> {
    let Value::Array(mut pair) = v else {
        return Err(ForwardError::Shape("an entry is not [time, record]"));
    };
    if pair.len() != 2 {
        return Err(ForwardError::Shape("an entry is not [time, record]"));
    }
    let record = pair.pop().expect("two items");
    let time = pair.pop().expect("two items");
    check_time(&time)?;
    if !record.is_map() {
        return Err(ForwardError::Shape("a record is not a map"));
    }
    Ok(Entry { time, record })
}

/// A time is an integer, an `EventTime`, or (Fluent Bit 2.1 and later) `[time, metadata]`
/// with a metadata map; it is kept as it came.
fn check_time(t: &Value) -> Result<(), ForwardError> {
    match t {
        Value::Integer(_) | Value::F64(_) | Value::F32(_) => Ok(()),
        Value::Ext(0, b) if b.len() == 8 => Ok(()),
        Value::Array(pair) if pair.len() == 2 && pair[1].is_map() && !pair[0].is_array() => {
            check_time(&pair[0])
        }
        _ => Err(ForwardError::Shape(
            "time is neither an integer, an EventTime nor [time, metadata]",
        )),
    }
}

/// Reads a forward message (any mode). `max_bytes` bounds the decompressed entries.
pub fn parse(v: Value, max_bytes: usize) -> Result<Message, ForwardError> {
    let Value::Array(mut items) = v else {
        return Err(ForwardError::Shape("a message is an array"));
    };
    if !(2..=4).contains(&items.len()) {
        return Err(ForwardError::Shape("a message has 2 to 4 items"));
    }
    let tag = match &items[0] {
        Value::String(s) => s
            .as_str()
            .ok_or(ForwardError::Shape("the tag is not UTF-8"))?
            .to_string(),
        _ => return Err(ForwardError::Shape("the tag is not a string")),
    };
    let mut rest = items.split_off(1);
    let second = rest.remove(0);
    match second {
        Value::Array(list) => {
            let options = rest.first();
            let entries = list.into_iter().map(entry).collect::<Result<_, _>>()?;
            Ok(Message {
                tag,
                entries,
                chunk: option(options, "chunk").cloned(),
            })
        }
        Value::String(_) | Value::Binary(_) => {
            let options = rest.first();
            let raw: Vec<u8> = match second {
                Value::String(s) => s.into_bytes(),
                Value::Binary(b) => b,
                _ => unreachable!("matched above"),
            };
            let bytes = match option(options, "compressed").and_then(|c| c.as_str()) {
                None | Some("text") => raw,
                Some("gzip") => gunzip(&raw, max_bytes)?,
                Some(other) => {
                    return Err(ForwardError::Compression(format!(
                        "unknown compression {other:?}"
                    )));
                }
            };
            let mut entries = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                let mut framer = Framer::default();
                let len = framer
                    .advance(&bytes[at..])?
                    .ok_or(ForwardError::Shape("a packed entry is cut short"))?;
                entries.push(entry(decode(&bytes[at..at + len])?)?);
                at += len;
            }
            Ok(Message {
                tag,
                entries,
                chunk: option(options, "chunk").cloned(),
            })
        }
        time => {
            check_time(&time)?;
            if rest.is_empty() {
                return Err(ForwardError::Shape("a Message mode message has no record"));
            }
            let record = rest.remove(0);
            if !record.is_map() {
                return Err(ForwardError::Shape("a record is not a map"));
            }
            Ok(Message {
                tag,
                entries: vec![Entry { time, record }],
                chunk: option(rest.first(), "chunk").cloned(),
            })
        }
    }
}

/// Decompresses gzip (one or more members), at most `max` bytes out.
pub fn gunzip(raw: &[u8], max: usize) -> Result<Vec<u8>, ForwardError> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(raw)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ForwardError::Compression(e.to_string()))?;
    if out.len() > max {
        return Err(ForwardError::TooLarge(max));
    }
    Ok(out)
}

/// Writes a record (a MessagePack map) as a JSON object. Binary and invalid UTF-8 become
/// strings (invalid bytes replaced), non-string keys their JSON text, non-finite floats and
/// extension values `null`.
pub fn record_to_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Nil | Value::Ext(..) => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::F32(f) => float(f64::from(*f), out),
        Value::F64(f) => float(*f, out),
        Value::String(s) => string(&String::from_utf8_lossy(s.as_bytes()), out),
        Value::Binary(b) => string(&String::from_utf8_lossy(b), out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                record_to_json(item, out);
            }
            out.push(b']');
        }
        Value::Map(pairs) => {
            out.push(b'{');
            for (i, (k, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                match k {
                    Value::String(s) => string(&String::from_utf8_lossy(s.as_bytes()), out),
                    Value::Binary(b) => string(&String::from_utf8_lossy(b), out),
                    other => {
                        let mut text = Vec::new();
                        record_to_json(other, &mut text);
                        string(&String::from_utf8_lossy(&text), out);
                    }
                }
                out.push(b':');
                record_to_json(item, out);
            }
            out.push(b'}');
        }
    }
}

fn float(f: f64, out: &mut Vec<u8>) {
    if f.is_finite() {
        serde_json::to_writer(&mut *out, &f).expect("write to a Vec");
    } else {
        out.extend_from_slice(b"null");
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("write to a Vec");
}

/// A JSON event as a record: the object's keys in their order; a line that is not a JSON
/// object becomes `{"message": <the line>}`.
pub fn json_to_record(data: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(data) {
        Ok(v @ Value::Map(_)) => v,
        _ => Value::Map(vec![(
            Value::from("message"),
            Value::from(String::from_utf8_lossy(data).into_owned()),
        )]),
    }
}

/// The time of an event that came without one: now, as an `EventTime`.
pub fn now() -> Value {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut b = Vec::with_capacity(8);
    b.extend_from_slice(&(d.as_secs() as u32).to_be_bytes());
    b.extend_from_slice(&d.subsec_nanos().to_be_bytes());
    Value::Ext(0, b)
}

/// A Forward mode message `[tag, [[time, record], ...], {"chunk": chunk}]`.
pub fn encode_forward(tag: &str, entries: &[(Value, Value)], chunk: &str) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_array_len(&mut out, 3).expect("write to a Vec");
    rmp::encode::write_str(&mut out, tag).expect("write to a Vec");
    rmp::encode::write_array_len(&mut out, entries.len() as u32).expect("write to a Vec");
    for (time, record) in entries {
        rmp::encode::write_array_len(&mut out, 2).expect("write to a Vec");
        rmpv::encode::write_value(&mut out, time).expect("write to a Vec");
        rmpv::encode::write_value(&mut out, record).expect("write to a Vec");
    }
    rmp::encode::write_map_len(&mut out, 1).expect("write to a Vec");
    rmp::encode::write_str(&mut out, "chunk").expect("write to a Vec");
    rmp::encode::write_str(&mut out, chunk).expect("write to a Vec");
    out
}

/// The answer to a chunk: `{"ack": chunk}`.
pub fn encode_ack(chunk: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmp::encode::write_map_len(&mut out, 1).expect("write to a Vec");
    rmp::encode::write_str(&mut out, "ack").expect("write to a Vec");
    rmpv::encode::write_value(&mut out, chunk).expect("write to a Vec");
    out
}

/// The `ack` of an answer, if it is one.
pub fn ack_of(v: &Value) -> Option<&Value> {
    option(Some(v), "ack")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).unwrap();
        out
    }

    fn record(k: &str, v: &str) -> Value {
        Value::Map(vec![(Value::from(k), Value::from(v))])
    }

    fn event_time(secs: u32, nanos: u32) -> Value {
        let mut b = secs.to_be_bytes().to_vec();
        b.extend_from_slice(&nanos.to_be_bytes());
        Value::Ext(0, b)
    }

    #[test]
    fn framer_finds_the_end_byte_by_byte_and_at_once() {
        let msg = Value::Array(vec![
            Value::from("tag.a"),
            Value::Array(vec![
                Value::Array(vec![event_time(1, 2), record("k", &"x".repeat(300))]),
                Value::Array(vec![Value::from(7), Value::Map(vec![])]),
            ]),
            Value::Map(vec![(Value::from("chunk"), Value::from("abc"))]),
        ]);
        let bytes = pack(&msg);
        let mut tail = bytes.clone();
        tail.extend_from_slice(&pack(&Value::from(1)));
        assert_eq!(Framer::default().advance(&tail), Ok(Some(bytes.len())));
        let mut f = Framer::default();
        for i in 0..bytes.len() {
            assert_eq!(f.advance(&bytes[..i]), Ok(None), "cut at {i}");
        }
        assert_eq!(f.advance(&bytes), Ok(Some(bytes.len())));
        // Too deep, and the reserved marker.
        let deep = vec![0x91u8; MAX_DEPTH + 2];
        assert_eq!(Framer::default().advance(&deep), Err(ForwardError::TooDeep));
        assert!(Framer::default().advance(&[0xc1]).is_err());
    }

    #[test]
    fn all_four_modes_read_to_the_same_entries() {
        let t = event_time(1_700_000_000, 5);
        let r = record("CommandLine", "whoami");
        let chunk = Value::Map(vec![(Value::from("chunk"), Value::from("c1"))]);
        let want = vec![Entry {
            time: t.clone(),
            record: r.clone(),
        }];
        let message = Value::Array(vec![
            Value::from("win"),
            t.clone(),
            r.clone(),
            chunk.clone(),
        ]);
        let forward = Value::Array(vec![
            Value::from("win"),
            Value::Array(vec![Value::Array(vec![t.clone(), r.clone()])]),
            chunk.clone(),
        ]);
        let packed_entries = pack(&Value::Array(vec![t.clone(), r.clone()]));
        let packed = Value::Array(vec![
            Value::from("win"),
            Value::Binary(packed_entries.clone()),
            chunk.clone(),
        ]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &packed_entries).unwrap();
        let compressed = Value::Array(vec![
            Value::from("win"),
            Value::Binary(gz.finish().unwrap()),
            Value::Map(vec![
                (Value::from("chunk"), Value::from("c1")),
                (Value::from("compressed"), Value::from("gzip")),
            ]),
        ]);
        for m in [message, forward, packed, compressed] {
            let parsed = parse(decode(&pack(&m)).unwrap(), 1 << 20).unwrap();
            assert_eq!(parsed.tag, "win");
            assert_eq!(parsed.entries, want);
            assert_eq!(parsed.chunk, Some(Value::from("c1")));
        }
        // Fluent Bit's [time, metadata] entries keep their time as it came.
        let with_meta = Value::Array(vec![t.clone(), Value::Map(vec![])]);
        let fb = Value::Array(vec![
            Value::from("win"),
            Value::Array(vec![Value::Array(vec![with_meta.clone(), r.clone()])]),
        ]);
        assert_eq!(parse(fb, 1 << 20).unwrap().entries[0].time, with_meta);
        let nested = Value::Array(vec![with_meta.clone(), Value::Map(vec![])]);
        let bad = Value::Array(vec![
            Value::from("win"),
            Value::Array(vec![Value::Array(vec![nested, r.clone()])]),
        ]);
        assert!(parse(bad, 1 << 20).is_err());
        // Without options there is no chunk to answer.
        let bare = Value::Array(vec![Value::from("win"), Value::from(3), r.clone()]);
        assert_eq!(parse(bare, 1 << 20).unwrap().chunk, None);
    }

    #[test]
    fn malformed_messages_are_errors() {
        for bad in [
            Value::from("x"),
            Value::Array(vec![Value::from(1), Value::from(2)]),
            Value::Array(vec![Value::from("t"), Value::from(1)]),
            Value::Array(vec![
                Value::from("t"),
                Value::from(1),
                Value::from("not a map"),
            ]),
            Value::Array(vec![Value::from("t"), Value::Array(vec![Value::from(1)])]),
            Value::Array(vec![
                Value::from("t"),
                Value::from("nil"),
                Value::Nil,
                Value::Nil,
                Value::Nil,
            ]),
            Value::Array(vec![Value::from("t"), Value::Binary(vec![0x92, 0x01])]),
            Value::Array(vec![
                Value::from("t"),
                Value::Binary(vec![1, 2, 3]),
                Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
            ]),
        ] {
            assert!(parse(bad.clone(), 1 << 20).is_err(), "{bad:?}");
        }
        // A gzip bomb stops at the bound.
        let big = pack(&Value::Array(vec![
            Value::from(1),
            record("k", &"a".repeat(100_000)),
        ]));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut gz, &big).unwrap();
        let m = Value::Array(vec![
            Value::from("t"),
            Value::Binary(gz.finish().unwrap()),
            Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
        ]);
        assert_eq!(parse(m, 10_000), Err(ForwardError::TooLarge(10_000)));
    }

    #[test]
    fn records_cross_between_msgpack_and_json_keeping_key_order() {
        let json = br#"{"z":1,"a":"x\u00e9","n":null,"f":1.5,"l":[true,-3],"o":{"k":"v"}}"#;
        let rec = json_to_record(json);
        let mut back = Vec::new();
        record_to_json(&rec, &mut back);
        assert_eq!(
            String::from_utf8(back).unwrap(),
            r#"{"z":1,"a":"xé","n":null,"f":1.5,"l":[true,-3],"o":{"k":"v"}}"#
        );
        let mut out = Vec::new();
        record_to_json(&json_to_record(b"not json"), &mut out);
        assert_eq!(out, br#"{"message":"not json"}"#);
        let odd = Value::Map(vec![
            (Value::from(1), Value::Binary(vec![0xff, b'a'])),
            (Value::from("e"), Value::Ext(5, vec![1])),
            (Value::from("nan"), Value::F64(f64::NAN)),
        ]);
        let mut out = Vec::new();
        record_to_json(&odd, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"1\":\"\u{fffd}a\",\"e\":null,\"nan\":null}"
        );
    }

    #[test]
    fn forward_and_ack_round_trip() {
        let t = event_time(9, 9);
        let bytes = encode_forward("a.b", &[(t.clone(), record("k", "v"))], "id1");
        let m = parse(decode(&bytes).unwrap(), 1 << 20).unwrap();
        assert_eq!(m.tag, "a.b");
        assert_eq!(m.entries[0].time, t);
        assert_eq!(m.chunk, Some(Value::from("id1")));
        let ack = decode(&encode_ack(&Value::from("id1"))).unwrap();
        assert_eq!(ack_of(&ack), Some(&Value::from("id1")));
    }
}
