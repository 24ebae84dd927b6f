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
//!    once; a large table is read in ranges of its integer key on as many
//!    connections (up to `--parallel`). Rows stream out with binary
//!    `COPY (SELECT …) TO STDOUT` into Arrow batches and Parquet files
//!    under `raw/<table>/extraido=<id>/`; no table is ever held in memory.
//! 3. On the same snapshot, on one more connection and while the rows
//!    stream, PostgreSQL computes the row count, the content checksum
//!    ([`crate::checksum`]) and the greatest `actualizado_en` of the
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
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use futures::{TryStreamExt, pin_mut};
use tokio::task::JoinSet;
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
/// Rows (by the planner's estimate) per chunk of a table read in key
/// ranges at once, unless told otherwise.
pub const DEFAULT_CHUNK_ROWS: u64 = 1024 * 1024;

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
    /// Tables extracted at once, and key ranges of one table read at once.
    pub parallel: usize,
    /// Rows (by the planner's estimate) per key range of a full load.
    pub chunk_rows: u64,
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
    let probe: i64 = control
        .query_one(checksum::PROBE_SQL, &[])
        .await
        .map_err(|e| pg.error(&e))?
        .get(0);
    if probe != checksum::probe_value() {
        return Err(Error::Source {
            database: pg.to_string(),
            reason: format!(
                "the server's hashtextextended() gives {probe} where dfstore computes {}, so checksums could not be compared",
                checksum::probe_value()
            ),
            fix: "extract from a little-endian PostgreSQL server (x86-64, ARM64), e.g. a replica"
                .into(),
        });
    }
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

    // Each table is its own task, so that tables decode and encode on
    // separate cores; dropping the set on failure stops the others.
    let (parallel, chunk_rows) = (options.parallel.max(1), options.chunk_rows.max(1));
    let mut pending = plan.into_iter();
    let mut running = JoinSet::new();
    let mut extracted = Vec::new();
    let outcome: Result<()> = loop {
        while running.len() < parallel {
            let Some(plan) = pending.next() else { break };
            let (pg, lake, snapshot) = (pg.clone(), lake.clone(), snapshot.clone());
            running.spawn(async move {
                extract_table(
                    &pg, &lake, &snapshot, extraction, plan, parallel, chunk_rows,
                )
                .await
            });
        }
        match running.join_next().await {
            None => break Ok(()),
            Some(Ok(Ok(table))) => extracted.push(table),
            Some(Ok(Err(e))) => break Err(e),
            Some(Err(e)) => {
                break Err(Error::Internal {
                    what: format!("extraction task: {e}"),
                });
            }
        }
    };
    running.shutdown().await;
    let extracted = outcome.map(|()| extracted);
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
    parallel: usize,
    chunk_rows: u64,
) -> Result<(TableIngest, RawTable)> {
    let TablePlan {
        table,
        since,
        previous,
    } = plan;
    let started = Instant::now();
    // One connection computes the checksum of the source rows while the
    // others stream them out, all in the extraction's snapshot.
    let (client, sums) = tokio::try_join!(
        import_snapshot(pg, snapshot, ""),
        import_snapshot(pg, snapshot, checksum::SESSION_SQL)
    )?;
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
    let chunks = if since.is_none() {
        key_ranges(pg, &client, table, &columns, parallel, chunk_rows).await?
    } else {
        vec![None]
    };

    let source_side = async {
        let sql = checksum::checksum_sql(table.name(), &columns, &filter);
        sums.query_one(&sql, &[]).await.map_err(|e| pg.error(&e))
    };
    let lake_side = async {
        let job = Arc::new(CopyJob {
            pg: pg.clone(),
            lake: lake.clone(),
            snapshot: snapshot.to_string(),
            extraction,
            table,
            columns: columns.clone(),
            filter: filter.clone(),
            parts: AtomicUsize::new(0),
        });
        let mut running = JoinSet::new();
        let first = chunks.first().copied().flatten();
        for range in chunks.iter().skip(1).copied() {
            let job = Arc::clone(&job);
            running.spawn(async move {
                let client = import_snapshot(&job.pg, &job.snapshot, "").await?;
                job.copy(&client, range).await
            });
        }
        // The first chunk reuses the connection that read the columns.
        let (mut files, mut written) = job.copy(&client, first).await?;
        while let Some(joined) = running.join_next().await {
            let (more, sum) = joined.map_err(|e| Error::Internal {
                what: format!("extraction task of retail.{table}: {e}"),
            })??;
            files.extend(more);
            written.add(&sum);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok::<_, Error>((files, written))
    };
    let (row, (files, written)) = tokio::try_join!(source_side, lake_side)?;
    let _ = tokio::join!(client.batch_execute("COMMIT"), sums.batch_execute("COMMIT"));
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

/// A connection in a read-only transaction of the exported `snapshot`,
/// with the session settings `settings`.
async fn import_snapshot(pg: &Postgres, snapshot: &str, settings: &str) -> Result<Client> {
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Internal {
            what: format!("unexpected snapshot id {snapshot}"),
        });
    }
    let client = pg.connect().await?;
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'; {settings}"
        ))
        .await
        .map_err(|e| pg.error(&e))?;
    Ok(client)
}

/// Bounds (inclusive) of the first column for each chunk of a full
/// extraction of `table`: a table of more than `chunk_rows` rows (by the
/// planner's estimate) whose first column is a NOT NULL integer is read in
/// up to `parallel` ranges of that column at once, the way connectorx's
/// `partition_on` does; `[None]` reads it whole.
async fn key_ranges(
    pg: &Postgres,
    client: &Client,
    table: SourceTable,
    columns: &[SourceColumn],
    parallel: usize,
    chunk_rows: u64,
) -> Result<Vec<Option<(i64, i64)>>> {
    let whole = vec![None];
    let Some(key) = columns
        .first()
        .filter(|c| !c.nullable && matches!(c.pg, PgType::Int2 | PgType::Int4 | PgType::Int8))
    else {
        return Ok(whole);
    };
    let name = format!("retail.{}", quote_ident(table.name()));
    let estimate: f32 = client
        .query_one(
            "SELECT reltuples FROM pg_class WHERE oid = $1::text::regclass",
            &[&name],
        )
        .await
        .map_err(|e| pg.error(&e))?
        .get(0);
    let chunks = ((f64::from(estimate) / chunk_rows as f64).ceil() as usize).min(parallel);
    if chunks < 2 {
        return Ok(whole);
    }
    let key = quote_ident(&key.name);
    let row = client
        .query_one(
            &format!("SELECT min({key})::int8, max({key})::int8 FROM {name}"),
            &[],
        )
        .await
        .map_err(|e| pg.error(&e))?;
    let (Some(low), Some(high)) = (row.get::<_, Option<i64>>(0), row.get::<_, Option<i64>>(1))
    else {
        return Ok(whole);
    };
    let span = (i128::from(high) - i128::from(low) + 1) / chunks as i128;
    if span < 1 {
        return Ok(whole);
    }
    Ok((0..chunks)
        .map(|i| {
            let start = i128::from(low) + span * i as i128;
            let end = if i + 1 == chunks {
                i128::from(high)
            } else {
                start + span - 1
            };
            // Both lie between low and high, so they fit.
            Some((start as i64, end as i64))
        })
        .collect())
}

/// What every chunk of one table's extraction shares.
struct CopyJob {
    pg: Postgres,
    lake: Lake,
    snapshot: String,
    extraction: ExtractionId,
    table: SourceTable,
    columns: Vec<SourceColumn>,
    /// The rows to extract, as SQL.
    filter: String,
    /// The next free file number of the table's extraction.
    parts: AtomicUsize,
}

impl CopyJob {
    /// Streams the rows of `range` (of the first column; all when `None`)
    /// into Parquet files, then reads them back and returns their checksum.
    async fn copy(
        &self,
        client: &Client,
        range: Option<(i64, i64)>,
    ) -> Result<(Vec<RawFile>, Checksum)> {
        let (pg, table) = (&self.pg, self.table);
        let list: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut filter = self.filter.clone();
        if let (Some((start, end)), Some(key)) = (range, self.columns.first()) {
            let key = quote_ident(&key.name);
            filter = format!("{filter} AND {key} BETWEEN {start} AND {end}");
        }
        let copy = format!(
            "COPY (SELECT {} FROM retail.{} WHERE {filter}) TO STDOUT (FORMAT binary)",
            list.join(", "),
            quote_ident(table.name())
        );
        let types: Vec<_> = self.columns.iter().map(|c| c.pg.wire()).collect();
        let stream = client.copy_out(&copy).await.map_err(|e| pg.error(&e))?;
        let rows = BinaryCopyOutStream::new(stream, &types);
        pin_mut!(rows);
        let schema = arrow_schema(&self.columns);
        let mut builder = BatchBuilder::new(&self.columns);
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
                        &self.lake,
                        self.extraction,
                        table,
                        self.parts.fetch_add(1, Ordering::Relaxed),
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
        let written = checksum::of_files(&self.lake, &files).await?;
        Ok((files, written))
    }
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
