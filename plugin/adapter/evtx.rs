//! EVTX files as event sources: each record rendered to JSON exactly as `evtx_dump -o jsonl`
//! does (the `evtx` crate, one object per line, `#attributes` for XML attributes), so an
//! `.evtx` file and its evtx_dump NDJSON give the same matches.
//!
//! A record that cannot be parsed is reported and skipped; the rest of the file is read.

use std::path::Path;

use evtx::{EvtxParser, ParserSettings};

/// Why a whole file cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("{path}: not a readable EVTX file: {reason}")]
pub struct EvtxError {
    pub path: String,
    pub reason: String,
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
    let mut parser = parser.with_configuration(ParserSettings::new().indent(false));
    for record in parser.records_json() {
        match record {
            Ok(r) => each(Ok(r.data.into_bytes())),
            Err(e) => each(Err(e.to_string())),
        }
    }
    Ok(())
}
