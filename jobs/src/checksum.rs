//! The content checksum of an extracted table, computed the same way by
//! PostgreSQL (in SQL, over the extraction's snapshot) and by dfstore over
//! the Parquet files written, so that a lost, added or altered value shows
//! as a mismatch.
//!
//! Each row becomes one text: its values in column order, each in a
//! canonical form (integers and decimals as PostgreSQL prints them — a
//! `numeric(12,2)` always with two decimals —, booleans `true`/`false`,
//! dates `YYYY-MM-DD`, timestamps as microseconds since the epoch, text as
//! is, `NULL` as `\N`), joined by the unit separator (U+001F). The row's
//! hash is the first 8 bytes of its MD5 read as a signed 64-bit integer;
//! the table's checksum is the exact sum of its rows' hashes, printed in
//! decimal. A sum does not depend on row order, so the two sides need not
//! sort anything.

use std::fmt::Write as _;

use arrow::array::{
    Array, BooleanArray, Date32Array, Decimal128Array, Int16Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, TimeUnit};
use chrono::NaiveDate;
use futures::TryStreamExt;
use md5::{Digest, Md5};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::raw::{RawFile, read_file};
use crate::source_columns::{SourceColumn, quote_ident};

/// Row count and checksum of some rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Rows.
    pub rows: u64,
    /// The sum of the rows' hashes.
    pub sum: i128,
}

impl Checksum {
    /// The checksum as the manifest stores it.
    pub fn text(&self) -> String {
        self.sum.to_string()
    }

    /// Adds every row of `batch`.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, column) in batch.columns().iter().enumerate() {
                if i > 0 {
                    line.push('\u{1f}');
                }
                canonical(column.as_ref(), row, &mut line)?;
            }
            let digest = Md5::digest(line.as_bytes());
            let mut head = [0u8; 8];
            head.copy_from_slice(&digest[..8]);
            self.sum += i128::from(i64::from_be_bytes(head));
            self.rows += 1;
        }
        Ok(())
    }
}

/// Appends the canonical text of one value.
fn canonical(column: &dyn Array, row: usize, out: &mut String) -> Result<()> {
    if column.is_null(row) {
        out.push_str("\\N");
        return Ok(());
    }
    let any = column.as_any();
    let done = match column.data_type() {
        DataType::Int16 => any
            .downcast_ref::<Int16Array>()
            .map(|a| write!(out, "{}", a.value(row))),
        DataType::Int32 => any
            .downcast_ref::<Int32Array>()
            .map(|a| write!(out, "{}", a.value(row))),
        DataType::Int64 => any
            .downcast_ref::<Int64Array>()
            .map(|a| write!(out, "{}", a.value(row))),
        DataType::Utf8 => any
            .downcast_ref::<StringArray>()
            .map(|a| out.write_str(a.value(row))),
        DataType::Boolean => any
            .downcast_ref::<BooleanArray>()
            .map(|a| out.write_str(if a.value(row) { "true" } else { "false" })),
        DataType::Date32 => any.downcast_ref::<Date32Array>().map(|a| {
            let date = NaiveDate::default() + chrono::TimeDelta::days(i64::from(a.value(row)));
            write!(out, "{}", date.format("%Y-%m-%d"))
        }),
        DataType::Decimal128(_, scale) => any.downcast_ref::<Decimal128Array>().map(|a| {
            decimal_text(a.value(row), *scale, out);
            Ok(())
        }),
        DataType::Timestamp(TimeUnit::Microsecond, _) => any
            .downcast_ref::<TimestampMicrosecondArray>()
            .map(|a| write!(out, "{}", a.value(row))),
        _ => None,
    };
    match done {
        Some(Ok(())) => Ok(()),
        _ => Err(Error::Internal {
            what: format!("no checksum form for {}", column.data_type()),
        }),
    }
}

/// A decimal as PostgreSQL prints a `numeric(p, scale)`: `-12.50`, `0.05`.
fn decimal_text(value: i128, scale: i8, out: &mut String) {
    if scale <= 0 {
        let _ = write!(
            out,
            "{}",
            value * 10i128.pow(u32::from(scale.unsigned_abs()))
        );
        return;
    }
    let scale = scale as u32;
    let factor = 10i128.pow(scale);
    let (int, frac) = (value.abs() / factor, value.abs() % factor);
    let sign = if value < 0 { "-" } else { "" };
    let _ = write!(out, "{sign}{int}.{frac:0width$}", width = scale as usize);
}

/// The SQL that computes, over `retail.<table>` rows matching `filter`,
/// the row count, the checksum and the greatest `actualizado_en`.
pub fn checksum_sql(table: &str, columns: &[SourceColumn], filter: &str) -> String {
    let values: Vec<String> = columns
        .iter()
        .map(|c| c.pg.canonical_sql(&c.name))
        .collect();
    format!(
        "SELECT count(*), coalesce(sum(('x' || left(md5(concat_ws(chr(31), {values})), 16))::bit(64)::bigint), 0)::text, \
                max(actualizado_en) \
         FROM retail.{table} WHERE {filter}",
        values = values.join(", "),
        table = quote_ident(table),
    )
}

/// Reads the files back from the lake and computes their checksum.
pub async fn of_files(lake: &Lake, files: &[RawFile]) -> Result<Checksum> {
    let mut checksum = Checksum::default();
    for file in files {
        let mut batches = read_file(lake, file).await?;
        while let Some(batch) = batches.try_next().await? {
            checksum.add_batch(&batch)?;
        }
    }
    Ok(checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_print_as_postgres_numeric() {
        let text = |v, s| {
            let mut out = String::new();
            decimal_text(v, s, &mut out);
            out
        };
        assert_eq!(text(1250, 2), "12.50");
        assert_eq!(text(-5, 2), "-0.05");
        assert_eq!(text(0, 2), "0.00");
        assert_eq!(text(123_456, 4), "12.3456");
        assert_eq!(text(7, 0), "7");
    }
}
