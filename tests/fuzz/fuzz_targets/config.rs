//! The config: any TOML, YAML or JSON text is a transform config, a serve topology or a
//! clear error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigma_transform::config::{SigmaConfig, parse_value};

fuzz_target!(|data: &[u8]| {
    let Some((&format, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let ext = ["toml", "yaml", "json"][format as usize % 3];
    let Ok(value) = parse_value(text, ext) else {
        return;
    };
    let _ = serde_json::from_value::<SigmaConfig>(value.clone());
    if let Ok(serve) =
        serde_json::from_value::<sigma_transform::adapter::serve::config::ServeConfig>(value)
    {
        let _ = sigma_transform::adapter::serve::config::check(serve, std::path::Path::new("."));
    }
});
