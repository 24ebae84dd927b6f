//! A model rebuilt by period in an incremental run: the periods it
//! rebuilds, what it publishes, and how the models after it see it.

use std::sync::Arc;
use std::time::Instant;

use datafusion::prelude::SessionContext;

use super::Changes;
use super::merge::{published, register_whole, registered};
use crate::engine::tables;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::runs::Step;
use crate::pipeline::build::{Build, Replacement, Staged, planned, step_of};
use crate::project::Model;
use crate::project::vars::Vars;

/// The periods that the partitioned models `inputs` replace, or whose rows
/// a merge changed (also a period a merge left without rows), which a
/// model rebuilt by period rebuilds.
pub fn months_of(inputs: &[&Staged]) -> Vec<String> {
    let months: std::collections::BTreeSet<String> = inputs
        .iter()
        .filter(|s| s.model.partitioned)
        .flat_map(
            |s| match s.replaced.as_ref().and_then(|r| r.periods.clone()) {
                Some(periods) => periods,
                None => s.output().iter().filter_map(|f| f.period.clone()).collect(),
            },
        )
        .collect();
    months.into_iter().collect()
}

/// A model rebuilt by period for `months`, as what replaces them; a row
/// written outside them fails the run.
pub fn within(staged: Staged, months: &[String]) -> Result<Staged> {
    if let Some(file) = staged
        .files
        .iter()
        .find(|f| f.period.as_ref().is_none_or(|p| !months.contains(p)))
    {
        return Err(Error::ModelLeaksPeriod {
            model: format!("{} ({})", staged.model.table(), staged.model.file),
            period: months.join(", "),
            file: file.path.to_string(),
        });
    }
    Ok(Staged {
        replaced: Some(Replacement {
            files: staged.files.clone(),
            periods: Some(months.to_vec()),
            removed: None,
        }),
        ..staged
    })
}

/// A model rebuilt by period whose inputs replaced no period: nothing to
/// build or publish; the models after it read its published version.
pub async fn unchanged(
    ctx: &SessionContext,
    lake: &Lake,
    changes: &Changes,
    model: &Arc<Model>,
    vars: &Vars,
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let table = model.table();
    let what = format!("{table} ({})", model.file);
    let df = planned(ctx, model, vars, &what).await?;
    let version = changes.pinned.version_of(&table.to_string());
    tables::register_published(ctx, lake, &table, version).await?;
    let staged = Staged {
        model: Arc::clone(model),
        schema: Arc::new(df.schema().as_arrow().clone()),
        files: Vec::new(),
        replaced: Some(Replacement {
            files: Vec::new(),
            periods: Some(Vec::new()),
            removed: None,
        }),
    };
    Ok((step_of(model, &staged, started), staged))
}

/// Registers a model rebuilt by period as it will be once published: the
/// periods it rebuilt (registered under its name when written) and the
/// others of its last published version.
pub async fn complete_periods(build: &Build<'_>, changes: &Changes, staged: &Staged) -> Result<()> {
    let model = &staged.model;
    let table = model.table();
    let what = format!("{table} ({}): registering the rebuilt periods", model.file);
    let periods = staged
        .replaced
        .as_ref()
        .and_then(|r| r.periods.clone())
        .unwrap_or_default();
    let old = published(build, changes, model, &what).await?;
    let new = if staged.files.is_empty() {
        None
    } else {
        Some(registered(build.ctx, &table, &what).await?)
    };
    register_whole(build, model, (old, &periods), new)
}
