//! Running a query over the lake and writing its result as a table, CSV,
//! JSON lines or Parquet.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use datafusion::dataframe::DataFrameWriteOptions;
use futures::StreamExt;

use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::project::Project;
use crate::query::session::{lake_session, planning_error};

/// How query results are printed (`dfstore sql --format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
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

/// Where and how to write a query's result.
#[derive(Debug, Clone)]
pub struct Output {
    /// The format.
    pub format: OutputFormat,
    /// A file to write to; standard output when `None`.
    pub path: Option<PathBuf>,
}

/// Runs `sql` over the lake (with `project`'s staging models as views and
/// its variables bound) and writes the result; returns the rows written.
pub async fn query(
    lake: &Lake,
    config: &EngineConfig,
    project: &Project,
    sql: &str,
    output: &Output,
) -> Result<u64> {
    let (ctx, known) = lake_session(lake, config, project).await?;
    let df = ctx.sql(sql).await.map_err(|e| planning_error(e, &known))?;
    let df = match project.vars.params_for(sql) {
        None => df,
        Some(params) => df
            .with_param_values(params)
            .map_err(|e| planning_error(e, &known))?,
    };
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
            let closed = Arc::new(AtomicBool::new(false));
            let mut sink: Box<dyn Write> = match &output.path {
                Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
                    |e| Error::InvalidArgument {
                        flag: "--output".into(),
                        reason: format!("cannot create {}: {e}", p.display()),
                    },
                )?)),
                None => Box::new(std::io::BufWriter::new(Pipe {
                    inner: std::io::stdout().lock(),
                    closed: Arc::clone(&closed),
                })),
            };
            let written = match write_results(df, format, &mut sink).await {
                Ok(rows) => sink
                    .flush()
                    .map(|()| rows)
                    .map_err(|e| io_error("writing the result", e)),
                Err(e) => Err(e),
            };
            match written {
                // The reader went away (`| head`): as for any Unix filter,
                // that ends the output, and is no failure.
                Err(_) if closed.load(Ordering::Relaxed) => Ok(0),
                other => other,
            }
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

/// Standard output, noting when its reader has closed the pipe.
struct Pipe<W> {
    inner: W,
    closed: Arc<AtomicBool>,
}

impl<W: Write> Write for Pipe<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf).inspect_err(|e| self.noted(e))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush().inspect_err(|e| self.noted(e))
    }
}

impl<W> Pipe<W> {
    fn noted(&self, e: &std::io::Error) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            self.closed.store(true, Ordering::Relaxed);
        }
    }
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
