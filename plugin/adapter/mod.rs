//! Adapters: ways to run the transform. The command line runs it over NDJSON files and
//! streams, and checks rule sets; `serve` runs it as a pipeline stage that shippers send
//! events through.

pub mod cli;
pub mod evtx;
pub mod serve;
