//! The dashboard's filters (month, region, format, store), checked against
//! the values the report holds: an unknown one is a 400 naming the
//! parameter, never a query. The conditions are built only from checked
//! values.

use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::serve::api::{ApiError, cached, filter_values};
use crate::serve::snapshot::Lakeview;

/// The filters every chart takes.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// `YYYY-MM`; the newest month when absent.
    pub month: Option<String>,
    /// A region of the report.
    pub region: Option<String>,
    /// A store format (`formato`).
    pub format: Option<String>,
    /// A store (`id_tienda`).
    pub store: Option<String>,
}

/// The filters checked against the report's values: the month, and the
/// SQL condition of the others.
pub struct Checked {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// The SQL condition of the other filters (`TRUE` when none).
    pub condition: String,
    /// The cache key of both.
    pub key: String,
}

/// Checks `filters` against the report of the current snapshot.
pub async fn check(view: &Lakeview, filters: &Filters) -> Result<Checked, ApiError> {
    let Json(known) = cached(view, "filters".into(), |s| async move {
        filter_values(&s).await
    })
    .await?;
    let listed = |name: &str| -> Vec<String> {
        known[name]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let month = checked_month(filters.month.as_deref(), &listed("months"))?;
    let mut conditions = Vec::new();
    for (parameter, column, list, value) in [
        ("region", "region", "regions", &filters.region),
        ("format", "formato", "formats", &filters.format),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            let known = listed(list);
            if !known.contains(value) {
                return Err(ApiError::bad(
                    parameter,
                    format!(
                        "unknown {parameter} {value:?}: the report has {}",
                        known.join(", ")
                    ),
                ));
            }
            conditions.push(format!("{column} = '{}'", value.replace('\'', "''")));
        }
    }
    if let Some(store) = filters.store.as_ref().filter(|v| !v.is_empty()) {
        conditions.push(format!(
            "id_tienda = {}",
            checked_store(store, &known["stores"])?
        ));
    }
    let condition = if conditions.is_empty() {
        "TRUE".to_string()
    } else {
        conditions.join(" AND ")
    };
    let key = format!("{month}|{condition}");
    Ok(Checked {
        month,
        condition,
        key,
    })
}

/// The month asked for, one the report holds; the newest when none is.
fn checked_month(month: Option<&str>, months: &[String]) -> Result<String, ApiError> {
    let range = || {
        format!(
            "the report holds {} … {}",
            months.first().map_or("nothing", String::as_str),
            months.last().map_or("nothing", String::as_str)
        )
    };
    match month {
        None => months
            .last()
            .cloned()
            .ok_or_else(|| ApiError::bad("month", "the report is empty".into())),
        Some(m) if months.iter().any(|k| k == m) => Ok(m.to_string()),
        Some(m) => Err(ApiError::bad(
            "month",
            format!("unknown month {m:?}: {}", range()),
        )),
    }
}

/// The store asked for, an `id_tienda` the report holds.
fn checked_store(store: &str, stores: &Value) -> Result<i64, ApiError> {
    let id: i64 = store.parse().map_err(|_| {
        ApiError::bad(
            "store",
            format!("store must be an id_tienda (a number), not {store:?}"),
        )
    })?;
    let exists = stores
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["id_tienda"] == id));
    if exists {
        Ok(id)
    } else {
        Err(ApiError::bad(
            "store",
            format!("unknown store {id}: no id_tienda {id} in the report"),
        ))
    }
}

/// The month before `month` (`YYYY-MM`).
pub fn previous_month(month: &str) -> Option<String> {
    let (year, m) = month.split_once('-')?;
    let (year, m): (i32, u32) = (year.parse().ok()?, m.parse().ok()?);
    Some(if m == 1 {
        format!("{}-12", year - 1)
    } else {
        format!("{year}-{:02}", m - 1)
    })
}
