//! The night's numbers as a Prometheus text file (the exposition format
//! node_exporter's textfile collector and any Prometheus-compatible agent
//! read): rows read, written and rejected per table and rule, seconds per
//! step and in total, the reconciliation, the warehouse rows loaded, and
//! whether the night succeeded. Written whole to a temporary file and
//! renamed, so a scraper never reads half of it.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{Error, Result};
use crate::lake::runs::{Outcome, RunManifest};
use crate::nightly::flow::{NightlyManifest, NightlyOutcome};
use crate::warehouse::LoadSummary;

/// What the metrics are taken from: the night (or a lone run or load), and
/// the run and load it did.
#[derive(Debug, Clone, Copy)]
pub struct Night<'a> {
    /// The lake's URL, the `lake` label of every sample.
    pub lake: &'a str,
    /// The nightly manifest; none for a lone `run` or `load`.
    pub nightly: Option<&'a NightlyManifest>,
    /// The run, when it got that far.
    pub run: Option<&'a RunManifest>,
    /// The loads, one per model loaded, as far as they got.
    pub loads: &'a [LoadSummary],
    /// Whether a reconciliation (the run's, or the load's) failed.
    pub reconciliation_failed: bool,
}

/// One metric family: name, help, samples of (labels, value).
#[derive(Debug, Clone)]
pub struct Family {
    /// `dfstore_…`.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// (labels, value) pairs.
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push((labels, value));
    }
}

/// The metrics of `night`, in Prometheus's text format.
pub fn render(night: &Night<'_>) -> String {
    let mut out = String::new();
    for family in families(night).iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for (labels, value) in &family.samples {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = writeln!(out, "{}{{{}}} {value}", family.name, labels.join(","));
        }
    }
    out
}

/// The metric families of `night`.
pub fn families(night: &Night<'_>) -> Vec<Family> {
    let lake = || ("lake", night.lake.to_string());
    let mut families = Vec::new();
    if let Some(n) = night.nightly {
        families.extend(nightly_families(night.lake, n));
    }
    if let Some(run) = night.run {
        families.extend(run_families(night.lake, run));
    }
    if !night.loads.is_empty() {
        let mut rows = Family::new(
            "dfstore_warehouse_rows",
            "Rows of each period of each table in the warehouse after the last load.",
        );
        for load in night.loads {
            for p in &load.periods {
                rows.add(
                    vec![
                        lake(),
                        ("tabla", load.table.clone()),
                        ("periodo", p.period.clone()),
                    ],
                    p.warehouse.rows as f64,
                );
            }
        }
        families.push(rows);
    }
    let mut failed = Family::new(
        "dfstore_reconciliation_failed",
        "1 when a run's or a load's reconciliation failed, 0 when every one held.",
    );
    failed.add(
        vec![lake()],
        f64::from(u8::from(night.reconciliation_failed)),
    );
    families.push(failed);
    families
}

fn nightly_families(lake: &str, n: &NightlyManifest) -> Vec<Family> {
    let lake = || ("lake", lake.to_string());
    let mut families = vec![
        Family::new(
            "dfstore_nightly_succeeded",
            "1 when the last nightly run succeeded, 0 when it failed.",
        ),
        Family::new(
            "dfstore_nightly_seconds",
            "Wall time of the last nightly run.",
        ),
        Family::new(
            "dfstore_nightly_finished_timestamp_seconds",
            "When the last nightly run ended (Unix time).",
        ),
        Family::new(
            "dfstore_nightly_step_attempts",
            "Attempts of each step of the last nightly run.",
        ),
        Family::new(
            "dfstore_nightly_step_seconds",
            "Wall time of each step of the last nightly run, retries included.",
        ),
    ];
    let ok = |o: NightlyOutcome| f64::from(u8::from(o == NightlyOutcome::Succeeded));
    families[0].add(vec![lake()], ok(n.outcome));
    let seconds = (n.finished_at - n.started_at).num_milliseconds() as f64 / 1000.0;
    families[1].add(vec![lake()], seconds);
    families[2].add(vec![lake()], n.finished_at.timestamp() as f64);
    for step in &n.steps {
        families[3].add(
            vec![lake(), ("step", step.step.clone())],
            f64::from(step.attempts),
        );
        families[4].add(vec![lake(), ("step", step.step.clone())], step.seconds);
    }
    families
}

fn run_families(lake: &str, run: &RunManifest) -> Vec<Family> {
    let lake = || ("lake", lake.to_string());
    let mut read = Family::new(
        "dfstore_rows_read",
        "Raw rows read per source table by the last run.",
    );
    let mut totals = std::collections::BTreeMap::<&str, u64>::new();
    for input in &run.inputs {
        for (table, rows) in &input.rows {
            *totals.entry(table.as_str()).or_default() += rows;
        }
    }
    for (table, rows) in totals {
        read.add(vec![lake(), ("table", table.to_string())], rows as f64);
    }
    let mut written = Family::new(
        "dfstore_rows_written",
        "Rows written per model by the last run.",
    );
    let mut step_seconds = Family::new(
        "dfstore_model_seconds",
        "Wall time per model of the last run.",
    );
    for step in &run.steps {
        written.add(
            vec![lake(), ("table", step.table.clone())],
            step.rows as f64,
        );
        step_seconds.add(vec![lake(), ("table", step.table.clone())], step.seconds);
    }
    let mut rejected = Family::new(
        "dfstore_rows_rejected",
        "Rejected rows per table and rule in the last run.",
    );
    for (table, rules) in &run.rejected {
        for (rule, rows) in rules {
            rejected.add(
                vec![lake(), ("table", table.clone()), ("rule", rule.clone())],
                *rows as f64,
            );
        }
    }
    let mut reconciled = Family::new(
        "dfstore_reconciliation_ok",
        "1 when raw after deduplication equals trusted + rejected for the table, in the last run.",
    );
    for r in &run.reconciliation {
        reconciled.add(
            vec![lake(), ("table", r.table.clone())],
            f64::from(u8::from(r.holds())),
        );
    }
    let mut phases = Family::new(
        "dfstore_run_phase_seconds",
        "Wall time per phase of the last run.",
    );
    for (phase, seconds) in &run.timings {
        phases.add(vec![lake(), ("phase", phase.clone())], *seconds);
    }
    let mut succeeded = Family::new("dfstore_run_succeeded", "1 when the last run succeeded.");
    succeeded.add(
        vec![lake()],
        f64::from(u8::from(run.outcome == Outcome::Succeeded)),
    );
    vec![
        succeeded,
        read,
        written,
        rejected,
        reconciled,
        step_seconds,
        phases,
    ]
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Where metrics go besides the lake.
#[derive(Debug, Clone, Default)]
pub struct Sinks {
    /// A local file, rewritten whole (Prometheus text).
    pub file: Option<std::path::PathBuf>,
    /// A CloudWatch namespace the metrics are put into.
    pub cloudwatch: Option<String>,
}

/// Sends the metrics of `night` to every sink configured.
pub async fn emit(night: &Night<'_>, sinks: &Sinks) -> Result<()> {
    if let Some(file) = &sinks.file {
        write_file(file, &render(night))?;
    }
    if let Some(namespace) = &sinks.cloudwatch {
        to_cloudwatch(night, namespace).await?;
    }
    Ok(())
}

/// Puts the metrics of `night` into the CloudWatch `namespace`.
#[cfg(feature = "aws")]
pub async fn to_cloudwatch(night: &Night<'_>, namespace: &str) -> Result<()> {
    let put = crate::nightly::cloudwatch::put(namespace, &families(night)).await?;
    tracing::info!(namespace = %namespace, data = put, "metrics put into CloudWatch");
    Ok(())
}

/// A build without the `aws` feature has no CloudWatch.
#[cfg(not(feature = "aws"))]
#[allow(clippy::unused_async)]
pub async fn to_cloudwatch(_night: &Night<'_>, _namespace: &str) -> Result<()> {
    Err(Error::not_built("--cloudwatch-namespace", "aws"))
}

/// Whether `error` is a reconciliation that did not hold (the run's, or a
/// load's), for the `ReconciliationFailed` metric.
pub fn is_reconciliation(error: &Error) -> bool {
    matches!(
        error,
        Error::Reconciliation { .. } | Error::WarehouseMismatch { .. }
    )
}

/// Writes `text` to `path` through a temporary file and a rename.
pub fn write_file(path: &Path, text: &str) -> Result<()> {
    let temporary = path.with_extension("prom.tmp");
    let fail = |e: std::io::Error| Error::InvalidArgument {
        flag: "--metrics-file".into(),
        reason: format!("cannot write {}: {e}", path.display()),
    };
    std::fs::write(&temporary, text).map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
    }
}
