//! Embedding sigma-transform as a library in a small pipeline: read NDJSON events, run
//! them through a `SigmaTransform` built from a config, write what leaves each output.
//!
//! ```sh
//! cargo run --release --example pipeline -- examples/config/vector.toml < examples/events/windows-sample.ndjson
//! ```

use std::io::{BufRead, Write};

use bytes::Bytes;
use sigma_transform::config;
use sigma_transform::transform::stage::{Output, SigmaTransform};
use sigma_transform::transform::{Counters, Route};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: pipeline CONFIG < events.ndjson")?;
    let loaded = config::load(path.as_ref(), None)?;
    let transform = SigmaTransform::from_config(&loaded.config)?;
    for r in &transform.report().rejected {
        eprintln!("rule rejected: {r}");
    }
    let mut scratch = transform.scratch();
    let mut counters = Counters::default();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let event = Bytes::from(line?);
        match transform.process(event, &mut scratch, &mut counters) {
            Output::Pass(Route::Unmatched, _) => {} // a real pipeline sends these on
            Output::Pass(_, bytes) => {
                out.write_all(&bytes)?;
                out.write_all(b"\n")?;
            }
            Output::Discarded => {}
        }
    }
    eprintln!(
        "{} events, {} matched, {} unparsable, {} discarded",
        counters.events, counters.matched_events, counters.unparsed, counters.discarded
    );
    Ok(())
}
