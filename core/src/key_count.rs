//! `count_distinct_offsets(offset)`: the number of distinct values of a
//! `BIGINT` in `0 .. 2^32`, kept as a compressed bitmap (roaring) rather
//! than a hash table. The reconciliation counts the distinct primary keys of
//! a raw table with it, each key packed into its offset from the smallest
//! key (`jobs/src/pipeline/reconcile.rs`): integer keys of a bounded range,
//! as DuckDB's perfect hash aggregate handles them. A bitmap of 300 M line
//! keys takes tens of MB and never spills, where a hash aggregation of the
//! same keys spilled 3.4 GB at scale 100. Every node registers it, so a
//! cluster runs the partial counts in its executors and merges the bitmaps.

use std::io::Cursor;

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{ScalarValue, exec_datafusion_err, exec_err, internal_datafusion_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility,
};
use roaring::RoaringBitmap;

/// The function's name in SQL.
pub const NAME: &str = "count_distinct_offsets";

/// How many batches an accumulator takes between two measurements of its
/// bitmap (the measurement walks every container).
const BATCHES_PER_MEASURE: usize = 64;

/// The aggregate function, for a session's or a node's registry.
pub fn udaf() -> AggregateUDF {
    AggregateUDF::from(CountDistinctOffsets {
        signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CountDistinctOffsets {
    signature: Signature,
}

impl AggregateUDFImpl for CountDistinctOffsets {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn is_nullable(&self) -> bool {
        false
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::<Offsets>::default())
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let name = format_state_name(args.name, "offsets");
        Ok(vec![Field::new(name, DataType::Binary, true).into()])
    }
}

/// The offsets seen so far.
#[derive(Debug, Default)]
struct Offsets {
    seen: RoaringBitmap,
    /// A batch's offsets, sorted before they join `seen`.
    scratch: Vec<u32>,
    /// `seen`'s size when last measured.
    bytes: usize,
    batches: usize,
}

impl Offsets {
    fn add(&mut self, batch: RoaringBitmap) {
        self.seen |= batch;
        self.batches += 1;
        if self.batches.is_multiple_of(BATCHES_PER_MEASURE) {
            self.bytes = self.seen.serialized_size();
        }
    }
}

impl Accumulator for Offsets {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(values) = values
            .first()
            .and_then(|v| v.as_primitive_opt::<Int64Type>())
        else {
            return exec_err!("{NAME} takes one BIGINT");
        };
        if values.null_count() > 0 {
            return exec_err!("{NAME}: an offset is NULL; count NULL keys apart");
        }
        self.scratch.clear();
        for &offset in values.values() {
            let Ok(offset) = u32::try_from(offset) else {
                return exec_err!("{NAME}: {offset} is outside 0 .. 2^32");
            };
            self.scratch.push(offset);
        }
        // Raw files are mostly in key order, which the sort finds at once.
        self.scratch.sort_unstable();
        self.scratch.dedup();
        let batch = RoaringBitmap::from_sorted_iter(self.scratch.iter().copied())
            .map_err(|e| internal_datafusion_err!("{NAME}: {e}"))?;
        self.add(batch);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.seen.len() as i64)))
    }

    fn size(&self) -> usize {
        size_of_val(self) + self.scratch.capacity() * size_of::<u32>() + self.bytes
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut bytes = Vec::with_capacity(self.seen.serialized_size());
        self.seen
            .serialize_into(&mut bytes)
            .map_err(|e| internal_datafusion_err!("{NAME}: {e}"))?;
        Ok(vec![ScalarValue::Binary(Some(bytes))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let Some(states) = states.first().and_then(|s| s.as_binary_opt::<i32>()) else {
            return exec_err!("{NAME}: a partial state is not binary");
        };
        for state in states.iter().flatten() {
            let batch = RoaringBitmap::deserialize_from(Cursor::new(state))
                .map_err(|e| exec_datafusion_err!("{NAME}: a partial state: {e}"))?;
            self.add(batch);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, RecordBatch};
    use datafusion::arrow::datatypes::Schema;
    use datafusion::prelude::SessionContext;

    use super::*;

    fn accumulate(values: &[i64]) -> Result<Offsets> {
        let mut acc = Offsets::default();
        acc.update_batch(&[Arc::new(Int64Array::from(values.to_vec()))])?;
        Ok(acc)
    }

    #[test]
    fn counts_each_offset_once_across_batches_and_merges() -> Result<()> {
        let mut left = accumulate(&[7, 3, 3, 0, 70_000, u32::MAX as i64])?;
        left.update_batch(&[Arc::new(Int64Array::from(vec![3, 8]))])?;
        let mut right = accumulate(&[8, 9, 70_000])?;
        let state = right.state()?;
        let states: Vec<ArrayRef> = state.iter().map(|s| s.to_array()).collect::<Result<_>>()?;
        left.merge_batch(&states)?;
        // 0, 3, 7, 8, 9, 70 000 and 2^32 - 1
        assert_eq!(left.evaluate()?, ScalarValue::Int64(Some(7)));
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_an_offset() {
        let negative = accumulate(&[1, -1]).map(|_| ()).unwrap_err();
        assert!(negative.to_string().contains("-1 is outside"), "{negative}");
        let wide = accumulate(&[1 << 32]).map(|_| ()).unwrap_err();
        assert!(wide.to_string().contains("outside 0 .. 2^32"), "{wide}");
        let mut acc = Offsets::default();
        let null = acc
            .update_batch(&[Arc::new(Int64Array::from(vec![Some(1), None]))])
            .unwrap_err();
        assert!(null.to_string().contains("NULL"), "{null}");
    }

    #[tokio::test]
    async fn agrees_with_count_distinct_in_sql() -> Result<()> {
        let ctx = SessionContext::new();
        ctx.register_udaf(udaf());
        let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Int64, false)]));
        let keys: Vec<i64> = (0..50_000).map(|i| (i * 7919) % 20_011).collect();
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(keys))])?;
        ctx.register_batch("t", batch)?;
        let sql = format!("SELECT {NAME}(k) AS a, COUNT(DISTINCT k) AS b FROM t");
        let rows = ctx.sql(&sql).await?.collect().await?;
        let a = rows[0].column(0).as_primitive::<Int64Type>().value(0);
        let b = rows[0].column(1).as_primitive::<Int64Type>().value(0);
        assert_eq!((a, b), (20_011, 20_011));
        let empty = ctx
            .sql(&format!("SELECT {NAME}(k) FROM t WHERE k < 0"))
            .await?;
        let empty = empty.collect().await?;
        assert_eq!(empty[0].column(0).as_primitive::<Int64Type>().value(0), 0);
        Ok(())
    }
}
