//! Plans of one partition run as single tasks on a cluster: a key range of
//! a model (`pipeline/batches.rs`) is planned with one target partition,
//! and this rewrite makes Ballista run it as one stage, each branch of its
//! `UNION ALL` a task, with no shuffle and no broadcast: the range's rows
//! stream from its raw files past its build sides to its Parquet files, as
//! the embedded engine runs them.
//!
//! Ballista would otherwise write every build side of a one-partition join
//! to a broadcast stage, and then the rows of each branch of a union over
//! such joins to shuffle files of their own, which the stage above reads
//! back: each range's rows written and read once more than they need be.

use std::sync::Arc;

use datafusion::common::JoinType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, PartitionMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{ChildrenPropertiesMode, ExecutionPlan, ReplaceChildrenOptions};
use datafusion::prelude::SessionConfig;

/// Set in a session's configuration (with one target partition) for plans
/// to run as single tasks: see [`one_task`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneTask;

/// Ballista's settings for a plan rewritten by [`one_task`]: the static
/// planner (the adaptive one turns every hash join back into two
/// exchanges), and no join promoted to a broadcast.
pub fn one_task_config(config: SessionConfig) -> SessionConfig {
    config
        .set_bool("ballista.planner.adaptive.enabled", false)
        .set_u64("ballista.optimizer.broadcast_join_threshold_bytes", 0)
        .set_u64("ballista.optimizer.broadcast_join_threshold_rows", 0)
}

/// `plan`, planned with one target partition, rewritten bottom-up:
/// - a join that emits only rows of its probe side (inner, right, right
///   semi, right anti) over a union, or a projection over one, moves into
///   each branch of the union, so that the union is the top of the plan
///   and each branch is a task;
/// - a collect-left hash join whose two inputs are one partition each is
///   the same join as a partitioned one, which Ballista runs in the task
///   (it writes a collect-left join's build side to a broadcast stage);
/// - a nested-loop join that would hold a whole input to compare it with a
///   single row (the aggregate of a scalar subquery) holds the row instead.
pub fn one_task(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if let Some(branches) = into_union(&node)? {
            let branches = branches
                .into_iter()
                .map(in_task)
                .collect::<Result<Vec<_>>>()?;
            return Ok(Transformed::yes(UnionExec::try_new(branches)?));
        }
        let rewritten = in_task(Arc::clone(&node))?;
        if Arc::ptr_eq(&rewritten, &node) {
            Ok(Transformed::no(node))
        } else {
            Ok(Transformed::yes(rewritten))
        }
    })
    .map(|t| t.data)
}

/// The branches `node` becomes when it moves into the union below it.
fn into_union(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Vec<Arc<dyn ExecutionPlan>>>> {
    let (other, union) = if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        let probe_rows_only = matches!(
            join.join_type(),
            JoinType::Inner | JoinType::Right | JoinType::RightSemi | JoinType::RightAnti
        );
        if !probe_rows_only
            || join.null_aware
            || *join.partition_mode() != PartitionMode::CollectLeft
        {
            return Ok(None);
        }
        (Some(join.left()), join.right())
    } else if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
        (None, projection.input())
    } else {
        return Ok(None);
    };
    let Some(union) = union.downcast_ref::<UnionExec>() else {
        return Ok(None);
    };
    union
        .inputs()
        .iter()
        .map(|branch| {
            let children = other
                .map(Arc::clone)
                .into_iter()
                .chain([Arc::clone(branch)])
                .collect();
            Arc::clone(node).replace_children(
                children,
                ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
            )
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `node` as it runs inside one task, or `node` itself.
fn in_task(node: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    if let Some(join) = node.downcast_ref::<HashJoinExec>() {
        let single = |p: &Arc<dyn ExecutionPlan>| {
            p.properties().output_partitioning().partition_count() == 1
        };
        if *join.partition_mode() == PartitionMode::CollectLeft
            && !join.null_aware
            && single(join.left())
            && single(join.right())
        {
            return join
                .builder()
                .with_partition_mode(PartitionMode::Partitioned)
                .reset_state()
                .build_exec();
        }
    }
    if let Some(join) = node.downcast_ref::<NestedLoopJoinExec>()
        && *join.join_type() == JoinType::Inner
        && one_row(join.right())
        && !one_row(join.left())
    {
        return join.swap_inputs();
    }
    Ok(node)
}

/// Whether `plan` answers exactly one row: an aggregate without groups.
fn one_row(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<AggregateExec>()
        .is_some_and(|a| a.group_expr().is_empty())
}
