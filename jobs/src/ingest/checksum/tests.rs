//! The checksum's hashes against PostgreSQL's own answers.

use super::*;

/// The answers of PostgreSQL 15 (x86-64) to
/// `SELECT hashtextextended(s, seed)`: empty, each tail length, whole
/// blocks, multi-byte text, seeds 0, positive and negative.
#[test]
fn hashes_text_as_postgres_hashtextextended() {
    let cases: [(&str, i64, i64); 14] = [
        ("", 0, -6_939_563_903_564_495_251),
        ("a", 0, 3_591_986_179_850_072_241),
        ("abc", 0, -6_747_756_470_228_489_321),
        ("abcd", 0, -1_038_429_303_365_892_052),
        ("hello world", 0, 6_947_366_892_317_592_103),
        ("123456789012", 0, -3_387_667_963_766_823_555),
        ("1234567890123", 0, 2_373_490_033_053_362_784),
        ("xxxxxxxxxxxxxxxxxxxxxxxxx", 0, 3_789_499_828_392_616_974),
        ("", 1, -150_071_773_020_461_347),
        ("a", 1, 3_325_245_193_489_759_299),
        ("hello world", 5, 8_926_172_671_842_283_443),
        ("123456789012", 2, 1_132_949_896_112_643_552),
        ("ñandú 2025", 7, -7_094_075_524_461_399_230),
        ("abc", -1, 1_911_237_551_546_830_967),
    ];
    for (text, seed, expected) in cases {
        assert_eq!(
            hash_bytes(text.as_bytes(), seed as u64) as i64,
            expected,
            "{text:?} seed {seed}"
        );
    }
}

/// `hashint4extended`, `hashint2extended`, `hashint8extended` and
/// `timestamp_hash_extended` (which `interval_hash_extended` of the
/// difference from 2000-01-01 equals) on PostgreSQL 15.
#[test]
fn hashes_integers_and_timestamps_as_postgres() {
    let h32 = |v: i32, seed: u64| hash_u32(v as u32, seed) as i64;
    assert_eq!(h32(0, 1), 434_346_878_670_890_809);
    assert_eq!(h32(-1, 2), 3_663_858_691_631_948_182);
    assert_eq!(h32(i32::MAX, 3), -3_227_055_386_849_905_253);
    assert_eq!(h32(-3, 4), -5_412_822_868_968_083_836);
    assert_eq!(h32(19_000, 0), -7_619_817_823_063_847_925);
    let h64 = |v: i64, seed: u64| hash_i64(v, seed) as i64;
    assert_eq!(h64(-5, 2), 8_016_289_979_786_826_671);
    assert_eq!(h64(i64::MAX, 1), 3_044_001_184_559_810_835);
    // Folds to the same 32 bits as i32::MAX: as PostgreSQL does.
    assert_eq!(h64(i64::MIN, 3), -3_227_055_386_849_905_253);
    assert_eq!(h64(5_000_000_000, 6), -7_839_136_945_445_087_708);
    // timestamp '2025-03-01 10:00:00.25' and '0044-03-15 10:00:00 BC'.
    let at =
        |micros_since_1970: i64, seed| hash_i64(micros_since_1970 - PG_EPOCH_MICROS, seed) as i64;
    assert_eq!(at(1_740_823_200_250_000, 6), 5_545_690_402_134_106_351);
    assert_eq!(at(-63_517_788_000_000_000, 2), 8_571_349_098_208_748_219);
    // date '0044-03-15 BC' - date '1970-01-01' = -735160 days.
    assert_eq!(h32(-735_160, 3), 8_478_895_344_407_043_424);
}

/// `hash_numeric_extended` on PostgreSQL 15, with the seed negated for
/// a negative value as [`checksum_sql`] does.
#[test]
fn hashes_decimals_as_postgres_hash_numeric_extended() {
    let h = |v: i128, scale: u32, seed: i64| hash_decimal(v, scale, seed as u64) as i64;
    assert_eq!(h(1250, 2, 3), 8_112_701_858_537_901_435);
    assert_eq!(h(5, 2, 2), -2_977_378_833_151_383_824);
    assert_eq!(h(0, 2, 4), 3);
    assert_eq!(h(10_000, 0, 1), 90_269_248_940_323_823);
    // -12345678901234567890.0001 with seed 5, negated to -5.
    assert_eq!(
        h(-123_456_789_012_345_678_900_001, 4, 5),
        -8_885_098_507_100_974_710
    );
    assert_eq!(h(1_234_567, 1, 1), 4_247_112_046_124_620_502);
    assert_eq!(h(1, 4, 1), -90_269_248_940_323_823);
    assert_eq!(h(10i128.pow(38) - 1, 0, 2), -4_478_510_238_411_021_312);
    assert_eq!(h(1, 38, 9), -8_360_212_694_106_232_311);
    assert_eq!(h(123_456, 5, 3), 5_043_942_228_762_906_510);
    assert_ne!(h(-1250, 2, 3), h(1250, 2, 3));
}

/// `SELECT hashtextextended('dfstore checksum probe', 1) # …` on
/// PostgreSQL 15.
#[test]
fn the_probe_is_what_postgres_answers() {
    assert_eq!(probe_value(), -3_854_652_761_475_625_387);
}

#[test]
fn a_row_hash_depends_on_each_value_and_its_column() {
    use arrow::array::{Int32Array, StringArray};
    use std::sync::Arc;
    let batch = |a: [Option<i32>; 2], b: [&str; 2]| {
        RecordBatch::try_from_iter([
            ("a", Arc::new(Int32Array::from(a.to_vec())) as _),
            ("b", Arc::new(StringArray::from(b.to_vec())) as _),
        ])
        .unwrap()
    };
    let sum = |batch: RecordBatch| {
        let mut c = Checksum::default();
        c.add_batch(&batch).unwrap();
        c
    };
    let base = sum(batch([Some(1), Some(2)], ["x", "y"]));
    assert_eq!(base.rows, 2);
    // Row order does not matter; values moved between rows do.
    assert_eq!(base, sum(batch([Some(2), Some(1)], ["y", "x"])));
    assert_ne!(base, sum(batch([Some(2), Some(1)], ["x", "y"])));
    assert_ne!(base, sum(batch([None, Some(2)], ["x", "y"])));
    assert!(Checksum::is_current(&base.text()));
    assert!(!Checksum::is_current("-51897455992757566688098"));
}
