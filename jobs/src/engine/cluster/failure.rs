//! What a failed cluster job lost, and whether to submit it again: an
//! executor lost while the job ran (or before the client fetched its
//! answer) costs a resubmission, at most [`LOST_EXECUTOR_RETRIES`] times;
//! a scheduler that no longer answers ends the job with an error naming it.

use std::future::Future;
use std::time::Duration;

use datafusion::error::{DataFusionError, Result as DfResult};
use tracing::warn;

use super::Scheduler;
use super::executors::LOST_WHILE_RUNNING;

/// Times a job that lost an executor is submitted again.
const LOST_EXECUTOR_RETRIES: usize = 2;

/// Runs `job`, and runs it again (at most [`LOST_EXECUTOR_RETRIES`] times)
/// while it fails because an executor was lost.
pub(super) async fn resubmitted<T, F, Fut>(scheduler: &Scheduler, job: F) -> DfResult<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = DfResult<T>>,
{
    let mut lost = 0;
    loop {
        match job().await {
            Err(e) if lost < LOST_EXECUTOR_RETRIES => {
                let text = e.to_string();
                let Some(executor) = lost_executor(scheduler, &text) else {
                    return Err(e);
                };
                lost += 1;
                warn!(%executor, resubmission = lost, error = %first_line(&text), "a job lost an executor; submitting it again");
            }
            answer => return answer,
        }
    }
}

/// The address of the node a cluster failure could not reach, when that node
/// is not the scheduler: an executor, lost while the job ran or before the
/// client fetched what it computed.
pub(super) fn lost_executor(scheduler: &Scheduler, text: &str) -> Option<String> {
    // A job whose cluster lost an executor while it ran (see `executors`).
    if let Some(at) = text.find(LOST_WHILE_RUNNING) {
        let named = &text[..at];
        return named
            .rfind("executor ")
            .map(|start| named[start..].to_string());
    }
    // Ballista's own report of a fetch that failed: the executor's id.
    if let Some((_, rest)) = text.split_once("fetch partition error from Executor ") {
        let id: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        if !id.is_empty() {
            return Some(format!("executor {id}"));
        }
    }
    let scheduler = format!("{}:{}", scheduler.host, scheduler.port);
    let unreachable = [
        "Connection refused",
        "tcp connect error",
        "connection error",
        "broken pipe",
        "error connecting to ballista scheduler or executor",
        "keep-alive timed out",
    ]
    .iter()
    .any(|needle| text.to_lowercase().contains(&needle.to_lowercase()));
    if !unreachable {
        return None;
    }
    text.match_indices("http://")
        .map(|(at, scheme)| {
            text[at + scheme.len()..]
                .chars()
                .take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']')
                })
                .collect::<String>()
                .trim_end_matches(':')
                .to_string()
        })
        .find(|address| !address.is_empty() && *address != scheduler)
        .map(|address| format!("the executor at {address}"))
}

/// How long the client waits for the scheduler when it checks, after a
/// failure, whether the scheduler still answers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the scheduler answers now: its REST API, served on the same
/// port as its gRPC service, answers a request for its state.
async fn answers(scheduler: &Scheduler) -> bool {
    let answer = scheduler.get("state", PROBE_TIMEOUT).await.map(drop);
    tracing::debug!(%scheduler, ?answer, "probed the scheduler after a failure");
    answer.is_ok()
}

/// A cluster failure naming the node that failed: the scheduler when it no
/// longer answers, else an executor that was lost, else the job itself.
pub(super) async fn cluster_failure(scheduler: &Scheduler, e: DataFusionError) -> DataFusionError {
    let answering = answers(scheduler).await;
    cluster_error(scheduler, &e, answering)
}

/// Names the node that failed in a cluster failure, once; `answering`
/// tells whether the scheduler still accepts connections.
pub(super) fn cluster_error(
    scheduler: &Scheduler,
    e: &DataFusionError,
    answering: bool,
) -> DataFusionError {
    let text = e.to_string();
    if !answering {
        let reasons = [
            ("Connection refused", "connection refused"),
            ("dns error", "host not found"),
            ("timed out", "timed out"),
        ];
        let reason = reasons
            .iter()
            .find(|(needle, _)| text.contains(needle))
            .map_or("it stopped answering", |(_, reason)| reason);
        return DataFusionError::External(
            format!(
                "cannot reach the scheduler at {scheduler} ({reason}); start the cluster (deploy/local/cluster.sh start) or fix --scheduler"
            )
            .into(),
        );
    }
    if let Some(executor) = lost_executor(scheduler, &text) {
        return DataFusionError::External(
            format!(
                "lost {executor} (the scheduler at {scheduler} answers); the job failed: {}",
                first_line(&text)
            )
            .into(),
        );
    }
    DataFusionError::External(
        format!(
            "the job failed on the cluster at {scheduler}: {}",
            first_line(&text)
        )
        .into(),
    )
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}
