//! JSON events in every shape of [`super::shape`], matched where they stand: a Sigma field
//! name is resolved against the event's own layout, nothing is converted.
//!
//! Resolution of a Sigma field `F`, first hit wins:
//!
//! | shape | system fields | event data | then |
//! | --- | --- | --- | --- |
//! | evtx_dump | `Event.System.F`; `X_Y` = `Event.System.X.#attributes.Y` (`Provider_Name`) | `Event.EventData.F`, `Event.UserData.<elem>.F` | dotted path |
//! | winlogbeat | `EventID`, `Channel`, `Provider_Name`, `Computer`, `EventRecordID`, `Version` from `winlog.*` | `winlog.event_data.F`, `winlog.user_data.F` | dotted path |
//! | nxlog | `Provider_Name` = `SourceName`, `Computer` = `Hostname`, `EventRecordID` = `RecordNumber` | top-level `F` | dotted path |
//! | vector | `event_id`, `channel`, `provider_name`, `computer`, `record_id`, `version` | `event_data.F`, `user_data.F` | top-level `F`, dotted path |
//! | fluentbit | `EventID`, `Channel`, `Provider_Name` = `ProviderName`, `Computer`, `EventRecordID`, `Version` | `EventData.F`, or `StringInserts[i]` named by the template table | top-level `F`, dotted path |
//! | flat | top-level `F` | | dotted path |
//!
//! An element with `#text` reads as that text (evtx_dump's `EventID` with `Qualifiers`).
//! Event data names with spaces (Defender's `Threat Name`) also answer to the name without
//! spaces, as the specification writes them (`ThreatName`).
//!
//! Keyword search reads the system fields and event data of the record; for flat and NXLog
//! events, where the two cannot be told apart, every value.
//!
//! The table is not walked per lookup: on the first lookup an event builds a hash index of
//! every name it answers to, inserted in the table's order so that the first insert of a
//! name wins as the first hit would (`FieldIndex`; a test holds it to the walk). A
//! matcher asks by id in a [`Vocabulary`] instead: the same walk (`resolve`) then keeps
//! only the vocabulary's names, one slot each (`Slots`), and a lookup is an array read.

use std::cell::OnceCell;
use std::sync::{Arc, LazyLock};

use serde_json::Value;

use super::inserts::{Fit, InsertNames, Naming};
use super::shape::{Concrete, Shape};
use super::tree::{LENIENT_REASONS, NodeRef, ParseError, Tree};
use super::{Document, Scalar, Vocabulary, decimal};

/// Reads events of a configured shape.
#[derive(Clone, Debug)]
pub struct EventReader {
    shape: Shape,
    /// `None`: the built-in table, parsed on the first Fluent Bit event that needs it
    /// (32,000 rows: about 40 ms and 12 MB that other inputs never pay).
    inserts: Option<Arc<InsertNames>>,
}

/// The built-in StringInserts table, parsed once per process when first needed.
static BUILTIN: LazyLock<InsertNames> = LazyLock::new(InsertNames::builtin);

impl Default for EventReader {
    fn default() -> Self {
        EventReader {
            shape: Shape::Auto,
            inserts: None,
        }
    }
}

impl EventReader {
    /// A reader for `shape` with the given StringInserts names.
    pub fn new(shape: Shape, inserts: Arc<InsertNames>) -> EventReader {
        EventReader {
            shape,
            inserts: Some(inserts),
        }
    }

    /// The StringInserts table this reader names inserts with.
    fn inserts(&self) -> &InsertNames {
        self.inserts.as_deref().unwrap_or(&BUILTIN)
    }

    /// A reader for `shape` with the built-in StringInserts names.
    pub fn with_shape(shape: Shape) -> EventReader {
        EventReader {
            shape,
            ..EventReader::default()
        }
    }

    /// Parses one JSON event, borrowing its strings from `bytes`. A UTF-8 byte order mark
    /// before it (the first line of a file some Windows tools write) is skipped.
    ///
    /// A line that fails only on a token one field can carry to hide the whole event
    /// (invalid UTF-8, a lone surrogate, a number out of range, nesting past 128) is read
    /// again leniently ([`Tree::parse_lenient`]) and matched on what it says;
    /// [`JsonEvent::lenient`] tells.
    pub fn read<'a>(&self, bytes: &'a [u8]) -> Result<JsonEvent<'a>, ReadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match Tree::parse(bytes) {
            Ok(tree) => self.read_tree(tree),
            Err(e) if LENIENT_REASONS.contains(&e.reason) => {
                let tree = Tree::parse_lenient(bytes).map_err(|_| ReadError::Json(e))?;
                let mut event = self.read_tree(tree)?;
                event.lenient = true;
                Ok(event)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Reads a parsed `serde_json::Value` (the event keeps its own copy).
    pub fn read_value(&self, root: &Value) -> Result<JsonEvent<'static>, ReadError> {
        self.read_tree(Tree::from_value(root)?)
    }

    /// Wraps a parsed tree.
    pub fn read_tree<'a>(&self, tree: Tree<'a>) -> Result<JsonEvent<'a>, ReadError> {
        let root = tree.root();
        if !root.is_object() {
            return Err(ReadError::NotAnObject);
        }
        let shape = self.shape.resolve(root);
        let mut naming = None;
        if shape == Concrete::FluentbitInserts {
            let inserts = root
                .get("StringInserts")
                .and_then(|n| n.array_len())
                .unwrap_or(0);
            let provider = root
                .get("ProviderName")
                .and_then(|n| n.as_str())
                .unwrap_or_default();
            let id = root.get("EventID").and_then(|n| n.as_u64());
            let version = root.get("Version").and_then(|n| n.as_u64());
            naming = id.and_then(|id| self.inserts().lookup(provider, id, version, inserts));
        }
        let data = data_container(root, shape).unwrap_or(root);
        // Keys are short: a byte loop, not a `memchr` call per key.
        let spaced = data.members().any(|(k, _)| has_space(k))
            || naming
                .as_ref()
                .is_some_and(|n| n.names().iter().any(|k| has_space(k)));
        Ok(JsonEvent {
            tree,
            shape,
            spaced,
            naming,
            lenient: false,
            index: OnceCell::new(),
            slots: OnceCell::new(),
        })
    }
}

/// Whether a key holds a space (a byte loop: keys are a few bytes, `str::contains` calls
/// `memchr` for each).
#[inline]
fn has_space(key: &str) -> bool {
    key.bytes().any(|b| b == b' ')
}

/// Why a line is not an event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] ParseError),
    /// JSON, but not an object.
    #[error("the JSON value is not an object")]
    NotAnObject,
}

/// The object holding named event data, per shape (`None`: the top level).
fn data_container<'t>(root: NodeRef<'t>, shape: Concrete) -> Option<NodeRef<'t>> {
    match shape {
        Concrete::EvtxDump => root.get("Event")?.get("EventData"),
        Concrete::Winlogbeat => root.get("winlog")?.get("event_data"),
        Concrete::Vector => root.get("event_data"),
        Concrete::FluentbitMap => root.get("EventData"),
        _ => None,
    }
}

/// A parsed JSON event.
#[derive(Debug, Clone)]
pub struct JsonEvent<'a> {
    tree: Tree<'a>,
    shape: Concrete,
    spaced: bool,
    /// The names of a Fluent Bit event's `StringInserts`, when known.
    naming: Option<Naming>,
    /// Read by the lenient parser.
    lenient: bool,
    /// Sigma field name -> value, built on the first lookup by name.
    index: OnceCell<FieldIndex>,
    /// The values of a vocabulary's names, built on the first lookup by id.
    slots: OnceCell<Slots>,
}

/// Where the system fields of a shape live: Sigma name -> key in the shape's system object.
fn system_key(shape: Concrete, name: &str) -> Option<&'static str> {
    Some(match (shape, name) {
        (Concrete::Winlogbeat, "EventID") => "event_id",
        (Concrete::Winlogbeat, "Channel") => "channel",
        (Concrete::Winlogbeat, "Provider_Name") => "provider_name",
        (Concrete::Winlogbeat, "Computer") => "computer_name",
        (Concrete::Winlogbeat, "EventRecordID") => "record_id",
        (Concrete::Winlogbeat, "Version") => "version",
        (Concrete::Vector, "EventID") => "event_id",
        (Concrete::Vector, "Channel") => "channel",
        (Concrete::Vector, "Provider_Name") => "provider_name",
        (Concrete::Vector, "Computer") => "computer",
        (Concrete::Vector, "EventRecordID") => "record_id",
        (Concrete::Vector, "Version") => "version",
        (Concrete::Nxlog, "Provider_Name") => "SourceName",
        (Concrete::Nxlog, "Computer") => "Hostname",
        (Concrete::Nxlog, "EventRecordID") => "RecordNumber",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "Provider_Name") => "ProviderName",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "EventID") => "EventID",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "Channel") => "Channel",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "Computer") => "Computer",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "EventRecordID") => "EventRecordID",
        (Concrete::FluentbitMap | Concrete::FluentbitInserts, "Version") => "Version",
        _ => return None,
    })
}

impl<'a> JsonEvent<'a> {
    /// Parses one JSON document in any shape (auto-detected).
    pub fn parse(bytes: &'a [u8]) -> Result<JsonEvent<'a>, ReadError> {
        EventReader::default().read(bytes)
    }

    /// Wraps an already parsed value (shape auto-detected).
    pub fn from_value(root: &Value) -> Result<JsonEvent<'static>, ReadError> {
        EventReader::default().read_value(root)
    }

    /// The event's top-level object.
    pub fn root(&self) -> NodeRef<'_> {
        self.tree.root()
    }

    /// The event as a `serde_json::Value` (a copy).
    pub fn to_value(&self) -> Value {
        self.root().to_value()
    }

    /// The event's shape.
    pub fn shape(&self) -> Concrete {
        self.shape
    }

    /// True when the event is in evtx_dump shape.
    pub fn is_evtx(&self) -> bool {
        self.shape == Concrete::EvtxDump
    }

    /// True for a Fluent Bit event with positional inserts and no template for them: only
    /// its system fields can be matched.
    pub fn lacks_template(&self) -> bool {
        self.shape == Concrete::FluentbitInserts && self.naming.is_none()
    }

    /// True when the line was read by the lenient parser (it holds invalid UTF-8, a lone
    /// surrogate, a number out of range or nesting past 128; see [`EventReader::read`]).
    pub fn lenient(&self) -> bool {
        self.lenient
    }

    /// For a Fluent Bit event with positional inserts, how they were named (`None`: not
    /// such an event, or no template).
    pub fn inserts_fit(&self) -> Option<Fit> {
        self.naming.as_ref().map(|n| n.fit)
    }

    #[cfg(test)]
    fn in_data<'t>(&self, data: Option<NodeRef<'t>>, name: &str) -> Option<NodeRef<'t>> {
        let data = data?;
        if let Some(v) = data.get(name) {
            return Some(v);
        }
        self.spaced_only(data, name)
    }

    #[cfg(test)]
    fn spaced_only<'t>(&self, data: NodeRef<'t>, name: &str) -> Option<NodeRef<'t>> {
        if !self.spaced {
            return None;
        }
        data.members()
            .filter(|(k, _)| same_without_spaces(k, name))
            .last()
            .map(|(_, v)| v)
    }

    fn lookup(&self, name: &str) -> Option<NodeRef<'_>> {
        let index = self.index.get_or_init(|| FieldIndex::build(self));
        if let Some(id) = index.get(&self.tree, name) {
            return Some(self.tree.node(id));
        }
        if index.complete_miss || !name.contains('.') {
            return None;
        }
        let mut cur = self.root();
        for part in name.split('.') {
            cur = cur.get(part)?;
        }
        Some(cur)
    }

    /// [`JsonEvent::lookup`] for name `id` of `vocab`, from the event's slots for that
    /// vocabulary (by name when they were made for another).
    fn lookup_in(&self, vocab: &Vocabulary, id: u32) -> Option<NodeRef<'_>> {
        let slots = self.slots.get_or_init(|| Slots::build(self, vocab));
        if slots.token != vocab.token() {
            return self.lookup(vocab.name(id));
        }
        let node = slots.nodes[id as usize];
        if node != 0 {
            return Some(self.tree.node(node - 1));
        }
        if slots.complete_miss || !vocab.dotted(id) {
            return None;
        }
        let mut cur = self.root();
        for part in vocab.name(id).split('.') {
            cur = cur.get(part)?;
        }
        Some(cur)
    }

    /// The resolution table of the module documentation, walked name by name: the
    /// reference that [`FieldIndex`] must agree with (tested).
    #[cfg(test)]
    fn lookup_by_walking(&self, name: &str) -> Option<NodeRef<'_>> {
        let root = self.root();
        let found = match self.shape {
            Concrete::EvtxDump => {
                let event = root.get("Event")?;
                let system = event.get("System")?;
                system
                    .get(name)
                    .or_else(|| {
                        name.match_indices('_').find_map(|(i, _)| {
                            system
                                .get(&name[..i])?
                                .get("#attributes")?
                                .get(&name[i + 1..])
                        })
                    })
                    .or_else(|| self.in_data(event.get("EventData"), name))
                    .or_else(|| user_data(event.get("UserData"), name))
            }
            Concrete::Winlogbeat => {
                let winlog = root.get("winlog")?;
                system_key(self.shape, name)
                    .and_then(|k| winlog.get(k))
                    .or_else(|| self.in_data(winlog.get("event_data"), name))
                    .or_else(|| winlog.get("user_data").and_then(|u| u.get(name)))
            }
            Concrete::Vector => system_key(self.shape, name)
                .and_then(|k| root.get(k))
                .or_else(|| self.in_data(root.get("event_data"), name))
                .or_else(|| root.get("user_data").and_then(|u| u.get(name)))
                .or_else(|| root.get(name)),
            // Event data names with spaces cannot be NXLog's own fields, so they win over
            // them: Defender's `Source Name` is Sigma's `SourceName`, not NXLog's provider.
            Concrete::Nxlog => self
                .spaced_only(root, name)
                .or_else(|| system_key(self.shape, name).and_then(|k| root.get(k)))
                .or_else(|| root.get(name)),
            Concrete::FluentbitMap => system_key(self.shape, name)
                .and_then(|k| root.get(k))
                .or_else(|| self.in_data(root.get("EventData"), name))
                .or_else(|| root.get(name)),
            Concrete::FluentbitInserts => system_key(self.shape, name)
                .and_then(|k| root.get(k))
                .or_else(|| {
                    let naming = self.naming.as_ref()?;
                    let inserts = root.get("StringInserts")?;
                    let names = (0..inserts.array_len()?)
                        .map(|i| naming.name(i))
                        .collect::<Option<Vec<_>>>();
                    let Some(names) = names else {
                        // Unnamed data: every insert is `Data`.
                        return (name == "Data").then_some(inserts);
                    };
                    let i = names.iter().position(|n| n == name).or_else(|| {
                        self.spaced
                            .then(|| names.iter().position(|n| same_without_spaces(n, name)))?
                    })?;
                    inserts.items().nth(i)
                })
                .or_else(|| root.get(name)),
            Concrete::Flat => self.in_data(Some(root), name),
        };
        if found.is_some() {
            return found;
        }
        if name.contains('.') {
            let mut cur = root;
            for part in name.split('.') {
                cur = cur.get(part)?;
            }
            return Some(cur);
        }
        None
    }
}

#[cfg(test)]
fn user_data<'t>(user: Option<NodeRef<'t>>, name: &str) -> Option<NodeRef<'t>> {
    user?
        .members()
        .filter(|(k, _)| *k != "#attributes")
        .find_map(|(_, child)| child.get(name))
}

/// True when `key` with its spaces removed equals `name`.
#[cfg(test)]
fn same_without_spaces(key: &str, name: &str) -> bool {
    key.contains(' ') && key.bytes().filter(|b| *b != b' ').eq(name.bytes())
}

fn visit_value(v: NodeRef<'_>, visit: &mut dyn FnMut(Scalar<'_>)) {
    if let Some(s) = v.scalar() {
        visit(s);
    } else if v.is_array() {
        v.items().for_each(|i| visit_value(i, visit));
    } else if let Some(t) = v.get("#text") {
        visit_value(t, visit);
    }
}

fn visit_all(v: NodeRef<'_>, visit: &mut dyn FnMut(Scalar<'_>)) {
    if let Some(s) = v.scalar() {
        visit(s);
    } else if v.is_array() {
        v.items().for_each(|i| visit_all(i, visit));
    } else {
        v.members().for_each(|(_, i)| visit_all(i, visit));
    }
}

/// Sigma's names of the system fields that shapes other than evtx_dump rename.
const SYSTEM_NAMES: [&str; 6] = [
    "EventID",
    "Channel",
    "Provider_Name",
    "Computer",
    "EventRecordID",
    "Version",
];

/// Where an index entry's name is.
#[derive(Clone, Copy, Debug)]
enum Name {
    /// An object key: the string node with this id.
    Key(u32),
    /// A name made while indexing (`Provider_Name`, a key without its spaces), in
    /// [`FieldIndex::made`].
    Made(u32, u32),
    /// A Sigma system name.
    System(&'static str),
}

/// Every Sigma field name an event answers to, with its value, in one hash table: a
/// field is located with one probe, and a field the event lacks (most of the fields the
/// candidate rules read) costs one probe too, instead of a walk over every key. Built
/// by inserting names in the order of the resolution table (module documentation), the
/// first insert of a name winning, so a lookup gives what walking the table would.
#[derive(Clone, Debug)]
struct FieldIndex {
    /// Open addressing: 0 is empty, else an index into `entries` plus one.
    table: Vec<u32>,
    entries: Vec<(u64, Name, u32)>,
    made: String,
    /// The event lacks its shape's skeleton: no name resolves, dotted paths neither.
    complete_miss: bool,
}

type IndexBuffers = (Vec<u32>, Vec<(u64, Name, u32)>, String);

thread_local! {
    /// The buffers of the last index dropped on this thread, for the next event.
    static INDEX_POOL: std::cell::Cell<IndexBuffers> = const {
        std::cell::Cell::new((Vec::new(), Vec::new(), String::new()))
    };
}

impl Drop for FieldIndex {
    fn drop(&mut self) {
        let buffers = (
            std::mem::take(&mut self.table),
            std::mem::take(&mut self.entries),
            std::mem::take(&mut self.made),
        );
        if buffers.0.capacity() <= 1 << 16 {
            let _ = INDEX_POOL.try_with(|p| p.set(buffers));
        }
    }
}

impl FieldIndex {
    fn text<'t>(&'t self, tree: &'t Tree<'_>, name: Name) -> &'t str {
        match name {
            Name::Key(id) => tree.node(id).as_str().unwrap_or_default(),
            Name::Made(a, b) => &self.made[a as usize..(a + b) as usize],
            Name::System(s) => s,
        }
    }

    /// Where `name` (hashing to `h`) is: its node, or the empty slot it would take.
    fn probe(&self, tree: &Tree<'_>, name: &str, h: u64) -> Result<u32, usize> {
        let mask = self.table.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let e = self.table[i];
            if e == 0 {
                return Err(i);
            }
            let (eh, en, node) = self.entries[e as usize - 1];
            if eh == h && self.text(tree, en) == name {
                return Ok(node);
            }
            i = (i + 1) & mask;
        }
    }

    fn get(&self, tree: &Tree<'_>, name: &str) -> Option<u32> {
        if self.entries.is_empty() {
            return None;
        }
        self.probe(tree, name, crate::hash::hash_bytes(name.as_bytes()))
            .ok()
    }

    fn insert(&mut self, tree: &Tree<'_>, name: Name, node: u32) {
        if self.table.len() < 2 * (self.entries.len() + 1) {
            self.grow();
        }
        let text = self.text(tree, name);
        let h = crate::hash::hash_bytes(text.as_bytes());
        // The first insert of a name wins.
        if let Err(slot) = self.probe(tree, text, h) {
            self.entries.push((h, name, node));
            self.table[slot] = self.entries.len() as u32;
        }
    }

    fn grow(&mut self) {
        let size = (self.table.len() * 2).max(128);
        self.table.clear();
        self.table.resize(size, 0);
        let mask = size - 1;
        for (n, (h, _, _)) in self.entries.iter().enumerate() {
            let mut i = *h as usize & mask;
            while self.table[i] != 0 {
                i = (i + 1) & mask;
            }
            self.table[i] = n as u32 + 1;
        }
    }

    fn made(&mut self, parts: &[&str]) -> Name {
        let a = self.made.len();
        parts.iter().for_each(|p| self.made.push_str(p));
        Name::Made(a as u32, (self.made.len() - a) as u32)
    }

    fn build(ev: &JsonEvent<'_>) -> FieldIndex {
        let (mut table, mut entries, mut made) = INDEX_POOL.with(|p| p.take());
        entries.clear();
        made.clear();
        // Keep the pooled table's size: growing rehashes.
        let size = table.len().max(128);
        table.clear();
        table.resize(size, 0);
        let mut ix = FieldIndex {
            table,
            entries,
            made,
            complete_miss: false,
        };
        ix.complete_miss = resolve(ev, &mut ix);
        ix
    }
}

impl NameSink for FieldIndex {
    fn put(&mut self, tree: &Tree<'_>, name: Found<'_>, node: u32) {
        let name = match name {
            Found::Key(id) => Name::Key(id),
            Found::Parts(parts) => self.made(parts),
            Found::Despaced(key) => {
                let a = self.made.len();
                self.made.extend(key.chars().filter(|c| *c != ' '));
                Name::Made(a as u32, (self.made.len() - a) as u32)
            }
            Found::System(s) => Name::System(s),
        };
        self.insert(tree, name, node);
    }
}

/// A name an event answers to, as [`resolve`] meets it.
#[derive(Clone, Copy)]
enum Found<'n> {
    /// An object key: the string node with this id.
    Key(u32),
    /// The concatenation of these parts (`Provider`, `_`, `Name`; an insert's name).
    Parts(&'n [&'n str]),
    /// This key without its spaces.
    Despaced(&'n str),
    /// A Sigma system name.
    System(&'static str),
}

/// Takes an event's names in the order of the resolution table; the first put of a name
/// must win.
trait NameSink {
    fn put(&mut self, tree: &Tree<'_>, name: Found<'_>, node: u32);

    /// Whether names `key_Y` (attributes of element `key`) may be wanted: when not,
    /// the walk does not look for the element's attributes.
    fn wants_attributes(&self, _key: &str) -> bool {
        true
    }
}

/// Every member of `obj` under its own name. Last first: of a repeated key, the last
/// occurrence wins, as [`NodeRef::get`] reads it.
fn put_members(tree: &Tree<'_>, obj: Option<NodeRef<'_>>, sink: &mut impl NameSink) {
    let Some(obj) = obj else { return };
    let mut buf = [0u32; 64];
    let n = obj.member_values().count();
    if n <= buf.len() {
        for (slot, v) in buf.iter_mut().zip(obj.member_values()) {
            *slot = v.id();
        }
        for &id in buf[..n].iter().rev() {
            sink.put(tree, Found::Key(id - 1), id);
        }
    } else {
        let ids: Vec<u32> = obj.member_values().map(|v| v.id()).collect();
        for &id in ids.iter().rev() {
            sink.put(tree, Found::Key(id - 1), id);
        }
    }
}

/// Members of `obj` whose names have spaces, under their names without (after the exact
/// names of the same object, as [`JsonEvent::in_data`] looks them up).
fn put_spaced(ev: &JsonEvent<'_>, obj: Option<NodeRef<'_>>, sink: &mut impl NameSink) {
    if !ev.spaced {
        return;
    }
    let Some(obj) = obj else { return };
    // Last first, as in `put_members`.
    let mut buf = [("", 0u32); 64];
    let mut n = 0;
    let mut spill = Vec::new();
    for (k, v) in obj.members().filter(|(k, _)| has_space(k)) {
        if n < buf.len() {
            buf[n] = (k, v.id());
            n += 1;
        } else {
            spill.push((k, v.id()));
        }
    }
    for &(k, id) in spill.iter().rev().chain(buf[..n].iter().rev()) {
        sink.put(&ev.tree, Found::Despaced(k), id);
    }
}

/// The system fields a shape renames, under their Sigma names.
fn put_system(ev: &JsonEvent<'_>, obj: Option<NodeRef<'_>>, sink: &mut impl NameSink) {
    let Some(obj) = obj else { return };
    for sigma in SYSTEM_NAMES {
        if let Some(v) = system_key(ev.shape, sigma).and_then(|k| obj.get(k)) {
            sink.put(&ev.tree, Found::System(sigma), v.id());
        }
    }
}

/// The names of a Fluent Bit event's inserts in order (the sinks keep the first put of a
/// name, as the walk finds the first position), `param<i>` past the template's names;
/// then their names without spaces; unnamed data as the one field `Data`.
fn put_inserts(ev: &JsonEvent<'_>, naming: &Naming, items: NodeRef<'_>, sink: &mut impl NameSink) {
    let tree = &ev.tree;
    if naming.is_unnamed() {
        sink.put(tree, Found::Parts(&["Data"]), items.id());
        return;
    }
    let names = naming.names();
    for (i, item) in items.items().enumerate() {
        match names.get(i) {
            Some(n) => sink.put(tree, Found::Parts(&[n]), item.id()),
            None => {
                let mut buf = [0u8; 20];
                sink.put(
                    tree,
                    Found::Parts(&["param", decimal(i as u64 + 1, &mut buf)]),
                    item.id(),
                );
            }
        }
    }
    if ev.spaced {
        for (n, item) in names.iter().zip(items.items()) {
            if n.contains(' ') {
                sink.put(tree, Found::Despaced(n), item.id());
            }
        }
    }
}

/// Puts every name the event answers to, in the order of the resolution table (module
/// documentation). Returns true when the event lacks its shape's skeleton: no name
/// resolves, dotted paths neither.
fn resolve(ev: &JsonEvent<'_>, sink: &mut impl NameSink) -> bool {
    let tree = &ev.tree;
    let root = ev.root();
    match ev.shape {
        Concrete::EvtxDump => {
            let Some((event, system)) = root.get("Event").and_then(|e| Some((e, e.get("System")?)))
            else {
                return true;
            };
            put_members(tree, Some(system), sink);
            // `X_Y` = attribute Y of the first child X; shorter X first, as the walk
            // tries the splits of a name from its first underscore.
            // A few attributes per event: kept on the stack, spilling only past 16.
            let mut stack = [("", "", 0u32); 16];
            let mut n = 0;
            let mut spill = Vec::new();
            for (k, v) in system.members() {
                if !sink.wants_attributes(k) {
                    continue;
                }
                let Some(a) = v.get("#attributes") else {
                    continue;
                };
                if system.get(k).is_some_and(|first| first.id() == v.id()) {
                    for (ak, av) in a.members() {
                        if n < stack.len() {
                            stack[n] = (k, ak, av.id());
                            n += 1;
                        } else {
                            spill.push((k, ak, av.id()));
                        }
                    }
                }
            }
            let attrs: &mut [(&str, &str, u32)] = if spill.is_empty() {
                &mut stack[..n]
            } else {
                spill.splice(0..0, stack);
                &mut spill
            };
            attrs.sort_by_key(|(k, _, _)| k.len());
            for &mut (k, ak, id) in attrs {
                sink.put(tree, Found::Parts(&[k, "_", ak]), id);
            }
            let data = event.get("EventData");
            put_members(tree, data, sink);
            put_spaced(ev, data, sink);
            if let Some(user) = event.get("UserData") {
                for (k, child) in user.members() {
                    if k != "#attributes" {
                        put_members(tree, Some(child), sink);
                    }
                }
            }
        }
        Concrete::Winlogbeat => {
            let Some(winlog) = root.get("winlog") else {
                return true;
            };
            put_system(ev, Some(winlog), sink);
            let data = winlog.get("event_data");
            put_members(tree, data, sink);
            put_spaced(ev, data, sink);
            put_members(tree, winlog.get("user_data"), sink);
        }
        Concrete::Vector => {
            put_system(ev, Some(root), sink);
            let data = root.get("event_data");
            put_members(tree, data, sink);
            put_spaced(ev, data, sink);
            put_members(tree, root.get("user_data"), sink);
            put_members(tree, Some(root), sink);
        }
        Concrete::Nxlog => {
            put_spaced(ev, Some(root), sink);
            put_system(ev, Some(root), sink);
            put_members(tree, Some(root), sink);
        }
        Concrete::FluentbitMap => {
            put_system(ev, Some(root), sink);
            let data = root.get("EventData");
            put_members(tree, data, sink);
            put_spaced(ev, data, sink);
            put_members(tree, Some(root), sink);
        }
        Concrete::FluentbitInserts => {
            put_system(ev, Some(root), sink);
            if let (Some(naming), Some(items)) = (&ev.naming, root.get("StringInserts")) {
                put_inserts(ev, naming, items, sink);
            }
            put_members(tree, Some(root), sink);
        }
        Concrete::Flat => {
            put_members(tree, Some(root), sink);
            put_spaced(ev, Some(root), sink);
        }
    }
    false
}

/// The nodes of one [`Vocabulary`]'s names in an event: one slot per name, filled by a
/// single [`resolve`] pass, so a lookup by id is an array read.
#[derive(Clone, Debug)]
struct Slots {
    /// The vocabulary's [`Vocabulary::token`].
    token: u64,
    /// Per vocabulary id: its node's id plus one; 0 when the event lacks the name.
    nodes: Vec<u32>,
    /// The ids set in `nodes`: reset one by one when the slots are dropped, which keeps
    /// the pooled array all zeros without clearing all of it for every event.
    set: Vec<u32>,
    /// Made names (`Provider_Name`) are assembled here to be looked up.
    buf: Vec<u8>,
    complete_miss: bool,
}

thread_local! {
    /// The buffers of the last slots dropped on this thread, for the next event.
    /// The array of `nodes` is all zeros.
    static SLOTS_POOL: std::cell::Cell<(Vec<u32>, Vec<u32>, Vec<u8>)> = const {
        std::cell::Cell::new((Vec::new(), Vec::new(), Vec::new()))
    };
}

impl Drop for Slots {
    fn drop(&mut self) {
        for &id in &self.set {
            self.nodes[id as usize] = 0;
        }
        self.set.clear();
        let buffers = (
            std::mem::take(&mut self.nodes),
            std::mem::take(&mut self.set),
            std::mem::take(&mut self.buf),
        );
        if buffers.0.capacity() <= 1 << 16 {
            let _ = SLOTS_POOL.try_with(|p| p.set(buffers));
        }
    }
}

impl Slots {
    fn build(ev: &JsonEvent<'_>, vocab: &Vocabulary) -> Slots {
        // All zeros (see the pool), at any length.
        let (mut nodes, set, buf) = SLOTS_POOL.with(|p| p.take());
        nodes.resize(vocab.len(), 0);
        let mut sink = SlotSink {
            slots: Slots {
                token: vocab.token(),
                nodes,
                set,
                buf,
                complete_miss: false,
            },
            vocab,
        };
        sink.slots.complete_miss = resolve(ev, &mut sink);
        sink.slots
    }
}

struct SlotSink<'v> {
    slots: Slots,
    vocab: &'v Vocabulary,
}

impl NameSink for SlotSink<'_> {
    #[inline]
    fn put(&mut self, tree: &Tree<'_>, name: Found<'_>, node: u32) {
        let buf = &mut self.slots.buf;
        let id = match name {
            Found::Key(id) => self.vocab.id(tree.node(id).key_bytes()),
            Found::Parts(parts) => {
                buf.clear();
                parts
                    .iter()
                    .for_each(|p| buf.extend_from_slice(p.as_bytes()));
                self.vocab.id(buf)
            }
            Found::Despaced(key) => {
                buf.clear();
                buf.extend(key.bytes().filter(|b| *b != b' '));
                self.vocab.id(buf)
            }
            Found::System(s) => self.vocab.id(s.as_bytes()),
        };
        if let Some(id) = id {
            let slot = &mut self.slots.nodes[id as usize];
            if *slot == 0 {
                *slot = node + 1;
                self.slots.set.push(id);
            }
        }
    }

    fn wants_attributes(&self, key: &str) -> bool {
        self.vocab.may_own_attributes(key.as_bytes())
    }
}

impl JsonEvent<'_> {
    /// Winlogbeat writes a classic provider's unnamed data as `winlog.event_data.param1`..
    /// `paramN`; Sigma reads it as `Data`, every value in order, as in the evtx_dump
    /// form's `EventData.Data` list. Only asked when the event has no `Data` of its own.
    fn params_as_data(&self, name: &str, visit: &mut dyn FnMut(Scalar<'_>)) -> bool {
        if self.shape != Concrete::Winlogbeat || name != "Data" {
            return false;
        }
        let Some(data) = self.root().get("winlog").and_then(|w| w.get("event_data")) else {
            return false;
        };
        let mut found = false;
        // Ends at the first missing number: at most one pass per member of the object.
        for i in 1usize.. {
            let mut digits = [0u8; 25];
            digits[..5].copy_from_slice(b"param");
            let mut buf = [0u8; 20];
            let number = decimal(i as u64, &mut buf);
            digits[5..5 + number.len()].copy_from_slice(number.as_bytes());
            let key = std::str::from_utf8(&digits[..5 + number.len()]).expect("ASCII");
            match data.get(key) {
                Some(v) => {
                    visit_value(v, visit);
                    found = true;
                }
                None => break,
            }
        }
        found
    }
}

impl Document for JsonEvent<'_> {
    fn is_complete(&self) -> bool {
        !self.lacks_template()
    }

    fn verbatim_text(&self) -> Option<&[u8]> {
        self.tree.verbatim_text()
    }

    fn knows(&self, name: &str) -> bool {
        !self.lacks_template()
            || name.is_empty()
            || system_key(self.shape, name).is_some()
            || self.lookup(name).is_some()
    }

    fn field(&self, name: &str, visit: &mut dyn FnMut(Scalar<'_>)) -> bool {
        match self.lookup(name) {
            Some(v) => {
                visit_value(v, visit);
                true
            }
            None => self.params_as_data(name, visit),
        }
    }

    fn field_in(&self, vocab: &Vocabulary, id: u32, visit: &mut dyn FnMut(Scalar<'_>)) -> bool {
        match self.lookup_in(vocab, id) {
            Some(v) => {
                visit_value(v, visit);
                true
            }
            None => self.params_as_data(vocab.name(id), visit),
        }
    }

    fn all_values(&self, visit: &mut dyn FnMut(Scalar<'_>)) {
        let root = self.root();
        match self.shape {
            Concrete::EvtxDump | Concrete::Nxlog | Concrete::Flat => visit_all(root, visit),
            Concrete::Winlogbeat => {
                if let Some(w) = root.get("winlog") {
                    visit_all(w, visit)
                }
            }
            Concrete::Vector | Concrete::FluentbitMap | Concrete::FluentbitInserts => {
                // System fields and event data; not the rendered `message`, which repeats
                // the data in words and is absent from the record itself.
                for (k, v) in root.members() {
                    if k != "message" && k != "Message" {
                        visit_all(v, visit);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(doc: &JsonEvent, name: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let present = doc.field(name, &mut |s| {
            let mut b = String::new();
            out.push(s.text(&mut b).unwrap_or("<null>").to_string())
        });
        present.then_some(out)
    }

    #[test]
    fn evtx_dump_fields() {
        let doc = JsonEvent::parse(
            br##"{"Event":{"#attributes":{"xmlns":"x"},"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},
            "EventID":{"#attributes":{"Qualifiers":16384},"#text":7045},"Channel":"System","Execution":{"#attributes":{"ProcessID":788}}},
            "EventData":{"ServiceName":"PSEXESVC","Empty":"","Nothing":null}}}"##,
        )
        .unwrap();
        assert!(doc.is_evtx());
        assert_eq!(values(&doc, "EventID").unwrap(), ["7045"]);
        assert_eq!(
            values(&doc, "Provider_Name").unwrap(),
            ["Service Control Manager"]
        );
        assert_eq!(values(&doc, "Execution_ProcessID").unwrap(), ["788"]);
        assert_eq!(values(&doc, "ServiceName").unwrap(), ["PSEXESVC"]);
        assert_eq!(values(&doc, "Empty").unwrap(), [""]);
        assert_eq!(values(&doc, "Nothing").unwrap(), ["<null>"]);
        assert_eq!(values(&doc, "Event.System.Channel").unwrap(), ["System"]);
        assert_eq!(values(&doc, "Missing"), None);
    }

    #[test]
    fn names_with_spaces_answer_to_sigma_names_without() {
        let doc = JsonEvent::parse(br##"{"Event":{"System":{"EventID":1119},"EventData":{"Threat Name":"EICAR","Source Name":"RTP"}}}"##).unwrap();
        assert_eq!(values(&doc, "ThreatName").unwrap(), ["EICAR"]);
        assert_eq!(values(&doc, "Source Name").unwrap(), ["RTP"]);
        assert_eq!(values(&doc, "Threat"), None);
    }

    #[test]
    fn user_data_fields() {
        let doc = JsonEvent::parse(br##"{"Event":{"System":{"EventID":1102},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"x"},"SubjectUserName":"bob"}}}}"##).unwrap();
        assert_eq!(values(&doc, "SubjectUserName").unwrap(), ["bob"]);
    }

    #[test]
    fn flat_fields() {
        let doc = JsonEvent::parse(br##"{"EventID":"4688","Image":"C:\\x.exe","a":{"b":[1,2]}}"##)
            .unwrap();
        assert_eq!(doc.shape(), Concrete::Flat);
        assert_eq!(values(&doc, "EventID").unwrap(), ["4688"]);
        assert_eq!(values(&doc, "a.b").unwrap(), ["1", "2"]);
        assert!(JsonEvent::parse(b"[1]").is_err());
        assert!(JsonEvent::parse(b"nope").is_err());
    }

    #[test]
    fn every_shape_answers_the_same_sigma_fields() {
        let shapes: [(&[u8], Concrete); 5] = [
            (
                br#"{"winlog":{"event_id":"7045","channel":"System","provider_name":"Service Control Manager","computer_name":"h","event_data":{"ServiceName":"PSEXESVC"}}}"#,
                Concrete::Winlogbeat,
            ),
            (
                br#"{"EventID":7045,"Channel":"System","SourceName":"Service Control Manager","Hostname":"h","EventType":"INFO","ServiceName":"PSEXESVC"}"#,
                Concrete::Nxlog,
            ),
            (
                br#"{"event_id":7045,"channel":"System","provider_name":"Service Control Manager","computer":"h","event_data":{"ServiceName":"PSEXESVC"}}"#,
                Concrete::Vector,
            ),
            (
                br#"{"EventID":7045,"Channel":"System","ProviderName":"Service Control Manager","Computer":"h","EventData":{"ServiceName":"PSEXESVC"}}"#,
                Concrete::FluentbitMap,
            ),
            (
                br#"{"EventID":7045,"Channel":"System","Provider_Name":"Service Control Manager","Computer":"h","ServiceName":"PSEXESVC"}"#,
                Concrete::Flat,
            ),
        ];
        for (bytes, shape) in shapes {
            let doc = JsonEvent::parse(bytes).unwrap();
            assert_eq!(doc.shape(), shape);
            assert_eq!(values(&doc, "EventID").unwrap(), ["7045"], "{shape:?}");
            assert_eq!(values(&doc, "Channel").unwrap(), ["System"], "{shape:?}");
            assert_eq!(
                values(&doc, "Provider_Name").unwrap(),
                ["Service Control Manager"],
                "{shape:?}"
            );
            assert_eq!(values(&doc, "Computer").unwrap(), ["h"], "{shape:?}");
            assert_eq!(
                values(&doc, "ServiceName").unwrap(),
                ["PSEXESVC"],
                "{shape:?}"
            );
        }
    }

    #[test]
    fn fluentbit_inserts_are_named_by_the_table() {
        let table = InsertNames::from_tsv("provider\tevent_id\tversion\tfields\nService Control Manager\t7045\t0\tServiceName,ImagePath,ServiceType,StartType,AccountName\n").unwrap();
        let reader = EventReader::new(Shape::Auto, Arc::new(table));
        let doc = reader
            .read(br#"{"EventID":7045,"Version":0,"Channel":"System","ProviderName":"Service Control Manager","StringInserts":["PSEXESVC","%SystemRoot%\\PSEXESVC.exe","x","y","LocalSystem"]}"#)
            .unwrap();
        assert_eq!(doc.shape(), Concrete::FluentbitInserts);
        assert!(!doc.lacks_template());
        assert_eq!(
            values(&doc, "ImagePath").unwrap(),
            ["%SystemRoot%\\PSEXESVC.exe"]
        );
        let unknown = reader
            .read(
                br#"{"EventID":9999,"Channel":"System","ProviderName":"X","StringInserts":["a"]}"#,
            )
            .unwrap();
        assert!(unknown.lacks_template());
        assert_eq!(values(&unknown, "EventID").unwrap(), ["9999"]);
        assert!(!unknown.is_complete());
        assert!(unknown.knows("EventID") && unknown.knows("Channel"));
        assert!(
            !unknown.knows("ImagePath"),
            "an unnamed insert may be any field"
        );
        let both = reader
            .read(
                br#"{"EventID":1,"ProviderName":"X","EventData":{"A":"1"},"StringInserts":["1"]}"#,
            )
            .unwrap();
        assert_eq!(
            both.shape(),
            Concrete::FluentbitMap,
            "the named map wins over the inserts"
        );
    }

    #[test]
    fn unnamed_and_positional_inserts_and_winlogbeat_params() {
        let table = InsertNames::from_tsv(
            "provider\tevent_id\tversion\tfields\nMsiInstaller\t*\t*\t{unnamed}\nS\t*\t*\t{param}\nS\t7045\t0\tServiceName,ImagePath\n",
        )
        .unwrap();
        let reader = EventReader::new(Shape::Auto, Arc::new(table));
        let msi = reader
            .read(br#"{"EventID":1040,"Version":0,"ProviderName":"MsiInstaller","StringInserts":["C:\\x.msi","(NULL)"]}"#)
            .unwrap();
        assert!(!msi.lacks_template());
        assert_eq!(msi.inserts_fit(), Some(Fit::Unnamed));
        assert_eq!(values(&msi, "Data").unwrap(), ["C:\\x.msi", "(NULL)"]);
        assert!(values(&msi, "param1").is_none());
        let scm = reader
            .read(br#"{"EventID":7045,"Version":0,"ProviderName":"S","StringInserts":["svc","c:\\a.exe","extra"]}"#)
            .unwrap();
        assert_eq!(scm.inserts_fit(), Some(Fit::Extra));
        assert_eq!(values(&scm, "ImagePath").unwrap(), ["c:\\a.exe"]);
        assert_eq!(values(&scm, "param3").unwrap(), ["extra"]);
        assert!(values(&scm, "Data").is_none(), "named data has no Data");
        let other = reader
            .read(
                br#"{"EventID":7000,"Version":0,"ProviderName":"S","StringInserts":["svc","err"]}"#,
            )
            .unwrap();
        assert_eq!(other.inserts_fit(), Some(Fit::Positional));
        assert_eq!(values(&other, "param2").unwrap(), ["err"]);
        // Winlogbeat's unnamed data: param1..N read as Data, in order, to the first gap.
        let wlb = JsonEvent::parse(
            br#"{"winlog":{"event_id":"1040","provider_name":"MsiInstaller","event_data":{"param2":"b","param1":"a","param4":"d","Binary":"00"}}}"#,
        )
        .unwrap();
        assert_eq!(values(&wlb, "Data").unwrap(), ["a", "b"]);
        assert_eq!(values(&wlb, "param4").unwrap(), ["d"]);
        let own = JsonEvent::parse(
            br#"{"winlog":{"event_id":"1","event_data":{"Data":"own","param1":"a"}}}"#,
        )
        .unwrap();
        assert_eq!(
            values(&own, "Data").unwrap(),
            ["own"],
            "a Data of its own wins"
        );
        let none =
            JsonEvent::parse(br#"{"winlog":{"event_id":"1","event_data":{"x":"a"}}}"#).unwrap();
        assert!(values(&none, "Data").is_none());
    }

    /// Every name an event could be asked for: its keys at every depth, the names the
    /// index makes (attributes, keys without spaces, system names), dotted paths and
    /// absent names.
    fn names(doc: &JsonEvent) -> Vec<String> {
        fn walk(n: NodeRef<'_>, path: &str, out: &mut Vec<String>) {
            for (k, v) in n.members() {
                out.push(k.to_string());
                out.push(k.replace(' ', ""));
                let p = if path.is_empty() {
                    k.to_string()
                } else {
                    format!("{path}.{k}")
                };
                out.push(p.clone());
                for (a, _) in v.get("#attributes").into_iter().flat_map(|a| a.members()) {
                    out.push(format!("{k}_{a}"));
                }
                walk(v, &p, out);
            }
            for i in n.items() {
                walk(i, path, out);
            }
        }
        let mut out: Vec<String> = SYSTEM_NAMES.iter().map(|s| s.to_string()).collect();
        out.extend(["Missing", "A_B", "x.y", ""].map(String::from));
        walk(doc.root(), "", &mut out);
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_index_finds_what_walking_finds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/events");
        let mut lines: Vec<String> = Vec::new();
        for f in std::fs::read_dir(format!("{dir}/shapes")).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_some_and(|e| e == "ndjson") {
                lines.extend(
                    std::fs::read_to_string(path)
                        .unwrap()
                        .lines()
                        .map(String::from),
                );
            }
        }
        lines.extend(
            std::fs::read_to_string(format!("{dir}/windows-sample.ndjson"))
                .unwrap()
                .lines()
                .map(String::from),
        );
        // Repeated keys, names with spaces and underscores, attributes that collide.
        lines.extend(
            [
                r##"{"Event":{"System":{"A":{"#attributes":{"B_C":1}},"A_B":{"#attributes":{"C":2}},"A_B_C":3,"EventID":1,"EventID":2},"EventData":{"Threat Name":"x","ThreatName":"y","A B":"z"},"UserData":{"#attributes":{"Q":1},"U":{"Q":2,"R":3},"V":{"Q":4,"S":5}}}}"##,
                r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"p"}}},"EventData":{"Provider_Name":"data"}}}"##,
                r##"{"Event":{"EventData":{"A":1}}}"##,
                r##"{"winlog":{"event_id":1,"channel":"c","event_data":{"X Y":"1","XY":"2"},"user_data":{"Z":1}},"Z":2}"##,
                r##"{"EventID":7045,"Version":0,"ProviderName":"Service Control Manager","StringInserts":["a","b"],"ServiceName":"top"}"##,
                r##"{"EventID":1,"SourceName":"S","Hostname":"h","Source Name":"spaced","EventType":"INFO"}"##,
                r##"{"event_id":1,"channel":"c","event_data":{"A":1},"user_data":{"B":2},"C":3,"A":4}"##,
                r##"{"EventID":1,"ProviderName":"P","EventData":{"A":1,"B C":2},"A":3,"D":4}"##,
                r##"{"a b":1,"ab":2,"c d":3}"##,
            ]
            .map(String::from),
        );
        let mut checked = 0;
        for line in &lines {
            // The sample holds a deliberately broken line.
            let Ok(doc) = JsonEvent::parse(line.as_bytes()) else {
                continue;
            };
            checked += 1;
            let names = names(&doc);
            // Every other name in a vocabulary: the slots must also say "absent" right.
            let vocab = Vocabulary::new(names.iter().step_by(2).map(String::as_str));
            for name in &names {
                let fast = doc.lookup(name).map(|n| n.id());
                let slow = doc.lookup_by_walking(name).map(|n| n.id());
                assert_eq!(fast, slow, "{name} in {line}");
                if let Some(id) = vocab.id(name.as_bytes()) {
                    let slot = doc.lookup_in(&vocab, id).map(|n| n.id());
                    assert_eq!(slot, slow, "{name} in {line}, by id");
                }
            }
            // Slots made for another vocabulary are not used for this one.
            let other = Vocabulary::new(names.iter().map(String::as_str));
            for name in &names {
                let id = other.id(name.as_bytes()).unwrap();
                let slow = doc.lookup_by_walking(name).map(|n| n.id());
                assert_eq!(doc.lookup_in(&other, id).map(|n| n.id()), slow, "{name}");
            }
        }
        assert!(checked > 40, "{checked} events checked");
    }
}
