//! The generator's clock: the sales year, Lima's fixed offset and the two
//! extraction instants, as whole seconds since the Unix epoch (UTC). Rows keep
//! seconds; [`super::columns`] turns them into Arrow microseconds.

/// Seconds in a day.
pub(super) const DAY: i64 = 86_400;
/// Seconds in an hour.
pub(super) const HOUR: i64 = 3_600;
/// Lima is UTC-05:00 all year (no daylight saving): UTC = local + 5 h.
pub(super) const LIMA_OFFSET: i64 = 5 * HOUR;
/// 2025-01-01T00:00:00Z, the first day of the sales year.
pub(super) const YEAR_2025: i64 = 1_735_689_600;
/// Days in the sales year.
pub(super) const SALES_DAYS: i64 = 365;
/// 2026-01-01T00:00:00Z.
pub(super) const YEAR_2026: i64 = 1_767_225_600;
/// Stores open at 07:00 local and close at midnight.
pub(super) const OPENING: i64 = 7 * HOUR;
/// End (exclusive) of the trading day, local.
pub(super) const CLOSING: i64 = 24 * HOUR;
/// E1, the initial full load: 2026-01-02T06:00:00Z.
pub(super) const INITIAL: i64 = 1_767_333_600;
/// E2, the incremental re-extraction: 2026-01-03T06:00:00Z.
pub(super) const INCREMENTAL: i64 = 1_767_420_000;

/// The UTC instant of `seconds` after local midnight of day `day` of 2025 in
/// Lima (day 0 is January 1; a negative day is before 2025).
pub(super) fn lima_2025(day: i64, seconds: i64) -> i64 {
    YEAR_2025 + day * DAY + seconds + LIMA_OFFSET
}

/// The Arrow `Date32` (days since the epoch) of a UTC instant's calendar date.
pub(super) fn date32(instant: i64) -> i32 {
    // Every date we produce is between 2000 and 2100, far inside i32.
    instant.div_euclid(DAY) as i32
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::{DateTime, NaiveDate};

    use super::*;

    fn at(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).unwrap().timestamp()
    }

    #[test]
    fn constants_are_the_instants_they_name() {
        assert_eq!(YEAR_2025, at("2025-01-01T00:00:00Z"));
        assert_eq!(YEAR_2026, at("2026-01-01T00:00:00Z"));
        assert_eq!(INITIAL, at("2026-01-02T06:00:00Z"));
        assert_eq!(INCREMENTAL, at("2026-01-03T06:00:00Z"));
        assert_eq!(lima_2025(0, OPENING), at("2025-01-01T07:00:00-05:00"));
        assert_eq!(lima_2025(364, CLOSING - 1), at("2026-01-01T04:59:59Z"));
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        assert_eq!(i64::from(date32(YEAR_2025)), (day - epoch).num_days());
    }
}
