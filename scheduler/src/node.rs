//! A Ballista 55 scheduler (its own gRPC service, REST API and job state)
//! configured with what dfstore needs on every node: the object stores for
//! `file://` and `s3://` lakes ([`LakeStoreRegistry`], credentials from the
//! scheduler's own AWS environment), the `pii_hash` function and the codec of
//! dfstore's plan nodes ([`LakeCodec`]), so that the plans `dfstore` submits
//! decode and split into stages here.

use std::sync::Arc;

use ballista_core::extension::SessionConfigExt;
use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{Config, SchedulerConfig};
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionState;
use datafusion::prelude::SessionConfig;

use dfstore_core::node::bind_address;
use dfstore_core::registry::LakeOptions;
use dfstore_core::{LakeCodec, LakeStoreRegistry, key_count, pii};

/// The session every job is planned in on the scheduler.
fn session_state(config: SessionConfig) -> datafusion::error::Result<SessionState> {
    let registry = LakeStoreRegistry::new(LakeOptions::settings_of(&config));
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(Arc::new(registry))
        .build_arc()?;
    let mut scalar = ballista_scalar_functions();
    scalar.push(Arc::new(pii::node_udf()));
    let mut aggregate = ballista_aggregate_functions();
    aggregate.push(Arc::new(key_count::udaf()));
    Ok(SessionStateBuilder::new()
        .with_runtime_env(runtime)
        .with_config(config)
        .with_default_features()
        .with_scalar_functions(scalar)
        .with_aggregate_functions(aggregate)
        .with_window_functions(ballista_window_functions())
        .build())
}

/// Runs a dfstore scheduler with Ballista's flags `opt` until it stops.
pub async fn start(opt: Config) -> ballista_core::error::Result<()> {
    let addr = bind_address(&opt.bind_host, opt.bind_port, "--bind-host/--bind-port")?;
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
