//! The columns of a source table as PostgreSQL declares them, their exact
//! Arrow types in raw, and the conversion of values both ways: binary `COPY`
//! rows into Arrow arrays (ingest) and Arrow arrays into `COPY` rows (the
//! demo database's load).
//!
//! | PostgreSQL | Arrow |
//! |---|---|
//! | `smallint`, `integer`, `bigint` | Int16, Int32, Int64 |
//! | `text`, `varchar`, `char` | Utf8 |
//! | `boolean` | Boolean |
//! | `date` | Date32 |
//! | `numeric(p,s)` | Decimal128(p,s) |
//! | `timestamptz` | Timestamp(µs, UTC) |
//! | `timestamp` | Timestamp(µs) |
//!
//! Anything else (floating point, `numeric` without a precision, arrays,
//! JSON…) is refused with the table and column named: raw keeps values
//! exactly, and money is decimal.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBuilder, Date32Array, Date32Builder, Decimal128Array,
    Decimal128Builder, Int16Array, Int16Builder, Int32Array, Int32Builder, Int64Array,
    Int64Builder, RecordBatch, StringArray, StringBuilder, TimestampMicrosecondArray,
    TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyOutRow;
use tokio_postgres::types::{ToSql, Type};

use crate::error::{Error, Result};
use crate::source::timestamp_type;

/// The schema that holds the source tables.
pub const SOURCE_SCHEMA: &str = "retail";

/// A PostgreSQL column type that raw can hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `text`, `varchar`, `char`.
    Text,
    /// `boolean`.
    Bool,
    /// `date`.
    Date,
    /// `numeric(precision, scale)`.
    Numeric {
        /// Total digits.
        precision: u8,
        /// Digits after the point.
        scale: i8,
    },
    /// `timestamptz`.
    Timestamptz,
    /// `timestamp` (without time zone).
    Timestamp,
}

impl PgType {
    /// The Arrow type of the column in raw.
    pub fn arrow(self) -> DataType {
        match self {
            PgType::Int2 => DataType::Int16,
            PgType::Int4 => DataType::Int32,
            PgType::Int8 => DataType::Int64,
            PgType::Text => DataType::Utf8,
            PgType::Bool => DataType::Boolean,
            PgType::Date => DataType::Date32,
            PgType::Numeric { precision, scale } => DataType::Decimal128(precision, scale),
            PgType::Timestamptz => timestamp_type(),
            PgType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The type of the column in binary `COPY`.
    pub fn wire(self) -> Type {
        match self {
            PgType::Int2 => Type::INT2,
            PgType::Int4 => Type::INT4,
            PgType::Int8 => Type::INT8,
            PgType::Text => Type::TEXT,
            PgType::Bool => Type::BOOL,
            PgType::Date => Type::DATE,
            PgType::Numeric { .. } => Type::NUMERIC,
            PgType::Timestamptz => Type::TIMESTAMPTZ,
            PgType::Timestamp => Type::TIMESTAMP,
        }
    }

    /// The column as text that [`crate::checksum`] hashes identically on
    /// both sides; `NULL` is `\N`.
    pub fn canonical_sql(self, column: &str) -> String {
        let c = quote_ident(column);
        let text = match self {
            PgType::Timestamptz | PgType::Timestamp => {
                format!("(extract(epoch FROM {c}) * 1000000)::bigint::text")
            }
            // Everything else prints as the checksum expects; varchar and
            // char compare as text.
            _ => format!("{c}::text"),
        };
        format!("coalesce({text}, '\\N')")
    }
}

/// One column of a source table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    /// Its name.
    pub name: String,
    /// Its type.
    pub pg: PgType,
    /// Whether it admits NULL.
    pub nullable: bool,
}

/// The columns of `retail.<table>`, in declaration order; an unsupported
/// type is an error naming the table and column.
pub async fn source_columns(client: &Client, table: &str) -> Result<Vec<SourceColumn>> {
    let rows = client
        .query(
            "SELECT column_name::text, udt_name::text, numeric_precision::int, numeric_scale::int, \
                    is_nullable::text = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&SOURCE_SCHEMA, &table],
        )
        .await
        .map_err(|e| Error::SourceQuery {
            table: format!("{SOURCE_SCHEMA}.{table}"),
            reason: e.to_string(),
        })?;
    if rows.is_empty() {
        return Err(Error::SourceQuery {
            table: format!("{SOURCE_SCHEMA}.{table}"),
            reason: "the table does not exist or the role may not read it; run `dfstore source init` or grant SELECT".into(),
        });
    }
    let mut columns = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.get(0);
        let udt: String = row.get(1);
        let precision: Option<i32> = row.get(2);
        let scale: Option<i32> = row.get(3);
        let pg = match udt.as_str() {
            "int2" => PgType::Int2,
            "int4" => PgType::Int4,
            "int8" => PgType::Int8,
            "text" | "varchar" | "bpchar" => PgType::Text,
            "bool" => PgType::Bool,
            "date" => PgType::Date,
            "timestamptz" => PgType::Timestamptz,
            "timestamp" => PgType::Timestamp,
            "numeric" => match (precision, scale) {
                (Some(p @ 1..=38), Some(s @ 0..=38)) => PgType::Numeric {
                    precision: p as u8,
                    scale: s as i8,
                },
                _ => {
                    return Err(unsupported(
                        table,
                        &name,
                        "numeric without a precision of at most 38 digits",
                    ));
                }
            },
            other => return Err(unsupported(table, &name, other)),
        };
        columns.push(SourceColumn {
            name,
            pg,
            nullable: row.get(4),
        });
    }
    Ok(columns)
}

fn unsupported(table: &str, column: &str, what: &str) -> Error {
    Error::UnsupportedColumn {
        table: format!("{SOURCE_SCHEMA}.{table}"),
        column: column.to_string(),
        pg_type: what.to_string(),
    }
}

/// `"name"`, quoted for SQL.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The Arrow schema of the columns.
pub fn arrow_schema(columns: &[SourceColumn]) -> SchemaRef {
    Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(&c.name, c.pg.arrow(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Collects binary `COPY` rows into Arrow record batches.
pub struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<ColumnBuilder>,
    rows: usize,
}

enum ColumnBuilder {
    Int2(Int16Builder),
    Int4(Int32Builder),
    Int8(Int64Builder),
    Text(StringBuilder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Numeric(Decimal128Builder, u32),
    Timestamptz(TimestampMicrosecondBuilder),
    Timestamp(TimestampMicrosecondBuilder),
}

impl ColumnBuilder {
    fn new(pg: PgType) -> Self {
        match pg {
            PgType::Int2 => ColumnBuilder::Int2(Int16Builder::new()),
            PgType::Int4 => ColumnBuilder::Int4(Int32Builder::new()),
            PgType::Int8 => ColumnBuilder::Int8(Int64Builder::new()),
            PgType::Text => ColumnBuilder::Text(StringBuilder::new()),
            PgType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            PgType::Date => ColumnBuilder::Date(Date32Builder::new()),
            PgType::Numeric { scale, .. } => ColumnBuilder::Numeric(
                Decimal128Builder::new().with_data_type(pg.arrow()),
                scale.max(0) as u32,
            ),
            PgType::Timestamptz => {
                ColumnBuilder::Timestamptz(TimestampMicrosecondBuilder::new().with_timezone("UTC"))
            }
            PgType::Timestamp => ColumnBuilder::Timestamp(TimestampMicrosecondBuilder::new()),
        }
    }
}

impl BatchBuilder {
    /// Builders for `columns`.
    pub fn new(columns: &[SourceColumn]) -> Self {
        BatchBuilder {
            schema: arrow_schema(columns),
            columns: columns.iter().map(|c| ColumnBuilder::new(c.pg)).collect(),
            rows: 0,
        }
    }

    /// Rows appended since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row.
    pub fn append(&mut self, row: &BinaryCopyOutRow) -> std::result::Result<(), String> {
        for (i, column) in self.columns.iter_mut().enumerate() {
            let failed = |e: tokio_postgres::Error| format!("column {i}: {e}");
            match column {
                ColumnBuilder::Int2(b) => {
                    b.append_option(row.try_get::<Option<i16>>(i).map_err(failed)?)
                }
                ColumnBuilder::Int4(b) => {
                    b.append_option(row.try_get::<Option<i32>>(i).map_err(failed)?)
                }
                ColumnBuilder::Int8(b) => {
                    b.append_option(row.try_get::<Option<i64>>(i).map_err(failed)?)
                }
                ColumnBuilder::Text(b) => {
                    b.append_option(row.try_get::<Option<&str>>(i).map_err(failed)?)
                }
                ColumnBuilder::Bool(b) => {
                    b.append_option(row.try_get::<Option<bool>>(i).map_err(failed)?)
                }
                ColumnBuilder::Date(b) => b.append_option(
                    row.try_get::<Option<NaiveDate>>(i)
                        .map_err(failed)?
                        .map(days_since_epoch),
                ),
                ColumnBuilder::Numeric(b, scale) => {
                    let value = match row.try_get::<Option<Decimal>>(i).map_err(failed)? {
                        Some(mut d) => {
                            d.rescale(*scale);
                            Some(d.mantissa())
                        }
                        None => None,
                    };
                    b.append_option(value)
                }
                ColumnBuilder::Timestamptz(b) => b.append_option(
                    row.try_get::<Option<DateTime<Utc>>>(i)
                        .map_err(failed)?
                        .map(|t| t.timestamp_micros()),
                ),
                ColumnBuilder::Timestamp(b) => b.append_option(
                    row.try_get::<Option<NaiveDateTime>>(i)
                        .map_err(failed)?
                        .map(|t| t.and_utc().timestamp_micros()),
                ),
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows appended so far as a batch; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self
            .columns
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    ColumnBuilder::Int2(b) => Arc::new(b.finish()),
                    ColumnBuilder::Int4(b) => Arc::new(b.finish()),
                    ColumnBuilder::Int8(b) => Arc::new(b.finish()),
                    ColumnBuilder::Text(b) => Arc::new(b.finish()),
                    ColumnBuilder::Bool(b) => Arc::new(b.finish()),
                    ColumnBuilder::Date(b) => Arc::new(b.finish()),
                    ColumnBuilder::Numeric(b, _) => Arc::new(b.finish()),
                    ColumnBuilder::Timestamptz(b) | ColumnBuilder::Timestamp(b) => {
                        Arc::new(b.finish())
                    }
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(|e| Error::Internal {
            what: format!("building a raw batch: {e}"),
        })
    }
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    (date - NaiveDate::default()).num_days() as i32
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
