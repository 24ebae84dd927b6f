//! The physical-plan codec of every dfstore node: Ballista's (shuffles and
//! its other stage operators) plus the nodes dfstore adds, [`ParallelSinkExec`],
//! [`FeedExec`] and [`FedExec`]. The client, the scheduler and the executors
//! must all use it.
//!
//! A dfstore node is a tag and then the plans it carries that are not its
//! children (a sink's template, a feed's readers), each encoded by
//! DataFusion's own protobuf codec, so anything DataFusion can serialise can
//! be carried. Ballista's own nodes are protobuf messages, which never start
//! with a tag.

use std::sync::Arc;

use ballista_core::serde::BallistaPhysicalExtensionCodec;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion_proto::physical_plan::{
    AsExecutionPlan, PhysicalExtensionCodec, PhysicalProtoConverterExtension,
};
use datafusion_proto::protobuf::PhysicalPlanNode;
use prost::Message;

use crate::feed::{FedExec, FeedExec};
use crate::parallel_sink::ParallelSinkExec;

const PARALLEL_SINK_TAG: &[u8] = b"dfstore.ParallelSinkExec\0";
const FEED_TAG: &[u8] = b"dfstore.FeedExec\0";
const FED_TAG: &[u8] = b"dfstore.FedExec\0";

/// The codec of dfstore's plans: see the module.
#[derive(Debug, Default)]
pub struct LakeCodec {
    ballista: BallistaPhysicalExtensionCodec,
}

impl LakeCodec {
    fn encode_plan(&self, plan: &Arc<dyn ExecutionPlan>, buf: &mut Vec<u8>) -> Result<()> {
        PhysicalPlanNode::try_from_physical_plan(Arc::clone(plan), self)?
            .encode(buf)
            .map_err(|e| DataFusionError::Internal(format!("encoding {}: {e}", plan.name())))
    }

    fn decode_plan(&self, buf: &[u8], ctx: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
        PhysicalPlanNode::decode(buf)
            .map_err(|e| DataFusionError::Internal(format!("decoding a dfstore node: {e}")))?
            .try_into_physical_plan(ctx, self)
    }

    /// The plans of a feed's readers, each its length and its bytes.
    fn decode_readers(
        &self,
        mut buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Vec<Arc<dyn ExecutionPlan>>> {
        let mut readers = Vec::new();
        while !buf.is_empty() {
            let truncated = || DataFusionError::Internal("FeedExec: a reader is cut short".into());
            let (length, rest) = buf.split_first_chunk::<8>().ok_or_else(truncated)?;
            let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|_| truncated())?;
            if rest.len() < length {
                return Err(truncated());
            }
            let (reader, rest) = rest.split_at(length);
            readers.push(self.decode_plan(reader, ctx)?);
            buf = rest;
        }
        Ok(readers)
    }
}

/// The one input of a node, or an error naming it.
fn one_input(node: &str, inputs: &[Arc<dyn ExecutionPlan>]) -> Result<Arc<dyn ExecutionPlan>> {
    match inputs {
        [input] => Ok(Arc::clone(input)),
        _ => Err(DataFusionError::Internal(format!(
            "{node} has one input, got {}",
            inputs.len()
        ))),
    }
}

impl PhysicalExtensionCodec for LakeCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if let Some(template) = buf.strip_prefix(PARALLEL_SINK_TAG) {
            let input = one_input("ParallelSinkExec", inputs)?;
            let template = self.decode_plan(template, ctx)?;
            if !template.is::<DataSinkExec>() {
                return Err(DataFusionError::Internal(
                    "ParallelSinkExec sink is not a DataSinkExec".into(),
                ));
            }
            return Ok(Arc::new(ParallelSinkExec::new(input, template)));
        }
        if let Some(readers) = buf.strip_prefix(FEED_TAG) {
            let input = one_input("FeedExec", inputs)?;
            let readers = self.decode_readers(readers, ctx)?;
            return Ok(Arc::new(FeedExec::try_new(input, readers)?));
        }
        if let Some(empty) = buf.strip_prefix(FED_TAG) {
            let schema = self.decode_plan(empty, ctx)?.schema();
            return Ok(Arc::new(FedExec::new(schema)));
        }
        self.ballista.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(parallel) = node.downcast_ref::<ParallelSinkExec>() {
            buf.extend_from_slice(PARALLEL_SINK_TAG);
            return self.encode_plan(parallel.template(), buf);
        }
        if let Some(feed) = node.downcast_ref::<FeedExec>() {
            buf.extend_from_slice(FEED_TAG);
            for reader in feed.readers() {
                let mut bytes = Vec::new();
                self.encode_plan(reader, &mut bytes)?;
                buf.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                buf.extend_from_slice(&bytes);
            }
            return Ok(());
        }
        if node.is::<FedExec>() {
            buf.extend_from_slice(FED_TAG);
            let empty: Arc<dyn ExecutionPlan> = Arc::new(EmptyExec::new(node.schema()));
            return self.encode_plan(&empty, buf);
        }
        self.ballista.try_encode(node, buf, proto_converter)
    }
}
