//! The dashboard's JSON API over `analytic.reporte_ventas_tienda`: the
//! filters, the KPIs of a month against the previous one, the daily trend,
//! the stores ranked, the breakdowns by region and format, the data quality
//! of the runs and the lineage of what is shown. Money travels as decimal
//! strings with two decimals, never as floating point. Every answer is
//! computed from, and cached in, the snapshot current when the request
//! arrived.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::Array;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use crate::serve::filters::{Filters, check, previous_month};
use crate::serve::snapshot::{Lakeview, Snapshot};

const REPORT: &str = "analytic.reporte_ventas_tienda";

/// An answer that is not the data: a bad parameter (400) or a lake without
/// a report yet (503), as `{"error", "parameter"}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    parameter: Option<&'static str>,
}

impl ApiError {
    pub(super) fn bad(parameter: &'static str, error: String) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            error,
            parameter: Some(parameter),
        }
    }

    fn engine(e: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: e.to_string(),
            parameter: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "parameter": self.parameter});
        (self.status, Json(body)).into_response()
    }
}

type Answer = Result<Json<Arc<Value>>, ApiError>;

/// Rows of `sql` as JSON objects: integers as numbers, everything else
/// (decimals, dates, text) as strings.
async fn rows(snapshot: &Snapshot, sql: &str) -> Result<Vec<Map<String, Value>>, ApiError> {
    let batches = snapshot
        .ctx
        .sql(sql)
        .await
        .map_err(ApiError::engine)?
        .collect()
        .await
        .map_err(ApiError::engine)?;
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for batch in &batches {
        let schema = batch.schema();
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ApiError::engine)?;
        for row in 0..batch.num_rows() {
            let mut object = Map::new();
            for (i, field) in schema.fields().iter().enumerate() {
                let value = if batch.column(i).is_null(row) {
                    Value::Null
                } else {
                    let text = formatters[i].value(row).to_string();
                    match field.data_type() {
                        t if t.is_integer() => {
                            text.parse::<i64>().map_or(Value::String(text), Value::from)
                        }
                        DataType::Boolean => Value::Bool(text == "true"),
                        _ => Value::String(text),
                    }
                };
                object.insert(field.name().clone(), value);
            }
            out.push(object);
        }
    }
    Ok(out)
}

/// Answers from the cache of the current snapshot, or computes and keeps.
pub(super) async fn cached<F, Fut>(view: &Lakeview, key: String, compute: F) -> Answer
where
    F: FnOnce(Arc<Snapshot>) -> Fut,
    Fut: std::future::Future<Output = Result<Value, ApiError>>,
{
    let snapshot = view.current();
    if let Some(hit) = snapshot.cached(&key) {
        return Ok(Json(hit));
    }
    let mut value = compute(Arc::clone(&snapshot)).await?;
    // Every answer says which run it was computed from.
    if let Value::Object(object) = &mut value {
        object.insert(
            "run_id".into(),
            snapshot
                .run
                .as_ref()
                .map_or(Value::Null, |r| Value::String(r.run_id.to_string())),
        );
    }
    let value = Arc::new(value);
    snapshot.keep(key, Arc::clone(&value));
    Ok(Json(value))
}

fn require_report(snapshot: &Snapshot) -> Result<(), ApiError> {
    if snapshot.tables.iter().any(|(t, _)| t.to_string() == REPORT) {
        Ok(())
    } else {
        Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: format!("the lake has no published {REPORT} yet: run `dfstore run` first"),
            parameter: None,
        })
    }
}

/// `GET /api/filters`.
pub async fn filters(State(view): State<Arc<Lakeview>>) -> Answer {
    cached(&view, "filters".into(), |s| async move {
        filter_values(&s).await
    })
    .await
}

pub(super) async fn filter_values(snapshot: &Snapshot) -> Result<Value, ApiError> {
    require_report(snapshot)?;
    let months = column(
        snapshot,
        &format!("SELECT DISTINCT periodo AS v FROM {REPORT} ORDER BY v"),
    )
    .await?;
    let regions = column(
        snapshot,
        &format!("SELECT DISTINCT region AS v FROM {REPORT} ORDER BY v"),
    )
    .await?;
    let formats = column(
        snapshot,
        &format!("SELECT DISTINCT formato AS v FROM {REPORT} ORDER BY v"),
    )
    .await?;
    let stores = rows(
        snapshot,
        &format!(
            "SELECT id_tienda, codigo_tienda, nombre_tienda, region, formato FROM (\
               SELECT *, ROW_NUMBER() OVER (PARTITION BY id_tienda ORDER BY fecha DESC) AS newest \
               FROM {REPORT}) WHERE newest = 1 ORDER BY id_tienda"
        ),
    )
    .await?;
    Ok(json!({
        "default_month": months.last(),
        "months": months,
        "regions": regions,
        "formats": formats,
        "stores": stores,
    }))
}

async fn column(snapshot: &Snapshot, sql: &str) -> Result<Vec<String>, ApiError> {
    Ok(rows(snapshot, sql)
        .await?
        .into_iter()
        .filter_map(|mut r| match r.remove("v") {
            Some(Value::String(s)) => Some(s),
            _ => None,
        })
        .collect())
}

/// `GET /api/kpis`.
pub async fn kpis(State(view): State<Arc<Lakeview>>, Query(filters): Query<Filters>) -> Answer {
    let checked = check(&view, &filters).await?;
    cached(&view, format!("kpis|{}", checked.key), |s| async move {
        let previous = previous_month(&checked.month);
        let sql = format!(
            "SELECT periodo, SUM(venta_neta) AS venta_neta, SUM(margen_bruto) AS margen_bruto, \
                    SUM(num_ventas) AS tickets, SUM(unidades) AS unidades \
             FROM {REPORT} WHERE periodo IN ('{}', '{}') AND {} GROUP BY periodo",
            checked.month,
            previous.as_deref().unwrap_or(""),
            checked.condition
        );
        let mut by_month: BTreeMap<String, Value> = rows(&s, &sql)
            .await?
            .into_iter()
            .map(|mut r| {
                let month = r
                    .remove("periodo")
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                (month, kpi(r))
            })
            .collect();
        let current = by_month
            .remove(&checked.month)
            .unwrap_or_else(|| kpi(Map::new()));
        let previous_values = previous.as_ref().and_then(|p| by_month.remove(p));
        Ok(json!({
            "month": checked.month,
            "previous_month": previous_values.as_ref().and(previous),
            "current": current,
            "previous": previous_values,
        }))
    })
    .await
}

/// One month's KPIs; the average ticket is venta_neta / tickets, rounded
/// half away from zero to two decimals, as the report's own column is.
fn kpi(mut row: Map<String, Value>) -> Value {
    let money = |v: Option<Value>| -> Decimal {
        v.and_then(|v| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_default()
    };
    let venta = money(row.remove("venta_neta"));
    let margen = money(row.remove("margen_bruto"));
    let tickets = row.remove("tickets").and_then(|v| v.as_i64()).unwrap_or(0);
    let unidades = row.remove("unidades").and_then(|v| v.as_i64()).unwrap_or(0);
    let two = |d: Decimal| {
        let mut d = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        d.rescale(2);
        d.to_string()
    };
    // No tickets, no average: null rather than a made-up zero.
    let average = (tickets != 0).then(|| two(venta / Decimal::from(tickets)));
    json!({
        "venta_neta": two(venta),
        "margen_bruto": two(margen),
        "tickets": tickets,
        "ticket_promedio": average,
        "unidades": unidades,
    })
}

/// `GET /api/trend`.
pub async fn trend(State(view): State<Arc<Lakeview>>, Query(filters): Query<Filters>) -> Answer {
    let checked = check(&view, &filters).await?;
    cached(&view, format!("trend|{}", checked.key), |s| async move {
        let days = rows(
            &s,
            &format!(
                "SELECT CAST(fecha AS VARCHAR) AS fecha, SUM(venta_neta) AS venta_neta, \
                        SUM(margen_bruto) AS margen_bruto, SUM(num_ventas) AS tickets \
                 FROM {REPORT} WHERE periodo = '{}' AND {} GROUP BY fecha ORDER BY fecha",
                checked.month, checked.condition
            ),
        )
        .await?;
        Ok(json!({ "days": days }))
    })
    .await
}

/// `GET /api/stores`.
pub async fn stores(State(view): State<Arc<Lakeview>>, Query(filters): Query<Filters>) -> Answer {
    let checked = check(&view, &filters).await?;
    cached(&view, format!("stores|{}", checked.key), |s| async move {
        let stores = rows(
            &s,
            &format!(
                "SELECT id_tienda, MAX(codigo_tienda) AS codigo_tienda, \
                        MAX(nombre_tienda) AS nombre_tienda, MAX(region) AS region, \
                        MAX(formato) AS formato, SUM(venta_neta) AS venta_neta, \
                        SUM(margen_bruto) AS margen_bruto, SUM(num_ventas) AS tickets \
                 FROM {REPORT} WHERE periodo = '{}' AND {} \
                 GROUP BY id_tienda ORDER BY venta_neta DESC, id_tienda",
                checked.month, checked.condition
            ),
        )
        .await?;
        Ok(json!({ "stores": stores }))
    })
    .await
}

/// `GET /api/breakdown`.
pub async fn breakdown(
    State(view): State<Arc<Lakeview>>,
    Query(filters): Query<Filters>,
) -> Answer {
    let checked = check(&view, &filters).await?;
    cached(&view, format!("breakdown|{}", checked.key), |s| async move {
        let by = |column: &str| {
            format!(
                "SELECT {column} AS key, SUM(venta_neta) AS venta_neta, SUM(num_ventas) AS tickets \
                 FROM {REPORT} WHERE periodo = '{}' AND {} \
                 GROUP BY {column} ORDER BY venta_neta DESC, key",
                checked.month, checked.condition
            )
        };
        Ok(json!({
            "by_region": rows(&s, &by("region")).await?,
            "by_format": rows(&s, &by("formato")).await?,
        }))
    })
    .await
}

/// `GET /api/quality`: rejected rows per rule and the reconciliation of
/// every run, newest first.
pub async fn quality(State(view): State<Arc<Lakeview>>) -> Answer {
    cached(&view, "quality".into(), |s| async move {
        let runs: Vec<Value> = s
            .runs
            .iter()
            .rev()
            .map(|run| {
                let rejected: Vec<Value> = run
                    .rejected
                    .iter()
                    .flat_map(|(table, rules)| {
                        rules.iter().map(
                            move |(rule, rows)| json!({"table": table, "rule": rule, "rows": rows}),
                        )
                    })
                    .collect();
                let reconciliation: Vec<Value> = run
                    .reconciliation
                    .iter()
                    .map(|r| json!({"table": r.table, "holds": r.holds()}))
                    .collect();
                json!({
                    "run_id": run.run_id.to_string(),
                    "finished_at": run.finished_at.to_rfc3339(),
                    "outcome": run.outcome,
                    "rejected": rejected,
                    "reconciliation": reconciliation,
                })
            })
            .collect();
        Ok(json!({ "runs": runs }))
    })
    .await
}

/// `GET /api/lineage`: the run served and the versions of its tables.
pub async fn lineage(State(view): State<Arc<Lakeview>>) -> Answer {
    cached(&view, "lineage".into(), |s| async move {
        let tables: Vec<Value> = s
            .tables
            .iter()
            .map(|(t, v)| json!({"table": t.to_string(), "version": v}))
            .collect();
        Ok(json!({
            "run_id": s.run.as_ref().map(|r| r.run_id.to_string()),
            "published_at": s.run.as_ref().map(|r| r.finished_at.to_rfc3339()),
            "tables": tables,
        }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_step_back_across_years() {
        assert_eq!(previous_month("2024-03").as_deref(), Some("2024-02"));
        assert_eq!(previous_month("2024-01").as_deref(), Some("2023-12"));
        assert_eq!(previous_month("nonsense"), None);
    }

    #[test]
    fn the_average_ticket_rounds_half_away_from_zero() {
        let mut row = Map::new();
        row.insert("venta_neta".into(), json!("10.01"));
        row.insert("margen_bruto".into(), json!("3"));
        row.insert("tickets".into(), json!(2));
        row.insert("unidades".into(), json!(7));
        let k = kpi(row);
        assert_eq!(k["ticket_promedio"], "5.01");
        assert_eq!(k["margen_bruto"], "3.00");
        assert_eq!(k["venta_neta"], "10.01");
    }
}
