//! Crawls as text: what `dfstore catalog crawl` and `dfstore catalog show`
//! print.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::catalog::diff::{TableChange, partition_name};
use crate::catalog::document::{CatalogTable, Crawl};

/// What a crawl recorded and what changed since the previous one.
pub fn render_crawl(crawl: &Crawl) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "crawl {}: {} table(s) recorded in {}",
        crawl.id,
        crawl.tables.len(),
        crawl.id.path()
    );
    match &crawl.previous {
        None => {
            let _ = writeln!(out, "first crawl of this lake: nothing to compare with");
        }
        Some(previous) if crawl.changes.is_empty() => {
            let _ = writeln!(out, "no schema or partition changes since crawl {previous}");
        }
        Some(previous) => {
            let _ = writeln!(out, "changes since crawl {previous}:");
            out.push_str(&render_changes(&crawl.changes));
        }
    }
    out
}

/// Every table of a crawl, one line each, and the crawl's changes.
pub fn render_catalog(crawl: &Crawl) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "crawl {} at {}: {} table(s)\n",
        crawl.id,
        instant(crawl.crawled_at),
        crawl.tables.len()
    );
    let width = crawl
        .tables
        .iter()
        .map(|t| t.table.to_string().len())
        .max()
        .unwrap_or(5);
    let _ = writeln!(
        out,
        "{:width$}  {:7}  {:>7}  {:>10}  {:>5}  {:16}  last change",
        "table", "format", "version", "rows", "files", "partitions"
    );
    for t in &crawl.tables {
        let version = t
            .version
            .map(|v| format!("v{v}"))
            .unwrap_or_else(|| "-".into());
        let partitions = match t.partition_keys.as_slice() {
            [] => "-".to_string(),
            keys => format!("{} ({})", keys.join(","), t.partitions.len()),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:7}  {version:>7}  {:>10}  {:>5}  {partitions:16}  {}",
            t.table.to_string(),
            t.format.to_string(),
            t.rows,
            t.files,
            t.last_change.map(instant).unwrap_or_else(|| "-".into())
        );
    }
    if !crawl.changes.is_empty()
        && let Some(previous) = &crawl.previous
    {
        let _ = writeln!(out, "\nchanges since crawl {previous}:");
        out.push_str(&render_changes(&crawl.changes));
    }
    out
}

/// One table of a crawl: columns and types, partitions, rows, files, last
/// change, and what the crawl found changed in it.
pub fn render_table(crawl: &Crawl, t: &CatalogTable) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} (crawl {})", t.table, crawl.id);
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "  {name:12} {value}");
    };
    field("format", t.format.to_string());
    field("location", t.location.clone());
    field(
        "version",
        t.version
            .map(|v| format!("v{v}"))
            .unwrap_or_else(|| "-".into()),
    );
    field("rows", t.rows.to_string());
    field("files", format!("{} ({} bytes)", t.files, t.bytes));
    field(
        "last change",
        t.last_change.map(instant).unwrap_or_else(|| "-".into()),
    );
    let width = t.columns.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let type_width = t
        .columns
        .iter()
        .map(|c| c.data_type.chars().count())
        .max()
        .unwrap_or(0);
    let _ = writeln!(out, "  columns");
    for c in &t.columns {
        let _ = if c.nullable {
            writeln!(out, "    {:width$}  {}", c.name, c.data_type)
        } else {
            writeln!(
                out,
                "    {:width$}  {:type_width$}  not null",
                c.name, c.data_type
            )
        };
    }
    if !t.partition_keys.is_empty() {
        let _ = writeln!(out, "  partitions ({})", t.partitions.len());
        for p in &t.partitions {
            let _ = writeln!(
                out,
                "    {:28} {:>10} rows  {:>4} file(s)",
                partition_name(t, &p.value),
                p.rows,
                p.files
            );
        }
    }
    let changes: Vec<TableChange> = crawl
        .changes
        .iter()
        .filter(|c| c.table == t.table)
        .cloned()
        .collect();
    if let Some(previous) = crawl.previous.as_ref().filter(|_| !changes.is_empty()) {
        let _ = writeln!(out, "  changes since crawl {previous}");
        for c in &changes {
            let _ = writeln!(out, "    {}", c.change);
        }
    }
    out
}

fn render_changes(changes: &[TableChange]) -> String {
    let width = changes
        .iter()
        .map(|c| c.table.to_string().len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for c in changes {
        let _ = writeln!(out, "  {:width$}  {}", c.table.to_string(), c.change);
    }
    out
}

fn instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// What `catalog sync-glue` registered.
#[cfg(feature = "aws")]
pub fn render_glue(database: &str, synced: &[crate::catalog::glue::SyncedTable]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} table(s) registered in Glue database {database}",
        synced.len()
    );
    let _ = writeln!(
        out,
        "  {:36} {:>8} {:>10}  {:9}  changes",
        "table", "version", "partitions", "action"
    );
    for t in synced {
        let action = if t.created { "created" } else { "updated" };
        let _ = writeln!(
            out,
            "  {:36} {:>8} {:>10}  {action:9}  +{} -{} partition(s)",
            t.name,
            format!("v{}", t.version),
            t.partitions,
            t.added,
            t.removed
        );
    }
    out
}
