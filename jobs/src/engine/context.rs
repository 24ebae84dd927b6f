//! The query engine: a DataFusion session configured for a lake (object store,
//! memory limit, Parquet settings, the `pii_hash` function) with one SQL
//! schema per layer, so jobs name tables `raw.ventas`, `trusted.ventas`, …

use std::sync::Arc;
use std::time::Duration;

use datafusion::catalog::{MemorySchemaProvider, SchemaProvider};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::object_store::ObjectStoreRegistry;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

use dfstore_core::registry::LakeOptions;
use dfstore_core::{LakeStoreRegistry, key_count};

use crate::contract::layer::Layer;
use crate::engine::cluster::{self, ClusterPlanner, Scheduler};
use crate::error::{Error, Result};
use crate::lake::Lake;
use dfstore_core::pii::PiiKey;

/// Settings of the embedded engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// Parallelism (partitions per plan); defaults to the number of cores.
    pub target_partitions: usize,
    /// Memory the engine may hold before spilling to disk, in bytes.
    pub memory_limit: u64,
    /// The cluster that runs the plans; `None` runs them in-process.
    pub scheduler: Option<Scheduler>,
    /// On a cluster, bytes of input files per partition: a plan that reads
    /// more gets more partitions than `target_partitions`.
    pub partition_bytes: u64,
    /// On a cluster, the longest one job may run (`None`: no limit).
    pub job_timeout: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            target_partitions: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            scheduler: None,
            partition_bytes: DEFAULT_PARTITION_BYTES,
            job_timeout: Some(DEFAULT_JOB_TIMEOUT),
        }
    }
}

/// Default memory pool: 1 GiB. A scale-10 run then peaks near 1.3 GiB of
/// resident memory in as much time as with 2 GiB (its aggregations spill a
/// little more); 768 MiB saves 0.2 GiB more but takes 10% longer.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// Input per partition of a plan that shuffles on a cluster: 64 MiB of
/// Parquet files, Spark's advisory partition size. At scale 100 it kept
/// the executors at 1.4 GiB on 1 GiB pools (2 partitions per plan: 7.3
/// GiB); 32 MiB made more tasks and more open files in `staging.ventas`
/// and peaked at 2.4 GiB.
pub const DEFAULT_PARTITION_BYTES: u64 = 64 << 20;

/// The longest one cluster job may run: 30 minutes, far above any job of a
/// scale-100 run (the whole run takes minutes), and short enough that a
/// stalled job and a retry of it fit in the EMR step's default 2 h.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Rows after which a written file is closed and the next one started
/// (`execution.soft_max_rows_per_output_file`): two row groups.
const FILE_ROWS: usize = 2 * 128 * 1024;

/// Parses a size the way `bytesize` does: `2GiB` and `512MiB` are powers
/// of 1024, `2GB`, `2G` and `512MB` powers of 1000, `1073741824` bytes.
pub fn parse_memory(text: &str) -> std::result::Result<u64, String> {
    let size: bytesize::ByteSize = text.trim().parse().map_err(|_| {
        format!("`{text}` is not a size; use e.g. 512MiB or 2GiB (KiB, MiB, GiB: powers of 1024; KB, MB, GB: of 1000)")
    })?;
    match size.as_u64() {
        0 => Err(format!("`{text}` must be positive")),
        bytes => Ok(bytes),
    }
}

/// Runs `sql` in `ctx` and collects its rows; an error says it was `what`.
pub async fn collect(
    ctx: &SessionContext,
    sql: &str,
    what: &str,
) -> Result<Vec<arrow::array::RecordBatch>> {
    ctx.sql(sql)
        .await
        .map_err(|e| Error::engine(what, e))?
        .collect()
        .await
        .map_err(|e| Error::engine(what, e))
}

/// Where a session's plans run; kept in the session's configuration so
/// that what writes a plan's output can tell without being told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// In this process.
    Embedded,
    /// On the cluster of this scheduler.
    Cluster(Scheduler),
}

/// Where the plans of `ctx` run.
pub fn placement(ctx: &SessionContext) -> Placement {
    ctx.copied_config()
        .get_extension::<Placement>()
        .map_or(Placement::Embedded, |p| p.as_ref().clone())
}

/// A DataFusion session over `lake`, with the layer schemas registered
/// (empty) and, when a key is given, the `pii_hash` function.
pub fn session(lake: &Lake, config: &EngineConfig, pii: Option<&PiiKey>) -> Result<SessionContext> {
    // Any DataFusion option can be tuned from the environment, as
    // `DATAFUSION_<SECTION>_<KEY>` (e.g. DATAFUSION_EXECUTION_BATCH_SIZE);
    // dfstore's own defaults below apply only where none is set.
    let mut session_config = SessionConfig::from_env()
        .map_err(|e| Error::engine("reading DATAFUSION_* settings from the environment", e))?
        .with_target_partitions(config.target_partitions.max(1))
        .with_information_schema(true);
    let options = session_config.options_mut();
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_COMPRESSION").is_none() {
        // Zstd level 1: close to Snappy's speed with markedly smaller files.
        options.execution.parquet.compression = Some("zstd(1)".into());
    }
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_DICTIONARY_PAGE_SIZE_LIMIT").is_none() {
        // A column of distinct values (keys, timestamps, amounts) gives up
        // on its dictionary after 256 KiB instead of hashing 1 MiB of it
        // in every row group first; columns of few values keep theirs.
        // Writing is a third of a run's CPU, and this is a fifth of it.
        options.execution.parquet.dictionary_page_size_limit = 256 * 1024;
    }
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_PUSHDOWN_FILTERS").is_none() {
        // Filters evaluated while decoding, so that the rows they drop are
        // never materialised: trusted and rejected each keep part of
        // staging, and the report reads only the months it covers.
        options.execution.parquet.pushdown_filters = true;
    }
    if std::env::var_os("DATAFUSION_EXECUTION_PARQUET_MAX_ROW_GROUP_SIZE").is_none() {
        // Every open file buffers one row group until it is flushed, and a
        // run writes one file per month at once: 128 Ki rows keeps that
        // buffer small at scale 10 while staying large enough to scan fast.
        options.execution.parquet.max_row_group_size = 128 * 1024;
    }
    if std::env::var_os("DATAFUSION_EXECUTION_SOFT_MAX_ROWS_PER_OUTPUT_FILE").is_none()
        && let Ok(rows) = datafusion::config::ConfigNonZeroUsize::try_new(FILE_ROWS)
    {
        // A merge by key rewrites the files that hold a changed key: files of
        // at most two row groups keep what a night rewrites close to what it
        // changed, where one file a month would be rewritten whole.
        options.execution.soft_max_rows_per_output_file = rows;
    }
    let registry = LakeStoreRegistry::new(lake.s3_settings().clone());
    registry.register_store(&lake.url().store_url(), Arc::clone(lake.store()));
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(config.memory_limit as usize)))
        .with_object_store_registry(Arc::new(registry))
        .build_arc()
        .map_err(|e| Error::engine("starting the engine", e))?;
    let ctx = match &config.scheduler {
        None => SessionContext::new_with_config_rt(session_config, runtime),
        Some(scheduler) => {
            let options = LakeOptions::from_settings(lake.s3_settings());
            let cluster_config = cluster::cluster_config(session_config)
                .with_option_extension(options)
                .with_extension(Arc::new(Placement::Cluster(scheduler.clone())));
            let state = SessionStateBuilder::new()
                .with_config(cluster_config)
                .with_runtime_env(runtime)
                .with_default_features()
                .with_query_planner(Arc::new(ClusterPlanner::new(
                    scheduler.clone(),
                    config.partition_bytes,
                    config.job_timeout,
                )))
                .build();
            SessionContext::new_with_state(state)
        }
    };
    register_layers(&ctx)?;
    if let Some(key) = pii {
        ctx.register_udf(key.udf());
    }
    ctx.register_udaf(key_count::udaf());
    Ok(ctx)
}

/// Gives `ctx` one SQL schema per layer of the lake.
pub fn register_layers(ctx: &SessionContext) -> Result<()> {
    let catalog = ctx.catalog("datafusion").ok_or_else(|| Error::Internal {
        what: "the default catalog is missing".into(),
    })?;
    for layer in Layer::ALL {
        let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
        catalog
            .register_schema(layer.name(), schema)
            .map_err(|e| Error::engine("registering the layer schemas", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse() {
        assert_eq!(parse_memory("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_memory("512mib").unwrap(), 512 << 20);
        assert_eq!(parse_memory("1.5 GiB").unwrap(), 3 << 29);
        assert_eq!(parse_memory("2G").unwrap(), 2_000_000_000);
        assert_eq!(parse_memory("64MB").unwrap(), 64_000_000);
        assert_eq!(parse_memory("1073741824").unwrap(), 1 << 30);
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("0").is_err());
    }
}
