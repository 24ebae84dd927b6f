//! Writing a plan's rows with one sink call per input partition.
//!
//! DataFusion's `DataSinkExec` takes a single input partition: in one process
//! that is cheap (the partitions are merged in memory and the Parquet sink
//! serialises files on several threads), but on a cluster the merge is a stage
//! boundary, so every row of a model would cross one more shuffle and be
//! written by a single task. [`ParallelSinkExec`] instead runs the same sink
//! once for each input partition, in the task that computed that partition:
//! each call writes its own files, under a folder of its own attempt
//! (see [`crate::attempt`]), with the same Hive partitioning. The result is
//! one row per partition: the rows that partition wrote and its attempt,
//! which the client commits once the job has succeeded.
//!
//! The sink travels to the executors inside a template `DataSinkExec` whose
//! input is an empty placeholder, encoded by DataFusion's own protobuf codec
//! ([`crate::LakeCodec`]), so any sink DataFusion can serialise can be written
//! this way.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties,
    Partitioning, PlanProperties, ReplaceChildrenOptions, execute_input_stream,
};
use futures::StreamExt;

use crate::attempt;

/// Writes each input partition with its own call of a `DataSinkExec`'s sink.
#[derive(Debug)]
pub struct ParallelSinkExec {
    input: Arc<dyn ExecutionPlan>,
    /// A `DataSinkExec` whose input is a placeholder: the sink and its schema.
    template: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl ParallelSinkExec {
    /// Rewrites `plan` when it is a `DataSinkExec` with no required order:
    /// a merge of partitions under it is dropped and each partition is
    /// written where it is computed, by an attempt of its own. Any other plan
    /// is returned unchanged.
    pub fn rewrite(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(sink) = plan.downcast_ref::<DataSinkExec>() else {
            return Ok(plan);
        };
        if sink.sort_order().is_some() {
            return Ok(plan);
        }
        let input = match sink.input().downcast_ref::<CoalescePartitionsExec>() {
            Some(merge) => Arc::clone(merge.input()),
            None => Arc::clone(sink.input()),
        };
        let placeholder: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(input.schema()));
        let template = Arc::clone(&plan).replace_children(
            vec![placeholder],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        Ok(Arc::new(Self::new(input, template)))
    }

    pub(crate) fn new(input: Arc<dyn ExecutionPlan>, template: Arc<dyn ExecutionPlan>) -> Self {
        let partitions = input.output_partitioning().partition_count();
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(answer_schema()),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        ParallelSinkExec {
            input,
            template,
            properties,
        }
    }

    /// The `DataSinkExec` each partition's write calls.
    pub fn template(&self) -> &Arc<dyn ExecutionPlan> {
        &self.template
    }

    /// The write as one `DataSinkExec` over this node's input, for a caller
    /// that runs it in one partition itself (a feed's reader).
    pub fn as_sink(&self) -> Result<Arc<dyn ExecutionPlan>> {
        Arc::clone(&self.template).replace_children(
            vec![Arc::clone(&self.input)],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    /// Adds up the per-partition counts of a finished write.
    pub fn total(batches: &[RecordBatch]) -> u64 {
        batches
            .iter()
            .filter_map(|b| b.column(0).as_any().downcast_ref::<UInt64Array>())
            .flat_map(|counts| counts.iter().flatten())
            .sum()
    }

    /// One row with `count`, the shape of every write's result.
    pub fn count_batch(count: u64) -> Result<RecordBatch> {
        let column: ArrayRef = Arc::new(UInt64Array::from(vec![count]));
        Ok(RecordBatch::try_new(count_schema(), vec![column])?)
    }
}

/// The answer of a write statement: the rows written.
pub fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// The answer of each partition's write: its rows and its attempt.
fn answer_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("count", DataType::UInt64, false),
        Field::new(attempt::ATTEMPT_COLUMN, DataType::Utf8, false),
    ]))
}

impl DisplayAs for ParallelSinkExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ParallelSinkExec: ")?;
        self.template.fmt_as(t, f)
    }
}

impl ExecutionPlan for ParallelSinkExec {
    fn name(&self) -> &str {
        "ParallelSinkExec"
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
                Ok(Arc::new(Self::new(input, Arc::clone(&self.template))))
            }
            _ => Err(DataFusionError::Internal(
                "ParallelSinkExec has exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let id = attempt::new_id();
        let template = attempt::retarget(&self.template, &id)?;
        let sink_schema = template
            .downcast_ref::<DataSinkExec>()
            .map(|s| Arc::clone(s.sink().schema()))
            .ok_or_else(|| DataFusionError::Internal("ParallelSinkExec without a sink".into()))?;
        let data = execute_input_stream(
            Arc::clone(&self.input),
            sink_schema,
            partition,
            Arc::clone(&context),
        )?;
        let write = async move {
            let sink = template
                .downcast_ref::<DataSinkExec>()
                .ok_or_else(|| DataFusionError::Internal("ParallelSinkExec without a sink".into()))?
                .sink();
            let count = sink.write_all(data, &context).await?;
            let count: ArrayRef = Arc::new(UInt64Array::from(vec![count]));
            Ok(RecordBatch::try_new(
                answer_schema(),
                vec![count, attempt::column(&id, 1)],
            )?)
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            answer_schema(),
            futures::stream::once(write).boxed(),
        )))
    }
}
