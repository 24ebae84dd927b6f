//! What `dfstore serve` answers from: one snapshot of the lake, the
//! published tables at the versions of the newest successful run, with the
//! run listings beside them. A new snapshot is built when the run manifests
//! change and then swapped in whole: a query keeps the snapshot it started
//! with, so a run publishing meanwhile never fails it or mixes versions, and
//! the next query sees the new one. The dashboard's answers are cached in
//! the snapshot, so a cached answer is never older than the data.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{MemTable, MemorySchemaProvider, SchemaProvider};
use datafusion::common::TableReference;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::setup_pg_catalog;
use datafusion_postgres::hooks::{
    cursor::CursorStatementHook, set_show::SetShowHook, transactions::TransactionStatementHook,
};
use datafusion_postgres::pgwire::error::{PgWireError, PgWireResult};
use datafusion_postgres::{DfSessionService, QueryHook};

use crate::contract::layer::TableRef;
use crate::engine::{self, EngineConfig};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::runs::{Outcome, RUNS_DIR, RunManifest, list_runs};
use crate::project::vars::Vars;
use crate::query::session::{register_published, register_views};
use crate::serve::guard::ReadOnly;
use crate::serve::pool::StatementPool;

/// The schema of the listings: `dfstore.runs`, `dfstore.tables`.
pub const LISTINGS: &str = "dfstore";

/// One consistent view of the lake.
pub struct Snapshot {
    /// The run whose versions are served; `None` before the first success.
    pub run: Option<RunManifest>,
    /// Every run, oldest first (the quality panel's history).
    pub runs: Vec<RunManifest>,
    /// The tables served, at their versions.
    pub tables: Vec<(TableRef, Option<u64>)>,
    /// The session the dashboard queries.
    pub ctx: Arc<SessionContext>,
    /// The SQL endpoint's handler over the same session.
    pub sql: Arc<DfSessionService>,
    /// The run manifests' names this snapshot was built from.
    manifests: Vec<String>,
    /// Dashboard answers, by endpoint and parameters.
    cache: Mutex<HashMap<String, Arc<serde_json::Value>>>,
}

impl Snapshot {
    /// The SQL endpoint's handler for one statement: over this snapshot's
    /// session, with a memory pool of at most `limit` bytes drawn from the
    /// session's.
    pub fn statement_sql(&self, limit: usize) -> PgWireResult<DfSessionService> {
        let shared = self.ctx.runtime_env();
        let pool = StatementPool::new(Arc::clone(&shared.memory_pool), limit);
        let runtime = RuntimeEnvBuilder::from_runtime_env(&shared)
            .with_memory_pool(Arc::new(pool))
            .build_arc()
            .map_err(|e| PgWireError::ApiError(Box::new(e)))?;
        let state = SessionStateBuilder::new_from_existing(self.ctx.state())
            .with_runtime_env(runtime)
            .build();
        let ctx = Arc::new(SessionContext::new_with_state(state));
        Ok(DfSessionService::new_with_hooks(ctx, hooks()))
    }

    /// The cached answer for `key`, if any.
    pub fn cached(&self, key: &str) -> Option<Arc<serde_json::Value>> {
        self.cache.lock().ok()?.get(key).cloned()
    }

    /// Keeps `value` as the answer for `key`.
    pub fn keep(&self, key: String, value: Arc<serde_json::Value>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, value);
        }
    }

    /// The id of the run served, or `-`.
    pub fn run_id(&self) -> String {
        self.run
            .as_ref()
            .map_or_else(|| "-".into(), |r| r.run_id.to_string())
    }
}

/// The lake as served: the current snapshot, replaced when runs change.
pub struct Lakeview {
    lake: Lake,
    config: EngineConfig,
    current: RwLock<Arc<Snapshot>>,
}

impl Lakeview {
    /// Opens `lake` and builds the first snapshot.
    pub async fn open(lake: Lake, config: EngineConfig) -> Result<Self> {
        lake.require().await?;
        let manifests = manifest_names(&lake).await?;
        let first = build(&lake, &config, manifests).await?;
        Ok(Lakeview {
            lake,
            config,
            current: RwLock::new(Arc::new(first)),
        })
    }

    /// The snapshot to answer the next query from.
    pub fn current(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(current) => Arc::clone(&current),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Builds a new snapshot when the run manifests changed since the
    /// current one; returns whether it did.
    pub async fn refresh(&self) -> Result<bool> {
        let manifests = manifest_names(&self.lake).await?;
        if manifests == self.current().manifests {
            return Ok(false);
        }
        let next = Arc::new(build(&self.lake, &self.config, manifests).await?);
        tracing::info!(run = %next.run_id(), "serving a new snapshot of the lake");
        match self.current.write() {
            Ok(mut current) => *current = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(true)
    }
}

async fn manifest_names(lake: &Lake) -> Result<Vec<String>> {
    let mut names: Vec<String> = lake
        .list(RUNS_DIR)
        .await?
        .iter()
        .map(|meta| meta.location.to_string())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    Ok(names)
}

async fn build(lake: &Lake, config: &EngineConfig, manifests: Vec<String>) -> Result<Snapshot> {
    let runs = list_runs(lake).await?;
    let run = runs
        .iter()
        .rev()
        .find(|r| r.outcome == Outcome::Succeeded)
        .cloned();
    let mut ctx = engine::session(lake, config, None)?;
    let mut served = register_published(&ctx, lake, run.as_ref()).await?;
    served.extend(register_views(&ctx, run.as_ref(), &Vars::default()).await?);
    let tables: Vec<(TableRef, Option<u64>)> = served
        .into_iter()
        .map(|t| {
            let version = run.as_ref().and_then(|r| r.version_of(&t.to_string()));
            (t, version)
        })
        .collect();
    register_listings(&ctx, &runs, &tables)?;
    setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider)
        .map_err(|e| Error::engine("setting up pg_catalog for dfstore serve", *e))?;
    datafusion_postgres::datafusion_pg_functions::register_all(&mut ctx);
    let ctx = Arc::new(ctx);
    let sql = Arc::new(DfSessionService::new_with_hooks(Arc::clone(&ctx), hooks()));
    Ok(Snapshot {
        run,
        runs,
        tables,
        ctx,
        sql,
        manifests,
        cache: Mutex::new(HashMap::new()),
    })
}

/// What the SQL endpoint does with a statement before DataFusion plans it:
/// refuse writes, then datafusion-postgres's cursors, `SET`/`SHOW` and
/// transactions.
fn hooks() -> Vec<Arc<dyn QueryHook>> {
    vec![
        Arc::new(ReadOnly),
        Arc::new(CursorStatementHook),
        Arc::new(SetShowHook),
        Arc::new(TransactionStatementHook),
    ]
}

/// `dfstore.runs` (one row per run) and `dfstore.tables` (one row per table
/// served, with its version), as in-memory tables.
fn register_listings(
    ctx: &SessionContext,
    runs: &[RunManifest],
    tables: &[(TableRef, Option<u64>)],
) -> Result<()> {
    let fail = |e: datafusion::error::DataFusionError| Error::engine("listing the runs", e);
    let schema: Arc<dyn SchemaProvider> = Arc::new(MemorySchemaProvider::new());
    ctx.catalog("datafusion")
        .and_then(|c| c.register_schema(LISTINGS, schema).ok())
        .ok_or_else(|| Error::Internal {
            what: "the session has no default catalog".into(),
        })?;
    let runs_batch = runs_listing(runs).map_err(|e| fail(e.into()))?;
    let tables_batch = tables_listing(tables).map_err(|e| fail(e.into()))?;
    for (name, batch) in [("runs", runs_batch), ("tables", tables_batch)] {
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).map_err(fail)?;
        ctx.register_table(TableReference::partial(LISTINGS, name), Arc::new(table))
            .map_err(fail)?;
    }
    Ok(())
}

fn text(values: Vec<Option<String>>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

/// One row per run.
fn runs_listing(
    runs: &[RunManifest],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let column = |f: &dyn Fn(&RunManifest) -> Option<String>| text(runs.iter().map(f).collect());
    RecordBatch::try_from_iter(vec![
        ("run_id", column(&|r| Some(r.run_id.to_string()))),
        ("started_at", column(&|r| Some(r.started_at.to_rfc3339()))),
        ("finished_at", column(&|r| Some(r.finished_at.to_rfc3339()))),
        ("outcome", column(&|r| Some(outcome(r.outcome).into()))),
        ("engine", column(&|r| Some(r.engine.clone()))),
        ("periodo", column(&|r| r.period.clone())),
        (
            "rejected_rows",
            Arc::new(Int64Array::from_iter_values(runs.iter().map(|r| {
                r.rejected
                    .values()
                    .flat_map(|rules| rules.values())
                    .sum::<u64>() as i64
            }))) as ArrayRef,
        ),
        (
            "reconciled",
            Arc::new(BooleanArray::from_iter(runs.iter().map(|r| {
                Some(!r.reconciliation.is_empty() && r.reconciliation.iter().all(|x| x.holds()))
            }))) as ArrayRef,
        ),
        ("error", column(&|r| r.error.clone())),
    ])
}

/// One row per table served, with its version.
fn tables_listing(
    tables: &[(TableRef, Option<u64>)],
) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("table_name", DataType::Utf8, false),
        Field::new("layer", DataType::Utf8, false),
        Field::new("version", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            text(tables.iter().map(|(t, _)| Some(t.to_string())).collect()),
            text(
                tables
                    .iter()
                    .map(|(t, _)| Some(t.layer.name().to_string()))
                    .collect(),
            ),
            Arc::new(Int64Array::from_iter(
                tables.iter().map(|(_, v)| v.map(|v| v as i64)),
            )),
        ],
    )
}

fn outcome(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Succeeded => "succeeded",
        Outcome::Failed => "failed",
    }
}
