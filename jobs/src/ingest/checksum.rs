//! The content checksum of an extracted table, computed the same way by
//! PostgreSQL (in SQL, over the extraction's snapshot) and by dfstore over
//! the Parquet files written, so that a lost, added or altered value shows
//! as a mismatch.
//!
//! Each value is hashed by PostgreSQL's own 64-bit hash function of its
//! type (those of its hash indexes: Bob Jenkins' lookup3), seeded with its
//! column's position (1, 2, …) so that values swapped between columns
//! differ. A row's hash is the XOR of its values' hashes, a NULL counting
//! as 0, and the table's checksum is the exact sum of its rows' hashes. A
//! sum does not depend on row order, so neither side sorts anything.
//!
//! | PostgreSQL type | hashed as (SQL) | dfstore ([`Checksum::add_batch`]) |
//! |---|---|---|
//! | `smallint`, `integer`, `bigint` | `hashint2extended`, `hashint4extended`, `hashint8extended` | [`hash_u32`], [`hash_i64`] |
//! | `boolean` | `hashint4extended(v::int4)` | [`hash_u32`] of 0 or 1 |
//! | `date` | `hashint4extended(v - DATE '1970-01-01')` | [`hash_u32`] of the days |
//! | `timestamptz`, `timestamp` | `interval_hash_extended(v - 2000-01-01)` | [`hash_i64`] of µs since 2000 |
//! | `numeric(p,s)` | `hash_numeric_extended`, seed negated below 0 | [`hash_decimal`] |
//! | `text`, `varchar` | `hashtextextended(v COLLATE "C")` | [`hash_bytes`] of the UTF-8 |
//! | `char(n)` | the same over the padded text | the same (raw keeps the padding) |
//!
//! `hash_numeric_extended` ignores the sign, so a negative number is hashed
//! with its seed negated: -12.50 and 12.50 differ.
//!
//! This replaced hashing each row's text (`hashtextextended` over the values
//! as PostgreSQL prints them), whose printing of numerics and timestamps
//! made the source's checksum cost as much as a `COPY` to CSV: the hashes
//! of the binary values take less than half the server's time and a
//! fraction of dfstore's. A manifest marks its checksum with the definition
//! ([`Checksum::text`]'s `v2:`); one of the text definition is not checked
//! again (the files' SHA-256 still are).
//!
//! PostgreSQL's hash reads bytes a word at a time in the machine's byte
//! order, so these are the hashes of a little-endian server; [`PROBE_SQL`]
//! lets the caller refuse a server that hashes differently instead of
//! reporting every table as changed.

use arrow::array::{Array, AsArray, PrimitiveArray, RecordBatch};
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Decimal128Type, Int16Type, Int32Type, Int64Type,
    TimeUnit, TimestampMicrosecondType,
};
use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::{RawFile, read_file};
use crate::postgres::columns::{PG_EPOCH_MICROS, PgType, SourceColumn, quote_ident};

/// A query whose answer must equal [`probe_value`]: the server hashes
/// text, integers and numerics as this module does.
pub const PROBE_SQL: &str = "SELECT hashtextextended('dfstore checksum probe', 1) \
     # hashint8extended(-5, 2) # hash_numeric_extended(12.5, 3) # hashint4extended(7, 4)";

/// What [`PROBE_SQL`] answers on a server that hashes as this module does.
pub fn probe_value() -> i64 {
    (hash_bytes(b"dfstore checksum probe", 1)
        ^ hash_i64(-5, 2)
        ^ hash_decimal(1250, 2, 3)
        ^ hash_u32(7, 4)) as i64
}

/// The mark of this definition in a manifest's checksum.
const VERSION: &str = "v2:";

/// Row count and checksum of some rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checksum {
    /// Rows.
    pub rows: u64,
    /// The sum of the rows' hashes.
    pub sum: i128,
}

impl Checksum {
    /// The checksum as the manifest stores it: `v2:` and the sum.
    pub fn text(&self) -> String {
        format!("{VERSION}{}", self.sum)
    }

    /// Whether `text`, a manifest's checksum, is of this definition (and
    /// can be compared with [`Checksum::text`]).
    pub fn is_current(text: &str) -> bool {
        text.starts_with(VERSION)
    }

    /// Adds the rows of `other`, a disjoint part of the same table.
    pub fn add(&mut self, other: &Checksum) {
        self.rows += other.rows;
        self.sum += other.sum;
    }

    /// Adds every row of `batch`, whose columns are in the source's order.
    pub fn add_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut rows = vec![0u64; batch.num_rows()];
        for (i, column) in batch.columns().iter().enumerate() {
            xor_column(column.as_ref(), i as u64 + 1, &mut rows)?;
        }
        self.rows += rows.len() as u64;
        self.sum += rows.iter().map(|&h| i128::from(h as i64)).sum::<i128>();
        Ok(())
    }
}

/// XORs the hash of each non-NULL value of `array` into its row's.
fn xor_column(array: &dyn Array, seed: u64, rows: &mut [u64]) -> Result<()> {
    fn each<T: ArrowPrimitiveType>(
        array: &PrimitiveArray<T>,
        rows: &mut [u64],
        hash: impl Fn(T::Native) -> u64,
    ) {
        if array.null_count() == 0 {
            for (row, &value) in rows.iter_mut().zip(array.values().iter()) {
                *row ^= hash(value);
            }
            return;
        }
        for (row, value) in rows.iter_mut().zip(array.iter()) {
            if let Some(value) = value {
                *row ^= hash(value);
            }
        }
    }
    match array.data_type() {
        DataType::Int16 => each(array.as_primitive::<Int16Type>(), rows, |v| {
            hash_u32(i32::from(v) as u32, seed)
        }),
        DataType::Int32 => each(array.as_primitive::<Int32Type>(), rows, |v| {
            hash_u32(v as u32, seed)
        }),
        DataType::Int64 => each(array.as_primitive::<Int64Type>(), rows, |v| {
            hash_i64(v, seed)
        }),
        DataType::Date32 => each(array.as_primitive::<Date32Type>(), rows, |v| {
            hash_u32(v as u32, seed)
        }),
        DataType::Timestamp(TimeUnit::Microsecond, _) => each(
            array.as_primitive::<TimestampMicrosecondType>(),
            rows,
            |v| hash_i64(v.wrapping_sub(PG_EPOCH_MICROS), seed),
        ),
        &DataType::Decimal128(_, scale) if scale >= 0 => {
            each(array.as_primitive::<Decimal128Type>(), rows, |v| {
                hash_decimal(v, scale as u32, seed)
            })
        }
        DataType::Boolean => {
            for (row, value) in rows.iter_mut().zip(array.as_boolean().iter()) {
                if let Some(value) = value {
                    *row ^= hash_u32(u32::from(value), seed);
                }
            }
        }
        DataType::Utf8 => {
            for (row, value) in rows.iter_mut().zip(array.as_string::<i32>().iter()) {
                if let Some(value) = value {
                    *row ^= hash_bytes(value.as_bytes(), seed);
                }
            }
        }
        other => {
            return Err(Error::Internal {
                what: format!("no checksum form for {other}"),
            });
        }
    }
    Ok(())
}

/// lookup3's `mix`.
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

/// lookup3's `final`, returning both last words as PostgreSQL's extended
/// hashes do.
fn finish(mut a: u32, mut b: u32, mut c: u32) -> u64 {
    c = (c ^ b).wrapping_sub(b.rotate_left(14));
    a = (a ^ c).wrapping_sub(c.rotate_left(11));
    b = (b ^ a).wrapping_sub(a.rotate_left(25));
    c = (c ^ b).wrapping_sub(b.rotate_left(16));
    a = (a ^ c).wrapping_sub(c.rotate_left(4));
    b = (b ^ a).wrapping_sub(a.rotate_left(14));
    c = (c ^ b).wrapping_sub(b.rotate_left(24));
    (u64::from(b) << 32) | u64::from(c)
}

/// The initial state for `len` bytes, perturbed by a non-zero seed as if
/// it were a 12-byte block of its own.
fn start(len: u32, seed: u64) -> (u32, u32, u32) {
    let s = 0x9e37_79b9_u32.wrapping_add(len).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (s, s, s);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    (a, b, c)
}

/// PostgreSQL's `hash_bytes_extended` (`src/common/hashfn.c`) of a
/// little-endian server: `hashtextextended` of a text in a deterministic
/// collation.
pub fn hash_bytes(key: &[u8], seed: u64) -> u64 {
    fn word(bytes: &[u8]) -> u32 {
        u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
    }
    // The length is the int of PostgreSQL's varlena, so it wraps as a u32 would.
    let (mut a, mut b, mut c) = start(key.len() as u32, seed);
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
    finish(a, b, c)
}

/// PostgreSQL's `hash_bytes_uint32_extended`: `hashint4extended`, and
/// `hashint2extended` of the value widened to 32 bits.
pub fn hash_u32(k: u32, seed: u64) -> u64 {
    let (a, b, c) = start(4, seed);
    finish(a.wrapping_add(k), b, c)
}

/// PostgreSQL's `hashint8extended` (and `timestamp_hash_extended`): the
/// high half folded into the low one, so that it agrees with
/// `hashint4extended` on values that fit.
pub fn hash_i64(v: i64, seed: u64) -> u64 {
    let (low, high) = (v as u32, (v >> 32) as u32);
    hash_u32(low ^ if v >= 0 { high } else { !high }, seed)
}

/// PostgreSQL's `hash_numeric_extended` of the decimal `value` × 10^-scale
/// with `seed`, negated for a negative value: lookup3 over the base-10000
/// digits (as 16-bit words) without leading and trailing zero digits,
/// XORed with the weight of the first.
pub fn hash_decimal(value: i128, scale: u32, seed: u64) -> u64 {
    let seed = if value < 0 { seed.wrapping_neg() } else { seed };
    let magnitude = value.unsigned_abs();
    let mut digits = [0u16; 16];
    let (n, fraction_digits) = match u64::try_from(magnitude) {
        // Most amounts fit 64 bits, whose division costs a fraction of 128 bits'.
        Ok(small) if scale < 20 => base_10000(small, scale, &mut digits),
        _ => base_10000(magnitude, scale, &mut digits),
    };
    let mut weight = (n - fraction_digits) as i64 - 1;
    // Leading zeros lower the weight; trailing ones are dropped.
    let mut top = n;
    while top > 0 && digits[top - 1] == 0 {
        top -= 1;
        weight -= 1;
    }
    if top == 0 {
        return seed.wrapping_sub(1);
    }
    let bottom = digits[..top].iter().take_while(|&&d| d == 0).count();
    let mut bytes = [0u8; 32];
    let mut len = 0;
    for digit in digits[bottom..top].iter().rev() {
        bytes[len..len + 2].copy_from_slice(&digit.to_le_bytes());
        len += 2;
    }
    hash_bytes(&bytes[..len], seed) ^ weight as u64
}

/// The base-10000 digits of `magnitude` × 10^-scale, least significant
/// first, the fraction padded on the right to whole digits; returns how
/// many digits there are and how many of them are the fraction's.
fn base_10000<T>(magnitude: T, scale: u32, digits: &mut [u16; 16]) -> (usize, usize)
where
    T: Copy
        + PartialEq
        + From<u16>
        + TryInto<u16>
        + std::ops::Mul<Output = T>
        + std::ops::Div<Output = T>
        + std::ops::Rem<Output = T>,
{
    let pow10 = |e: u32| (0..e).fold(T::from(1), |p, _| p * T::from(10));
    let digit = |v: T| v.try_into().unwrap_or_default();
    let (base, zero) = (T::from(10_000), T::from(0));
    let factor = pow10(scale);
    let (mut integer, mut fraction) = (magnitude / factor, magnitude % factor);
    let mut n = 0;
    let partial = scale % 4;
    if partial != 0 {
        let unit = pow10(partial);
        digits[n] = digit((fraction % unit) * pow10(4 - partial));
        fraction = fraction / unit;
        n += 1;
    }
    for _ in 0..scale / 4 {
        digits[n] = digit(fraction % base);
        fraction = fraction / base;
        n += 1;
    }
    let fraction_digits = n;
    while integer != zero {
        digits[n] = digit(integer % base);
        integer = integer / base;
        n += 1;
    }
    (n, fraction_digits)
}

/// The SQL that computes, over the rows of `table` (as SQL, `schema.name`)
/// matching `filter`, the row count, the checksum and the greatest value of
/// the watermark column `watermark`.
pub fn checksum_sql(
    table: &str,
    watermark: &str,
    columns: &[SourceColumn],
    filter: &str,
) -> String {
    let hashes: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (v, seed) = (quote_ident(&c.name), i + 1);
            let hash = match c.pg {
                PgType::Int2 => format!("hashint2extended({v}, {seed})"),
                PgType::Int4 => format!("hashint4extended({v}, {seed})"),
                PgType::Int8 => format!("hashint8extended({v}, {seed})"),
                PgType::Bool => format!("hashint4extended({v}::int4, {seed})"),
                PgType::Date => format!("hashint4extended({v} - DATE '1970-01-01', {seed})"),
                // The interval's hash is that of its microseconds; cheaper
                // than a cast of timestamptz to timestamp.
                PgType::Timestamptz => format!(
                    "interval_hash_extended({v} - TIMESTAMPTZ '2000-01-01 00:00:00+00', {seed})"
                ),
                PgType::Timestamp => {
                    format!("interval_hash_extended({v} - TIMESTAMP '2000-01-01 00:00:00', {seed})")
                }
                PgType::Numeric { .. } => format!(
                    "hash_numeric_extended({v}, CASE WHEN {v} < 0 THEN -{seed} ELSE {seed} END)"
                ),
                PgType::Text => format!("hashtextextended({v} COLLATE \"C\", {seed})"),
                // concat prints with bpchar's output function, which keeps
                // the padding; it makes NULL '', which no char(n) can be.
                PgType::Char => {
                    format!("hashtextextended(nullif(concat({v}), '') COLLATE \"C\", {seed})")
                }
            };
            if c.nullable {
                format!("coalesce({hash}, 0)")
            } else {
                hash
            }
        })
        .collect();
    format!(
        "SELECT count(*), coalesce(sum({row}), 0)::text, max({mark}) \
         FROM {table} WHERE {filter}",
        row = hashes.join(" # "),
        mark = quote_ident(watermark),
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
mod tests;
