//! Task-attempt commits for the writes a cluster runs.
//!
//! A task that writes (a [`crate::ParallelSinkExec`] partition or a
//! [`crate::FeedExec`] task) does not write into its target folder: it
//! writes under `<folder>/_attempts/<attempt>/`, a folder of its own named by
//! a fresh id, and answers that id beside its row count. When the job has
//! finished, the client reads the job's answer, which holds one row for each
//! task whose result the scheduler accepted, and records those attempts in
//! `<folder>/_committed/<job>` ([`record`]). Readers of the folder take
//! only the files of committed attempts ([`Committed`]).
//!
//! So the output of an attempt lost with its executor, or of a duplicate
//! attempt, is never read: Ballista reruns a task whose executor was lost
//! (and resubmits the stages whose shuffle files died with it), each rerun
//! writes under a new id, and only the attempt whose answer reached the
//! client is committed. A job that fails commits nothing, and neither does
//! one that lost an executor while it ran (its answer may name a task twice:
//! the client checks its executors before and after, see `dfstore-jobs`'s
//! `engine/cluster/executors.rs`); the client may submit it again, and only
//! the new job's attempts are recorded. The
//! folders of uncommitted attempts are left for the run's cleanup, which
//! deletes its whole staging folder.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
use datafusion::datasource::file_format::parquet::ParquetSink;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::datasource::physical_plan::{FileSink as _, FileSinkConfig};
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::physical_plan::ExecutionPlan;
use object_store::path::Path;
use object_store::{ObjectStoreExt as _, PutPayload};

/// The folder, under a write's target, of every attempt's own folder.
pub const ATTEMPTS_DIR: &str = "_attempts";
/// The folder, under a write's target, of the commit records.
pub const COMMITTED_DIR: &str = "_committed";
/// The column of a write's answer that names the task's attempt.
pub const ATTEMPT_COLUMN: &str = "attempt";

/// A fresh attempt id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// `sink` (a `DataSinkExec` writing Parquet) writing into its attempt's own
/// folder, `<folder>/_attempts/<attempt>/`, over the same input.
pub fn retarget(sink: &Arc<dyn ExecutionPlan>, attempt: &str) -> Result<Arc<dyn ExecutionPlan>> {
    let (exec, parquet) = parquet_sink(sink)?;
    let mut config: FileSinkConfig = parquet.config().clone();
    let base = target_folder(&config)?;
    let folder = attempt_folder(&base, attempt);
    config.table_paths = vec![ListingTableUrl::parse(&folder)?];
    config.original_url = folder;
    let retargeted = ParquetSink::new(config, parquet.parquet_options().clone());
    Ok(Arc::new(DataSinkExec::new(
        Arc::clone(exec.input()),
        Arc::new(retargeted),
        exec.sort_order().clone(),
    )))
}

/// `sink` as the `DataSinkExec` it must be, and its Parquet sink.
fn parquet_sink(sink: &Arc<dyn ExecutionPlan>) -> Result<(&DataSinkExec, &ParquetSink)> {
    let exec = sink
        .downcast_ref::<DataSinkExec>()
        .ok_or_else(|| internal(format!("{} is not a DataSinkExec", sink.name())))?;
    let parquet = exec
        .sink()
        .downcast_ref::<ParquetSink>()
        .ok_or_else(|| internal("a cluster write writes Parquet".into()))?;
    Ok((exec, parquet))
}

/// The folder (a URL ending in `/`) a write's sink targets.
fn target_folder(config: &FileSinkConfig) -> Result<String> {
    let base = config
        .table_paths
        .first()
        .ok_or_else(|| internal("a write without a target folder".into()))?
        .as_str()
        .to_string();
    Ok(if base.ends_with('/') {
        base
    } else {
        format!("{base}/")
    })
}

/// The target of `sink` (a `DataSinkExec` writing Parquet): its store and the
/// folder's path in it.
pub fn target_of(sink: &Arc<dyn ExecutionPlan>) -> Result<(ObjectStoreUrl, Path)> {
    let (_, parquet) = parquet_sink(sink)?;
    let config = parquet.config();
    let folder = ListingTableUrl::parse(target_folder(config)?)?;
    Ok((config.object_store_url.clone(), folder.prefix().clone()))
}

/// A column naming one attempt on each of `rows` rows.
pub fn column(attempt: &str, rows: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![attempt; rows]))
}

/// The attempts named by a write's answer, in its `attempt` column.
pub fn answered(batches: &[RecordBatch]) -> BTreeSet<String> {
    batches
        .iter()
        .filter_map(|b| b.column_by_name(ATTEMPT_COLUMN))
        .filter_map(|c| c.as_any().downcast_ref::<StringArray>().cloned())
        .flat_map(|ids| {
            (0..ids.len())
                .filter(|&i| ids.is_valid(i))
                .map(|i| ids.value(i).to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Commits `attempts` to the folder `sink` targets: one record,
/// `<folder>/_committed/<id>`, naming one attempt per line. Written in one
/// put, so a reader sees all of a job's attempts or none.
pub async fn record(
    sink: &Arc<dyn ExecutionPlan>,
    attempts: &BTreeSet<String>,
    context: &TaskContext,
) -> Result<()> {
    let (store_url, folder) = target_of(sink)?;
    let store = context.runtime_env().object_store(&store_url)?;
    let mut text = String::new();
    for attempt in attempts {
        text.push_str(attempt);
        text.push('\n');
    }
    let path = folder.clone().join(COMMITTED_DIR).join(new_id());
    store
        .put(&path, PutPayload::from(text))
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    Ok(())
}

/// What a path under a write's folder (relative to it) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written<'a> {
    /// A file written into the folder directly (by the embedded engine).
    Direct,
    /// A file written by the attempt with this id.
    Attempt(&'a str),
    /// A commit record.
    Record,
}

impl<'a> Written<'a> {
    /// What `relative`, a path under a write's folder, is.
    pub fn of(relative: &'a str) -> Self {
        let mut parts = relative.split('/');
        match (parts.next(), parts.next()) {
            (Some(ATTEMPTS_DIR), id) => Written::Attempt(id.unwrap_or_default()),
            (Some(COMMITTED_DIR), _) => Written::Record,
            _ => Written::Direct,
        }
    }
}

/// The folder of attempt `id` under `folder` (ending in `/`).
pub fn attempt_folder(folder: &str, id: &str) -> String {
    format!("{folder}{ATTEMPTS_DIR}/{id}/")
}

/// What a folder written by committed attempts holds, from the paths listed
/// under it (relative to the folder) and its commit records' text.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The committed attempts.
    pub attempts: BTreeSet<String>,
}

impl Committed {
    /// The committed attempts named by the text of `records`.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a str>) -> Self {
        let attempts = records
            .into_iter()
            .flat_map(str::lines)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        Committed { attempts }
    }

    /// Whether the file at `relative` (a path under the folder) is part of
    /// the folder's contents: written directly (not by an attempt), or by a
    /// committed attempt. Commit records are not contents.
    pub fn keeps(&self, relative: &str) -> bool {
        match Written::of(relative) {
            Written::Direct => true,
            Written::Attempt(id) => self.attempts.contains(id),
            Written::Record => false,
        }
    }
}

fn internal(message: String) -> DataFusionError {
    DataFusionError::Internal(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_committed_attempts_and_direct_files_are_kept() {
        let committed = Committed::from_records(["a1\nb2\n", "\nc3"]);
        assert!(committed.keeps("_attempts/a1/periodo=2025-01/x.parquet"));
        assert!(committed.keeps("_attempts/c3/y.parquet"));
        assert!(!committed.keeps("_attempts/lost/periodo=2025-01/x.parquet"));
        assert!(!committed.keeps("_attempts/a1x/z.parquet"));
        assert!(!committed.keeps("_committed/0193"));
        assert!(committed.keeps("periodo=2025-01/direct.parquet"));
    }

    #[test]
    fn an_answer_names_its_attempts() {
        let batch = RecordBatch::try_from_iter([("attempt", column("a1", 2))]).unwrap();
        let other = RecordBatch::try_from_iter([("attempt", column("b2", 1))]).unwrap();
        let ids: Vec<String> = answered(&[batch, other]).into_iter().collect();
        assert_eq!(ids, ["a1", "b2"]);
    }
}
