//! `dfstore ingest`: the source PostgreSQL extracted into the raw layer,
//! in full or incrementally, verified before it is published.
//!
//! # Protocol
//!
//! 1. A control connection opens a `REPEATABLE READ, READ ONLY` transaction
//!    and exports its snapshot (`pg_export_snapshot()`); the snapshot's
//!    `now()` (rounded up to the second) names the extraction.
//! 2. Each table is extracted on its own connection that imports that
//!    snapshot, so every table is read as of the same instant, several at
//!    once. Rows stream out with binary `COPY (SELECT …) TO STDOUT` into
//!    Arrow batches and Parquet files under `raw/<table>/extraido=<id>/`;
//!    no table is ever held in memory.
//! 3. On the same snapshot PostgreSQL computes the row count, the content
//!    checksum ([`crate::checksum`]) and the greatest `actualizado_en` of the
//!    extracted rows; dfstore reads the Parquet files back and computes the
//!    same checksum. Any difference fails the extraction.
//! 4. Only when every table matches is the extraction's manifest written
//!    (which publishes it, see [`crate::raw`]), with per table its rows,
//!    checksum, files and watermark. A failure removes the extraction's
//!    files and publishes nothing.
//!
//! An incremental extraction takes the rows whose `actualizado_en` is later
//! than the table's watermark (the greatest `actualizado_en` of its latest
//! published extraction) minus a safety overlap, which catches rows that
//! committed late with an earlier stamp. Rows the overlap extracts twice
//! are harmless: trusted keeps one version per key. The watermark lives in
//! the manifest, so it advances exactly when an extraction is published.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyOutStream;
use tracing::info;

use crate::checksum::{self, Checksum};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::postgres::Postgres;
use crate::raw::{
    ExtractionId, ExtractionManifest, RawFile, RawFileWriter, RawTable, published_extractions,
};
use crate::source::SourceTable;
use crate::source_columns::{
    BatchBuilder, PgType, SourceColumn, arrow_schema, quote_ident, source_columns,
};

/// `source` of the manifests this module writes.
pub const SOURCE: &str = "postgres";
/// The column every source table carries its last change in.
const WATERMARK_COLUMN: &str = "actualizado_en";
/// Rows per Arrow batch read from `COPY`.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet file of an extraction.
const FILE_ROWS: u64 = 4 * 1024 * 1024;

/// Full or incremental extraction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadKind {
    /// Every row.
    Full,
    /// Rows changed since the table's watermark (minus the overlap).
    Incremental,
    /// Incremental for tables with a watermark, full for the others.
    Auto,
}

/// What to extract.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// The tables, in any order.
    pub tables: Vec<SourceTable>,
    /// Full, incremental or automatic.
    pub load: LoadKind,
    /// How far before the watermark an incremental extraction starts.
    pub overlap: TimeDelta,
    /// Tables extracted at once.
    pub parallel: usize,
}

/// What one table's extraction did.
#[derive(Debug, Clone)]
pub struct TableIngest {
    /// The table.
    pub table: SourceTable,
    /// The lower bound of `actualizado_en` (exclusive), when incremental.
    pub since: Option<DateTime<Utc>>,
    /// Rows and checksum, equal on both sides.
    pub checksum: Checksum,
    /// Bytes of Parquet written.
    pub bytes: u64,
    /// Seconds spent.
    pub seconds: f64,
}

/// What `ingest` published.
#[derive(Debug, Clone)]
pub struct IngestSummary {
    /// The manifest of the new extraction.
    pub manifest: ExtractionManifest,
    /// Per table, in table order.
    pub tables: Vec<TableIngest>,
    /// Wall-clock time.
    pub elapsed: Duration,
}

/// Extracts `options.tables` from `pg` into a new raw extraction of `lake`.
pub async fn ingest(pg: &Postgres, lake: &Lake, options: &IngestOptions) -> Result<IngestSummary> {
    let started = Instant::now();
    let mut tables = options.tables.clone();
    tables.sort();
    tables.dedup();
    let watermarks = watermarks(lake).await?;
    let mut plan = Vec::new();
    for table in &tables {
        let previous = watermarks.get(table).copied();
        let since = match (options.load, previous) {
            (LoadKind::Full, _) | (LoadKind::Auto, None) => None,
            (_, Some(mark)) => Some(mark - options.overlap),
            (LoadKind::Incremental, None) => {
                return Err(Error::NoWatermark {
                    table: format!("retail.{table}"),
                    lake: lake.url().to_string(),
                });
            }
        };
        plan.push(TablePlan {
            table: *table,
            since,
            previous,
        });
    }

    let control = pg.connect().await?;
    control
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(|e| pg.error(&e))?;
    let row = control
        .query_one("SELECT pg_export_snapshot(), now()", &[])
        .await
        .map_err(|e| pg.error(&e))?;
    let snapshot: String = row.get(0);
    let taken: DateTime<Utc> = row.get(1);
    // The id is the snapshot's instant rounded up to the second, so that no
    // extracted row is later than its extraction; two extractions within one
    // second take the next free second.
    let mut extraction = ExtractionId::at(taken + TimeDelta::milliseconds(999));
    while lake
        .get_json::<ExtractionManifest>(&extraction.manifest_path())
        .await?
        .is_some()
    {
        extraction = ExtractionId::at(extraction.instant() + TimeDelta::seconds(1));
    }
    info!(%extraction, database = %pg, tables = plan.len(), "extracting");

    let extracted: Result<Vec<(TableIngest, RawTable)>> = futures::stream::iter(plan)
        .map(|plan| {
            let snapshot = snapshot.clone();
            async move { extract_table(pg, lake, &snapshot, extraction, plan).await }
        })
        .buffer_unordered(options.parallel.max(1))
        .try_collect()
        .await;
    // The exported snapshot must outlive every import; it is only read.
    let _ = control.batch_execute("ROLLBACK").await;

    let extracted = match extracted {
        Ok(extracted) => extracted,
        Err(e) => {
            for table in &tables {
                lake.delete_all(&extraction.folder(*table)).await?;
            }
            return Err(e);
        }
    };
    let mut summaries = Vec::new();
    let mut entries = BTreeMap::new();
    let mut kinds = Vec::new();
    for (summary, entry) in extracted {
        kinds.push(if summary.since.is_some() {
            "incremental"
        } else {
            "full"
        });
        entries.insert(summary.table, entry);
        summaries.push(summary);
    }
    summaries.sort_by_key(|s| s.table);
    kinds.sort();
    kinds.dedup();
    let details = BTreeMap::from([
        ("database".to_string(), pg.to_string()),
        ("load".to_string(), kinds.join("+")),
        (
            "snapshot".to_string(),
            taken.to_rfc3339_opts(SecondsFormat::Micros, true),
        ),
    ]);
    let manifest = ExtractionManifest {
        extraido: extraction,
        source: SOURCE.into(),
        details,
        tables: entries,
    };
    manifest.publish(lake).await?;
    for s in &summaries {
        info!(%extraction, table = %s.table, rows = s.checksum.rows, "published");
    }
    Ok(IngestSummary {
        manifest,
        tables: summaries,
        elapsed: started.elapsed(),
    })
}

/// The greatest `actualizado_en` extracted so far per table, from the
/// latest published extraction of this source that has one.
async fn watermarks(lake: &Lake) -> Result<BTreeMap<SourceTable, DateTime<Utc>>> {
    let mut marks = BTreeMap::new();
    for manifest in published_extractions(lake).await? {
        if manifest.source != SOURCE {
            continue;
        }
        for (table, entry) in &manifest.tables {
            if let Some(mark) = entry.watermark.as_deref() {
                let mark = DateTime::parse_from_rfc3339(mark)
                    .map_err(|e| Error::CorruptDocument {
                        path: manifest.extraido.manifest_path(),
                        reason: format!("watermark of {table}: {e}"),
                    })?
                    .with_timezone(&Utc);
                marks.insert(*table, mark);
            }
        }
    }
    Ok(marks)
}

/// One table to extract.
#[derive(Debug, Clone, Copy)]
struct TablePlan {
    table: SourceTable,
    /// Lower bound (exclusive) of `actualizado_en`; none for a full load.
    since: Option<DateTime<Utc>>,
    /// The watermark of the latest published extraction.
    previous: Option<DateTime<Utc>>,
}

async fn extract_table(
    pg: &Postgres,
    lake: &Lake,
    snapshot: &str,
    extraction: ExtractionId,
    plan: TablePlan,
) -> Result<(TableIngest, RawTable)> {
    let TablePlan {
        table,
        since,
        previous,
    } = plan;
    let started = Instant::now();
    let client = pg.connect().await?;
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Internal {
            what: format!("unexpected snapshot id {snapshot}"),
        });
    }
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'; SET LOCAL DateStyle = 'ISO, YMD'"
        ))
        .await
        .map_err(|e| pg.error(&e))?;
    let columns = source_columns(&client, table.name()).await?;
    let mark = columns.iter().find(|c| c.name == WATERMARK_COLUMN);
    if mark.map(|c| c.pg) != Some(PgType::Timestamptz) {
        return Err(Error::UnsupportedColumn {
            table: format!("retail.{table}"),
            column: WATERMARK_COLUMN.into(),
            pg_type: "missing or not timestamptz (every source table needs it as its watermark)"
                .into(),
        });
    }
    let filter = match since {
        None => "true".to_string(),
        Some(t) => format!(
            "{WATERMARK_COLUMN} > '{}'::timestamptz",
            t.to_rfc3339_opts(SecondsFormat::Micros, true)
        ),
    };

    let files = copy_table(pg, &client, lake, extraction, table, &columns, &filter).await?;
    let row = client
        .query_one(
            &checksum::checksum_sql(table.name(), &columns, &filter),
            &[],
        )
        .await
        .map_err(|e| pg.error(&e))?;
    let _ = client.batch_execute("COMMIT").await;
    let source = Checksum {
        rows: row.get::<_, i64>(0) as u64,
        sum: row
            .get::<_, String>(1)
            .parse()
            .map_err(|e| Error::Internal {
                what: format!("checksum of retail.{table}: {e}"),
            })?,
    };
    let newest: Option<DateTime<Utc>> = row.get(2);
    let written = checksum::of_files(lake, &files).await?;
    if written != source {
        return Err(Error::ChecksumMismatch {
            table: format!("retail.{table}"),
            extraction: extraction.to_string(),
            source_rows: source.rows,
            source_sum: source.text(),
            lake_rows: written.rows,
            lake_sum: written.text(),
        });
    }
    // Rows seen only in the overlap, or none, leave the watermark where it was.
    let watermark = newest
        .max(previous)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true));
    let bytes = files.iter().map(|f| f.bytes).sum();
    let seconds = started.elapsed().as_secs_f64();
    info!(%table, rows = source.rows, bytes, seconds, incremental = since.is_some(), "extracted");
    let entry = RawTable {
        rows: source.rows,
        checksum: Some(source.text()),
        files,
        watermark,
        since: since.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true)),
    };
    Ok((
        TableIngest {
            table,
            since,
            checksum: source,
            bytes,
            seconds,
        },
        entry,
    ))
}

/// Streams the matching rows of one table into Parquet files.
async fn copy_table(
    pg: &Postgres,
    client: &Client,
    lake: &Lake,
    extraction: ExtractionId,
    table: SourceTable,
    columns: &[SourceColumn],
    filter: &str,
) -> Result<Vec<RawFile>> {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let copy = format!(
        "COPY (SELECT {} FROM retail.{} WHERE {filter}) TO STDOUT (FORMAT binary)",
        list.join(", "),
        quote_ident(table.name())
    );
    let types: Vec<_> = columns.iter().map(|c| c.pg.wire()).collect();
    let stream = client.copy_out(&copy).await.map_err(|e| pg.error(&e))?;
    let rows = BinaryCopyOutStream::new(stream, &types);
    pin_mut!(rows);
    let schema = arrow_schema(columns);
    let mut builder = BatchBuilder::new(columns);
    let mut files = Vec::new();
    let mut writer: Option<RawFileWriter> = None;
    let mut in_file = 0u64;
    loop {
        let row = rows.try_next().await.map_err(|e| pg.error(&e))?;
        if let Some(row) = &row {
            builder.append(row).map_err(|reason| Error::SourceQuery {
                table: format!("retail.{table}"),
                reason,
            })?;
            if builder.rows() < BATCH_ROWS {
                continue;
            }
        }
        if builder.rows() > 0 {
            let batch = builder.finish()?;
            if writer.is_none() {
                writer = Some(RawFileWriter::create_with_schema(
                    lake,
                    extraction,
                    table,
                    files.len(),
                    schema.clone(),
                )?);
            }
            if let Some(w) = writer.as_mut() {
                w.write(&batch).await?;
            }
            in_file += batch.num_rows() as u64;
            if in_file >= FILE_ROWS {
                if let Some(w) = writer.take() {
                    files.push(w.finish().await?);
                }
                in_file = 0;
            }
        }
        if row.is_none() {
            break;
        }
    }
    if let Some(w) = writer.take() {
        files.push(w.finish().await?);
    }
    Ok(files)
}

/// One table of one extraction, checked again.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The extraction.
    pub extraction: ExtractionId,
    /// The table.
    pub table: SourceTable,
    /// Rows and checksum of the files, equal to the manifest's.
    pub checksum: Checksum,
}

/// Re-reads the Parquet files of the PostgreSQL extractions of `lake` (or
/// only `only`) and checks them against the checksums of their manifests.
pub async fn verify(lake: &Lake, only: Option<ExtractionId>) -> Result<Vec<Verified>> {
    let manifests = published_extractions(lake).await?;
    if let Some(id) = only
        && !manifests.iter().any(|m| m.extraido == id)
    {
        return Err(Error::InvalidArgument {
            flag: "--extraction".into(),
            reason: format!(
                "extraction {id} is not published in {}; see `dfstore tables` for the extractions",
                lake.url()
            ),
        });
    }
    let mut out = Vec::new();
    for manifest in manifests {
        if only.is_some_and(|id| id != manifest.extraido) {
            continue;
        }
        for (table, entry) in &manifest.tables {
            let Some(expected) = &entry.checksum else {
                continue;
            };
            let found = checksum::of_files(lake, &entry.files).await?;
            if found.rows != entry.rows || &found.text() != expected {
                return Err(Error::ChecksumMismatch {
                    table: format!("raw.{table}"),
                    extraction: manifest.extraido.to_string(),
                    source_rows: entry.rows,
                    source_sum: expected.clone(),
                    lake_rows: found.rows,
                    lake_sum: found.text(),
                });
            }
            out.push(Verified {
                extraction: manifest.extraido,
                table: *table,
                checksum: found,
            });
        }
    }
    Ok(out)
}

/// Parses a duration such as `5m`, `90s`, `1h` or `0`.
pub fn parse_overlap(text: &str) -> std::result::Result<TimeDelta, String> {
    let usage = || format!("`{text}` is not a duration; use e.g. 30s, 5m or 1h");
    if text == "0" {
        return Ok(TimeDelta::zero());
    }
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| usage())?;
    if n < 0 {
        return Err(usage());
    }
    match unit {
        "s" => Ok(TimeDelta::seconds(n)),
        "m" => Ok(TimeDelta::minutes(n)),
        "h" => Ok(TimeDelta::hours(n)),
        _ => Err(usage()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_parse() {
        assert_eq!(parse_overlap("5m").unwrap(), TimeDelta::minutes(5));
        assert_eq!(parse_overlap("90s").unwrap(), TimeDelta::seconds(90));
        assert_eq!(parse_overlap("0").unwrap(), TimeDelta::zero());
        assert!(parse_overlap("5").is_err());
        assert!(parse_overlap("m").is_err());
        assert!(parse_overlap("-1h").is_err());
    }
}
