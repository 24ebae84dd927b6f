//! `dfstore-scheduler`: the scheduler of a dfstore cluster.
//!
//! A Ballista 55 scheduler (its own gRPC service, REST API and job state),
//! configured with what dfstore needs on every node: the object stores for
//! `file://` and `s3://` lakes ([`LakeStoreRegistry`], credentials from the
//! scheduler's own AWS environment), the `pii_hash` function and the codec of
//! dfstore's plan nodes ([`LakeCodec`]), so that the plans `dfstore` submits
//! decode and split into stages here. Flags are Ballista's
//! (`dfstore-scheduler --help`).

use std::net::SocketAddr;
use std::sync::Arc;

use ballista_core::error::BallistaError;
use ballista_core::extension::SessionConfigExt;
use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use clap::{CommandFactory, FromArgMatches};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::SessionConfig;
use dfstore_core::registry::LakeOptions;
use dfstore_core::{LakeCodec, LakeStoreRegistry, logging, pii};

/// The session every job is planned in on the scheduler.
fn session_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let registry = LakeStoreRegistry::new(LakeOptions::settings_of(&config));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(registry))
        .build_arc()?;
    let mut scalar = ballista_scalar_functions();
    scalar.push(Arc::new(pii::node_udf()));
    Ok(SessionStateBuilder::new()
        .with_runtime_env(runtime)
        .with_config(config)
        .with_default_features()
        .with_scalar_functions(scalar)
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

#[tokio::main]
async fn main() -> ballista_core::error::Result<()> {
    let matches = Config::command()
        .name("dfstore-scheduler")
        .bin_name("dfstore-scheduler")
        .about("The scheduler of a dfstore cluster: Ballista 55 with the object stores of dfstore lakes (file://, and s3:// with credentials from the AWS environment) and the pii_hash function. Clients submit with `dfstore run|sql --scheduler df://HOST:PORT`.")
        .get_matches();
    let opt = Config::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    logging::init_node_logging(
        &opt.log_level_setting,
        opt.log_dir.as_deref(),
        &format!("scheduler_{}", opt.bind_port),
    )?;

    let addr: SocketAddr = format!("{}:{}", opt.bind_host, opt.bind_port)
        .parse()
        .map_err(|e: std::net::AddrParseError| {
            BallistaError::Configuration(format!("--bind-host/--bind-port: {e}"))
        })?;
    let config: SchedulerConfig = opt.try_into()?;
    let config = config
        .with_override_config_producer(Arc::new(|| {
            SessionConfig::new_with_ballista().with_option_extension(LakeOptions::default())
        }))
        .with_override_session_builder(Arc::new(session_state));
    let config = SchedulerConfig {
        override_physical_codec: Some(Arc::new(LakeCodec::default())),
        ..config
    };
    let cluster = BallistaCluster::new_from_config(&config).await?;
    tracing::info!(%addr, "dfstore-scheduler listening");
    start_server(cluster, addr, Arc::new(config)).await
}
