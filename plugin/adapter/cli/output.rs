//! Writing to standard output and standard error without panicking: `println!` and
//! `eprintln!` panic when the stream is closed (`sigma-transform check | head -1`, or a
//! log collector that went away), which would cost a run its output.
//!
//! - [`out!`]: a line to standard output. A closed pipe ends the command quietly with
//!   status 141 (128 + SIGPIPE, what a shell reports for a command the pipe closed);
//!   another error ends it with the error and status 2.
//! - [`note!`]: a line to standard error; a failed write is ignored (the diagnostic is
//!   lost, never the output).
//! - [`warn_note!`]: [`note!`] for warnings, silent under `-q` ([`set_quiet`]): quiet
//!   means errors only.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// `-q`: warnings are not written.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Silences [`warn_note!`] for the rest of the command.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Writes a warning to standard error unless the command is quiet.
pub fn write_warning(args: std::fmt::Arguments<'_>) {
    if !QUIET.load(Ordering::Relaxed) {
        write_note(args);
    }
}

/// Exit status when standard output is a closed pipe.
pub const BROKEN_PIPE: u8 = 141;

/// Ends the command after standard output failed.
pub fn stdout_failed(e: io::Error) -> ! {
    if e.kind() != io::ErrorKind::BrokenPipe {
        let _ = writeln!(io::stderr(), "sigma-transform: error: standard output: {e}");
        std::process::exit(2);
    }
    std::process::exit(BROKEN_PIPE.into());
}

/// Writes formatted text to standard output (see the module documentation).
pub fn write_out(args: std::fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.flush()) {
        stdout_failed(e);
    }
}

/// Writes formatted text to standard error, ignoring failure.
pub fn write_note(args: std::fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// `println!` that ends the command quietly on a closed pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::adapter::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::adapter::cli::output::write_note(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!` that never panics.
macro_rules! note_raw {
    ($($arg:tt)*) => {
        $crate::adapter::cli::output::write_note(format_args!($($arg)*))
    };
}

/// A warning line: [`note!`] unless `-q`.
macro_rules! warn_note {
    ($($arg:tt)*) => {
        $crate::adapter::cli::output::write_warning(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {note, note_raw, out, warn_note};
