//! What the commands print for people.

/// Crawls and their changes as text.
pub mod catalog;
/// `dfstore tables` and `dfstore runs`.
pub mod inventory;
/// What a warehouse load did.
pub mod load;
/// What a nightly run did.
pub mod nightly;
/// `dfstore init`, `check` and `test`.
pub mod project;
/// The summaries of runs, generations, ingests and verifications.
pub mod run;

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether `--quiet` was given: summaries are not printed.
static QUIET: AtomicBool = AtomicBool::new(false);

/// Sets `--quiet` for the process.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Whether `--quiet` was given.
pub fn is_quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Prints a summary for people to standard output, unless `--quiet`. A
/// summary that cannot be written (a reader gone) fails nothing: the work
/// it describes is done.
pub fn say(text: &str) {
    if !QUIET.load(Ordering::Relaxed) {
        let _ = print(text);
    }
}

/// Prints `value` as one JSON document on standard output, `--quiet` or
/// not: it is what the command was asked for, like a query's rows.
pub fn print_json(value: &impl serde::Serialize) -> crate::error::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| crate::error::Error::Internal {
        what: format!("cannot write JSON: {e}"),
    })?;
    print(&format!("{text}\n"))
}

/// Writes what a command was asked for to standard output. A reader that
/// closed the pipe (`| head`) ends the output, as for any Unix filter, and
/// is no failure; any other failure to write is.
pub fn print(text: &str) -> crate::error::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(crate::error::Error::Internal {
                what: format!("writing to standard output: {e}"),
            })
        }
        _ => Ok(()),
    }
}
