//! `dfstore-executor`: the Ballista executor of a dfstore cluster.
//!
//! The cluster mode is not built yet: dfstore runs its jobs on the embedded
//! engine (`dfstore run`). This binary says so instead of pretending to work.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "dfstore-executor: cluster mode is not available in this version; run jobs on the embedded engine with `dfstore run --lake URL`"
    );
    ExitCode::from(2)
}
