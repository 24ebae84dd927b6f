//! One table of an extraction: its columns checked, read in ranges of its
//! key on several connections with binary `COPY` into Parquet files, and
//! its checksum computed on both sides in the extraction's snapshot.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::{TryStreamExt, pin_mut};
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyOutStream;
use tracing::{Span, info};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use crate::contract::extraction::ExtractionId;
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::ingest::checksum::{self, Checksum};
use crate::ingest::extraction::TableIngest;
use crate::lake::Lake;
use crate::lake::raw::{RawFile, RawFileWriter, RawTable};
use crate::postgres::Postgres;
use crate::postgres::columns::{
    BatchBuilder, PgType, SourceColumn, arrow_schema, quote_ident, source_columns,
};

/// Rows per Arrow batch read from `COPY`.
const BATCH_ROWS: usize = 64 * 1024;
/// Rows per Parquet file of an extraction.
const FILE_ROWS: u64 = 4 * 1024 * 1024;

/// One table to extract.
#[derive(Debug, Clone)]
pub struct TablePlan {
    /// The table.
    pub table: SourceTable,
    /// Lower bound (exclusive) of `actualizado_en`; none for a full load.
    pub since: Option<DateTime<Utc>>,
    /// The watermark of the latest published extraction.
    pub previous: Option<DateTime<Utc>>,
}

/// One table's extraction, with what it needs to run in a task of its own.
pub struct TableJob {
    /// The source.
    pub pg: Postgres,
    /// The lake.
    pub lake: Lake,
    /// The exported snapshot every connection imports.
    pub snapshot: String,
    /// The extraction being written.
    pub extraction: ExtractionId,
    /// The table and its bounds.
    pub plan: TablePlan,
    /// Key ranges read at once.
    pub parallel: usize,
    /// Rows (by the planner's estimate) per key range of a full load.
    pub chunk_rows: u64,
}

impl TableJob {
    /// Extracts the table: streams its rows into Parquet files while the
    /// source computes their checksum, then compares it with the files'.
    pub async fn extract(self) -> Result<(TableIngest, RawTable)> {
        let TablePlan {
            table,
            since,
            previous,
        } = self.plan.clone();
        let pg = &self.pg;
        let started = Instant::now();
        // One connection computes the checksum of the source rows while the
        // others stream them out, all in the extraction's snapshot.
        let (client, sums) = tokio::try_join!(
            import_snapshot(pg, &self.snapshot),
            import_snapshot(pg, &self.snapshot)
        )?;
        let columns = watermarked_columns(&client, &table).await?;
        let filter = match since {
            None => "true".to_string(),
            Some(t) => format!(
                "{} > '{}'::timestamptz",
                quote_ident(table.watermark()),
                t.to_rfc3339_opts(SecondsFormat::Micros, true)
            ),
        };
        let source_side = async {
            let sql =
                checksum::checksum_sql(&table.qualified(), table.watermark(), &columns, &filter);
            sums.query_one(&sql, &[]).await.map_err(|e| pg.error(&e))
        };
        let lake_side = self.copy_all(&client, &columns, &filter);
        // Both sides run to their end: a value the lake cannot hold (an
        // infinite timestamp) fails both, and the lake side's error says why.
        let (row, copied) = tokio::join!(source_side, lake_side);
        let (files, written) = copied?;
        let row = row?;
        let _ = tokio::join!(client.batch_execute("COMMIT"), sums.batch_execute("COMMIT"));
        let source = Checksum {
            rows: row.get::<_, i64>(0) as u64,
            sum: row
                .get::<_, String>(1)
                .parse()
                .map_err(|e| Error::Internal {
                    what: format!("checksum of {}: {e}", table.qualified()),
                })?,
        };
        if written != source {
            return Err(Error::ChecksumMismatch {
                table: table.qualified(),
                extraction: self.extraction.to_string(),
                source_rows: source.rows,
                source_sum: source.text(),
                lake_rows: written.rows,
                lake_sum: written.text(),
            });
        }
        // Rows seen only in the overlap, or none, leave the watermark where it was.
        let newest: Option<DateTime<Utc>> = row.get(2);
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
        let summary = TableIngest {
            table: table.clone(),
            since,
            checksum: source,
            bytes,
            seconds,
        };
        Ok((summary, entry))
    }

    /// Copies the rows of `filter` into Parquet files, in key ranges on as
    /// many connections for a full load; returns the files and their checksum.
    async fn copy_all(
        &self,
        client: &Client,
        columns: &[SourceColumn],
        filter: &str,
    ) -> Result<(Vec<RawFile>, Checksum)> {
        let table = self.plan.table.clone();
        let chunks = if self.plan.since.is_none() {
            key_ranges(
                &self.pg,
                client,
                &table,
                columns,
                self.parallel,
                self.chunk_rows,
            )
            .await?
        } else {
            vec![None]
        };
        let job = Arc::new(CopyJob {
            pg: self.pg.clone(),
            lake: self.lake.clone(),
            snapshot: self.snapshot.clone(),
            extraction: self.extraction,
            table: table.clone(),
            columns: columns.to_vec(),
            filter: filter.to_string(),
            parts: AtomicUsize::new(0),
            progress: Span::current(),
        });
        let mut running = JoinSet::new();
        let first = chunks.first().copied().flatten();
        for range in chunks.iter().skip(1).copied() {
            let job = Arc::clone(&job);
            running.spawn(async move {
                let client = import_snapshot(&job.pg, &job.snapshot).await?;
                job.copy(&client, range).await
            });
        }
        // The first chunk reuses the connection that read the columns.
        let (mut files, mut written) = job.copy(client, first).await?;
        while let Some(joined) = running.join_next().await {
            let (more, sum) = joined.map_err(|e| Error::Internal {
                what: format!("extraction task of {}: {e}", table.qualified()),
            })??;
            files.extend(more);
            written.add(&sum);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok((files, written))
    }
}

/// The source columns of `table`, which must carry its watermark column.
async fn watermarked_columns(client: &Client, table: &SourceTable) -> Result<Vec<SourceColumn>> {
    let columns = source_columns(client, table.schema_name(), table.table_name()).await?;
    let mark = columns.iter().find(|c| c.name == table.watermark());
    if mark.map(|c| c.pg) != Some(PgType::Timestamptz) {
        return Err(Error::UnsupportedColumn {
            table: table.qualified(),
            column: table.watermark().into(),
            pg_type: "missing or not timestamptz (every source table needs it as its watermark)"
                .into(),
        });
    }
    Ok(columns)
}

/// A connection in a read-only transaction of the exported `snapshot`.
async fn import_snapshot(pg: &Postgres, snapshot: &str) -> Result<Client> {
    if !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Internal {
            what: format!("unexpected snapshot id {snapshot}"),
        });
    }
    let client = pg.connect().await?;
    client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"
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
    table: &SourceTable,
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
    let name = table.qualified();
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
    /// The table's progress line, counting the rows as they land.
    progress: Span,
}

impl CopyJob {
    /// Streams the rows of `range` (of the first column; all when `None`)
    /// into Parquet files, then reads them back and returns their checksum.
    async fn copy(
        &self,
        client: &Client,
        range: Option<(i64, i64)>,
    ) -> Result<(Vec<RawFile>, Checksum)> {
        let (pg, table) = (&self.pg, &self.table);
        let list: Vec<String> = self.columns.iter().map(|c| quote_ident(&c.name)).collect();
        let mut filter = self.filter.clone();
        if let (Some((start, end)), Some(key)) = (range, self.columns.first()) {
            let key = quote_ident(&key.name);
            filter = format!("{filter} AND {key} BETWEEN {start} AND {end}");
        }
        let copy = format!(
            "COPY (SELECT {} FROM {} WHERE {filter}) TO STDOUT (FORMAT binary)",
            list.join(", "),
            table.qualified()
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
                    table: table.qualified(),
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
                        table.name(),
                        self.parts.fetch_add(1, Ordering::Relaxed),
                        schema.clone(),
                    )?);
                }
                if let Some(w) = writer.as_mut() {
                    w.write(&batch).await?;
                }
                in_file += batch.num_rows() as u64;
                self.progress.pb_inc(batch.num_rows() as u64);
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
