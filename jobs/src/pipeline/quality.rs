//! Running data tests: each declared test's failing-rows query against the
//! tables of a session (the run's staged tables before it publishes, or the
//! published ones for `dfstore test`), counted, with the first failing rows
//! kept for the manifest. A contract's NOT NULL columns are tests too.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use crate::contract::layer::{Layer, TableRef};
use crate::engine;
use crate::error::{Error, Result};
use crate::lake::runs::TestOutcome;
use crate::project::header::Severity;
use crate::project::quality::{Check, DataTest};
use crate::project::{Model, Project};

/// Failing rows kept per test.
const FIRST_FAILURES: usize = 5;

/// Every test of `models` (declared, and each contract's NOT NULLs) and
/// the SQL tests `singular`, run against `ctx`.
pub async fn run_tests(
    ctx: &SessionContext,
    models: &[&Model],
    singular: &[&DataTest],
) -> Result<Vec<TestOutcome>> {
    let mut out = Vec::new();
    for model in models {
        let table = model.table();
        for test in tests_of(model) {
            let failing = test.failing_rows(&table);
            out.push(run_one(ctx, &test, &failing).await?);
        }
    }
    for test in singular {
        if let Some(failing) = test.standalone() {
            out.push(run_one(ctx, test, &failing).await?);
        }
    }
    Ok(out)
}

/// The SQL tests of `project` a run that builds `built` runs: every one
/// when it builds every model from all of its inputs (`all`), else those
/// that read a table it builds, as dbt runs the tests of the models it
/// selects.
pub fn singular_tests<'p>(
    project: &'p Project,
    built: &[Arc<Model>],
    all: bool,
) -> Vec<&'p DataTest> {
    let built: BTreeSet<TableRef> = built.iter().map(|m| m.table()).collect();
    project
        .tests
        .iter()
        .filter(|t| all || t.other_tables().iter().any(|read| built.contains(read)))
        .collect()
}

/// The tables the tests of the models `built` and the SQL tests
/// `singular` read that the run neither builds nor reads for its models
/// (`inputs`), raw tables aside: the run reads them at their published
/// version.
pub fn unread_by_models(
    built: &[Arc<Model>],
    singular: &[&DataTest],
    inputs: &[TableRef],
) -> BTreeSet<TableRef> {
    let tables: BTreeSet<TableRef> = built.iter().map(|m| m.table()).collect();
    let declared = built.iter().flat_map(|m| m.tests.iter());
    singular
        .iter()
        .copied()
        .chain(declared)
        .flat_map(DataTest::other_tables)
        .filter(|t| t.layer != Layer::Raw && !tables.contains(t) && !inputs.contains(t))
        .collect()
}

/// A model's declared tests and its contract's NOT NULLs.
fn tests_of(model: &Model) -> Vec<DataTest> {
    let mut tests = model.tests.clone();
    if let Some(contract) = &model.contract {
        for column in contract.columns.iter().filter(|c| c.not_null) {
            tests.push(DataTest {
                name: format!("contract not_null({}.{})", model.table(), column.name),
                check: Check::NotNull(column.name.clone()),
                severity: Severity::Error,
                location: contract.location.clone(),
            });
        }
    }
    tests
}

/// Runs `test`, whose failing rows `failing` returns.
async fn run_one(ctx: &SessionContext, test: &DataTest, failing: &str) -> Result<TestOutcome> {
    let what = format!("data test {} ({})", test.name, test.location);
    let counted = engine::collect(
        ctx,
        &format!("SELECT COUNT(*) AS n FROM ({failing}) AS failing"),
        &what,
    )
    .await?;
    let failing_rows = counted
        .iter()
        .find(|b| b.num_rows() > 0)
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
        .max(0) as u64;
    let first_failures = if failing_rows == 0 {
        Vec::new()
    } else {
        let sample = engine::collect(
            ctx,
            &format!("SELECT * FROM ({failing}) AS failing LIMIT {FIRST_FAILURES}"),
            &what,
        )
        .await?;
        rows_as_text(&sample).map_err(|e| Error::engine(&what, e.into()))?
    };
    Ok(TestOutcome {
        name: test.name.clone(),
        location: test.location.clone(),
        severity: match test.severity {
            Severity::Error => "error",
            Severity::Warn => "warn",
        }
        .into(),
        failing_rows,
        first_failures,
    })
}

/// Each row as `column=value, …`.
fn rows_as_text(
    batches: &[RecordBatch],
) -> std::result::Result<Vec<String>, arrow::error::ArrowError> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let schema = batch.schema();
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = formatters
                .iter()
                .zip(schema.fields())
                .map(|(f, field)| format!("{}={}", field.name(), f.value(row)))
                .collect();
            out.push(cells.join(", "));
        }
    }
    Ok(out)
}

/// The first test of `outcomes` of severity error that failed, as the
/// run's error.
pub fn first_error(outcomes: &[TestOutcome]) -> Option<Error> {
    outcomes
        .iter()
        .find(|t| !t.passed() && t.severity == "error")
        .map(|t| Error::DataTest {
            test: t.name.clone(),
            location: t.location.clone(),
            rows: t.failing_rows,
            first: t.first_failures.first().cloned().unwrap_or_default(),
        })
}
