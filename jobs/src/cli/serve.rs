//! `dfstore serve`: its flags and what it prints.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::cli::args::{EngineArgs, LakeArgs, parse_duration};
#[cfg(feature = "serve")]
use crate::cli::render::print;
#[cfg(feature = "serve")]
use crate::engine::EngineConfig;
use crate::engine::parse_memory;
use crate::error::Result;
#[cfg(feature = "serve")]
use crate::postgres::connection::read_password_file;
#[cfg(feature = "serve")]
use crate::serve::limits::Limits;
#[cfg(feature = "serve")]
use crate::serve::sql::TlsFiles;
#[cfg(feature = "serve")]
use crate::serve::{Bound, ServeOptions, serve};

/// `dfstore serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The lake.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// The dashboard's address (port 0 picks a free one) [default: 127.0.0.1:8080].
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "DFSTORE_SERVE_HTTP",
        default_value = "127.0.0.1:8080",
        hide_default_value = true
    )]
    pub http: SocketAddr,
    /// The PostgreSQL-protocol endpoint's address (port 0 picks a free one) [default: 127.0.0.1:5433].
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "DFSTORE_SERVE_SQL",
        default_value = "127.0.0.1:5433",
        hide_default_value = true
    )]
    pub sql: SocketAddr,
    /// The SQL login's user name [default: dfstore].
    #[arg(
        long,
        value_name = "NAME",
        env = "DFSTORE_SERVE_USER",
        default_value = "dfstore",
        hide_default_value = true
    )]
    pub user: String,
    /// File whose first line is the password of the SQL login (SCRAM-SHA-256) and the dashboard (HTTP Basic); required when an address is not loopback [default: $DFSTORE_SERVE_PASSWORD, else none].
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// TLS certificate chain (PEM) for the SQL endpoint [default: no TLS].
    #[arg(long, value_name = "PATH", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PATH", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The longest a SQL statement may run, e.g. 30s, 5m; 0 for no limit. A client's `SET statement_timeout` may only shorten it [default: 5m].
    #[arg(long, value_name = "DURATION", env = "DFSTORE_SERVE_STATEMENT_TIMEOUT", default_value = "5m", hide_default_value = true, value_parser = parse_duration)]
    pub statement_timeout: Duration,
    /// SQL connections served at once; one more is refused with PostgreSQL's too_many_connections (53300) [default: 100].
    #[arg(long, value_name = "N", env = "DFSTORE_SERVE_MAX_CONNECTIONS", default_value_t = 100, hide_default_value = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// The most memory one SQL statement may hold, drawn from the engine's pool (--memory-limit), e.g. 512MiB; past it the statement spills or fails alone [default: a quarter of --memory-limit].
    #[arg(long, value_name = "SIZE", env = "DFSTORE_SERVE_QUERY_MEMORY", value_parser = parse_memory)]
    pub query_memory: Option<u64>,
    /// How often to look for a newly published run, e.g. 2s, 1m [default: 2s].
    #[arg(long, value_name = "DURATION", default_value = "2s", hide_default_value = true, value_parser = parse_refresh)]
    pub refresh: Duration,
    /// Engine settings.
    #[command(flatten)]
    pub engine: EngineArgs,
}

fn parse_refresh(text: &str) -> std::result::Result<Duration, String> {
    parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text} is not a positive duration"))
}

#[cfg(feature = "serve")]
impl ServeArgs {
    fn password(&self) -> Result<Option<String>> {
        let Some(file) = &self.password_file else {
            return Ok(std::env::var("DFSTORE_SERVE_PASSWORD")
                .ok()
                .filter(|p| !p.is_empty()));
        };
        read_password_file(file, "--password-file").map(Some)
    }
}

/// `dfstore serve` in a build without the `serve` feature.
#[cfg(not(feature = "serve"))]
#[allow(clippy::unused_async)]
pub async fn run(_args: ServeArgs) -> Result<()> {
    Err(crate::error::Error::not_built("dfstore serve", "serve"))
}

/// `dfstore serve`: serves until stopped.
#[cfg(feature = "serve")]
pub async fn run(args: ServeArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let engine = EngineConfig::from(&args.engine);
    let options = ServeOptions {
        http: args.http,
        sql: args.sql,
        user: args.user.clone(),
        password: args.password()?,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        },
        refresh: args.refresh,
        engine: engine.clone(),
        limits: Limits {
            statement_timeout: Some(args.statement_timeout).filter(|d| !d.is_zero()),
            max_connections: args.max_connections as usize,
            statement_memory: args
                .query_memory
                .unwrap_or(engine.memory_limit / 4)
                .min(engine.memory_limit) as usize,
        },
    };
    let tls = options.tls.is_some();
    let user = options.user.clone();
    serve(lake, options, |bound: Bound| {
        // Printed whatever --quiet says: it is how a script finds the ports.
        let dashboard = match bound.http {
            Some(http) => format!("http://{http}/"),
            None => "not in this build (the `dashboard` feature)".into(),
        };
        let _ = print(&format!(
            "dashboard  {dashboard}\nsql        postgresql://{user}@{}/datafusion{}\nserving the lake until stopped (Ctrl-C)\n",
            bound.sql,
            if tls { "?sslmode=require" } else { "" }
        ));
    })
    .await
}
