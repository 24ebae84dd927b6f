//! One tracing set-up for every binary: human-readable to stderr by default,
//! JSON lines with `json = true`; the level comes from `RUST_LOG` (default `info`
//! for dfstore crates, `warn` for the rest).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call is ignored), which keeps tests that start several components simple.
pub fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("warn,dfstore=info,dfstore_jobs=info,dfstore_core=info")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}
