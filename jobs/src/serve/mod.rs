//! `dfstore serve`: the lake for BI tools and people, from one process. A
//! PostgreSQL wire-protocol endpoint (psql, Metabase, Superset, Power BI's
//! PostgreSQL connector) and a web dashboard of `reporte_ventas_tienda`,
//! both over the same snapshot of the lake: the published tables at the
//! versions of the newest successful run, swapped for a new one when a run
//! publishes. Read-only, loopback by default; any other address needs a
//! password.

/// The dashboard's JSON API.
#[cfg(feature = "dashboard")]
pub mod api;
/// The dashboard: its page, scripts and API behind one router.
#[cfg(feature = "dashboard")]
mod dashboard;
/// The dashboard's filters, checked.
#[cfg(feature = "dashboard")]
pub mod filters;
/// The SQL endpoint's read-only guard.
pub mod guard;
/// What one client of the SQL endpoint may use.
pub mod limits;
/// One statement's share of the server's memory pool.
pub mod pool;
/// The lake as served: snapshots, refreshed when a run publishes.
pub mod snapshot;
/// The PostgreSQL wire-protocol endpoint.
pub mod sql;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::serve::limits::Limits;
use crate::serve::snapshot::Lakeview;
use crate::serve::sql::{Access, TlsFiles};

/// How to serve.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The dashboard's address.
    pub http: SocketAddr,
    /// The SQL endpoint's address.
    pub sql: SocketAddr,
    /// The SQL login's user.
    pub user: String,
    /// The password of the SQL login and the dashboard; required off loopback.
    pub password: Option<String>,
    /// TLS for the SQL endpoint.
    pub tls: Option<TlsFiles>,
    /// How often the lake is checked for a new run.
    pub refresh: Duration,
    /// The engine.
    pub engine: EngineConfig,
    /// What one client of the SQL endpoint may use.
    pub limits: Limits,
}

/// Where the endpoints listen, once bound.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The dashboard; none in a build without the `dashboard` feature.
    pub http: Option<SocketAddr>,
    /// The SQL endpoint.
    pub sql: SocketAddr,
}

/// Refuses to listen beyond this machine without a password.
fn check_access(options: &ServeOptions) -> Result<Access> {
    let exposed: Vec<String> = [("--http", options.http), ("--sql", options.sql)]
        .iter()
        .filter(|(flag, _)| cfg!(feature = "dashboard") || *flag != "--http")
        .filter(|(_, a)| !a.ip().is_loopback())
        .map(|(flag, a)| format!("{flag} {a}"))
        .collect();
    match &options.password {
        Some(password) => Ok(Access::password(&options.user, password)),
        None if exposed.is_empty() => Ok(Access::open()),
        None => Err(Error::InvalidArgument {
            flag: "--password-file".into(),
            reason: format!(
                "{} listens beyond this machine, which needs a password: give it in a file \
                 (--password-file) or in DFSTORE_SERVE_PASSWORD, never on the command line",
                exposed.join(" and ")
            ),
        }),
    }
}

async fn bind(flag: &str, address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .map_err(|e| Error::InvalidArgument {
            flag: flag.into(),
            reason: format!("cannot listen on {address}: {e}"),
        })
}

/// Serves `lake` until the process is stopped; `ready` is told the bound
/// addresses once both endpoints accept connections.
pub async fn serve(lake: Lake, options: ServeOptions, ready: impl FnOnce(Bound)) -> Result<()> {
    let access = check_access(&options)?;
    let tls = options.tls.as_ref().map(sql::tls_acceptor).transpose()?;
    let view = Arc::new(Lakeview::open(lake, options.engine.clone()).await?);
    let sql_listener = bind("--sql", options.sql).await?;
    #[cfg(feature = "dashboard")]
    let http_listener = bind("--http", options.http).await?;
    let bound = Bound {
        #[cfg(feature = "dashboard")]
        http: Some(local(&http_listener)?),
        #[cfg(not(feature = "dashboard"))]
        http: None,
        sql: local(&sql_listener)?,
    };
    #[cfg(feature = "dashboard")]
    let http = {
        let app = dashboard::router(Arc::clone(&view), options.password.clone());
        async {
            axum::serve(http_listener, app)
                .await
                .map_err(|e| Error::Internal {
                    what: format!("the dashboard's server stopped: {e}"),
                })
        }
    };
    #[cfg(not(feature = "dashboard"))]
    let http = std::future::pending::<Result<()>>();
    ready(bound);
    let refresher = {
        let view = Arc::clone(&view);
        async move {
            let mut tick = tokio::time::interval(options.refresh);
            loop {
                tick.tick().await;
                if let Err(e) = view.refresh().await {
                    tracing::warn!(error = %e, "could not refresh the lake; still serving the last snapshot");
                }
            }
        }
    };
    tokio::select! {
        r = sql::accept(sql_listener, view, access, tls, options.limits) => r,
        r = http => r,
        () = refresher => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

fn local(listener: &TcpListener) -> Result<SocketAddr> {
    listener.local_addr().map_err(|e| Error::Internal {
        what: format!("reading a bound address: {e}"),
    })
}
