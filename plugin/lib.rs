//! sigma-transform: Sigma rules compiled into one matcher, run as a log-pipeline transform
//! that tags each event with the rules it matches.
//!
//! The modules follow the flow of data:
//!
//! 1. [`document`]: rule files -> YAML documents with file and line;
//! 2. [`rule`]: documents -> typed rules (modifiers applied, condition parsed), or a
//!    rejection with a reason; [`ruleset`] drives both over paths;
//! 3. [`logsource`]: which events a rule's `logsource` means (`rules/logsources.yaml`);
//! 4. [`matcher`]: all rules compiled together (candidate narrowing by logsource, merged
//!    per-field automata, boolean programs);
//! 5. [`event`]: events as matchable documents; [`transform`]: parse, match, tag, write;
//!    [`correlate`]: correlation rules over the stream (the one stateful layer);
//!    [`attack`]: ATT&CK names for the tags;
//! 6. [`catalog`]: rule pages, neighbours by implication, statistics, the HTML catalog;
//! 7. [`adapter`]: ways to run it: the command line, and `serve`, a pipeline stage that
//!    shippers send events through (`adapter/vector/sigma.rs` is the native Vector
//!    component, compiled into Vector by `tools/vector/build.sh`).
//!
//! [`hash`] is the fast hash of the maps probed on every event; [`walk`] walks rule and
//! input folders (symlink loops, FIFOs and unreadable entries included).

pub mod adapter;
pub mod attack;
pub mod catalog;
pub mod config;
pub mod correlate;
pub mod document;
pub mod event;
pub mod hash;
pub mod logsource;
pub mod matcher;
pub mod rule;
pub mod ruleset;
pub mod transform;
pub mod walk;
