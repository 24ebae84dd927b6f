//! One tracing set-up for every binary: human-readable to stderr by default,
//! JSON lines with `json = true`; the level comes from `RUST_LOG` (default `info`
//! for dfstore crates, `warn` for the rest).

use std::io::IsTerminal;

use indicatif::ProgressState;
use tracing_indicatif::IndicatifLayer;
use tracing_indicatif::filter::{IndicatifFilter, hide_indicatif_span_fields};
use tracing_indicatif::style::ProgressStyle;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::{Layer as _, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// Installs the global subscriber. Calling it twice is harmless (the second
/// call is ignored), which keeps tests that start several components simple.
/// Colours only when standard error is a terminal: a log redirected to a
/// file or a pipe holds plain text. `quiet` (for cron) logs warnings and
/// errors only, unless `RUST_LOG` says otherwise. On a terminal (and neither
/// `json` nor `quiet`), the spans marked with [`PROGRESS`] show as live
/// progress lines above the log: what is being done, rows so far,
/// throughput, elapsed time.
pub fn init_logging(json: bool, quiet: bool) {
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(if quiet {
                "warn"
            } else {
                "warn,dfstore=info,dfstore_jobs=info,dfstore_core=info"
            })
        })
    };
    let terminal = std::io::stderr().is_terminal();
    if terminal && !json && !quiet {
        let bars = IndicatifLayer::new()
            .with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()))
            .with_progress_style(progress_style())
            .with_max_progress_bars(12, None);
        let logs = tracing_subscriber::fmt::layer()
            .compact()
            .with_target(false)
            .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
            .with_writer(bars.get_stderr_writer())
            .with_filter(filter());
        let _ = tracing_subscriber::registry()
            .with(logs)
            .with(bars.with_filter(IndicatifFilter::new(false)))
            .try_init();
        return;
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter())
        .with_writer(std::io::stderr)
        .with_ansi(terminal)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder
            .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
            .compact()
            .try_init()
    };
}

/// The field that marks a span as one to show as a progress line, e.g.
/// `info_span!("model", table = %name, indicatif.pb_show = true)`; spans
/// without it are not shown, and the field itself is never logged.
pub const PROGRESS: &str = "indicatif.pb_show";

/// One line per piece of work: spinner, name and fields, rows so far,
/// throughput, elapsed time.
fn progress_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{span_child_prefix}{spinner} {span_name}{{{span_fields}}} {human_pos} rows, {rate} rows/s, {elapsed}",
    )
    .map(|style| {
        style.with_key("rate", |state: &ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0}", state.per_sec());
        })
    })
    .unwrap_or_else(|_| ProgressStyle::default_spinner())
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
