//! The dashboard of `reporte_ventas_tienda`: the page, its scripts and the
//! JSON API, over the served snapshot, behind the serve password.

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::serve::api;
use crate::serve::snapshot::Lakeview;

/// The dashboard: the page, its scripts, the API.
pub fn router(view: Arc<Lakeview>, password: Option<String>) -> Router {
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
