//! Adapters: ways to run the transform. The command line runs it over NDJSON files and
//! streams, and checks rule sets.

pub mod cli;
pub mod evtx;
