//! Whether a write job ran on an unbroken cluster. Ballista reruns the
//! tasks of a stage whose executor was lost, but it may keep, beside the
//! output of the rerun, the output of an attempt that had finished before
//! the loss (`StageOutput::add_partition` keeps every location of a map
//! partition, and a job's output locations are never pruned): its answer
//! then names one partition's rows twice. So the answer of a write job is
//! committed only when every executor that was up when the job was
//! submitted is still registered with the scheduler and still accepts
//! connections when the job has finished; otherwise nothing is committed
//! and the job is submitted again ([`super::failure::resubmitted`]), as
//! Spark's output committer discards the attempts of a stage it reran.

use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use serde::Deserialize;
use tokio::net::TcpStream;

use super::Scheduler;

/// How long the scheduler's list of executors, or one executor's port, may
/// take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The words of the error of a job whose cluster lost an executor while it
/// ran; [`super::failure::lost_executor`] reads the executor before them.
pub(super) const LOST_WHILE_RUNNING: &str = " lost while the job ran";

/// An executor, as the scheduler's REST API lists it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(super) struct Executor {
    id: String,
    host: String,
    port: u16,
}

impl std::fmt::Display for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "executor {} at {}:{}", self.id, self.host, self.port)
    }
}

/// The executors registered with `scheduler` that accept connections now.
pub(super) async fn up(scheduler: &Scheduler) -> DfResult<Vec<Executor>> {
    let mut out = Vec::new();
    for executor in registered(scheduler).await? {
        if reachable(&executor).await {
            out.push(executor);
        }
    }
    Ok(out)
}

/// The error of a job during which one of `before` (the executors [`up`]
/// when it was submitted) was lost: one no longer registered, or no longer
/// accepting connections; `None` when all of them are up.
pub(super) async fn lost_since(
    scheduler: &Scheduler,
    before: &[Executor],
) -> DfResult<Option<DataFusionError>> {
    let now = registered(scheduler).await?;
    for executor in before {
        if !now.iter().any(|e| e.id == executor.id) || !reachable(executor).await {
            return Ok(Some(DataFusionError::External(
                format!(
                    "{executor}{LOST_WHILE_RUNNING}: its answer may name a task's rows twice, so none of it was committed"
                )
                .into(),
            )));
        }
    }
    Ok(None)
}

/// Every executor registered with `scheduler`.
async fn registered(scheduler: &Scheduler) -> DfResult<Vec<Executor>> {
    let text = scheduler
        .get("executors", PROBE_TIMEOUT)
        .await
        .map_err(|e| {
            DataFusionError::External(
                format!("listing the executors of the scheduler at {scheduler}: {e}").into(),
            )
        })?;
    serde_json::from_str(&text).map_err(|e| {
        DataFusionError::External(
            format!("the executors listed by the scheduler at {scheduler}: {e}").into(),
        )
    })
}

/// Whether `executor`'s port accepts a connection within [`PROBE_TIMEOUT`].
async fn reachable(executor: &Executor) -> bool {
    let connect = TcpStream::connect((executor.host.as_str(), executor.port));
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, connect).await,
        Ok(Ok(_))
    )
}
