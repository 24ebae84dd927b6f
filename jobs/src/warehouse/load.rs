//! The load: one transaction that replaces the periods whose warehouse rows
//! differ from the lake's, reconciles every period in scope and records the
//! load in the audit table (see the protocol in [`crate::warehouse`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::{TryStreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tracing::{Instrument as _, Span, info, info_span};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use crate::contract::period::Period;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::postgres::copy_in::copy_batch;
use crate::warehouse::lake_side::{ReportVersion, report};
use crate::warehouse::redshift;
use crate::warehouse::sums::{MEASURES, PeriodSums, Sums, literal, periods_filter, sums_sql};
use crate::warehouse::table::{self, AUDIT, COLUMNS, REPORT, column_list};
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
    /// `schema.reporte_ventas_tienda`.
    pub table: String,
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

/// Loads a version of the report from `lake` into `wh`.
pub async fn load(lake: &Lake, wh: &Warehouse, options: &LoadOptions) -> Result<LoadSummary> {
    let started = Instant::now();
    let version = ReportVersion::open(lake, options.version).await?;
    if let Some(period) = &options.period
        && !version.sums.contains_key(period.as_str())
    {
        return Err(Error::InvalidArgument {
            flag: "--period".into(),
            reason: format!(
                "{} v{} has no rows for {period}; it holds {}",
                report(),
                version.version,
                range_of(version.sums.keys())
            ),
        });
    }
    if matches!(wh.dialect, Dialect::Redshift { .. }) {
        redshift::require_s3(lake)?;
    }
    let client = wh.db.connect().await?;
    table::check(wh, &client).await?;
    for statement in table::create_statements(wh) {
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
                table: wh.qualified(REPORT),
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
    version: &'a ReportVersion,
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
            let lake = self.version.sums.get(p).cloned().unwrap_or_default();
            let current = before.get(p).cloned().unwrap_or_default();
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
        for (p, action) in actions {
            let lake = self.version.sums.get(&p).cloned().unwrap_or_default();
            let warehouse = after.get(&p).cloned().unwrap_or_default();
            if let Some((column, lake_value, warehouse_value)) = lake.difference(&warehouse) {
                return Err(Error::WarehouseMismatch {
                    table: self.wh.qualified(REPORT),
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
                &format!(
                    "SELECT DISTINCT periodo::text FROM {}",
                    self.wh.qualified(REPORT)
                ),
                &[],
            )
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        all.extend(rows.iter().map(|r| r.get::<_, String>(0)));
        Ok(all.into_iter().collect())
    }

    /// Rows and sums per period of the warehouse table.
    async fn warehouse_sums(&self, scope: &[String]) -> Result<PeriodSums> {
        let sql = sums_sql(
            &self.wh.qualified(REPORT),
            &periods_filter(scope),
            "varchar",
        );
        let rows = self
            .client
            .query(&sql, &[])
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        let mut out = PeriodSums::new();
        for row in rows {
            let values: Vec<Option<String>> = (0..MEASURES.len()).map(|i| row.get(2 + i)).collect();
            let sums = Sums::parse(row.get(1), &values).map_err(|reason| Error::Internal {
                what: format!("summing {}: {reason}", self.wh.qualified(REPORT)),
            })?;
            out.insert(row.get(0), sums);
        }
        Ok(out)
    }

    /// The lake version of the latest load of each period, from the audit.
    async fn last_versions(&self, scope: &[String]) -> Result<BTreeMap<String, u64>> {
        let sql = format!(
            "SELECT periodo, version_lago FROM {} WHERE {} ORDER BY cargado_en, id_carga",
            self.wh.qualified(AUDIT),
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
            self.wh.qualified(REPORT),
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
        let progress = info_span!("load", table = REPORT, indicatif.pb_show = true);
        self.copy_rows(periods).instrument(progress).await
    }

    async fn copy_rows(&self, periods: &[String]) -> Result<()> {
        let types: Vec<_> = COLUMNS.iter().map(|(_, kind)| kind.wire()).collect();
        let sink = self
            .client
            .copy_in(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                self.wh.qualified(REPORT),
                column_list()
            ))
            .await
            .map_err(|e| self.wh.db.error(&e))?;
        let writer = BinaryCopyInWriter::new(sink, &types);
        pin_mut!(writer);
        let mut batches = self.version.rows(periods).await?;
        while let Some(batch) = batches
            .try_next()
            .await
            .map_err(|e| Error::engine(format!("reading {}", report()), e))?
        {
            copy_batch(&self.wh.db, writer.as_mut(), &batch).await?;
            Span::current().pb_inc(batch.num_rows() as u64);
        }
        writer.finish().await.map_err(|e| self.wh.db.error(&e))?;
        Ok(())
    }

    /// One audit row per period written: the lineage lake version → rows.
    async fn audit(&self, periods: &[PeriodLoad]) -> Result<()> {
        let run_id = self
            .version
            .run_id
            .as_deref()
            .map_or_else(|| "NULL".into(), literal);
        // The instant as a literal: Redshift's now() runs on its leader
        // node only, and PostgreSQL has no GETDATE().
        let at = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00");
        for p in periods.iter().filter(|p| p.action != Action::Unchanged) {
            let sums: Vec<String> = p.lake.sums.iter().map(ToString::to_string).collect();
            self.execute(&format!(
                "INSERT INTO {} (id_carga, cargado_en, version_lago, run_id, periodo, filas, {}) \
                 VALUES ({}, CAST('{at}' AS TIMESTAMPTZ), {}, {run_id}, {}, {}, {})",
                self.wh.qualified(AUDIT),
                MEASURES.join(", "),
                literal(self.load_id),
                self.version.version,
                literal(&p.period),
                p.lake.rows,
                sums.join(", ")
            ))
            .await?;
        }
        Ok(())
    }
}
