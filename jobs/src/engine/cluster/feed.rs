//! A query's rows written by several writes on the cluster, in the tasks
//! that compute them ([`FeedExec`]): the cluster's form of `engine::tee`.
//! Each write is planned over a [`dfstore_core::FedTable`], whose scan is the leaf the
//! task feeds, in one partition; the fed query is planned as usual, and
//! the job sent is the fed query's plan under a `FeedExec` that carries the
//! writes.

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::physical_plan::{
    ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions, collect,
};
use datafusion::prelude::DataFrame;
use dfstore_core::{FeedExec, ParallelSinkExec};

use super::ClusterExec;

/// The plan a write (a `COPY TO` planned in a cluster session over a
/// [`dfstore_core::FedTable`]) runs on the executors.
pub async fn fed_write(write: DataFrame) -> DfResult<Arc<dyn ExecutionPlan>> {
    let plan = write.create_physical_plan().await?;
    let write = in_cluster(&plan).ok_or_else(|| {
        DataFusionError::Internal("a fed write is planned for the cluster".into())
    })?;
    // The feed's task runs the write in one partition, under its attempt.
    match write.downcast_ref::<ParallelSinkExec>() {
        Some(parallel) => parallel.as_sink(),
        None => Ok(write),
    }
}

/// The plan `plan` sends to the cluster, if it is sent to one.
fn in_cluster(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    plan.downcast_ref::<ClusterExec>()
        .map(|cluster| Arc::clone(&cluster.plan))
}

/// Runs `source` (planned in a cluster session) on the cluster, each of its
/// tasks feeding its rows to every plan of `writes` ([`fed_write`]);
/// returns the rows fed, then the rows each write wrote.
pub async fn feed(source: DataFrame, writes: &[Arc<dyn ExecutionPlan>]) -> DfResult<Vec<u64>> {
    let task = Arc::new(source.task_ctx());
    let job = source.create_physical_plan().await?;
    let plan = in_cluster(&job).ok_or_else(|| {
        DataFusionError::Internal("a fed query reads the lake on the cluster".into())
    })?;
    let feed: Arc<dyn ExecutionPlan> = Arc::new(FeedExec::try_new(plan, writes.to_vec())?);
    let job = job.replace_children(
        vec![feed],
        ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
    )?;
    let answer = collect(job, task).await?;
    Ok(FeedExec::totals(&answer))
}
