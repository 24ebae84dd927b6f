//! `dfstore tables` and `dfstore runs`: what the lake holds, for people.

use std::fmt::Write as _;

use crate::delta;
use crate::error::Result;
use crate::lake::Lake;
use crate::manifest::{Outcome, RunManifest, latest_success, list_runs};
use crate::model::{MODELS, PERIOD_COLUMN};
use crate::raw::published_extractions;
use crate::source::SourceTable;

/// One table of the lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    /// `layer.name`.
    pub name: String,
    /// `raw` extractions, or the Delta version.
    pub version: String,
    /// Rows.
    pub rows: u64,
    /// Data files.
    pub files: usize,
    /// Partition values (extractions for raw, months for facts).
    pub partitions: Vec<String>,
    /// `column type` pairs.
    pub columns: Vec<(String, String)>,
}

/// Every table of the lake: raw from the extraction manifests, the published
/// layers at the versions of the newest successful run.
pub async fn tables(lake: &Lake) -> Result<Vec<TableInfo>> {
    let mut out = Vec::new();
    let extractions = published_extractions(lake).await?;
    for table in SourceTable::ALL {
        let entries: Vec<_> = extractions
            .iter()
            .filter_map(|m| m.tables.get(&table).map(|t| (m.extraido, t)))
            .collect();
        if entries.is_empty() {
            continue;
        }
        out.push(TableInfo {
            name: format!("raw.{table}"),
            version: format!("{} extraction(s)", entries.len()),
            rows: entries.iter().map(|(_, t)| t.rows).sum(),
            files: entries.iter().map(|(_, t)| t.files.len()).sum(),
            partitions: entries
                .iter()
                .map(|(id, _)| format!("extraido={id}"))
                .collect(),
            columns: table
                .schema()
                .fields()
                .iter()
                .map(|f| (f.name().clone(), f.data_type().to_string()))
                .collect(),
        });
    }
    let pinned = latest_success(lake).await?;
    for model in MODELS
        .iter()
        .filter(|m| m.layer != crate::layer::Layer::Staging)
    {
        let table = model.table();
        let version = pinned
            .as_ref()
            .and_then(|r| r.version_of(&table.to_string()));
        let Some(delta_table) = delta::open(lake, &table, version).await? else {
            continue;
        };
        let Ok(snapshot) = delta_table.snapshot() else {
            continue;
        };
        let mut partitions: Vec<String> = snapshot
            .log_data()
            .iter()
            .filter_map(|f| {
                f.partition_values_map()
                    .get(PERIOD_COLUMN)
                    .cloned()
                    .flatten()
            })
            .collect();
        partitions.sort();
        partitions.dedup();
        let columns = snapshot
            .schema()
            .fields()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect();
        out.push(TableInfo {
            name: table.to_string(),
            version: format!("v{}", snapshot.version()),
            rows: delta::table_rows(&delta_table).unwrap_or(0),
            files: snapshot.log_data().num_files(),
            partitions,
            columns,
        });
    }
    Ok(out)
}

/// Renders [`tables`] as text.
pub fn render_tables(tables: &[TableInfo]) -> String {
    let mut out = String::new();
    let width = tables.iter().map(|t| t.name.len()).max().unwrap_or(5);
    let _ = writeln!(
        out,
        "{:width$}  {:>16}  {:>12}  {:>5}  partitions",
        "table", "version", "rows", "files"
    );
    for t in tables {
        let parts = match t.partitions.len() {
            0 => "-".to_string(),
            1 => t.partitions[0].clone(),
            n => format!("{} … {} ({n})", t.partitions[0], t.partitions[n - 1]),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:>16}  {:>12}  {:>5}  {parts}",
            t.name, t.version, t.rows, t.files
        );
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|(n, ty)| format!("{n} {ty}"))
            .collect();
        let _ = writeln!(out, "{:width$}  columns: {}", "", cols.join(", "));
    }
    out
}

/// Every run of the lake, oldest first.
pub async fn runs(lake: &Lake) -> Result<Vec<RunManifest>> {
    list_runs(lake).await
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
