//! The flags of every subcommand (clap types only) and their conversion
//! into the library's configuration. Flags win over environment variables,
//! which win over defaults; clap resolves both.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use dfstore_core::LakeUrl;

use crate::contract::extraction::ExtractionId;
use crate::contract::layer::TableRef;
use crate::contract::period::Period;
use crate::contract::source::Sources;
use crate::error::{Error, Result};
use crate::generate::MAX_YEARS;
use crate::ingest::{
    DEFAULT_CHUNK_ROWS, DEFAULT_OVERLAP, DEFAULT_PARALLEL, IngestOptions, LoadKind, parse_overlap,
};

pub use crate::cli::databases::{PgArgs, WarehouseArgs};
pub use crate::cli::project::ProjectArgs;
use crate::pipeline::DEFAULT_CONCURRENT_MODELS;
use crate::query::OutputFormat;
use shared::parse_share;
pub use shared::{
    EngineArgs, Format, FormatArgs, InventoryArgs, LakeArgs, MetricsArgs, parse_duration,
};

/// The flag groups several subcommands share.
mod shared;

/// `dfstore source …`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Create the `retail` schema (spec section 1) in a PostgreSQL database, dropping an earlier one, and load generated data with COPY.
    Init(SourceInitArgs),
    /// Make one day of changes in the source: new tickets, voids, corrections (sql/source/changes.sql).
    ApplyChanges(ApplyChangesArgs),
}

/// `dfstore load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The warehouse.
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Load only this business month (YYYY-MM) [default: every month of the version; months the version lacks are removed].
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<Period>,
    /// The published model to load, as LAYER.NAME; it must declare a unique_key, a contract and partition_by = "periodo" [default: analytic.reporte_ventas_tienda].
    #[arg(long, value_name = "LAYER.NAME")]
    pub table: Option<TableRef>,
    /// The project that declares the model.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The Delta version of the model to load [default: the newest].
    #[arg(long, value_name = "N")]
    pub version: Option<u64>,
    /// Where the load's metrics go.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// The output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// `dfstore nightly`.
#[derive(Debug, Args)]
pub struct NightlyArgs {
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The project run.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The source database to ingest first (incremental, or full the first time) [default: no ingest].
    #[command(flatten)]
    pub pg: PgArgs,
    /// Rebuild every model from all of raw, as the first run does, instead of only what the extractions not yet consumed change (see the book's "Incremental runs").
    #[arg(long)]
    pub full_refresh: bool,
    /// Run in full when the files the changes touch hold more than this share of the rows of the tables merged by key: rewriting them costs about what a full run does [default: 0.5].
    #[arg(long, value_name = "SHARE", env = "DFSTORE_FULL_REFRESH_ABOVE", default_value_t = 0.5, hide_default_value = true, value_parser = parse_share)]
    pub full_refresh_above: f64,
    /// The warehouse to load the report into last [default: no load].
    #[command(flatten)]
    pub warehouse: WarehouseArgs,
    /// File holding the personal-data hash key [default: $DFSTORE_PII_KEY, then $DFSTORE_PII_KEY_FILE, then ~/.config/dfstore/pii.key].
    #[arg(long, value_name = "PATH")]
    pub pii_key_file: Option<PathBuf>,
    /// Retries of a step that failed for a passing reason (refused or dropped connection, throttling, a lost executor); data failures are never retried [default: 3].
    #[arg(long, value_name = "N", env = "DFSTORE_RETRIES", default_value_t = 3, hide_default_value = true, value_parser = clap::value_parser!(u16).range(0..=20))]
    pub retries: u16,
    /// The wait before the first retry, doubling each time, e.g. 5s, 1m [default: 5s].
    #[arg(long, value_name = "DURATION", env = "DFSTORE_RETRY_DELAY", default_value = "5s", hide_default_value = true, value_parser = parse_overlap)]
    pub retry_delay: chrono::TimeDelta,
    /// POST the nightly manifest as JSON to this URL, on success and on failure (never printed: only its host) [default: none].
    #[arg(
        long,
        value_name = "URL",
        env = "DFSTORE_NOTIFY_URL",
        hide_env_values = true
    )]
    pub notify_url: Option<String>,
    /// Run this shell command with the manifest on its standard input and DFSTORE_NIGHTLY_OUTCOME set, on success and on failure [default: none].
    #[arg(long, value_name = "COMMAND", env = "DFSTORE_NOTIFY_COMMAND")]
    pub notify_command: Option<String>,
    /// Publish the nightly manifest to this SNS topic (ARN), on success and on failure, on the AWS credential chain [default: none].
    #[arg(long, value_name = "ARN", env = "DFSTORE_NOTIFY_SNS")]
    pub notify_sns: Option<String>,
    /// The output format.
    #[command(flatten)]
    pub format: FormatArgs,
    /// Where the metrics go.
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Models built at once [default: 2].
    #[arg(long, value_name = "N", env = "DFSTORE_CONCURRENT_MODELS", default_value_t = DEFAULT_CONCURRENT_MODELS as u16, value_parser = clap::value_parser!(u16).range(1..), hide_default_value = true)]
    pub concurrent_models: u16,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `dfstore ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// The source database.
    #[command(flatten)]
    pub pg: PgArgs,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The project whose sources (`[[sources]]` in its dfstore_project.toml) are extracted.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Sources to extract, comma-separated [default: every source the project declares].
    #[arg(long, value_name = "TABLES", value_delimiter = ',')]
    pub tables: Vec<String>,
    /// Extract every row [default: incremental for tables extracted before, full for the others].
    #[arg(long, conflicts_with = "incremental")]
    pub full: bool,
    /// Extract only rows changed since each table's watermark; fails for a table never extracted.
    #[arg(long)]
    pub incremental: bool,
    /// How far before the watermark an incremental extraction starts, e.g. 30s, 5m, 1h [default: 5m].
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_OVERLAP, hide_default_value = true, value_parser = parse_overlap)]
    pub overlap: chrono::TimeDelta,
    /// Tables extracted at once, each on its own connection, and key ranges a large table is read in at once [default: 3].
    #[arg(long, value_name = "N", default_value_t = DEFAULT_PARALLEL, hide_default_value = true, value_parser = clap::value_parser!(u16).range(1..=16))]
    pub parallel: u16,
    /// Rows (by PostgreSQL's estimate) above which a full load reads a table in ranges of its integer key, one per this many rows, up to --parallel [default: 1048576].
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_CHUNK_ROWS, hide_default_value = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub chunk_rows: u64,
    /// Do not extract: read the lake's PostgreSQL extractions back and check them against their manifests' checksums.
    #[arg(long, conflicts_with_all = ["full", "incremental"])]
    pub verify: bool,
    /// With --verify, check only this extraction (YYYYMMDDTHHMMSSZ) [default: all].
    #[arg(long, value_name = "ID", requires = "verify")]
    pub extraction: Option<ExtractionId>,
}

impl IngestArgs {
    /// The extraction these flags ask for, of the sources `sources` declares.
    pub fn options(&self, sources: &Sources) -> Result<IngestOptions> {
        let mut tables = Vec::with_capacity(self.tables.len());
        for name in &self.tables {
            let table = sources
                .find(name)
                .map_err(|reason| Error::InvalidArgument {
                    flag: "--tables".into(),
                    reason,
                })?;
            tables.push(table.clone());
        }
        if tables.is_empty() {
            tables = sources.all().to_vec();
        }
        Ok(IngestOptions {
            tables,
            load: match (self.full, self.incremental) {
                (true, _) => LoadKind::Full,
                (_, true) => LoadKind::Incremental,
                _ => LoadKind::Auto,
            },
            overlap: self.overlap,
            parallel: usize::from(self.parallel),
            chunk_rows: self.chunk_rows,
        })
    }
}

/// `dfstore source init`.
#[derive(Debug, Args)]
pub struct SourceInitArgs {
    /// The database to create `retail` in (its user needs CREATE).
    #[command(flatten)]
    pub pg: PgArgs,
    /// Scale factor of the generated data (as for `generate`) [default: 1].
    #[arg(long, value_name = "S", default_value_t = 1.0, hide_default_value = true, value_parser = parse_scale)]
    pub scale: f64,
    /// Random seed (as for `generate`) [default: 42].
    #[arg(
        long,
        value_name = "N",
        default_value_t = 42,
        hide_default_value = true
    )]
    pub seed: u64,
    /// Years of sales history, ending with 2025, at the same sales a day (as for `generate`) [default: 1].
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_YEARS)))]
    pub years: u32,
}

/// `dfstore source apply-changes`.
#[derive(Debug, Args)]
pub struct ApplyChangesArgs {
    /// The source database (its user needs INSERT and UPDATE on `retail`).
    #[command(flatten)]
    pub pg: PgArgs,
    /// Seed that picks the changed rows; the same seed on the same data gives the same changes [default: 1].
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true)]
    pub seed: u64,
    /// The day of the changes, YYYY-MM-DD [default: the day after the latest change].
    #[arg(long, value_name = "DATE")]
    pub day: Option<chrono::NaiveDate>,
    /// Void and correct only tickets sold in the N days before the day of the changes, as stores mostly do [default: tickets of any day].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub recent_days: Option<u32>,
}

/// `dfstore catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Record every table of every layer (schema, partitions, rows, files, last change) and print what changed since the previous crawl.
    Crawl(LakeArgs),
    /// Print the newest crawl: every table, or one table's columns and partitions.
    Show(CatalogShowArgs),
    /// Register the published tables (trusted, rejected, analytic) in the AWS Glue Data Catalog, for Athena and Redshift Spectrum; rerunning updates them.
    SyncGlue(SyncGlueArgs),
}

/// `dfstore catalog show`.
#[derive(Debug, Args)]
pub struct CatalogShowArgs {
    /// The table to describe, as layer.table, e.g. raw.ventas [default: every table].
    #[arg(value_name = "TABLE")]
    pub table: Option<TableRef>,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The output format.
    #[command(flatten)]
    pub format: FormatArgs,
}

/// `dfstore catalog sync-glue`.
#[derive(Debug, Args)]
pub struct SyncGlueArgs {
    /// The Glue database, created when missing.
    #[arg(long, value_name = "NAME", env = "DFSTORE_GLUE_DATABASE")]
    pub database: String,
    /// The lake (on S3).
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// `dfstore generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Scale factor: 1 = 50 stores, 5,000 products, 100,000 customers, ~1M tickets, ~3M lines [default: 1].
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_scale, hide_default_value = true)]
    pub scale: f64,
    /// Random seed; the same seed and scale give the same data [default: 42].
    #[arg(
        long,
        value_name = "N",
        default_value_t = 42,
        hide_default_value = true
    )]
    pub seed: u64,
    /// Years of sales history, ending with 2025, at the same sales a day [default: 1].
    #[arg(long, value_name = "N", default_value_t = 1, hide_default_value = true,
          value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_YEARS)))]
    pub years: u32,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// `dfstore run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The lake.
    #[command(flatten, next_help_heading = "Lake and project")]
    pub lake: LakeArgs,
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// File holding the personal-data hash key [default: $DFSTORE_PII_KEY, then $DFSTORE_PII_KEY_FILE, then ~/.config/dfstore/pii.key].
    #[arg(long, value_name = "PATH", help_heading = "Lake and project")]
    pub pii_key_file: Option<PathBuf>,
    /// Build only these models, e.g. analytic.ventas_mes, +name (with what it reads), name+ (with what reads it), tag:x, schema:analytic; comma-separated or repeated. Published tables they read are read at their last published version [default: every model].
    #[arg(
        long,
        short = 's',
        value_name = "SELECTOR",
        help_heading = "What to build"
    )]
    pub select: Vec<String>,
    /// Do not build these models (same selectors as --select) [default: none].
    #[arg(long, value_name = "SELECTOR", help_heading = "What to build")]
    pub exclude: Vec<String>,
    /// Rewrite only this business month's partitions (YYYY-MM) [default: every month].
    #[arg(long, value_name = "YYYY-MM", help_heading = "What to build")]
    pub period: Option<Period>,
    /// Rebuild every model from all of raw, as the first run does, instead of only what the extractions not yet consumed change (see the book's "Incremental runs").
    #[arg(long, help_heading = "What to build")]
    pub full_refresh: bool,
    /// Run in full when the files the changes touch hold more than this share of the rows of the tables merged by key: rewriting them costs about what a full run does [default: 0.5].
    #[arg(long, value_name = "SHARE", env = "DFSTORE_FULL_REFRESH_ABOVE", default_value_t = 0.5, hide_default_value = true, value_parser = parse_share, help_heading = "What to build")]
    pub full_refresh_above: f64,
    /// Extract the source database first (`dfstore ingest` with --pg, incremental where possible), then run.
    #[arg(long, help_heading = "Source and warehouse")]
    pub ingest: bool,
    /// The source database, for --ingest.
    #[command(flatten, next_help_heading = "Source and warehouse")]
    pub pg: PgArgs,
    /// Load the published report into --warehouse right after publishing (as `dfstore load`; with --period, that month).
    #[arg(long, help_heading = "Source and warehouse")]
    pub load: bool,
    /// The warehouse, for --load.
    #[command(flatten, next_help_heading = "Source and warehouse")]
    pub warehouse: WarehouseArgs,
    /// The output format.
    #[command(flatten, next_help_heading = "Output")]
    pub format: FormatArgs,
    /// Where the run's metrics go.
    #[command(flatten, next_help_heading = "Output")]
    pub metrics: MetricsArgs,
    /// Models built at once, each as soon as the models it reads are built (1: one at a time, in order) [default: 2].
    #[arg(long, value_name = "N", env = "DFSTORE_CONCURRENT_MODELS", default_value_t = DEFAULT_CONCURRENT_MODELS as u16, value_parser = clap::value_parser!(u16).range(1..), hide_default_value = true, help_heading = "Engine")]
    pub concurrent_models: u16,
    /// Engine settings.
    #[command(flatten, next_help_heading = "Engine")]
    pub engine: EngineArgs,
}

/// `dfstore init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write the built-in retail project into (created if missing; existing files are never overwritten).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `dfstore check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The lake whose raw schemas the models are planned against [default: ./lake; the source contract's schemas where it has no raw data].
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// `dfstore test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The project.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `dfstore sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query [default: read from --file].
    #[arg(
        value_name = "QUERY",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    pub query: Option<String>,
    /// Read the query from this file.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Output format: json is one object per line; parquet needs --output.
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the result to this file instead of standard output (required for parquet) [default: stdout].
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The project (its staging models are views, its variables bound).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `dfstore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scale factor of the generated data [default: 0.1, ~100,000 tickets].
    #[arg(long, value_name = "S", default_value_t = 0.1, value_parser = parse_scale, hide_default_value = true)]
    pub scale: f64,
    /// Random seed [default: 42].
    #[arg(
        long,
        value_name = "N",
        default_value_t = 42,
        hide_default_value = true
    )]
    pub seed: u64,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// Parses `--lake`.
pub fn parse_lake(text: &str) -> std::result::Result<LakeUrl, String> {
    LakeUrl::parse(text).map_err(|e| e.to_string())
}

/// Parses `--scale`: a number in (0, 100].
pub fn parse_scale(text: &str) -> std::result::Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number; use e.g. 0.1, 1 or 10"))?;
    if s > 0.0 && s <= 100.0 {
        Ok(s)
    } else {
        Err(format!("{s} is out of range; use a scale in (0, 100]"))
    }
}

#[cfg(test)]
mod tests;
