//! `dfstore tables` and `dfstore runs`: what the lake holds, for people.

use std::fmt::Write as _;

use crate::catalog::CatalogTable;
use crate::catalog::diff::partition_name;
use crate::catalog::document::TableFormat;
use crate::lake::runs::{Outcome, RunManifest};

/// Renders the lake's tables, as a crawl sees them, as text.
pub fn render_tables(tables: &[CatalogTable]) -> String {
    let mut out = String::new();
    let width = tables
        .iter()
        .map(|t| t.table.to_string().len())
        .max()
        .unwrap_or(5);
    let _ = writeln!(
        out,
        "{:width$}  {:>16}  {:>12}  {:>5}  partitions",
        "table", "version", "rows", "files"
    );
    for t in tables {
        let version = match t.version {
            Some(v) => format!("v{v}"),
            None => format!("{} extraction(s)", t.partitions.len()),
        };
        // Raw partitions are named like their folders, months by value.
        let name = |value: &str| match t.format {
            TableFormat::Parquet => partition_name(t, value),
            TableFormat::Delta => value.to_string(),
        };
        let parts = match t.partitions.as_slice() {
            [] => "-".to_string(),
            [one] => name(&one.value),
            [first, .., last] => format!(
                "{} … {} ({})",
                name(&first.value),
                name(&last.value),
                t.partitions.len()
            ),
        };
        let _ = writeln!(
            out,
            "{:width$}  {version:>16}  {:>12}  {:>5}  {parts}",
            t.table.to_string(),
            t.rows,
            t.files
        );
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("{} {}", c.name, c.data_type))
            .collect();
        let _ = writeln!(out, "{:width$}  columns: {}", "", cols.join(", "));
    }
    out
}

/// Renders runs as text, one line each.
pub fn render_runs(runs: &[RunManifest]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:24}  {:9}  {:>8}  {:>7}  {:>10}  detail",
        "run", "outcome", "seconds", "period", "report"
    );
    for r in runs {
        let secs = (r.finished_at - r.started_at).num_milliseconds() as f64 / 1000.0;
        let outcome = match r.outcome {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
        };
        let report = r
            .outputs
            .iter()
            .find(|p| p.table.name == "reporte_ventas_tienda")
            .map(|p| format!("v{}", p.version))
            .unwrap_or_else(|| "-".into());
        let detail = r
            .error
            .clone()
            .unwrap_or_else(|| format!("{} tables published", r.outputs.len()));
        let _ = writeln!(
            out,
            "{:24}  {outcome:9}  {secs:>8.1}  {:>7}  {report:>10}  {detail}",
            r.run_id.as_str(),
            r.period.as_deref().unwrap_or("all"),
        );
    }
    out
}
