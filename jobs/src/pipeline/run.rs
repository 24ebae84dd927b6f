//! `dfstore run`: raw → trusted (+ rejected) → analytic.
//!
//! First every raw file is checked against its extraction manifest, and its
//! columns against the reference schema (see [`crate::lake::drift`]): breaking
//! schema drift stops the run before anything is built. Then every model of
//! the project is executed by the engine, as soon as the models it reads are
//! built and a few at a time, and written into the run's staging folder,
//! where the models after it read it. Before any model is built, every model
//! of the project is planned without data ([`crate::pipeline::plan`]): a model
//! that does not plan or breaks its contract stops the run. After the
//! build, the models' data tests run on what was staged, the run
//! reconciles every source table and, only if all hold, publishes each
//! table with one Delta commit (see [`crate::lake::delta`]) and writes its
//! manifest. A run that fails at any point publishes nothing new and
//! removes its staging folder; the previous versions stay as they were.
//! With `--select`, only the selected models (and the unpublished models
//! they read) are built; the published tables they read are read at the
//! versions of the last successful run, which its manifest keeps.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use datafusion::prelude::SessionContext;
use dfstore_core::pii::PiiKey;
use futures::StreamExt as _;
use tracing::{info, warn};

use crate::contract::layer::TableRef;
use crate::contract::period::Period;
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta::{self, Publish};
use crate::lake::raw::{self, ExtractionManifest, published_extractions};
use crate::lake::runs::{Input, Kept, Outcome, RunId, RunManifest, View, latest_success};
use crate::pipeline::build::{Built, Staged, build_all};
use crate::pipeline::increment::{self, Decision};
use crate::pipeline::plan::PlannedModel;
use crate::pipeline::{plan, quality, reconcile};
use crate::project::header::Materialized;
use crate::project::quality::DataTest;
use crate::project::{Project, select};

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
    /// The project whose models run, with its variables' values.
    pub project: Arc<Project>,
    /// `--select`: the models to build [all].
    pub select: Vec<String>,
    /// `--exclude`: models not to build.
    pub exclude: Vec<String>,
    /// `--full-refresh`: rebuild every model from all of raw, even when the
    /// last run left a state to continue from.
    pub full_refresh: bool,
    /// Run in full when the changes touch more than this share of the
    /// periods of a table merged by key.
    pub full_refresh_above: f64,
}

/// Models built at once unless told otherwise: one runs while another waits
/// on its last partitions or writes its files, which keeps 2 cores busy.
pub const DEFAULT_CONCURRENT_MODELS: usize = 2;

/// Runs the pipeline over `lake` and returns the run's manifest (also saved
/// under `logs/runs/`). On failure the manifest records the error and the
/// error is returned.
pub async fn run(lake: &Lake, options: &RunOptions) -> Result<RunManifest> {
    lake.require().await?;
    let started_at = Utc::now();
    let run_id = RunId::new(started_at);
    let started = || started_manifest(&run_id, started_at, options);
    let mut manifest = started();
    info!(run_id = %run_id, lake = %lake.url(), "run started");
    let staging = format!("{STAGING_DIR}/{run_id}/");
    let mut result = steps_in(lake, options, &staging, &mut manifest).await;
    let beyond = match &result {
        Err(e @ Error::BeyondExtraido { .. }) => Some(e.to_string()),
        _ => None,
    };
    if let Some(reason) = beyond {
        // The incremental run's assumption did not hold: nothing was
        // published; the same run rebuilds everything instead.
        warn!(run_id = %run_id, error = %reason, "starting again as a full run");
        let full = RunOptions {
            full_refresh: true,
            ..options.clone()
        };
        manifest = started();
        result = steps_in(lake, &full, &staging, &mut manifest).await;
        if let Some(increment) = manifest.increment.as_mut() {
            increment.reason = Some(reason);
        }
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

/// The manifest of run `run_id`, started at `started_at`, before any step.
fn started_manifest(
    run_id: &RunId,
    started_at: chrono::DateTime<Utc>,
    options: &RunOptions,
) -> RunManifest {
    let engine = options
        .engine
        .scheduler
        .as_ref()
        .map_or_else(|| "embedded".into(), ToString::to_string);
    let mut manifest =
        RunManifest::started(run_id.clone(), started_at, engine, options.period.as_ref());
    let project = &options.project;
    manifest.project = Some(format!("{} ({})", project.name, project.root));
    manifest.vars = project.vars.describe();
    manifest
}

/// [`run_steps`] in the staging folder `staging`, which is removed after.
async fn steps_in(
    lake: &Lake,
    options: &RunOptions,
    staging: &str,
    manifest: &mut RunManifest,
) -> Result<()> {
    let result = run_steps(lake, options, staging, manifest).await;
    if let Err(e) = lake.delete_all(staging).await {
        warn!(run_id = %manifest.run_id, error = %e, "could not remove the run's staging folder");
    }
    result
}

/// The run's phases: check, build, test, reconcile, publish.
async fn run_steps(
    lake: &Lake,
    options: &RunOptions,
    staging: &str,
    manifest: &mut RunManifest,
) -> Result<()> {
    let project = &options.project;
    let selected = select::selected(project, &options.select, &options.exclude)?;
    let whole = selected.iter().all(|&s| s);

    let phase = Instant::now();
    let (ctx, extractions, planned) = check_inputs(lake, options, manifest).await?;
    let pinned = latest_success(lake).await?;
    let decision = decide(
        lake,
        options,
        whole,
        pinned.as_ref(),
        (&extractions, &planned),
    )
    .await?;
    let mut summary = decision.summary();
    let (selected, changes) = match decision {
        Decision::Full(_) => (selected, None),
        Decision::UpToDate => {
            manifest.increment = Some(summary);
            manifest.state = Some(increment::state_of(project, &extractions));
            keep_the_rest(manifest, project, pinned.as_ref());
            return Ok(());
        }
        Decision::Incremental(incremental) => {
            let increment::Incremental {
                affected, changes, ..
            } = *incremental;
            (affected, Some(Arc::new(changes)))
        }
    };
    let (to_build, published_inputs) = select::closure(project, &selected);
    for table in &published_inputs {
        read_published(&ctx, lake, pinned.as_ref(), table).await?;
    }
    manifest.time("check", phase);

    // Build every model into staging (and count the raw keys that the
    // reconciliation needs meanwhile).
    let phase = Instant::now();
    let Built { models, raw_keys } =
        build_all(&ctx, lake, staging, options, (&to_build, changes.as_ref())).await?;
    let mut staged = Vec::with_capacity(models.len());
    for (step, built) in models {
        manifest.steps.push(step);
        staged.push(built);
    }
    manifest.time("build", phase);

    let singular = quality::singular_tests(project, &to_build, whole && changes.is_none());
    for table in quality::unread_by_models(&to_build, &singular, &published_inputs) {
        read_published(&ctx, lake, pinned.as_ref(), &table).await?;
    }
    run_tests(&ctx, &to_build, &singular, manifest).await?;

    let phase = Instant::now();
    manifest.rejected = reconcile::rejected_by_rule(&ctx, &staged).await?;
    manifest.reconciliation = reconcile::reconcile(&staged, raw_keys)?;
    manifest.time("reconcile", phase);
    if let Some(bad) = manifest.reconciliation.iter().find(|r| !r.holds()) {
        return Err(Error::Reconciliation {
            table: bad.table.clone(),
            raw: bad.raw_dedup,
            trusted: bad.trusted,
            rejected: bad.rejected,
        });
    }

    let phase = Instant::now();
    publish_all(lake, options, &staged, manifest).await?;
    manifest.time("publish", phase);
    keep_the_rest(manifest, project, pinned.as_ref());
    increment::record(&mut summary, &staged);
    manifest.increment = Some(summary);
    let leaves_state = whole && options.period.is_none();
    manifest.state = leaves_state.then(|| increment::state_of(project, &extractions));
    Ok(())
}

/// The data tests of the models `built` and the SQL tests `singular`,
/// recorded in `manifest`; the first failing error test.
async fn run_tests(
    ctx: &SessionContext,
    built: &[Arc<crate::project::Model>],
    singular: &[&DataTest],
    manifest: &mut RunManifest,
) -> Result<()> {
    let phase = Instant::now();
    let built: Vec<&crate::project::Model> = built.iter().map(AsRef::as_ref).collect();
    manifest.tests = quality::run_tests(ctx, &built, singular).await?;
    for failed in manifest.tests.iter().filter(|t| !t.passed()) {
        warn!(test = %failed.name, rows = failed.failing_rows, severity = %failed.severity, "data test failed");
    }
    manifest.time("test", phase);
    quality::first_error(&manifest.tests).map_or(Ok(()), Err)
}

/// What the run rebuilds ([`increment::decide`]), logged.
async fn decide(
    lake: &Lake,
    options: &RunOptions,
    whole: bool,
    pinned: Option<&RunManifest>,
    inputs: (&[ExtractionManifest], &[PlannedModel]),
) -> Result<Decision> {
    let full = full_reason(options, whole);
    let project = &options.project;
    let decision = increment::decide(
        lake,
        (&options.engine, options.full_refresh_above),
        project,
        pinned,
        inputs,
        full.as_deref(),
    )
    .await?;
    let summary = decision.summary();
    info!(mode = %summary.mode, reason = summary.reason.as_deref().unwrap_or(""), "what the run rebuilds");
    Ok(decision)
}

/// Why the run must rebuild everything whatever the last run left, if it
/// must: asked to, or restricted to some models or one period.
fn full_reason(options: &RunOptions, whole: bool) -> Option<String> {
    if options.full_refresh {
        Some("--full-refresh".into())
    } else if let Some(period) = &options.period {
        Some(format!("--period {period}"))
    } else if !whole {
        Some("--select or --exclude".into())
    } else {
        None
    }
}

/// Records, beside what the run published, the versions it kept of the
/// other published tables (so that its manifest pins every table), and the
/// project's views.
fn keep_the_rest(manifest: &mut RunManifest, project: &Project, pinned: Option<&RunManifest>) {
    if let Some(pinned) = pinned {
        for (table, version) in pinned.tables() {
            let rebuilt = manifest.outputs.iter().any(|p| p.table == table);
            if !rebuilt && project.model(&table).is_some_and(|m| m.is_published()) {
                manifest.kept.push(Kept { table, version });
            }
        }
    }
    manifest.views = project
        .models
        .iter()
        .filter(|m| m.materialized == Materialized::View)
        .map(|m| View {
            table: m.table(),
            sql: m.sql.clone(),
        })
        .collect();
}

/// Registers `table`, which the run reads but does not build, at the
/// version the last successful run left.
async fn read_published(
    ctx: &SessionContext,
    lake: &Lake,
    pinned: Option<&RunManifest>,
    table: &TableRef,
) -> Result<()> {
    let version = pinned.and_then(|run| run.version_of(&table.to_string()));
    let found = match version {
        Some(version) => tables::register_published(ctx, lake, table, Some(version)).await?,
        None => false,
    };
    if found {
        Ok(())
    } else {
        Err(Error::InvalidArgument {
            flag: "--select".into(),
            reason: format!(
                "the selected models or their tests read {table}, which no successful run has published; select it too (e.g. --select +{}) or run without --select",
                table.name
            ),
        })
    }
}

/// Reads the published extractions, checks every raw file against its
/// manifest and their columns against the reference schema (an added
/// column flows through unread and is reported, breaking drift stops the
/// run), then plans every model of the project over them: nothing is built
/// before all of that holds. Returns the session with `raw.*` registered.
async fn check_inputs(
    lake: &Lake,
    options: &RunOptions,
    manifest: &mut RunManifest,
) -> Result<(SessionContext, Vec<ExtractionManifest>, Vec<PlannedModel>)> {
    let extractions = published_extractions(lake).await?;
    if extractions.is_empty() {
        return Err(Error::NoRawData {
            lake: lake.url().to_string(),
        });
    }
    manifest.inputs = inputs_of(&extractions);
    let verified = Instant::now();
    let files = raw::verify_digests(lake, &extractions).await?;
    info!(
        files,
        seconds = verified.elapsed().as_secs_f64(),
        "raw files match their digests"
    );
    manifest.time("verify", verified);
    for table in &options.project.sources {
        let drift = raw::check(lake, table, &extractions).await?;
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
    for table in &options.project.sources {
        tables::register_raw(&ctx, lake, table, &extractions).await?;
    }
    // Every model planned over raw's schemas before any model is built.
    let raw = plan::raw_schemas(&ctx, &options.project.sources).await;
    let (planned, seconds) = plan::plan_all(&options.project, &raw).await?;
    info!(
        models = options.project.models.len(),
        seconds, "every model plans"
    );
    Ok((ctx, extractions, planned))
}

/// Tables published at once: each is its own Delta commit.
const PUBLISH_AT_ONCE: usize = 4;

/// Publishes every table the run built, one Delta commit each, a few at
/// once. Every publication started is let finish (none is cut off
/// between moving its files and committing them); the first error is
/// returned after all have ended.
async fn publish_all(
    lake: &Lake,
    options: &RunOptions,
    staged: &[Staged],
    manifest: &mut RunManifest,
) -> Result<()> {
    let run_id = manifest.run_id.as_str();
    let one_period: Option<Vec<String>> = options.period.as_ref().map(|p| vec![p.to_string()]);
    let one_period = one_period.as_deref();
    // A model rebuilt by period whose inputs replaced none, or merged
    // without a file to add or replace, keeps its version.
    let changed = |s: &&Staged| {
        s.replaced.as_ref().is_none_or(|r| match &r.removed {
            Some(removed) => !removed.is_empty() || !r.files.is_empty(),
            None => r.periods.as_ref().is_none_or(|p| !p.is_empty()),
        })
    };
    let publications: Vec<Result<_>> = futures::stream::iter(
        staged
            .iter()
            .filter(|s| s.model.is_published())
            .filter(changed),
    )
    .map(|built| async move {
        let table = built.model.table();
        let (files, periods, removed) = match &built.replaced {
            Some(r) => (&r.files, r.periods.as_deref(), r.removed.as_ref()),
            None => (
                &built.files,
                one_period.filter(|_| built.model.partitioned),
                None,
            ),
        };
        let publish = Publish {
            run_id,
            table: &table,
            schema: &built.schema,
            partitioned: built.model.partitioned,
            files,
            periods,
            removed,
        };
        delta::publish(lake, &publish).await
    })
    .buffered(PUBLISH_AT_ONCE)
    .collect()
    .await;
    let mut failed = None;
    for publication in publications {
        match publication {
            Ok(publication) => {
                info!(
                    table = %publication.table,
                    version = publication.version,
                    rows = publication.rows_added,
                    files = publication.files_added,
                    "published"
                );
                manifest.outputs.push(publication);
            }
            Err(e) => {
                failed.get_or_insert(e);
            }
        }
    }
    failed.map_or(Ok(()), Err)
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
