//! The lake's side of a load: one published version of the loaded model,
//! its warehouse table, its rows and sums per period, and the run that
//! published it.

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;

use crate::contract::period::PERIOD_COLUMN;
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta;
use crate::lake::runs::list_runs;
use crate::project::Model;
use crate::warehouse::redshift::LakeFile;
use crate::warehouse::sums::{PeriodSums, Sums, periods_filter, sums_sql};
use crate::warehouse::table::LoadedTable;

/// One published version of a loaded model.
pub struct TableVersion {
    /// The model's warehouse table.
    pub table: LoadedTable,
    /// The Delta version.
    pub version: u64,
    /// The run that published it, when its manifest is in the lake.
    pub run_id: Option<String>,
    /// Rows and sums per period.
    pub sums: PeriodSums,
    /// The Delta table at that version.
    pub delta: DeltaTable,
    ctx: SessionContext,
}

impl std::fmt::Debug for TableVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableVersion")
            .field("table", &self.table.lake)
            .field("version", &self.version)
            .field("run_id", &self.run_id)
            .finish()
    }
}

impl TableVersion {
    /// Opens `version` of `model`'s published table (the newest when
    /// `None`), checks that it can be loaded and sums it.
    pub async fn open(lake: &Lake, model: &Model, version: Option<u64>) -> Result<Self> {
        lake.require().await?;
        let table = model.table();
        let nothing = || Error::NothingToLoad {
            table: table.to_string(),
            lake: lake.url().to_string(),
        };
        let newest = delta::open(lake, &table, None).await?.ok_or_else(nothing)?;
        let newest_version = newest.version().unwrap_or(0);
        let version = version.unwrap_or(newest_version);
        if version > newest_version {
            return Err(Error::InvalidArgument {
                flag: "--version".into(),
                reason: format!(
                    "{table} has versions 0 to {newest_version}; give one of them or leave --version out for the newest"
                ),
            });
        }
        let delta = delta::open(lake, &table, Some(version))
            .await?
            .ok_or_else(nothing)?;
        let ctx = engine::session(lake, &EngineConfig::default(), None)?;
        tables::register_published(&ctx, lake, &table, Some(version)).await?;
        let what = format!("reading the schema of {table}");
        let schema = ctx
            .table(table.to_string())
            .await
            .map_err(|e| Error::engine(&what, e))?
            .schema()
            .as_arrow()
            .clone();
        let loaded = LoadedTable::of(model, &schema)?;
        let sums = lake_sums(&ctx, &loaded).await?;
        let run_id = list_runs(lake)
            .await?
            .into_iter()
            .find(|run| run.version_of(&table.to_string()) == Some(version))
            .map(|run| run.run_id.to_string());
        Ok(TableVersion {
            table: loaded,
            version,
            run_id,
            sums,
            delta,
            ctx,
        })
    }

    /// The files of `periods` in this version, as `s3://` URLs with sizes.
    pub fn files(&self, lake: &Lake, periods: &[String]) -> Result<Vec<LakeFile>> {
        let table = &self.table.lake;
        let snapshot = self
            .delta
            .snapshot()
            .map_err(|e| Error::delta(table.to_string(), e))?;
        let mut out = Vec::new();
        for file in snapshot.log_data().iter() {
            let period = file
                .partition_values_map()
                .get(PERIOD_COLUMN)
                .cloned()
                .flatten();
            if period.is_some_and(|p| periods.contains(&p)) {
                let relative = format!("{}{}", table.folder(), file.object_store_path());
                out.push(LakeFile {
                    url: lake.url().join(&relative).to_string(),
                    bytes: file.size().max(0) as u64,
                });
            }
        }
        Ok(out)
    }

    /// The rows of `periods`, in the warehouse's column order and types.
    pub async fn rows(&self, periods: &[String]) -> Result<SendableRecordBatchStream> {
        let sql = format!(
            "SELECT {} FROM {} WHERE {}",
            self.table.column_list(),
            self.table.lake,
            periods_filter(periods)
        );
        let what = format!("reading {} v{}", self.table.lake, self.version);
        self.ctx
            .sql(&sql)
            .await
            .map_err(|e| Error::engine(&what, e))?
            .execute_stream()
            .await
            .map_err(|e| Error::engine(&what, e))
    }
}

/// Rows and sums per period of the table registered in `ctx`.
async fn lake_sums(ctx: &SessionContext, table: &LoadedTable) -> Result<PeriodSums> {
    let what = format!("summing {} per periodo", table.lake);
    let measures = &table.measures;
    let sql = sums_sql(&table.lake.to_string(), measures, "true", "VARCHAR");
    let batches = engine::collect(ctx, &sql, &what).await?;
    let mut out = PeriodSums::new();
    for batch in &batches {
        let text = |i: usize| {
            arrow::compute::cast(batch.column(i), &DataType::Utf8)
                .map_err(|e| Error::engine(&what, e.into()))
        };
        let periods = text(0)?;
        let rows = arrow::compute::cast(batch.column(1), &DataType::Int64)
            .map_err(|e| Error::engine(&what, e.into()))?;
        let rows = rows.as_primitive::<arrow::datatypes::Int64Type>();
        let sums = (2..2 + measures.len())
            .map(text)
            .collect::<Result<Vec<_>>>()?;
        for row in 0..batch.num_rows() {
            let period = periods.as_string::<i32>().value(row).to_string();
            let values: Vec<Option<String>> = sums
                .iter()
                .map(|m| {
                    let m = m.as_string::<i32>();
                    m.is_valid(row).then(|| m.value(row).to_string())
                })
                .collect();
            let parsed = Sums::parse(rows.value(row), &values, measures).map_err(|reason| {
                Error::Internal {
                    what: format!("{what}: {reason}"),
                }
            })?;
            out.insert(period, parsed);
        }
    }
    Ok(out)
}
