//! What a run's reconciliation compares (spec section 2): the distinct keys
//! of every source table in raw, counted independently of the staging SQL,
//! against the rows of trusted and rejected; and the rejected rows per rule.

use std::collections::BTreeMap;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use datafusion::common::ScalarValue;
use datafusion::prelude::SessionContext;
use tracing::info;

use dfstore_core::key_count;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::RULE_COLUMN;
use crate::contract::source::SourceTable;
use crate::engine;
use crate::error::{Error, Result};
use crate::lake::runs::Reconciliation;
use crate::pipeline::build::Staged;
use crate::pipeline::increment::Changes;
use crate::project::Model;

/// The source tables a run of `models` reconciles: those a trusted or
/// rejected model among them carries (its header's `source`).
pub fn reconciled_sources(models: &[std::sync::Arc<Model>]) -> Vec<SourceTable> {
    let mut out: Vec<SourceTable> = Vec::new();
    for model in models {
        if let Some(table) = &model.source
            && carries(model, table)
            && !out.contains(table)
        {
            out.push(table.clone());
        }
    }
    out
}

/// Whether `model` is a trusted or rejected table of `table`'s rows.
fn carries(model: &Model, table: &SourceTable) -> bool {
    matches!(model.layer, Layer::Trusted | Layer::Rejected)
        && model.source.as_ref() == Some(table)
        && model.materialized.is_stored()
}

/// Deduplicated raw = trusted + rejected, per source table the run
/// reconciles, from the rows the run staged and the raw keys counted while
/// it built.
pub fn reconcile(
    staged: &[Staged],
    mut raw_keys: BTreeMap<SourceTable, u64>,
) -> Result<Vec<Reconciliation>> {
    let mut out = Vec::new();
    let models: Vec<std::sync::Arc<Model>> = staged.iter().map(|s| s.model.clone()).collect();
    for table in reconciled_sources(&models) {
        let rows_of = |layer: Layer| {
            staged
                .iter()
                .filter(|s| s.model.layer == layer && carries(&s.model, &table))
                .map(Staged::rows)
                .sum::<u64>()
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
/// counted independently of the staging SQL. Integer keys spanning at most
/// 2^32 values are each packed into one offset and counted in a bitmap
/// ([`key_count`]); any other key is counted by a hash aggregation, which
/// spills at scale (the line keys spilled 3.4 GB at scale 100 and took 72
/// CPU-s, against 6 at scale 10).
///
/// In an incremental run that rebuilds the table's trusted and rejected rows
/// by key, only the raw rows of the changed keys are counted: those are the
/// rows the run builds.
pub async fn distinct_keys(
    ctx: &SessionContext,
    table: &SourceTable,
    changes: Option<&Changes>,
) -> Result<u64> {
    let what = format!("counting keys of raw.{table}");
    let keys = table.primary_key();
    let from = match changes.and_then(|c| c.keys_of_source(table)) {
        None => format!("raw.{table}"),
        Some((column, values)) => {
            let list: Vec<String> = values.iter().map(sql_literal).collect();
            let list = if list.is_empty() {
                "NULL".to_string()
            } else {
                list.join(", ")
            };
            format!("(SELECT * FROM raw.{table} WHERE {column} IN ({list})) AS r")
        }
    };
    let sql = match packed_key(ctx, table, keys, (&from, &what)).await? {
        Some(offset) => format!("SELECT {}({offset}) AS n FROM {from}", key_count::NAME),
        None => {
            let keys = keys.join(", ");
            format!("SELECT COUNT(*) AS n FROM (SELECT DISTINCT {keys} FROM {from}) AS k")
        }
    };
    scalar_count(ctx, &sql, &what).await
}

/// The SQL expression of a key's offset from its smallest value, row-major
/// over its columns (`(id_venta - 1) * 5 + (linea - 1)`), when every column
/// is an integer without NULLs and the key spans at most 2^32 values. The
/// bounds come from the files' statistics where they are exact.
async fn packed_key(
    ctx: &SessionContext,
    table: &SourceTable,
    keys: &[String],
    (from, what): (&str, &str),
) -> Result<Option<String>> {
    let schema = table.schema();
    let integers = keys.iter().all(|k| {
        schema
            .field_with_name(k)
            .is_ok_and(|f| f.data_type().is_integer())
    });
    if !integers {
        return Ok(None);
    }
    let bounds: Vec<String> = keys
        .iter()
        .map(|k| format!("CAST(MIN({k}) AS BIGINT), CAST(MAX({k}) AS BIGINT), COUNT({k})"))
        .collect();
    let sql = format!("SELECT COUNT(*), {} FROM {from}", bounds.join(", "));
    let batches = engine::collect(ctx, &sql, what).await?;
    let Some(row) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let value = |i: usize| {
        let column = row.column(i).as_primitive_opt::<Int64Type>()?;
        column.is_valid(0).then(|| column.value(0))
    };
    let rows = value(0).unwrap_or(0);
    let mut offset = String::new();
    let mut span: u128 = 1;
    for (i, key) in keys.iter().enumerate() {
        let (Some(min), Some(max), Some(present)) =
            (value(1 + 3 * i), value(2 + 3 * i), value(3 + 3 * i))
        else {
            // no rows at all: nothing to count
            return Ok((rows == 0).then(|| "CAST(0 AS BIGINT)".to_string()));
        };
        if present != rows {
            return Ok(None);
        }
        let width = (max as i128 - min as i128 + 1) as u128;
        span = span.saturating_mul(width);
        let column = format!("(CAST({key} AS BIGINT) - ({min}))");
        offset = if offset.is_empty() {
            column
        } else {
            format!("({offset}) * {width} + {column}")
        };
    }
    Ok((span <= 1 << 32).then_some(offset))
}

/// A key value as SQL text.
fn sql_literal(value: &ScalarValue) -> String {
    match value {
        ScalarValue::Utf8(Some(v))
        | ScalarValue::LargeUtf8(Some(v))
        | ScalarValue::Utf8View(Some(v)) => {
            format!("'{}'", v.replace('\'', "''"))
        }
        other => other.to_string(),
    }
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
    staged: &[Staged],
) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
    let mut out = BTreeMap::new();
    // A rejected model names the rule each row failed in `regla`.
    let rejected = staged
        .iter()
        .filter(|s| s.schema.column_with_name(RULE_COLUMN).is_some())
        .map(|s| &s.model)
        .filter(|m| m.layer == Layer::Rejected && m.materialized.is_stored());
    for model in rejected {
        let table = TableRef::new(Layer::Rejected, model.name.clone());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> SourceTable {
        crate::project::builtin::source(name).unwrap()
    }

    /// A session with `raw.detalle_ventas` and `raw.ventas` holding `lines`
    /// and `tickets` (other columns NULL): keys repeated across extractions.
    async fn raw(lines: &str, tickets: &str) -> SessionContext {
        let ctx = SessionContext::new();
        ctx.register_udaf(key_count::udaf());
        for sql in [
            "CREATE SCHEMA raw".to_string(),
            format!(
                "CREATE TABLE raw.detalle_ventas (id_venta BIGINT, linea INT) AS VALUES {lines}"
            ),
            format!("CREATE TABLE raw.ventas (id_venta BIGINT) AS VALUES {tickets}"),
        ] {
            engine::collect(&ctx, &sql, "setting up").await.unwrap();
        }
        ctx
    }

    async fn hashed(ctx: &SessionContext, table: &SourceTable) -> u64 {
        let keys = table.primary_key().join(", ");
        let sql =
            format!("SELECT COUNT(*) AS n FROM (SELECT DISTINCT {keys} FROM raw.{table}) AS k");
        scalar_count(ctx, &sql, "hashing").await.unwrap()
    }

    #[tokio::test]
    async fn integer_keys_are_counted_in_a_bitmap_as_a_hash_would() {
        // negative and repeated keys, lines of one ticket far apart
        let ctx = raw(
            "(-3, 1), (-3, 2), (7, 1), (7, 1), (7, 4), (1000000, 2), (-3, 1)",
            "(5), (-2), (5), (4000000000)",
        )
        .await;
        let lines = &source("detalle_ventas");
        let offset = packed_key(
            &ctx,
            lines,
            lines.primary_key(),
            ("raw.detalle_ventas", "bounds"),
        )
        .await
        .unwrap();
        assert_eq!(
            offset.as_deref(),
            Some("((CAST(id_venta AS BIGINT) - (-3))) * 4 + (CAST(linea AS BIGINT) - (1))")
        );
        assert_eq!(distinct_keys(&ctx, lines, None).await.unwrap(), 5);
        assert_eq!(hashed(&ctx, lines).await, 5);
        // a span of 4e9 + 3 values fits in 2^32
        assert_eq!(
            distinct_keys(&ctx, &source("ventas"), None).await.unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn keys_a_bitmap_cannot_hold_are_hashed() {
        let ctx = raw(
            "(1, 1), (1, NULL), (1, NULL), (2, 1)",
            "(0), (5000000000), (0)",
        )
        .await;
        for table in [&source("detalle_ventas"), &source("ventas")] {
            let keys = table.primary_key();
            // a NULL line number; a span over 2^32
            assert_eq!(
                packed_key(&ctx, table, keys, (&format!("raw.{table}"), "bounds"))
                    .await
                    .unwrap(),
                None
            );
            assert_eq!(
                distinct_keys(&ctx, table, None).await.unwrap(),
                hashed(&ctx, table).await
            );
        }
        assert_eq!(
            distinct_keys(&ctx, &source("detalle_ventas"), None)
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn an_empty_table_has_no_keys() {
        let ctx = SessionContext::new();
        ctx.register_udaf(key_count::udaf());
        for sql in [
            "CREATE SCHEMA raw",
            "CREATE TABLE raw.ventas (id_venta BIGINT)",
        ] {
            engine::collect(&ctx, sql, "setting up").await.unwrap();
        }
        assert_eq!(
            distinct_keys(&ctx, &source("ventas"), None).await.unwrap(),
            0
        );
    }
}
