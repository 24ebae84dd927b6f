//! The library's one error type, sorted by whose fault it is: the user's input,
//! the configuration, an external service or the data, or a bug of ours.

use dfstore_core::LakeUrlError;
use dfstore_core::pii::SecretError;

use crate::contract::extraction::ExtractionId;

mod hints;
use hints::{engine_text, mismatch_text, partition_text, storage_hint, storage_text};

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a dfstore job.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // ---- the user's input ------------------------------------------------------
    /// The lake folder or prefix does not exist.
    #[error(
        "lake `{lake}` does not exist; create it with `dfstore generate --lake {lake}` or `dfstore ingest`, or pass the right --lake"
    )]
    LakeNotFound {
        /// The lake URL.
        lake: String,
    },
    /// The lake has no published raw extraction.
    #[error(
        "lake `{lake}` has no raw extraction (no manifest under raw/_extracciones/); run `dfstore generate --lake {lake}` or `dfstore ingest` first"
    )]
    NoRawData {
        /// The lake URL.
        lake: String,
    },
    /// The lake was never crawled.
    #[error(
        "lake `{lake}` has no catalog yet (nothing under _catalog/crawls/); run `dfstore catalog crawl --lake {lake}` first"
    )]
    NoCatalog {
        /// The lake URL.
        lake: String,
    },
    /// A query names a table the lake does not have.
    #[error("unknown table `{table}`; {hint}")]
    UnknownTable {
        /// What was asked for.
        table: String,
        /// The closest name the lake has, or what to do.
        hint: String,
    },
    /// A query the user wrote is not valid SQL or cannot be planned.
    #[error("query failed: {message}")]
    InvalidSql {
        /// DataFusion's explanation.
        message: String,
    },
    /// A flag has a value that cannot be used.
    #[error("invalid value for {flag}: {reason}")]
    InvalidArgument {
        /// The flag, e.g. `--scale`.
        flag: String,
        /// Why, and what to give instead.
        reason: String,
    },
    /// An incremental extraction was asked for a table never extracted.
    #[error(
        "`{table}` has no earlier extraction from PostgreSQL in `{lake}` to continue from; run `dfstore ingest --full` first"
    )]
    NoWatermark {
        /// The source table.
        table: String,
        /// The lake URL.
        lake: String,
    },
    /// The lake has no published version of the table to load.
    #[error(
        "lake `{lake}` has no published {table} to load; run `dfstore run --lake {lake}` first"
    )]
    NothingToLoad {
        /// `layer.name`.
        table: String,
        /// The lake URL.
        lake: String,
    },

    /// Another nightly run holds the lake.
    #[error(
        "lake `{lake}` is held by {holder}; two nightly runs never overlap on one lake: wait for it to finish, or, if it died on another machine, delete {lock} from the lake"
    )]
    LakeLocked {
        /// The lake URL.
        lake: String,
        /// Who holds it.
        holder: String,
        /// The lock's path in the lake.
        lock: String,
    },

    /// A project file is wrong: a header key, a value, a reference, a cycle,
    /// a variable, a contract.
    #[error("{location}: {message}")]
    Project {
        /// `file:line` (or the project folder).
        location: String,
        /// What is wrong and the fix.
        message: String,
    },
    /// A data test of severity error found failing rows.
    #[error(
        "{location}: data test {test} failed on {rows} row(s), e.g. {first}; nothing was published: fix the model or the data, or make the test severity = \"warn\""
    )]
    DataTest {
        /// The test.
        test: String,
        /// Where it is declared.
        location: String,
        /// Failing rows.
        rows: u64,
        /// The first failing row.
        first: String,
    },

    // ---- configuration ---------------------------------------------------------
    /// The lake URL is not usable.
    #[error(transparent)]
    LakeUrl(#[from] LakeUrlError),
    /// A required secret is not configured.
    #[error("{what} is not configured: {fix}")]
    MissingSecret {
        /// The secret.
        what: String,
        /// How to provide it.
        fix: String,
    },
    /// A command or flag needs a part this `dfstore` was built without.
    #[error(
        "{what} needs the `{feature}` cargo feature, which this dfstore was built without; build it without `--no-default-features`, or with `--features {feature}`"
    )]
    NotBuilt {
        /// The command or flag, e.g. `dfstore emr`.
        what: String,
        /// The cargo feature, e.g. `aws`.
        feature: &'static str,
    },
    // ---- the data: what the source or the lake holds ---------------------------
    /// An extraction lacks a table the pipeline needs.
    #[error(
        "raw table `{table}` has no data in any published extraction of `{lake}`; extract it again"
    )]
    MissingRawTable {
        /// The lake URL.
        lake: String,
        /// The table.
        table: String,
    },
    /// A raw extraction lacks a column the job SQL reads, or has it with
    /// another type (breaking schema drift).
    #[error(
        "raw.{table} column {column}: {} in extraction {extraction} ({file}); nothing was written: restore the column in the source and extract again (deleting raw/{table}/extraido={extraction}/ and raw/_extracciones/{extraction}.json), or change the source's `columns` in dfstore_project.toml and the SQL that reads it",
        mismatch_text(expected, found.as_deref())
    )]
    SchemaMismatch {
        /// The source table.
        table: String,
        /// The column.
        column: String,
        /// The type the SQL expects.
        expected: String,
        /// The type found; `None` when the column is missing.
        found: Option<String>,
        /// The extraction where it was seen.
        extraction: ExtractionId,
        /// The file where it was seen (boxed: it keeps the error small).
        file: Box<str>,
    },
    /// A source column has a type raw cannot hold exactly.
    #[error(
        "source column `{table}.{column}` has type {pg_type}, which dfstore cannot extract exactly; cast it in a view (integer, bigint, numeric(p,s), text, boolean, date, timestamptz) or drop it"
    )]
    UnsupportedColumn {
        /// The source table.
        table: String,
        /// The column.
        column: String,
        /// Its PostgreSQL type.
        pg_type: String,
    },
    /// A raw file no longer has the bytes it was extracted with.
    #[error(
        "raw file {file} of extraction {extraction} changed after it was extracted (SHA-256 {found}, its manifest says {expected}); nothing was built or published: restore the file, or delete the extraction (raw/{table}/extraido={extraction}/ and raw/_extracciones/{extraction}.json) and extract it again"
    )]
    RawFileChanged {
        /// The file's URL.
        file: String,
        /// Its table.
        table: String,
        /// Its extraction.
        extraction: ExtractionId,
        /// The digest in the manifest.
        expected: String,
        /// The digest of the file now.
        found: String,
    },
    /// A raw file's manifest has no digest to check it against.
    #[error(
        "raw file {file} of extraction {extraction} has no SHA-256 in its manifest (written by an older dfstore), so it cannot be verified; nothing was built: generate or extract that data again"
    )]
    RawFileUnverifiable {
        /// The file's URL.
        file: String,
        /// Its extraction.
        extraction: ExtractionId,
    },
    /// A data file cannot be read.
    #[error(
        "corrupt Parquet file {file}: {reason}; delete that extraction (and its manifest) and extract it again"
    )]
    CorruptFile {
        /// The file's URL.
        file: String,
        /// What the reader said.
        reason: String,
    },
    /// A document the lake holds cannot be parsed.
    #[error("cannot parse {path}: {reason}")]
    CorruptDocument {
        /// The document.
        path: String,
        /// The parser's error.
        reason: String,
    },
    /// An extraction's files do not hold what the source had.
    #[error(
        "checksum mismatch for `{table}` in extraction {extraction}: PostgreSQL has {source_rows} rows (checksum {source_sum}) but the Parquet files hold {lake_rows} (checksum {lake_sum}); nothing was published, extract again"
    )]
    ChecksumMismatch {
        /// The table.
        table: String,
        /// The extraction.
        extraction: String,
        /// Rows at the source (or in the manifest).
        source_rows: u64,
        /// Checksum at the source (or in the manifest).
        source_sum: String,
        /// Rows in the files.
        lake_rows: u64,
        /// Checksum of the files.
        lake_sum: String,
    },
    /// Deduplicated raw rows do not equal trusted + rejected rows.
    #[error(
        "reconciliation failed for `{table}`: raw after deduplication has {raw} rows but trusted has {trusted} and rejected {rejected}; nothing was published"
    )]
    Reconciliation {
        /// The table.
        table: String,
        /// Deduplicated raw rows.
        raw: u64,
        /// Trusted rows.
        trusted: u64,
        /// Rejected rows.
        rejected: u64,
    },
    /// An existing warehouse table does not have the loaded model's columns.
    #[error(
        "warehouse table {table} column {column}: expected {expected}, found {found}; nothing was loaded: alter the column to {expected} (or drop the table and let `dfstore load` create it)"
    )]
    WarehouseSchema {
        /// `schema.table`.
        table: String,
        /// The column.
        column: String,
        /// The type the model's contract gives it.
        expected: String,
        /// What the table has (`missing` when it has no such column).
        found: String,
    },
    /// After a load, the warehouse does not hold what the lake does.
    #[error(
        "warehouse table {table} does not reconcile with the lake for periodo {period}: {column} is {warehouse} in the warehouse but {lake} in the lake; the load was rolled back, the warehouse is as it was"
    )]
    WarehouseMismatch {
        /// `schema.table`.
        table: String,
        /// The month.
        period: String,
        /// `rows` or the measure that differs.
        column: String,
        /// The lake's value.
        lake: String,
        /// The warehouse's value.
        warehouse: String,
    },

    // ---- external services -----------------------------------------------------
    /// The source database failed or refused us.
    #[error("PostgreSQL at {database}: {reason}; {fix}")]
    Source {
        /// The database, without password.
        database: String,
        /// What the server or driver said.
        reason: String,
        /// What to check.
        fix: String,
    },
    /// A query on a source table failed.
    #[error("source table `{table}`: {reason}")]
    SourceQuery {
        /// The table.
        table: String,
        /// Why.
        reason: String,
    },
    /// An AWS service failed or refused us.
    #[error("AWS {service}: {what}: {reason}; {fix}")]
    Aws {
        /// The service, e.g. `Glue`.
        service: String,
        /// What was being done.
        what: String,
        /// What the service or the SDK said.
        reason: String,
        /// What to check.
        fix: String,
    },
    /// The object store failed.
    #[error(
        "storage error at {location}: {}{}",
        storage_text(source),
        storage_hint(source)
    )]
    Storage {
        /// The object's URL.
        location: String,
        /// The object store's error.
        #[source]
        source: object_store::Error,
    },
    /// Writing Parquet failed.
    #[error("cannot write Parquet {location}: {}", storage_text(source))]
    Parquet {
        /// The file.
        location: String,
        /// The writer's error.
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// Delta Lake failed to read or commit a table.
    #[error("Delta table `{table}`: {source}")]
    Delta {
        /// The table.
        table: String,
        /// The Delta Lake error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },
    /// DataFusion failed while executing a job.
    #[error("{context}: {}", engine_text(source))]
    Engine {
        /// What was running.
        context: String,
        /// DataFusion's error.
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    // ---- our bugs --------------------------------------------------------------
    /// A model's row has a partition value that cannot name a folder.
    #[error(
        "{model}: {}; every row must name the partition folder it belongs to, non-empty and without `/`",
        partition_text(column, value.as_deref())
    )]
    BadPartitionValue {
        /// The model being written.
        model: String,
        /// The partition column.
        column: String,
        /// The value; `None` for NULL.
        value: Option<String>,
    },
    /// A model built one month at a time wrote rows of another month.
    #[error(
        "{model}: built for periodo {period}, it wrote {file}; a model built by period must take each month's rows from the same month of what it reads"
    )]
    ModelLeaksPeriod {
        /// The model.
        model: String,
        /// The month being built.
        period: String,
        /// The file written under another month's folder.
        file: String,
    },
    /// A model rebuilt by period for some days of its periods produced rows
    /// of other days.
    #[error(
        "{model}: rebuilt for the days {days} of {column}, it produced {rows} row(s) of other days or without one; a model with day_column must take each row from the same day of what it reads and carry that day in {column}"
    )]
    ModelLeaksDays {
        /// The model.
        model: String,
        /// Its day column.
        column: String,
        /// The days rebuilt.
        days: String,
        /// Rows outside them.
        rows: u64,
    },
    /// An incremental run rebuilt a model for rows extracted again
    /// unchanged, and the model changed beyond their `extraido`: the run
    /// starts again as a full one.
    #[error(
        "{table}: rebuilt for rows extracted again unchanged, it differs from its published version in more than `extraido` ({rows} row(s)); a full run rebuilds everything"
    )]
    BeyondExtraido {
        /// The model.
        table: String,
        /// Rows that differ.
        rows: u64,
    },
    /// An internal invariant failed.
    #[error("internal error: {what}")]
    Internal {
        /// What broke.
        what: String,
    },
}

impl Error {
    /// Whether the error is a usage or configuration error (exit code 2)
    /// rather than a failed job (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::InvalidArgument { .. }
                | Error::LakeNotFound { .. }
                | Error::LakeUrl(_)
                | Error::MissingSecret { .. }
                | Error::NotBuilt { .. }
                | Error::Project { .. }
                | Error::DataTest { .. }
        )
    }

    /// [`Error::NotBuilt`]: `what` needs `feature`, which this build lacks.
    pub fn not_built(what: &str, feature: &'static str) -> Self {
        Error::NotBuilt {
            what: what.to_string(),
            feature,
        }
    }

    /// `Ok` where the build has `feature` (`built` is its `cfg!`), else
    /// [`Error::not_built`].
    pub fn require_feature(built: bool, what: &str, feature: &'static str) -> Result<()> {
        if built {
            Ok(())
        } else {
            Err(Error::not_built(what, feature))
        }
    }

    /// Wraps a DataFusion error with what was running.
    pub fn engine(context: impl Into<String>, source: datafusion::error::DataFusionError) -> Self {
        Error::Engine {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// Wraps a Delta Lake error with the table.
    pub fn delta(table: impl Into<String>, source: deltalake::DeltaTableError) -> Self {
        Error::Delta {
            table: table.into(),
            source: Box::new(source),
        }
    }
}

impl From<SecretError> for Error {
    fn from(e: SecretError) -> Self {
        Error::MissingSecret {
            what: e.what,
            fix: e.fix,
        }
    }
}
