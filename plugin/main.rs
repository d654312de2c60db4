//! The `sigma-transform` command: see `sigma-transform --help` and README.md.

fn main() -> std::process::ExitCode {
    sigma_transform::adapter::cli::main()
}
