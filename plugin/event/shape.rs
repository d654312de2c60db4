//! The event shapes shippers produce for Windows events, and how to tell them apart.
//!
//! Every shape carries the same record: system fields (event id, channel, provider,
//! computer) and event data. Each ships them under other names; [`super::json::JsonEvent`]
//! resolves Sigma field names per shape (docs/shapes.md has the tables).

use serde::{Deserialize, Serialize};

use super::tree::NodeRef;

/// The event shape a transform reads (`shape` in the config).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    /// Detect the shape of each event from its keys.
    #[default]
    Auto,
    /// evtx_dump JSON: `Event.System`, `Event.EventData`, `Event.UserData`, `#attributes`.
    EvtxDump,
    /// Winlogbeat / Elastic Agent ECS: `winlog.event_id`, `winlog.channel`,
    /// `winlog.provider_name`, `winlog.event_data.*`, `winlog.user_data.*`.
    Winlogbeat,
    /// NXLog `im_msvistalog` JSON: flat, `SourceName` as provider, `Hostname`, event data at
    /// the top level.
    Nxlog,
    /// Vector's `windows_event_log` source: `event_id`, `provider_name`, `channel`,
    /// `event_data`, `user_data`.
    Vector,
    /// Fluent Bit `winevtlog`: `ProviderName`, `EventID`, `Channel`, and event data either
    /// as an `EventData` map or as the positional `StringInserts` array.
    Fluentbit,
    /// Flat JSON with Sigma field names at the top level.
    Flat,
}

/// The shape of one event once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Concrete {
    EvtxDump,
    Winlogbeat,
    Nxlog,
    Vector,
    FluentbitMap,
    FluentbitInserts,
    Flat,
}

impl Concrete {
    /// The name used in docs and counters.
    pub fn name(self) -> &'static str {
        match self {
            Concrete::EvtxDump => "evtx_dump",
            Concrete::Winlogbeat => "winlogbeat",
            Concrete::Nxlog => "nxlog",
            Concrete::Vector => "vector",
            Concrete::FluentbitMap => "fluentbit_map",
            Concrete::FluentbitInserts => "fluentbit_inserts",
            Concrete::Flat => "flat",
        }
    }
}

/// Detects an event's shape from its top-level keys.
///
/// - `Event.System` (an object): evtx_dump;
/// - `winlog` (an object): Winlogbeat / Elastic Agent;
/// - `ProviderName` with `EventID`, or a `StringInserts` array: Fluent Bit (its `EventData`
///   map when there is one, else the inserts);
/// - `event_id` with `provider_name` or `channel`: Vector;
/// - `SourceName` with `EventID` and `SourceModuleType` or `Hostname`: NXLog;
/// - anything else: flat.
pub fn detect(root: NodeRef<'_>) -> Concrete {
    if root
        .get("Event")
        .and_then(|e| e.get("System"))
        .is_some_and(|s| s.is_object())
    {
        return Concrete::EvtxDump;
    }
    if root.get("winlog").is_some_and(|n| n.is_object()) {
        return Concrete::Winlogbeat;
    }
    fluentbit_kind(root)
        .or_else(|| {
            (has(root, "event_id") && (has(root, "provider_name") || has(root, "channel")))
                .then_some(Concrete::Vector)
        })
        .or_else(|| {
            (has(root, "SourceName")
                && has(root, "EventID")
                && (has(root, "SourceModuleType") || has(root, "Hostname")))
            .then_some(Concrete::Nxlog)
        })
        .unwrap_or(Concrete::Flat)
}

fn has(root: NodeRef<'_>, key: &str) -> bool {
    root.get(key).is_some()
}

fn fluentbit_kind(root: NodeRef<'_>) -> Option<Concrete> {
    // With its event-data-as-map option Fluent Bit still sends the inserts by default:
    // the named map wins.
    if root.get("EventData").is_some_and(|n| n.is_object()) && has(root, "EventID") {
        return Some(Concrete::FluentbitMap);
    }
    if root.get("StringInserts").is_some_and(|n| n.is_array()) {
        return Some(Concrete::FluentbitInserts);
    }
    if has(root, "ProviderName") && has(root, "EventID") {
        return Some(if root.get("EventData").is_some_and(|n| n.is_object()) {
            Concrete::FluentbitMap
        } else {
            Concrete::FluentbitInserts
        });
    }
    None
}

impl Shape {
    /// The concrete shape of an event read with this setting.
    pub fn resolve(self, root: NodeRef<'_>) -> Concrete {
        match self {
            Shape::Auto => detect(root),
            Shape::EvtxDump => Concrete::EvtxDump,
            Shape::Winlogbeat => Concrete::Winlogbeat,
            Shape::Nxlog => Concrete::Nxlog,
            Shape::Vector => Concrete::Vector,
            Shape::Fluentbit => fluentbit_kind(root).unwrap_or(Concrete::FluentbitMap),
            Shape::Flat => Concrete::Flat,
        }
    }
}
