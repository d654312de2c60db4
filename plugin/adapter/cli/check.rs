//! `sigma-transform check`: load rules and report what loaded, what was rejected (with
//! file, line and reason), what is not evaluated yet, and what will not fire.

use std::process::ExitCode;

use serde_json::json;

use super::output::out;
use super::{CheckArgs, CliError, Format};
use crate::matcher::CompileNote;
use crate::ruleset::RuleSet;
use crate::transform::{Transform, TransformOptions};

pub fn check(args: CheckArgs) -> Result<ExitCode, CliError> {
    let map = args.opts.mapping()?;
    let build = args.opts.build()?;
    let set = RuleSet::load_with_filters(&args.paths, &args.filters, &build);
    let total = set.total();
    let rejected = set.rejected.clone();
    let not_evaluated = set.not_evaluated.clone();
    let skipped = set.skipped.clone();
    let warnings = set.warnings.clone();
    // Each filter with the rules it was applied to.
    let filters: Vec<(&crate::rule::filter::Filter, Vec<&crate::rule::Rule>)> = set
        .filters
        .iter()
        .map(|f| {
            let applied = set
                .rules
                .iter()
                .filter(|r| {
                    r.filters
                        .iter()
                        .any(|a| a.path == f.path && a.title == f.title && a.id == f.id)
                })
                .collect();
            (f, applied)
        })
        .collect();
    let filter_report: Vec<serde_json::Value> = filters
        .iter()
        .map(|(f, rules)| {
            json!({
                "title": f.title,
                "id": f.id,
                "path": f.path.display().to_string(),
                "condition": f.condition_text(),
                "applied_to": rules.iter().map(|r| json!({
                    "id": r.meta.id,
                    "title": r.meta.title,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let filter_lines: Vec<String> = filters
        .iter()
        .map(|(f, rules)| {
            let names: Vec<&str> = rules
                .iter()
                .map(|r| r.meta.id.as_deref().unwrap_or(&r.meta.title))
                .collect();
            format!(
                "filter: {} ({}): '{}' applied to {} rule(s){}{}",
                f.title,
                f.path.display(),
                f.condition_text(),
                names.len(),
                if names.is_empty() { "" } else { ": " },
                names.join(", ")
            )
        })
        .collect();
    let n_filters = filters.len();
    drop(filters);
    let n_corr = set.correlations.len();
    let corr_report: Vec<serde_json::Value> = set
        .correlations
        .iter()
        .map(|c| {
            json!({
                "title": c.meta.title,
                "id": c.meta.id,
                "name": c.meta.name,
                "path": c.path.display().to_string(),
                "type": c.kind.name(),
                "rules": c.rules,
                "group_by": c.group_by,
                "timespan_secs": c.timespan_secs,
                "condition": c.condition_text(),
                "generate": c.generate,
            })
        })
        .collect();
    let corr_lines: Vec<String> = set
        .correlations
        .iter()
        .map(|c| {
            format!(
                "correlation: {} ({}): {} over {} within {}s{}: {}",
                c.meta.title,
                c.path.display(),
                c.kind.name(),
                c.rules.join(", "),
                c.timespan_secs,
                if c.group_by.is_empty() {
                    String::new()
                } else {
                    format!(" by {}", c.group_by.join(", "))
                },
                c.condition_text()
            )
        })
        .collect();
    let transform = Transform::new(set.rules, &map, TransformOptions::default());
    let rules = transform.rules();
    let loaded = rules.len();
    let mut unmapped = Vec::new();
    let mut disabled = Vec::new();
    for note in transform.notes() {
        match note {
            CompileNote::UnmappedLogsource { rule, logsource } => {
                unmapped.push((*rule, logsource.clone()))
            }
            CompileNote::TooLarge { rule, reason } => disabled.push((*rule, reason.clone())),
        }
    }
    let unknown_tags: usize = transform
        .tags()
        .iter()
        .map(|t| t.unknown_attack_tags.len())
        .sum();
    match args.format {
        Format::Json => {
            let rej = |v: &[crate::rule::Rejection]| {
                v.iter()
                    .map(|r| {
                        json!({
                            "path": r.path.display().to_string(),
                            "line": r.line,
                            "rule": r.rule,
                            "reason": r.error.to_string(),
                        })
                    })
                    .collect::<Vec<_>>()
            };
            let report = json!({
                "total": total,
                "loaded": loaded,
                "rejected": rej(&rejected),
                "not_evaluated": rej(&not_evaluated),
                "filters": filter_report,
                "correlations": corr_report,
                "warnings": warnings,
                "skipped_non_sigma": skipped.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
                "unmapped_logsource": unmapped.iter().map(|(r, ls)| json!({
                    "path": rules[*r].path.display().to_string(),
                    "id": rules[*r].meta.id,
                    "logsource": ls,
                })).collect::<Vec<_>>(),
                "disabled": disabled.iter().map(|(r, reason)| json!({
                    "path": rules[*r].path.display().to_string(),
                    "id": rules[*r].meta.id,
                    "reason": reason,
                })).collect::<Vec<_>>(),
                "unknown_attack_tags": unknown_tags,
                "matcher": {
                    "variants": transform.matcher().stats().variants,
                    "predicates": transform.matcher().stats().predicates,
                    "fields": transform.matcher().stats().fields,
                    "event_kinds": transform.matcher().stats().event_kinds,
                    "regexes": transform.matcher().stats().regexes,
                    "globs": transform.matcher().stats().globs,
                    "unfiltered_globs": transform.matcher().stats().unfiltered_globs,
                },
            });
            out!(
                "{}",
                serde_json::to_string_pretty(&report).expect("report serializes")
            );
        }
        Format::Text => {
            for r in &rejected {
                out!("rejected: {r}");
            }
            for r in &not_evaluated {
                out!("not evaluated: {r}");
            }
            for p in &skipped {
                out!("skipped (not a Sigma document): {}", p.display());
            }
            for l in filter_lines.iter().chain(&corr_lines) {
                out!("{l}");
            }
            for w in &warnings {
                out!("warning: {w}");
            }
            for (r, reason) in &disabled {
                out!("disabled: {}: {reason}", rules[*r].path.display());
            }
            let mut by_ls: std::collections::BTreeMap<&str, usize> = Default::default();
            for (_, ls) in &unmapped {
                *by_ls.entry(ls.as_str()).or_default() += 1;
            }
            for (ls, n) in &by_ls {
                out!("no logsource mapping (will not fire): {n} rule(s) with {ls}");
            }
            let pct = if total == 0 {
                100.0
            } else {
                100.0 * (loaded + n_filters + n_corr) as f64 / total as f64
            };
            out!(
                "{total} documents: {} loaded ({pct:.2}%; {loaded} rules, {n_filters} filters, {n_corr} correlations), {} rejected, {} not evaluated; \
                 {} loaded rules have no logsource mapping; {unknown_tags} unknown ATT&CK tags",
                loaded + n_filters + n_corr,
                rejected.len(),
                not_evaluated.len(),
                unmapped.len()
            );
        }
    }
    if args.opts.strict && !rejected.is_empty() {
        return Err(CliError::Strict(rejected.len()));
    }
    // As `validate`: 1 when a rule is rejected, so scripts can tell.
    Ok(if rejected.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
