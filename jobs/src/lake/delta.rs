//! Publishing and reading the Delta Lake tables of the trusted, rejected and
//! analytic layers.
//!
//! The commit protocol: the engine (embedded, or the executors of a cluster)
//! writes a model's Parquet files into the run's staging folder
//! (`_staging/<run>/<layer>/<table>/[periodo=…/]`). Nothing there is visible to
//! any reader. Once every model of the run is written and reconciled, the
//! client moves each table's files into the table's folder under names that
//! carry the run id (`periodo=2025-03/part-<run>-00001.parquet`) and commits
//! them to the table's Delta log in one commit: `add` actions for the new
//! files, `remove` actions for the files they replace (the whole table, or one
//! month's partitions). A commit is atomic, so a reader sees the previous
//! version or the new one, never a mix; files moved but not committed (a run
//! killed between the two) are unreferenced and invisible.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Once};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::Utc;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, MetadataExt, StructType};
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaResult, DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use serde::{Deserialize, Serialize};

use crate::contract::layer::TableRef;
use crate::contract::period::{PERIOD_COLUMN, partition_columns};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::parquet_file::footer_rows;
use dfstore_core::attempt::{self, Committed, Written};

/// A Parquet file a run wrote, not yet part of any table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    /// Full object-store path.
    pub path: Path,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows, from the file's footer.
    pub rows: u64,
    /// The `periodo` partition the file belongs to, if partitioned.
    pub period: Option<String>,
}

/// What a staged table folder holds.
#[derive(Debug, Clone, Default)]
pub struct StagedFolder {
    /// The folders to read it from, relative to the lake root: the folder
    /// itself, or the folders of its committed attempts.
    pub roots: Vec<String>,
    /// Its files.
    pub files: Vec<StagedFile>,
    /// Files left out: written by attempts that were not committed.
    pub discarded: usize,
}

/// The files of a staged table folder (relative to the lake root, ending in
/// `/`), with their row counts read from the Parquet footers: the files
/// written there directly (by the embedded engine) and those of the task
/// attempts a cluster job committed (`dfstore_core::attempt`). The files of
/// any other attempt (lost with its executor, or a duplicate) are left out.
pub async fn staged_files(lake: &Lake, folder: &str) -> Result<StagedFolder> {
    let listed = lake.list(folder).await?;
    let mut records = Vec::new();
    for meta in &listed {
        let relative = lake.relative(&meta.location);
        let inside = relative.strip_prefix(folder).unwrap_or(relative);
        if Written::of(inside) == Written::Record {
            records.push(lake.get_text(relative).await?.unwrap_or_default());
        }
    }
    let committed = Committed::from_records(records.iter().map(String::as_str));
    let mut out = StagedFolder::default();
    let mut attempts = BTreeSet::new();
    for meta in listed {
        if !meta.location.as_ref().ends_with(".parquet") {
            continue;
        }
        let relative = lake.relative(&meta.location);
        let inside = relative.strip_prefix(folder).unwrap_or(relative);
        if !committed.keeps(inside) {
            out.discarded += 1;
            continue;
        }
        if let Written::Attempt(id) = Written::of(inside) {
            attempts.insert(id.to_string());
        }
        let period = period_of(&meta.location);
        let rows = footer_rows(lake, &meta.location, meta.size).await?;
        out.files.push(StagedFile {
            path: meta.location,
            bytes: meta.size,
            rows,
            period,
        });
    }
    out.roots = if attempts.is_empty() {
        vec![folder.to_string()]
    } else {
        attempts
            .iter()
            .map(|id| attempt::attempt_folder(folder, id))
            .collect()
    };
    Ok(out)
}

/// The `periodo` partition of a file, from its `periodo=…` folder.
pub fn period_of(path: &Path) -> Option<String> {
    path.parts().find_map(|part| {
        part.as_ref()
            .strip_prefix(&format!("{PERIOD_COLUMN}="))
            .map(str::to_string)
    })
}

/// What one commit published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The table.
    pub table: TableRef,
    /// The table's new version.
    pub version: u64,
    /// Files added.
    pub files_added: usize,
    /// Files replaced.
    pub files_removed: usize,
    /// Rows in the files added.
    pub rows_added: u64,
    /// Rows in the table after the commit, when every file records its count.
    pub rows_total: Option<u64>,
    /// The partition rewritten, when only one month was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// The URL of a published table's folder.
pub fn table_url(lake: &Lake, table: &TableRef) -> url::Url {
    lake.url().join(&table.folder())
}

/// Delta Lake's default log store (commits by conditional put) for `s3://`
/// tables. dfstore hands Delta Lake the lake's own object store, so the
/// `s3` feature of `deltalake` (its own S3 client, with a second AWS SDK
/// and TLS stack to build) is not needed; only this registration is, and
/// it is the same log store that feature registers.
#[derive(Debug)]
struct ConditionalPutLogStores;

impl LogStoreFactory for ConditionalPutLogStores {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &url::Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(
            prefixed_store,
            root_store,
            location,
            options,
        ))
    }
}

fn builder(url: url::Url) -> std::result::Result<DeltaTableBuilder, DeltaTableError> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        let factory: Arc<dyn LogStoreFactory> = Arc::new(ConditionalPutLogStores);
        for scheme in ["s3://", "s3a://"] {
            if let Ok(scheme) = url::Url::parse(scheme) {
                logstore_factories().insert(scheme, Arc::clone(&factory));
            }
        }
    });
    DeltaTableBuilder::from_url(url)
}

/// Opens a table's Delta log; `Ok(None)` when the table was never published.
pub async fn open(
    lake: &Lake,
    table: &TableRef,
    version: Option<u64>,
) -> Result<Option<DeltaTable>> {
    // Look before loading: Delta Lake logs an error for a missing log.
    if lake
        .list(&format!("{}_delta_log/", table.folder()))
        .await?
        .is_empty()
    {
        return Ok(None);
    }
    let url = table_url(lake, table);
    let mut builder = builder(url.clone())
        .map_err(|e| Error::delta(table.to_string(), e))?
        .with_storage_backend(Arc::clone(lake.store()), url);
    if let Some(v) = version {
        builder = builder.with_version(v);
    }
    let mut delta = builder
        .build()
        .map_err(|e| Error::delta(table.to_string(), e))?;
    let loaded = match version {
        Some(v) => delta.load_version(v).await,
        None => delta.load().await,
    };
    match loaded {
        Ok(()) => Ok(Some(delta)),
        Err(DeltaTableError::NotATable(_)) => Ok(None),
        Err(e) => Err(Error::delta(table.to_string(), e)),
    }
}

/// What [`publish`] commits.
#[derive(Debug, Clone, Copy)]
pub struct Publish<'a> {
    /// The run publishing, whose id the files' names carry.
    pub run_id: &'a str,
    /// The table.
    pub table: &'a TableRef,
    /// The schema of the staged files.
    pub schema: &'a SchemaRef,
    /// Whether the table is partitioned by `periodo`.
    pub partitioned: bool,
    /// The staged files.
    pub files: &'a [StagedFile],
    /// The months to replace; the whole table when `None`.
    pub periods: Option<&'a [String]>,
    /// The files to replace (paths in the Delta log), when a merge rewrote
    /// only those: then every staged file is published and `periods` only
    /// names the months whose rows changed.
    pub removed: Option<&'a BTreeSet<String>>,
}

/// Publishes staged files as the new content of a table, in one Delta commit.
///
/// With files to remove, those are replaced; with periods, only those
/// months' partitions are replaced and only the staged files of those months
/// are published; otherwise the whole table is replaced.
pub async fn publish(lake: &Lake, what: &Publish<'_>) -> Result<Publication> {
    let table = what.table;
    let delta_err = |e| Error::delta(table.to_string(), e);
    let kernel_schema = delta_schema(what.schema).map_err(delta_err)?;
    let adds = move_into_table(lake, what).await?;
    let rows_added = what
        .files
        .iter()
        .filter(|f| selected(what, f))
        .map(|f| f.rows)
        .sum();
    let files_added = adds.len();
    let (version, files_removed) = match open(lake, table, None).await? {
        None => (create(lake, what, &kernel_schema, adds).await?, 0),
        Some(existing) => commit(&existing, what, &kernel_schema, adds).await?,
    };
    let rows_total = open(lake, table, Some(version))
        .await?
        .and_then(|t| table_rows(&t));
    Ok(Publication {
        table: table.clone(),
        version,
        files_added,
        files_removed,
        rows_added,
        rows_total,
        period: what.periods.map(|p| p.join(", ")),
    })
}

/// Whether a staged file is published: when only some months are
/// replaced, only theirs are.
fn selected(what: &Publish<'_>, file: &StagedFile) -> bool {
    match (what.removed, what.periods, &file.period) {
        (None, Some(periods), Some(fp)) => periods.contains(fp),
        _ => true,
    }
}

/// Moves the selected staged files into the table's folder under run-stamped
/// names; returns their `add` actions.
async fn move_into_table(lake: &Lake, what: &Publish<'_>) -> Result<Vec<Add>> {
    let now = Utc::now().timestamp_millis();
    let run_id = what.run_id;
    let mut adds = Vec::new();
    let files = what.files.iter().filter(|f| selected(what, f));
    for (seq, file) in files.enumerate() {
        let relative = match &file.period {
            Some(p) if what.partitioned => {
                format!("{PERIOD_COLUMN}={p}/part-{run_id}-{seq:05}.parquet")
            }
            _ => format!("part-{run_id}-{seq:05}.parquet"),
        };
        let target = lake.path(&format!("{}{relative}", what.table.folder()));
        lake.store()
            .rename(&file.path, &target)
            .await
            .map_err(|e| lake.io(&file.path, e))?;
        let mut partition_values = HashMap::new();
        if what.partitioned {
            partition_values.insert(PERIOD_COLUMN.to_string(), file.period.clone());
        }
        adds.push(Add {
            path: relative,
            partition_values,
            size: file.bytes as i64,
            modification_time: now,
            data_change: true,
            stats: Some(format!("{{\"numRecords\":{}}}", file.rows)),
            tags: None,
            deletion_vector: None,
            base_row_id: None,
            default_row_commit_version: None,
            clustering_provider: None,
        });
    }
    Ok(adds)
}

/// A first publication creates the table, also when only one month is
/// published: the other months simply have no files yet.
async fn create(
    lake: &Lake,
    what: &Publish<'_>,
    schema: &StructType,
    adds: Vec<Add>,
) -> Result<u64> {
    let table = what.table;
    let delta_err = |e| Error::delta(table.to_string(), e);
    let created = builder(table_url(lake, table))
        .map_err(delta_err)?
        .with_storage_backend(Arc::clone(lake.store()), table_url(lake, table))
        .build()
        .map_err(delta_err)?
        .create()
        .with_table_name(table.name.clone())
        .with_columns(schema.fields().cloned())
        .with_partition_columns(partition_columns(what.partitioned))
        .with_actions(adds.into_iter().map(Action::Add))
        .with_save_mode(SaveMode::ErrorIfExists)
        .await
        .map_err(delta_err)?;
    Ok(created.version().unwrap_or(0))
}

/// Commits `adds` to an existing table, removing the files they replace
/// (the whole table, or one month's) and updating the schema if it changed;
/// returns the new version and the number of files removed.
async fn commit(
    existing: &DeltaTable,
    what: &Publish<'_>,
    schema: &StructType,
    adds: Vec<Add>,
) -> Result<(u64, usize)> {
    let delta_err = |e| Error::delta(what.table.to_string(), e);
    let snapshot = existing.snapshot().map_err(delta_err)?;
    let mut actions: Vec<Action> = Vec::new();
    if snapshot.schema().as_ref() != schema {
        let metadata = snapshot
            .metadata()
            .clone()
            .with_schema(schema)
            .map_err(|e| delta_err(e.into()))?;
        actions.push(Action::Metadata(metadata));
    }
    let mut removed = 0;
    for file in snapshot.log_data().iter() {
        let replaced = match (what.removed, what.periods) {
            (Some(files), _) => files.contains(file.object_store_path().as_ref()),
            (None, None) => true,
            (None, Some(periods)) => file
                .partition_values_map()
                .get(PERIOD_COLUMN)
                .is_some_and(|v| v.as_deref().is_some_and(|v| periods.iter().any(|p| p == v))),
        };
        if replaced {
            actions.push(Action::Remove(file.remove_action(true)));
            removed += 1;
        }
    }
    if let Some(files) = what.removed
        && removed != files.len()
    {
        return Err(Error::delta(
            what.table.to_string(),
            DeltaTableError::Generic(format!(
                "{} of the {} files the merge rewrote are no longer in version {} of the table; run again",
                files.len() - removed,
                files.len(),
                snapshot.version()
            )),
        ));
    }
    actions.extend(adds.into_iter().map(Action::Add));
    let operation = match what.removed {
        Some(_) => DeltaOperation::Merge {
            predicate: None,
            merge_predicate: None,
            matched_predicates: Vec::new(),
            not_matched_predicates: Vec::new(),
            not_matched_by_source_predicates: Vec::new(),
        },
        None => DeltaOperation::Write {
            mode: SaveMode::Overwrite,
            partition_by: what.partitioned.then(|| partition_columns(true)),
            predicate: what.periods.map(|periods| {
                let list: Vec<String> = periods.iter().map(|p| format!("'{p}'")).collect();
                format!("{PERIOD_COLUMN} IN ({})", list.join(", "))
            }),
        },
    };
    let finalized = CommitBuilder::default()
        .with_actions(actions)
        .build(Some(snapshot), existing.log_store(), operation)
        .await
        .map_err(delta_err)?;
    Ok((finalized.version(), removed))
}

/// Rows in a table version, from the `numRecords` of its files.
pub fn table_rows(table: &DeltaTable) -> Option<u64> {
    let snapshot = table.snapshot().ok()?;
    let mut total = 0u64;
    for file in snapshot.log_data().iter() {
        total += file.num_records()? as u64;
    }
    Some(total)
}

/// The Delta schema of an engine schema: string views become plain strings
/// (the Delta type system has one string type) and every column is nullable,
/// as Spark and delta-rs write them.
pub fn delta_schema(schema: &Schema) -> std::result::Result<StructType, DeltaTableError> {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let dt = match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other.clone(),
            };
            Field::new(f.name(), dt, true)
        })
        .collect();
    let plain = Schema::new(fields);
    (&plain).try_into_kernel().map_err(DeltaTableError::from)
}
