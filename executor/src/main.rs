//! `dfstore-executor`: a worker of a dfstore cluster. Parses Ballista's
//! flags, sets up logging and runs [`node::start`]
//! (`dfstore-executor --help`).

mod node;

use ballista_executor::config::Config;
use ballista_executor::executor_process::ExecutorProcessConfig;
use clap::{CommandFactory, FromArgMatches};
use dfstore_core::logging;
use dfstore_core::node::bind_address;

/// mimalloc rather than glibc's allocator, whose per-thread arenas kept
/// memory the task pools had released: an executor's peak at scale 10 fell
/// from about 1.9 GiB to 1.5-1.6 GiB on a 1 GiB pool. The embedded engine
/// (`dfstore`) keeps glibc's, under which its peak is lower.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ballista_core::error::Result<()> {
    let matches = Config::command()
        .name("dfstore-executor")
        .bin_name("dfstore-executor")
        .about("A worker of a dfstore cluster: Ballista 55 with the object stores of dfstore lakes (file://, and s3:// with credentials from this process's AWS environment or instance profile) and pii_hash (key from DFSTORE_PII_KEY_FILE or DFSTORE_PII_KEY).")
        .get_matches();
    let opt = Config::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let health = bind_address(
        &opt.bind_host,
        opt.bind_health_port,
        "--bind-host/--bind-health-port",
    )?;
    let config: ExecutorProcessConfig = opt.try_into()?;
    logging::init_node_logging(
        &config.special_mod_log_level,
        config.log_dir.as_deref(),
        &config.log_file_name_prefix(),
    )?;
    node::start(config, health).await
}
