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
use datafusion::dataframe::DataFrame;
use datafusion::prelude::SessionContext;
use tracing::{Instrument as _, info, info_span};

use crate::contract::layer::TableRef;
use crate::contract::period::{PERIOD_COLUMN, Period};
use crate::contract::source::SourceTable;
use crate::engine::{tables, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta::{self, StagedFile};
use crate::lake::runs::Step;
use crate::pipeline::batches::{self, Batches};
pub use crate::pipeline::increment::Replacement;
use crate::pipeline::increment::{self, Changes, Mode, periods};
use crate::pipeline::reconcile::{distinct_keys, reconciled_sources};
use crate::pipeline::run::RunOptions;
use crate::project::Model;
use crate::project::vars::Vars;
use fed::{build_fed, fed_from};

/// A model written to staging, waiting to be published.
#[derive(Clone)]
pub struct Staged {
    /// The model.
    pub model: Arc<Model>,
    /// The schema its plan produced.
    pub schema: SchemaRef,
    /// The files written.
    pub files: Vec<StagedFile>,
    /// In an incremental run, what replaces part of the published table
    /// ([`crate::pipeline::increment`]); the models after it read it.
    pub replaced: Option<Replacement>,
}

impl Staged {
    /// Rows in its files (in an incremental run, the rows its query built).
    pub fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }

    /// The files the models after it read and the run publishes.
    pub fn output(&self) -> &[StagedFile] {
        self.replaced.as_ref().map_or(&self.files, |r| &r.files)
    }
}

/// What the build phase produces.
pub struct Built {
    /// Every model's step and staged output, in the order built from.
    pub models: Vec<(Step, Staged)>,
    /// Distinct primary keys of every source table in raw.
    pub raw_keys: BTreeMap<SourceTable, u64>,
}

/// One unit of the build phase.
#[derive(Debug, Clone)]
enum Work {
    /// Build the `i`-th model.
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
/// not) first, then the raw key counts of `sources`; `reads[i]` are the
/// models the `i`-th model reads.
fn by_priority(reads: &[Vec<usize>], sources: &[SourceTable]) -> Vec<Work> {
    let n = reads.len();
    let waiting_on = |i: usize| {
        // Models that read model i, directly or through others; a model
        // only reads earlier ones, so one pass from i onwards finds them.
        let mut after = vec![false; n];
        after[i] = true;
        for j in i + 1..n {
            after[j] = reads[j].iter().any(|&d| after[d]);
        }
        after.iter().filter(|&&a| a).count() - 1
    };
    let mut pending: Vec<Work> = (0..n)
        .map(Work::Model)
        .chain(sources.iter().cloned().map(Work::RawKeys))
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
    (to_build, changes): (&[Arc<Model>], Option<&Arc<Changes>>),
) -> Result<Built> {
    let at_once = options.concurrent_models.max(1);
    let reads: Vec<Vec<usize>> = to_build.iter().map(|m| m.reads_in(to_build)).collect();
    let fed = fed_from(to_build, &reads);
    let mut pending = by_priority(&reads, &reconciled_sources(to_build));
    pending.retain(|w| !matches!(w, Work::Model(i) if fed[*i].is_some()));

    let mut models: Vec<Option<(Step, Staged)>> = to_build.iter().map(|_| None).collect();
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
            let work = pending.remove(ready);
            let inputs = inputs_of(&work, &reads, &models);
            let alone = runs_alone(ctx, &work, to_build, &inputs);
            if alone && !running.is_empty() {
                pending.insert(ready, work);
                break;
            }
            if let (true, Work::Model(i)) = (alone, &work) {
                let i = *i;
                running_alone = Some(i);
            }
            let (model, readers) = models_of(&work, to_build, &fed);
            let span = progress(&work, model.as_deref());
            let job = execute(
                (work, model),
                ctx.clone(),
                lake.clone(),
                staging.to_string(),
                (inputs, readers),
                (options.period.clone(), options.project.vars.clone()),
                changes.cloned(),
            );
            running.spawn(job.instrument(span));
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
        .zip(to_build)
        .map(|(built, model)| {
            built.ok_or_else(|| Error::Internal {
                what: format!("{} was never built: it reads a model after it", model.file),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Built { models, raw_keys })
}

/// The models a staging model feeds, with their positions.
type Readers = Vec<(usize, Arc<Model>)>;

/// The model `work` builds and the models it feeds, by position (none for
/// a raw key count).
fn models_of(
    work: &Work,
    to_build: &[Arc<Model>],
    fed: &[Option<usize>],
) -> (Option<Arc<Model>>, Readers) {
    match work {
        &Work::Model(i) => {
            let readers = (0..to_build.len())
                .filter(|&c| fed[c] == Some(i))
                .map(|c| (c, Arc::clone(&to_build[c])))
                .collect();
            (Some(Arc::clone(&to_build[i])), readers)
        }
        Work::RawKeys(_) => (None, Vec::new()),
    }
}

/// The staged models `work` reads (none for a raw key count).
fn inputs_of(work: &Work, reads: &[Vec<usize>], models: &[Option<(Step, Staged)>]) -> Vec<Staged> {
    match work {
        &Work::Model(i) => reads[i]
            .iter()
            .filter_map(|&d| models[d].as_ref().map(|(_, staged)| staged.clone()))
            .collect(),
        Work::RawKeys(_) => Vec::new(),
    }
}

/// Whether `work`, reading `inputs`, runs alone: a model built in more
/// than one key range (see [`build_all`]).
fn runs_alone(ctx: &SessionContext, work: &Work, models: &[Arc<Model>], inputs: &[Staged]) -> bool {
    match work {
        &Work::Model(i) => models[i].by_key.as_deref().is_some_and(|column| {
            let inputs: Vec<&Staged> = inputs.iter().collect();
            batches::range_count(ctx, column, &inputs) > 1
        }),
        Work::RawKeys(_) => false,
    }
}

/// Does one piece of work; a model reads the staged models `inputs` and
/// feeds the models `readers` ([`fed_from`]).
async fn execute(
    (work, model): (Work, Option<Arc<Model>>),
    ctx: SessionContext,
    lake: Lake,
    staging: String,
    (inputs, readers): (Vec<Staged>, Vec<(usize, Arc<Model>)>),
    (period, vars): (Option<Period>, Vars),
    changes: Option<Arc<Changes>>,
) -> Result<Done> {
    let (&Work::Model(i), Some(model)) = (&work, model) else {
        return match work {
            Work::RawKeys(table) => distinct_keys(&ctx, &table, changes.as_deref())
                .await
                .map(|n| Done::RawKeys(table, n)),
            Work::Model(_) => Err(Error::Internal {
                what: "a model's work came without its model".into(),
            }),
        };
    };
    if !model.materialized.is_stored() {
        let built = define_view(&ctx, &model, &vars).await?;
        return Ok(Done::Models(vec![(i, Box::new(built))]));
    }
    let inputs: Vec<&Staged> = inputs.iter().collect();
    let mode = changes.as_ref().map(|c| c.mode(&model));
    let months = (mode == Some(Mode::Periods)).then(|| periods::months_of(&inputs));
    if let (Some(changes), Some(&[])) = (&changes, months.as_deref()) {
        let built = periods::unchanged(&ctx, &lake, changes, &model, &vars).await?;
        return Ok(Done::Models(vec![(i, Box::new(built))]));
    }
    let build = Build {
        ctx: &ctx,
        lake: &lake,
        staging: &staging,
        vars: &vars,
        changes: changes.as_deref(),
    };
    let days = match (&changes, months.as_deref()) {
        (Some(changes), Some(months)) => {
            periods::plan_days(&build, changes, &model, (&inputs, months)).await?
        }
        _ => None,
    };
    let batches = if model.by_period {
        let day_column = model.day_column.as_deref();
        let batches = Batches::of_periods(&ctx, &inputs, period.as_ref(), day_column);
        Some(batches.rebuilding(days.as_ref().map(|d| &d.plan)))
    } else if let Some(column) = model.by_key.as_deref().or(cluster_key(&ctx, &model)) {
        let what = format!("{} ({})", model.table(), model.file);
        let raw = model.source.as_ref().map(|source| source.name());
        Batches::of_key_ranges(&ctx, column, (&inputs, raw), &what).await?
    } else {
        None
    };
    let built = if readers.is_empty() {
        vec![(i, build_model(&build, model, batches).await?)]
    } else {
        build_fed(&build, (i, model), &readers, batches).await?
    };
    let mut done = Vec::with_capacity(built.len());
    for (i, (step, staged)) in built {
        let staged = match &changes {
            Some(changes) => {
                let months = months.as_deref().map(|m| (m, days.as_ref()));
                increment::rebuilt(&build, changes, months, staged).await?
            }
            None => staged,
        };
        done.push((i, Box::new((step, staged))));
    }
    Ok(Done::Models(done))
}

/// What every model of a build shares: the registry session, the lake,
/// the run's staging folder and its variables.
pub struct Build<'a> {
    /// The session the staged models are registered in.
    pub ctx: &'a SessionContext,
    /// The lake.
    pub lake: &'a Lake,
    /// The run's staging folder.
    pub staging: &'a str,
    /// The variables bound into every model.
    pub vars: &'a Vars,
    /// In an incremental run, what it rebuilds.
    pub changes: Option<&'a Changes>,
}

impl Build<'_> {
    /// The folder `table` is written to in the run's staging folder.
    pub fn folder_of(&self, table: &TableRef) -> String {
        format!("{}{}", self.staging, table.folder())
    }
}

/// `model`'s query planned in `ctx`, with the variables it uses bound.
pub async fn planned(
    ctx: &SessionContext,
    model: &Model,
    vars: &Vars,
    what: &str,
) -> Result<DataFrame> {
    let df = ctx
        .sql(&model.sql)
        .await
        .map_err(|e| Error::engine(what, e))?;
    match vars.params_for(&model.sql) {
        None => Ok(df),
        Some(params) => df
            .with_param_values(params)
            .map_err(|e| Error::engine(what, e)),
    }
}

/// The step a model's output records in the manifest.
pub(crate) fn step_of(model: &Model, staged: &Staged, started: Instant) -> Step {
    Step {
        table: model.table().to_string(),
        file: model.file.clone(),
        sql: model.sql.clone(),
        sha256: model.sql_hash(),
        rows: staged.rows(),
        files: staged.files.len(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// The span of a piece of work: a model shows as a progress line.
fn progress(work: &Work, model: Option<&Model>) -> tracing::Span {
    match (work, model) {
        (Work::Model(_), Some(model)) => {
            info_span!("model", table = %model.table(), indicatif.pb_show = true)
        }
        (Work::RawKeys(table), _) => info_span!("raw keys", table = %table),
        (&Work::Model(i), None) => info_span!("model", index = i),
    }
}

/// Executes one model (one month at a time with `batches`), writes it to
/// staging and registers the result under the model's name for the models
/// after it.
async fn build_model(
    build: &Build<'_>,
    model: Arc<Model>,
    batches: Option<Batches>,
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let run_ctx = &run_context(build.ctx, &model);
    let (df, target) = plan(run_ctx, build, &model).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    match &batches {
        None => write::parquet(run_ctx, df, build.lake, &target).await?,
        Some(batches) => batches::write(run_ctx, df, build.lake, &target, batches).await?,
    }
    let count = batches.as_ref().map(Batches::len);
    stored(build, model, &target, schema, started, count).await
}

/// The model's query, planned in `run_ctx` (the session it runs in, see
/// [`run_context`]), and where it is written.
async fn plan(
    run_ctx: &SessionContext,
    build: &Build<'_>,
    model: &Model,
) -> Result<(DataFrame, write::Target)> {
    let table = model.table();
    let what = format!("{table} ({})", model.file);
    let mut df = planned(run_ctx, model, build.vars, &what).await?;
    if let Some(changes) = build.changes {
        let plan = changes
            .restrict(model, df.logical_plan().clone())
            .map_err(|e| Error::engine(&what, e))?;
        df = DataFrame::new(run_ctx.state(), plan);
    }
    let target = write::Target {
        folder: build.folder_of(&table),
        partition_by: model.partitioned.then_some(PERIOD_COLUMN),
        parquet: parquet_options(run_ctx, model),
        what,
    };
    Ok((df, target))
}

/// Registers a model written to `target` in `registry` for the models after
/// it, and lists its files.
async fn stored(
    build: &Build<'_>,
    model: Arc<Model>,
    target: &write::Target,
    schema: SchemaRef,
    started: Instant,
    batches: Option<usize>,
) -> Result<(Step, Staged)> {
    let table = model.table();
    let staged = delta::staged_files(build.lake, &target.folder).await?;
    if staged.discarded > 0 {
        info!(table = %table, files = staged.discarded, "left out the files of task attempts that were not committed");
    }
    tables::register_staged(
        build.ctx,
        build.lake,
        &table,
        &staged.roots,
        &schema,
        model.partitioned,
    )?;
    let built = Staged {
        model,
        schema,
        files: staged.files,
        replaced: None,
    };
    let step = step_of(&built.model, &built, started);
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

mod fed;
mod settings;
mod view;

pub(crate) use settings::parquet_options;
use settings::{cluster_key, run_context};
use view::define_view;
#[cfg(test)]
mod tests;
