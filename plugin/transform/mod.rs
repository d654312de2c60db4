//! The transform on events: parse, match, tag, write. Matching events get their tags
//! (a `sigma` object, or ECS fields) spliced into their original bytes; all other events,
//! and lines that are not JSON objects, leave exactly as they came. [`Transform`] is the
//! engine over compiled rules; [`stage::SigmaTransform`] is the configured pipeline stage
//! (modes, outputs, rule selection) built from a [`crate::config::SigmaConfig`].

pub mod alerts;
pub mod correlating;
pub mod decided;
pub mod ecs;
pub mod splice;
pub mod stage;
pub mod tag;

use bytes::Bytes;

use crate::attack::Attack;
use crate::config::{Mode, OutputProfile};
use crate::event::inserts::Fit;
use crate::event::json::{EventReader, JsonEvent, ReadError};
use crate::event::shape::Concrete;
use crate::logsource::LogsourceMap;
use crate::matcher::{CompileNote, Matcher, Scratch};
use crate::rule::Rule;

pub use stage::SigmaTransform;
pub use tag::RuleTag;

/// Options of the transform.
#[derive(Clone, Debug)]
pub struct TransformOptions {
    /// Top-level field that receives the tag object (profile `sigma`).
    pub field: String,
    /// How matches are written.
    pub output: OutputProfile,
    /// Which events leave, and where.
    pub mode: Mode,
    /// How events are read (shape, StringInserts names).
    pub reader: EventReader,
    /// Match the event serialized as JSON in a `message` or `log` string of an event of
    /// no other shape ([`WRAPPER_FIELDS`]).
    pub wrapped_json: bool,
    /// Each match's tag entry carries the fields and values that decided it
    /// ([`decided`]).
    pub matched_fields: bool,
}

/// Members that may carry a whole event serialized as JSON: Vector's `file` source without
/// a JSON codec puts the line in `message`, Fluent Bit's `tail` without a parser in `log`.
pub const WRAPPER_FIELDS: [&str; 2] = ["message", "log"];

impl Default for TransformOptions {
    fn default() -> Self {
        TransformOptions {
            field: "sigma".into(),
            output: OutputProfile::Sigma,
            mode: Mode::Tag,
            reader: EventReader::default(),
            wrapped_json: true,
            matched_fields: false,
        }
    }
}

/// An event of no known shape: read as flat, with no top-level `EventID`.
fn unknown_shape(event: &JsonEvent) -> bool {
    event.shape() == Concrete::Flat && event.root().get("EventID").is_none()
}

/// Where an event goes after the transform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The transform's only output (modes `tag` and `filter`).
    Default,
    /// Output `matched` (mode `route`).
    Matched,
    /// Output `_unmatched` (mode `route`).
    Unmatched,
    /// Dropped on purpose (mode `filter`, no match), and counted.
    Discarded,
    /// Output `correlations` (mode `route`): the alert event of each correlation firing.
    /// In modes `tag` and `filter` those go to the one output, after their event.
    Correlations,
}

impl Route {
    /// The output name as Vector would name it.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Route::Default => Some("default"),
            Route::Matched => Some("matched"),
            Route::Unmatched => Some("_unmatched"),
            Route::Correlations => Some("correlations"),
            Route::Discarded => None,
        }
    }
}

/// What happened to one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Parsed; no rule matched; passed through unchanged.
    Unmatched,
    /// Parsed and tagged with this many rules.
    Matched(usize),
    /// Not a JSON object; passed through unchanged (never dropped, in any mode).
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
    /// Events dropped on purpose (mode `filter`).
    pub discarded: u64,
    /// Events matched on the JSON event in their `message` or `log` (`wrapped_json`).
    pub unwrapped: u64,
    /// Events of no known shape ([`Transform::last_unknown_shape`]).
    pub unknown_shape: u64,
}

impl Counters {
    /// Adds one outcome and its route.
    pub fn record_routed(&mut self, o: Outcome, r: Route) {
        self.record(o);
        if r == Route::Discarded {
            self.discarded += 1;
        }
    }

    /// Adds another set of counters (of a part processed elsewhere).
    pub fn merge(&mut self, other: &Counters) {
        self.events += other.events;
        self.matched_events += other.matched_events;
        self.matches += other.matches;
        self.unparsed += other.unparsed;
        self.discarded += other.discarded;
        self.unwrapped += other.unwrapped;
        self.unknown_shape += other.unknown_shape;
    }

    /// Adds how the last event of `engine` was read (unwrapped, of no known shape).
    pub fn record_reading(&mut self, engine: &Transform, scratch: &TransformScratch) {
        self.unwrapped += u64::from(engine.last_unwrapped(scratch));
        self.unknown_shape += u64::from(engine.last_unknown_shape(scratch));
    }

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
    lacked_template: bool,
    inserts_fit: Option<Fit>,
    /// The last line was read by the lenient parser.
    lenient: bool,
    /// The last line was written to `out` though no rule matched (a tag field that came
    /// with the event was removed).
    rewrote: bool,
    /// The last event was matched on the JSON in its `message` or `log`.
    unwrapped: bool,
    /// The last event was of no known shape ([`Transform::last_unknown_shape`]).
    unknown_shape: bool,
    /// The text of a wrapped event, unescaped.
    wrapped: Vec<u8>,
    /// The fields that decided the last event's matches (`matched_fields`).
    decided: decided::Decided,
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
            lacked_template: false,
            inserts_fit: None,
            rewrote: false,
            lenient: false,
            unwrapped: false,
            unknown_shape: false,
            wrapped: Vec::new(),
            decided: decided::Decided::default(),
        }
    }

    /// The options.
    pub fn options(&self) -> &TransformOptions {
        &self.opts
    }

    /// Where an event with this outcome goes, by mode. Unparsable lines are never dropped.
    pub fn route(&self, outcome: Outcome) -> Route {
        let matched = matches!(outcome, Outcome::Matched(_));
        match self.opts.mode {
            Mode::Tag => Route::Default,
            // Lines that are not events (not JSON objects, blank or whitespace) are never
            // dropped: filter keeps them, as tag does.
            Mode::Filter if matched || matches!(outcome, Outcome::Unparsed | Outcome::Blank) => {
                Route::Default
            }
            Mode::Filter => Route::Discarded,
            Mode::Route if matched => Route::Matched,
            Mode::Route => Route::Unmatched,
        }
    }

    /// Reads an event with the configured shape.
    pub fn read<'a>(&self, bytes: &'a [u8]) -> Result<JsonEvent<'a>, ReadError> {
        self.opts.reader.read(bytes)
    }

    /// True when the last processed line was a Fluent Bit event whose positional inserts
    /// had no template (only its system fields could be matched).
    pub fn last_lacked_template(&self, scratch: &TransformScratch) -> bool {
        scratch.lacked_template
    }

    /// For a Fluent Bit event with positional inserts, how the last processed line's
    /// inserts were named (`None` for other lines, and when they had no template).
    pub fn last_inserts_fit(&self, scratch: &TransformScratch) -> Option<Fit> {
        scratch.inserts_fit
    }

    /// The rules the last processed event matched (indices into [`Transform::rules`]).
    pub fn last_hits<'s>(&self, scratch: &'s TransformScratch) -> &'s [usize] {
        &scratch.hits
    }

    /// The indices of the rules matching a parsed event.
    pub fn match_event(&self, event: &JsonEvent, scratch: &mut TransformScratch) -> Vec<usize> {
        scratch.hits.clear();
        scratch.decided.clear();
        scratch.lenient = false;
        self.match_unwrapping(event, scratch);
        scratch.hits.clone()
    }

    /// Matches `event`, or the event serialized in its `message` or `log` ([`Self::unwrap`]),
    /// into `scratch.hits`.
    fn match_unwrapping(&self, event: &JsonEvent, scratch: &mut TransformScratch) {
        scratch.lenient |= event.lenient();
        let mut wrapped = std::mem::take(&mut scratch.wrapped);
        match self.unwrap(event, &mut wrapped) {
            Some(inner) => self.match_read(&inner, true, scratch),
            None => self.match_read(event, false, scratch),
        }
        scratch.wrapped = wrapped;
    }

    /// The event inside `event`'s `message` or `log` string, when `wrapped_json` is on,
    /// `event` is of no known shape (flat, no `EventID`) and the string holds a JSON
    /// object (its text is unescaped into `buf`).
    fn unwrap<'b>(&self, event: &JsonEvent, buf: &'b mut Vec<u8>) -> Option<JsonEvent<'b>> {
        if !self.opts.wrapped_json || !unknown_shape(event) {
            return None;
        }
        let text = WRAPPER_FIELDS
            .iter()
            .filter_map(|k| event.root().get(k)?.as_str())
            .find(|t| t.trim_start().starts_with('{'))?;
        buf.clear();
        buf.extend_from_slice(text.as_bytes());
        self.opts.reader.read(buf).ok()
    }

    /// Matches the event to be matched (the wrapped one, if any) into `scratch.hits`, and
    /// notes what it was.
    fn match_read(&self, event: &JsonEvent, unwrapped: bool, scratch: &mut TransformScratch) {
        scratch.unwrapped = unwrapped;
        scratch.unknown_shape = unknown_shape(event);
        scratch.lacked_template = event.lacks_template();
        scratch.inserts_fit = event.inserts_fit();
        scratch.lenient |= event.lenient();
        let start = scratch.hits.len();
        self.matcher
            .matches(event, &mut scratch.matcher, &mut scratch.hits);
        if self.opts.matched_fields {
            scratch.decided.collect(
                &self.matcher,
                event,
                &scratch.hits[start..],
                &mut scratch.matcher,
            );
        }
    }

    /// The fields that decided the last event's matches: empty unless `matched_fields`.
    pub fn last_decided<'s>(&self, scratch: &'s TransformScratch) -> &'s decided::Decided {
        &scratch.decided
    }

    /// True when the last event was matched on the JSON event in its `message` or `log`
    /// (`wrapped_json`).
    pub fn last_unwrapped(&self, scratch: &TransformScratch) -> bool {
        scratch.unwrapped
    }

    /// True when the last event was of no known shape: read as flat (after unwrapping)
    /// with no top-level `EventID`, so that no Windows rule can match it by its event id.
    /// Counted, and warned about once, by every adapter.
    pub fn last_unknown_shape(&self, scratch: &TransformScratch) -> bool {
        scratch.unknown_shape
    }

    /// Processes one line (without its line terminator), appending the output line (without
    /// terminator) to `out`.
    pub fn process_line(
        &self,
        line: &[u8],
        scratch: &mut TransformScratch,
        out: &mut Vec<u8>,
    ) -> Outcome {
        let outcome = self.process_tagged(line, scratch, out);
        if !self.last_changed(scratch) {
            out.extend_from_slice(line);
        }
        outcome
    }

    /// Like [`Transform::process_line`], but writes to `out` only when the line changes
    /// ([`Transform::last_changed`]: tagged, or a tag field that came with an unmatched
    /// event removed); every other line leaves unchanged, so the caller keeps its own
    /// buffer and nothing is copied.
    pub fn process_tagged(
        &self,
        line: &[u8],
        scratch: &mut TransformScratch,
        out: &mut Vec<u8>,
    ) -> Outcome {
        scratch.hits.clear();
        scratch.decided.clear();
        scratch.lacked_template = false;
        scratch.inserts_fit = None;
        scratch.rewrote = false;
        scratch.lenient = false;
        if line.iter().all(u8::is_ascii_whitespace) {
            return Outcome::Blank;
        }
        scratch.unwrapped = false;
        scratch.unknown_shape = false;
        let event = match self.opts.reader.read(line) {
            Ok(e) => e,
            Err(_) => return Outcome::Unparsed,
        };
        self.match_unwrapping(&event, scratch);
        if scratch.hits.is_empty() {
            // A tag the event came with did not come from these rules: it is removed, so
            // that downstream a tag always means a match here.
            if event.root().get(&self.opts.field).is_some() {
                scratch.rewrote = splice::remove_member(line, &self.opts.field, out).is_some();
            }
            return Outcome::Unmatched;
        }
        self.write_tags(line, &scratch.hits, &scratch.decided, out);
        Outcome::Matched(scratch.hits.len())
    }

    /// Writes `line` with the tags of `hits` in the configured output profile, each entry
    /// with its fields from `decided` ([`decided::NONE`] for none).
    pub fn write_tags(
        &self,
        line: &[u8],
        hits: &[usize],
        decided: &decided::Decided,
        out: &mut Vec<u8>,
    ) {
        let (field, tags) = (&self.opts.field, &self.tags);
        match self.opts.output {
            OutputProfile::Sigma => {
                tag::write_tagged(line, field, hits, tags, decided, out);
            }
            OutputProfile::Ecs => ecs::write(line, field, hits, tags, decided, out),
            OutputProfile::Alerts => alerts::write(line, field, hits, tags, decided, out),
        }
    }

    /// True when the last processed line was read by the lenient parser (counted apart:
    /// an event that could not be read strictly, matched on what it says).
    pub fn last_lenient(&self, scratch: &TransformScratch) -> bool {
        scratch.lenient
    }

    /// True when the last processed line was written to `out` by
    /// [`Transform::process_tagged`]: tagged, or stripped of a tag field it came with.
    pub fn last_changed(&self, scratch: &TransformScratch) -> bool {
        !scratch.hits.is_empty() || scratch.rewrote
    }

    /// Tags a parsed event in place (for pipelines that hold parsed values): written as
    /// the line path writes it ([`Transform::write_tags`]), so both give the same event.
    /// With output `alerts` the value becomes the array of its alert documents.
    pub fn tag_value(
        &self,
        value: &mut serde_json::Value,
        hits: &[usize],
        decided: &decided::Decided,
    ) {
        if !value.is_object() {
            return;
        }
        let line = serde_json::to_vec(value).expect("values serialize");
        let mut out = Vec::with_capacity(line.len() + 1024);
        self.write_tags(&line, hits, decided, &mut out);
        // Output `alerts` writes a document per match, one per line: an array of them.
        let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_slice(&out)
            .into_iter()
            .collect::<Result<_, _>>()
            .expect("tagged objects are JSON");
        *value = match (self.opts.output, docs.len()) {
            (OutputProfile::Alerts, _) => serde_json::Value::Array(docs),
            _ => docs.into_iter().next().expect("one tagged object"),
        };
    }

    /// Processes one event held in [`Bytes`]: unmatched and unparsed events come back as
    /// the same buffer (no copy).
    pub fn process_bytes(&self, event: Bytes, scratch: &mut TransformScratch) -> (Bytes, Outcome) {
        let mut out = Vec::new();
        let outcome = self.process_tagged(&event, scratch, &mut out);
        if self.last_changed(scratch) {
            (Bytes::from(out), outcome)
        } else {
            (event, outcome)
        }
    }
}
