//! The merge of a model rebuilt by key into its published table, as a
//! copy-on-write Delta MERGE at the grain of files: the files of the
//! table's last published version that hold one of the changed keys (found
//! when the run decided what to rebuild) are rewritten, from their rows of
//! other keys and the new rows of the changed keys, and the commit replaces
//! exactly those files. Every other file is kept as it is, so a night
//! rewrites the files its changes reach, not whole months; a key that moved
//! between months leaves the old one, since its old file is rewritten.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Date32Type};
use chrono::NaiveDate;
use datafusion::common::{ScalarValue, TableReference};
use datafusion::dataframe::DataFrame;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, ident, lit};
use datafusion::prelude::SessionContext;

use super::Changes;
use super::keys::listed;
use crate::contract::layer::TableRef;
use crate::contract::period::{EXTRACTION_COLUMN, PERIOD_COLUMN};
use crate::engine::{tables, write};
use crate::error::{Error, Result};
use crate::lake::delta;
use crate::lake::snapshot::SnapshotTable;
use crate::pipeline::build::{Build, Replacement, Staged, parquet_options};
use crate::project::Model;

/// `staged`, the new rows of a model rebuilt by key, merged into the
/// table's last published version: the rewritten files are written into the
/// run's staging folder, the table as it will be is registered under the
/// model's name for the models after it, and the rewritten files are kept
/// as what the run publishes.
pub async fn merge(build: &Build<'_>, changes: &Changes, staged: Staged) -> Result<Staged> {
    let Some((column, keys)) = changes.keys_of(&staged.model) else {
        return Ok(staged);
    };
    let model = Arc::clone(&staged.model);
    let table = model.table();
    let what = format!("{table} ({}): merging the changed keys", model.file);
    let ctx = build.ctx;
    let new = registered(ctx, &table, &what).await?;
    check_key(&model, &new, staged.rows()).await?;
    let touched = changes
        .touched
        .get(&table.to_string())
        .cloned()
        .unwrap_or_default();
    let mut periods: BTreeSet<String> = staged
        .files
        .iter()
        .filter_map(|f| f.period.clone())
        .collect();
    periods.extend(touched.periods.iter().cloned());
    let periods = model.partitioned.then(|| periods.into_iter().collect());
    let (kept, rewritten) = split(build, changes, &model, &touched.files, &what).await?;
    let dated = changes.day_columns.get(&table.to_string());
    let days = changed_days(dated, (rewritten.as_ref(), &new), (column, keys), &what).await?;
    if staged.files.is_empty() && touched.files.is_empty() {
        register_merged(build, &model, kept, None)?;
        return Ok(Staged {
            replaced: Some(Replacement {
                files: Vec::new(),
                periods: periods.map(|_| Vec::new()),
                removed: Some(BTreeSet::new()),
                days,
            }),
            ..staged
        });
    }
    let merged = merged_rows((rewritten, new), (column, keys), &what)?;
    let target = write::Target {
        folder: format!("{}_merged/{}", build.staging, table.folder()),
        partition_by: model.partitioned.then_some(PERIOD_COLUMN),
        parquet: parquet_options(ctx, &model),
        what: what.clone(),
    };
    write::parquet(ctx, merged, build.lake, &target).await?;
    let written = delta::staged_files(build.lake, &target.folder).await?;
    let merged = if written.files.is_empty() {
        None
    } else {
        tables::register_staged(
            ctx,
            build.lake,
            &table,
            &written.roots,
            &staged.schema,
            model.partitioned,
        )?;
        Some(registered(ctx, &table, &what).await?)
    };
    register_merged(build, &model, kept, merged)?;
    tracing::info!(
        table = %table,
        keys = keys.len(),
        files_rewritten = touched.files.len(),
        rows = written.files.iter().map(|f| f.rows).sum::<u64>(),
        "merged the changed keys"
    );
    Ok(Staged {
        replaced: Some(Replacement {
            files: written.files,
            periods,
            removed: Some(touched.files),
            days,
        }),
        ..staged
    })
}

/// The last published version of `model`'s table, if any, as its files
/// other than `files` (kept) and its rows in `files` (rewritten).
async fn split(
    build: &Build<'_>,
    changes: &Changes,
    model: &Model,
    files: &BTreeSet<String>,
    what: &str,
) -> Result<(Option<DataFrame>, Option<DataFrame>)> {
    let Some(old) = snapshot(build, changes, model).await? else {
        return Ok((None, None));
    };
    let table = model.table();
    let kept = old.clone().retain_files(|f| !files.contains(f));
    let rewritten = old.retain_files(|f| files.contains(f));
    Ok((
        Some(scanned(build, &table, kept, what)?),
        Some(scanned(build, &table, rewritten, what)?),
    ))
}

/// Per day column (of the models rebuilt by period that read the merged
/// table) that the table has, the days of the rows the merge changes: the
/// old rows of the changed keys (in the `rewritten` files) and the `new`
/// rows. A column with a NULL day among them is left out: which days
/// changed is then unknown.
async fn changed_days(
    day_columns: Option<&BTreeSet<String>>,
    (rewritten, new): (Option<&DataFrame>, &DataFrame),
    (column, keys): (&str, &[ScalarValue]),
    what: &str,
) -> Result<BTreeMap<String, BTreeSet<NaiveDate>>> {
    let engine_err = |e| Error::engine(what, e);
    let mut out = BTreeMap::new();
    for day in day_columns.into_iter().flatten() {
        let dated = new
            .schema()
            .field_with_unqualified_name(day)
            .is_ok_and(|f| f.data_type() == &DataType::Date32);
        if !dated {
            continue;
        }
        let mut rows = new.clone().select_columns(&[day]).map_err(engine_err)?;
        if let Some(old) = rewritten {
            let old = old
                .clone()
                .filter(listed(ident(column), keys))
                .and_then(|old| old.select_columns(&[day]))
                .map_err(engine_err)?;
            rows = rows.union(old).map_err(engine_err)?;
        }
        let batches = rows
            .distinct()
            .map_err(engine_err)?
            .collect()
            .await
            .map_err(engine_err)?;
        let mut days = BTreeSet::new();
        let mut known = true;
        for batch in &batches {
            let values = batch.column(0).as_primitive::<Date32Type>();
            known &= values.null_count() == 0;
            days.extend(
                values
                    .iter()
                    .flatten()
                    .filter_map(Date32Type::to_naive_date_opt),
            );
        }
        if known {
            out.insert(day.clone(), days);
        }
    }
    Ok(out)
}

/// Checks that `staged`, a published model rebuilt whole for rows extracted
/// again unchanged, differs from its published version in `extraido` only.
pub async fn verify(build: &Build<'_>, changes: &Changes, staged: &Staged) -> Result<()> {
    let model = &staged.model;
    let table = model.table();
    if !changes.verify.contains(&table.to_string()) {
        return Ok(());
    }
    let what = format!(
        "{table} ({}): comparing with its published version",
        model.file
    );
    let engine_err = |e| Error::engine(&what, e);
    let Some(old) = published(build, changes, model, &what).await? else {
        return Ok(());
    };
    let new = registered(build.ctx, &table, &what).await?;
    let mut names = column_names(&new);
    names.retain(|name| name != EXTRACTION_COLUMN);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (old, new) = (
        old.select_columns(&names).map_err(engine_err)?,
        new.select_columns(&names).map_err(engine_err)?,
    );
    let mut rows = 0;
    for (a, b) in [(old.clone(), new.clone()), (new, old)] {
        rows += a
            .except(b)
            .map_err(engine_err)?
            .count()
            .await
            .map_err(engine_err)? as u64;
    }
    if rows > 0 {
        return Err(Error::BeyondExtraido {
            table: table.to_string(),
            rows,
        });
    }
    Ok(())
}

/// `model`'s table as the last successful run left it, if it was published.
pub(super) async fn published(
    build: &Build<'_>,
    changes: &Changes,
    model: &Model,
    what: &str,
) -> Result<Option<DataFrame>> {
    snapshot(build, changes, model)
        .await?
        .map(|old| scanned(build, &model.table(), old, what))
        .transpose()
}

/// The version of `model`'s table the last successful run left, if it was
/// published.
async fn snapshot(
    build: &Build<'_>,
    changes: &Changes,
    model: &Model,
) -> Result<Option<SnapshotTable>> {
    let table = model.table();
    match changes.pinned.version_of(&table.to_string()) {
        Some(version) => tables::snapshot(build.lake, &table, Some(version)).await,
        None => Ok(None),
    }
}

/// `old`, part of a version of `table`, scanned under the table's name, so
/// that the filters a model built by period or by key puts on the table's
/// scans reach it too.
fn scanned(
    build: &Build<'_>,
    table: &TableRef,
    old: SnapshotTable,
    what: &str,
) -> Result<DataFrame> {
    let name = TableReference::partial(table.layer.name(), table.name.as_str());
    LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(old)), None)
        .and_then(LogicalPlanBuilder::build)
        .map(|plan| DataFrame::new(build.ctx.state(), plan))
        .map_err(|e| Error::engine(what, e))
}

/// What is registered under `table`'s name.
pub(super) async fn registered(
    ctx: &SessionContext,
    table: &TableRef,
    what: &str,
) -> Result<DataFrame> {
    let name = TableReference::partial(table.layer.name(), table.name.as_str());
    ctx.table(name).await.map_err(|e| Error::engine(what, e))
}

/// Registers `model`'s table as it will be once published: `new` (the
/// rows of `periods`, or the whole table when it is not partitioned) and
/// the other periods of `old`. The models after it read the whole table:
/// a model rebuilt by key filters it to the changed keys, one rebuilt by
/// period to its periods, and one rebuilt whole reads it all.
pub(super) fn register_whole(
    build: &Build<'_>,
    model: &Model,
    (old, periods): (Option<DataFrame>, &[String]),
    new: Option<DataFrame>,
) -> Result<()> {
    let ctx = build.ctx;
    let table = model.table();
    let what = format!("{table} ({}): registering the merged table", model.file);
    let engine_err = |e| Error::engine(&what, e);
    let whole = match (old, new) {
        (None, None) => return Ok(()),
        (None, Some(new)) => new,
        (Some(_), Some(new)) if !model.partitioned => new,
        (Some(old), new) => {
            let names = column_names(&old);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let list: Vec<Expr> = periods.iter().map(|p| lit(p.as_str())).collect();
            let kept = if list.is_empty() {
                old.select_columns(&names)
            } else {
                old.filter(ident(PERIOD_COLUMN).in_list(list, true))
                    .and_then(|kept| kept.select_columns(&names))
            }
            .map_err(engine_err)?;
            match new {
                None => kept,
                Some(new) => new
                    .select_columns(&names)
                    .and_then(|new| kept.union(new))
                    .map_err(engine_err)?,
            }
        }
    };
    tables::register(ctx, &table, whole.into_view())
}

/// The rows of the rewritten files: `rewritten`'s rows of other keys than
/// the changed `keys`, and the `new` rows.
fn merged_rows(
    (rewritten, new): (Option<DataFrame>, DataFrame),
    (column, keys): (&str, &[ScalarValue]),
    what: &str,
) -> Result<DataFrame> {
    let Some(rewritten) = rewritten else {
        return Ok(new);
    };
    let names = column_names(&new);
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let untouched = ident(column)
        .is_null()
        .or(Expr::Not(Box::new(listed(ident(column), keys))));
    rewritten
        .filter(untouched)
        .and_then(|kept| kept.select_columns(&names))
        .and_then(|kept| kept.union(new))
        .map_err(|e| Error::engine(what, e))
}

/// Registers a merged model's table as it will be once published: the
/// `kept` files of its last published version and the `merged` ones.
fn register_merged(
    build: &Build<'_>,
    model: &Model,
    kept: Option<DataFrame>,
    merged: Option<DataFrame>,
) -> Result<()> {
    let table = model.table();
    let what = format!("{table} ({}): registering the merged table", model.file);
    let whole = match (kept, merged) {
        (None, None) => return Ok(()),
        (Some(one), None) | (None, Some(one)) => one,
        (Some(kept), Some(merged)) => {
            let names = column_names(&kept);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            merged
                .select_columns(&names)
                .and_then(|merged| kept.union(merged))
                .map_err(|e| Error::engine(&what, e))?
        }
    };
    tables::register(build.ctx, &table, whole.into_view())
}

/// The names of `df`'s columns, in order.
fn column_names(df: &DataFrame) -> Vec<String> {
    df.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

/// Fails when the rows to merge hold a NULL or repeated `unique_key`: merged,
/// they would duplicate rows or be lost.
async fn check_key(model: &Model, new: &DataFrame, rows: u64) -> Result<()> {
    let keys: Vec<&str> = model.unique_key.iter().map(String::as_str).collect();
    let what = format!(
        "{} ({}): checking its unique_key",
        model.table(),
        model.file
    );
    let engine_err = |e| Error::engine(&what, e);
    let null = keys
        .iter()
        .map(|k| ident(*k).is_null())
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    let nulls = new
        .clone()
        .filter(null)
        .map_err(engine_err)?
        .count()
        .await
        .map_err(engine_err)? as u64;
    let distinct = new
        .clone()
        .select_columns(&keys)
        .and_then(DataFrame::distinct)
        .map_err(engine_err)?
        .count()
        .await
        .map_err(engine_err)? as u64;
    let (failing, first) = if nulls > 0 {
        (nulls, "a NULL key")
    } else if distinct < rows {
        (rows - distinct, "a key on more than one row")
    } else {
        return Ok(());
    };
    Err(Error::DataTest {
        test: format!("unique_key = {keys:?} of an incremental_by_key model"),
        location: model.file.clone(),
        rows: failing,
        first: first.into(),
    })
}
