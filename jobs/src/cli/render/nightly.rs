//! What `dfstore nightly` prints: each step with its attempts and what it
//! produced, and where the manifest is.

use std::fmt::Write as _;

use crate::nightly::NightlyManifest;

/// Renders a nightly run for a terminal (or a cron mail).
pub fn render_nightly(manifest: &NightlyManifest) -> String {
    let mut out = String::new();
    let secs = (manifest.finished_at - manifest.started_at).num_milliseconds() as f64 / 1000.0;
    let _ = writeln!(
        out,
        "nightly run {} {} in {secs:.2} s (manifest {})",
        manifest.pipeline_id,
        manifest.outcome.as_str(),
        manifest.path()
    );
    if let Some(stale) = &manifest.recovered_lock {
        let _ = writeln!(out, "took over the stale lock of nightly run {stale}");
    }
    for step in &manifest.steps {
        let _ = writeln!(
            out,
            "  {:8} {:9} {} attempt(s) {:>9.2} s  {}",
            step.step,
            step.outcome.as_str(),
            step.attempts,
            step.seconds,
            step.produced
                .as_deref()
                .or(step.error.as_deref())
                .unwrap_or("")
        );
    }
    for failed in &manifest.notifications_failed {
        let _ = writeln!(out, "notification failed: {failed}");
    }
    out
}
