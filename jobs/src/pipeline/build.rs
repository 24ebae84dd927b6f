//! The build phase of a run: every model executed by the engine and written
//! into the run's staging folder, as soon as the models it reads are built
//! and a few at a time; a model built by period one month at a time. A
//! staging model that only filters read (trusted and rejected) is not
//! written at all: its rows feed those models as they are produced
//! ([`fed_from`]), in the process or in the cluster's tasks.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use tracing::{Instrument as _, info, info_span};

use crate::contract::layer::Layer;
use crate::contract::period::{PERIOD_COLUMN, Period};
use crate::contract::source::SourceTable;
use crate::engine::{tables, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta::{self, StagedFile};
use crate::lake::runs::Step;
use crate::pipeline::batches::{self, Batches};
use crate::pipeline::model::{MODELS, Model};
use crate::pipeline::reconcile::distinct_keys;
use crate::pipeline::run::RunOptions;
use fed::{build_fed, fed_from};

/// A model written to staging, waiting to be published.
#[derive(Clone)]
pub struct Staged {
    /// The model.
    pub model: &'static Model,
    /// The schema its plan produced.
    pub schema: SchemaRef,
    /// The files written.
    pub files: Vec<StagedFile>,
}

impl Staged {
    /// Rows in its files.
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// What the build phase produces.
pub struct Built {
    /// Every model's step and staged output, in the order of [`MODELS`].
    pub models: Vec<(Step, Staged)>,
    /// Distinct primary keys of every source table in raw.
    pub raw_keys: BTreeMap<SourceTable, u64>,
}

/// One unit of the build phase.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Build `MODELS[i]`.
    Model(usize),
    /// Count a source table's distinct keys in raw, for the reconciliation.
    RawKeys(SourceTable),
}

/// A unit of the build phase, done: a model (with the models it fed).
enum Done {
    Models(Vec<(usize, Box<(Step, Staged)>)>),
    RawKeys(SourceTable, u64),
}

/// Every unit of work, the models that the most others wait on (directly or
/// not) first, then the raw key counts; `reads[i]` are the models
/// `MODELS[i]` reads.
fn by_priority(reads: &[Vec<usize>]) -> Vec<Work> {
    let waiting_on = |i: usize| {
        // Models that read MODELS[i], directly or through others; a model
        // only reads earlier ones, so one pass from i onwards finds them.
        let mut after = vec![false; MODELS.len()];
        after[i] = true;
        for j in i + 1..MODELS.len() {
            after[j] = reads[j].iter().any(|&d| after[d]);
        }
        after.iter().filter(|&&a| a).count() - 1
    };
    let mut pending: Vec<Work> = (0..MODELS.len())
        .map(Work::Model)
        .chain(SourceTable::ALL.into_iter().map(Work::RawKeys))
        .collect();
    pending.sort_by_cached_key(|w| match w {
        Work::Model(i) => std::cmp::Reverse(waiting_on(*i)),
        Work::RawKeys(_) => std::cmp::Reverse(0),
    });
    pending
}

/// Builds every model into staging, each as soon as the models it reads are
/// built, at most `at_once` units at a time, and counts the raw keys of every
/// source table in the gaps (they read only raw). Of the units ready to
/// start, the model that the most others wait on (directly or not) goes
/// first, so that the longest chain is never held up by a side branch.
/// A model built in more than one key range runs alone: its hash tables
/// are sized to the memory pool, which a concurrent aggregation (the raw
/// key counts spill, but only once they have taken what is free) would
/// otherwise hold. Built whole (a small run), it runs beside others.
/// On the first failure the other units are stopped, and waited for, before
/// the error is returned.
pub async fn build_all(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &str,
    options: &RunOptions,
) -> Result<Built> {
    let at_once = options.concurrent_models.max(1);
    let reads = MODELS
        .iter()
        .map(|m| m.dependencies().map_err(|e| Error::engine(m.file, e)))
        .collect::<Result<Vec<_>>>()?;
    let fed = fed_from(&reads);
    let mut pending = by_priority(&reads);
    pending.retain(|w| !matches!(w, Work::Model(i) if fed[*i].is_some()));

    let mut models: Vec<Option<(Step, Staged)>> = MODELS.iter().map(|_| None).collect();
    let mut raw_keys = BTreeMap::new();
    let mut running = tokio::task::JoinSet::new();
    let mut running_alone: Option<usize> = None;
    let outcome = loop {
        while running.len() < at_once && running_alone.is_none() {
            let ready = pending.iter().position(|w| match w {
                Work::Model(i) => reads[*i].iter().all(|&d| models[d].is_some()),
                Work::RawKeys(_) => true,
            });
            let Some(ready) = ready else { break };
            let work = pending[ready];
            let inputs = inputs_of(work, &reads, &models);
            let alone = runs_alone(ctx, work, &inputs);
            if alone && !running.is_empty() {
                break;
            }
            pending.remove(ready);
            if let (true, Work::Model(i)) = (alone, work) {
                running_alone = Some(i);
            }
            let readers: Vec<usize> = match work {
                Work::Model(i) => (0..MODELS.len()).filter(|&c| fed[c] == Some(i)).collect(),
                Work::RawKeys(_) => Vec::new(),
            };
            let job = execute(
                work,
                ctx.clone(),
                lake.clone(),
                staging.to_string(),
                (inputs, readers),
                options.period.clone(),
            );
            running.spawn(job.instrument(progress(work)));
        }
        match running.join_next().await {
            None => break Ok(()),
            Some(Ok(Ok(Done::Models(built)))) => {
                for (i, built) in built {
                    if running_alone == Some(i) {
                        running_alone = None;
                    }
                    models[i] = Some(*built);
                }
            }
            Some(Ok(Ok(Done::RawKeys(table, n)))) => {
                raw_keys.insert(table, n);
            }
            Some(Ok(Err(e))) => break Err(e),
            Some(Err(e)) => {
                break Err(Error::Internal {
                    what: format!("building the models: {e}"),
                });
            }
        }
    };
    running.shutdown().await;
    outcome?;
    let models = models
        .into_iter()
        .zip(&MODELS)
        .map(|(built, model)| {
            built.ok_or_else(|| Error::Internal {
                what: format!("{} was never built: it reads a model after it", model.file),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Built { models, raw_keys })
}

/// The staged models `work` reads (none for a raw key count).
fn inputs_of(work: Work, reads: &[Vec<usize>], models: &[Option<(Step, Staged)>]) -> Vec<Staged> {
    match work {
        Work::Model(i) => reads[i]
            .iter()
            .filter_map(|&d| models[d].as_ref().map(|(_, staged)| staged.clone()))
            .collect(),
        Work::RawKeys(_) => Vec::new(),
    }
}

/// Whether `work`, reading `inputs`, runs alone: a model built in more
/// than one key range (see [`build_all`]).
fn runs_alone(ctx: &SessionContext, work: Work, inputs: &[Staged]) -> bool {
    match work {
        Work::Model(i) => MODELS[i].by_key.is_some_and(|column| {
            let inputs: Vec<&Staged> = inputs.iter().collect();
            batches::range_count(ctx, column, &inputs) > 1
        }),
        Work::RawKeys(_) => false,
    }
}

/// Does one piece of work; a model reads the staged models `inputs` and
/// feeds the models `readers` ([`fed_from`]).
async fn execute(
    work: Work,
    ctx: SessionContext,
    lake: Lake,
    staging: String,
    (inputs, readers): (Vec<Staged>, Vec<usize>),
    period: Option<Period>,
) -> Result<Done> {
    match work {
        Work::Model(i) => {
            let model = &MODELS[i];
            let inputs: Vec<&Staged> = inputs.iter().collect();
            let batches = if model.by_period {
                Some(Batches::of_periods(
                    &ctx,
                    &inputs,
                    period.as_ref(),
                    model.day_column,
                ))
            } else if let Some(column) = model.by_key.or(cluster_key(&ctx, model)) {
                let what = format!("{} ({})", model.table(), model.file);
                let raw = model.source.map(|source| source.name());
                Batches::of_key_ranges(&ctx, column, (&inputs, raw), &what).await?
            } else {
                None
            };
            let built = if readers.is_empty() {
                vec![(i, build_model(&ctx, &lake, &staging, model, batches).await?)]
            } else {
                let readers: Vec<_> = readers.iter().map(|&c| (c, &MODELS[c])).collect();
                build_fed(&ctx, &lake, &staging, (i, model), &readers, batches).await?
            };
            Ok(Done::Models(
                built.into_iter().map(|(i, b)| (i, Box::new(b))).collect(),
            ))
        }
        Work::RawKeys(table) => distinct_keys(&ctx, table)
            .await
            .map(|n| Done::RawKeys(table, n)),
    }
}

/// The key `model` runs in ranges of on a cluster only, when `ctx` runs
/// on one.
fn cluster_key(ctx: &SessionContext, model: &Model) -> Option<&'static str> {
    model.cluster_key.filter(|_| batches::on_cluster(ctx))
}

/// The span of a piece of work: a model shows as a progress line.
fn progress(work: Work) -> tracing::Span {
    match work {
        Work::Model(i) => info_span!("model", table = %MODELS[i].table(), indicatif.pb_show = true),
        Work::RawKeys(table) => info_span!("raw keys", table = %table),
    }
}

/// Executes one model (one month at a time with `batches`), writes it to
/// staging and registers the result under the model's name for the models
/// after it.
async fn build_model(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &str,
    model: &'static Model,
    batches: Option<Batches>,
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let run_ctx = &run_context(ctx, model);
    let (df, target) = plan(run_ctx, staging, model).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    match &batches {
        None => write::parquet(run_ctx, df, lake, &target).await?,
        Some(batches) => batches::write(run_ctx, df, lake, &target, batches).await?,
    }
    let count = batches.as_ref().map(Batches::len);
    stored(ctx, lake, model, &target, schema, started, count).await
}

/// The model's query, planned in `run_ctx` (the session it runs in, see
/// [`run_context`]), and where it is written.
async fn plan(
    run_ctx: &SessionContext,
    staging: &str,
    model: &'static Model,
) -> Result<(DataFrame, write::Target)> {
    let table = model.table();
    let what = format!("{table} ({})", model.file);
    let df = run_ctx
        .sql(model.sql)
        .await
        .map_err(|e| Error::engine(&what, e))?;
    let target = write::Target {
        folder: format!("{staging}{}", table.folder()),
        partition_by: model.partitioned.then_some(PERIOD_COLUMN),
        parquet: parquet_options(run_ctx, model),
        what,
    };
    Ok((df, target))
}

/// Registers a model written to `target` in `registry` for the models after
/// it, and lists its files.
async fn stored(
    registry: &SessionContext,
    lake: &Lake,
    model: &'static Model,
    target: &write::Target,
    schema: SchemaRef,
    started: Instant,
    batches: Option<usize>,
) -> Result<(Step, Staged)> {
    let table = model.table();
    tables::register_staged(
        registry,
        lake,
        &table,
        &target.folder,
        &schema,
        model.partitioned,
    )?;
    let files = delta::staged_files(lake, &target.folder).await?;
    let built = Staged {
        model,
        schema,
        files,
    };
    let step = Step {
        table: table.to_string(),
        file: model.file.to_string(),
        sql: model.sql.to_string(),
        rows: built.rows(),
        files: built.files.len(),
        seconds: started.elapsed().as_secs_f64(),
    };
    info!(
        table = %table,
        rows = step.rows,
        files = step.files,
        batches,
        seconds = step.seconds,
        "model built"
    );
    Ok((step, built))
}

/// The session a model runs in: a model built by key ranges (on a cluster,
/// also a model with a cluster key) with its joins as written
/// ([`as_written`]).
fn run_context(ctx: &SessionContext, model: &Model) -> SessionContext {
    if model.by_key.is_some() || cluster_key(ctx, model).is_some() {
        as_written(ctx)
    } else {
        ctx.clone()
    }
}

/// `ctx` with its joins run in the order the SQL writes them: a model
/// built by key ranges names its small sides first, and statistics of a
/// range (estimated from a filter) must not swap the lines into a hash table
/// (on a cluster, a range of `staging.ventas` had become the hash table of
/// its join with the stores).
fn as_written(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state.config_mut().options_mut().optimizer.join_reordering = false;
    SessionContext::new_with_state(state)
}

/// The session's Parquet settings, for staging without compression or
/// dictionaries: staging is read once more by the models after it and then
/// deleted, so compressing it or building dictionaries for it would cost
/// more than the bytes it saves (writing a scale-1 staging.detalle_ventas
/// took 1.5 CPU-s with dictionaries, 0.8 without).
fn parquet_options(ctx: &SessionContext, model: &Model) -> TableParquetOptions {
    let mut parquet = TableParquetOptions {
        global: ctx.copied_config().options().execution.parquet.clone(),
        ..Default::default()
    };
    if model.layer == Layer::Staging {
        parquet.global.compression = Some("uncompressed".into());
        parquet.global.dictionary_enabled = Some(false);
    }
    parquet
}

mod fed;
#[cfg(test)]
mod tests;
