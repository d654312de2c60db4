//! Shared helpers for integration tests.
#![allow(dead_code)]

pub mod reference;
pub mod shapes;

use std::collections::BTreeSet;

use sigma_transform::event::json::JsonEvent;
use sigma_transform::transform::{Transform, TransformScratch};

/// The ids of the rules `t` fires on `event` (auto-detected shape).
pub fn rule_ids(
    t: &Transform,
    scratch: &mut TransformScratch,
    event: &serde_json::Value,
) -> BTreeSet<String> {
    let doc = JsonEvent::from_value(event).unwrap();
    t.match_event(&doc, scratch)
        .into_iter()
        .map(|i| t.rules()[i].meta.id.clone().unwrap_or_default())
        .collect()
}
