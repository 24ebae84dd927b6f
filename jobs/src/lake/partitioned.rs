//! Writing a query's rows as Parquet files partitioned by one column, Hive
//! style (`periodo=2025-03/part-<call>-00001.parquet`), in the embedded engine.
//!
//! DataFusion 55's partitioned sink routes rows to their partitions in a
//! single task and one row at a time, building a `Vec<String>` key for every
//! row and hashing it with SipHash: 8% of a scale-1 run's CPU (`perf record`),
//! more than all of the ZSTD compression. Here every output partition of the
//! plan is routed in its own task, a row compared with the row before it and
//! then with the few values already seen (a run writes about a dozen months),
//! and every file is encoded by its own task with the session's Parquet
//! settings. A file is closed and the next one started once it holds
//! `execution.soft_max_rows_per_output_file` rows, as DataFusion does.
//!
//! On a cluster the plan's own sink runs on the executors instead (see
//! `dfstore_core::parallel_sink`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use arrow::array::{Array, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{cast, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::file_options::parquet_writer::ParquetWriterOptions;
use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrame;
use datafusion::physical_plan::execute_stream_partitioned;
use futures::StreamExt;
use object_store::buffered::BufWriter;
use parquet::arrow::AsyncArrowWriter;
use parquet::file::properties::WriterProperties;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// Batches queued for one partition's file before its router waits.
const QUEUED_BATCHES: usize = 4;

/// Executes `df` and writes its rows under `folder` (relative to the lake
/// root, ending in `/`), one folder `column=value/` per value of `column`,
/// which the files themselves do not hold. `what` names the output in
/// errors. Returns the number of rows written.
pub async fn write(
    df: DataFrame,
    lake: &Lake,
    folder: &str,
    column: &str,
    parquet: &TableParquetOptions,
    what: &str,
) -> Result<u64> {
    let task = Arc::new(df.task_ctx());
    let max_rows_per_file = task
        .session_config()
        .options()
        .execution
        .soft_max_rows_per_output_file
        .get() as u64;
    let plan = df
        .create_physical_plan()
        .await
        .map_err(|e| Error::engine(what, e))?;
    let schema = plan.schema();
    let index = schema
        .index_of(column)
        .map_err(|e| Error::engine(what, e.into()))?;
    let kept: Vec<usize> = (0..schema.fields().len()).filter(|&i| i != index).collect();
    let file_schema = Arc::new(
        schema
            .project(&kept)
            .map_err(|e| Error::engine(what, e.into()))?,
    );
    // The Arrow writer stores the files' Arrow schema itself.
    let mut parquet = parquet.clone();
    parquet.global.skip_arrow_metadata = true;
    let properties = ParquetWriterOptions::try_from(&parquet)
        .map_err(|e| Error::engine(what, e))?
        .writer_options()
        .clone();
    let files = Files {
        lake: lake.clone(),
        folder: folder.to_string(),
        column: column.to_string(),
        schema: file_schema,
        properties,
        max_rows_per_file,
        open: Mutex::new(HashMap::new()),
        writers: Mutex::new(JoinSet::new()),
        sequence: AtomicUsize::new(0),
        // A model built in batches writes the same folders once per batch.
        call: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
    };
    let files = Arc::new(files);

    let streams = execute_stream_partitioned(plan, task).map_err(|e| Error::engine(what, e))?;
    let mut routers = JoinSet::new();
    for mut stream in streams {
        let (files, kept, what) = (Arc::clone(&files), kept.clone(), what.to_string());
        let progress = tracing::Span::current();
        routers.spawn(async move {
            while let Some(batch) = stream.next().await {
                let batch = batch.map_err(|e| Error::engine(&what, e))?;
                progress.pb_inc(batch.num_rows() as u64);
                for (value, rows) in split(&batch, index, &files.column, &what)? {
                    let part = batch
                        .project(&kept)
                        .and_then(|b| match &rows {
                            Some(rows) => take_record_batch(&b, rows),
                            None => Ok(b),
                        })
                        .map_err(|e| Error::engine(&what, e.into()))?;
                    if files.sender(&value)?.send(part).await.is_err() {
                        // Its file failed: the writer's error is reported.
                        return Ok(());
                    }
                }
            }
            Ok::<_, Error>(())
        });
    }
    let routed = join_all(&mut routers, what).await;
    // Every router is done: closing the queues lets the files finish (or,
    // when the query failed, they are stopped: nothing of it is kept).
    files.close();
    let mut writers = std::mem::take(&mut *lock(&files.writers));
    if routed.is_err() {
        writers.abort_all();
    }
    let written = join_all(&mut writers, what).await;
    routed?;
    Ok(written?.into_iter().sum())
}

/// Waits for every task of `set`; the first error, if any, is returned once
/// all have ended (the others are stopped).
async fn join_all<T: 'static>(set: &mut JoinSet<Result<T>>, what: &str) -> Result<Vec<T>> {
    let mut out = Vec::new();
    let mut failure = None;
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(Ok(value)) => out.push(value),
            Ok(Err(e)) if failure.is_none() => {
                failure = Some(e);
                set.abort_all();
            }
            Err(e) if failure.is_none() && !e.is_cancelled() => {
                failure = Some(Error::Internal {
                    what: format!("writing {what}: {e}"),
                });
                set.abort_all();
            }
            _ => {}
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The rows of `batch` per value of its column `index`, in order of first
/// appearance; `None` when every row has the same value.
fn split(
    batch: &RecordBatch,
    index: usize,
    column: &str,
    what: &str,
) -> Result<Vec<(String, Option<UInt32Array>)>> {
    let array = batch.column(index);
    let array = match array.data_type() {
        DataType::Utf8 => Arc::clone(array),
        _ => cast(array, &DataType::Utf8).map_err(|e| Error::engine(what, e.into()))?,
    };
    let values = array.as_string::<i32>();
    if values.null_count() > 0 {
        return Err(Error::BadPartitionValue {
            model: what.to_string(),
            column: column.to_string(),
            value: None,
        });
    }
    let mut groups: Vec<(&str, Vec<u32>)> = Vec::new();
    let mut current = usize::MAX;
    for (i, value) in values.iter().flatten().enumerate() {
        if current == usize::MAX || groups[current].0 != value {
            current = match groups.iter().position(|(v, _)| *v == value) {
                Some(g) => g,
                None => {
                    groups.push((value, Vec::new()));
                    groups.len() - 1
                }
            };
        }
        groups[current].1.push(i as u32);
    }
    if let [(value, _)] = groups.as_slice() {
        return Ok(vec![(checked_value(value, column, what)?, None)]);
    }
    groups
        .into_iter()
        .map(|(value, rows)| {
            Ok((
                checked_value(value, column, what)?,
                Some(UInt32Array::from(rows)),
            ))
        })
        .collect()
}

/// A partition value usable as one folder name.
fn checked_value(value: &str, column: &str, what: &str) -> Result<String> {
    if value.is_empty() || value.contains(['/', '\\']) || value == "." || value == ".." {
        return Err(Error::BadPartitionValue {
            model: what.to_string(),
            column: column.to_string(),
            value: Some(value.to_string()),
        });
    }
    Ok(value.to_string())
}

/// The files being written, one queue per partition value.
struct Files {
    lake: Lake,
    folder: String,
    column: String,
    schema: SchemaRef,
    properties: WriterProperties,
    max_rows_per_file: u64,
    open: Mutex<HashMap<String, mpsc::Sender<RecordBatch>>>,
    writers: Mutex<JoinSet<Result<u64>>>,
    sequence: AtomicUsize,
    /// Random, per call: the files of two calls into one folder never clash.
    call: String,
}

impl Files {
    /// The queue of `value`'s files, started on first use.
    fn sender(self: &Arc<Self>, value: &str) -> Result<mpsc::Sender<RecordBatch>> {
        let mut open = lock(&self.open);
        if let Some(sender) = open.get(value) {
            return Ok(sender.clone());
        }
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        let files = Arc::clone(self);
        let value_owned = value.to_string();
        lock(&self.writers).spawn(async move { files.write_value(&value_owned, receiver).await });
        open.insert(value.to_string(), sender.clone());
        Ok(sender)
    }

    /// Closes every queue: each file finishes once it has written what is queued.
    fn close(&self) {
        lock(&self.open).clear();
    }

    /// Writes what arrives for `value`, starting a new file every
    /// `max_rows_per_file` rows.
    async fn write_value(
        &self,
        value: &str,
        mut batches: mpsc::Receiver<RecordBatch>,
    ) -> Result<u64> {
        let mut total = 0;
        let mut file: Option<(String, AsyncArrowWriter<BufWriter>, u64)> = None;
        while let Some(batch) = batches.recv().await {
            let (relative, writer, rows) = match &mut file {
                Some(open) => open,
                None => file.insert(self.create(value)?),
            };
            writer
                .write(&batch)
                .await
                .map_err(|e| self.parquet_error(relative, e))?;
            *rows += batch.num_rows() as u64;
            total += batch.num_rows() as u64;
            if *rows >= self.max_rows_per_file
                && let Some((relative, writer, _)) = file.take()
            {
                writer
                    .close()
                    .await
                    .map_err(|e| self.parquet_error(&relative, e))?;
            }
        }
        if let Some((relative, writer, _)) = file {
            writer
                .close()
                .await
                .map_err(|e| self.parquet_error(&relative, e))?;
        }
        Ok(total)
    }

    fn create(&self, value: &str) -> Result<(String, AsyncArrowWriter<BufWriter>, u64)> {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let relative = format!(
            "{}{}={value}/part-{}-{n:05}.parquet",
            self.folder, self.column, self.call
        );
        let sink = BufWriter::new(Arc::clone(self.lake.store()), self.lake.path(&relative));
        let writer = AsyncArrowWriter::try_new(
            sink,
            Arc::clone(&self.schema),
            Some(self.properties.clone()),
        )
        .map_err(|e| self.parquet_error(&relative, e))?;
        Ok((relative, writer, 0))
    }

    fn parquet_error(&self, relative: &str, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            location: self.lake.display(&self.lake.path(relative)),
            source,
        }
    }
}

/// Locks `mutex`, whose data stays consistent even if a holder panicked
/// (every critical section is a single insert, clone or take).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};
    use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
    use dfstore_core::LakeUrl;
    use tempfile::TempDir;

    fn batch(periods: &[Option<&str>]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("periodo", DataType::Utf8, true),
        ]));
        let ids = Int64Array::from_iter_values(0..periods.len() as i64);
        let periods = StringArray::from(periods.to_vec());
        RecordBatch::try_new(schema, vec![Arc::new(ids), Arc::new(periods)]).unwrap()
    }

    #[test]
    fn rows_are_grouped_by_value_in_order_of_first_appearance() {
        let b = batch(&[
            Some("2025-02"),
            Some("2025-01"),
            Some("2025-02"),
            Some("2025-03"),
            Some("2025-01"),
        ]);
        let groups: Vec<(String, Vec<u32>)> = split(&b, 1, "periodo", "t")
            .unwrap()
            .into_iter()
            .map(|(v, rows)| (v, rows.unwrap().values().to_vec()))
            .collect();
        assert_eq!(
            groups,
            [
                ("2025-02".to_string(), vec![0, 2]),
                ("2025-01".to_string(), vec![1, 4]),
                ("2025-03".to_string(), vec![3]),
            ]
        );
        // One value: the batch goes whole, no row list.
        let one = split(
            &batch(&[Some("2025-01"), Some("2025-01")]),
            1,
            "periodo",
            "t",
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].1.is_none());
    }

    #[test]
    fn a_null_or_unusable_value_is_refused_with_the_column() {
        let e = split(
            &batch(&[Some("2025-01"), None]),
            1,
            "periodo",
            "staging.ventas",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("staging.ventas") && e.contains("no periodo (NULL)"),
            "{e}"
        );
        let e = split(&batch(&[Some("2025/01")]), 1, "periodo", "staging.ventas")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("periodo `2025/01` cannot name a partition folder"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn every_row_lands_in_its_partition_and_files_roll_over() {
        let dir = TempDir::new().unwrap();
        let lake = Lake::open(
            LakeUrl::parse(dir.path().to_str().unwrap()).unwrap(),
            &Default::default(),
        )
        .unwrap();
        // Two input partitions, three months, files of at most 4 rows.
        let mut config = SessionConfig::new().with_target_partitions(2);
        config.options_mut().execution.soft_max_rows_per_output_file =
            datafusion::config::ConfigNonZeroUsize::try_new(4).unwrap();
        let ctx = SessionContext::new_with_config(config);
        let months = ["2025-01", "2025-02", "2025-03"];
        let rows: Vec<Option<&str>> = (0..20).map(|i| Some(months[i * 7 % 3])).collect();
        // Two input partitions of five batches of two rows.
        let all = batch(&rows);
        let partitions = (0..2)
            .map(|p| (0..5).map(|b| all.slice(p * 10 + b * 2, 2)).collect())
            .collect();
        let table = datafusion::datasource::MemTable::try_new(all.schema(), partitions).unwrap();
        ctx.register_table("t", Arc::new(table)).unwrap();
        let df = ctx
            .sql("SELECT id + 100 AS id, periodo FROM t")
            .await
            .unwrap();
        let options = TableParquetOptions::default();
        let written = write(df, &lake, "out/", "periodo", &options, "t")
            .await
            .unwrap();
        assert_eq!(written, 20);

        for month in months {
            let folder = dir.path().join(format!("out/periodo={month}"));
            let files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            let expected: Vec<i64> = (0..20)
                .filter(|&i| months[i * 7 % 3] == month)
                .map(|i| i as i64 + 100)
                .collect();
            // A file is closed once it holds 4 rows: past them by at most
            // one batch of 2 rows less one.
            let per_file: Vec<i64> = files
                .iter()
                .map(|f| {
                    let file = std::fs::File::open(f).unwrap();
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .unwrap()
                        .metadata()
                        .file_metadata()
                        .num_rows()
                })
                .collect();
            assert_eq!(
                per_file.iter().sum::<i64>(),
                expected.len() as i64,
                "{month}"
            );
            assert!(
                per_file.iter().all(|&n| (1..=5).contains(&n)),
                "{month}: {per_file:?}"
            );
            assert!(per_file.len() >= 2, "{month}: {per_file:?}");
            let read = SessionContext::new();
            let df = read
                .read_parquet(folder.to_str().unwrap(), ParquetReadOptions::default())
                .await
                .unwrap();
            // The partition column is in the folder name, not in the files.
            assert_eq!(df.schema().fields().len(), 1);
            let mut ids: Vec<i64> = df
                .collect()
                .await
                .unwrap()
                .iter()
                .flat_map(|b| {
                    b.column(0)
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .values()
                        .to_vec()
                })
                .collect();
            ids.sort_unstable();
            assert_eq!(ids, expected, "{month}");
        }
    }
}
