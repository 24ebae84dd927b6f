//! Building one model as several queries, each over a slice of its inputs,
//! so that its joins and aggregations hold a slice in memory, not the
//! history: one month at a time (a model built by period, as dbt builds its
//! "microbatch" models), or one range of a key at a time (a model whose
//! joins all match on that key, as a Grace hash join partitions both sides
//! by the key). Every batch writes its files into the model's staging
//! folder; together they are the model's rows.

use std::collections::BTreeSet;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Int64Type};

use datafusion::common::Column;
use datafusion::common::tree_node::Transformed;
use datafusion::dataframe::DataFrame;
use datafusion::execution::SessionState;
use datafusion::execution::memory_pool::MemoryLimit;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, TableScan, lit};
use datafusion::prelude::SessionContext;

use crate::contract::layer::TableRef;
use crate::contract::period::Period;
use crate::engine::context::{Placement, placement};
use crate::engine::{self, DEFAULT_MEMORY_LIMIT, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::pipeline::build::Staged;
use crate::pipeline::increment::DayPlan;

/// Bytes a row of a join's build side takes in memory, keys, the columns
/// carried and the hash table together (`trusted.ventas` as the build side
/// of `staging.detalle_ventas` at scale 100: 6.7 M headers took 408 MB in
/// its two hash tables, 61 B a row; rounded up for the tables beside it).
/// Each range costs a plan and a pass over the footers of the files it
/// prunes, so ranges are no smaller than memory requires: at 120 B a row
/// scale 100 took 45 ranges and 164 s for this model, at 64 B 24 ranges.
const BUILD_BYTES_PER_ROW: u64 = 64;

/// The share of the memory pool one batch's build sides may take: the rest
/// is for its other joins and aggregations.
const BUILD_SHARE_OF_POOL: u64 = 4;

/// How a model is split into queries.
#[derive(Debug)]
pub enum Batches {
    /// One query per month, or per range of a month's days, over that
    /// slice of the partitioned `tables`.
    Periods {
        /// The partitioned models read; every scan of them is restricted.
        tables: Vec<TableRef>,
        /// The months, or ranges of their days, in order.
        slices: Vec<Slice>,
    },
    /// One query per range of `column`, over the rows of every scan that has
    /// the column; scans without it are read whole by every batch.
    KeyRanges {
        /// The key every join of the model matches on.
        column: String,
        /// Half-open ranges covering every value, lowest first.
        ranges: Vec<KeyRange>,
    },
}

/// `from <= key < to`; an open end is unbounded, so that the first and last
/// ranges also take keys outside what the bounds were computed from (lines
/// of tickets no header has, for instance).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRange {
    /// Lowest key, inclusive.
    pub from: Option<i64>,
    /// Highest key, exclusive.
    pub to: Option<i64>,
}

impl Batches {
    /// The batches of a model built by period that reads the models `reads`
    /// (all built): every month of the partitioned ones, or only `period`;
    /// a month whose rows in the partitioned models with `day_column` pass
    /// [`periods::MONTH_BYTES_PER_ROW`] of the pool is split into ranges
    /// of days.
    pub fn of_periods(
        ctx: &SessionContext,
        reads: &[&Staged],
        period: Option<&Period>,
        day_column: Option<&str>,
    ) -> Self {
        let inputs: Vec<&Staged> = reads
            .iter()
            .copied()
            .filter(|staged| staged.model.partitioned)
            .collect();
        let months: Vec<String> = match period {
            Some(period) => vec![period.as_str().to_string()],
            None => inputs
                .iter()
                .flat_map(|staged| staged.output().iter().filter_map(|f| f.period.clone()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        let dated: Vec<&Staged> = day_column
            .map(|column| keyed(column, &inputs))
            .unwrap_or_default();
        let rows_of = |month: &str| -> u64 {
            dated
                .iter()
                .flat_map(|staged| staged.output())
                .filter(|f| f.period.as_deref() == Some(month))
                .map(|f| f.rows)
                .sum()
        };
        let per_batch = pool_bytes(ctx) / periods::MONTH_BYTES_PER_ROW;
        Batches::Periods {
            tables: inputs.iter().map(|staged| staged.model.table()).collect(),
            slices: months
                .iter()
                .flat_map(|month| periods::slices(month, rows_of(month), per_batch, day_column))
                .collect(),
        }
    }

    /// The key ranges of a model whose joins all match on `column`, sized so
    /// that the rows of the models it reads with that column (the build
    /// sides of its joins: the raw tables it reads are the probe sides) take
    /// at most a quarter of the memory pool per range. `None` when one range holds
    /// them all: the model is then one query, as any other. On a cluster
    /// there are at least as many ranges as it runs at once, each range a
    /// task (see [`write`]); their bounds come from `raw` (the model's
    /// source table) when it reads no model with the key.
    pub async fn of_key_ranges(
        ctx: &SessionContext,
        column: &str,
        (reads, raw): (&[&Staged], Option<&str>),
        what: &str,
    ) -> Result<Option<Self>> {
        let count = range_count(ctx, column, reads);
        if count <= 1 {
            return Ok(None);
        }
        let keyed = keyed(column, reads);
        let mut tables: Vec<String> = keyed.iter().map(|s| s.model.table().to_string()).collect();
        if tables.is_empty() {
            tables.extend(raw.map(|table| format!("raw.{table}")));
        }
        if tables.is_empty() {
            return Ok(None);
        }
        let union = tables
            .iter()
            .map(|table| format!("SELECT {column} FROM {table}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!("SELECT MIN({column}), MAX({column}) FROM ({union}) AS k");
        let batches = engine::collect(ctx, &sql, &format!("{what}: the range of {column}")).await?;
        let bound = |i: usize| {
            let batch = batches.iter().find(|b| b.num_rows() > 0)?;
            let value = arrow::compute::cast(batch.column(i), &DataType::Int64).ok()?;
            let value = value.as_primitive_opt::<Int64Type>()?;
            value.is_valid(0).then(|| value.value(0))
        };
        let (Some(min), Some(max)) = (bound(0), bound(1)) else {
            return Ok(None);
        };
        Ok(Some(Batches::KeyRanges {
            column: column.to_string(),
            ranges: split(min, max, count),
        }))
    }

    /// These batches of a model built by period, with those of the periods
    /// `plan` rebuilds in part replaced by the runs of its days there
    /// ([`periods::day_slices`]).
    pub fn rebuilding(self, plan: Option<&DayPlan>) -> Self {
        let (Some(plan), Batches::Periods { tables, slices }) = (plan, &self) else {
            return self;
        };
        let mut slices: Vec<Slice> = slices
            .iter()
            .filter(|s| !plan.partial.contains_key(&s.period))
            .cloned()
            .collect();
        for (period, days) in &plan.partial {
            slices.extend(periods::day_slices(period, &plan.column, days));
        }
        // Stable: a month's ranges of days stay in order.
        slices.sort_by(|a, b| a.period.cmp(&b.period));
        Batches::Periods {
            tables: tables.clone(),
            slices,
        }
    }

    /// How many queries the model takes.
    pub fn len(&self) -> usize {
        match self {
            Batches::Periods { slices, .. } => slices.len(),
            Batches::KeyRanges { ranges, .. } => ranges.len(),
        }
    }

    /// Whether there is no batch at all (a model by period with no month).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How many key ranges of `column` a model that reads the models `reads`
/// (all built) takes: see [`Batches::of_key_ranges`]; 1 is the model whole.
pub fn range_count(ctx: &SessionContext, column: &str, reads: &[&Staged]) -> u64 {
    let rows: u64 = keyed(column, reads)
        .iter()
        .map(|staged| staged.rows())
        .sum();
    let per_range = (pool_bytes(ctx) / BUILD_SHARE_OF_POOL / BUILD_BYTES_PER_ROW).max(1);
    let count = rows.div_ceil(per_range);
    if on_cluster(ctx) {
        // Ranges run side by side, one task each: a whole number of
        // rounds of the ranges run at once.
        let at_once = cluster::at_once(ctx) as u64;
        count.max(at_once).div_ceil(at_once) * at_once
    } else {
        count
    }
}

/// `ctx`'s state, planning in one partition: a batch that runs beside
/// others (the embedded ranges of days of a month, a cluster's tasks).
fn one_partition_state(ctx: &SessionContext) -> SessionState {
    let mut state = ctx.state();
    state.config_mut().options_mut().execution.target_partitions = 1;
    state
}

/// `ctx`, planning in one partition ([`one_partition_state`]).
fn one_partition(ctx: &SessionContext) -> SessionContext {
    SessionContext::new_with_state(one_partition_state(ctx))
}

/// The size of `ctx`'s memory pool.
fn pool_bytes(ctx: &SessionContext) -> u64 {
    match ctx.runtime_env().memory_pool.memory_limit() {
        MemoryLimit::Finite(bytes) => bytes as u64,
        _ => DEFAULT_MEMORY_LIMIT,
    }
}

/// The models of `reads` that have `column`.
fn keyed<'a>(column: &str, reads: &[&'a Staged]) -> Vec<&'a Staged> {
    reads
        .iter()
        .copied()
        .filter(|staged| staged.schema.column_with_name(column).is_some())
        .collect()
}

/// Whether `ctx` runs its plans on a cluster.
pub(crate) fn on_cluster(ctx: &SessionContext) -> bool {
    matches!(placement(ctx), Placement::Cluster(_))
}

/// `count` ranges of equal width over `min..=max`, the first open below and
/// the last open above.
fn split(min: i64, max: i64, count: u64) -> Vec<KeyRange> {
    let width = i128::from(max) - i128::from(min) + 1;
    let count = i128::from(count).min(width).max(1);
    let step = (width + count - 1) / count;
    let bounds: Vec<i64> = (1..count)
        .filter_map(|i| i64::try_from(i128::from(min) + i * step).ok())
        .filter(|&b| b <= max)
        .collect();
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut from = None;
    for &b in &bounds {
        ranges.push(KeyRange { from, to: Some(b) });
        from = Some(b);
    }
    ranges.push(KeyRange { from, to: None });
    ranges
}

/// [`split`], for the tests of the modules that build with key ranges.
#[cfg(test)]
pub fn split_for_tests(min: i64, max: i64, count: u64) -> Vec<KeyRange> {
    split(min, max, count)
}

/// Writes `df` one batch at a time into `target`. A batch of a model by
/// period that writes a file under another month's folder fails, naming the
/// model and the file; the check lists the folder after each batch, so it
/// holds on a cluster too.
pub async fn write(
    ctx: &SessionContext,
    df: DataFrame,
    lake: &Lake,
    target: &write::Target,
    batches: &Batches,
) -> Result<()> {
    match batches {
        Batches::Periods { tables, slices } if on_cluster(ctx) => {
            cluster::write_periods(ctx, &df, lake, target, (tables, slices)).await?;
        }
        Batches::Periods { tables, slices } => {
            periods::write(ctx, &df, lake, target, (tables, slices)).await?;
        }
        Batches::KeyRanges { column, ranges } if on_cluster(ctx) => {
            cluster::write_ranges(ctx, &df, lake, target, column, ranges).await?;
        }
        Batches::KeyRanges { column, ranges } => {
            for (i, range) in ranges.iter().enumerate() {
                let plan = restrict_to_range(df.logical_plan().clone(), column, *range)
                    .map_err(|e| Error::engine(&target.what, e))?;
                write::parquet(ctx, DataFrame::new(ctx.state(), plan), lake, target).await?;
                tracing::debug!(model = %target.what, batch = i + 1, of = ranges.len(), from = ?range.from, to = ?range.to, "key range written");
            }
        }
    }
    Ok(())
}

/// `plan` with the rows of every scan that has `column` restricted to
/// `range`; the filter reaches the Parquet reader, whose row-group and page
/// statistics skip what lies outside the range.
pub fn restrict_to_range(
    plan: LogicalPlan,
    column: &str,
    range: KeyRange,
) -> datafusion::error::Result<LogicalPlan> {
    filter_scans(plan, |scan| {
        scan.source.schema().column_with_name(column)?;
        [
            range
                .from
                .map(|from| column_of(scan, column).gt_eq(lit(from))),
            range.to.map(|to| column_of(scan, column).lt(lit(to))),
        ]
        .into_iter()
        .flatten()
        .reduce(Expr::and)
    })
}

/// `plan` with a filter above every table scan (in subqueries too) that
/// `condition` gives one for.
pub(crate) fn filter_scans(
    plan: LogicalPlan,
    condition: impl Fn(&TableScan) -> Option<Expr>,
) -> datafusion::error::Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| match node {
        LogicalPlan::TableScan(scan) => match condition(&scan) {
            Some(filter) => LogicalPlanBuilder::from(LogicalPlan::TableScan(scan))
                .filter(filter)?
                .build()
                .map(Transformed::yes),
            None => Ok(Transformed::no(LogicalPlan::TableScan(scan))),
        },
        other => Ok(Transformed::no(other)),
    })
    .map(|transformed| transformed.data)
}

/// `column` of the table `scan` reads.
pub(crate) fn column_of(scan: &TableScan, column: &str) -> Expr {
    Expr::Column(Column::new(Some(scan.table_name.clone()), column))
}

pub mod cluster;
pub mod periods;

pub use periods::{Slice, restrict_to_slice};

#[cfg(test)]
mod tests {
    use super::*;

    use std::sync::Arc;

    use arrow::datatypes::{Field, Schema};
    use datafusion::execution::memory_pool::FairSpillPool;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::SessionConfig;

    use crate::lake::delta::StagedFile;

    /// A staged model of `rows` rows in one file, with the one column `column`.
    fn staged(column: &str, rows: u64) -> Staged {
        Staged {
            model: Arc::new(
                crate::project::Project::builtin().unwrap().models[1]
                    .as_ref()
                    .clone(),
            ),
            schema: Arc::new(Schema::new(vec![Field::new(
                column,
                DataType::Int64,
                false,
            )])),
            files: vec![StagedFile {
                path: "staging/x/part-0.parquet".into(),
                bytes: rows * 8,
                rows,
                period: None,
            }],
            replaced: None,
        }
    }

    #[test]
    fn a_model_takes_as_many_ranges_as_its_keyed_inputs_need() {
        // 64 MiB: a quarter of it holds 262,144 rows of 64 bytes.
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(FairSpillPool::new(64 << 20)))
            .build_arc()
            .unwrap();
        let ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
        let small = staged("id_venta", 200_000);
        let large = staged("id_venta", 1_000_000);
        let unkeyed = staged("id_cliente", 50_000_000);
        // A small run is built whole, and then runs beside other work.
        assert_eq!(range_count(&ctx, "id_venta", &[&small, &unkeyed]), 1);
        assert_eq!(range_count(&ctx, "id_venta", &[&large]), 4);
        assert_eq!(range_count(&ctx, "id_venta", &[&large, &small]), 5);
    }

    #[test]
    fn ranges_cover_every_key_once() {
        let ranges = split(1, 100, 4);
        assert_eq!(ranges.len(), 4);
        assert_eq!(
            ranges[0],
            KeyRange {
                from: None,
                to: Some(26)
            }
        );
        assert_eq!(
            ranges[3],
            KeyRange {
                from: Some(76),
                to: None
            }
        );
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].to, pair[1].from);
        }
        // Never more ranges than keys, never an empty one.
        assert_eq!(split(5, 6, 10).len(), 2);
        assert_eq!(
            split(7, 7, 3),
            [KeyRange {
                from: None,
                to: None
            }]
        );
        assert_eq!(split(i64::MIN, i64::MAX, 2).len(), 2);
    }
}
