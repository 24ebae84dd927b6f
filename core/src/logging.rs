//! One tracing set-up for every binary: human-readable to stderr by default,
//! JSON lines with `json = true`; the level comes from `RUST_LOG` (default `info`
//! for dfstore crates, `warn` for the rest).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call is ignored), which keeps tests that start several components simple.
/// Colours only when standard error is a terminal: a log redirected to a
/// file or a pipe holds plain text. `quiet` (for cron) logs warnings and
/// errors only, unless `RUST_LOG` says otherwise.
pub fn init_logging(json: bool, quiet: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(if quiet {
            "warn"
        } else {
            "warn,dfstore=info,dfstore_jobs=info,dfstore_core=info"
        })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}

/// The set-up of a cluster node (`dfstore-scheduler`, `dfstore-executor`):
/// plain text without colours, the level from `RUST_LOG` or else
/// `default_level` (the node's `--log-level-setting`), written to standard
/// output or, given a log folder, appended to `<dir>/<name>.log`.
pub fn init_node_logging(
    default_level: &str,
    log_dir: Option<&str>,
    name: &str,
) -> std::io::Result<()> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_env_filter(filter);
    let _ = match log_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(std::path::Path::new(dir).join(format!("{name}.log")))?;
            logs.with_writer(std::sync::Mutex::new(file)).try_init()
        }
        None => logs.try_init(),
    };
    Ok(())
}
