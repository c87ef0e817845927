//! [`Failure`]: how a command ends badly: one message for the user and an exit status.
//!
//! Commands return `Result<(), Failure>` instead of panicking, so every error reaches the user
//! as `aureon-monitor: <what went wrong>` with a non-zero status. Writing to standard output
//! goes through [`print_stdout`], because `println!` panics when the reader has gone away
//! (`aureon-monitor grafana | head`).

use std::io::{self, Write};

/// Exit status for a run that failed (an unreadable file, a port in use, a broken log).
pub const EXIT_FAILURE: u8 = 1;
/// Exit status for bad command-line input (clap uses the same for its own errors).
pub const EXIT_USAGE: u8 = 2;
/// Exit status of `stress` when the run worked but missed the seed's thresholds.
pub const EXIT_THRESHOLDS_MISSED: u8 = 3;

/// A command's failure: what to tell the user and the process's exit status.
#[derive(Debug)]
pub struct Failure {
    /// Printed after `aureon-monitor: ` on standard error (nothing when empty: the command
    /// already said why).
    pub message: String,
    /// The exit status (never 0).
    pub code: u8,
}

impl Failure {
    /// A failed run (exit status 1).
    pub fn run(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_FAILURE,
        }
    }

    /// Bad input on the command line (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: EXIT_USAGE,
        }
    }

    /// A run that completed and already printed its result, ending with `code`.
    pub fn silent(code: u8) -> Self {
        Self {
            message: String::new(),
            code,
        }
    }
}

/// Writes `text` to standard output. A reader that went away (broken pipe) is not an error:
/// whoever piped us into `head` has what they wanted.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::run(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}
