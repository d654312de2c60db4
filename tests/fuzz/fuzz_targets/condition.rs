//! The condition grammar: any text parses to a condition or a typed error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigma_transform::rule::condition::Condition;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Condition::parse(text);
    }
});
