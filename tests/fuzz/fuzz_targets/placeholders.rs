//! Placeholders: any values file and any `expand` text give values within the limit, or
//! an error; the combinations are never built past it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigma_transform::rule::placeholders::{ExpandError, Placeholders};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (yaml, value) = text.split_once('\u{0}').unwrap_or((text, "%a%%b%"));
    let Ok(mut p) = Placeholders::from_yaml(yaml) else {
        return;
    };
    p.set_limit(10_000);
    match p.expand(value) {
        Ok(values) => assert!(values.len() <= 10_000),
        Err(ExpandError::TooMany(n)) => assert!(n > 10_000),
        Err(ExpandError::Missing(_)) => {}
    }
});
