//! EVTX files as event sources: each record rendered to JSON exactly as `evtx_dump -o jsonl`
//! does (the `evtx` crate, one object per line, `#attributes` for XML attributes), so an
//! `.evtx` file and its evtx_dump NDJSON give the same matches.
//!
//! `run` appends the file each record came from as ECS `log.file.path` ([`add_source`]).
//!
//! A record that cannot be parsed is reported and skipped; the rest of the file is read.
//! A record whose rendering holds a raw control character (a corrupt record's name or
//! value with a line break in it) has it escaped, so every record is one line of valid
//! JSON.

use std::path::Path;

use evtx::{EvtxParser, ParserSettings};

/// Why a whole file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a readable EVTX file: {reason}")]
pub struct EvtxError {
    pub path: String,
    pub reason: String,
}

/// The member every record of `path` gets in `run`: ECS `log.file.path`, the file it came
/// from (written as the path was given), appended to the record's top-level object.
pub fn source_member(path: &Path) -> Vec<u8> {
    let mut m = b",\"log\":{\"file\":{\"path\":".to_vec();
    serde_json::to_writer(&mut m, &path.to_string_lossy()).expect("a string serializes");
    m.extend_from_slice(b"}}}");
    m
}

/// Appends [`source_member`] (`member`) to a rendered record: its closing brace is
/// replaced by the member and a new closing brace. A record that does not end in `}` is
/// left as it is.
pub fn add_source(record: &mut Vec<u8>, member: &[u8]) {
    while record.last().is_some_and(u8::is_ascii_whitespace) {
        record.pop();
    }
    if record.last() == Some(&b'}') && record.len() > 2 {
        record.pop();
        record.extend_from_slice(member);
    }
}

/// True when the path names an EVTX file (by extension).
pub fn is_evtx(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("evtx"))
}

/// Calls `each` with every record of the file as JSON bytes, or with the reason a record
/// was skipped.
pub fn for_each_record(
    path: &Path,
    mut each: impl FnMut(Result<Vec<u8>, String>),
) -> Result<(), EvtxError> {
    let parser = EvtxParser::from_path(path).map_err(|e| EvtxError {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    records(parser, &mut each);
    Ok(())
}

/// [`for_each_record`] over the bytes of an EVTX file held in memory.
pub fn for_each_record_in(
    bytes: Vec<u8>,
    mut each: impl FnMut(Result<Vec<u8>, String>),
) -> Result<(), EvtxError> {
    let parser = EvtxParser::from_buffer(bytes).map_err(|e| EvtxError {
        path: "<memory>".into(),
        reason: e.to_string(),
    })?;
    records(parser, &mut each);
    Ok(())
}

fn records<T: std::io::Read + std::io::Seek>(
    parser: EvtxParser<T>,
    each: &mut impl FnMut(Result<Vec<u8>, String>),
) {
    let mut parser = parser.with_configuration(ParserSettings::new().indent(false));
    for record in parser.records_json() {
        match record {
            Ok(r) => each(Ok(escape_controls(r.data.into_bytes()))),
            Err(e) => each(Err(e.to_string())),
        }
    }
}

/// `json` with every raw byte below 0x20 written as a `\u00XX` escape. The renderer
/// writes no whitespace between tokens (`indent(false)`), so such a byte can only be
/// inside a string, where JSON requires the escape.
pub fn escape_controls(json: Vec<u8>) -> Vec<u8> {
    if !json.iter().any(|b| *b < 0x20) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    for b in json {
        if b < 0x20 {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_control_characters_are_escaped_into_one_line_of_json() {
        let raw = b"{\"Event\":{\"EventData\":{\"Na\nme\":\"a\tb\r\"}}}".to_vec();
        let out = escape_controls(raw);
        assert!(!out.iter().any(|b| *b < 0x20));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["Event"]["EventData"]["Na\nme"], "a\tb\r");
        let clean = b"{\"a\":1}".to_vec();
        assert_eq!(escape_controls(clean.clone()), clean);
    }
}
