//! `dfstore serve`: the lake for BI tools and people, from one process. A
//! PostgreSQL wire-protocol endpoint (psql, Metabase, Superset, Power BI's
//! PostgreSQL connector) and a web dashboard of `reporte_ventas_tienda`,
//! both over the same snapshot of the lake: the published tables at the
//! versions of the newest successful run, swapped for a new one when a run
//! publishes. Read-only, loopback by default; any other address needs a
//! password.

/// The dashboard's JSON API.
pub mod api;
/// The dashboard's filters, checked.
pub mod filters;
/// The SQL endpoint's read-only guard.
pub mod guard;
/// What one client of the SQL endpoint may use.
pub mod limits;
/// The lake as served: snapshots, refreshed when a run publishes.
pub mod snapshot;
/// The PostgreSQL wire-protocol endpoint.
pub mod sql;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
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
    /// The dashboard.
    pub http: SocketAddr,
    /// The SQL endpoint.
    pub sql: SocketAddr,
}

/// Refuses to listen beyond this machine without a password.
fn check_access(options: &ServeOptions) -> Result<Access> {
    let exposed: Vec<String> = [("--http", options.http), ("--sql", options.sql)]
        .iter()
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
    let http_listener = bind("--http", options.http).await?;
    let bound = Bound {
        http: local(&http_listener)?,
        sql: local(&sql_listener)?,
    };
    let app = router(Arc::clone(&view), options.password.clone());
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
    let http = async {
        axum::serve(http_listener, app)
            .await
            .map_err(|e| Error::Internal {
                what: format!("the dashboard's server stopped: {e}"),
            })
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

/// The dashboard: the page, its scripts, the API.
fn router(view: Arc<Lakeview>, password: Option<String>) -> Router {
    let page = |body: &'static str, kind: &'static str| {
        move || async move { ([(header::CONTENT_TYPE, kind)], body).into_response() }
    };
    let router = Router::new()
        .route(
            "/",
            get(page(
                include_str!("web/index.html"),
                "text/html; charset=utf-8",
            )),
        )
        .route(
            "/app.js",
            get(page(
                include_str!("web/app.js"),
                "text/javascript; charset=utf-8",
            )),
        )
        .route(
            "/app.css",
            get(page(include_str!("web/app.css"), "text/css; charset=utf-8")),
        )
        .route(
            "/vendor/echarts.min.js",
            get(page(
                include_str!("web/vendor/echarts.min.js"),
                "text/javascript; charset=utf-8",
            )),
        )
        .route("/api/filters", get(api::filters))
        .route("/api/kpis", get(api::kpis))
        .route("/api/trend", get(api::trend))
        .route("/api/stores", get(api::stores))
        .route("/api/breakdown", get(api::breakdown))
        .route("/api/quality", get(api::quality))
        .route("/api/lineage", get(api::lineage))
        .with_state(view)
        .layer(axum::middleware::map_response(no_store));
    match password {
        None => router,
        Some(password) => router.layer(axum::middleware::from_fn(move |request, next| {
            let password = password.clone();
            async move { basic_auth(&password, request, next).await }
        })),
    }
}

/// Answers are never cached by the browser: the next run may change them.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

/// HTTP Basic authentication of the dashboard, any user, the serve password.
async fn basic_auth(
    password: &str,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use base64::Engine as _;
    use subtle::ConstantTimeEq as _;
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let ok = given
        .as_deref()
        .and_then(|g| g.split_once(':'))
        .is_some_and(|(_, p)| bool::from(p.as_bytes().ct_eq(password.as_bytes())));
    if ok {
        next.run(request).await
    } else {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"dfstore\"")],
            "the dashboard needs the serve password",
        )
            .into_response()
    }
}
