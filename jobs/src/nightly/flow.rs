//! The nightly flow: lock, ingest, run, load, notify, and the manifest
//! (`logs/nightly/<id>.json`) that links each step's own manifest.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tracing::info;

use crate::error::{Error, Result};
use crate::ingest::{self, IngestOptions};
use crate::lake::Lake;
use crate::lake::runs::{RunId, RunManifest};
use crate::nightly::lock::LakeLock;
use crate::nightly::metrics;
use crate::nightly::notify::Notifier;
use crate::nightly::retry::{RetryPolicy, with_retries};
use crate::pipeline::{self, RunOptions};
use crate::postgres::Postgres;
use crate::warehouse::{self, LoadOptions, LoadSummary, Warehouse};

/// Folder of the nightly manifests, relative to the lake root.
pub const NIGHTLY_DIR: &str = "logs/nightly";

/// What a nightly run does besides the lake.
#[derive(Debug, Clone)]
pub struct NightlyOptions {
    /// The source to ingest first; none skips the ingest.
    pub pg: Option<Postgres>,
    /// The warehouse to load last; none skips the load.
    pub warehouse: Option<Warehouse>,
    /// The run's settings (engine, key, models at once).
    pub run: RunOptions,
    /// How each step is retried.
    pub retry: RetryPolicy,
    /// Where the outcome is sent.
    pub notifier: Notifier,
    /// Where the night's metrics go besides `logs/nightly/ID.prom` in the
    /// lake: a local file, CloudWatch.
    pub metrics: metrics::Sinks,
}

/// What the steps produced, for the metrics.
#[derive(Debug, Default)]
struct Produced {
    run: Option<RunManifest>,
    loads: Vec<LoadSummary>,
}

/// How a nightly run, or one of its steps, ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NightlyOutcome {
    /// Done.
    Succeeded,
    /// Stopped; what it had not published stays unpublished.
    Failed,
}

impl NightlyOutcome {
    /// As text.
    pub fn as_str(self) -> &'static str {
        match self {
            NightlyOutcome::Succeeded => "succeeded",
            NightlyOutcome::Failed => "failed",
        }
    }
}

/// One step of a nightly run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// `ingest`, `run` or `load`.
    pub step: String,
    /// How it ended.
    pub outcome: NightlyOutcome,
    /// Attempts made (1 when it was not retried).
    pub attempts: u32,
    /// Wall time of all attempts, in seconds.
    pub seconds: f64,
    /// What it produced: the extraction, the run or the load id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub produced: Option<String>,
    /// Its own manifest, relative to the lake root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The manifest of one nightly run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NightlyManifest {
    /// The nightly run.
    pub pipeline_id: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: NightlyOutcome,
    /// The error that stopped it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The steps, in order.
    pub steps: Vec<StepRecord>,
    /// A stale lock taken over at the start, as `pipeline (pid on host)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_lock: Option<String>,
    /// Notifications that could not be delivered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications_failed: Vec<String>,
}

impl NightlyManifest {
    /// The manifest's path relative to the lake root.
    pub fn path(&self) -> String {
        format!("{NIGHTLY_DIR}/{}.json", self.pipeline_id)
    }
}

/// Runs the nightly flow over `lake`; the manifest is saved and sent
/// whatever the outcome, and a failure is returned after that.
pub async fn nightly(lake: &Lake, options: &NightlyOptions) -> Result<NightlyManifest> {
    lake.require().await.or_else(|e| match (&e, &options.pg) {
        // The first night creates the lake.
        (Error::LakeNotFound { .. }, Some(_)) => Ok(()),
        _ => Err(e),
    })?;
    let started_at = Utc::now();
    // Sortable in start order, like run ids.
    let pipeline_id = RunId::new(started_at).to_string();
    let lock = LakeLock::acquire(lake, &pipeline_id).await?;
    let mut manifest = NightlyManifest {
        pipeline_id,
        started_at,
        finished_at: started_at,
        outcome: NightlyOutcome::Failed,
        error: None,
        steps: Vec::new(),
        recovered_lock: lock
            .recovered
            .as_ref()
            .map(|h| format!("{} (pid {} on {})", h.pipeline_id, h.pid, h.host)),
        notifications_failed: Vec::new(),
    };
    info!(pipeline = %manifest.pipeline_id, lake = %lake.url(), "nightly run started");
    let mut produced = Produced::default();
    let result = steps(lake, options, &mut manifest, &mut produced).await;
    manifest.finished_at = Utc::now();
    if let Err(e) = &result {
        manifest.error = Some(e.to_string());
    } else {
        manifest.outcome = NightlyOutcome::Succeeded;
    }
    manifest.notifications_failed = options.notifier.send(&manifest).await;
    let reconciliation_failed = result
        .as_ref()
        .err()
        .is_some_and(metrics::is_reconciliation);
    let saved = save(lake, options, &manifest, &produced, reconciliation_failed).await;
    lock.release().await?;
    result?;
    saved?;
    Ok(manifest)
}

/// Saves the manifest and the metrics in the lake, and the metrics in the
/// local file and CloudWatch when configured (CloudWatch failing is logged:
/// it does not change how the night went).
async fn save(
    lake: &Lake,
    options: &NightlyOptions,
    manifest: &NightlyManifest,
    produced: &Produced,
    reconciliation_failed: bool,
) -> Result<()> {
    lake.put_json(&manifest.path(), manifest).await?;
    let lake_url = lake.url().to_string();
    let night = metrics::Night {
        lake: lake_url.trim_end_matches('/'),
        nightly: Some(manifest),
        run: produced.run.as_ref(),
        loads: &produced.loads,
        reconciliation_failed,
    };
    let text = metrics::render(&night);
    let relative = format!("{NIGHTLY_DIR}/{}.prom", manifest.pipeline_id);
    lake.put_bytes(&relative, text.clone().into_bytes()).await?;
    if let Some(file) = &options.metrics.file {
        metrics::write_file(file, &text)?;
    }
    if let Some(namespace) = &options.metrics.cloudwatch
        && let Err(e) = metrics::to_cloudwatch(&night, namespace).await
    {
        tracing::warn!(error = %e, "could not put the metrics into CloudWatch");
    }
    Ok(())
}

/// Ingest (when a source is given), run, load (when a warehouse is given).
async fn steps(
    lake: &Lake,
    options: &NightlyOptions,
    manifest: &mut NightlyManifest,
    produced: &mut Produced,
) -> Result<()> {
    let policy = options.retry;
    if let Some(pg) = &options.pg {
        let started = Instant::now();
        let ingest_options = IngestOptions::every(&options.run.project.sources);
        let (result, attempts) = with_retries("ingest", policy, || {
            ingest::ingest(pg, lake, &ingest_options)
        })
        .await;
        let extraction = result.as_ref().ok().map(|s| s.manifest.extraido);
        record(manifest, "ingest", &result, attempts, started, |_| {
            extraction.map(|id| (id.to_string(), id.manifest_path()))
        });
        result?;
    }
    let started = Instant::now();
    let (result, attempts) =
        with_retries("run", policy, || pipeline::run(lake, &options.run)).await;
    record(
        manifest,
        "run",
        &result,
        attempts,
        started,
        |run: &RunManifest| Some((run.run_id.to_string(), RunManifest::path(&run.run_id))),
    );
    let run = result?;
    produced.run = Some(run.clone());
    if let Some(warehouse) = &options.warehouse {
        for model in warehouse::models_to_load(&options.run.project, "--warehouse")? {
            let started = Instant::now();
            let load_options = LoadOptions {
                period: options.run.period.clone(),
                version: run.version_of(&model.table().to_string()),
            };
            let (result, attempts) = with_retries("load", policy, || {
                warehouse::load(lake, model, warehouse, &load_options)
            })
            .await;
            record(manifest, "load", &result, attempts, started, |load| {
                Some((
                    load.load_id.clone(),
                    format!("{} (warehouse audit)", load.table),
                ))
            });
            produced.loads.push(result?);
        }
    }
    Ok(())
}

/// Appends a step's record to the manifest.
fn record<T>(
    manifest: &mut NightlyManifest,
    step: &str,
    result: &Result<T>,
    attempts: u32,
    started: Instant,
    produced: impl FnOnce(&T) -> Option<(String, String)>,
) {
    let (outcome, error, produced) = match result {
        Ok(value) => (NightlyOutcome::Succeeded, None, produced(value)),
        Err(e) => (NightlyOutcome::Failed, Some(e.to_string()), None),
    };
    let (produced, step_manifest) = produced.unzip();
    manifest.steps.push(StepRecord {
        step: step.to_string(),
        outcome,
        attempts,
        seconds: started.elapsed().as_secs_f64(),
        produced,
        manifest: step_manifest,
        error,
    });
}
