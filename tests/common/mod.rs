//! Helpers shared by the integration tests: where the shared data lives, and a clear
//! message when it is not there (a fresh clone has no ../shared; CI always has it).

#![allow(dead_code)]

use std::path::PathBuf;

/// `../shared` from the project root, if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    dir.join("README.md").exists().then_some(dir)
}

/// `../shared`, or prints why the calling test is skipped and returns `None`.
pub fn shared_or_skip(test: &str) -> Option<PathBuf> {
    let dir = shared_dir();
    if dir.is_none() {
        eprintln!(
            "SKIPPED {test}: ../shared is not present (it holds the SigmaHQ corpus and samples; CI always has it)"
        );
    }
    dir
}

/// A path inside the project.
pub fn project(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}
