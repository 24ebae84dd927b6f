//! Staging fed to its readers: a staging model read only by models that
//! filter it (trusted and rejected) is executed once and its rows go
//! straight to those models, instead of being written to staging and read
//! back by each. The embedded engine feeds them in the process
//! ([`crate::engine::tee`]); a cluster, in each task of the staging query
//! (a key range, with key ranges), which writes the readers' files itself
//! ([`crate::engine::cluster::feed`]).

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use datafusion::dataframe::DataFrame;
use datafusion::error::DataFusionError;
use datafusion::prelude::SessionContext;
use dfstore_core::FedTable;
use tracing::{Instrument as _, info, info_span};

use super::{Build, Staged, plan, run_context, step_of, stored};
use crate::contract::layer::Layer;
use crate::engine::cluster;
use crate::engine::{tables, tee, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::runs::Step;
use crate::pipeline::batches::{self, Batches, KeyRange};
use crate::pipeline::increment::Changes;
use crate::project::Model;
use crate::project::vars::Vars;

/// The model that feeds each model its rows as it runs (`Some(p)`), for the
/// models that are not built from stored tables: every reader of a staging
/// model `p` when each of them reads `p` alone and is built whole, and `p`
/// is not built by period. Staging is never
/// published, so such a model need not be stored: its readers (trusted and
/// rejected, which filter it) are built in the same pass, and the rows are
/// neither written as staging nor read back twice. `reads[i]` are the
/// models `models[i]` reads. Views and ephemeral models are planned, not
/// built: they neither feed nor are fed.
pub fn fed_from(models: &[Arc<Model>], reads: &[Vec<usize>]) -> Vec<Option<usize>> {
    let mut fed = vec![None; models.len()];
    let whole = |m: &Model| !m.by_period && m.by_key.is_none() && m.materialized.is_stored();
    for (p, model) in models.iter().enumerate() {
        if model.layer != Layer::Staging || model.by_period || !model.materialized.is_stored() {
            continue;
        }
        let readers: Vec<usize> = (0..models.len())
            .filter(|&c| reads[c].contains(&p))
            .collect();
        if !readers.is_empty()
            && readers
                .iter()
                .all(|&c| reads[c] == [p] && whole(&models[c]))
        {
            for c in readers {
                fed[c] = Some(p);
            }
        }
    }
    fed
}

/// Executes `model` (a range of its key at a time with `batches`) without
/// storing it, and builds the models `readers`, which read it alone, from
/// its rows as they come ([`fed_from`]); returns them all by their index,
/// `model`'s (`i`) first.
pub async fn build_fed(
    build: &Build<'_>,
    (i, model): (usize, Arc<Model>),
    readers: &[(usize, Arc<Model>)],
    batches: Option<Batches>,
) -> Result<Vec<(usize, (Step, Staged))>> {
    let ctx = build.ctx;
    if batches::on_cluster(ctx) {
        return build_fed_on_cluster(build, (i, model), readers, batches).await;
    }
    let started = Instant::now();
    let table = model.table();
    let run_ctx = run_context(ctx, &model);
    let (df, target) = plan(&run_ctx, build, &model).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let partitions = ctx.copied_config().target_partitions();
    let (tee, fed_tables) =
        tee::tee(&schema, readers.len(), partitions).map_err(|e| Error::engine(&target.what, e))?;
    let mut building = tokio::task::JoinSet::new();
    for ((c, reader), fed) in readers.iter().zip(fed_tables) {
        let c = *c;
        // The reader's session knows one table: the rows fed to it.
        let reader_ctx = tables::session_of_one(ctx, &table, fed)?;
        let span = info_span!("model", table = %reader.table(), indicatif.pb_show = true);
        let job = build_reader(
            reader_ctx,
            (ctx.clone(), build.lake.clone()),
            (build.staging.to_string(), build.vars.clone()),
            (Arc::clone(reader), build.changes.cloned().map(Arc::new)),
        );
        building.spawn(async move { job.await.map(|built| (c, built)) }.instrument(span));
    }
    // A reader that fails stops the feeding; one that ends early (it read
    // what it needed) is fed no more.
    let failed = |e: tokio::task::JoinError| Error::Internal {
        what: format!("building the readers of {table}: {e}"),
    };
    let mut built = Vec::with_capacity(readers.len() + 1);
    let rows = {
        let feeding = feed(&tee, &run_ctx, df, batches.as_ref());
        tokio::pin!(feeding);
        loop {
            tokio::select! {
                fed = &mut feeding => break fed.map_err(|e| Error::engine(&target.what, e)),
                Some(joined) = building.join_next() => match joined.map_err(failed).and_then(|r| r) {
                    Ok(reader) => built.push(reader),
                    // The query's own error follows from the feeding.
                    Err(_) if tee.failed() => {}
                    Err(e) => break Err(e),
                },
            }
        }
    };
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            building.shutdown().await;
            return Err(e);
        }
    };
    // The readers' tables end here.
    drop(tee);
    while let Some(joined) = building.join_next().await {
        match joined.map_err(failed).and_then(|r| r) {
            Ok(reader) => built.push(reader),
            Err(e) => {
                building.shutdown().await;
                return Err(e);
            }
        }
    }
    log_fed(&model, rows, batches.as_ref(), readers, started);
    built.push((i, not_stored(model, schema, rows, started)));
    built.sort_by_key(|(c, _)| *c);
    Ok(built)
}

/// [`build_fed`] on a cluster: each reader's write is planned once, over a
/// [`FedTable`] in one partition, and runs in every task of `model`'s query.
async fn build_fed_on_cluster(
    build: &Build<'_>,
    (i, model): (usize, Arc<Model>),
    readers: &[(usize, Arc<Model>)],
    batches: Option<Batches>,
) -> Result<Vec<(usize, (Step, Staged))>> {
    let (ctx, lake) = (build.ctx, build.lake);
    let started = Instant::now();
    let run_ctx = run_context(ctx, &model);
    let (df, target) = plan(&run_ctx, build, &model).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let one_task = batches::cluster::one_task_session(ctx);
    let mut writes = Vec::with_capacity(readers.len());
    let mut written = Vec::with_capacity(readers.len());
    for (c, reader) in readers {
        let c = *c;
        let fed = Arc::new(FedTable::new(Arc::clone(&schema)));
        let reader_ctx = tables::session_of_one(&one_task, &model.table(), fed)?;
        let (read, reader_target) = plan(&reader_ctx, build, reader).await?;
        let reader_schema: SchemaRef = Arc::new(read.schema().as_arrow().clone());
        let write = async { cluster::fed_write(write::copy_to(read, lake, &reader_target)?).await };
        writes.push(
            write
                .await
                .map_err(|e| Error::engine(&reader_target.what, e))?,
        );
        written.push((c, Arc::clone(reader), reader_target, reader_schema));
    }
    let totals = match key_ranges(batches.as_ref()) {
        Ok(ranges) => batches::cluster::feed(&run_ctx, &df, ranges, &writes).await,
        Err(e) => Err(e),
    }
    .map_err(|e| Error::engine(&target.what, e))?;
    let rows = totals.first().copied().unwrap_or_default();
    let mut built = Vec::with_capacity(readers.len() + 1);
    for (c, reader, reader_target, reader_schema) in written {
        let stored = stored(build, reader, &reader_target, reader_schema, started, None);
        built.push((c, stored.await?));
    }
    log_fed(&model, rows, batches.as_ref(), readers, started);
    built.push((i, not_stored(model, schema, rows, started)));
    built.sort_by_key(|(c, _)| *c);
    Ok(built)
}

/// Logs a model fed to `readers`, not stored.
fn log_fed(
    model: &Model,
    rows: u64,
    batches: Option<&Batches>,
    readers: &[(usize, Arc<Model>)],
    started: Instant,
) {
    info!(
        table = %model.table(),
        rows,
        batches = batches.map(Batches::len),
        fed = ?readers.iter().map(|(_, r)| r.table().to_string()).collect::<Vec<_>>(),
        seconds = started.elapsed().as_secs_f64(),
        "model built, not stored"
    );
}

/// The step and the (empty) output of a model fed to others, not stored.
fn not_stored(model: Arc<Model>, schema: SchemaRef, rows: u64, started: Instant) -> (Step, Staged) {
    let staged = Staged {
        model,
        schema,
        files: Vec::new(),
        replaced: None,
    };
    let step = Step {
        rows,
        ..step_of(&staged.model, &staged, started)
    };
    (step, staged)
}

/// Builds `reader`, planned in `reader_ctx` (whose one table is fed), and
/// registers it in `registry`.
async fn build_reader(
    reader_ctx: SessionContext,
    (registry, lake): (SessionContext, Lake),
    (staging, vars): (String, Vars),
    (reader, changes): (Arc<Model>, Option<Arc<Changes>>),
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let build = Build {
        ctx: &registry,
        lake: &lake,
        staging: &staging,
        vars: &vars,
        changes: changes.as_deref(),
    };
    // A reader is built whole: its session is the one it runs in.
    let (df, target) = plan(&reader_ctx, &build, &reader).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    write::parquet(&reader_ctx, df, &lake, &target).await?;
    stored(&build, reader, &target, schema, started, None).await
}

/// Feeds the rows of `df` to the readers of `tee`, a range of its key at a
/// time with `batches`; returns the rows fed.
async fn feed(
    tee: &tee::Tee,
    run_ctx: &SessionContext,
    df: DataFrame,
    batches: Option<&Batches>,
) -> datafusion::error::Result<u64> {
    let Some((column, ranges)) = key_ranges(batches)? else {
        return tee.feed(df).await;
    };
    let mut rows = 0;
    for range in ranges {
        let plan = batches::restrict_to_range(df.logical_plan().clone(), column, *range)?;
        rows += tee.feed(DataFrame::new(run_ctx.state(), plan)).await?;
    }
    Ok(rows)
}

/// The key ranges a fed model runs in, if any: a model built by period
/// feeds no other ([`fed_from`]).
fn key_ranges(batches: Option<&Batches>) -> datafusion::error::Result<Option<(&str, &[KeyRange])>> {
    match batches {
        None => Ok(None),
        Some(Batches::KeyRanges { column, ranges }) => {
            Ok(Some((column.as_str(), ranges.as_slice())))
        }
        Some(Batches::Periods { .. }) => Err(DataFusionError::Internal(
            "a model built by period feeds no other".into(),
        )),
    }
}
