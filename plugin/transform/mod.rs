//! The transform on events: parse, match, tag, write. Matching events get a tag object
//! (default field `sigma`) spliced into their original bytes; all other events, and lines
//! that are not JSON objects, leave exactly as they came.

pub mod tag;

use bytes::Bytes;

use crate::attack::Attack;
use crate::event::json::JsonEvent;
use crate::logsource::LogsourceMap;
use crate::matcher::{CompileNote, Matcher, Scratch};
use crate::rule::Rule;

pub use tag::RuleTag;

/// Options of the transform.
#[derive(Clone, Debug)]
pub struct TransformOptions {
    /// Top-level field that receives the tag object.
    pub field: String,
}

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions { field: "sigma".into() }
    }
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed; no rule matched; passed through unchanged.
    Unmatched,
    /// Parsed and tagged with this many rules.
    Matched(usize),
    /// Not a JSON object; passed through unchanged.
    Unparsed,
    /// An empty line; passed through.
    Blank,
}

/// Running counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub matched_events: u64,
    pub matches: u64,
    pub unparsed: u64,
}

impl Counters {
    /// Adds one outcome.
    pub fn record(&mut self, o: Outcome) {
        match o {
            Outcome::Unmatched => self.events += 1,
            Outcome::Matched(n) => {
                self.events += 1;
                self.matched_events += 1;
                self.matches += n as u64;
            }
            Outcome::Unparsed => self.unparsed += 1,
            Outcome::Blank => {}
        }
    }
}

/// The compiled transform: rules, matcher and pre-rendered tags.
pub struct Transform {
    rules: Vec<Rule>,
    tags: Vec<RuleTag>,
    matcher: Matcher,
    notes: Vec<CompileNote>,
    opts: TransformOptions,
}

/// Per-thread state of a transform.
pub struct TransformScratch {
    matcher: Scratch,
    hits: Vec<usize>,
}

impl Transform {
    /// Compiles the rules.
    pub fn new(rules: Vec<Rule>, map: &LogsourceMap, opts: TransformOptions) -> Transform {
        let attack = Attack::builtin();
        let (matcher, notes) = Matcher::compile(&rules, map);
        let tags = rules.iter().map(|r| RuleTag::new(r, &attack)).collect();
        Transform {
            rules,
            tags,
            matcher,
            notes,
            opts,
        }
    }

    /// The compiled rules, in match-index order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The tag of each rule.
    pub fn tags(&self) -> &[RuleTag] {
        &self.tags
    }

    /// Rules that will not fire, and why.
    pub fn notes(&self) -> &[CompileNote] {
        &self.notes
    }

    /// The matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Fresh per-thread state.
    pub fn scratch(&self) -> TransformScratch {
        TransformScratch {
            matcher: self.matcher.scratch(),
            hits: Vec::new(),
        }
    }

    /// The indices of the rules matching a parsed event.
    pub fn match_event(&self, event: &JsonEvent, scratch: &mut TransformScratch) -> Vec<usize> {
        scratch.hits.clear();
        self.matcher.matches(event, &mut scratch.matcher, &mut scratch.hits);
        scratch.hits.clone()
    }

    /// Processes one line (without its line terminator), appending the output line (without
    /// terminator) to `out`.
    pub fn process_line(&self, line: &[u8], scratch: &mut TransformScratch, out: &mut Vec<u8>) -> Outcome {
        if line.iter().all(u8::is_ascii_whitespace) {
            out.extend_from_slice(line);
            return Outcome::Blank;
        }
        let event = match JsonEvent::parse(line) {
            Ok(e) => e,
            Err(_) => {
                out.extend_from_slice(line);
                return Outcome::Unparsed;
            }
        };
        scratch.hits.clear();
        self.matcher.matches(&event, &mut scratch.matcher, &mut scratch.hits);
        if scratch.hits.is_empty() {
            out.extend_from_slice(line);
            return Outcome::Unmatched;
        }
        tag::write_tagged(line, &event, &self.opts.field, &scratch.hits, &self.tags, out);
        Outcome::Matched(scratch.hits.len())
    }

    /// Processes one event held in [`Bytes`]: unmatched and unparsed events come back as
    /// the same buffer (no copy).
    pub fn process_bytes(&self, event: Bytes, scratch: &mut TransformScratch) -> (Bytes, Outcome) {
        let mut out = Vec::new();
        let outcome = self.process_line(&event, scratch, &mut out);
        match outcome {
            Outcome::Matched(_) => (Bytes::from(out), outcome),
            _ => (event, outcome),
        }
    }
}
