//! Arrow rows into PostgreSQL: each row of a batch as binary `COPY`
//! parameters, in column order (the demo source database, the warehouse
//! load).

use std::pin::Pin;

use arrow::array::{
    Array, BooleanArray, Date32Array, Decimal128Array, Int16Array, Int32Array, Int64Array,
    RecordBatch, StringArray, StringViewArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::ToSql;

use crate::error::{Error, Result};
use crate::postgres::Postgres;

/// Writes every row of `batch`, in column order, to a binary
/// `COPY … FROM STDIN` of `pg`.
pub async fn copy_batch(
    pg: &Postgres,
    mut writer: Pin<&mut BinaryCopyInWriter>,
    batch: &RecordBatch,
) -> Result<()> {
    for row in 0..batch.num_rows() {
        let values = row_values(batch, row)?;
        writer
            .as_mut()
            .write_raw(values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)))
            .await
            .map_err(|e| pg.error(&e))?;
    }
    Ok(())
}

/// The values of one row of `batch` as `COPY` parameters, in column order.
pub fn row_values(batch: &RecordBatch, row: usize) -> Result<Vec<Box<dyn ToSql + Sync + Send>>> {
    let mut out: Vec<Box<dyn ToSql + Sync + Send>> = Vec::with_capacity(batch.num_columns());
    for (column, field) in batch.columns().iter().zip(batch.schema().fields()) {
        let null = column.is_null(row);
        let any = column.as_any();
        let value: Option<Box<dyn ToSql + Sync + Send>> = match field.data_type() {
            DataType::Int16 => any
                .downcast_ref::<Int16Array>()
                .map(|a| Box::new((!null).then(|| a.value(row))) as _),
            DataType::Int32 => any
                .downcast_ref::<Int32Array>()
                .map(|a| Box::new((!null).then(|| a.value(row))) as _),
            DataType::Int64 => any
                .downcast_ref::<Int64Array>()
                .map(|a| Box::new((!null).then(|| a.value(row))) as _),
            DataType::Utf8 => any
                .downcast_ref::<StringArray>()
                .map(|a| Box::new((!null).then(|| a.value(row).to_string())) as _),
            DataType::Utf8View => any
                .downcast_ref::<StringViewArray>()
                .map(|a| Box::new((!null).then(|| a.value(row).to_string())) as _),
            DataType::Boolean => any
                .downcast_ref::<BooleanArray>()
                .map(|a| Box::new((!null).then(|| a.value(row))) as _),
            DataType::Date32 => any.downcast_ref::<Date32Array>().map(|a| {
                Box::new((!null).then(|| {
                    NaiveDate::default() + chrono::TimeDelta::days(i64::from(a.value(row)))
                })) as _
            }),
            DataType::Decimal128(_, s) => any.downcast_ref::<Decimal128Array>().map(|a| {
                Box::new(
                    (!null)
                        .then(|| Decimal::from_i128_with_scale(a.value(row), (*s).max(0) as u32)),
                ) as _
            }),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => {
                any.downcast_ref::<TimestampMicrosecondArray>().map(|a| {
                    Box::new(
                        (!null)
                            .then(|| DateTime::<Utc>::from_timestamp_micros(a.value(row)))
                            .flatten(),
                    ) as _
                })
            }
            _ => None,
        };
        out.push(value.ok_or_else(|| Error::Internal {
            what: format!(
                "column `{}` of type {} cannot be loaded into PostgreSQL",
                field.name(),
                field.data_type()
            ),
        })?);
    }
    Ok(out)
}
