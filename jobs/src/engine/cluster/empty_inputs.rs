//! Unions without their empty inputs, before a plan goes to the cluster.
//!
//! A table registered as the union of two parts, one of which holds no
//! file (the published periods an incremental run keeps, beside the
//! periods it rebuilt, when every period was rebuilt or none was), plans
//! as a `UnionExec` with an `EmptyExec` input. Ballista 55 adds up the
//! operator metrics of a stage's tasks and requires every task to report
//! as many operators as the first one did. The tasks of a union's stage
//! run different inputs, and a task that ran the `EmptyExec` reports a
//! different number of operators than one that ran a scan. The scheduler
//! then rejects that task's status ("task metrics array size 5 does not
//! equal with the stage metrics array size 4"), never marks it done, and
//! the job runs forever. An empty input adds no row, so it is dropped.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::Result;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;

/// `plan` with every `EmptyExec` input of a `UnionExec` removed. A union
/// left with one input becomes that input where its schema is the
/// union's; a union of empty inputs only is kept as it is.
pub fn without_empty_union_inputs(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let Some(union) = node.downcast_ref::<UnionExec>() else {
            return Ok(Transformed::no(node));
        };
        let inputs: Vec<Arc<dyn ExecutionPlan>> = union
            .inputs()
            .iter()
            .filter(|input| !input.is::<EmptyExec>())
            .cloned()
            .collect();
        let unchanged = inputs.len() == union.inputs().len() || inputs.is_empty();
        if unchanged || (inputs.len() == 1 && inputs[0].schema() != node.schema()) {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(UnionExec::try_new(inputs)?))
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::ExecutionPlan;
    use datafusion::physical_plan::empty::EmptyExec;
    use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;
    use datafusion::physical_plan::union::UnionExec;

    use super::without_empty_union_inputs;

    fn schema() -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new("n", DataType::Int64, true)]))
    }

    fn rows() -> Arc<dyn ExecutionPlan> {
        Arc::new(PlaceholderRowExec::new(schema()))
    }

    fn empty() -> Arc<dyn ExecutionPlan> {
        Arc::new(EmptyExec::new(schema()))
    }

    fn names(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
        let mut out = vec![plan.name().to_string()];
        for child in plan.children() {
            out.extend(names(child));
        }
        out
    }

    #[test]
    fn an_empty_input_of_a_union_is_dropped() -> datafusion::error::Result<()> {
        let three = UnionExec::try_new(vec![rows(), empty(), rows()])?;
        assert_eq!(
            names(&without_empty_union_inputs(three)?),
            ["UnionExec", "PlaceholderRowExec", "PlaceholderRowExec"]
        );
        let two = UnionExec::try_new(vec![rows(), empty()])?;
        assert_eq!(
            names(&without_empty_union_inputs(two)?),
            ["PlaceholderRowExec"]
        );
        let all_empty = UnionExec::try_new(vec![empty(), empty()])?;
        assert_eq!(
            names(&without_empty_union_inputs(all_empty)?),
            ["UnionExec", "EmptyExec", "EmptyExec"]
        );
        Ok(())
    }
}
