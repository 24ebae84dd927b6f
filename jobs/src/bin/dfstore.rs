//! The `dfstore` binary: parses flags, sets up logging, runs the command and
//! maps failures to exit codes (1: the job failed, 2: usage or configuration).

use std::process::ExitCode;

use clap::Parser;
use dfstore_jobs::cli::{Cli, execute};

fn main() -> ExitCode {
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
