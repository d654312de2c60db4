//! Rule reloads while serving: on SIGHUP, or when `watch` sees a rule or data file change.
//! The new rule set compiles in the background while the old one keeps running; it is
//! swapped in whole between batches (see [`super::workers::Rules`]). A rule set that fails
//! to build, or loads no rule at all, is refused: the running one stays, and the failure
//! is logged and counted (`sigma_reloads_total{result="failure"}`).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use super::pipeline::Pipeline;
use super::workers::Loaded;
use crate::config::SigmaConfig;
use crate::transform::stage::SigmaTransform;

/// Counts rule-set generations.
static GENERATION: AtomicU64 = AtomicU64::new(1);

/// Compiles the rules of `cfg` as generation `next`.
pub fn build(cfg: &SigmaConfig) -> Result<Loaded, String> {
    let t = SigmaTransform::from_config(cfg).map_err(|e| e.to_string())?;
    for r in &t.report().rejected {
        tracing::warn!("rule rejected: {r}");
    }
    if t.report().correlations > 0 {
        tracing::info!(
            correlations = t.report().correlations,
            "correlations loaded: events run through one ordered stage (one core), whatever `workers` says"
        );
    }
    if t.engine().rules().is_empty() {
        return Err(format!(
            "no rule loaded from {}",
            cfg.rules
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(Loaded::new(t, GENERATION.fetch_add(1, Ordering::Relaxed)))
}

/// Rebuilds the rules and swaps them in; the running set stays when that fails.
pub async fn reload(pipeline: Arc<Pipeline>, cfg: SigmaConfig) {
    let started = std::time::Instant::now();
    let built = tokio::task::spawn_blocking(move || build(&cfg))
        .await
        .unwrap_or_else(|e| Err(format!("the rule build panicked: {e}")));
    match built {
        Ok(loaded) => {
            let n = loaded.transform.engine().rules().len();
            pipeline.rules.swap(loaded);
            pipeline
                .metrics
                .rules_loaded
                .store(n as u64, Ordering::Relaxed);
            pipeline.metrics.reloads_ok.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                rules = n,
                seconds = started.elapsed().as_secs_f64(),
                "rules reloaded"
            );
        }
        Err(e) => {
            pipeline
                .metrics
                .reloads_failed
                .fetch_add(1, Ordering::Relaxed);
            tracing::error!("rule reload failed, the running rules stay: {e}");
        }
    }
}

/// What `watch` compares: every rule file and data file with its size and change time.
pub fn fingerprint(cfg: &SigmaConfig) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut files = crate::document::rule_files(&cfg.rules).files;
    files.extend(crate::document::rule_files(&cfg.filters).files);
    files.extend(
        [&cfg.logsources, &cfg.placeholders, &cfg.string_inserts]
            .into_iter()
            .flatten()
            .cloned(),
    );
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}
