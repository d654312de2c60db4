//! Input streams for `run`: files (gzip-compressed when they end in `.gz`) or standard
//! input, read line by line as bytes.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

/// An input stream, buffered; [`BufReader::buffer`] tells whether more is ready now.
pub type Input = BufReader<Box<dyn Read + Send>>;

/// Opens an input: `-` is standard input.
pub fn open(path: &Path) -> io::Result<Input> {
    if path.as_os_str() == "-" {
        // Read by a pump thread, so that SIGTERM ends a quiet open pipe (super::stop).
        return Ok(BufReader::with_capacity(
            1 << 16,
            Box::new(super::stop::StopAwareStdin::new()),
        ));
    }
    let file = File::open(path)?;
    let reader: Box<dyn Read + Send> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    Ok(BufReader::with_capacity(1 << 16, reader))
}
