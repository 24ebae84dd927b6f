//! The client's bound on a cluster job (`--job-timeout`).
//!
//! Ballista's client waits on a job's status for as long as the scheduler
//! says it runs. A job can stay Running with nothing making progress: a
//! frozen executor that still holds its TCP connections, or a task status
//! the scheduler dropped (see `empty_inputs.rs`). So every job a statement
//! submits (with its resubmissions after a lost executor) must finish within
//! the engine's job timeout. Past it, the statement fails with an error
//! naming the timeout and the flag, and the job is cancelled on the
//! scheduler, found by the name the client gave it
//! (`ballista.job.name`), so that its tasks stop taking executors' slots.
//! A write that timed out committed nothing, like any failed write.
//!
//! Below the job, each connection the client opens (to the scheduler, and
//! to the executors it fetches a job's answer from) is bounded too
//! ([`dfstore_core::node::bounded_endpoint`]).

use std::future::Future;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use tracing::{info, warn};

use super::Scheduler;

/// The session setting that names a job on the scheduler.
pub(super) const JOB_NAME: &str = "ballista.job.name";

/// A fresh job name, unique to one statement's job.
pub(super) fn job_name() -> String {
    format!("dfstore-{}", uuid::Uuid::now_v7().simple())
}

/// Runs `job` (named `name` on `scheduler`) within `limit`, if there is one;
/// past it, cancels the job and fails.
pub(super) async fn bounded<T>(
    scheduler: &Scheduler,
    name: &str,
    limit: Option<Duration>,
    job: impl Future<Output = DfResult<T>>,
) -> DfResult<T> {
    let Some(limit) = limit else {
        return job.await;
    };
    match tokio::time::timeout(limit, job).await {
        Ok(answer) => answer,
        Err(_) => {
            let cancelled = cancel(scheduler, name).await;
            let shown = humantime::format_duration(limit);
            Err(DataFusionError::External(
                format!(
                    "job {name} timed out: it ran longer than --job-timeout {shown} and {}; raise --job-timeout (DFSTORE_JOB_TIMEOUT) for longer jobs, or check the executors (GET /api/executors on the scheduler)",
                    if cancelled {
                        "was cancelled"
                    } else {
                        "could not be cancelled"
                    }
                )
                .into(),
            ))
        }
    }
}

/// How long the client waits for the scheduler's REST API when it cancels.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Cancels every job named `name` that is still queued or running; whether
/// the scheduler took every cancellation.
async fn cancel(scheduler: &Scheduler, name: &str) -> bool {
    let attempt = async {
        let text = scheduler.get("jobs", CANCEL_TIMEOUT).await?;
        let (client, api) = scheduler.rest(CANCEL_TIMEOUT)?;
        let jobs: Vec<serde_json::Value> = serde_json::from_str(&text)?;
        let mut ids = Vec::new();
        for job in &jobs {
            let running = matches!(job["status"].as_str(), Some("Queued" | "Running"));
            if job["job_name"] == name
                && running
                && let Some(id) = job["job_id"].as_str()
            {
                client
                    .patch(format!("{api}/job/{id}"))
                    .send()
                    .await?
                    .error_for_status()?;
                ids.push(id.to_string());
            }
        }
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(ids)
    };
    match attempt.await {
        Ok(ids) => {
            info!(job = name, ?ids, "cancelled a job past --job-timeout");
            true
        }
        Err(e) => {
            warn!(job = name, error = %e, "could not cancel a job past --job-timeout");
            false
        }
    }
}
