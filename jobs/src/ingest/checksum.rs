//! The content checksum of an extracted table, computed the same way by
//! PostgreSQL (in SQL, over the extraction's snapshot) and by dfstore over
//! the Parquet files written, so that a lost, added or altered value shows
//! as a mismatch.
//!
//! Each row becomes one text: its values in column order, each as
//! PostgreSQL prints it with `DateStyle = ISO` and `TimeZone = UTC`
//! (`12.50` for a `numeric(12,2)`, `true`, `2025-03-01`,
//! `2025-03-01 10:00:00.25+00`), `NULL` as `\N`, joined by the unit
//! separator (U+001F). The row's hash is PostgreSQL's
//! `hashtextextended(text, 0)`: Bob Jenkins' lookup3 over the text's UTF-8
//! bytes, 64 bits wide, which [`hash_text`] computes the same way. The
//! table's checksum is the exact sum of its rows' hashes, printed in
//! decimal. A sum does not depend on row order, so the two sides need not
//! sort anything.
//!
//! The hash is PostgreSQL's own rather than `md5()` because on the server
//! `md5()` costs about a microsecond per row (each call sets up an OpenSSL
//! digest) and its hex text must be parsed back into a number, which made
//! the source's checksum the slowest part of an extraction. PostgreSQL's
//! hash reads the text a word at a time in the machine's byte order, so
//! [`hash_text`] is that of a little-endian server; [`PROBE_SQL`] lets the
//! caller refuse a server that hashes differently instead of reporting
//! every table as changed.

use arrow::array::{
    Array, AsArray, BooleanArray, Date32Array, Decimal128Array, PrimitiveArray, RecordBatch,
    StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{ArrowPrimitiveType, DataType, Int16Type, Int32Type, Int64Type, TimeUnit};
use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::{RawFile, read_file};
use crate::postgres::columns::{PgType, SourceColumn, quote_ident};

/// The session settings under which PostgreSQL prints values the way
/// [`Checksum::add_batch`] does; run inside the checksum's transaction.
pub const SESSION_SQL: &str = "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL TimeZone = 'UTC'";

/// A query whose answer must equal [`PROBE_VALUE`]: the server hashes
/// texts as [`hash_text`] does.
pub const PROBE_SQL: &str = "SELECT hashtextextended('dfstore checksum probe', 0)";

/// [`hash_text`] of the text in [`PROBE_SQL`].
pub fn probe_value() -> i64 {
    hash_text(b"dfstore checksum probe")
}

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

    /// Adds the rows of `other`, a disjoint part of the same table.
    pub fn add(&mut self, other: &Checksum) {
        self.rows += other.rows;
        self.sum += other.sum;
    }

    /// Adds every row of `batch`.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let columns = batch
            .columns()
            .iter()
            .map(|c| Ok((c.as_ref(), Column::of(c.as_ref())?)))
            .collect::<Result<Vec<_>>>()?;
        let mut line = String::new();
        for row in 0..batch.num_rows() {
            line.clear();
            for (i, (array, column)) in columns.iter().enumerate() {
                if i > 0 {
                    line.push('\u{1f}');
                }
                if array.is_null(row) {
                    line.push_str("\\N");
                } else {
                    column.write(row, &mut line);
                }
            }
            self.sum += i128::from(hash_text(line.as_bytes()));
            self.rows += 1;
        }
        Ok(())
    }
}

/// One column of a batch, downcast once.
enum Column<'a> {
    Int16(&'a PrimitiveArray<Int16Type>),
    Int32(&'a PrimitiveArray<Int32Type>),
    Int64(&'a PrimitiveArray<Int64Type>),
    Text(&'a StringArray),
    Boolean(&'a BooleanArray),
    Date(&'a Date32Array),
    Decimal(&'a Decimal128Array, i8),
    /// Microseconds; `true` when the column has a time zone (`timestamptz`).
    Timestamp(&'a TimestampMicrosecondArray, bool),
}

impl<'a> Column<'a> {
    fn of(array: &'a dyn Array) -> Result<Self> {
        Ok(match array.data_type() {
            DataType::Int16 => Column::Int16(array.as_primitive()),
            DataType::Int32 => Column::Int32(array.as_primitive()),
            DataType::Int64 => Column::Int64(array.as_primitive()),
            DataType::Utf8 => Column::Text(array.as_string()),
            DataType::Boolean => Column::Boolean(array.as_boolean()),
            DataType::Date32 => Column::Date(array.as_primitive()),
            DataType::Decimal128(_, scale) => Column::Decimal(array.as_primitive(), *scale),
            DataType::Timestamp(TimeUnit::Microsecond, zone) => {
                Column::Timestamp(array.as_primitive(), zone.is_some())
            }
            other => {
                return Err(Error::Internal {
                    what: format!("no checksum form for {other}"),
                });
            }
        })
    }

    /// Appends the canonical text of the value in `row`, which is not NULL.
    fn write(&self, row: usize, out: &mut String) {
        fn int<T: ArrowPrimitiveType>(a: &PrimitiveArray<T>, row: usize, out: &mut String)
        where
            T::Native: itoa::Integer,
        {
            out.push_str(itoa::Buffer::new().format(a.value(row)));
        }
        match self {
            Column::Int16(a) => int(a, row, out),
            Column::Int32(a) => int(a, row, out),
            Column::Int64(a) => int(a, row, out),
            Column::Text(a) => out.push_str(a.value(row)),
            Column::Boolean(a) => out.push_str(if a.value(row) { "true" } else { "false" }),
            Column::Date(a) => date_text(a.value(row), out),
            Column::Decimal(a, scale) => decimal_text(a.value(row), *scale, out),
            Column::Timestamp(a, zoned) => timestamp_text(a.value(row), *zoned, out),
        }
    }
}

/// A decimal as PostgreSQL prints a `numeric(p, scale)`: `-12.50`, `0.05`.
fn decimal_text(value: i128, scale: i8, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    if scale <= 0 {
        out.push_str(digits.format(value * 10i128.pow(u32::from(scale.unsigned_abs()))));
        return;
    }
    let scale = scale as usize;
    let factor = 10u128.pow(scale as u32);
    let (int, frac) = (value.unsigned_abs() / factor, value.unsigned_abs() % factor);
    if value < 0 {
        out.push('-');
    }
    out.push_str(digits.format(int));
    out.push('.');
    let frac = digits.format(frac);
    out.extend(std::iter::repeat_n('0', scale - frac.len()));
    out.push_str(frac);
}

/// Appends `value` with at least `width` digits.
fn padded(value: u32, width: usize, out: &mut String) {
    let mut digits = itoa::Buffer::new();
    let text = digits.format(value);
    out.extend(std::iter::repeat_n('0', width.saturating_sub(text.len())));
    out.push_str(text);
}

/// `YYYY-MM-DD` of a date, with PostgreSQL's ` BC` for years before 1.
fn ymd(date: NaiveDate, out: &mut String) -> bool {
    let year = date.year();
    let bc = year <= 0;
    padded(if bc { 1 - year } else { year }.unsigned_abs(), 4, out);
    out.push('-');
    padded(date.month(), 2, out);
    out.push('-');
    padded(date.day(), 2, out);
    bc
}

/// A `date` (days since 1970-01-01) as PostgreSQL prints it in ISO style.
fn date_text(days: i32, out: &mut String) {
    let date = NaiveDate::default() + chrono::TimeDelta::days(i64::from(days));
    if ymd(date, out) {
        out.push_str(" BC");
    }
}

/// A timestamp (microseconds since 1970-01-01 UTC) as PostgreSQL prints it
/// in ISO style with `TimeZone = UTC`: `2025-03-01 10:00:00.25+00`; the
/// fraction loses its trailing zeros and is left out when zero; a
/// `timestamp` without time zone has no `+00`.
fn timestamp_text(micros: i64, zoned: bool, out: &mut String) {
    let Some(at) = DateTime::from_timestamp_micros(micros) else {
        // Outside chrono's range, which is wider than PostgreSQL's; the
        // source could not have sent it.
        out.push_str(itoa::Buffer::new().format(micros));
        return;
    };
    let at = at.naive_utc();
    let bc = ymd(at.date(), out);
    out.push(' ');
    padded(at.hour(), 2, out);
    out.push(':');
    padded(at.minute(), 2, out);
    out.push(':');
    padded(at.second(), 2, out);
    let mut fraction = micros.rem_euclid(1_000_000) as u32;
    if fraction != 0 {
        let mut width = 6;
        while fraction.is_multiple_of(10) {
            fraction /= 10;
            width -= 1;
        }
        out.push('.');
        padded(fraction, width, out);
    }
    if zoned {
        out.push_str("+00");
    }
    if bc {
        out.push_str(" BC");
    }
}

/// PostgreSQL's `hashtextextended(text, 0)` of a little-endian server:
/// `hash_bytes_extended` of `src/common/hashfn.c`, Bob Jenkins' lookup3
/// with both final words returned.
pub fn hash_text(key: &[u8]) -> i64 {
    fn word(bytes: &[u8]) -> u32 {
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
    fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
        *a = a.wrapping_sub(*c) ^ c.rotate_left(4);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a) ^ a.rotate_left(6);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b) ^ b.rotate_left(8);
        *b = b.wrapping_add(*a);
        *a = a.wrapping_sub(*c) ^ c.rotate_left(16);
        *c = c.wrapping_add(*b);
        *b = b.wrapping_sub(*a) ^ a.rotate_left(19);
        *a = a.wrapping_add(*c);
        *c = c.wrapping_sub(*b) ^ b.rotate_left(4);
        *b = b.wrapping_add(*a);
    }
    // Seed 0 leaves the initial state unmixed. The length is the int of
    // PostgreSQL's varlena, so it wraps as a u32 would.
    let start = 0x9e37_79b9_u32
        .wrapping_add(key.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (start, start, start);
    let mut blocks = key.chunks_exact(12);
    for block in &mut blocks {
        a = a.wrapping_add(word(&block[0..4]));
        b = b.wrapping_add(word(&block[4..8]));
        c = c.wrapping_add(word(&block[8..12]));
        mix(&mut a, &mut b, &mut c);
    }
    // The last 0 to 11 bytes, zero-padded; the lowest byte of c is
    // reserved for the length, so its bytes go one place up.
    let mut tail = [0u8; 12];
    let rest = blocks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&tail[0..4]));
    b = b.wrapping_add(word(&tail[4..8]));
    c = c.wrapping_add(word(&tail[8..12]) << 8);
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    c = (c ^ b).wrapping_sub(b.rotate_left(24));
    ((u64::from(b) << 32) | u64::from(c)) as i64
}

/// The SQL that computes, over `retail.<table>` rows matching `filter`,
/// the row count, the checksum and the greatest `actualizado_en`; run it
/// after [`SESSION_SQL`].
pub fn checksum_sql(table: &str, columns: &[SourceColumn], filter: &str) -> String {
    // concat_ws and concat print a value with its type's output function
    // (so a char(n) keeps its padding, as in binary COPY), but concat_ws
    // skips NULLs and booleans print as t/f, where the cast to text gives
    // true/false. NOT NULL columns go in as they are.
    let values: Vec<String> = columns
        .iter()
        .map(|c| {
            let name = quote_ident(&c.name);
            if c.pg == PgType::Bool {
                format!("coalesce({name}::text, '\\N')")
            } else if c.nullable {
                format!("CASE WHEN {name} IS NULL THEN '\\N' ELSE concat({name}) END")
            } else {
                name
            }
        })
        .collect();
    format!(
        "SELECT count(*), coalesce(sum(hashtextextended(concat_ws(chr(31), {values}), 0)), 0)::text, \
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

    fn text(write: impl FnOnce(&mut String)) -> String {
        let mut out = String::new();
        write(&mut out);
        out
    }

    #[test]
    fn decimals_print_as_postgres_numeric() {
        let decimal = |v, s| text(|out| decimal_text(v, s, out));
        assert_eq!(decimal(1250, 2), "12.50");
        assert_eq!(decimal(-5, 2), "-0.05");
        assert_eq!(decimal(0, 2), "0.00");
        assert_eq!(decimal(123_456, 4), "12.3456");
        assert_eq!(decimal(7, 0), "7");
    }

    #[test]
    fn timestamps_and_dates_print_as_postgres_iso_in_utc() {
        let at = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("test instant")
                .timestamp_micros()
        };
        let ts = |m, zoned| text(|out| timestamp_text(m, zoned, out));
        assert_eq!(
            ts(at("2025-03-01T10:00:00Z"), true),
            "2025-03-01 10:00:00+00"
        );
        assert_eq!(
            ts(at("2025-03-01T10:00:00.250Z"), true),
            "2025-03-01 10:00:00.25+00"
        );
        assert_eq!(
            ts(at("1969-12-31T23:59:59.000001Z"), false),
            "1969-12-31 23:59:59.000001"
        );
        assert_eq!(text(|out| date_text(0, out)), "1970-01-01");
        assert_eq!(text(|out| date_text(-719_528, out)), "0001-01-01 BC");
    }

    /// The answers of `SELECT hashtextextended(s, 0)` on PostgreSQL 15
    /// (x86-64): empty, each tail length, whole blocks, and multi-byte text.
    #[test]
    fn hashes_as_postgres_hashtextextended() {
        let cases: [(&str, i64); 9] = [
            ("", -6_939_563_903_564_495_251),
            ("a", 3_591_986_179_850_072_241),
            ("abc", -6_747_756_470_228_489_321),
            ("abcd", -1_038_429_303_365_892_052),
            ("hello world", 6_947_366_892_317_592_103),
            ("123456789012", -3_387_667_963_766_823_555),
            ("1234567890123", 2_373_490_033_053_362_784),
            ("ñandú 2025-03-01 10:00:00.5+00", 529_671_221_340_038_829),
            ("xxxxxxxxxxxxxxxxxxxxxxxxx", 3_789_499_828_392_616_974),
        ];
        for (text, expected) in cases {
            assert_eq!(hash_text(text.as_bytes()), expected, "{text:?}");
        }
    }
}
