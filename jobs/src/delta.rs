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

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use chrono::Utc;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, MetadataExt, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError};
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::layer::TableRef;
use crate::model::PERIOD_COLUMN;

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

/// The files under a staged table folder (relative to the lake root), with
/// their row counts read from the Parquet footers.
pub async fn staged_files(lake: &Lake, folder: &str) -> Result<Vec<StagedFile>> {
    let mut out = Vec::new();
    for meta in lake.list(folder).await? {
        if !meta.location.as_ref().ends_with(".parquet") {
            continue;
        }
        let period = period_of(&meta.location);
        let rows = footer_rows(lake, &meta.location, meta.size).await?;
        out.push(StagedFile {
            path: meta.location,
            bytes: meta.size,
            rows,
            period,
        });
    }
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

/// An async Parquet reader of one lake file, its footer already read.
// ParquetObjectReader is deprecated in parquet 59 in favour of an API that is
// not released yet.
#[allow(deprecated)]
pub async fn parquet_reader(
    lake: &Lake,
    path: &Path,
    size: u64,
) -> Result<ParquetRecordBatchStreamBuilder<parquet::arrow::async_reader::ParquetObjectReader>> {
    let reader = parquet::arrow::async_reader::ParquetObjectReader::new(
        Arc::clone(lake.store()),
        path.clone(),
    )
    .with_file_size(size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::CorruptFile {
            file: lake.display(path),
            reason: e.to_string(),
        })
}

/// Reads a Parquet footer: the file's Arrow schema and row count.
pub async fn footer(lake: &Lake, path: &Path, size: u64) -> Result<(SchemaRef, u64)> {
    let builder = parquet_reader(lake, path, size).await?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok((Arc::clone(builder.schema()), rows))
}

async fn footer_rows(lake: &Lake, path: &Path, size: u64) -> Result<u64> {
    footer(lake, path, size).await.map(|(_, rows)| rows)
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
    let mut builder = DeltaTableBuilder::from_url(url.clone())
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

/// Publishes staged files as the new content of `table`, in one Delta commit.
///
/// With `period`, only that month's partition is replaced and only the staged
/// files of that month are published; otherwise the whole table is replaced.
pub async fn publish(
    lake: &Lake,
    run_id: &str,
    table: &TableRef,
    schema: &SchemaRef,
    partitioned: bool,
    staged: &[StagedFile],
    period: Option<&str>,
) -> Result<Publication> {
    let delta_err = |e| Error::delta(table.to_string(), e);
    let kernel_schema = delta_schema(schema).map_err(delta_err)?;
    let partition_columns: Vec<String> = if partitioned {
        vec![PERIOD_COLUMN.to_string()]
    } else {
        Vec::new()
    };
    let selected: Vec<&StagedFile> = staged
        .iter()
        .filter(|f| match (period, &f.period) {
            (Some(p), Some(fp)) => p == fp,
            _ => true,
        })
        .collect();

    // Move the files into the table's folder under run-stamped names.
    let now = Utc::now().timestamp_millis();
    let mut adds = Vec::with_capacity(selected.len());
    let mut rows_added = 0;
    for (seq, file) in selected.iter().enumerate() {
        let relative = match &file.period {
            Some(p) if partitioned => format!("{PERIOD_COLUMN}={p}/part-{run_id}-{seq:05}.parquet"),
            _ => format!("part-{run_id}-{seq:05}.parquet"),
        };
        let target = lake.path(&format!("{}{relative}", table.folder()));
        lake.store()
            .rename(&file.path, &target)
            .await
            .map_err(|e| lake.io(&file.path, e))?;
        let mut partition_values = HashMap::new();
        if partitioned {
            partition_values.insert(PERIOD_COLUMN.to_string(), file.period.clone());
        }
        rows_added += file.rows;
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

    let predicate = period.map(|p| format!("{PERIOD_COLUMN} = '{p}'"));
    let operation = DeltaOperation::Write {
        mode: SaveMode::Overwrite,
        partition_by: partitioned.then(|| partition_columns.clone()),
        predicate: predicate.clone(),
    };
    let files_added = adds.len();

    let (version, files_removed) = match open(lake, table, None).await? {
        None => {
            // A first publication creates the table, also when only one
            // month is published: the other months simply have no files yet.
            let created = DeltaTableBuilder::from_url(table_url(lake, table))
                .map_err(delta_err)?
                .with_storage_backend(Arc::clone(lake.store()), table_url(lake, table))
                .build()
                .map_err(delta_err)?
                .create()
                .with_table_name(table.name.clone())
                .with_columns(kernel_schema.fields().cloned())
                .with_partition_columns(partition_columns.clone())
                .with_actions(adds.into_iter().map(Action::Add))
                .with_save_mode(SaveMode::ErrorIfExists)
                .await
                .map_err(delta_err)?;
            (created.version().unwrap_or(0), 0)
        }
        Some(existing) => {
            let snapshot = existing.snapshot().map_err(delta_err)?;
            let mut actions: Vec<Action> = Vec::new();
            if snapshot.schema().as_ref() != &kernel_schema {
                let metadata = snapshot
                    .metadata()
                    .clone()
                    .with_schema(&kernel_schema)
                    .map_err(|e| delta_err(e.into()))?;
                actions.push(Action::Metadata(metadata));
            }
            let mut removed = 0;
            let log = snapshot.log_data();
            for file in log.iter() {
                let replaced = match period {
                    None => true,
                    Some(p) => file
                        .partition_values_map()
                        .get(PERIOD_COLUMN)
                        .is_some_and(|v| v.as_deref() == Some(p)),
                };
                if replaced {
                    actions.push(Action::Remove(file.remove_action(true)));
                    removed += 1;
                }
            }
            actions.extend(adds.into_iter().map(Action::Add));
            let finalized = CommitBuilder::default()
                .with_actions(actions)
                .build(Some(snapshot), existing.log_store(), operation)
                .await
                .map_err(delta_err)?;
            (finalized.version(), removed)
        }
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
        period: period.map(str::to_string),
    })
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

/// The files a table version references (paths relative to the lake root).
pub fn files_of(table: &DeltaTable, tref: &TableRef) -> Vec<String> {
    let Ok(snapshot) = table.snapshot() else {
        return Vec::new();
    };
    snapshot
        .log_data()
        .iter()
        .map(|f| format!("{}{}", tref.folder(), f.path()))
        .collect()
}
