//! Run manifests: the lineage of every published table version. Each run,
//! successful or not, leaves `logs/runs/<run id>.json` with the SQL it ran,
//! the extractions it read, the table versions it published, rows per table
//! and rule, reconciliation and timings; the SQL as run is also kept under
//! `scripts/<run id>/`.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::contract::extraction::ExtractionId;
use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::Period;
use crate::error::Result;
use crate::lake::Lake;
use crate::lake::delta::Publication;
use crate::lake::drift::SchemaDrift;

/// Folder of the run manifests.
pub const RUNS_DIR: &str = "logs/runs";

/// The identity of a run: its start instant to the second, then its
/// milliseconds and three random hex digits, so that ids sort in the order
/// runs started (`20261130T092555Z-123abc`), also two in one second.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// A fresh id for a run starting at `started`.
    pub fn new(started: DateTime<Utc>) -> Self {
        let random = &uuid::Uuid::new_v4().simple().to_string()[..3];
        RunId(format!(
            "{}-{:03}{random}",
            started.format("%Y%m%dT%H%M%SZ"),
            started.timestamp_subsec_millis().min(999)
        ))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every table was published.
    Succeeded,
    /// Nothing new was published.
    Failed,
}

/// One model executed by the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `layer.table`.
    pub table: String,
    /// The SQL file.
    pub file: String,
    /// The SQL as run.
    pub sql: String,
    /// Hex SHA-256 of the SQL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// Rows written.
    pub rows: u64,
    /// Files written.
    pub files: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Reconciliation of one source table (spec section 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// The source table.
    pub table: String,
    /// Distinct primary keys in the published raw extractions.
    pub raw_dedup: u64,
    /// Rows in trusted.
    pub trusted: u64,
    /// Rows in rejected.
    pub rejected: u64,
}

impl Reconciliation {
    /// Whether raw after deduplication = trusted + rejected.
    pub fn holds(&self) -> bool {
        self.raw_dedup == self.trusted + self.rejected
    }
}

/// A published table version a run kept as it was (a model it did not
/// select), so that its manifest pins every table of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// The table.
    pub table: TableRef,
    /// Its version.
    pub version: u64,
}

/// A view a run defined: a model materialised as a view, planned by every
/// reader of the lake over the tables the run pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The view's name.
    pub table: TableRef,
    /// Its SQL.
    pub sql: String,
}

/// A data test the run (or `dfstore test`) ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// The test.
    pub name: String,
    /// Where it is declared (`file:line`).
    pub location: String,
    /// `error` or `warn`.
    pub severity: String,
    /// Rows that fail it.
    pub failing_rows: u64,
    /// The first failing rows, as text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_failures: Vec<String>,
}

impl TestOutcome {
    /// Whether it passed.
    pub fn passed(&self) -> bool {
        self.failing_rows == 0
    }
}

/// An extraction the run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// The extraction.
    pub extraido: ExtractionId,
    /// Rows per table in it.
    pub rows: BTreeMap<String, u64>,
}

/// The manifest of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunManifest {
    /// The run.
    pub run_id: RunId,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub outcome: Outcome,
    /// The error, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where it ran (`embedded` or the scheduler's address).
    pub engine: String,
    /// The one month it rewrote, if it was restricted to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The raw extractions read.
    pub inputs: Vec<Input>,
    /// Where the raw extractions' columns differ from the reference schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_drift: Vec<SchemaDrift>,
    /// Models run, in order.
    pub steps: Vec<Step>,
    /// Rejected rows per `table` and rule.
    pub rejected: BTreeMap<String, BTreeMap<String, u64>>,
    /// Reconciliation per source table.
    pub reconciliation: Vec<Reconciliation>,
    /// Table versions published.
    pub outputs: Vec<Publication>,
    /// The project run (its name and where it was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The variables and their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    /// Published tables the run did not rebuild, at the versions it read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<Kept>,
    /// The project's views.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub views: Vec<View>,
    /// The data tests run, with their failing rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tests: Vec<TestOutcome>,
    /// Seconds per phase (`check`, `build`, `reconcile`, `publish`).
    pub timings: BTreeMap<String, f64>,
    /// How much the run rebuilt and why (absent from runs before
    /// incremental runs existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub increment: Option<Increment>,
    /// What every stored model of the project was built from once the run
    /// succeeded: recorded only by a run that leaves all of them at the
    /// same extractions (not one with `--select` or `--period`), which is
    /// what lets the next run be incremental.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ProjectState>,
}

/// The extractions and SQL every stored model of a project was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectState {
    /// Every extraction consumed.
    pub consumed: Vec<ExtractionId>,
    /// SHA-256 of each model's SQL, by table.
    pub models: BTreeMap<String, String>,
    /// The variables' values.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

/// How an incremental run went: the extractions it consumed, the keys and
/// periods it rebuilt, or why it rebuilt everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Increment {
    /// `full` (every model from all of raw), `incremental` or `up to date`
    /// (nothing new to consume).
    pub mode: String,
    /// Why a run was full.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The extractions consumed for the first time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub new_extractions: Vec<ExtractionId>,
    /// Per key column, how many of its values the changes touched.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub changed_keys: BTreeMap<String, u64>,
    /// Per model rebuilt in part, the periods it replaced.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub periods: BTreeMap<String, Vec<String>>,
    /// Per model rebuilt by period that kept the other days of every
    /// period it replaced, the days it rebuilt (`YYYY-MM-DD`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub days: BTreeMap<String, Vec<String>>,
    /// The models an incremental run rebuilt whole.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub whole: Vec<String>,
}

impl RunManifest {
    /// The manifest of a run starting now, failed until it succeeds.
    pub fn started(
        run_id: RunId,
        started_at: DateTime<Utc>,
        engine: String,
        period: Option<&Period>,
    ) -> Self {
        RunManifest {
            run_id,
            started_at,
            finished_at: started_at,
            outcome: Outcome::Failed,
            error: None,
            engine,
            period: period.map(ToString::to_string),
            inputs: Vec::new(),
            schema_drift: Vec::new(),
            steps: Vec::new(),
            rejected: BTreeMap::new(),
            reconciliation: Vec::new(),
            outputs: Vec::new(),
            project: None,
            vars: BTreeMap::new(),
            kept: Vec::new(),
            views: Vec::new(),
            tests: Vec::new(),
            timings: BTreeMap::new(),
            increment: None,
            state: None,
        }
    }

    /// Records the seconds since `since` as the time of `phase`.
    pub fn time(&mut self, phase: &str, since: std::time::Instant) {
        self.timings
            .insert(phase.to_string(), since.elapsed().as_secs_f64());
    }

    /// The manifest's path relative to the lake root.
    pub fn path(run_id: &RunId) -> String {
        format!("{RUNS_DIR}/{run_id}.json")
    }

    /// Writes the manifest, and on success the SQL as run under `scripts/`.
    pub async fn save(&self, lake: &Lake) -> Result<()> {
        if self.outcome == Outcome::Succeeded {
            for step in &self.steps {
                // `layer.name` → `layer/name.sql`, as in the project.
                let path = format!(
                    "scripts/{}/{}.sql",
                    self.run_id,
                    step.table.replacen('.', "/", 1)
                );
                lake.put_bytes(&path, step.sql.clone().into_bytes()).await?;
            }
        }
        lake.put_json(&Self::path(&self.run_id), self).await
    }

    /// The version of `table` (`layer.name`) the run left published: the
    /// one it published, or the one it kept.
    pub fn version_of(&self, table: &str) -> Option<u64> {
        self.tables()
            .into_iter()
            .find(|(t, _)| t.to_string() == table)
            .map(|(_, v)| v)
    }

    /// Every table the run left published, with its version: those it
    /// published, then those it kept.
    pub fn tables(&self) -> Vec<(TableRef, u64)> {
        self.outputs
            .iter()
            .map(|p| (p.table.clone(), p.version))
            .chain(self.kept.iter().map(|k| (k.table.clone(), k.version)))
            .collect()
    }
}

/// Every run manifest of the lake, oldest first.
pub async fn list_runs(lake: &Lake) -> Result<Vec<RunManifest>> {
    let mut runs = Vec::new();
    for meta in lake.list(RUNS_DIR).await? {
        let rel = lake.relative(&meta.location).to_string();
        if rel.ends_with(".json")
            && let Some(run) = lake.get_json::<RunManifest>(&rel).await?
        {
            runs.push(run);
        }
    }
    // By start, then id: ids of older lakes end in a random suffix only.
    runs.sort_by(|a, b| (a.started_at, &a.run_id).cmp(&(b.started_at, &b.run_id)));
    Ok(runs)
}

/// The newest successful run: its outputs are the lake's consistent state.
pub async fn latest_success(lake: &Lake) -> Result<Option<RunManifest>> {
    Ok(list_runs(lake)
        .await?
        .into_iter()
        .rev()
        .find(|r| r.outcome == Outcome::Succeeded))
}

/// The lake's published tables with the versions to read: those `pinned`
/// lists, or, without a successful run, every table folder of the
/// published layers at its newest version.
pub async fn published_tables(
    lake: &Lake,
    pinned: Option<&RunManifest>,
) -> Result<Vec<(TableRef, Option<u64>)>> {
    if let Some(run) = pinned {
        // In the order the run published them, then those it kept.
        return Ok(run
            .tables()
            .into_iter()
            .map(|(t, v)| (t, Some(v)))
            .collect());
    }
    let mut out = Vec::new();
    for layer in [Layer::Trusted, Layer::Rejected, Layer::Analytic] {
        for name in lake.folders(&format!("{layer}/")).await? {
            out.push((TableRef::new(layer, name), None));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_in_start_order_within_a_second() {
        let start = DateTime::parse_from_rfc3339("2026-11-30T09:25:55.120Z")
            .unwrap()
            .with_timezone(&Utc);
        for later_ms in [1, 7, 300, 879] {
            let later = start + chrono::TimeDelta::milliseconds(later_ms);
            for _ in 0..20 {
                assert!(RunId::new(start) < RunId::new(later), "{later_ms} ms");
            }
        }
        assert!(
            RunId::new(start)
                .as_str()
                .starts_with("20261130T092555Z-120")
        );
        assert_eq!(
            RunId::new(start).as_str().len(),
            "20261130T092555Z-123abc".len()
        );
    }
}
