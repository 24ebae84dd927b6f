//! A Ballista 55 executor (Arrow Flight for shuffle data, gRPC to the
//! scheduler, health probes: `/healthz`, `/readyz`) configured with what
//! every dfstore node needs: the object stores for `file://` and `s3://`
//! lakes ([`LakeStoreRegistry`], credentials from this executor's own AWS
//! environment or instance profile), spill files under its work folder, a
//! memory pool, `pii_hash` with the key from `DFSTORE_PII_KEY_FILE` or
//! `DFSTORE_PII_KEY`, and the codec of dfstore's plan nodes ([`LakeCodec`]:
//! each task writes the Parquet files of its own partition).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::spawn_health_server;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use dfstore_core::node::bounded_endpoint;
use dfstore_core::registry::LakeOptions;
use dfstore_core::{LakeCodec, LakeStoreRegistry, key_count, pii};

/// Runs a dfstore executor configured by `config` (from Ballista's flags),
/// with its health probes on `health`, until it stops.
pub async fn start(
    mut config: ExecutorProcessConfig,
    health: SocketAddr,
) -> ballista_core::error::Result<()> {
    // Jobs carry the client's lake options (`dfstore.*`); each session's
    // stores are built with them, credentials from this process.
    // Shuffle fetches from other executors, and the scheduler's connection,
    // give up on a node that stopped answering.
    config.override_config_producer = Some(Arc::new(|| {
        SessionConfig::new_with_ballista()
            .with_option_extension(LakeOptions::default())
            .with_ballista_override_create_grpc_client_endpoint(bounded_endpoint())
    }));
    config.override_create_grpc_client_endpoint = Some(bounded_endpoint());
    let spill_dir = config.work_dir.clone();
    config.override_runtime_producer = Some(Arc::new(move |session: &SessionConfig| {
        let registry = LakeStoreRegistry::new(LakeOptions::settings_of(session));
        let mut runtime = RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(registry));
        if let Some(dir) = &spill_dir {
            runtime = runtime.with_temp_file_path(dir.clone());
        }
        Ok(Arc::new(runtime.build()?))
    }));
    let mut functions = BallistaFunctionRegistry::default();
    let udf = Arc::new(pii::node_udf());
    functions
        .scalar_functions
        .insert(udf.name().to_string(), udf);
    let udaf = Arc::new(key_count::udaf());
    functions
        .aggregate_functions
        .insert(udaf.name().to_string(), udaf);
    config.override_function_registry = Some(Arc::new(functions));
    config.override_physical_codec = Some(Arc::new(LakeCodec::default()));

    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let probes = spawn_health_server(health, config.health.clone(), health_stopped);
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    if let Err(e) = probes.await {
        tracing::warn!("health server stopped with an error: {e}");
    }
    result
}
