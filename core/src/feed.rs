//! One query's rows written by several writes in the task that computes
//! them, without storing the rows in between.
//!
//! The pipeline builds trusted and rejected by filtering one staging model.
//! Stored, staging would be written once and read back once per reader; fed,
//! each task runs its partition of the staging plan once and hands every
//! batch to each reader's write, planned over a [`FedExec`] leaf that stands
//! for the rows fed. This is the cluster's form of what the embedded engine
//! does with one process's streams (the CLI's `engine::tee`).
//!
//! The readers travel inside [`FeedExec`] (they are not its children, so the
//! scheduler plans the stages of the fed query alone) and are run in the task,
//! one partition each, with the leaf replaced by the task's own queue of
//! batches. Each reader writes under the task's attempt (see
//! [`crate::attempt`]). Each task answers one row: the rows fed, then the
//! count each reader answered (a write's rows written), then the task's
//! attempt; see [`FeedExec::totals`].

use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::runtime::JoinSet;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning,
    PlanProperties,
};
use futures::channel::mpsc;
use futures::{SinkExt, StreamExt, TryStreamExt};

use crate::attempt;
use crate::parallel_sink::ParallelSinkExec;

/// Batches queued for one reader before the fed query waits for it.
const QUEUED_BATCHES: usize = 4;

type Fed = Result<RecordBatch>;

/// Runs each partition of `input` once and writes its rows with every plan
/// of `readers`, each of which reads one [`FedExec`] and answers a count.
#[derive(Debug)]
pub struct FeedExec {
    input: Arc<dyn ExecutionPlan>,
    readers: Vec<Arc<dyn ExecutionPlan>>,
    properties: Arc<PlanProperties>,
}

impl FeedExec {
    /// `input` fed to `readers`; each reader must read one [`FedExec`] with
    /// `input`'s schema, in one partition.
    pub fn try_new(
        input: Arc<dyn ExecutionPlan>,
        readers: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Self> {
        for reader in &readers {
            let leaves = fed_leaves(reader)?;
            if leaves != 1 {
                return Err(DataFusionError::Internal(format!(
                    "a reader of FeedExec reads one FedExec, not {leaves}"
                )));
            }
            if reader.output_partitioning().partition_count() != 1 {
                return Err(DataFusionError::Internal(
                    "a reader of FeedExec has one partition".into(),
                ));
            }
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(totals_schema(readers.len())),
            Partitioning::UnknownPartitioning(input.output_partitioning().partition_count()),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        Ok(FeedExec {
            input,
            readers,
            properties,
        })
    }

    /// The readers' plans.
    pub fn readers(&self) -> &[Arc<dyn ExecutionPlan>] {
        &self.readers
    }

    /// The totals of a finished feed (its answer, one row per task): the
    /// rows fed, then each reader's count.
    pub fn totals(batches: &[RecordBatch]) -> Vec<u64> {
        let columns = batches.first().map_or(0, |b| {
            b.schema()
                .fields()
                .iter()
                .filter(|f| f.data_type() == &DataType::UInt64)
                .count()
        });
        (0..columns)
            .map(|i| {
                batches
                    .iter()
                    .filter_map(|b| b.column(i).as_any().downcast_ref::<UInt64Array>())
                    .flat_map(|counts| counts.iter().flatten())
                    .sum()
            })
            .collect()
    }
}

/// The answer of a [`FeedExec`] of `readers` readers: a column `fed` (the
/// rows fed), a column `written_{i}` for each reader's count, and the
/// task's attempt.
fn totals_schema(readers: usize) -> SchemaRef {
    let written = (0..readers).map(|i| Field::new(format!("written_{i}"), DataType::UInt64, false));
    let fields: Vec<Field> = std::iter::once(Field::new("fed", DataType::UInt64, false))
        .chain(written)
        .chain(std::iter::once(Field::new(
            attempt::ATTEMPT_COLUMN,
            DataType::Utf8,
            false,
        )))
        .collect();
    Arc::new(Schema::new(fields))
}

/// How many [`FedExec`] leaves `plan` has.
fn fed_leaves(plan: &Arc<dyn ExecutionPlan>) -> Result<usize> {
    let mut leaves = 0;
    plan.apply(|node| {
        leaves += usize::from(node.is::<FedExec>());
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(leaves)
}

impl DisplayAs for FeedExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FeedExec: readers=[")?;
        for (i, reader) in self.readers.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            reader.fmt_as(t, f)?;
        }
        write!(f, "]")
    }
}

impl ExecutionPlan for FeedExec {
    fn name(&self) -> &str {
        "FeedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => {
                Ok(Arc::new(Self::try_new(input, self.readers.clone())?))
            }
            _ => Err(DataFusionError::Internal(
                "FeedExec has exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let input = self.input.execute(partition, Arc::clone(&context))?;
        let id = attempt::new_id();
        let mut senders = Vec::with_capacity(self.readers.len());
        let mut writes = Vec::with_capacity(self.readers.len());
        for reader in &self.readers {
            let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
            let plan = fed_by(attempt::retarget(reader, &id)?, receiver)?;
            writes.push(plan.execute(0, Arc::clone(&context))?);
            senders.push(sender);
        }
        let schema = self.schema();
        let answer = Arc::clone(&schema);
        let run = async move {
            let totals = feed(input, senders, writes).await?;
            let columns: Vec<ArrayRef> = totals
                .into_iter()
                .map(|total| Arc::new(UInt64Array::from(vec![total])) as ArrayRef)
                .chain(std::iter::once(attempt::column(&id, 1)))
                .collect();
            Ok(RecordBatch::try_new(answer, columns)?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            schema,
            futures::stream::once(run).boxed(),
        )))
    }
}

/// `reader` with its [`FedExec`] leaf replaced by the batches of `receiver`.
fn fed_by(
    reader: Arc<dyn ExecutionPlan>,
    receiver: mpsc::Receiver<Fed>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut receiver = Some(receiver);
    reader
        .transform_up(|node| {
            let Some(fed) = node.downcast_ref::<FedExec>() else {
                return Ok(Transformed::no(node));
            };
            let receiver = receiver.take().ok_or_else(|| {
                DataFusionError::Internal("a reader of FeedExec reads the fed rows once".into())
            })?;
            Ok(Transformed::yes(Arc::new(FedExec {
                schema: Arc::clone(&fed.schema),
                queue: Mutex::new(Some(receiver)),
                properties: Arc::clone(&fed.properties),
            }) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
}

/// Runs the `writes` while feeding them the batches of `input`, one queue
/// each (`senders`); returns the rows fed and each write's count. A write
/// that ends early (it read what it needed) is fed no more. A failure of
/// `input` is handed to the writes too, so that none of them takes what it
/// read for the whole, and is returned before any failure of theirs.
async fn feed(
    mut input: SendableRecordBatchStream,
    mut senders: Vec<mpsc::Sender<Fed>>,
    writes: Vec<SendableRecordBatchStream>,
) -> Result<Vec<u64>> {
    let mut running = JoinSet::new();
    for (i, write) in writes.into_iter().enumerate() {
        running.spawn(async move {
            let batches: Vec<RecordBatch> = write.try_collect().await?;
            Ok::<_, DataFusionError>((i, ParallelSinkExec::total(&batches)))
        });
    }
    let mut fed = 0u64;
    let mut failure = None;
    while let Some(batch) = input.next().await {
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                let text = e.to_string();
                for sender in &mut senders {
                    let _ = sender
                        .send(Err(DataFusionError::Execution(text.clone())))
                        .await;
                }
                failure = Some(e);
                break;
            }
        };
        fed += batch.num_rows() as u64;
        let mut open = Vec::with_capacity(senders.len());
        for mut sender in senders {
            if sender.send(Ok(batch.clone())).await.is_ok() {
                open.push(sender);
            }
        }
        senders = open;
        if senders.is_empty() {
            break;
        }
    }
    // The writes' inputs end here.
    drop(senders);
    let mut totals = vec![0; running.len() + 1];
    totals[0] = fed;
    while let Some(joined) = running.join_next().await {
        let written = joined.map_err(|e| DataFusionError::External(Box::new(e)));
        match written.and_then(|w| w) {
            Ok((i, count)) => totals[i + 1] = count,
            Err(e) => {
                failure.get_or_insert(e);
                running.abort_all();
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(totals),
    }
}

/// Where a reader of [`FeedExec`] reads the rows fed: planned like a table
/// of one partition, it only runs inside a `FeedExec`'s task, which gives
/// it the queue of the batches fed to its reader.
#[derive(Debug)]
pub struct FedExec {
    schema: SchemaRef,
    /// The task's queue, taken by the one execution; none where planned.
    queue: Mutex<Option<mpsc::Receiver<Fed>>>,
    properties: Arc<PlanProperties>,
}

impl FedExec {
    /// The rows fed, of `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        FedExec {
            schema,
            queue: Mutex::new(None),
            properties,
        }
    }
}

impl DisplayAs for FedExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "FedExec")
    }
}

impl ExecutionPlan for FedExec {
    fn name(&self) -> &str {
        "FedExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal("FedExec has no children".into()))
        }
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let taken = self.queue.lock().ok().and_then(|mut queue| queue.take());
        match (partition, taken) {
            (0, Some(receiver)) => Ok(Box::pin(RecordBatchStreamAdapter::new(
                Arc::clone(&self.schema),
                receiver,
            ))),
            (0, None) => Err(DataFusionError::Internal(
                "FedExec runs once, as a reader of FeedExec".into(),
            )),
            _ => Err(DataFusionError::Internal(format!(
                "FedExec has one partition, not {partition}"
            ))),
        }
    }
}

mod table;
#[cfg(test)]
mod tests;

pub use table::FedTable;
