//! Batches on a cluster: each batch (a key range, or a month) is planned in
//! a single partition and runs as one task, without a shuffle
//! ([`OneTask`]), and the batches run side by side, one per task slot.
//! A batch then streams its slice of the inputs past its build sides
//! straight into its Parquet files, as the embedded engine runs it; planned
//! across partitions, every row of a slice would be written to shuffle
//! files and read back once for each join key.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use super::{KeyRange, Slice, restrict_to_range, restrict_to_slice};
use crate::contract::layer::TableRef;
use crate::engine::cluster::OneTask;
use crate::engine::{self, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta;

/// How many batches a cluster runs at once: the session's target
/// partitions (the client's cores unless `--target-partitions` says), as
/// many as the executors' task slots in the usual set-up.
pub fn at_once(ctx: &SessionContext) -> usize {
    ctx.copied_config().target_partitions().max(1)
}

/// A session that plans each batch in one partition, as one task.
fn one_task_state(ctx: &SessionContext) -> SessionState {
    let mut state = super::one_partition_state(ctx);
    state.config_mut().set_extension(Arc::new(OneTask));
    state
}

/// The key ranges of `df` over `column`, each planned in one partition, as
/// one task.
fn range_frames(
    ctx: &SessionContext,
    df: &DataFrame,
    column: &str,
    ranges: &[KeyRange],
) -> datafusion::error::Result<Vec<DataFrame>> {
    let state = one_task_state(ctx);
    ranges
        .iter()
        .map(|range| {
            let plan = restrict_to_range(df.logical_plan().clone(), column, *range)?;
            Ok(DataFrame::new(state.clone(), plan))
        })
        .collect()
}

/// A session that plans in one partition, as one task: for a write fed
/// by a batch's task (`engine::cluster::feed`).
pub fn one_task_session(ctx: &SessionContext) -> SessionContext {
    SessionContext::new_with_state(one_task_state(ctx))
}

/// Runs `df` on the cluster with its rows written by every plan of
/// `writes` in the tasks that compute them (`engine::cluster::feed`): a
/// key range of `column` per task, [`at_once`] ranges at a time, or without
/// ranges, `df` as it is planned. Returns the rows fed, then the rows each
/// write wrote.
pub async fn feed(
    ctx: &SessionContext,
    df: &DataFrame,
    ranges: Option<(&str, &[KeyRange])>,
    writes: &[Arc<dyn ExecutionPlan>],
) -> datafusion::error::Result<Vec<u64>> {
    let Some((column, ranges)) = ranges else {
        return engine::cluster::feed(df.clone(), writes).await;
    };
    futures::stream::iter(range_frames(ctx, df, column, ranges)?)
        .map(|range| engine::cluster::feed(range, writes))
        .buffer_unordered(at_once(ctx))
        .try_fold(vec![0; writes.len() + 1], |mut sums, totals| async move {
            sums.iter_mut().zip(totals).for_each(|(sum, n)| *sum += n);
            Ok(sums)
        })
        .await
}

/// Writes the key ranges of `df`, [`at_once`] at a time, each a job.
pub async fn write_ranges(
    ctx: &SessionContext,
    df: &DataFrame,
    lake: &Lake,
    target: &write::Target,
    column: &str,
    ranges: &[KeyRange],
) -> Result<()> {
    let frames =
        range_frames(ctx, df, column, ranges).map_err(|e| Error::engine(&target.what, e))?;
    futures::stream::iter(frames.into_iter().enumerate())
        .map(|(i, df)| {
            async move {
                write::parquet(ctx, df, lake, target).await?;
                tracing::debug!(model = %target.what, batch = i + 1, of = ranges.len(), "key range written");
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(at_once(ctx))
        .try_collect::<Vec<()>>()
        .await
        .map(|_| ())
}

/// Writes the months of `df` (or ranges of their days), [`at_once`] at a
/// time, each a job of one task. Each task's sink names its files after one
/// write id, the same in every month's folder it writes; a write id found
/// in two months' folders is a month that wrote rows of another month.
///
/// Not one job over a union of the slices: Ballista keeps in the union's
/// stage only the branches its per-task restriction reduces to no
/// partition (the others get stages of their own), and runs its join
/// selection again on that stage once those are done. A kept branch whose
/// partitioned join it then swaps (the report's join with the stores, in a
/// month of a few tickets on one day, as `source apply-changes` makes) no
/// longer reduces: the union runs it in the tasks of other slices, its
/// build side cut to no partition ("Invalid HashJoinExec, partition count
/// mismatch 0!=1"). A job of one slice has no union to route.
pub async fn write_periods(
    ctx: &SessionContext,
    df: &DataFrame,
    lake: &Lake,
    target: &write::Target,
    (tables, slices): (&[TableRef], &[Slice]),
) -> Result<()> {
    let state = one_task_state(ctx);
    let frames = slices
        .iter()
        .map(|slice| {
            let plan = restrict_to_slice(df.logical_plan().clone(), tables, slice)?;
            Ok(DataFrame::new(state.clone(), plan))
        })
        .collect::<datafusion::error::Result<Vec<_>>>()
        .map_err(|e| Error::engine(&target.what, e))?;
    if frames.is_empty() {
        return Ok(());
    }
    let before: BTreeSet<_> = lake
        .list(&target.folder)
        .await?
        .into_iter()
        .map(|file| file.location)
        .collect();
    futures::stream::iter(frames)
        .map(|df| write::parquet(ctx, df, lake, target))
        .buffer_unordered(at_once(ctx))
        .try_collect::<Vec<()>>()
        .await?;
    // For each write id, its files' months and sizes.
    let mut written: BTreeMap<String, Vec<(String, u64, String)>> = BTreeMap::new();
    for file in lake.list(&target.folder).await? {
        if before.contains(&file.location) {
            continue;
        }
        let id = file
            .location
            .filename()
            .and_then(|name| name.split('.').next());
        let (Some(id), Some(period)) = (id, delta::period_of(&file.location)) else {
            continue;
        };
        let shown = lake.display(&file.location);
        written
            .entry(id.to_string())
            .or_default()
            .push((period, file.size, shown));
    }
    for mut files in written.into_values() {
        // The task's own month holds the most of its rows.
        files.sort_by_key(|(_, size, _)| std::cmp::Reverse(*size));
        let own = files[0].0.clone();
        if let Some((_, _, file)) = files.iter().find(|(period, _, _)| *period != own) {
            return Err(Error::ModelLeaksPeriod {
                model: target.what.clone(),
                period: own,
                file: file.clone(),
            });
        }
    }
    Ok(())
}
