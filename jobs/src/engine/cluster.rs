//! Running the same plans on a dfstore cluster (`--scheduler df://HOST:PORT`).
//!
//! The client plans every statement exactly as the embedded engine does: same
//! SQL, same table providers, same optimizer. A physical plan that touches
//! the lake (scans files or writes them) is then sent whole to the Ballista
//! scheduler, which splits it into stages at its shuffles and runs the tasks
//! on the executors; only the result (rows of a query, or the row count of a
//! write) comes back. Scans, joins, aggregations and the Parquet writes all
//! happen on the executors. The client keeps what needs a single writer:
//! reading the Delta log to list a version's files, and committing the files
//! the executors wrote (see `delta.rs`).
//!
//! Plans that read no file (`information_schema`, constants, statistics-only
//! answers) stay in the client.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ballista_core::config::BallistaConfig;
use ballista_core::execution_plans::execute_physical_plan;
use ballista_core::extension::SessionConfigExt;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::physical_planner::{DefaultPhysicalPlanner, PhysicalPlanner};
use datafusion::prelude::SessionConfig;
use datafusion_proto::protobuf::PhysicalPlanNode;
use dfstore_core::parallel_sink::count_schema;
use dfstore_core::{FeedExec, LakeCodec, ParallelSinkExec, attempt};
use futures::{StreamExt, TryStreamExt};

/// The scheduler of a cluster, as given to `--scheduler`: `df://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduler {
    host: String,
    port: u16,
}

impl Scheduler {
    /// The scheduler's gRPC endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }
}

impl fmt::Display for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "df://{}:{}", self.host, self.port)
    }
}

impl FromStr for Scheduler {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = || {
            format!(
                "`{text}` is not a scheduler address; use df://HOST:PORT, e.g. df://localhost:50050"
            )
        };
        let rest = text.strip_prefix("df://").ok_or_else(usage)?;
        let (host, port) = rest
            .trim_end_matches('/')
            .rsplit_once(':')
            .ok_or_else(usage)?;
        let port: u16 = port.parse().map_err(|_| usage())?;
        if host.is_empty() || port == 0 {
            return Err(usage());
        }
        Ok(Scheduler {
            host: host.to_string(),
            port,
        })
    }
}

/// The session configuration for planning cluster jobs: Ballista's settings
/// (no round-robin repartitions, no dynamic filters or scalar-subquery
/// operators that cannot cross stage boundaries), with hash joins kept: the
/// job SQL puts the small side of each join first, and DataFusion's
/// partitioned hash join splits the large ones across tasks.
pub fn cluster_config(config: SessionConfig) -> SessionConfig {
    config
        .upgrade_for_ballista()
        .with_ballista_physical_extension_codec(Arc::new(LakeCodec::default()))
        .with_ballista_override_create_grpc_client_endpoint(dfstore_core::node::bounded_endpoint())
        .set_bool("datafusion.optimizer.prefer_hash_join", true)
}

/// The query planner of a cluster session.
#[derive(Debug)]
pub struct ClusterPlanner {
    scheduler: Scheduler,
    session_id: String,
    partition_bytes: u64,
    job_timeout: Option<Duration>,
}

impl ClusterPlanner {
    /// Plans for `scheduler`, all jobs in one Ballista session, with a
    /// partition for every `partition_bytes` of files a plan reads (and
    /// never fewer than the session's target partitions), each job
    /// bounded by `job_timeout` (see [`watchdog`]).
    pub fn new(scheduler: Scheduler, partition_bytes: u64, job_timeout: Option<Duration>) -> Self {
        ClusterPlanner {
            scheduler,
            session_id: uuid::Uuid::now_v7().to_string(),
            partition_bytes: partition_bytes.max(1),
            job_timeout,
        }
    }

    /// `plan` again with as many partitions as its input asks for, and the
    /// configuration it was planned with. An executor holds a shuffle's
    /// partition whole while it reads it (Ballista reads each block it
    /// fetches into memory), so the partitions of a plan must grow with
    /// the data for an executor to stay near its pool: Spark's advisory
    /// partition size, taken on the files a plan scans, before it runs.
    async fn sized(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> DfResult<(Arc<dyn ExecutionPlan>, SessionConfig)> {
        let config = session_state.config().clone();
        // A plan without a shuffle streams its files through: more
        // partitions would only mean more tasks and more, smaller files.
        if !shuffles(&plan) {
            return Ok((plan, config));
        }
        let least = config.target_partitions();
        let wanted = partitions_for(scanned_bytes(&plan), self.partition_bytes, least);
        let Some(state) = session_state.as_any().downcast_ref::<SessionState>() else {
            return Ok((plan, config));
        };
        if wanted <= least {
            return Ok((plan, config));
        }
        let mut state = state.clone();
        state.config_mut().options_mut().execution.target_partitions = wanted;
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, &state)
            .await?;
        Ok((plan, state.config().clone()))
    }
}

/// Most partitions a plan is given, whatever it reads.
const MAX_PARTITIONS: usize = 512;

/// Partitions for a plan reading `bytes`: one per `per_partition` bytes,
/// at least `least`, at most [`MAX_PARTITIONS`] (or `least`, if larger).
pub fn partitions_for(bytes: u64, per_partition: u64, least: usize) -> usize {
    let wanted = bytes.div_ceil(per_partition.max(1));
    let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
    wanted.min(MAX_PARTITIONS).max(least.max(1))
}

/// Whether `plan` repartitions rows by hash: a shuffle between stages.
fn shuffles(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let hashes = plan
        .downcast_ref::<RepartitionExec>()
        .is_some_and(|r| matches!(r.partitioning(), Partitioning::Hash(..)));
    hashes || plan.children().into_iter().any(shuffles)
}

/// Bytes of the files the scans of `plan` read, each file counted once
/// however many scans read it (a plan may scan a table more than once,
/// e.g. to find its repeated keys, but each scan reads only some columns).
fn scanned_bytes(plan: &Arc<dyn ExecutionPlan>) -> u64 {
    let mut files = HashMap::new();
    scanned_files(plan, &mut files);
    files.values().sum()
}

fn scanned_files(plan: &Arc<dyn ExecutionPlan>, files: &mut HashMap<String, u64>) {
    let scan = plan
        .downcast_ref::<DataSourceExec>()
        .and_then(|s| s.data_source().downcast_ref::<FileScanConfig>());
    for file in scan
        .iter()
        .flat_map(|s| &s.file_groups)
        .flat_map(|g| g.files())
    {
        files.insert(file.object_meta.location.to_string(), file.object_meta.size);
    }
    for child in plan.children() {
        scanned_files(child, files);
    }
}

#[async_trait]
impl QueryPlanner for ClusterPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let plan = DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session_state)
            .await?;
        let local = matches!(logical_plan, LogicalPlan::Explain(_)) || !touches_files(&plan);
        if local {
            return Ok(plan);
        }
        let plan = empty_inputs::without_empty_union_inputs(plan)?;
        let (plan, config) = self.sized(plan, logical_plan, session_state).await?;
        let (plan, config) = if config.get_extension::<OneTask>().is_some() {
            (one_task(plan)?, one_task_config(config))
        } else {
            (plan, config)
        };
        // Each task writes the files of the partition it computed.
        let plan = ParallelSinkExec::rewrite(plan)?;
        Ok(Arc::new(ClusterExec::new(
            plan,
            self.scheduler.clone(),
            self.session_id.clone(),
            config,
            self.job_timeout,
        )))
    }
}

/// Whether a plan reads or writes files of a lake.
fn touches_files(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let scans = plan
        .downcast_ref::<DataSourceExec>()
        .is_some_and(|s| s.data_source().is::<FileScanConfig>());
    scans || plan.is::<DataSinkExec>() || plan.children().into_iter().any(touches_files)
}

/// The writes whose task attempts a job commits: a parallel write's sink,
/// a feed's readers' sinks; none for a query.
fn committed_sinks(plan: &Arc<dyn ExecutionPlan>) -> Option<Vec<Arc<dyn ExecutionPlan>>> {
    if let Some(write) = plan.downcast_ref::<ParallelSinkExec>() {
        Some(vec![Arc::clone(write.template())])
    } else {
        plan.downcast_ref::<FeedExec>()
            .map(|feed| feed.readers().to_vec())
    }
}

/// Commits the attempts a finished write job answered into each folder it
/// wrote (see [`dfstore_core::attempt`]), and returns its answer: for a
/// parallel write the sum of the counts, as for any write.
async fn commit(
    plan: &Arc<dyn ExecutionPlan>,
    sinks: &[Arc<dyn ExecutionPlan>],
    batches: Vec<RecordBatch>,
    context: &TaskContext,
) -> DfResult<Vec<RecordBatch>> {
    let attempts = attempt::answered(&batches);
    for sink in sinks {
        attempt::record(sink, &attempts, context).await?;
    }
    if plan.is::<ParallelSinkExec>() {
        Ok(vec![ParallelSinkExec::count_batch(
            ParallelSinkExec::total(&batches),
        )?])
    } else {
        Ok(batches)
    }
}

/// A physical plan run by the cluster; its single output partition streams
/// the plan's result back from the scheduler.
#[derive(Debug)]
pub struct ClusterExec {
    plan: Arc<dyn ExecutionPlan>,
    scheduler: Scheduler,
    session_id: String,
    config: SessionConfig,
    job_timeout: Option<Duration>,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl ClusterExec {
    fn new(
        plan: Arc<dyn ExecutionPlan>,
        scheduler: Scheduler,
        session_id: String,
        config: SessionConfig,
        job_timeout: Option<Duration>,
    ) -> Self {
        // A parallel write answers the statement's count, not its tasks'.
        let schema = if plan.is::<ParallelSinkExec>() {
            count_schema()
        } else {
            plan.schema()
        };
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(1),
            EmissionType::Final,
            Boundedness::Bounded,
        ));
        ClusterExec {
            plan,
            scheduler,
            session_id,
            config,
            job_timeout,
            schema,
            properties,
        }
    }
}

impl DisplayAs for ClusterExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ClusterExec: scheduler={}", self.scheduler)
    }
}

impl ExecutionPlan for ClusterExec {
    fn name(&self) -> &str {
        "ClusterExec"
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.plan]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(plan) if children.is_empty() => Ok(Arc::new(ClusterExec::new(
                plan,
                self.scheduler.clone(),
                self.session_id.clone(),
                self.config.clone(),
                self.job_timeout,
            ))),
            _ => Err(DataFusionError::Internal(
                "ClusterExec has exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(format!(
                "ClusterExec has one partition, not {partition}"
            )));
        }
        let name = watchdog::job_name();
        let submit = {
            let plan = Arc::clone(&self.plan);
            let scheduler = self.scheduler.clone();
            let session_id = self.session_id.clone();
            let config = self.config.clone().set_str(watchdog::JOB_NAME, &name);
            move || {
                let plan = Arc::clone(&plan);
                let scheduler = scheduler.clone();
                let session_id = session_id.clone();
                let config = config.clone();
                async move {
                    let ballista: BallistaConfig = config.ballista_config();
                    let codec = config.ballista_physical_extension_codec();
                    execute_physical_plan::<PhysicalPlanNode>(
                        scheduler.endpoint(),
                        &ballista,
                        plan,
                        codec.as_ref(),
                        session_id,
                        config,
                    )
                    .await
                }
            }
        };
        // Errors of the submission and of the result stream alike.
        let scheduler = self.scheduler.clone();
        let limit = self.job_timeout;
        let stream = match committed_sinks(&self.plan) {
            // A write job that lost an executor, failing or not, is
            // submitted again: the attempts of its answer are never
            // committed, so the files they wrote are never read.
            Some(sinks) => {
                let plan = Arc::clone(&self.plan);
                let scheduler = scheduler.clone();
                futures::stream::once(async move {
                    let job = resubmitted(&scheduler, || async {
                        let up = executors::up(&scheduler).await?;
                        let answer: Vec<RecordBatch> = submit().await?.try_collect().await?;
                        match executors::lost_since(&scheduler, &up).await? {
                            Some(lost) => Err(lost),
                            None => commit(&plan, &sinks, answer, &context).await,
                        }
                    });
                    watchdog::bounded(&scheduler, &name, limit, job).await
                })
                .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
                .try_flatten()
                .boxed()
            }
            // A query is submitted again if it lost an executor before its
            // first batch came back (a count, a small answer); after that,
            // the failure is the query's.
            None => {
                let scheduler = scheduler.clone();
                futures::stream::once(async move {
                    let job = resubmitted(&scheduler, || async {
                        let mut answer = submit().await?;
                        let first = answer.next().await.transpose()?;
                        Ok(futures::stream::iter(first.map(Ok)).chain(answer))
                    });
                    watchdog::bounded(&scheduler, &name, limit, job).await
                })
                .try_flatten()
                .boxed()
            }
        };
        let stream = stream
            .or_else(move |e| {
                let scheduler = scheduler.clone();
                async move { Err(cluster_failure(&scheduler, e).await) }
            })
            .boxed();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}

mod empty_inputs;
mod executors;
mod failure;
mod feed;
mod one_task;
mod rest;
#[cfg(test)]
mod tests;
mod watchdog;

use failure::{cluster_failure, resubmitted};
pub use feed::{fed_write, feed};
pub use one_task::OneTask;
use one_task::{one_task, one_task_config};
