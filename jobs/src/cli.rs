//! The `dfstore` command line: flags, their conversion into the library's
//! configuration, and the dispatch of each subcommand. Flags win over
//! environment variables, which win over defaults; clap resolves both.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use dfstore_core::{LakeUrl, S3Settings};

use crate::catalog;
use crate::cluster::Scheduler;
use crate::engine::{self, EngineConfig};
use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, generate};
use crate::ingest::{DEFAULT_CHUNK_ROWS, IngestOptions, LoadKind, ingest, parse_overlap, verify};
use crate::inventory;
use crate::lake::Lake;
use crate::layer::TableRef;
use crate::model::Period;
use crate::pii::PiiKey;
use crate::pipeline::{DEFAULT_CONCURRENT_MODELS, RunOptions, run};
use crate::postgres::{PasswordSources, Postgres};
use crate::query::{self, Output, OutputFormat};
use crate::raw::ExtractionId;
use crate::source::SourceTable;
use crate::source_db;
use crate::summary;

/// dfstore: the DMC Retail sales pipeline (raw → trusted → analytic) as SQL
/// plans on Apache DataFusion, over a lake in a local folder or on S3.
#[derive(Debug, Parser)]
#[command(name = "dfstore", version, about, long_about = None)]
pub struct Cli {
    /// Log as JSON lines instead of text (logs go to standard error).
    #[arg(long, global = true, env = "DFSTORE_LOG_JSON")]
    pub log_json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate deterministic DMC Retail data as raw extractions.
    Generate(GenerateArgs),
    /// Run the pipeline: raw → trusted (+ rejected) → analytic.
    Run(RunArgs),
    /// Run SQL over the lake's tables (raw.*, trusted.*, rejected.*, analytic.*).
    Sql(SqlArgs),
    /// Generate a small lake in ./lake and run the pipeline on it.
    Demo(DemoArgs),
    /// List the lake's tables with schema, partitions and row counts.
    Tables(LakeArgs),
    /// List the lake's runs (from logs/runs/).
    Runs(LakeArgs),
    /// Record the lake's tables in its catalog (_catalog/) and show them.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Extract the source PostgreSQL into raw (full or incremental, verified by checksums).
    Ingest(IngestArgs),
    /// The demo's source database: create and load it, or make a day of changes.
    #[command(subcommand)]
    Source(SourceCommand),
}

/// `dfstore source …`.
#[derive(Debug, Subcommand)]
pub enum SourceCommand {
    /// Create the `retail` schema (spec section 1) in a PostgreSQL database, dropping an earlier one, and load generated data with COPY.
    Init(SourceInitArgs),
    /// Make one day of changes in the source: new tickets, voids, corrections (sql/source/changes.sql).
    ApplyChanges(ApplyChangesArgs),
}

/// The source database and its password.
#[derive(Debug, Args)]
pub struct PgArgs {
    /// The source database, postgresql://USER@HOST:PORT/DB[?sslmode=disable]; never printed with its password.
    #[arg(
        long,
        value_name = "URL",
        env = "DFSTORE_PG_URL",
        hide_env_values = true
    )]
    pub pg: Option<String>,
    /// File whose first line is the database password [default: the URL's, then $PGPASSWORD].
    #[arg(long, value_name = "PATH", env = "DFSTORE_PG_PASSWORD_FILE")]
    pub pg_password_file: Option<PathBuf>,
    /// AWS Secrets Manager secret (id or ARN) holding the password, as text or JSON with `password` [default: none].
    #[arg(long, value_name = "ARN", env = "DFSTORE_PG_SECRET")]
    pub pg_secret: Option<String>,
}

impl PgArgs {
    /// The database, with its password resolved. The URL is never echoed:
    /// it may hold the password.
    pub async fn open(&self, why: &str) -> Result<Postgres> {
        let url = self.pg.as_deref().ok_or_else(|| Error::InvalidArgument {
            flag: "--pg".into(),
            reason: format!("{why} needs the source database: --pg postgresql://USER@HOST:PORT/DB or DFSTORE_PG_URL"),
        })?;
        let pg: Postgres = url.parse().map_err(|reason| Error::InvalidArgument {
            flag: "--pg".into(),
            reason,
        })?;
        pg.with_password(&PasswordSources {
            file: self.pg_password_file.clone(),
            secret: self.pg_secret.clone(),
        })
        .await
    }
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
    /// Tables to extract, comma-separated [default: tiendas,productos,clientes,ventas,detalle_ventas].
    #[arg(long, value_name = "TABLES", value_delimiter = ',')]
    pub tables: Vec<SourceTable>,
    /// Extract every row [default: incremental for tables extracted before, full for the others].
    #[arg(long, conflicts_with = "incremental")]
    pub full: bool,
    /// Extract only rows changed since each table's watermark; fails for a table never extracted.
    #[arg(long)]
    pub incremental: bool,
    /// How far before the watermark an incremental extraction starts, e.g. 30s, 5m, 1h [default: 5m].
    #[arg(long, value_name = "DURATION", default_value = "5m", hide_default_value = true, value_parser = parse_overlap)]
    pub overlap: chrono::TimeDelta,
    /// Tables extracted at once, each on its own connection, and key ranges a large table is read in at once [default: 3].
    #[arg(long, value_name = "N", default_value_t = 3, hide_default_value = true, value_parser = clap::value_parser!(u16).range(1..=16))]
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
    fn options(&self) -> IngestOptions {
        IngestOptions {
            tables: if self.tables.is_empty() {
                SourceTable::ALL.to_vec()
            } else {
                self.tables.clone()
            },
            load: match (self.full, self.incremental) {
                (true, _) => LoadKind::Full,
                (_, true) => LoadKind::Incremental,
                _ => LoadKind::Auto,
            },
            overlap: self.overlap,
            parallel: usize::from(self.parallel),
            chunk_rows: self.chunk_rows,
        }
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
}

/// `dfstore catalog …`.
#[derive(Debug, Subcommand)]
pub enum CatalogCommand {
    /// Record every table of every layer (schema, partitions, rows, files, last change) and print what changed since the previous crawl.
    Crawl(LakeArgs),
    /// Print the newest crawl: every table, or one table's columns and partitions.
    Show(CatalogShowArgs),
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
}

/// Where the lake is.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake: a folder, file:///path or s3://bucket/prefix [default: ./lake].
    #[arg(long, value_name = "URL", env = "DFSTORE_LAKE", default_value = "./lake", value_parser = parse_lake)]
    pub lake: LakeUrl,
    /// S3 server-side encryption sent on every write: AES256 (SSE-S3) or aws:kms (SSE-KMS) [default: none].
    #[arg(long, value_name = "MODE", env = "DFSTORE_S3_SSE", value_parser = ["AES256", "aws:kms"])]
    pub s3_sse: Option<String>,
    /// KMS key id for --s3-sse aws:kms [default: the bucket's key].
    #[arg(long, value_name = "KEY_ID", env = "DFSTORE_S3_SSE_KMS_KEY_ID")]
    pub s3_sse_kms_key_id: Option<String>,
}

impl LakeArgs {
    /// Opens the lake.
    pub fn open(&self) -> Result<Lake> {
        let s3 = S3Settings {
            sse: self.s3_sse.clone(),
            sse_kms_key_id: self.s3_sse_kms_key_id.clone(),
        };
        Lake::open(self.lake.clone(), &s3)
    }
}

/// Engine settings.
#[derive(Debug, Args)]
pub struct EngineArgs {
    /// Memory the engine may use before spilling to disk, e.g. 512M, 2G [default: 1G].
    #[arg(long, value_name = "SIZE", env = "DFSTORE_MEMORY_LIMIT", value_parser = engine::parse_memory)]
    pub memory_limit: Option<u64>,
    /// Partitions per plan (parallelism) [default: the number of cores].
    #[arg(long, value_name = "N", env = "DFSTORE_TARGET_PARTITIONS", value_parser = clap::value_parser!(u16).range(1..))]
    pub target_partitions: Option<u16>,
    /// Run on a dfstore cluster instead of in-process: the scheduler's address, df://HOST:PORT [default: the embedded engine].
    #[arg(long, value_name = "URL", env = "DFSTORE_SCHEDULER")]
    pub scheduler: Option<Scheduler>,
}

impl From<&EngineArgs> for EngineConfig {
    fn from(args: &EngineArgs) -> Self {
        let mut config = EngineConfig::default();
        if let Some(m) = args.memory_limit {
            config.memory_limit = m;
        }
        if let Some(p) = args.target_partitions {
            config.target_partitions = usize::from(p);
        }
        config.scheduler = args.scheduler.clone();
        config
    }
}

/// `dfstore generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Scale factor: 1 = 50 stores, 5,000 products, 100,000 customers, ~1M tickets, ~3M lines [default: 1].
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// Random seed; the same seed and scale give the same data [default: 42].
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
}

/// `dfstore run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Rewrite only this business month's partitions (YYYY-MM) [default: every month].
    #[arg(long, value_name = "YYYY-MM")]
    pub period: Option<Period>,
    /// File holding the personal-data hash key [default: $DFSTORE_PII_KEY, then $DFSTORE_PII_KEY_FILE, then ~/.config/dfstore/pii.key].
    #[arg(long, value_name = "PATH")]
    pub pii_key_file: Option<PathBuf>,
    /// Extract the source database first (`dfstore ingest` with --pg, incremental where possible), then run.
    #[arg(long)]
    pub ingest: bool,
    /// The source database, for --ingest.
    #[command(flatten)]
    pub pg: PgArgs,
    /// Models built at once, each as soon as the models it reads are built (1: one at a time, in order) [default: 2].
    #[arg(long, value_name = "N", env = "DFSTORE_CONCURRENT_MODELS", default_value_t = DEFAULT_CONCURRENT_MODELS as u16, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrent_models: u16,
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
    /// Output format: table, csv, json (one object per line) or parquet [default: table].
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub format: OutputFormat,
    /// Write the result to this file instead of standard output (required for parquet) [default: stdout].
    #[arg(short = 'o', long, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

/// `dfstore demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Scale factor of the generated data [default: 0.1, ~100,000 tickets].
    #[arg(long, value_name = "S", default_value_t = 0.1, value_parser = parse_scale)]
    pub scale: f64,
    /// Random seed [default: 42].
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
}

fn parse_lake(text: &str) -> std::result::Result<LakeUrl, String> {
    LakeUrl::parse(text).map_err(|e| e.to_string())
}

fn parse_scale(text: &str) -> std::result::Result<f64, String> {
    let s: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number; use e.g. 0.1, 1 or 10"))?;
    if s > 0.0 && s <= 100.0 {
        Ok(s)
    } else {
        Err(format!("{s} is out of range; use a scale in (0, 100]"))
    }
}

/// Runs a parsed command line; what it prints goes to standard output.
pub async fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Generate(args) => {
            let lake = args.lake.open()?;
            let generated = generate(
                &lake,
                &GenerateOptions {
                    scale: args.scale,
                    seed: args.seed,
                },
            )
            .await?;
            print!("{}", summary::render_generated(&generated));
        }
        Command::Run(args) => {
            let lake = args.lake.open()?;
            if args.ingest {
                let pg = args.pg.open("--ingest").await?;
                let options = IngestOptions {
                    tables: SourceTable::ALL.to_vec(),
                    load: LoadKind::Auto,
                    overlap: chrono::TimeDelta::minutes(5),
                    parallel: 3,
                    chunk_rows: DEFAULT_CHUNK_ROWS,
                };
                print!(
                    "{}",
                    summary::render_ingest(&ingest(&pg, &lake, &options).await?)
                );
                println!();
            }
            let options = RunOptions {
                period: args.period,
                engine: EngineConfig::from(&args.engine),
                pii_key: PiiKey::resolve(args.pii_key_file.as_deref())?,
                concurrent_models: usize::from(args.concurrent_models),
            };
            let manifest = run(&lake, &options).await?;
            print!("{}", summary::render(&manifest));
        }
        Command::Sql(args) => {
            let lake = args.lake.open()?;
            let sql = match (&args.query, &args.file) {
                (Some(q), _) => q.clone(),
                (None, Some(f)) => {
                    std::fs::read_to_string(f).map_err(|e| Error::InvalidArgument {
                        flag: "--file".into(),
                        reason: format!("cannot read {}: {e}", f.display()),
                    })?
                }
                (None, None) => {
                    return Err(Error::InvalidArgument {
                        flag: "QUERY".into(),
                        reason: "give a query or --file".into(),
                    });
                }
            };
            let output = Output {
                format: args.format,
                path: args.output.clone(),
            };
            query::query(&lake, &EngineConfig::from(&args.engine), &sql, &output).await?;
        }
        Command::Demo(args) => {
            let lake = args.lake.open()?;
            let key = PiiKey::default_or_create()?;
            let generated = generate(
                &lake,
                &GenerateOptions {
                    scale: args.scale,
                    seed: args.seed,
                },
            )
            .await?;
            print!("{}", summary::render_generated(&generated));
            let manifest = run(
                &lake,
                &RunOptions {
                    period: None,
                    engine: EngineConfig::default(),
                    pii_key: key,
                    concurrent_models: DEFAULT_CONCURRENT_MODELS,
                },
            )
            .await?;
            println!();
            print!("{}", summary::render(&manifest));
            println!("\nanalytic.reporte_ventas_tienda, best five store-days by venta_neta:");
            query::query(
                &lake,
                &EngineConfig::default(),
                "SELECT fecha, codigo_tienda, ciudad, num_ventas, unidades, venta_neta, margen_bruto, ticket_promedio \
                 FROM analytic.reporte_ventas_tienda ORDER BY venta_neta DESC, fecha, codigo_tienda LIMIT 5",
                &Output {
                    format: OutputFormat::Table,
                    path: None,
                },
            )
            .await?;
            println!(
                "\nnext: dfstore sql --lake {} \"SELECT periodo, SUM(venta_neta) FROM analytic.reporte_ventas_tienda GROUP BY periodo ORDER BY periodo\"",
                args.lake.lake
            );
        }
        Command::Tables(args) => {
            let lake = args.open()?;
            if !lake.exists().await? {
                return Err(Error::LakeNotFound {
                    lake: lake.url().to_string(),
                });
            }
            print!(
                "{}",
                inventory::render_tables(&inventory::tables(&lake).await?)
            );
        }
        Command::Runs(args) => {
            let lake = args.open()?;
            if !lake.exists().await? {
                return Err(Error::LakeNotFound {
                    lake: lake.url().to_string(),
                });
            }
            print!("{}", inventory::render_runs(&inventory::runs(&lake).await?));
        }
        Command::Ingest(args) => {
            let lake = args.lake.open()?;
            if args.verify {
                let verified = verify(&lake, args.extraction).await?;
                print!("{}", summary::render_verified(&verified));
            } else {
                let pg = args.pg.open("ingest").await?;
                let published = ingest(&pg, &lake, &args.options()).await?;
                print!("{}", summary::render_ingest(&published));
            }
        }
        Command::Source(SourceCommand::Init(args)) => {
            let pg = args.pg.open("source init").await?;
            let options = GenerateOptions {
                scale: args.scale,
                seed: args.seed,
            };
            let summary = source_db::init(&pg, &options).await?;
            let what = format!(
                "created retail in {pg} with generated data (scale {}, seed {})",
                args.scale, args.seed
            );
            print!("{}", summary::render_source(&summary, &what));
        }
        Command::Source(SourceCommand::ApplyChanges(args)) => {
            let pg = args.pg.open("source apply-changes").await?;
            let summary = source_db::apply_changes(&pg, args.seed, args.day).await?;
            let what = format!("applied one day of changes (seed {}) to {pg}", args.seed);
            print!("{}", summary::render_source(&summary, &what));
        }
        Command::Catalog(command) => catalog_command(command).await?,
    }
    Ok(())
}

async fn catalog_command(command: CatalogCommand) -> Result<()> {
    match command {
        CatalogCommand::Crawl(args) => {
            let crawl = catalog::crawl(&args.open()?).await?;
            print!("{}", catalog::render::render_crawl(&crawl));
        }
        CatalogCommand::Show(args) => {
            let lake = args.lake.open()?;
            if !lake.exists().await? {
                return Err(Error::LakeNotFound {
                    lake: lake.url().to_string(),
                });
            }
            let crawl = catalog::latest(&lake)
                .await?
                .ok_or_else(|| Error::NoCatalog {
                    lake: lake.url().to_string(),
                })?;
            match &args.table {
                None => print!("{}", catalog::render::render_catalog(&crawl)),
                Some(table) => {
                    let found = crawl.table(table).ok_or_else(|| Error::UnknownTable {
                        table: table.to_string(),
                        known: crawl
                            .tables
                            .iter()
                            .map(|t| t.table.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })?;
                    print!("{}", catalog::render::render_table(&crawl, found));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scale_is_range_checked() {
        assert!(parse_scale("0").is_err());
        assert!(parse_scale("abc").is_err());
        assert_eq!(parse_scale("0.5").unwrap(), 0.5);
    }
}
