//! `sigma-transform explain`, `catalog stats`, `catalog html` and `coverage`: the rule
//! catalog on the command line (see plugin/catalog and docs/catalog.md).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};

use super::output::note;
use super::{CliError, RuleOptions};
use crate::catalog::Catalog;
use crate::config::SigmaConfig;
use crate::matcher::CompileNote;
use crate::ruleset::RuleSet;
use crate::transform::stage::SigmaTransform;

/// Output formats of `explain`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PageFormat {
    Text,
    Markdown,
    Json,
}

/// Output formats of `catalog stats`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum StatsFormat {
    Text,
    Json,
}

/// Output formats of `coverage`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum CoverageFormat {
    /// An ATT&CK Navigator layer (JSON, layer format 4.5).
    Navigator,
    /// A tactic-by-technique summary.
    Text,
}

/// Rules to load, shared by the catalog commands.
#[derive(Args, Debug)]
pub struct CatalogRules {
    /// A rule file or directory (searched for .yml/.yaml); repeat the flag for more
    /// (`-r a -r b`).
    #[arg(long, short = 'r', num_args = 1, action = clap::ArgAction::Append, required = true, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Sigma filter files or directories to apply to the rules (repeatable).
    #[arg(long, num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    pub filters: Vec<PathBuf>,
    #[command(flatten)]
    pub opts: RuleOptions,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The rule: its id, its title or its file path.
    #[arg(value_name = "RULE")]
    pub rule: String,
    #[command(flatten)]
    pub load: CatalogRules,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: PageFormat,
}

#[derive(Subcommand, Debug)]
pub enum CatalogCommand {
    /// Corpus statistics: rules per level, status, logsource, tactic and technique, the most
    /// shared indicators, rules without ATT&CK tags.
    Stats {
        #[command(flatten)]
        load: CatalogRules,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: StatsFormat,
        /// Rows shown in the longer lists (text format).
        #[arg(long, default_value_t = 20)]
        top: usize,
    },
    /// Write a static HTML catalog (index with search and filters, one page per rule).
    Html {
        #[command(flatten)]
        load: CatalogRules,
        /// Output folder (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Args, Debug)]
pub struct CoverageArgs {
    /// A rule file or directory (searched for .yml/.yaml); repeat the flag for more.
    /// Overrides the config's rules.
    #[arg(long, short = 'r', num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// A Sigma filter file or directory; repeat the flag for more.
    #[arg(long, num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    pub filters: Vec<PathBuf>,
    /// A transform config: its rules, filters, mapping and rule selection (`min_level`,
    /// `include`, `exclude`) decide what is counted, as `run --config` would load it.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub opts: RuleOptions,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: CoverageFormat,
    /// Write to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

fn load(l: &CatalogRules) -> Result<Catalog, CliError> {
    let map = l.opts.mapping()?;
    let build = l.opts.build()?;
    let set = RuleSet::load_with_filters(&l.rules, &l.filters, &build);
    if !set.rejected.is_empty() {
        note!(
            "sigma-transform: {} rule(s) rejected (see `sigma-transform check`); {} loaded",
            set.rejected.len(),
            set.rules.len()
        );
        if l.opts.strict {
            return Err(CliError::Strict(set.rejected.len()));
        }
    }
    Ok(Catalog::build(set.rules, &map))
}

fn emit(out: Option<&Path>, text: &str) -> Result<(), CliError> {
    match out {
        Some(p) => std::fs::write(p, text).map_err(CliError::Io),
        None => {
            super::output::write_out(format_args!("{text}"));
            Ok(())
        }
    }
}

pub fn explain(args: ExplainArgs) -> Result<ExitCode, CliError> {
    let cat = load(&args.load)?;
    let i = cat.find(&args.rule).map_err(CliError::Usage)?;
    let page = cat.page(i);
    let text = match args.format {
        PageFormat::Text => page.to_text(),
        PageFormat::Markdown => page.to_markdown(),
        PageFormat::Json => {
            serde_json::to_string_pretty(&page).expect("the page serializes") + "\n"
        }
    };
    emit(None, &text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn catalog(cmd: CatalogCommand) -> Result<ExitCode, CliError> {
    match cmd {
        CatalogCommand::Stats {
            load: l,
            format,
            top,
        } => {
            let cat = load(&l)?;
            let stats = cat.stats(top);
            let text = match format {
                StatsFormat::Text => stats.to_text(top),
                StatsFormat::Json => {
                    serde_json::to_string_pretty(&stats).expect("stats serialize") + "\n"
                }
            };
            emit(None, &text)?;
        }
        CatalogCommand::Html { load: l, out } => {
            let t = std::time::Instant::now();
            let cat = load(&l)?;
            let loaded = t.elapsed().as_secs_f64();
            let report = crate::catalog::html::write_site(&cat, &out)?;
            let b = cat.build_stats();
            note!(
                "wrote {} rule pages and the index to {} ({:.1} MB) in {:.2} s (rules and catalog {:.2} s, of which neighbours {:.2} s over {} candidate pairs; pages {:.2} s); {} stricter/broader and {} equivalent pairs",
                report.pages,
                out.display(),
                report.bytes as f64 / 1e6,
                t.elapsed().as_secs_f64(),
                loaded,
                b.millis_neighbours as f64 / 1e3,
                b.candidate_pairs,
                t.elapsed().as_secs_f64() - loaded,
                b.stricter_pairs,
                b.equivalent_pairs
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// ATT&CK coverage of the rules that can fire: loaded as `run` loads them (the config's
/// selection applied), without the rules that will not fire (no logsource mapping, or a
/// pattern over a size limit), which are counted in a note.
pub fn coverage(args: CoverageArgs) -> Result<ExitCode, CliError> {
    let mut cfg = match &args.config {
        Some(path) => crate::config::load(path, None)?.config,
        None if args.rules.is_empty() => {
            return Err(CliError::Usage("give --rules PATH or --config FILE".into()));
        }
        None => SigmaConfig::new(Vec::new()),
    };
    if !args.rules.is_empty() {
        cfg.rules = args.rules.clone();
    }
    cfg.filters.extend(args.filters.iter().cloned());
    if let Some(p) = &args.opts.logsources {
        cfg.logsources = Some(p.clone());
    }
    if let Some(p) = &args.opts.placeholders {
        cfg.placeholders = Some(p.clone());
    }
    cfg.strict |= args.opts.strict;
    let t = SigmaTransform::from_config(&cfg)?;
    let engine = t.engine();
    let silent: std::collections::HashSet<usize> = engine
        .notes()
        .iter()
        .map(|n| match n {
            CompileNote::UnmappedLogsource { rule, .. } | CompileNote::TooLarge { rule, .. } => {
                *rule
            }
        })
        .collect();
    let report = t.report();
    note!(
        "sigma-transform: coverage of {} rules that can fire ({} loaded; left out: {} that will not fire, {} deselected, {} rejected)",
        engine.rules().len() - silent.len(),
        report.total,
        silent.len(),
        report.deselected,
        report.rejected.len()
    );
    let rules: Vec<_> = engine
        .rules()
        .iter()
        .enumerate()
        .filter(|(i, _)| !silent.contains(i))
        .map(|(_, r)| r.clone())
        .collect();
    let map = crate::transform::stage::load_mapping(cfg.logsources.as_ref())?;
    let cat = Catalog::build(rules, &map);
    let text = match args.format {
        CoverageFormat::Navigator => {
            let layer = cat.navigator_layer("Sigma rule coverage");
            serde_json::to_string_pretty(&layer).expect("the layer serializes") + "\n"
        }
        CoverageFormat::Text => cat.coverage_text(),
    };
    emit(args.out.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}
