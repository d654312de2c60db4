//! `sigma-transform validate CONFIG` and `sigma-transform config schema`: check a transform
//! config and its rules before a pipeline starts; print the config's JSON Schema.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;
use super::output::out;
use crate::config::{self, SigmaConfig};
use crate::transform::stage::SigmaTransform;

/// Exit status when the config is valid but some rules were rejected.
const REJECTED: u8 = 1;

pub fn validate(path: &Path, id: Option<&str>) -> Result<ExitCode, CliError> {
    // A serve config (with sources and sinks) is checked whole: wiring, then the rules.
    if let Some(topology) = crate::adapter::serve::validate_topology(path) {
        let t = topology?;
        out!(
            "{}: serve topology is valid: sources {}, transform {}, sinks {}",
            path.display(),
            t.config
                .sources
                .iter()
                .map(|(id, s)| format!("{id} ({})", s.type_name()))
                .collect::<Vec<_>>()
                .join(", "),
            t.transform_id,
            t.config
                .sinks
                .iter()
                .map(|(id, s)| format!("{id} ({})", s.type_name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let loaded = config::load(path, id)?;
    let cfg = &loaded.config;
    let t = SigmaTransform::from_config(cfg)?;
    let report = t.report();
    for r in &report.rejected {
        out!("rejected: {r}");
    }
    for r in &report.not_evaluated {
        out!("not evaluated: {r}");
    }
    let name = loaded
        .id
        .as_deref()
        .map(|i| format!("transforms.{i}"))
        .unwrap_or_else(|| "config".into());
    out!(
        "{}: {name} is valid: type sigma, mode {:?}, output {:?}, shape {:?}; {} rules loaded of {} ({} rejected, {} deselected, {} will not fire)",
        path.display(),
        cfg.mode,
        cfg.output,
        cfg.shape,
        t.engine().rules().len(),
        report.total,
        report.rejected.len(),
        report.deselected,
        t.engine().notes().len()
    );
    if t.engine().rules().is_empty() {
        out!("warning: no rule is loaded; the transform will tag nothing");
    }
    Ok(if report.rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REJECTED)
    })
}

pub fn schema(serve: bool) -> Result<ExitCode, CliError> {
    let schema = if serve {
        crate::adapter::serve::config::schema()
    } else {
        SigmaConfig::schema()
    };
    out!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("schema serializes")
    );
    Ok(ExitCode::SUCCESS)
}
