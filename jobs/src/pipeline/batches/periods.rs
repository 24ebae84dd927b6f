//! The batches of a model built by period: one month at a time, and when a
//! month's rows would not fit the memory pool, a range of its days at a
//! time (for a model that declares its day column, `Model::day_column`).
//! The report's aggregations per ticket and per customer hold a month in
//! memory: at scale 100 a month (32.7 M header and line rows) spilled 42
//! times and took 6.8 CPU-s; three of its days (3.3 M rows, a scale-10
//! month's size) did not spill and took 0.6 CPU-s, so ten such ranges do
//! the month in 6 CPU-s. A scale-10 month stays one batch.

use std::collections::BTreeSet;

use arrow::datatypes::Date32Type;
use chrono::{Months, NaiveDate};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, LogicalPlan, lit};
use datafusion::prelude::SessionContext;
use futures::{StreamExt, TryStreamExt};

use super::{cluster, column_of, filter_scans, one_partition};
use crate::contract::layer::TableRef;
use crate::contract::period::PERIOD_COLUMN;
use crate::engine::write;
use crate::error::{Error, Result};
use crate::lake::{Lake, delta};

/// Bytes a row of a month's inputs takes in the aggregations of a model
/// built by period: a range of days gets at most `pool / MONTH_BYTES_PER_ROW`
/// rows (3.6 M in 1 GiB).
pub const MONTH_BYTES_PER_ROW: u64 = 300;

/// One batch of a model built by period: a month, or a range of its days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// The month, `YYYY-MM`.
    pub period: String,
    /// The range of its days, when the month is split.
    pub days: Option<Days>,
}

/// `from <= column < to`; an open end is unbounded (and the first range
/// also takes a NULL day), so that the ranges of a month take every row of
/// it once, whatever its day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Days {
    /// The date column.
    pub column: String,
    /// First day, inclusive.
    pub from: Option<NaiveDate>,
    /// Last day, exclusive.
    pub to: Option<NaiveDate>,
}

impl Slice {
    /// The whole of `period`.
    pub fn month(period: impl Into<String>) -> Self {
        Slice {
            period: period.into(),
            days: None,
        }
    }
}

/// The batches of `period`, whose inputs have `rows` rows, at most
/// `per_batch` rows each: the month whole, or up to one batch per day of
/// `column` in ranges of equal length.
pub fn slices(period: &str, rows: u64, per_batch: u64, column: Option<&str>) -> Vec<Slice> {
    let count = rows.div_ceil(per_batch.max(1));
    let (Some(column), Some((first, next)), true) = (column, month_bounds(period), count > 1)
    else {
        return vec![Slice::month(period)];
    };
    let days = (next - first).num_days();
    let count = i64::try_from(count).unwrap_or(i64::MAX).min(days);
    let bounds: Vec<NaiveDate> = (1..count)
        .filter_map(|i| first.checked_add_days(chrono::Days::new((i * days / count) as u64)))
        .collect();
    let mut out = Vec::with_capacity(bounds.len() + 1);
    let mut from = None;
    for &to in &bounds {
        out.push(Slice {
            period: period.to_string(),
            days: Some(Days {
                column: column.to_string(),
                from,
                to: Some(to),
            }),
        });
        from = Some(to);
    }
    out.push(Slice {
        period: period.to_string(),
        days: Some(Days {
            column: column.to_string(),
            from,
            to: None,
        }),
    });
    out
}

/// The first day of the month `YYYY-MM` and the first of the next.
pub fn month_bounds(period: &str) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::parse_from_str(&format!("{period}-01"), "%Y-%m-%d").ok()?;
    Some((first, first.checked_add_months(Months::new(1))?))
}

/// A literal of the Arrow type `Date32`.
pub fn date_literal(day: NaiveDate) -> Expr {
    lit(ScalarValue::Date32(Some(Date32Type::from_naive_date(day))))
}

/// The batches that rebuild `days` of `period` only: one per run of
/// consecutive days.
pub fn day_slices(period: &str, column: &str, days: &BTreeSet<NaiveDate>) -> Vec<Slice> {
    day_runs(days)
        .into_iter()
        .map(|(first, last)| Slice {
            period: period.to_string(),
            days: Some(Days {
                column: column.to_string(),
                from: Some(first),
                to: last.succ_opt(),
            }),
        })
        .collect()
}

/// `days` as runs of consecutive days, first and last of each, in order.
pub fn day_runs(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &day in days {
        match runs.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(day) => *last = day,
            _ => runs.push((day, day)),
        }
    }
    runs
}

/// `plan` with the rows of every scan of `tables` restricted to `slice`:
/// its month (the filter reaches the scans' file listing, so only that
/// month's files are read) and its days where the scan has the column (the
/// Parquet reader's statistics skip the row groups of other days).
pub fn restrict_to_slice(
    plan: LogicalPlan,
    tables: &[TableRef],
    slice: &Slice,
) -> datafusion::error::Result<LogicalPlan> {
    filter_scans(plan, |scan| {
        if !tables.iter().any(|t| t.is_named_by(&scan.table_name)) {
            return None;
        }
        let month = column_of(scan, PERIOD_COLUMN).eq(lit(slice.period.as_str()));
        let days = slice
            .days
            .as_ref()
            .filter(|d| scan.source.schema().column_with_name(&d.column).is_some());
        Some(match days {
            None => month,
            Some(days) => month.and(days_filter(column_of(scan, &days.column), days)),
        })
    })
}

/// Writes `df` one month at a time in the embedded engine. A month in one
/// slice is one query across the session's partitions; the ranges of days
/// of a split month are each planned in one partition and run side by
/// side, as many at once as the session has partitions, as a cluster runs
/// its batches: a query in one partition aggregates once, where one across
/// partitions aggregates twice (partial and final) and shuffles between
/// (three days of a scale-100 month: 0.44 CPU-s in one partition, 0.6 in
/// two). After each month, a file written under another month's folder
/// fails the model, naming it.
pub async fn write(
    ctx: &SessionContext,
    df: &DataFrame,
    lake: &Lake,
    target: &write::Target,
    (tables, slices): (&[TableRef], &[Slice]),
) -> Result<()> {
    let mut written = BTreeSet::new();
    for month in slices.chunk_by(|a, b| a.period == b.period) {
        let (session, at_once) = match month.len() {
            1 => (ctx.clone(), 1),
            _ => (one_partition(ctx), cluster::at_once(ctx)),
        };
        let frames = month
            .iter()
            .map(|slice| {
                let plan = restrict_to_slice(df.logical_plan().clone(), tables, slice)?;
                Ok(DataFrame::new(session.state(), plan))
            })
            .collect::<datafusion::error::Result<Vec<_>>>()
            .map_err(|e| Error::engine(&target.what, e))?;
        futures::stream::iter(frames)
            .map(|df| write::parquet(&session, df, lake, target))
            .buffer_unordered(at_once)
            .try_collect::<Vec<()>>()
            .await?;
        let period = &month[0].period;
        for file in lake.list(&target.folder).await? {
            let of_period = delta::period_of(&file.location);
            if written.insert(file.location.clone()) && of_period.as_ref() != Some(period) {
                return Err(Error::ModelLeaksPeriod {
                    model: target.what.clone(),
                    period: period.clone(),
                    file: lake.display(&file.location),
                });
            }
        }
    }
    Ok(())
}

fn days_filter(column: Expr, days: &Days) -> Expr {
    let date = date_literal;
    match (days.from, days.to) {
        (None, None) => lit(true),
        (None, Some(to)) => column.clone().lt(date(to)).or(column.is_null()),
        (Some(from), None) => column.gt_eq(date(from)),
        (Some(from), Some(to)) => column.clone().gt_eq(date(from)).and(column.lt(date(to))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_month_splits_into_ranges_of_days_only_when_large() {
        assert_eq!(
            slices("2025-06", 3_000, 4_000, Some("fecha")),
            [Slice::month("2025-06")]
        );
        // No day column: the month whole, however large.
        assert_eq!(
            slices("2025-06", 40_000, 4_000, None),
            [Slice::month("2025-06")]
        );
        let june = slices("2025-06", 40_000, 4_000, Some("fecha"));
        assert_eq!(june.len(), 10);
        let days: Vec<_> = june.iter().map(|s| s.days.clone().unwrap()).collect();
        assert_eq!((days[0].from, days[0].to), (None, Some(day("2025-06-04"))));
        assert_eq!((days[9].from, days[9].to), (Some(day("2025-06-28")), None));
        for pair in days.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        // Never more ranges than days.
        assert_eq!(slices("2025-02", 1 << 40, 1, Some("fecha")).len(), 28);
    }

    #[test]
    fn changed_days_are_rebuilt_in_runs_of_consecutive_days() {
        let days: BTreeSet<NaiveDate> = [
            "2025-06-03",
            "2025-06-04",
            "2025-06-05",
            "2025-06-09",
            "2025-06-30",
        ]
        .map(day)
        .into();
        let slices = day_slices("2025-06", "fecha", &days);
        let bounds: Vec<_> = slices
            .iter()
            .map(|s| {
                let d = s.days.as_ref().unwrap();
                (d.from.unwrap(), d.to.unwrap())
            })
            .collect();
        assert_eq!(
            bounds,
            [
                (day("2025-06-03"), day("2025-06-06")),
                (day("2025-06-09"), day("2025-06-10")),
                (day("2025-06-30"), day("2025-07-01")),
            ]
        );
        assert!(day_slices("2025-06", "fecha", &BTreeSet::new()).is_empty());
    }
}
