//! `dfstore-executor`: a worker of a dfstore cluster.
//!
//! A Ballista 55 executor (Arrow Flight for shuffle data, gRPC to the
//! scheduler, health probes on `--bind-health-port`: `/healthz`, `/readyz`),
//! configured with what every dfstore node needs: the object stores for
//! `file://` and `s3://` lakes ([`LakeStoreRegistry`], credentials from this
//! executor's own AWS environment or instance profile), spill files under
//! `--work-dir`, a memory pool (`--memory-pool-size`), and `pii_hash` with
//! the key from `DFSTORE_PII_KEY_FILE` or `DFSTORE_PII_KEY`, and the codec of
//! dfstore's plan nodes ([`LakeCodec`]: each task writes the Parquet files of
//! its own partition). Flags are Ballista's (`dfstore-executor --help`).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_executor::config::Config;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_executor::health::spawn_health_server;
use clap::{CommandFactory, FromArgMatches};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use dfstore_core::registry::LakeOptions;
use dfstore_core::{LakeCodec, LakeStoreRegistry, logging, pii};

#[tokio::main]
async fn main() -> ballista_core::error::Result<()> {
    let matches = Config::command()
        .name("dfstore-executor")
        .bin_name("dfstore-executor")
        .about("A worker of a dfstore cluster: Ballista 55 with the object stores of dfstore lakes (file://, and s3:// with credentials from this process's AWS environment or instance profile) and pii_hash (key from DFSTORE_PII_KEY_FILE or DFSTORE_PII_KEY).")
        .get_matches();
    let opt = Config::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let health_addr: SocketAddr = format!("{}:{}", opt.bind_host, opt.bind_health_port)
        .parse()
        .map_err(|e| BallistaError::General(format!("--bind-health-port: {e}")))?;
    let mut config: ExecutorProcessConfig = opt.try_into()?;

    logging::init_node_logging(
        &config.special_mod_log_level,
        config.log_dir.as_deref(),
        &config.log_file_name_prefix(),
    )?;

    // Jobs carry the client's lake options (`dfstore.*`); each session's
    // stores are built with them, credentials from this process.
    config.override_config_producer = Some(Arc::new(|| {
        SessionConfig::new_with_ballista().with_option_extension(LakeOptions::default())
    }));
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
    config.override_function_registry = Some(Arc::new(functions));
    config.override_physical_codec = Some(Arc::new(LakeCodec::default()));

    let (stop_health, health_stopped) = tokio::sync::oneshot::channel();
    let health = spawn_health_server(health_addr, config.health.clone(), health_stopped);
    let result = start_executor_process(Arc::new(config)).await;
    let _ = stop_health.send(());
    if let Err(e) = health.await {
        tracing::warn!("health server stopped with an error: {e}");
    }
    result
}
