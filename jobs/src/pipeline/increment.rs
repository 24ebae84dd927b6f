//! Incremental runs, as dbt's incremental models and SQLMesh's
//! `INCREMENTAL_BY_*` kinds make them: a run after the first consumes only
//! the extractions that the last run did not, and rebuilds only what they
//! change.
//!
//! - **The changes** are the published extractions missing from the last
//!   successful run's [`ProjectState`]. A raw table with rows in them has
//!   changed; for a key column, the changed keys are that column's values in
//!   those rows, over every raw table that has the column.
//! - A model is **affected** when it reads a changed raw table or an
//!   affected model. The others keep their published version.
//! - An affected `incremental_by_key` model is rebuilt for the changed
//!   values of its key column (the first of its `unique_key`) only: every
//!   table its query scans that has the column is filtered to them. The
//!   model promises that each of its rows depends only on input rows with
//!   the same value of that column, as a staging model that picks the last
//!   version of each ticket does. Its new rows then replace the rows of
//!   those keys ([`merge`]): every file of the published table that holds
//!   one of them is rewritten and the commit replaces exactly those files.
//! - An affected `incremental_by_period` model is rebuilt for the periods
//!   whose rows changed in the partitioned models it reads, and replaces
//!   those. With a day column, where the merges of its inputs found the
//!   days of their changed rows, it rebuilds only those days of a period
//!   and keeps its published rows of the others ([`periods::DayPlan`]).
//! - Any other affected model is rebuilt whole. So is an incremental model
//!   whose inputs changed in a way its kind cannot follow: a keyed model
//!   reading a raw table without its key, or a model rebuilt whole; a
//!   period model reading an unpartitioned model that changed.
//! - Every model rebuilt in part is registered, for the models after it,
//!   as the whole table it will be once published (its new files or periods
//!   and its published other ones), so any model can read it.
//!
//! A run is also full when asked (`--full-refresh`), when no earlier run
//! left the project's state (the first run, or the last one ran with
//! `--select` or `--period`), when a model's SQL or a variable differs from
//! that state, when an extraction it had consumed is gone, when a new one
//! is a full extraction, when more than [`MAX_CHANGED_KEYS`] keys changed,
//! or when the files the merges would rewrite hold more than a share of the
//! merged tables' rows (`--full-refresh-above`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;

use crate::contract::extraction::ExtractionId;
use crate::contract::layer::Layer;
use crate::contract::source::SourceTable;
use crate::engine::EngineConfig;
use crate::error::Result;
use crate::lake::Lake;
use crate::lake::delta::StagedFile;
use crate::lake::raw::ExtractionManifest;
use crate::lake::runs::{Increment, ProjectState, RunManifest};
use crate::pipeline::batches;
use crate::pipeline::build::{Build, Staged};
use crate::pipeline::plan::PlannedModel;
use crate::project::{Model, Project};

mod extractions;
mod impact;
mod keys;
pub mod merge;
pub mod periods;

pub use extractions::Touched;
use extractions::{changed_tables, keys_of, touched};
use impact::{Change, impact, modes};
pub use keys::in_keys;
pub use periods::{DayPlan, DayRebuild};

/// The most changed values of a key column an incremental run filters its
/// scans by; past it, a full run costs about the same.
pub const MAX_CHANGED_KEYS: usize = 1_000_000;

/// The share of the rows of the tables merged by key, in the files their
/// changed keys touch, past which a run is full, unless told otherwise
/// (`--full-refresh-above`).
pub const DEFAULT_FULL_REFRESH_ABOVE: f64 = 0.5;

/// The part of a published table an incremental run replaces.
#[derive(Debug, Clone)]
pub struct Replacement {
    /// The table's new rows of `periods` (with `removed`, of those files).
    pub files: Vec<StagedFile>,
    /// The periods replaced, or with `removed` the periods whose rows
    /// changed; the whole table when `None`.
    pub periods: Option<Vec<String>>,
    /// The published files replaced (paths in the Delta log), when a merge
    /// rewrote only those.
    pub removed: Option<BTreeSet<String>>,
    /// Per date column, the days of the rows that may have changed, where
    /// known: of a merge, the old and new rows of its changed keys; of a
    /// model rebuilt by period, the days it rebuilt when it kept the other
    /// days of every period it replaced. A model rebuilt by period with that
    /// day column ([`Model::day_column`](crate::project::Model::day_column)) rebuilds only those days.
    pub days: BTreeMap<String, BTreeSet<NaiveDate>>,
}

/// How an affected model is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// From all of its inputs.
    Whole,
    /// For the changed values of its key column, merged by key.
    Keys,
    /// For the periods its inputs replaced.
    Periods,
}

/// What an incremental run rebuilds.
#[derive(Debug, Clone)]
pub struct Changes {
    /// Per key column, its changed values.
    pub keys: BTreeMap<String, Vec<ScalarValue>>,
    /// How each affected model is rebuilt, by table.
    pub modes: BTreeMap<String, Mode>,
    /// The published versions the merges start from.
    pub pinned: Arc<RunManifest>,
    /// The source tables whose trusted and rejected rows are rebuilt by
    /// key, with the key column.
    pub sources: BTreeMap<SourceTable, String>,
    /// The published models whose rows the run assumes change only in
    /// `extraido`: once built, any other difference from their published
    /// version makes the run start again as a full one.
    pub verify: BTreeSet<String>,
    /// Per published table merged by key, the files and periods of its
    /// last published version that hold a changed key.
    pub touched: BTreeMap<String, Touched>,
    /// Per table read by a model rebuilt by period that declares a day
    /// column, those day columns: a merge of the table finds the days its
    /// changes reach in them.
    pub day_columns: BTreeMap<String, BTreeSet<String>>,
}

impl Changes {
    /// How `model` is rebuilt (`Whole` when it is not incremental).
    pub fn mode(&self, model: &Model) -> Mode {
        self.modes
            .get(&model.table().to_string())
            .copied()
            .unwrap_or(Mode::Whole)
    }

    /// The key column of a model rebuilt by key, with its changed values.
    pub fn keys_of(&self, model: &Model) -> Option<(&str, &[ScalarValue])> {
        if self.mode(model) != Mode::Keys {
            return None;
        }
        let column = key_column(model)?;
        let (column, values) = self.keys.get_key_value(column)?;
        Some((column.as_str(), values.as_slice()))
    }

    /// The key column and changed values of a source table whose trusted
    /// and rejected rows the run rebuilds by key.
    pub fn keys_of_source(&self, table: &SourceTable) -> Option<(&str, &[ScalarValue])> {
        let column = self.sources.get(table)?;
        let values = self.keys.get(column)?;
        Some((column.as_str(), values.as_slice()))
    }

    /// `plan` of `model` with every scan that has its key column filtered
    /// to the changed values, when the model is rebuilt by key.
    pub fn restrict(
        &self,
        model: &Model,
        plan: LogicalPlan,
    ) -> datafusion::error::Result<LogicalPlan> {
        let Some((column, values)) = self.keys_of(model) else {
            return Ok(plan);
        };
        batches::filter_scans(plan, |scan| {
            scan.source.schema().column_with_name(column)?;
            Some(in_keys(batches::column_of(scan, column), values))
        })
    }
}

/// `staged`, a model an incremental run has just built, made ready for the
/// models after it and for publishing: a published model rebuilt by key is
/// merged (after checking, when the run assumed so, that it changed only
/// in `extraido`); one rebuilt by period (for `months`, and with a plan of
/// days, only those days of some of them) is checked to hold only those,
/// completed with the published rows of the days it did not rebuild, and
/// registered whole.
pub async fn rebuilt(
    build: &Build<'_>,
    changes: &Changes,
    months: Option<(&[String], Option<&DayRebuild>)>,
    staged: Staged,
) -> Result<Staged> {
    match months {
        None if staged.model.is_published() => {
            merge::verify(build, changes, &staged).await?;
            merge::merge(build, changes, staged).await
        }
        Some((months, days)) => {
            let staged = match days {
                Some(days) => periods::keep_days(build, days, staged).await?,
                None => staged,
            };
            let staged = periods::within(staged, months, days.map(|d| &d.plan))?;
            periods::complete_periods(build, changes, &staged).await?;
            Ok(staged)
        }
        None => Ok(staged),
    }
}

/// The column an `incremental_by_key` model's changes are found by.
pub fn key_column(model: &Model) -> Option<&str> {
    model.unique_key.first().map(String::as_str)
}

/// What a run rebuilds.
pub enum Decision {
    /// Every model, from all of raw.
    Full(String),
    /// Nothing: every extraction has been consumed.
    UpToDate,
    /// The affected models, as `changes` says.
    Incremental(Box<Incremental>),
}

/// What an incremental run rebuilds.
pub struct Incremental {
    /// Which models are rebuilt (by position in the project).
    pub affected: Vec<bool>,
    /// How.
    pub changes: Changes,
    /// For the manifest.
    pub summary: Increment,
}

impl Decision {
    /// The manifest's account of the decision.
    pub fn summary(&self) -> Increment {
        match self {
            Decision::Full(reason) => Increment {
                mode: "full".into(),
                reason: Some(reason.clone()),
                ..Increment::default()
            },
            Decision::UpToDate => Increment {
                mode: "up to date".into(),
                ..Increment::default()
            },
            Decision::Incremental(incremental) => incremental.summary.clone(),
        }
    }
}

/// Records in `summary` the periods each model rebuilt in part replaced,
/// and the days of its day column it rebuilt when it kept the others.
pub fn record(summary: &mut Increment, staged: &[Staged]) {
    for built in staged {
        let Some(replaced) = &built.replaced else {
            continue;
        };
        let table = built.model.table().to_string();
        if let Some(periods) = replaced.periods.clone() {
            summary.periods.insert(table.clone(), periods);
        }
        let days = built
            .model
            .day_column
            .as_ref()
            .and_then(|column| replaced.days.get(column));
        if let Some(days) = days {
            let days = days.iter().map(NaiveDate::to_string).collect();
            summary.days.insert(table, days);
        }
    }
}

/// The state a successful whole-project run leaves for the next one.
pub fn state_of(project: &Project, extractions: &[ExtractionManifest]) -> ProjectState {
    ProjectState {
        consumed: extractions.iter().map(|m| m.extraido).collect(),
        models: project
            .models
            .iter()
            .map(|m| (m.table().to_string(), m.sql_hash()))
            .collect(),
        vars: project.vars.describe(),
    }
}

/// Decides what a run of the whole `project` over `extractions` rebuilds,
/// given the last successful run `pinned`; `full` says why it must be full
/// whatever the state (`--full-refresh`, `--select`, `--period`).
pub async fn decide(
    lake: &Lake,
    (engine, full_above): (&EngineConfig, f64),
    project: &Project,
    pinned: Option<&RunManifest>,
    (extractions, planned): (&[ExtractionManifest], &[PlannedModel]),
    full: Option<&str>,
) -> Result<Decision> {
    if let Some(reason) = full {
        return Ok(Decision::Full(reason.into()));
    }
    let Some((pinned, state)) = pinned.and_then(|p| p.state.as_ref().map(|s| (p, s))) else {
        return Ok(Decision::Full(
            "no earlier run of the whole project to continue from".into(),
        ));
    };
    if let Some(reason) = stale(project, state, extractions) {
        return Ok(Decision::Full(reason));
    }
    let consumed: BTreeSet<ExtractionId> = state.consumed.iter().copied().collect();
    let new: Vec<&ExtractionManifest> = extractions
        .iter()
        .filter(|m| !consumed.contains(&m.extraido))
        .collect();
    if let Some(reason) = full_extraction(&new) {
        return Ok(Decision::Full(reason));
    }
    let (changed, reextracted) =
        changed_tables(lake, engine, project, (&new, extractions, &consumed)).await?;
    let models = &project.models;
    let impact = impact(models, planned, (&changed, &reextracted));
    let affected: Vec<bool> = impact
        .change
        .iter()
        .map(|&c| c != Change::Nothing)
        .collect();
    if !affected.iter().any(|&a| a) {
        return Ok(Decision::UpToDate);
    }
    let modes = modes(models, &impact);
    let verify = models
        .iter()
        .zip(&impact.change)
        .filter(|(m, c)| **c == Change::Extraido && m.is_published())
        .map(|(m, _)| m.table().to_string())
        .collect();
    let Some(keys) = keys_of(lake, engine, (project, &modes), &new).await? else {
        return Ok(Decision::Full(format!(
            "more values of a key column changed than an incremental run filters by ({MAX_CHANGED_KEYS})"
        )));
    };
    let touched = touched(lake, engine, (models, &modes), (pinned, &keys)).await?;
    if let Some(reason) = too_spread(&touched, full_above) {
        return Ok(Decision::Full(reason));
    }
    let sources = sources_by_key(models, &modes);
    let summary = Increment {
        mode: "incremental".into(),
        new_extractions: new.iter().map(|m| m.extraido).collect(),
        changed_keys: keys
            .iter()
            .map(|(c, v)| (c.clone(), v.len() as u64))
            .collect(),
        whole: modes
            .iter()
            .filter(|(_, m)| **m == Mode::Whole)
            .map(|(t, _)| t.clone())
            .collect(),
        ..Increment::default()
    };
    Ok(Decision::Incremental(Box::new(Incremental {
        affected,
        changes: Changes {
            keys,
            day_columns: day_columns(models, &modes),
            modes,
            pinned: Arc::new(pinned.clone()),
            sources,
            verify,
            touched,
        },
        summary,
    })))
}

/// Why the run should be full because the files holding the changed keys
/// hold more than `share` of the rows of the tables merged by key, all
/// together: the merges rewrite those files, which costs about what a full
/// run does.
fn too_spread(touched: &BTreeMap<String, Touched>, share: f64) -> Option<String> {
    let rows: u64 = touched.values().map(|t| t.rows).sum();
    let of: u64 = touched.values().map(|t| t.of_rows).sum();
    (of > 0 && rows as f64 > share * of as f64).then(|| {
        format!(
            "the changes touch files holding {rows} of the {of} rows of the tables merged by key, and rewriting them costs about what a full run does (--full-refresh-above {share})"
        )
    })
}

/// Per table read by a model rebuilt by period, the day columns of those
/// models that declare one.
fn day_columns(
    models: &[Arc<Model>],
    modes: &BTreeMap<String, Mode>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out = BTreeMap::<String, BTreeSet<String>>::new();
    for model in models {
        let by_period = modes.get(&model.table().to_string()) == Some(&Mode::Periods);
        if let (true, Some(day)) = (by_period, &model.day_column) {
            for read in &model.reads {
                out.entry(read.to_string()).or_default().insert(day.clone());
            }
        }
    }
    out
}

/// Why the new extractions call for a full run: one holds a full
/// extraction of a table.
fn full_extraction(new: &[&ExtractionManifest]) -> Option<String> {
    new.iter().find_map(|m| {
        m.tables
            .iter()
            .find(|(_, t)| t.rows > 0 && t.since.is_none())
            .map(|(table, _)| {
                format!(
                    "extraction {} holds a full extraction of {table}",
                    m.extraido
                )
            })
    })
}

/// The source tables whose trusted and rejected models are rebuilt by key,
/// with the key column.
fn sources_by_key(
    models: &[Arc<Model>],
    modes: &BTreeMap<String, Mode>,
) -> BTreeMap<SourceTable, String> {
    let mut sources = BTreeMap::new();
    for model in models {
        let keyed = modes.get(&model.table().to_string()) == Some(&Mode::Keys);
        let carries = matches!(model.layer, Layer::Trusted | Layer::Rejected);
        if let (true, true, Some(source), Some(column)) =
            (keyed, carries, model.source.clone(), key_column(model))
        {
            sources.insert(source, column.to_string());
        }
    }
    sources
}

/// Why the state the last run left cannot be continued from, if it cannot.
fn stale(
    project: &Project,
    state: &ProjectState,
    extractions: &[ExtractionManifest],
) -> Option<String> {
    let now = state_of(project, extractions);
    for (table, hash) in &now.models {
        match state.models.get(table) {
            None => return Some(format!("{table} is new to the project")),
            Some(before) if before != hash => {
                return Some(format!("the SQL of {table} changed since the last run"));
            }
            Some(_) => {}
        }
    }
    if let Some(gone) = state.models.keys().find(|t| !now.models.contains_key(*t)) {
        return Some(format!("{gone} left the project"));
    }
    if now.vars != state.vars {
        return Some("the variables' values changed since the last run".into());
    }
    let present: BTreeSet<ExtractionId> = now.consumed.iter().copied().collect();
    if let Some(gone) = state.consumed.iter().find(|e| !present.contains(e)) {
        return Some(format!(
            "extraction {gone}, consumed by the last run, is gone from raw"
        ));
    }
    None
}

#[cfg(test)]
mod tests;
