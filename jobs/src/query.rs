//! `dfstore sql`: any SQL over the lake. Tables are named `raw.<t>`,
//! `trusted.<t>`, `rejected.<t>`, `analytic.<t>`; the published layers are
//! read at the versions of the newest successful run, so a query never sees
//! half of a run, even one that is publishing right now.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;

use arrow::array::RecordBatch;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::engine::{self, EngineConfig};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::layer::{Layer, TableRef};
use crate::manifest::latest_success;
use crate::model::{MODELS, published_tables};
use crate::pii::PiiKey;
use crate::raw::published_extractions;
use crate::source::SourceTable;
use crate::tables;

/// How query results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// An aligned text table.
    #[default]
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON object per line.
    Json,
    /// A Parquet file (needs an output path).
    Parquet,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "table" => Ok(OutputFormat::Table),
            "csv" => Ok(OutputFormat::Csv),
            "json" => Ok(OutputFormat::Json),
            "parquet" => Ok(OutputFormat::Parquet),
            other => Err(format!(
                "unknown format `{other}`; use table, csv, json or parquet"
            )),
        }
    }
}

impl fmt::Display for OutputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputFormat::Table => "table",
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Parquet => "parquet",
        })
    }
}

/// A session with every table of the lake registered; returns the session
/// and the names of the tables it holds.
pub async fn lake_session(
    lake: &Lake,
    config: &EngineConfig,
) -> Result<(SessionContext, Vec<TableRef>)> {
    if !lake.exists().await? {
        return Err(Error::LakeNotFound {
            lake: lake.url().to_string(),
        });
    }
    // The key is optional here: it only lets staging SQL be run by hand.
    let key = PiiKey::resolve(None).ok();
    let ctx = engine::session(lake, config, key.as_ref())?;
    let mut known = Vec::new();
    let extractions = published_extractions(lake).await?;
    for table in SourceTable::ALL {
        if extractions.iter().any(|m| m.tables.contains_key(&table)) {
            tables::register_raw(&ctx, lake, table, &extractions).await?;
            known.push(TableRef::new(Layer::Raw, table.name()));
        }
    }
    let pinned = latest_success(lake).await?;
    for table in published_tables() {
        let version = pinned
            .as_ref()
            .and_then(|run| run.version_of(&table.to_string()));
        if pinned.is_some() && version.is_none() {
            continue;
        }
        if tables::register_published(&ctx, lake, &table, version).await? {
            known.push(table);
        }
    }
    // Staging models are views here, computed from raw and the published
    // layers, so that every SQL file under sql/ runs by hand as it is.
    for model in MODELS.iter().filter(|m| m.layer == Layer::Staging) {
        match ctx.sql(model.sql).await {
            Ok(df) => {
                tables::register(&ctx, &model.table(), df.into_view())?;
                known.push(model.table());
            }
            Err(e) => {
                tracing::debug!(table = %model.table(), error = %e, "staging view unavailable")
            }
        }
    }
    Ok((ctx, known))
}

/// Where and how to write a query's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// The format.
    pub format: OutputFormat,
    /// A file to write to; standard output when `None`.
    pub path: Option<PathBuf>,
}

/// Runs `sql` over the lake and writes the result; returns the rows written.
pub async fn query(lake: &Lake, config: &EngineConfig, sql: &str, output: &Output) -> Result<u64> {
    let (ctx, known) = lake_session(lake, config).await?;
    let df = ctx.sql(sql).await.map_err(|e| planning_error(e, &known))?;
    match output.format {
        OutputFormat::Parquet => {
            let path = output.path.as_ref().ok_or_else(|| Error::InvalidArgument {
                flag: "--output".into(),
                reason: "--format parquet needs --output FILE.parquet".into(),
            })?;
            let path = std::path::absolute(path).map_err(|e| Error::InvalidArgument {
                flag: "--output".into(),
                reason: e.to_string(),
            })?;
            let batches = df
                .write_parquet(
                    &path.to_string_lossy(),
                    DataFrameWriteOptions::new().with_single_file_output(true),
                    None,
                )
                .await
                .map_err(|e| Error::engine("writing the result", e))?;
            Ok(count_of(&batches))
        }
        format => {
            let mut sink: Box<dyn Write> = match &output.path {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                    |e| Error::InvalidArgument {
                        flag: "--output".into(),
                        reason: format!("cannot create {}: {e}", p.display()),
                    },
                )?)),
                None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            };
            let rows = write_results(df, format, &mut sink).await?;
            sink.flush()
                .map_err(|e| io_error("writing the result", e))?;
            Ok(rows)
        }
    }
}

async fn write_results(
    df: datafusion::dataframe::DataFrame,
    format: OutputFormat,
    sink: &mut dyn Write,
) -> Result<u64> {
    let what = "running the query";
    let mut rows = 0u64;
    match format {
        OutputFormat::Table => {
            // Alignment needs every row first; tables are for people, who
            // ask for a screenful, so collecting is fine here.
            let batches = df.collect().await.map_err(|e| Error::engine(what, e))?;
            rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            let text = arrow::util::pretty::pretty_format_batches(&batches)
                .map_err(|e| Error::engine(what, e.into()))?;
            writeln!(sink, "{text}").map_err(|e| io_error(what, e))?;
            writeln!(sink, "{rows} row{}", if rows == 1 { "" } else { "s" })
                .map_err(|e| io_error(what, e))?;
        }
        OutputFormat::Csv => {
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| Error::engine(what, e))?;
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(sink);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| Error::engine(what, e))?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| Error::engine(what, e.into()))?;
            }
        }
        OutputFormat::Json => {
            let mut stream = df
                .execute_stream()
                .await
                .map_err(|e| Error::engine(what, e))?;
            let mut writer = arrow::json::LineDelimitedWriter::new(sink);
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| Error::engine(what, e))?;
                rows += batch.num_rows() as u64;
                writer
                    .write(&batch)
                    .map_err(|e| Error::engine(what, e.into()))?;
            }
            writer.finish().map_err(|e| Error::engine(what, e.into()))?;
        }
        OutputFormat::Parquet => {
            return Err(Error::Internal {
                what: "Parquet output is written by the engine, not streamed".into(),
            });
        }
    }
    Ok(rows)
}

fn count_of(batches: &[RecordBatch]) -> u64 {
    batches
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::UInt64Array>()
                .map(|a| a.value(0))
        })
        .unwrap_or(0)
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::Internal {
        what: format!("{what}: {e}"),
    }
}

/// Turns DataFusion's "table not found" into an error that lists the tables
/// the lake has; other planning errors keep DataFusion's explanation.
pub fn planning_error(e: datafusion::error::DataFusionError, known: &[TableRef]) -> Error {
    let message = e.to_string();
    if let Some(rest) = message.split("table '").nth(1)
        && message.contains("not found")
    {
        let name = rest.split('\'').next().unwrap_or(rest);
        let name = name.strip_prefix("datafusion.").unwrap_or(name);
        let names: Vec<String> = known.iter().map(ToString::to_string).collect();
        return Error::UnknownTable {
            table: name.to_string(),
            known: if names.is_empty() {
                "no tables yet (run `dfstore generate` and `dfstore run`)".into()
            } else {
                names.join(", ")
            },
        };
    }
    Error::Query {
        reason: message
            .trim_start_matches("Error during planning: ")
            .to_string(),
    }
}
