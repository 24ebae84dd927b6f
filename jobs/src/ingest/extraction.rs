//! One extraction: what to extract, the exported snapshot every table is
//! read in, and the manifest that publishes it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use tokio::task::JoinSet;
use tokio_postgres::Client;
use tracing::{Instrument as _, info, info_span};

use crate::contract::extraction::ExtractionId;
use crate::contract::source::{SourceTable, Sources};
use crate::error::{Error, Result};
use crate::ingest::checksum::{self, Checksum};
use crate::ingest::table::{TableJob, TablePlan};
use crate::lake::Lake;
use crate::lake::raw::{ExtractionManifest, RawTable, published_extractions};
use crate::postgres::Postgres;

/// `source` of the manifests this module writes.
pub const SOURCE: &str = "postgres";
/// Rows (by the planner's estimate) per chunk of a table read in key
/// ranges at once, unless told otherwise.
pub const DEFAULT_CHUNK_ROWS: u64 = 1024 * 1024;
/// How far before the watermark an incremental extraction starts, unless
/// told otherwise (as `--overlap` reads it).
pub const DEFAULT_OVERLAP: &str = "5m";
/// Tables, and key ranges of one table, extracted at once unless told otherwise.
pub const DEFAULT_PARALLEL: u16 = 3;

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

impl IngestOptions {
    /// Every table of `sources`, incremental where possible, with the
    /// default overlap, parallelism and key ranges: what `dfstore ingest`
    /// does without flags.
    pub fn every(sources: &Sources) -> Self {
        IngestOptions {
            tables: sources.all().to_vec(),
            load: LoadKind::Auto,
            overlap: TimeDelta::minutes(5),
            parallel: usize::from(DEFAULT_PARALLEL),
            chunk_rows: DEFAULT_CHUNK_ROWS,
        }
    }
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
    let plan = plan(lake, options).await?;
    let control = pg.connect().await?;
    let (snapshot, taken) = export_snapshot(pg, &control).await?;
    let extraction = free_id(lake, taken).await?;
    info!(%extraction, database = %pg, tables = plan.len(), "extracting");
    let tables: Vec<String> = plan.iter().map(|p| p.table.name().to_string()).collect();
    let extracted = extract_all(pg, lake, &snapshot, extraction, plan, options).await;
    // The exported snapshot must outlive every import; it is only read.
    let _ = control.batch_execute("ROLLBACK").await;
    let extracted = match extracted {
        Ok(extracted) => extracted,
        Err(e) => {
            for table in &tables {
                lake.delete_all(&extraction.folder(table)).await?;
            }
            return Err(e);
        }
    };
    let (manifest, mut summaries) = publish(pg, lake, extraction, taken, extracted).await?;
    // In the order the tables were asked for (the project's, dimensions first).
    summaries.sort_by_key(|s| tables.iter().position(|t| t == s.table.name()));
    Ok(IngestSummary {
        manifest,
        tables: summaries,
        elapsed: started.elapsed(),
    })
}

/// Each table to extract, with where an incremental extraction starts.
async fn plan(lake: &Lake, options: &IngestOptions) -> Result<Vec<TablePlan>> {
    let mut tables: Vec<SourceTable> = Vec::new();
    for table in &options.tables {
        if !tables.contains(table) {
            tables.push(table.clone());
        }
    }
    let watermarks = watermarks(lake).await?;
    let mut plan = Vec::new();
    for table in tables {
        let previous = watermarks.get(table.name()).copied();
        let since = match (options.load, previous) {
            (LoadKind::Full, _) | (LoadKind::Auto, None) => None,
            (_, Some(mark)) => Some(mark - options.overlap),
            (LoadKind::Incremental, None) => {
                return Err(Error::NoWatermark {
                    table: table.qualified(),
                    lake: lake.url().to_string(),
                });
            }
        };
        plan.push(TablePlan {
            table,
            since,
            previous,
        });
    }
    Ok(plan)
}

/// Opens the read-only transaction every table is read in and exports its
/// snapshot; returns the snapshot's id and instant. Checks first that the
/// server hashes values as dfstore does, or checksums could never match.
async fn export_snapshot(pg: &Postgres, control: &Client) -> Result<(String, DateTime<Utc>)> {
    control
        .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .map_err(|e| pg.error(&e))?;
    let row = control
        .query_one("SELECT pg_export_snapshot(), now()", &[])
        .await
        .map_err(|e| pg.error(&e))?;
    let probe: i64 = control
        .query_one(checksum::PROBE_SQL, &[])
        .await
        .map_err(|e| pg.error(&e))?
        .get(0);
    if probe != checksum::probe_value() {
        return Err(Error::Source {
            database: pg.to_string(),
            reason: format!(
                "the server's hash functions give {probe} where dfstore computes {} for the same values, so checksums could not be compared",
                checksum::probe_value()
            ),
            fix: "extract from a little-endian PostgreSQL server (x86-64, ARM64), e.g. a replica"
                .into(),
        });
    }
    Ok((row.get(0), row.get(1)))
}

/// The extraction's id: the snapshot's instant rounded up to the second, so
/// that no extracted row is later than its extraction; two extractions
/// within one second take the next free second.
async fn free_id(lake: &Lake, taken: DateTime<Utc>) -> Result<ExtractionId> {
    let mut extraction = ExtractionId::at(taken + TimeDelta::milliseconds(999));
    while lake
        .get_json::<ExtractionManifest>(&extraction.manifest_path())
        .await?
        .is_some()
    {
        extraction = ExtractionId::at(extraction.instant() + TimeDelta::seconds(1));
    }
    Ok(extraction)
}

/// Extracts every planned table, each in its own task so that tables decode
/// and encode on separate cores; on the first failure the others are stopped.
async fn extract_all(
    pg: &Postgres,
    lake: &Lake,
    snapshot: &str,
    extraction: ExtractionId,
    plan: Vec<TablePlan>,
    options: &IngestOptions,
) -> Result<Vec<(TableIngest, RawTable)>> {
    let (parallel, chunk_rows) = (options.parallel.max(1), options.chunk_rows.max(1));
    let mut pending = plan.into_iter();
    let mut running = JoinSet::new();
    let mut extracted = Vec::new();
    let outcome: Result<()> = loop {
        while running.len() < parallel {
            let Some(plan) = pending.next() else { break };
            let job = TableJob {
                pg: pg.clone(),
                lake: lake.clone(),
                snapshot: snapshot.to_string(),
                extraction,
                plan,
                parallel,
                chunk_rows,
            };
            let progress = info_span!("extract", table = %job.plan.table, indicatif.pb_show = true);
            running.spawn(job.extract().instrument(progress));
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
    outcome.map(|()| extracted)
}

/// Publishes the extraction by writing its manifest.
async fn publish(
    pg: &Postgres,
    lake: &Lake,
    extraction: ExtractionId,
    taken: DateTime<Utc>,
    extracted: Vec<(TableIngest, RawTable)>,
) -> Result<(ExtractionManifest, Vec<TableIngest>)> {
    let mut summaries = Vec::new();
    let mut entries = BTreeMap::new();
    let mut kinds = Vec::new();
    for (summary, entry) in extracted {
        kinds.push(if summary.since.is_some() {
            "incremental"
        } else {
            "full"
        });
        entries.insert(summary.table.name().to_string(), entry);
        summaries.push(summary);
    }
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
    Ok((manifest, summaries))
}

/// The greatest `actualizado_en` extracted so far per table, from the
/// latest published extraction of this source that has one.
async fn watermarks(lake: &Lake) -> Result<BTreeMap<String, DateTime<Utc>>> {
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
                marks.insert(table.clone(), mark);
            }
        }
    }
    Ok(marks)
}

/// Parses a duration such as `5m`, `90s`, `1h` or `0`.
pub fn parse_overlap(text: &str) -> std::result::Result<TimeDelta, String> {
    let usage = |why: String| {
        format!("`{text}` is not a duration ({why}); use e.g. 500ms, 30s, 5m, 1h30m or 7d")
    };
    if text.trim() == "0" {
        return Ok(TimeDelta::zero());
    }
    let duration = humantime::parse_duration(text.trim()).map_err(|e| usage(e.to_string()))?;
    TimeDelta::from_std(duration).map_err(|e| usage(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_overlap_is_the_flag_s() {
        assert_eq!(
            parse_overlap(DEFAULT_OVERLAP).unwrap(),
            IngestOptions::every(&Sources::default()).overlap
        );
    }

    #[test]
    fn overlaps_parse() {
        assert_eq!(parse_overlap("5m").unwrap(), TimeDelta::minutes(5));
        assert_eq!(parse_overlap("90s").unwrap(), TimeDelta::seconds(90));
        assert_eq!(parse_overlap("0").unwrap(), TimeDelta::zero());
        assert!(parse_overlap("5").is_err());
        assert!(parse_overlap("m").is_err());
        assert!(parse_overlap("-1h").is_err());
        // What humantime reads: days, compound and sub-second durations.
        assert_eq!(parse_overlap("7d").unwrap(), TimeDelta::days(7));
        assert_eq!(parse_overlap("1m30s").unwrap(), TimeDelta::seconds(90));
        assert_eq!(
            parse_overlap("500ms").unwrap(),
            TimeDelta::milliseconds(500)
        );
        assert!(parse_overlap("soon").unwrap_err().contains("7d"));
    }
}
