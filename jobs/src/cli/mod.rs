//! The `dfstore` command line: the flags ([`args`]), one function per
//! subcommand ([`commands`]) and what they print ([`render`]).

/// The flags of every subcommand.
pub mod args;
/// One function per subcommand.
pub mod commands;
/// The source database's and the warehouse's flags.
pub mod databases;
/// `dfstore emr`.
pub mod emr;
/// The project flags.
pub mod project;
/// What the commands print for people.
pub mod render;
/// `dfstore serve`.
pub mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::cli::args::{
    CatalogCommand, CheckArgs, DemoArgs, GenerateArgs, IngestArgs, InitArgs, InventoryArgs,
    LoadArgs, NightlyArgs, RunArgs, SourceCommand, SqlArgs, TestArgs,
};
use crate::error::Result;

/// dfstore: the DMC Retail sales pipeline (raw → trusted → analytic) as SQL
/// plans on Apache DataFusion, over a lake in a local folder or on S3.
#[derive(Debug, Parser)]
#[command(name = "dfstore", version)]
pub struct Cli {
    /// Log as JSON lines instead of text (logs go to standard error).
    #[arg(long, global = true, env = "DFSTORE_LOG_JSON")]
    pub log_json: bool,
    /// Print nothing on success (for cron): no summary, and only warnings and errors in the log; query results are still printed.
    #[arg(long, short = 'q', global = true, env = "DFSTORE_QUIET")]
    pub quiet: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The examples under `dfstore run --help`.
const RUN_EXAMPLES: &str = "Examples:
  dfstore run                         what the new extractions change (everything the first time)
  dfstore run --full-refresh          every model from all of raw
  dfstore run --period 2024-03        one business month
  dfstore run -s +analytic.reporte_ventas_tienda
                                      one model and the models it reads
  dfstore run --lake s3://bucket/lake --scheduler df://10.0.0.5:50050
                                      a lake on S3, on a cluster
  dfstore run --format json | jq .run.outputs";

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate deterministic DMC Retail data as raw extractions.
    Generate(GenerateArgs),
    /// Run the pipeline: raw → trusted (+ rejected) → analytic.
    #[command(after_help = RUN_EXAMPLES)]
    Run(RunArgs),
    /// Run SQL over the lake's tables (raw.*, trusted.*, rejected.*, analytic.*).
    Sql(SqlArgs),
    /// Generate a small lake in ./lake and run the pipeline on it.
    Demo(DemoArgs),
    /// Write the built-in retail project (dfstore_project.toml and its SQL models) into a folder, to change or add models.
    Init(InitArgs),
    /// Check a project without reading data: every model parsed, resolved and planned, contracts checked; prints the models in order.
    Check(CheckArgs),
    /// Run the project's data tests (model headers and tests/*.sql) against the published tables.
    Test(TestArgs),
    /// List the lake's tables with schema, partitions and row counts.
    Tables(InventoryArgs),
    /// List the lake's runs (from logs/runs/).
    Runs(InventoryArgs),
    /// Record the lake's tables in its catalog (_catalog/) and show them.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Extract the source PostgreSQL into raw (full or incremental, verified by checksums).
    Ingest(IngestArgs),
    /// The nightly flow in one command: ingest → run → load, each step retried when the failure is passing, under a lock, with notifications.
    Nightly(NightlyArgs),
    /// Load the published report into the warehouse (PostgreSQL or Redshift), reconciled, once per version.
    Load(LoadArgs),
    /// Clusters on Amazon EMR: up, submit a dfstore command as a step, status, down.
    #[command(subcommand)]
    Emr(emr::EmrCommand),
    /// Serve the lake to BI tools (a PostgreSQL-protocol endpoint) and people (a dashboard of the report), read-only, until stopped.
    Serve(serve::ServeArgs),
    /// The demo's source database: create and load it, or make a day of changes.
    #[command(subcommand)]
    Source(SourceCommand),
    /// Print the shell completion script, e.g. `dfstore completions bash > /etc/bash_completion.d/dfstore`.
    Completions(CompletionsArgs),
    /// Write the manual pages (dfstore.1 and one per subcommand) into a folder, e.g. `dfstore man /usr/local/share/man/man1`.
    Man(ManArgs),
}

/// `dfstore completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `dfstore man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// The folder to write the pages into (created if missing).
    #[arg(value_name = "DIR")]
    pub dir: std::path::PathBuf,
}

/// Runs a parsed command line; what it prints goes to standard output.
pub async fn execute(cli: Cli) -> Result<()> {
    render::set_quiet(cli.quiet);
    match cli.command {
        Command::Generate(args) => commands::generate_lake(args).await,
        Command::Run(args) => commands::run(args).await,
        Command::Sql(args) => commands::sql(args).await,
        Command::Demo(args) => commands::demo(args).await,
        Command::Init(args) => commands::init(&args),
        Command::Check(args) => commands::check(args).await,
        Command::Test(args) => commands::test(args).await,
        Command::Tables(args) => commands::tables(args).await,
        Command::Runs(args) => commands::runs(args).await,
        Command::Ingest(args) => commands::ingest(args).await,
        Command::Load(args) => commands::load(args).await,
        Command::Nightly(args) => commands::nightly(args).await,
        Command::Serve(args) => serve::run(args).await,
        Command::Emr(command) => emr::run(command).await,
        Command::Source(SourceCommand::Init(args)) => commands::source_init(args).await,
        Command::Source(SourceCommand::ApplyChanges(args)) => {
            commands::source_apply_changes(args).await
        }
        Command::Catalog(CatalogCommand::Crawl(args)) => commands::catalog_crawl(args).await,
        Command::Catalog(CatalogCommand::Show(args)) => commands::catalog_show(args).await,
        Command::Catalog(CatalogCommand::SyncGlue(args)) => commands::catalog_sync_glue(args).await,
        Command::Completions(args) => {
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "dfstore", &mut script);
            render::print(&String::from_utf8_lossy(&script))
        }
        Command::Man(args) => man_pages(&args.dir),
    }
}

/// Writes the manual pages of every command into `dir`.
fn man_pages(dir: &std::path::Path) -> Result<()> {
    let written =
        std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(Cli::command(), dir));
    written.map_err(|e| crate::error::Error::InvalidArgument {
        flag: "DIR".into(),
        reason: format!("cannot write the manual pages into {}: {e}", dir.display()),
    })?;
    render::say(&format!("wrote the manual pages into {}\n", dir.display()));
    Ok(())
}

/// The `dfstore` binary: parses flags, sets up logging, runs the command and
/// maps failures to exit codes (1: the job failed, 2: usage or configuration).
/// It lives here rather than in the binary so that the commands' futures are
/// compiled once, in this library: the crate that polls an `async fn`
/// compiles its state machine, and a binary compiled them all a second time.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    dfstore_core::logging::init_logging(cli.log_json, cli.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dfstore: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line.
            let mut line = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let full = cause.to_string();
                let text = full.strip_prefix("External error: ").unwrap_or(&full);
                if !line.contains(text) {
                    line.push_str(": ");
                    line.push_str(text);
                }
                source = cause.source();
            }
            eprintln!("dfstore: error: {}", line.replace('\n', " "));
            ExitCode::from(if e.is_usage() { 2 } else { 1 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
