//! Command-line interface: argument parsing and dispatch to the subcommands.

mod blocks;
mod catalog;
mod check;
mod evtx_files;
mod in_order;
mod input;
pub(crate) mod output;
mod run;
mod stop;
mod timeline;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logsource::LogsourceMap;
use crate::rule::BuildOptions;
use crate::transform::stage;

/// Tag log events with the Sigma rules they match.
#[derive(Parser, Debug)]
#[command(name = "sigma-transform", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the transform over NDJSON (files, `.gz` files, or standard input) and write
    /// NDJSON to standard output: one output line per input line, in order.
    Run(RunArgs),
    /// Load rules and report what loaded, what was rejected and why; exit 1 when a rule is
    /// rejected (2 with --strict, or on a usage error), as validate does.
    Check(CheckArgs),
    /// Check a transform config and its rules; exit 1 when a rule is rejected, 2 when the
    /// config itself is wrong.
    Validate {
        /// The config file (TOML, YAML or JSON).
        config: PathBuf,
        /// Which `[transforms.<id>]` of a Vector config, when it has several.
        #[arg(long)]
        id: Option<String>,
    },
    /// Transform config helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Print the catalog page of one rule: ATT&CK and event coverage, stages, indicators
    /// with corpus counts, stricter / broader / same-event neighbours.
    Explain(catalog::ExplainArgs),
    /// The rule catalog: corpus statistics, static HTML site.
    Catalog {
        #[command(subcommand)]
        command: catalog::CatalogCommand,
    },
    /// ATT&CK coverage of the rules: a Navigator layer or a tactic-by-technique summary.
    Coverage(catalog::CoverageArgs),
    /// Run as a pipeline stage: receive events from a shipper (HTTP, forward protocol,
    /// TCP, stdin), tag them, and send them on; acknowledge only what every sink has.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The serve config: Vector-shaped [sources], one [transforms] of type sigma, [sinks].
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Transform worker threads (default: the config's `serve.workers`, else one per core).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Reload the rules when a rule file changes (SIGHUP always reloads).
    #[arg(long)]
    watch: bool,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print the JSON Schema of the transform config, or of a whole serve config.
    Schema {
        /// `transform` (the `sigma` block) or `serve` (sources, transform, sinks).
        #[arg(value_enum, default_value = "transform")]
        of: SchemaOf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SchemaOf {
    Transform,
    Serve,
}

/// Options shared by everything that loads rules.
#[derive(Args, Debug, Clone)]
struct RuleOptions {
    /// Logsource mapping file (default: the built-in rules/logsources.yaml).
    #[arg(long, value_name = "FILE")]
    logsources: Option<PathBuf>,
    /// Values for `expand` placeholders: a YAML map of name to value list.
    #[arg(long, value_name = "FILE")]
    placeholders: Option<PathBuf>,
    /// Fail when any rule is rejected.
    #[arg(long)]
    strict: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// A rule file or directory (searched for .yml/.yaml); repeat the flag for more
    /// (`-r a -r b`). Overrides the config's rules.
    #[arg(long, short = 'r', num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// A Sigma filter file or directory, kept apart from the rules it tunes; repeat the
    /// flag for more. Adds to the config's `filters`.
    #[arg(long, num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    filters: Vec<PathBuf>,
    /// Transform config (TOML, YAML or JSON; a bare `sigma` block or a Vector config).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
    /// Which `[transforms.<id>]` of a Vector config to use, when it has several.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// Inputs: NDJSON files (`.gz` too), `.evtx` files, folders (searched for `.evtx`,
    /// `.ndjson`, `.jsonl` and those gzipped); `-` or none for standard input.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Event shape (default: the config's, else auto).
    #[arg(long, value_enum)]
    shape: Option<crate::event::shape::Shape>,
    /// Output profile (default: the config's, else sigma).
    #[arg(long, value_enum)]
    output: Option<crate::config::OutputProfile>,
    /// Mode (default: the config's, else tag).
    #[arg(long, value_enum)]
    mode: Option<crate::config::Mode>,
    /// Top-level field that receives the tag object (default `sigma`).
    #[arg(long, value_name = "NAME")]
    field: Option<String>,
    /// Only rules at this level or above.
    #[arg(long, value_enum)]
    min_level: Option<crate::config::Level>,
    /// Mode route: where the `_unmatched` output goes (`matched` goes to standard output).
    #[arg(long, value_name = "FILE")]
    unmatched: Option<PathBuf>,
    /// Where correlation alerts go (one line per firing); default: standard output, after
    /// the event that completed the correlation.
    #[arg(long, value_name = "FILE")]
    correlations: Option<PathBuf>,
    /// Print no progress or summary on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Run even when no rule is loaded (by default an error, exit status 2).
    #[arg(long)]
    allow_empty: bool,
    /// Do not look for an event serialized as JSON in `message` or `log` (config
    /// `wrapped_json = false`).
    #[arg(long)]
    no_wrapped_json: bool,
    /// Each match's entry carries `fields`: the event's values of the fields whose tests
    /// decided it (config `matched_fields = true`; costs time on matched events).
    #[arg(long)]
    matched_fields: bool,
    /// What standard output gets: the tagged events (`ndjson`), or a timeline row per
    /// detection (`table`, `csv`: time, computer, channel, event id, level, rule, the
    /// rule's fields, source file and line). `table` and `csv` run in mode `tag`.
    #[arg(long, value_enum, default_value = "ndjson")]
    format: timeline::Format,
    /// Longest line read as an event, in bytes; a longer line is passed through unchanged,
    /// in pieces, and counted (it is never held in memory whole).
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    max_line_bytes: usize,
    /// Threads for the transform (default: one per core). Output order is input order.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
    #[command(flatten)]
    opts: RuleOptions,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Rule files or directories.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// A Sigma filter file or directory to apply to the rules (repeatable).
    #[arg(long, num_args = 1, action = clap::ArgAction::Append, value_name = "PATH")]
    filters: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    opts: RuleOptions,
}

/// Errors that stop a command before it produces output.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0} rule(s) rejected and --strict is set")]
    Strict(usize),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("{0}")]
    Build(#[from] crate::transform::stage::BuildError),
    #[error("{0}")]
    Usage(String),
}

impl RuleOptions {
    fn mapping(&self) -> Result<LogsourceMap, CliError> {
        Ok(stage::load_mapping(self.logsources.as_ref())?)
    }

    fn build(&self) -> Result<BuildOptions, CliError> {
        Ok(BuildOptions::new(
            stage::load_placeholders(self.placeholders.as_ref())?,
            Default::default(),
        ))
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
        Command::Validate { config, id } => validate::validate(&config, id.as_deref()),
        Command::Config {
            command: ConfigCommand::Schema { of },
        } => validate::schema(matches!(of, SchemaOf::Serve)),
        Command::Explain(args) => catalog::explain(args),
        Command::Catalog { command } => catalog::catalog(command),
        Command::Coverage(args) => catalog::coverage(args),
        Command::Serve(args) => {
            let overrides = crate::adapter::serve::Overrides {
                workers: args.workers,
                watch: args.watch,
            };
            crate::adapter::serve::serve(&args.config, &overrides)
                .map(|()| ExitCode::SUCCESS)
                .map_err(|e| CliError::Usage(e.to_string()))
        }
    };
    match result {
        Ok(code) => code,
        Err(CliError::Io(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::from(output::BROKEN_PIPE)
        }
        Err(e) => {
            output::note!("sigma-transform: error: {e}");
            ExitCode::from(2)
        }
    }
}
