//! The filter that restricts a scan to the changed values of a key column.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, lit};

/// `expr IN (values)`, and within the ranges the values fall in: a list
/// this long prunes nothing by itself, while the Parquet reader skips the
/// row groups and pages whose statistics lie outside every range (a night's
/// new and recently corrected tickets are one short range of keys).
pub fn in_keys(expr: Expr, values: &[ScalarValue]) -> Expr {
    let listed = listed(expr.clone(), values);
    let ranges = key_ranges(values, MAX_KEY_RANGES)
        .into_iter()
        .map(|(low, high)| expr.clone().between(lit(low), lit(high)))
        .reduce(Expr::or);
    match ranges {
        Some(ranges) => listed.and(ranges),
        None => listed,
    }
}

/// The most ranges [`in_keys`] bounds its values by.
const MAX_KEY_RANGES: usize = 32;

/// At most `max` closed ranges covering `values`: for integers, their
/// smallest and largest split at the widest gaps between neighbours; for
/// other types, their smallest and largest.
fn key_ranges(values: &[ScalarValue], max: usize) -> Vec<(ScalarValue, ScalarValue)> {
    let integers: Option<Vec<i64>> = values
        .iter()
        .map(|v| match v {
            ScalarValue::Int64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => Some(i64::from(*n)),
            ScalarValue::Int16(Some(n)) => Some(i64::from(*n)),
            _ => None,
        })
        .collect();
    let Some(mut integers) = integers else {
        let low = values
            .iter()
            .filter(|v| !v.is_null())
            .min_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let high = values
            .iter()
            .filter(|v| !v.is_null())
            .max_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        return low
            .zip(high)
            .map(|(l, h)| (l.clone(), h.clone()))
            .into_iter()
            .collect();
    };
    integers.sort_unstable();
    integers.dedup();
    if integers.is_empty() || max == 0 {
        return Vec::new();
    }
    // The positions after which the widest gaps open, in key order.
    let mut gaps: Vec<usize> = (0..integers.len() - 1).collect();
    gaps.sort_by_key(|&i| std::cmp::Reverse(integers[i + 1].saturating_sub(integers[i])));
    gaps.truncate(max - 1);
    gaps.sort_unstable();
    let typed = |n: i64| match &values[0] {
        ScalarValue::Int32(_) => ScalarValue::Int32(Some(n as i32)),
        ScalarValue::Int16(_) => ScalarValue::Int16(Some(n as i16)),
        _ => ScalarValue::Int64(Some(n)),
    };
    let mut ranges = Vec::with_capacity(gaps.len() + 1);
    let mut start = 0;
    for end in gaps.into_iter().chain([integers.len() - 1]) {
        ranges.push((typed(integers[start]), typed(integers[end])));
        start = end + 1;
    }
    ranges
}

/// `expr IN (values)`, the list alone: what a filter that excludes the
/// keys (`NOT`) needs, since the statistics of a range skip nothing there.
pub fn listed(expr: Expr, values: &[ScalarValue]) -> Expr {
    expr.in_list(values.iter().cloned().map(lit).collect(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_bounded_by_ranges_split_at_the_widest_gaps() {
        let keys: Vec<ScalarValue> = [5_i64, 1, 2, 3, 1000, 1001, 40]
            .into_iter()
            .map(|n| ScalarValue::Int64(Some(n)))
            .collect();
        let ranges = key_ranges(&keys, 3);
        let bounds: Vec<(i64, i64)> = ranges
            .iter()
            .map(|(l, h)| match (l, h) {
                (ScalarValue::Int64(Some(l)), ScalarValue::Int64(Some(h))) => (*l, *h),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(bounds, vec![(1, 5), (40, 40), (1000, 1001)]);
        // Every key lies in a range, however few are allowed.
        for max in 1..8 {
            let ranges = key_ranges(&keys, max);
            assert!(ranges.len() <= max);
            for key in &keys {
                assert!(
                    ranges.iter().any(|(l, h)| l <= key && key <= h),
                    "{key} with {max}"
                );
            }
        }
        let names: Vec<ScalarValue> = ["b", "a", "c"].map(ScalarValue::from).to_vec();
        assert_eq!(
            key_ranges(&names, 4),
            vec![(ScalarValue::from("a"), ScalarValue::from("c"))]
        );
        assert!(key_ranges(&[], 4).is_empty());
    }
}
