//! The load: one transaction that replaces the periods whose warehouse rows
//! differ from the lake's version of a model, reconciles every period in
//! scope and records the load in the audit table (see the protocol in
//! [`crate::warehouse`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::{TryStreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tracing::{Instrument as _, Span, info, info_span};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use crate::contract::layer::TableRef;
use crate::contract::period::Period;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::postgres::copy_in::copy_batch;
use crate::project::{Model, Project};
use crate::warehouse::lake_side::TableVersion;
use crate::warehouse::redshift;
use crate::warehouse::sums::{PeriodSums, Sums, literal, periods_filter, sums_sql};
use crate::warehouse::table::{AUDIT, report};
use crate::warehouse::target::{Dialect, Warehouse};

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Only this month [default: every month of the version].
    pub period: Option<Period>,
    /// This Delta version of the report [default: the newest].
    pub version: Option<u64>,
}

/// What a load did to one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Its rows were replaced by the lake's.
    Loaded,
    /// It already held this version's rows: left alone.
    Unchanged,
    /// The version has no rows for it: its rows were deleted.
    Removed,
}

/// One period of a load, reconciled.
#[derive(Debug, Clone)]
pub struct PeriodLoad {
    /// `YYYY-MM`.
    pub period: String,
    /// What the load did.
    pub action: Action,
    /// Rows and sums in the lake's version.
    pub lake: Sums,
    /// Rows and sums in the warehouse after the load.
    pub warehouse: Sums,
}

/// What a load did.
#[derive(Debug, Clone)]
pub struct LoadSummary {
    /// The warehouse, without password.
    pub warehouse: String,
    /// The model loaded, `layer.name`.
    pub model: String,
    /// `schema.name` in the warehouse.
    pub table: String,
    /// The measures summed per period, in the order of each period's sums.
    pub measures: Vec<String>,
    /// The lake version loaded.
    pub version: u64,
    /// The run that published it.
    pub run_id: Option<String>,
    /// The load's id in the audit table.
    pub load_id: String,
    /// Every period in scope.
    pub periods: Vec<PeriodLoad>,
    /// Wall time.
    pub seconds: f64,
}

impl LoadSummary {
    /// Whether the warehouse already held this version: nothing changed.
    pub fn unchanged(&self) -> bool {
        self.periods.iter().all(|p| p.action == Action::Unchanged)
    }
}

/// The model of `project` that a load of `table` (the report when `None`)
/// reads; `flag` is the flag that asked for the load.
pub fn model_to_load<'p>(
    project: &'p Project,
    table: Option<&TableRef>,
    flag: &str,
) -> Result<&'p Model> {
    let table = table.cloned().unwrap_or_else(report);
    let published: Vec<String> = project.published().map(|m| m.table().to_string()).collect();
    match project.model(&table) {
        Some(model) if model.is_published() => Ok(model),
        _ => Err(Error::InvalidArgument {
            flag: flag.into(),
            reason: format!(
                "project `{}` publishes no model {table}; name one of its published models with --table ({})",
                project.name,
                published.join(", ")
            ),
        }),
    }
}

/// The models of `project` that `run --load` and `nightly --warehouse`
/// load: those whose header says `warehouse = true`, in the project's
/// order; `flag` is the flag that asked for the load.
pub fn models_to_load<'p>(project: &'p Project, flag: &str) -> Result<Vec<&'p Model>> {
    let marked: Vec<&Model> = project
        .published()
        .filter(|m| m.warehouse)
        .map(|m| m.as_ref())
        .collect();
    if marked.is_empty() {
        return Err(Error::InvalidArgument {
            flag: flag.into(),
            reason: format!(
                "project `{}` marks no model to load; add warehouse = true to the header of each model the warehouse should hold (or load one with `dfstore load --table`)",
                project.name
            ),
        });
    }
    Ok(marked)
}

/// Loads a version of `model`'s published table from `lake` into `wh`.
pub async fn load(
    lake: &Lake,
    model: &Model,
    wh: &Warehouse,
    options: &LoadOptions,
) -> Result<LoadSummary> {
    let started = Instant::now();
    let version = TableVersion::open(lake, model, options.version).await?;
    if let Some(period) = &options.period
        && !version.sums.contains_key(period.as_str())
    {
        return Err(Error::InvalidArgument {
            flag: "--period".into(),
            reason: format!(
                "{} v{} has no rows for {period}; it holds {}",
                version.table.lake,
                version.version,
                range_of(version.sums.keys())
            ),
        });
    }
    if matches!(wh.dialect, Dialect::Redshift { .. }) {
        redshift::require_s3(lake)?;
    }
    let client = wh.db.connect().await?;
    version.table.check(wh, &client).await?;
    for statement in version.table.create_statements(wh) {
        client
            .batch_execute(&statement)
            .await
            .map_err(|e| wh.db.error(&e))?;
    }
    let load_id = uuid::Uuid::now_v7().to_string();
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| wh.db.error(&e))?;
    let job = Job {
        lake,
        wh,
        client: &client,
        version: &version,
        load_id: &load_id,
    };
    match job.run(options.period.as_ref()).await {
        Ok(periods) => {
            client
                .batch_execute("COMMIT")
                .await
                .map_err(|e| wh.db.error(&e))?;
            let summary = LoadSummary {
                warehouse: wh.to_string(),
                model: version.table.lake.to_string(),
                table: wh.qualified(version.table.name()),
                measures: version.table.measures.clone(),
                version: version.version,
                run_id: version.run_id.clone(),
                load_id,
                periods,
                seconds: started.elapsed().as_secs_f64(),
            };
            info!(warehouse = %summary.warehouse, version = summary.version, unchanged = summary.unchanged(), "loaded");
            Ok(summary)
        }
        Err(e) => {
            // A broken connection has rolled back already.
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// `first … last (n)` of the periods.
fn range_of<'a>(periods: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&String> = periods.collect();
    match all.as_slice() {
        [] => "no rows".into(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} … {last} ({} months)", all.len()),
    }
}

/// One load, inside its transaction.
struct Job<'a> {
    lake: &'a Lake,
    wh: &'a Warehouse,
    client: &'a Client,
    version: &'a TableVersion,
    load_id: &'a str,
}

impl Job<'_> {
    /// Locks, decides, writes, reconciles and audits; returns every period
    /// in scope.
    async fn run(&self, period: Option<&Period>) -> Result<Vec<PeriodLoad>> {
        let audit = self.wh.qualified(AUDIT);
        let lock = match self.wh.dialect {
            Dialect::Postgres => format!("LOCK TABLE {audit} IN SHARE ROW EXCLUSIVE MODE"),
            Dialect::Redshift { .. } => format!("LOCK {audit}"),
        };
        self.execute(&lock).await?;
        let scope = self.scope(period).await?;
        let before = self.warehouse_sums(&scope).await?;
        let loaded = self.last_versions(&scope).await?;
        let mut actions = BTreeMap::new();
        for p in &scope {
            let lake = self.lake_sums(p);
            let current = before.get(p).cloned().unwrap_or_else(|| self.no_rows());
            let action = if lake == current && loaded.get(p) == Some(&self.version.version) {
                Action::Unchanged
            } else if lake.rows == 0 {
                Action::Removed
            } else {
                Action::Loaded
            };
            actions.insert(p.clone(), action);
        }
        let changed: Vec<String> = actions
            .iter()
            .filter(|(_, a)| **a != Action::Unchanged)
            .map(|(p, _)| p.clone())
            .collect();
        if !changed.is_empty() {
            self.replace(&changed, &actions).await?;
        }
        let after = self.warehouse_sums(&scope).await?;
        let mut out = Vec::new();
        let measures = &self.version.table.measures;
        for (p, action) in actions {
            let lake = self.lake_sums(&p);
            let warehouse = after.get(&p).cloned().unwrap_or_else(|| self.no_rows());
            if let Some((column, lake_value, warehouse_value)) =
                lake.difference(&warehouse, measures)
            {
                return Err(Error::WarehouseMismatch {
                    table: self.table(),
                    period: p,
                    column: column.to_string(),
                    lake: lake_value,
                    warehouse: warehouse_value,
                });
            }
            out.push(PeriodLoad {
                period: p,
                action,
                lake,
                warehouse,
            });
        }
        self.audit(&out).await?;
        Ok(out)
    }

    /// `schema.name` of the table in the warehouse.
    fn table(&self) -> String {
        self.wh.qualified(self.version.table.name())
    }

    /// The sums of no rows.
    fn no_rows(&self) -> Sums {
        Sums::empty(&self.version.table.measures)
    }

    /// The lake version's rows and sums of period `p`.
    fn lake_sums(&self, p: &str) -> Sums {
        self.version
            .sums
            .get(p)
            .cloned()
            .unwrap_or_else(|| self.no_rows())
    }

    async fn execute(&self, sql: &str) -> Result<()> {
        self.client
            .batch_execute(sql)
            .await
            .map_err(|e| self.wh.db.error(&e))
    }

    /// The periods the load answers for: `period`, or every period of the
    /// version and of the warehouse (a month the version lacks is removed).
    async fn scope(&self, period: Option<&Period>) -> Result<Vec<String>> {
        if let Some(p) = period {
            return Ok(vec![p.as_str().to_string()]);
        }
        let mut all: BTreeSet<String> = self.version.sums.keys().cloned().collect();
        let rows = self
            .client
            .query(
                &format!("SELECT DISTINCT periodo::text FROM {}", self.table()),
                &[],
            )
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        all.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        Ok(all.into_iter().collect())
    }

    /// Rows and sums per period of the warehouse table.
    async fn warehouse_sums(&self, scope: &[String]) -> Result<PeriodSums> {
        let measures = &self.version.table.measures;
        let sql = sums_sql(&self.table(), measures, &periods_filter(scope), "varchar");
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        let mut out = PeriodSums::new();
        for row in rows {
            let values: Vec<Option<String>> = (0..measures.len()).map(|i| row.get(2 + i)).collect();
            let sums =
                Sums::parse(row.get(1), &values, measures).map_err(|reason| Error::Internal {
                    what: format!("summing {}: {reason}", self.table()),
                })?;
            out.insert(row.get(0), sums);
        }
        Ok(out)
    }

    /// The lake version of the latest load of each period, from the audit.
    async fn last_versions(&self, scope: &[String]) -> Result<BTreeMap<String, u64>> {
        let sql = format!(
            "SELECT periodo, version_lago FROM {} WHERE tabla = {} AND {} ORDER BY cargado_en, id_carga",
            self.wh.qualified(AUDIT),
            literal(&self.version.table.lake.to_string()),
            periods_filter(scope)
        );
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
            .collect())
    }

    /// Deletes the rows of `changed` and loads the version's rows for those
    /// of them that it has.
    async fn replace(&self, changed: &[String], actions: &BTreeMap<String, Action>) -> Result<()> {
        self.execute(&format!(
            "DELETE FROM {} WHERE {}",
            self.table(),
            periods_filter(changed)
        ))
        .await?;
        let loaded: Vec<String> = changed
            .iter()
            .filter(|p| actions.get(*p) == Some(&Action::Loaded))
            .cloned()
            .collect();
        if loaded.is_empty() {
            return Ok(());
        }
        match &self.wh.dialect {
            Dialect::Postgres => self.copy_in(&loaded).await,
            Dialect::Redshift { iam_role } => {
                let statements = redshift::copy_statements(
                    self.lake,
                    self.wh,
                    self.version,
                    &loaded,
                    iam_role.as_deref(),
                    self.load_id,
                )
                .await?;
                for statement in statements {
                    self.execute(&statement).await?;
                }
                Ok(())
            }
        }
    }

    /// Streams the rows of `periods` into the table with binary `COPY`.
    async fn copy_in(&self, periods: &[String]) -> Result<()> {
        let name = self.version.table.name();
        let progress = info_span!("load", table = name, indicatif.pb_show = true);
        self.copy_rows(periods).instrument(progress).await
    }

    async fn copy_rows(&self, periods: &[String]) -> Result<()> {
        let table = &self.version.table;
        let types: Vec<_> = table.columns.iter().map(|c| c.kind.wire()).collect();
        let sink = self
            .client
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                self.table(),
                table.column_list()
            ))
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        pin_mut!(writer);
        let mut batches = self.version.rows(periods).await?;
        while let Some(batch) = batches
            .try_next()
            .await
            .map_err(|e| Error::engine(format!("reading {}", table.lake), e))?
        {
            copy_batch(&self.wh.db, writer.as_mut(), &batch).await?;
            Span::current().pb_inc(batch.num_rows() as u64);
        }
        writer.finish().await.map_err(|e| self.wh.db.error(&e))?;
        Ok(())
    }

    /// One audit row per period written: the lineage lake version → rows,
    /// with the sums reconciled.
    async fn audit(&self, periods: &[PeriodLoad]) -> Result<()> {
        let run_id = self
            .version
            .run_id
            .as_deref()
            .map_or_else(|| "NULL".into(), literal);
        // The instant as a literal: Redshift's now() runs on its leader
        // node only, and PostgreSQL has no GETDATE().
        let at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00");
        let table = &self.version.table;
        for p in periods.iter().filter(|p| p.action != Action::Unchanged) {
            self.execute(&format!(
                "INSERT INTO {} (id_carga, cargado_en, tabla, version_lago, run_id, periodo, filas, sumas) \
                 VALUES ({}, CAST('{at}' AS TIMESTAMPTZ), {}, {}, {run_id}, {}, {}, {})",
                self.wh.qualified(AUDIT),
                literal(self.load_id),
                literal(&table.lake.to_string()),
                self.version.version,
                literal(&p.period),
                p.lake.rows,
                literal(&p.lake.audited(&table.measures))
            ))
            .await?;
        }
        Ok(())
    }
}
