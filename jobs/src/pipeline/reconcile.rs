//! What a run's reconciliation compares (spec section 2): the distinct keys
//! of every source table in raw, counted independently of the staging SQL,
//! against the rows of trusted and rejected; and the rejected rows per rule.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;
use tracing::info;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::RULE_COLUMN;
use crate::contract::source::SourceTable;
use crate::engine;
use crate::error::{Error, Result};
use crate::lake::runs::Reconciliation;
use crate::pipeline::build::Staged;
use crate::pipeline::model::MODELS;

/// Deduplicated raw = trusted + rejected, per source table, from the rows
/// the run staged and the raw keys counted while it built.
pub fn reconcile(
    staged: &[Staged],
    mut raw_keys: BTreeMap<SourceTable, u64>,
) -> Result<Vec<Reconciliation>> {
    let mut out = Vec::new();
    for table in SourceTable::ALL {
        let rows_of = |layer: Layer| {
            staged
                .iter()
                .find(|s| s.model.layer == layer && s.model.name == table.name())
                .map(Staged::rows)
                .unwrap_or(0)
        };
        let check = Reconciliation {
            table: table.to_string(),
            raw_dedup: raw_keys.remove(&table).ok_or_else(|| Error::Internal {
                what: format!("the distinct keys of raw.{table} were never counted"),
            })?,
            trusted: rows_of(Layer::Trusted),
            rejected: rows_of(Layer::Rejected),
        };
        info!(
            table = %table,
            raw_dedup = check.raw_dedup,
            trusted = check.trusted,
            rejected = check.rejected,
            holds = check.holds(),
            "reconciliation"
        );
        out.push(check);
    }
    Ok(out)
}

/// Distinct primary keys of a source table over the published extractions:
/// the "rows in the latest raw state after deduplication" of the spec,
/// counted independently of the staging SQL.
pub async fn distinct_keys(ctx: &SessionContext, table: SourceTable) -> Result<u64> {
    let keys = table.primary_key().join(", ");
    let sql = format!("SELECT COUNT(*) AS n FROM (SELECT DISTINCT {keys} FROM raw.{table}) AS k");
    scalar_count(ctx, &sql, &format!("counting keys of raw.{table}")).await
}

async fn scalar_count(ctx: &SessionContext, sql: &str, what: &str) -> Result<u64> {
    let batches = engine::collect(ctx, sql, what).await?;
    let n = batches
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_primitive_opt::<Int64Type>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0);
    Ok(n.max(0) as u64)
}

/// Rejected rows per table and rule, from this run's rejected models.
pub async fn rejected_by_rule(
    ctx: &SessionContext,
) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let mut out = BTreeMap::new();
    for model in MODELS.iter().filter(|m| m.layer == Layer::Rejected) {
        let table = TableRef::new(Layer::Rejected, model.name);
        let sql =
            format!("SELECT {RULE_COLUMN}, COUNT(*) AS n FROM {table} GROUP BY {RULE_COLUMN}");
        let what = format!("counting {table} by rule");
        let batches = engine::collect(ctx, &sql, &what).await?;
        let mut rules = BTreeMap::new();
        for batch in &batches {
            let names = arrow::compute::cast(batch.column(0), &arrow::datatypes::DataType::Utf8)
                .map_err(|e| Error::engine(&what, e.into()))?;
            let names = names.as_string::<i32>();
            let counts = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                if names.is_valid(i) {
                    rules.insert(names.value(i).to_string(), counts.value(i).max(0) as u64);
                }
            }
        }
        out.insert(model.name.to_string(), rules);
    }
    Ok(out)
}
