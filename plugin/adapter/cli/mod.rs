//! Command-line interface: argument parsing and dispatch to the subcommands.

mod check;
mod input;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logsource::LogsourceMap;
use crate::rule::BuildOptions;
use crate::rule::placeholders::Placeholders;

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
    /// Load rules and report what loaded, what was rejected and why.
    Check(CheckArgs),
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
    /// Rule files or directories (searched for .yml/.yaml).
    #[arg(long, short = 'r', required = true, num_args = 1.., value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Input files (NDJSON, optionally .gz); `-` or none for standard input.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// Top-level field that receives the tag object.
    #[arg(long, default_value = "sigma", value_name = "NAME")]
    field: String,
    /// Print no summary on standard error.
    #[arg(long, short = 'q')]
    quiet: bool,
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
    Read { path: PathBuf, error: std::io::Error },
    #[error("invalid logsource mapping {path}: {reason}")]
    Mapping { path: PathBuf, reason: String },
    #[error("invalid placeholders file {path}: {reason}")]
    Placeholders { path: PathBuf, reason: String },
    #[error("{0} rule(s) rejected and --strict is set")]
    Strict(usize),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl RuleOptions {
    fn mapping(&self) -> Result<LogsourceMap, CliError> {
        match &self.logsources {
            None => Ok(LogsourceMap::builtin()),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|error| CliError::Read {
                    path: p.clone(),
                    error,
                })?;
                LogsourceMap::from_yaml(&text).map_err(|reason| CliError::Mapping { path: p.clone(), reason })
            }
        }
    }

    fn build(&self) -> Result<BuildOptions, CliError> {
        let placeholders = match &self.placeholders {
            None => Placeholders::default(),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|error| CliError::Read {
                    path: p.clone(),
                    error,
                })?;
                Placeholders::from_yaml(&text).map_err(|reason| CliError::Placeholders { path: p.clone(), reason })?
            }
        };
        Ok(BuildOptions { placeholders })
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(args),
        Command::Check(args) => check::check(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sigma-transform: error: {e}");
            ExitCode::from(2)
        }
    }
}
