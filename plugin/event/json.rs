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

use std::sync::{Arc, OnceLock};

use serde_json::Value;

use super::inserts::InsertNames;
use super::shape::{Concrete, Shape};
use super::tree::Node;
use super::{Document, Scalar};

/// Reads events of a configured shape.
#[derive(Clone, Debug)]
pub struct EventReader {
    shape: Shape,
    inserts: Arc<InsertNames>,
}

impl Default for EventReader {
    fn default() -> Self {
        static BUILTIN: OnceLock<Arc<InsertNames>> = OnceLock::new();
        EventReader {
            shape: Shape::Auto,
            inserts: BUILTIN
                .get_or_init(|| Arc::new(InsertNames::builtin()))
                .clone(),
        }
    }
}

impl EventReader {
    /// A reader for `shape` with the given StringInserts names.
    pub fn new(shape: Shape, inserts: Arc<InsertNames>) -> EventReader {
        EventReader { shape, inserts }
    }

    /// A reader for `shape` with the built-in StringInserts names.
    pub fn with_shape(shape: Shape) -> EventReader {
        EventReader {
            shape,
            ..EventReader::default()
        }
    }

    /// Parses one JSON event, borrowing its strings from `bytes`.
    pub fn read<'a>(&self, bytes: &'a [u8]) -> Result<JsonEvent<'a>, String> {
        let root = Node::parse(bytes).map_err(|e| e.to_string())?;
        self.read_node(root)
    }

    /// Wraps a parsed `serde_json::Value`.
    pub fn read_value(&self, root: Value) -> Result<JsonEvent<'static>, String> {
        self.read_node(Node::from_value(root))
    }

    /// Wraps a parsed tree.
    pub fn read_node<'a>(&self, root: Node<'a>) -> Result<JsonEvent<'a>, String> {
        if !root.is_object() {
            return Err("the JSON value is not an object".into());
        }
        let shape = self.shape.resolve(&root);
        let mut insert_names = None;
        if shape == Concrete::FluentbitInserts {
            let inserts = root
                .get("StringInserts")
                .and_then(Node::items)
                .map_or(0, <[Node]>::len);
            let provider = root
                .get("ProviderName")
                .and_then(Node::as_str)
                .unwrap_or_default();
            let id = root.get("EventID").and_then(Node::as_u64);
            let version = root.get("Version").and_then(Node::as_u64);
            insert_names = id.and_then(|id| self.inserts.lookup(provider, id, version, inserts));
        }
        let data = data_container(&root, shape).unwrap_or(&root);
        let spaced = data
            .members()
            .is_some_and(|m| m.iter().any(|(k, _)| k.contains(' ')))
            || insert_names
                .as_ref()
                .is_some_and(|n| n.iter().any(|k| k.contains(' ')));
        Ok(JsonEvent {
            root,
            shape,
            spaced,
            insert_names,
        })
    }
}

/// The object holding named event data, per shape (`None`: the top level).
fn data_container<'n, 'a>(root: &'n Node<'a>, shape: Concrete) -> Option<&'n Node<'a>> {
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
    root: Node<'a>,
    shape: Concrete,
    spaced: bool,
    insert_names: Option<Arc<[String]>>,
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
    pub fn parse(bytes: &'a [u8]) -> Result<JsonEvent<'a>, String> {
        EventReader::default().read(bytes)
    }

    /// Wraps an already parsed value (shape auto-detected).
    pub fn from_value(root: Value) -> Result<JsonEvent<'static>, String> {
        EventReader::default().read_value(root)
    }

    /// The event's tree.
    pub fn root(&self) -> &Node<'a> {
        &self.root
    }

    /// The event as a `serde_json::Value` (a copy).
    pub fn to_value(&self) -> Value {
        self.root.to_value()
    }

    /// The event as a `serde_json::Value`.
    pub fn into_value(self) -> Value {
        self.root.to_value()
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
        self.shape == Concrete::FluentbitInserts && self.insert_names.is_none()
    }

    fn in_data<'n>(&self, data: Option<&'n Node<'a>>, name: &str) -> Option<&'n Node<'a>> {
        let data = data?;
        if let Some(v) = data.get(name) {
            return Some(v);
        }
        self.spaced_only(data, name)
    }

    fn spaced_only<'n>(&self, data: &'n Node<'a>, name: &str) -> Option<&'n Node<'a>> {
        if !self.spaced {
            return None;
        }
        data.members()?
            .iter()
            .find(|(k, _)| same_without_spaces(k, name))
            .map(|(_, v)| v)
    }

    fn lookup(&self, name: &str) -> Option<&Node<'a>> {
        let root = &self.root;
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
                    let names = self.insert_names.as_ref()?;
                    let i = names.iter().position(|n| n == name).or_else(|| {
                        self.spaced
                            .then(|| names.iter().position(|n| same_without_spaces(n, name)))?
                    })?;
                    root.get("StringInserts")?.items()?.get(i)
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

fn user_data<'n, 'a>(user: Option<&'n Node<'a>>, name: &str) -> Option<&'n Node<'a>> {
    user?
        .members()?
        .iter()
        .filter(|(k, _)| k != "#attributes")
        .find_map(|(_, child)| child.get(name))
}

/// True when `key` with its spaces removed equals `name`.
fn same_without_spaces(key: &str, name: &str) -> bool {
    key.contains(' ') && key.bytes().filter(|b| *b != b' ').eq(name.bytes())
}

fn visit_value(v: &Node<'_>, visit: &mut dyn FnMut(Scalar<'_>)) {
    match v {
        Node::Null => visit(Scalar::Null),
        Node::Bool(b) => visit(Scalar::Bool(*b)),
        Node::Int(i) => visit(Scalar::Int(*i)),
        Node::UInt(u) => visit(Scalar::UInt(*u)),
        Node::Float(f) => visit(Scalar::Float(*f)),
        Node::Str(s) => visit(Scalar::Str(s)),
        Node::Arr(items) => items.iter().for_each(|i| visit_value(i, visit)),
        Node::Obj(_) => {
            if let Some(t) = v.get("#text") {
                visit_value(t, visit);
            }
        }
    }
}

fn visit_all(v: &Node<'_>, visit: &mut dyn FnMut(Scalar<'_>)) {
    match v {
        Node::Arr(items) => items.iter().for_each(|i| visit_all(i, visit)),
        Node::Obj(m) => m.iter().for_each(|(_, i)| visit_all(i, visit)),
        other => visit_value(other, visit),
    }
}

impl Document for JsonEvent<'_> {
    fn is_complete(&self) -> bool {
        !self.lacks_template()
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
            None => false,
        }
    }

    fn all_values(&self, visit: &mut dyn FnMut(Scalar<'_>)) {
        let root = &self.root;
        match self.shape {
            Concrete::EvtxDump | Concrete::Nxlog | Concrete::Flat => visit_all(&self.root, visit),
            Concrete::Winlogbeat => {
                if let Some(w) = root.get("winlog") {
                    visit_all(w, visit)
                }
            }
            Concrete::Vector | Concrete::FluentbitMap | Concrete::FluentbitInserts => {
                // System fields and event data; not the rendered `message`, which repeats
                // the data in words and is absent from the record itself.
                for (k, v) in root.members().unwrap_or_default() {
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
}
