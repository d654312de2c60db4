//! `sigma-transform validate CONFIG` and `sigma-transform config schema`: check a transform
//! config and its rules before a pipeline starts; print the config's JSON Schema.

use std::path::Path;
use std::process::ExitCode;

use super::CliError;
use super::output::out;
use crate::config::{self, SigmaConfig};
use crate::transform::stage::SigmaTransform;

/// Exit status when the config reads but its rules do not all load (or none does).
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
    // Built with `allow_empty`, so that rejections are listed even when none loads.
    let mut cfg = loaded.config.clone();
    cfg.allow_empty = true;
    let t = SigmaTransform::from_config(&cfg)?;
    let report = t.report();
    for r in &report.rejected {
        out!("rejected: {r}");
    }
    for r in &report.not_evaluated {
        out!("not evaluated: {r}");
    }
    for w in &report.warnings {
        out!("warning: {w}");
    }
    let name = loaded
        .id
        .as_deref()
        .map(|i| format!("transforms.{i}"))
        .unwrap_or_else(|| "config".into());
    let rules = t.engine().rules().len();
    let verdict = if !report.rejected.is_empty() {
        format!("has errors: {} rule(s) rejected", report.rejected.len())
    } else if rules == 0 && !loaded.config.allow_empty {
        "has errors: no rule is loaded (set allow_empty if that is intended)".to_string()
    } else {
        "is valid".to_string()
    };
    out!(
        "{}: {name} {verdict}: type sigma, mode {}, output {}, shape {}; {} rules loaded of {} ({} rejected, {} deselected, {} will not fire)",
        path.display(),
        written(&cfg.mode),
        written(&cfg.output),
        written(&cfg.shape),
        rules,
        report.total,
        report.rejected.len(),
        report.deselected,
        t.engine().notes().len()
    );
    Ok(if verdict == "is valid" {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REJECTED)
    })
}

/// An option's value as it is written in a config (`tag`, not `Tag`).
fn written(value: &impl serde::Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => "?".into(),
    }
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
