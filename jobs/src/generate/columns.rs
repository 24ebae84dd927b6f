//! Arrow columns for the generated tables: money from integer cents (never
//! floats), unit costs from ten-thousandths, instants from whole seconds.

use std::sync::Arc;

use arrow::array::{ArrayRef, Decimal128Array, RecordBatch, TimestampMicrosecondArray};

use crate::error::{Error, Result};
use crate::project::builtin;

/// A `numeric(12,2)` column from cents.
pub(super) fn money(cents: impl IntoIterator<Item = i64>) -> Result<ArrayRef> {
    decimal(cents, 12, 2)
}

/// A `numeric(12,4)` column from ten-thousandths.
pub(super) fn unit_cost(units: impl IntoIterator<Item = i64>) -> Result<ArrayRef> {
    decimal(units, 12, 4)
}

fn decimal(values: impl IntoIterator<Item = i64>, precision: u8, scale: i8) -> Result<ArrayRef> {
    let array = Decimal128Array::from_iter_values(values.into_iter().map(i128::from))
        .with_precision_and_scale(precision, scale)
        .map_err(|e| Error::Internal {
            what: format!("decimal({precision},{scale}) column: {e}"),
        })?;
    Ok(Arc::new(array))
}

/// A `timestamptz` column (microseconds, UTC) from whole seconds.
pub(super) fn instants(seconds: impl IntoIterator<Item = i64>) -> ArrayRef {
    let micros = seconds.into_iter().map(|s| s * 1_000_000);
    Arc::new(TimestampMicrosecondArray::from_iter_values(micros).with_timezone("UTC"))
}

/// A batch of `table` with its source schema; Arrow checks types and nullability.
pub(super) fn batch(table: &str, columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let schema = builtin::source(table)?.schema();
    RecordBatch::try_new(schema, columns).map_err(|e| Error::Internal {
        what: format!("building a `{table}` batch: {e}"),
    })
}
