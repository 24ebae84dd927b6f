//! `dfstore run`: raw → trusted (+ rejected) → analytic.
//!
//! First every raw file is checked against its extraction manifest, and its
//! columns against the reference schema (see [`crate::drift`]): breaking
//! schema drift stops the run before anything is built. Then every model of
//! [`MODELS`] is executed by the engine, as soon as the models it reads are
//! built and a few at a time, and written into the run's staging folder,
//! where the models after it read it. Then the run reconciles every
//! source table and, only if all hold, publishes each table with one Delta
//! commit (see [`crate::delta`]) and writes its manifest. A run that fails at
//! any point publishes nothing new and removes its staging folder; the
//! previous versions stay as they were.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, SchemaRef};
use chrono::Utc;
use datafusion::common::Column;
use datafusion::common::tree_node::Transformed;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::prelude::SessionContext;
use tracing::{info, warn};

use crate::delta::{self, StagedFile};
use crate::engine::{self, EngineConfig};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::layer::{Layer, TableRef};
use crate::manifest::{Input, Outcome, Reconciliation, RunId, RunManifest, Step};
use crate::model::{MODELS, Model, PERIOD_COLUMN, Period, RULE_COLUMN};
use crate::partitioned;
use crate::pii::PiiKey;
use crate::raw::{ExtractionManifest, published_extractions};
use crate::source::SourceTable;
use crate::tables;

/// Folder of the runs' work files, relative to the lake root.
pub const STAGING_DIR: &str = "_staging";

/// What `dfstore run` needs besides the lake.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Rewrite only this month's partitions of the partitioned tables.
    pub period: Option<Period>,
    /// Engine settings.
    pub engine: EngineConfig,
    /// The personal-data hash key.
    pub pii_key: PiiKey,
    /// How many models may be built at once (at least 1).
    pub concurrent_models: usize,
}

/// Models built at once unless told otherwise: one runs while another waits
/// on its last partitions or writes its files, which keeps 2 cores busy.
pub const DEFAULT_CONCURRENT_MODELS: usize = 2;

/// A model written to staging, waiting to be published.
struct Staged {
    model: &'static Model,
    schema: SchemaRef,
    files: Vec<StagedFile>,
}

impl Staged {
    fn rows(&self) -> u64 {
        self.files.iter().map(|f| f.rows).sum()
    }
}

/// Runs the pipeline over `lake` and returns the run's manifest (also saved
/// under `logs/runs/`). On failure the manifest records the error and the
/// error is returned.
pub async fn run(lake: &Lake, options: &RunOptions) -> Result<RunManifest> {
    let started_at = Utc::now();
    let run_id = RunId::new(started_at);
    let mut manifest = RunManifest {
        run_id: run_id.clone(),
        started_at,
        finished_at: started_at,
        outcome: Outcome::Failed,
        error: None,
        engine: options
            .engine
            .scheduler
            .as_ref()
            .map_or_else(|| "embedded".into(), ToString::to_string),
        period: options.period.as_ref().map(ToString::to_string),
        inputs: Vec::new(),
        schema_drift: Vec::new(),
        steps: Vec::new(),
        rejected: BTreeMap::new(),
        reconciliation: Vec::new(),
        outputs: Vec::new(),
        timings: BTreeMap::new(),
    };
    if !lake.exists().await? {
        return Err(Error::LakeNotFound {
            lake: lake.url().to_string(),
        });
    }
    info!(run_id = %run_id, lake = %lake.url(), "run started");
    let staging = format!("{STAGING_DIR}/{run_id}/");
    let result = run_steps(lake, options, &staging, &mut manifest).await;
    if let Err(e) = lake.delete_all(&staging).await {
        warn!(run_id = %run_id, error = %e, "could not remove the run's staging folder");
    }
    manifest.finished_at = Utc::now();
    match result {
        Ok(()) => {
            manifest.outcome = Outcome::Succeeded;
            manifest.save(lake).await?;
            info!(run_id = %run_id, "run succeeded");
            Ok(manifest)
        }
        Err(e) => {
            manifest.error = Some(e.to_string());
            // The manifest of a failed run is lineage, not output: if even it
            // cannot be written, the run's own error is the one to report.
            if let Err(save) = manifest.save(lake).await {
                warn!(run_id = %run_id, error = %save, "could not save the failed run's manifest");
            }
            Err(e)
        }
    }
}

async fn run_steps(
    lake: &Lake,
    options: &RunOptions,
    staging: &str,
    manifest: &mut RunManifest,
) -> Result<()> {
    // 1. Inputs: the published extractions, checked file by file.
    let phase = Instant::now();
    let extractions = published_extractions(lake).await?;
    if extractions.is_empty() {
        return Err(Error::NoRawData {
            lake: lake.url().to_string(),
        });
    }
    manifest.inputs = inputs_of(&extractions);
    // Schema drift is checked before anything is built: an added column
    // flows through unread and is reported, a breaking change stops the run.
    for table in SourceTable::ALL {
        let drift = tables::check_raw(lake, table, &extractions).await?;
        for d in drift.iter().filter(|d| !d.is_breaking()) {
            warn!(table = %d.table, extraido = %d.extraido, change = %d.change, "schema drift");
        }
        manifest.schema_drift.extend(drift);
    }
    if let Some(e) = manifest
        .schema_drift
        .iter()
        .find_map(|d| d.breaking_error(lake))
    {
        return Err(e);
    }
    let ctx = engine::session(lake, &options.engine, Some(&options.pii_key))?;
    for table in SourceTable::ALL {
        tables::register_raw(&ctx, lake, table, &extractions).await?;
    }
    manifest
        .timings
        .insert("check".into(), phase.elapsed().as_secs_f64());

    // 2. Build every model into staging (and count the raw keys that the
    // reconciliation needs meanwhile).
    let phase = Instant::now();
    let Built {
        models,
        mut raw_keys,
    } = build_all(&ctx, lake, staging, options).await?;
    let mut staged = Vec::with_capacity(models.len());
    for (step, built) in models {
        manifest.steps.push(step);
        staged.push(built);
    }
    manifest
        .timings
        .insert("build".into(), phase.elapsed().as_secs_f64());

    // 3. Reconcile: deduplicated raw = trusted + rejected, per source table.
    let phase = Instant::now();
    manifest.rejected = rejected_by_rule(&ctx).await?;
    for table in SourceTable::ALL {
        let rows_of = |layer: Layer| {
            staged
                .iter()
                .find(|s| s.model.layer == layer && s.model.name == table.name())
                .map(Staged::rows)
                .unwrap_or(0)
        };
        let check = Reconciliation {
            table: table.to_string(),
            raw_dedup: raw_keys.remove(&table).ok_or_else(|| Error::Internal {
                what: format!("the distinct keys of raw.{table} were never counted"),
            })?,
            trusted: rows_of(Layer::Trusted),
            rejected: rows_of(Layer::Rejected),
        };
        info!(
            table = %table,
            raw_dedup = check.raw_dedup,
            trusted = check.trusted,
            rejected = check.rejected,
            holds = check.holds(),
            "reconciliation"
        );
        manifest.reconciliation.push(check);
    }
    manifest
        .timings
        .insert("reconcile".into(), phase.elapsed().as_secs_f64());
    if let Some(bad) = manifest.reconciliation.iter().find(|r| !r.holds()) {
        return Err(Error::Reconciliation {
            table: bad.table.clone(),
            raw: bad.raw_dedup,
            trusted: bad.trusted,
            rejected: bad.rejected,
        });
    }

    // 4. Publish: one Delta commit per table.
    let phase = Instant::now();
    for built in staged.iter().filter(|s| s.model.layer != Layer::Staging) {
        let period = options.period.as_ref().filter(|_| built.model.partitioned);
        let publication = delta::publish(
            lake,
            manifest.run_id.as_str(),
            &built.model.table(),
            &built.schema,
            built.model.partitioned,
            &built.files,
            period.map(Period::as_str),
        )
        .await?;
        info!(
            table = %publication.table,
            version = publication.version,
            rows = publication.rows_added,
            files = publication.files_added,
            "published"
        );
        manifest.outputs.push(publication);
    }
    manifest
        .timings
        .insert("publish".into(), phase.elapsed().as_secs_f64());
    Ok(())
}

fn inputs_of(extractions: &[ExtractionManifest]) -> Vec<Input> {
    extractions
        .iter()
        .map(|m| Input {
            extraido: m.extraido,
            rows: m
                .tables
                .iter()
                .map(|(t, e)| (t.to_string(), e.rows))
                .collect(),
        })
        .collect()
}

/// What the build phase produces.
struct Built {
    /// Every model's step and staged output, in the order of [`MODELS`].
    models: Vec<(Step, Staged)>,
    /// Distinct primary keys of every source table in raw.
    raw_keys: BTreeMap<SourceTable, u64>,
}

/// One unit of the build phase.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// Build `MODELS[i]`.
    Model(usize),
    /// Count a source table's distinct keys in raw, for the reconciliation.
    RawKeys(SourceTable),
}

/// A unit of the build phase, done.
enum Done {
    Model(usize, Box<(Step, Staged)>),
    RawKeys(SourceTable, u64),
}

/// Builds every model into staging, each as soon as the models it reads are
/// built, at most `at_once` units at a time, and counts the raw keys of every
/// source table in the gaps (they read only raw). Of the units ready to
/// start, the model that the most others wait on (directly or not) goes
/// first, so that the longest chain is never held up by a side branch.
/// On the first failure the other units are stopped, and waited for, before
/// the error is returned.
async fn build_all(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &str,
    options: &RunOptions,
) -> Result<Built> {
    let at_once = options.concurrent_models.max(1);
    let embedded = options.engine.scheduler.is_none();
    let reads = MODELS
        .iter()
        .map(|m| m.dependencies().map_err(|e| Error::engine(m.file, e)))
        .collect::<Result<Vec<_>>>()?;
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

    let mut models: Vec<Option<(Step, Staged)>> = MODELS.iter().map(|_| None).collect();
    let mut raw_keys = BTreeMap::new();
    let mut running = tokio::task::JoinSet::new();
    let outcome = loop {
        while running.len() < at_once {
            let ready = pending.iter().position(|w| match w {
                Work::Model(i) => reads[*i].iter().all(|&d| models[d].is_some()),
                Work::RawKeys(_) => true,
            });
            let Some(ready) = ready else { break };
            let work = pending.remove(ready);
            let batches = match work {
                Work::Model(i) if MODELS[i].by_period => {
                    Some(Batches::of(&reads[i], &models, options.period.as_ref()))
                }
                _ => None,
            };
            let (ctx, lake, staging) = (ctx.clone(), lake.clone(), staging.to_string());
            running.spawn(async move {
                match work {
                    Work::Model(i) => {
                        build_model(&ctx, &lake, &staging, &MODELS[i], embedded, batches)
                            .await
                            .map(|built| Done::Model(i, Box::new(built)))
                    }
                    Work::RawKeys(table) => distinct_keys(&ctx, table)
                        .await
                        .map(|n| Done::RawKeys(table, n)),
                }
            });
        }
        match running.join_next().await {
            None => break Ok(()),
            Some(Ok(Ok(Done::Model(i, built)))) => models[i] = Some(*built),
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

/// The months a model built by period is built for, and the partitioned
/// models it reads, whose rows each month's query is restricted to.
#[derive(Debug)]
struct Batches {
    tables: Vec<TableRef>,
    periods: Vec<String>,
}

impl Batches {
    /// The batches of a model that reads `reads` (indexes into `built`, all
    /// built): every month of the partitioned ones, or only `period`.
    fn of(reads: &[usize], built: &[Option<(Step, Staged)>], period: Option<&Period>) -> Self {
        let inputs: Vec<&Staged> = reads
            .iter()
            .filter_map(|&d| built[d].as_ref().map(|(_, staged)| staged))
            .filter(|staged| staged.model.partitioned)
            .collect();
        let periods = match period {
            Some(period) => vec![period.as_str().to_string()],
            None => inputs
                .iter()
                .flat_map(|staged| staged.files.iter().filter_map(|f| f.period.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        Batches {
            tables: inputs.iter().map(|staged| staged.model.table()).collect(),
            periods,
        }
    }
}

/// `plan` with the rows of every scan of `tables` restricted to `periodo =
/// period`; the filter reaches the scans' file listing, so only that
/// month's files are read.
fn restrict_to_period(
    plan: LogicalPlan,
    tables: &[TableRef],
    period: &str,
) -> datafusion::error::Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::TableScan(scan) if tables.iter().any(|t| t.is_named_by(&scan.table_name)) => {
            let column = Column::new(Some(scan.table_name.clone()), PERIOD_COLUMN);
            LogicalPlanBuilder::from(LogicalPlan::TableScan(scan))
                .filter(Expr::Column(column).eq(lit(period)))?
                .build()
                .map(Transformed::yes)
        }
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// Executes one model (one month at a time with `batches`), writes it to
/// staging and registers the result under the model's name for the models
/// after it.
async fn build_model(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &str,
    model: &'static Model,
    embedded: bool,
    batches: Option<Batches>,
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let table = model.table();
    let context = || format!("{table} ({})", model.file);
    let df = ctx
        .sql(model.sql)
        .await
        .map_err(|e| Error::engine(context(), e))?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let folder = format!("{staging}{}", table.folder());
    // Staging is read once more by the models after it and then deleted:
    // compressing it or building dictionaries for it would cost more than the
    // bytes it saves (writing a scale-1 staging.detalle_ventas took 1.5 CPU-s
    // with dictionaries, 0.8 without).
    let mut parquet = TableParquetOptions {
        global: ctx.copied_config().options().execution.parquet.clone(),
        ..Default::default()
    };
    if model.layer == Layer::Staging {
        parquet.global.compression = Some("uncompressed".into());
        parquet.global.dictionary_enabled = Some(false);
    }
    let write = |df: DataFrame| {
        let (folder, parquet, what) = (&folder, &parquet, context());
        async move {
            if model.partitioned && embedded {
                partitioned::write(df, lake, folder, PERIOD_COLUMN, parquet, &what).await?;
            } else {
                df.write_parquet(
                    lake.url().join(folder).as_str(),
                    DataFrameWriteOptions::new().with_partition_by(model.partition_columns()),
                    Some(parquet.clone()),
                )
                .await
                .map_err(|e| Error::engine(&what, e))?;
            }
            Ok::<_, Error>(())
        }
    };
    match &batches {
        None => write(df).await?,
        Some(batches) => {
            let mut written = BTreeSet::new();
            for period in &batches.periods {
                let plan = restrict_to_period(df.logical_plan().clone(), &batches.tables, period)
                    .map_err(|e| Error::engine(context(), e))?;
                write(DataFrame::new(ctx.state(), plan)).await?;
                for file in lake.list(&folder).await? {
                    let of_period = delta::period_of(&file.location);
                    if written.insert(file.location.clone()) && of_period.as_ref() != Some(period) {
                        return Err(Error::Query {
                            reason: format!(
                                "{}: built for {PERIOD_COLUMN} {period}, it wrote {}; a model built by period must take each month's rows from the same month of what it reads",
                                context(),
                                file.location
                            ),
                        });
                    }
                }
            }
        }
    }
    tables::register_staged(ctx, lake, &table, &folder, &schema, model.partitioned)?;
    let files = delta::staged_files(lake, &folder).await?;
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
        months = batches.map(|b| b.periods.len()),
        seconds = step.seconds,
        "model built"
    );
    Ok((step, built))
}

/// Distinct primary keys of a source table over the published extractions:
/// the "rows in the latest raw state after deduplication" of the spec,
/// counted independently of the staging SQL.
async fn distinct_keys(ctx: &SessionContext, table: SourceTable) -> Result<u64> {
    let keys = table.primary_key().join(", ");
    let sql = format!("SELECT COUNT(*) AS n FROM (SELECT DISTINCT {keys} FROM raw.{table}) AS k");
    scalar_count(ctx, &sql, &format!("counting keys of raw.{table}")).await
}

async fn scalar_count(ctx: &SessionContext, sql: &str, what: &str) -> Result<u64> {
    let batches = ctx
        .sql(sql)
        .await
        .map_err(|e| Error::engine(what, e))?
        .collect()
        .await
        .map_err(|e| Error::engine(what, e))?;
    let n = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// Rejected rows per table and rule, from this run's rejected models.
async fn rejected_by_rule(ctx: &SessionContext) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let mut out = BTreeMap::new();
    for model in MODELS.iter().filter(|m| m.layer == Layer::Rejected) {
        let table = TableRef::new(Layer::Rejected, model.name);
        let sql =
            format!("SELECT {RULE_COLUMN}, COUNT(*) AS n FROM {table} GROUP BY {RULE_COLUMN}");
        let what = format!("counting {table} by rule");
        let batches = ctx
            .sql(&sql)
            .await
            .map_err(|e| Error::engine(&what, e))?
            .collect()
            .await
            .map_err(|e| Error::engine(&what, e))?;
        let mut rules = BTreeMap::new();
        for batch in &batches {
            let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| Error::engine(&what, e.into()))?;
            let names = names.as_string::<i32>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if names.is_valid(i) {
                    rules.insert(names.value(i).to_string(), counts.value(i).max(0) as u64);
                }
            }
        }
        out.insert(model.name.to_string(), rules);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::util::pretty::pretty_format_batches;

    /// A session with `trusted.ventas` (two months), `trusted.detalle` (the
    /// same two months) and `trusted.tiendas` (no months).
    async fn session() -> SessionContext {
        let ctx = SessionContext::new();
        for sql in [
            "CREATE SCHEMA trusted",
            "CREATE TABLE trusted.ventas (id INT, periodo VARCHAR) AS VALUES \
             (1, '2025-01'), (2, '2025-01'), (3, '2025-02')",
            "CREATE TABLE trusted.detalle (id INT, periodo VARCHAR) AS VALUES \
             (1, '2025-01'), (3, '2025-02'), (3, '2025-02')",
            "CREATE TABLE trusted.tiendas (id INT) AS VALUES (1), (2), (3)",
        ] {
            ctx.sql(sql).await.unwrap().collect().await.unwrap();
        }
        ctx
    }

    async fn rows(ctx: &SessionContext, sql: &str, period: &str) -> String {
        let tables = [
            TableRef::new(Layer::Trusted, "ventas"),
            TableRef::new(Layer::Trusted, "detalle"),
        ];
        let plan = ctx.sql(sql).await.unwrap().logical_plan().clone();
        let plan = restrict_to_period(plan, &tables, period).unwrap();
        let batches = DataFrame::new(ctx.state(), plan).collect().await.unwrap();
        pretty_format_batches(&batches).unwrap().to_string()
    }

    #[tokio::test]
    async fn a_month_reads_that_month_of_the_partitioned_tables_only() {
        let ctx = session().await;
        // Both sides of a join, under aliases and in a subquery, are
        // restricted; the table without months is read whole.
        let sql = "SELECT v.periodo, COUNT(*) AS lineas, \
                   (SELECT COUNT(*) FROM trusted.ventas) AS ventas, \
                   (SELECT COUNT(*) FROM trusted.tiendas) AS tiendas \
                   FROM trusted.ventas AS v JOIN trusted.detalle AS d ON d.id = v.id \
                   GROUP BY v.periodo";
        let january = rows(&ctx, sql, "2025-01").await;
        assert!(
            january.contains("| 2025-01 | 1      | 2      | 3       |"),
            "{january}"
        );
        assert!(!january.contains("2025-02"), "{january}");
        let february = rows(&ctx, sql, "2025-02").await;
        assert!(
            february.contains("| 2025-02 | 2      | 1      | 3       |"),
            "{february}"
        );
        let none = rows(&ctx, sql, "2030-01").await;
        assert!(!none.contains("20"), "{none}");
    }

    /// A model of `trusted.ventas` built by period, as `sql` says.
    const fn by_period(name: &'static str, sql: &'static str) -> Model {
        Model {
            layer: Layer::Analytic,
            name,
            source: None,
            partitioned: true,
            by_period: true,
            file: "test",
            sql,
        }
    }

    static SAME_MONTH: Model = by_period("mismo_mes", "SELECT id, periodo FROM trusted.ventas");
    static NEXT_MONTH: Model = by_period(
        "mes_siguiente",
        "SELECT id, CASE periodo WHEN '2025-01' THEN '2025-02' ELSE periodo END AS periodo \
         FROM trusted.ventas",
    );

    #[tokio::test]
    async fn a_model_built_by_period_writes_each_month_from_that_month() {
        let dir = tempfile::TempDir::new().unwrap();
        let lake = Lake::open(
            dfstore_core::LakeUrl::parse(dir.path().to_str().unwrap()).unwrap(),
            &Default::default(),
        )
        .unwrap();
        let ctx = session().await;
        ctx.sql("CREATE SCHEMA analytic").await.unwrap();
        let batches = || Batches {
            tables: vec![TableRef::new(Layer::Trusted, "ventas")],
            periods: vec!["2025-01".into(), "2025-02".into()],
        };

        let (step, staged) = build_model(
            &ctx,
            &lake,
            "_staging/r/",
            &SAME_MONTH,
            true,
            Some(batches()),
        )
        .await
        .unwrap();
        assert_eq!(step.rows, 3);
        let months: Vec<_> = staged
            .files
            .iter()
            .map(|f| (f.period.clone(), f.rows))
            .collect();
        assert_eq!(
            months,
            [(Some("2025-01".into()), 2), (Some("2025-02".into()), 1)]
        );
        let read = ctx
            .sql("SELECT COUNT(*) AS n FROM analytic.mismo_mes WHERE periodo = '2025-01'")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert!(
            pretty_format_batches(&read)
                .unwrap()
                .to_string()
                .contains("| 2 |")
        );

        // January's batch writes February's folder: refused, naming the model.
        let built = build_model(
            &ctx,
            &lake,
            "_staging/r/",
            &NEXT_MONTH,
            true,
            Some(batches()),
        )
        .await;
        let Err(error) = built else {
            panic!("a batch that wrote another month was accepted")
        };
        let error = error.to_string();
        assert!(
            error.contains("analytic.mes_siguiente (test): built for periodo 2025-01"),
            "{error}"
        );
        assert!(error.contains("periodo=2025-02"), "{error}");
    }
}
