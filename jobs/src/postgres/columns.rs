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
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int16Builder, Int32Builder,
    Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyOutRow;
use tokio_postgres::types::{FromSql, Type};

use crate::contract::source::timestamp_type;
use crate::error::{Error, Result};

/// A PostgreSQL column type that raw can hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgType {
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `text`, `varchar`.
    Text,
    /// `char(n)`: blank-padded to its length, in raw as on the wire.
    Char,
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
            PgType::Text | PgType::Char => DataType::Utf8,
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
            PgType::Text | PgType::Char => Type::TEXT,
            PgType::Bool => Type::BOOL,
            PgType::Date => Type::DATE,
            PgType::Numeric { .. } => Type::NUMERIC,
            PgType::Timestamptz => Type::TIMESTAMPTZ,
            PgType::Timestamp => Type::TIMESTAMP,
        }
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

/// The columns of `schema.table`, in declaration order; an unsupported
/// type is an error naming the table and column.
pub async fn source_columns(
    client: &Client,
    schema: &str,
    table: &str,
) -> Result<Vec<SourceColumn>> {
    let shown = format!("{schema}.{table}");
    let rows = client
        .query(
            "SELECT column_name::text, udt_name::text, numeric_precision::int, numeric_scale::int, \
                    is_nullable::text = 'YES' \
             FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position",
            &[&schema, &table],
        )
        .await
        .map_err(|e| Error::SourceQuery {
            table: shown.clone(),
            reason: e.to_string(),
        })?;
    if rows.is_empty() {
        return Err(Error::SourceQuery {
            table: shown,
            reason: "the table does not exist or the role may not read it; create it (`dfstore source init` for the retail demo), grant SELECT, or fix the source's schema and table in dfstore_project.toml".into(),
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
            "text" | "varchar" => PgType::Text,
            "bpchar" => PgType::Char,
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
                        &shown,
                        &name,
                        "numeric without a precision of at most 38 digits",
                    ));
                }
            },
            other => return Err(unsupported(&shown, &name, other)),
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
        table: table.to_string(),
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
    /// `timestamptz` (with its time zone) or `timestamp`.
    Timestamp(TimestampMicrosecondBuilder),
}

impl ColumnBuilder {
    fn new(pg: PgType) -> Self {
        match pg {
            PgType::Int2 => ColumnBuilder::Int2(Int16Builder::new()),
            PgType::Int4 => ColumnBuilder::Int4(Int32Builder::new()),
            PgType::Int8 => ColumnBuilder::Int8(Int64Builder::new()),
            PgType::Text | PgType::Char => ColumnBuilder::Text(StringBuilder::new()),
            PgType::Bool => ColumnBuilder::Bool(BooleanBuilder::new()),
            PgType::Date => ColumnBuilder::Date(Date32Builder::new()),
            PgType::Numeric { scale, .. } => ColumnBuilder::Numeric(
                Decimal128Builder::new().with_data_type(pg.arrow()),
                scale.max(0) as u32,
            ),
            PgType::Timestamptz | PgType::Timestamp => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::new().with_data_type(pg.arrow()),
            ),
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
                ColumnBuilder::Date(b) => b.append_option(decode(row, i, Wire::date)?),
                ColumnBuilder::Numeric(b, scale) => {
                    b.append_option(decode(row, i, |w| w.numeric(*scale))?)
                }
                ColumnBuilder::Timestamp(b) => b.append_option(decode(row, i, Wire::timestamp)?),
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
                    ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        self.rows = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), arrays).map_err(|e| Error::Internal {
            what: format!("building a raw batch: {e}"),
        })
    }
}

/// The raw bytes of a value of binary `COPY`, decoded here straight into
/// what Arrow stores: a decimal's unscaled integer, microseconds or days
/// since 1970-01-01. Going through chrono and rust_decimal cost more than
/// the rest of the decoding together.
struct Wire<'a>(&'a [u8]);

/// Microseconds, and days, from PostgreSQL's epoch (2000-01-01) to 1970's.
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
const PG_EPOCH_DAYS: i32 = 10_957;

impl<'a> FromSql<'a> for Wire<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Wire(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The value of column `i` decoded from its raw bytes by `f`, `None` for
/// NULL; a failure names the column.
fn decode<'a, T>(
    row: &'a BinaryCopyOutRow,
    i: usize,
    f: impl FnOnce(&Wire<'a>) -> std::result::Result<T, String>,
) -> std::result::Result<Option<T>, String> {
    row.try_get::<Option<Wire<'a>>>(i)
        .map_err(|e| e.to_string())
        .and_then(|w| w.as_ref().map(f).transpose())
        .map_err(|e| format!("column {i}: {e}"))
}

impl Wire<'_> {
    fn fixed<const N: usize>(&self) -> std::result::Result<[u8; N], String> {
        self.0
            .try_into()
            .map_err(|_| format!("{} bytes where {N} were expected", self.0.len()))
    }

    /// A `timestamp` or `timestamptz`: microseconds since 2000-01-01 UTC.
    fn timestamp(&self) -> std::result::Result<i64, String> {
        let micros = i64::from_be_bytes(self.fixed()?);
        if micros == i64::MAX || micros == i64::MIN {
            return Err(
                "an infinite timestamp has no place in raw; filter or replace it at the source"
                    .into(),
            );
        }
        micros
            .checked_add(PG_EPOCH_MICROS)
            .ok_or_else(|| format!("timestamp {micros} out of range"))
    }

    /// A `date`: days since 2000-01-01.
    fn date(&self) -> std::result::Result<i32, String> {
        let days = i32::from_be_bytes(self.fixed()?);
        if days == i32::MAX || days == i32::MIN {
            return Err(
                "an infinite date has no place in raw; filter or replace it at the source".into(),
            );
        }
        days.checked_add(PG_EPOCH_DAYS)
            .ok_or_else(|| format!("date {days} out of range"))
    }

    /// A `numeric` as an integer of `scale` decimals: a header of four
    /// 16-bit words (digit count, weight of the first digit as a power of
    /// 10000, sign, display scale) and the digits in base 10000.
    fn numeric(&self, scale: u32) -> std::result::Result<i128, String> {
        let word = |i: usize| -> std::result::Result<u16, String> {
            self.0
                .get(2 * i..2 * i + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(|| "truncated numeric".to_string())
        };
        let (count, weight, sign) = (word(0)? as usize, word(1)? as i16, word(2)?);
        match sign {
            0x0000 | 0x4000 => {}
            0xC000 => return Err("NaN has no place in a decimal column".into()),
            _ => return Err("an infinite numeric has no place in a decimal column".into()),
        }
        let overflow = || format!("numeric does not fit 38 digits at scale {scale}");
        let mut value: i128 = 0;
        for i in 0..count {
            let digit = i128::from(word(4 + i)?);
            value = value
                .checked_mul(10_000)
                .and_then(|v| v.checked_add(digit))
                .ok_or_else(overflow)?;
        }
        // value × 10000^(weight − count + 1) × 10^scale
        let exponent = 4 * (i64::from(weight) - count as i64 + 1) + i64::from(scale);
        if exponent >= 0 {
            value = u32::try_from(exponent)
                .ok()
                .and_then(|e| 10i128.checked_pow(e))
                .and_then(|f| value.checked_mul(f))
                .ok_or_else(overflow)?;
        } else {
            let divisor = u32::try_from(-exponent)
                .ok()
                .and_then(|e| 10i128.checked_pow(e));
            value = match divisor {
                Some(d) if value % d == 0 => value / d,
                _ if value == 0 => 0,
                _ => return Err(format!("numeric has more than {scale} decimals")),
            };
        }
        Ok(if sign == 0x4000 { -value } else { value })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary `numeric`: header words then base-10000 digits.
    fn numeric(weight: i16, sign: u16, digits: &[u16]) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [digits.len() as u16, weight as u16, sign, 2] {
            out.extend(word.to_be_bytes());
        }
        for d in digits {
            out.extend(d.to_be_bytes());
        }
        out
    }

    #[test]
    fn numerics_decode_to_unscaled_integers() {
        let at = |weight, sign, digits: &[u16], scale| {
            Wire(&numeric(weight, sign, digits)).numeric(scale)
        };
        assert_eq!(at(0, 0, &[12, 5000], 2), Ok(1250));
        assert_eq!(at(-1, 0x4000, &[500], 2), Ok(-5));
        assert_eq!(at(0, 0, &[], 2), Ok(0));
        assert_eq!(at(2, 0, &[1, 2345, 6789, 1200], 2), Ok(12_345_678_912));
        assert_eq!(at(7, 0, &[100], 0), Ok(10i128.pow(30)));
        assert!(at(0, 0, &[1, 2345], 2).is_err(), "4 decimals at scale 2");
        assert!(at(10, 0, &[1], 2).is_err(), "43 digits");
        assert!(at(0, 0xC000, &[], 2).is_err(), "NaN");
    }

    #[test]
    fn dates_and_timestamps_count_from_1970() {
        assert_eq!(Wire(&0i64.to_be_bytes()).timestamp(), Ok(PG_EPOCH_MICROS));
        assert_eq!(Wire(&(-10_957i32).to_be_bytes()).date(), Ok(0));
        assert!(Wire(&i64::MAX.to_be_bytes()).timestamp().is_err());
        assert!(Wire(&[0u8; 3]).date().is_err());
    }
}
