//! `dfstore-scheduler`: the scheduler of a dfstore cluster. Parses
//! Ballista's flags, sets up logging and runs
//! [`node::start`] (`dfstore-scheduler --help`).

mod node;

use ballista_scheduler::config::Config;
use clap::{CommandFactory, FromArgMatches};
use dfstore_core::logging;

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
    node::start(opt).await
}
