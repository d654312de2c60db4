//! An event on its way through `serve`: the JSON object's bytes, as the transform reads and
//! writes them, and what its source knew about it that must go back out unchanged (a
//! forward-protocol tag and time).

use std::sync::Arc;

use bytes::Bytes;

/// What a source knew about an event besides its bytes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Meta {
    /// The forward-protocol tag it came with.
    pub tag: Option<Arc<str>>,
    /// The forward-protocol time it came with (an integer or an `EventTime` extension),
    /// kept exactly.
    pub time: Option<rmpv::Value>,
}

/// One event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// One JSON object (or, for a line that is not one, that line), no terminator.
    pub data: Bytes,
    pub meta: Meta,
}

impl Event {
    /// An event with no source metadata.
    pub fn plain(data: Bytes) -> Event {
        Event {
            data,
            meta: Meta::default(),
        }
    }
}

/// The byte size of events, as the metrics count it.
pub fn byte_size(events: &[Event]) -> u64 {
    events.iter().map(|e| e.data.len() as u64).sum()
}
