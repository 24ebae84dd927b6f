//! What the new extractions hold: the raw tables they change, and the
//! changed values of a key column.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::ident;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use super::{MAX_CHANGED_KEYS, Mode, in_keys, key_column};
use crate::contract::extraction::ExtractionId;
use crate::contract::period::PERIOD_COLUMN;
use crate::contract::source::{SourceTable, Sources};
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::ExtractionManifest;
use crate::lake::runs::RunManifest;
use crate::project::header::Materialized;
use crate::project::{Model, Project};

/// The raw tables with new rows in the extractions `new`, and those whose
/// rows there were all extracted before, unchanged (checked for the tables
/// no model rebuilds by key, which would otherwise be rebuilt whole).
pub(super) async fn changed_tables(
    lake: &Lake,
    engine: &EngineConfig,
    project: &Project,
    (new, extractions, consumed): (
        &[&ExtractionManifest],
        &[ExtractionManifest],
        &BTreeSet<ExtractionId>,
    ),
) -> Result<(BTreeSet<SourceTable>, BTreeSet<SourceTable>)> {
    let mut changed: BTreeSet<SourceTable> = new
        .iter()
        .flat_map(|m| m.tables.iter())
        .filter(|(_, t)| t.rows > 0)
        .filter_map(|(table, _)| project.sources.get(table).cloned())
        .collect();
    // A table no model rebuilds by key is rebuilt whole, and so is what
    // reads it: first make sure its new rows are not only rows extracted
    // again unchanged (an incremental extraction's overlap).
    let key_columns: BTreeSet<&str> = project
        .models
        .iter()
        .filter(|m| m.materialized == Materialized::IncrementalByKey)
        .filter_map(|m| key_column(m))
        .collect();
    let consumed_extractions: Vec<ExtractionManifest> = extractions
        .iter()
        .filter(|m| consumed.contains(&m.extraido))
        .cloned()
        .collect();
    let mut reextracted = BTreeSet::new();
    for table in changed.clone() {
        let keyed = key_columns
            .iter()
            .any(|c| table.schema().column_with_name(c).is_some());
        if !keyed && !news_in(lake, engine, &table, (new, &consumed_extractions)).await? {
            changed.remove(&table);
            reextracted.insert(table);
        }
    }
    Ok((changed, reextracted))
}

/// The changed values of the key column of every model rebuilt by key;
/// `None` when a column has more than [`MAX_CHANGED_KEYS`].
pub(super) async fn keys_of(
    lake: &Lake,
    engine: &EngineConfig,
    (project, modes): (&Project, &BTreeMap<String, Mode>),
    new: &[&ExtractionManifest],
) -> Result<Option<BTreeMap<String, Vec<ScalarValue>>>> {
    let mut keys = BTreeMap::new();
    for model in &project.models {
        let column = match modes.get(&model.table().to_string()) {
            Some(Mode::Keys) => key_column(model).map(str::to_string),
            _ => None,
        };
        if let Some(column) = column.filter(|c| !keys.contains_key(c)) {
            let values = changed_keys(lake, engine, (&project.sources, new), &column).await?;
            if values.len() > MAX_CHANGED_KEYS {
                return Ok(None);
            }
            keys.insert(column, values);
        }
    }
    Ok(Some(keys))
}

/// Whether the rows of `table` in the extractions `new` hold a row that
/// the extractions `consumed` do not hold, every column alike.
async fn news_in(
    lake: &Lake,
    engine: &EngineConfig,
    table: &SourceTable,
    (new, consumed): (&[&ExtractionManifest], &[ExtractionManifest]),
) -> Result<bool> {
    let what = format!("comparing the new rows of raw.{table} with those consumed");
    let columns: Vec<String> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let columns = columns.join(", ");
    let fresh_ctx = scratch(lake, engine)?;
    let new: Vec<ExtractionManifest> = new.iter().map(|&m| m.clone()).collect();
    tables::register_raw(&fresh_ctx, lake, table, &new).await?;
    let fresh = engine::collect(
        &fresh_ctx,
        &format!("SELECT {columns} FROM raw.{table}"),
        &what,
    )
    .await?;
    let Some(first) = fresh.first() else {
        return Ok(false);
    };
    let ctx = scratch(lake, engine)?;
    tables::register_raw(&ctx, lake, table, consumed).await?;
    let fresh = datafusion::datasource::MemTable::try_new(first.schema(), vec![fresh])
        .map_err(|e| Error::engine(&what, e))?;
    ctx.register_table("fresh", Arc::new(fresh))
        .map_err(|e| Error::engine(&what, e))?;
    let sql = format!(
        "SELECT COUNT(*) AS n FROM (SELECT {columns} FROM fresh EXCEPT SELECT {columns} FROM raw.{table}) AS d"
    );
    let counted = engine::collect(&ctx, &sql, &what).await?;
    let n = counted
        .first()
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<arrow::datatypes::Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(1);
    Ok(n > 0)
}

/// An in-process session over `lake` for the small queries that decide
/// what a run rebuilds.
fn scratch(lake: &Lake, engine: &EngineConfig) -> Result<SessionContext> {
    let embedded = EngineConfig {
        scheduler: None,
        ..engine.clone()
    };
    engine::session(lake, &embedded, None)
}

/// The distinct non-NULL values of `column` in the rows of the extractions
/// `new`, over every raw table that has the column.
async fn changed_keys(
    lake: &Lake,
    engine: &EngineConfig,
    (sources, new): (&Sources, &[&ExtractionManifest]),
    column: &str,
) -> Result<Vec<ScalarValue>> {
    let ctx = scratch(lake, engine)?;
    let new: Vec<ExtractionManifest> = new.iter().map(|&m| m.clone()).collect();
    let mut scans = Vec::new();
    for table in sources {
        if table.schema().column_with_name(column).is_some() {
            tables::register_raw(&ctx, lake, table, &new).await?;
            scans.push(format!(
                "SELECT {column} FROM raw.{table} WHERE {column} IS NOT NULL"
            ));
        }
    }
    if scans.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT {column} FROM ({}) AS k ORDER BY {column}",
        scans.join(" UNION ALL ")
    );
    let what = format!("the changed values of {column}");
    let batches = engine::collect(&ctx, &sql, &what).await?;
    let mut values = Vec::new();
    for batch in &batches {
        let array = batch.column(0);
        for row in 0..array.len() {
            values.push(
                ScalarValue::try_from_array(array, row).map_err(|e| Error::engine(&what, e))?,
            );
        }
    }
    Ok(values)
}

/// What the changed keys touch in a published table merged by key.
#[derive(Debug, Clone, Default)]
pub struct Touched {
    /// The periods holding a row of a changed key (none when the table is
    /// not partitioned).
    pub periods: Vec<String>,
    /// The files (paths in the Delta log) holding a row of a changed key:
    /// what the merge rewrites.
    pub files: BTreeSet<String>,
    /// Rows in `files`, from the log.
    pub rows: u64,
    /// Rows in the table, from the log.
    pub of_rows: u64,
}

/// The column naming each row's file, in the scan that finds the files a
/// merge rewrites.
const FILE_COLUMN: &str = "_dfstore_file";

/// For each published model rebuilt by key, the files and periods of its
/// last published version that hold one of the changed keys: the merge
/// rewrites those files, and past a share of the rows a full run costs no
/// more.
pub(super) async fn touched(
    lake: &Lake,
    engine: &EngineConfig,
    (models, modes): (&[Arc<Model>], &BTreeMap<String, Mode>),
    (pinned, keys): (&RunManifest, &BTreeMap<String, Vec<ScalarValue>>),
) -> Result<BTreeMap<String, Touched>> {
    let mut queries = Vec::new();
    for model in models.iter().filter(|m| m.is_published()) {
        let table = model.table();
        let keyed = modes.get(&table.to_string()) == Some(&Mode::Keys);
        let column = key_column(model).filter(|_| keyed);
        let (Some(column), Some(version)) = (column, pinned.version_of(&table.to_string())) else {
            continue;
        };
        let Some(values) = keys.get(column) else {
            continue;
        };
        queries.push(async move {
            let touched = touched_in(lake, engine, model, version, (column, values)).await?;
            Ok::<_, Error>(touched.map(|t| (table.to_string(), t)))
        });
    }
    // A scan each, a few at once: most of each is opening files.
    let found: Vec<Option<(String, Touched)>> = futures::stream::iter(queries)
        .buffered(TOUCHED_AT_ONCE)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// Tables [`touched`] scans at once.
const TOUCHED_AT_ONCE: usize = 4;

/// What the changed `values` of `column` touch in `version` of `model`'s
/// table; `None` when that version is gone.
async fn touched_in(
    lake: &Lake,
    engine: &EngineConfig,
    model: &Model,
    version: u64,
    (column, values): (&str, &[ScalarValue]),
) -> Result<Option<Touched>> {
    let table = model.table();
    let Some(snapshot) = tables::snapshot(lake, &table, Some(version)).await? else {
        return Ok(None);
    };
    let what = format!("the files of {table} the changes touch");
    let engine_err = |e| Error::engine(&what, e);
    let snapshot = Arc::new(snapshot.with_file_column(FILE_COLUMN));
    let ctx = scratch(lake, engine)?;
    let batches = ctx
        .read_table(Arc::clone(&snapshot) as _)
        .and_then(|all| all.filter(in_keys(ident(column), values)))
        .and_then(|df| df.select(vec![ident(FILE_COLUMN)]))
        .and_then(DataFrame::distinct)
        .map_err(engine_err)?
        .collect()
        .await
        .map_err(engine_err)?;
    let mut files = BTreeSet::new();
    for batch in &batches {
        let paths = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
            .map_err(|e| Error::engine(&what, e.into()))?;
        files.extend(values_of(paths.as_string::<i32>()));
    }
    Ok(Some(Touched {
        periods: snapshot.partition_values(PERIOD_COLUMN, |f| files.contains(f)),
        rows: snapshot.rows_in(|f| files.contains(f)),
        of_rows: snapshot.rows_in(|_| true),
        files,
    }))
}

/// The non-NULL values of a string column.
fn values_of(column: &arrow::array::StringArray) -> impl Iterator<Item = String> + '_ {
    (0..column.len())
        .filter(|&i| column.is_valid(i))
        .map(|i| column.value(i).to_string())
}
