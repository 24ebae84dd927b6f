//! A model rebuilt by period in an incremental run: the periods it
//! rebuilds, and of those the days where it can, what it publishes, and
//! how the models after it see it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::DataType;
use chrono::NaiveDate;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::{Expr, ident, lit};
use datafusion::prelude::SessionContext;

use super::Changes;
use super::merge::{published, register_whole, registered};
use crate::contract::period::PERIOD_COLUMN;
use crate::engine::{tables, write};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta;
use crate::lake::runs::Step;
use crate::pipeline::batches::periods::{date_literal, day_runs, month_bounds};
use crate::pipeline::build::{Build, Replacement, Staged, parquet_options, planned, step_of};
use crate::project::Model;
use crate::project::vars::Vars;

/// The periods that the partitioned models `inputs` replace, or whose rows
/// a merge changed (also a period a merge left without rows), which a
/// model rebuilt by period rebuilds.
pub fn months_of(inputs: &[&Staged]) -> Vec<String> {
    let months: BTreeSet<String> = inputs
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

/// The days a model rebuilt by period rebuilds within the periods it
/// replaces, when it declares a day column and its inputs say on which
/// days their rows changed: per period rebuilt in part, its changed days.
/// Its published rows of those periods' other days are kept as they are.
#[derive(Debug, Clone)]
pub struct DayPlan {
    /// The model's day column, also its inputs'.
    pub column: String,
    /// Per period rebuilt in part, the days rebuilt.
    pub partial: BTreeMap<String, BTreeSet<NaiveDate>>,
}

/// A model rebuilt by period for some days of its periods: which, and its
/// published rows of the other days of those periods, which it keeps.
pub struct DayRebuild {
    /// The days rebuilt.
    pub plan: DayPlan,
    /// The published rows kept.
    pub kept: DataFrame,
}

/// The most runs of consecutive days a period is rebuilt in; a period
/// with more, or with changes on more than half its days, is rebuilt whole.
const MAX_DAY_RUNS: usize = 8;

/// The days `model` rebuilds within `months`, if it can rebuild days: it
/// declares a day column, and every partitioned input that changed knows
/// the days of its changed rows in that column.
pub fn days_of(model: &Model, inputs: &[&Staged], months: &[String]) -> Option<DayPlan> {
    let column = model.day_column.as_deref()?;
    let mut changed = BTreeSet::new();
    for staged in inputs.iter().filter(|s| s.model.partitioned) {
        let replaced = staged.replaced.as_ref()?;
        let nothing =
            replaced.files.is_empty() && replaced.periods.as_ref().is_some_and(Vec::is_empty);
        if !nothing {
            changed.extend(replaced.days.get(column)?);
        }
    }
    let month_of = |day: &NaiveDate| day.format("%Y-%m").to_string();
    if changed.iter().any(|day| !months.contains(&month_of(day))) {
        return None;
    }
    let mut partial = BTreeMap::new();
    for month in months {
        let days: BTreeSet<NaiveDate> = changed
            .iter()
            .filter(|day| month_of(day) == *month)
            .copied()
            .collect();
        let few = days.len() * 2 <= days_in(month)? && day_runs(&days).len() <= MAX_DAY_RUNS;
        if few {
            partial.insert(month.clone(), days);
        }
    }
    (!partial.is_empty()).then(|| DayPlan {
        column: column.to_string(),
        partial,
    })
}

/// The days `model`, rebuilt by period for `months`, rebuilds (see
/// [`days_of`]), with the published rows it keeps; `None` when it rebuilds
/// its periods whole.
pub async fn plan_days(
    build: &Build<'_>,
    changes: &Changes,
    model: &Model,
    (inputs, months): (&[&Staged], &[String]),
) -> Result<Option<DayRebuild>> {
    let Some(plan) = days_of(model, inputs, months) else {
        return Ok(None);
    };
    let kept = kept_days(build, changes, model, &plan).await?;
    Ok(kept.map(|kept| DayRebuild { plan, kept }))
}

/// `staged`, a model rebuilt for some days, completed with the rows it
/// keeps of the other days (written beside it in the run's staging
/// folder), after checking that every row it built lies on a day rebuilt.
pub async fn keep_days(build: &Build<'_>, days: &DayRebuild, staged: Staged) -> Result<Staged> {
    let plan = &days.plan;
    let started = Instant::now();
    let model = Arc::clone(&staged.model);
    let table = model.table();
    let what = format!("{table} ({}): keeping the days not rebuilt", model.file);
    within_days(&model, registered(build.ctx, &table, &what).await?, plan).await?;
    let names: Vec<&str> = staged
        .schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let kept = days
        .kept
        .clone()
        .select_columns(&names)
        .map_err(|e| Error::engine(&what, e))?;
    let target = write::Target {
        folder: format!("{}_kept/{}", build.staging, table.folder()),
        partition_by: model.partitioned.then_some(PERIOD_COLUMN),
        parquet: parquet_options(build.ctx, &model),
        what,
    };
    write::parquet(build.ctx, kept, build.lake, &target).await?;
    let written = delta::staged_files(build.lake, &target.folder).await?;
    let rebuilt = delta::staged_files(build.lake, &build.folder_of(&table)).await?;
    let roots: Vec<String> = rebuilt.roots.into_iter().chain(written.roots).collect();
    tables::register_staged(
        build.ctx,
        build.lake,
        &table,
        &roots,
        &staged.schema,
        model.partitioned,
    )?;
    tracing::info!(
        table = %table,
        days = plan.partial.values().map(BTreeSet::len).sum::<usize>(),
        rows_kept = written.files.iter().map(|f| f.rows).sum::<u64>(),
        seconds = started.elapsed().as_secs_f64(),
        "rebuilt the changed days, kept the others"
    );
    let mut files = staged.files;
    files.extend(written.files);
    Ok(Staged { files, ..staged })
}

/// Days in the month `YYYY-MM`.
fn days_in(month: &str) -> Option<usize> {
    let (first, next) = month_bounds(month)?;
    usize::try_from((next - first).num_days()).ok()
}

/// The rows of the periods `plan` rebuilds in part that lie on none of its
/// days (or on no day): what a rebuild of its days keeps as published, and
/// what the rebuild itself must not produce.
fn other_days(plan: &DayPlan) -> Expr {
    let column = plan.column.as_str();
    let months = plan.partial.keys().map(|m| lit(m.as_str())).collect();
    let days: Vec<Expr> = plan
        .partial
        .values()
        .flatten()
        .map(|d| date_literal(*d))
        .collect();
    let in_months = ident(PERIOD_COLUMN).in_list(months, false);
    if days.is_empty() {
        return in_months;
    }
    in_months.and(
        ident(column)
            .is_null()
            .or(ident(column).in_list(days, true)),
    )
}

/// The published rows of `model` that a rebuild of `plan`'s days keeps:
/// those of the other days of the periods it rebuilds in part. `None` when
/// the published table has no such day column: the periods are then
/// rebuilt whole.
pub async fn kept_days(
    build: &Build<'_>,
    changes: &Changes,
    model: &Model,
    plan: &DayPlan,
) -> Result<Option<DataFrame>> {
    let what = format!(
        "{} ({}): keeping the days not rebuilt",
        model.table(),
        model.file
    );
    let Some(old) = published(build, changes, model, &what).await? else {
        return Ok(None);
    };
    let column = plan.column.as_str();
    let dated = old
        .schema()
        .field_with_unqualified_name(column)
        .is_ok_and(|f| f.data_type() == &DataType::Date32);
    if !dated {
        return Ok(None);
    }
    old.filter(other_days(plan))
        .map(Some)
        .map_err(|e| Error::engine(&what, e))
}

/// Checks that the rows `staged` rebuilt for `plan` (`rebuilt`, without
/// the kept ones) all lie on the days rebuilt of the periods rebuilt in
/// part, as a model with a day column promises.
pub async fn within_days(model: &Model, rebuilt: DataFrame, plan: &DayPlan) -> Result<()> {
    let column = plan.column.as_str();
    let what = format!(
        "{} ({}): checking the days rebuilt",
        model.table(),
        model.file
    );
    let engine_err = |e| Error::engine(&what, e);
    let rows = rebuilt
        .filter(other_days(plan))
        .map_err(engine_err)?
        .count()
        .await
        .map_err(engine_err)? as u64;
    if rows == 0 {
        return Ok(());
    }
    let days: Vec<String> = plan
        .partial
        .values()
        .flatten()
        .map(NaiveDate::to_string)
        .collect();
    Err(Error::ModelLeaksDays {
        model: format!("{} ({})", model.table(), model.file),
        column: column.to_string(),
        days: days.join(", "),
        rows,
    })
}

/// A model rebuilt by period for `months`, as what replaces them; a row
/// written outside them fails the run. With `plan`, when every period is
/// rebuilt in part, the replacement's changed days are the days rebuilt.
pub fn within(staged: Staged, months: &[String], plan: Option<&DayPlan>) -> Result<Staged> {
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
            days: plan
                .filter(|p| months.iter().all(|m| p.partial.contains_key(m)))
                .map(|p| {
                    (
                        p.column.clone(),
                        p.partial.values().flatten().copied().collect(),
                    )
                })
                .into_iter()
                .collect(),
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
            days: BTreeMap::new(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Project;
    use arrow::datatypes::Schema;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn model(project: &Project, table: &str) -> Arc<Model> {
        let found = project
            .models
            .iter()
            .find(|m| m.table().to_string() == table);
        Arc::clone(found.unwrap())
    }

    /// A merged input whose changed rows lie on `days` (unknown when `None`).
    fn merged(model: Arc<Model>, months: &[&str], days: Option<&[&str]>) -> Staged {
        Staged {
            model,
            schema: Arc::new(Schema::empty()),
            files: Vec::new(),
            replaced: Some(Replacement {
                files: Vec::new(),
                periods: Some(months.iter().map(|m| m.to_string()).collect()),
                removed: Some(BTreeSet::new()),
                days: days
                    .map(|days| ("fecha".to_string(), days.iter().map(|d| day(d)).collect()))
                    .into_iter()
                    .collect(),
            }),
        }
    }

    #[test]
    fn the_report_rebuilds_the_days_its_inputs_changed_or_a_busy_month_whole() {
        let project = Project::builtin().unwrap();
        let report = model(&project, "analytic.reporte_ventas_tienda");
        let ventas = model(&project, "trusted.ventas");
        let lines = model(&project, "trusted.detalle_ventas");
        let months = ["2025-03".to_string(), "2025-04".to_string()];
        // A ticket moved from March 31 to April 1, and a line of April 3.
        let moved = merged(
            Arc::clone(&ventas),
            &["2025-03", "2025-04"],
            Some(&["2025-03-31", "2025-04-01"]),
        );
        let line = merged(Arc::clone(&lines), &["2025-04"], Some(&["2025-04-03"]));
        let plan = days_of(&report, &[&moved, &line], &months).unwrap();
        assert_eq!(plan.column, "fecha");
        assert_eq!(plan.partial["2025-03"], BTreeSet::from([day("2025-03-31")]));
        assert_eq!(
            plan.partial["2025-04"],
            BTreeSet::from([day("2025-04-01"), day("2025-04-03")])
        );

        // More than half of April changed: April whole, March by day.
        let busy: Vec<String> = (1..=16).map(|d| format!("2025-04-{d:02}")).collect();
        let busy: Vec<&str> = busy.iter().map(String::as_str).collect();
        let busy = merged(Arc::clone(&lines), &["2025-04"], Some(&busy));
        let plan = days_of(&report, &[&moved, &busy], &months).unwrap();
        assert_eq!(plan.partial.keys().collect::<Vec<_>>(), ["2025-03"]);

        // An input whose changed days are unknown (a NULL day): by month.
        let unknown = merged(Arc::clone(&lines), &["2025-04"], None);
        assert!(days_of(&report, &[&moved, &unknown], &months).is_none());
        // A changed day outside the periods replaced: by month.
        assert!(days_of(&report, &[&moved], &months[..1]).is_none());
        // A model without a day column rebuilds its periods whole.
        assert!(days_of(&ventas, &[&moved], &months).is_none());
    }
}
