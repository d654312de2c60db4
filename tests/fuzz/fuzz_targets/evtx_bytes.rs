//! EVTX bytes: any file gives records or reasons, every record one line of valid JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sigma_transform::adapter::evtx::for_each_record_in(data.to_vec(), |rec| {
        if let Ok(json) = rec {
            assert!(!json.contains(&b'\n'), "one record, one line");
            let v: serde_json::Value = serde_json::from_slice(&json).expect("records are JSON");
            assert!(v.is_object());
        }
    });
});
