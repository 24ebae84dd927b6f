//! One query's rows read by several others while it runs, without storing
//! them: the query's output is fed into one [`StreamingTable`] per reader,
//! and each reader's plan scans its table as it would a stored one. The
//! build uses it for a staging model that only filters read (trusted and
//! rejected), which then costs one pass instead of a write and two reads.
//!
//! Every reader gets every batch. A reader's table has as many partitions
//! as the session plans for, all fed from one queue: whichever partition
//! asks first takes the next batch, so a reader that polls some of its
//! partitions only does not stall the query. The queues are short, so the
//! query runs at the pace of its slowest reader; a reader that ends
//! without reading everything (a `LIMIT`) is simply fed no more.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::catalog::streaming::StreamingTable;
use datafusion::dataframe::DataFrame;
use datafusion::error::{DataFusionError, Result as EngineResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use futures::StreamExt;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinSet;

/// Batches queued for one reader before the query waits for it.
const QUEUED_BATCHES: usize = 4;

type Queue = Arc<Mutex<mpsc::Receiver<EngineResult<RecordBatch>>>>;

/// The feeding end: the queries whose rows the readers get.
pub struct Tee {
    readers: Vec<mpsc::Sender<EngineResult<RecordBatch>>>,
    failed: Arc<AtomicBool>,
}

/// A [`Tee`] for `readers` readers of rows of `schema`, and the table each
/// reader scans, in `partitions` partitions. The tables end when the tee
/// is dropped.
pub fn tee(
    schema: &SchemaRef,
    readers: usize,
    partitions: usize,
) -> EngineResult<(Tee, Vec<Arc<StreamingTable>>)> {
    let mut senders = Vec::with_capacity(readers);
    let mut tables = Vec::with_capacity(readers);
    for _ in 0..readers {
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        senders.push(sender);
        let queue: Queue = Arc::new(Mutex::new(receiver));
        let partitions: Vec<Arc<dyn PartitionStream>> = (0..partitions.max(1))
            .map(|_| {
                Arc::new(Fed {
                    schema: Arc::clone(schema),
                    queue: Arc::clone(&queue),
                }) as _
            })
            .collect();
        tables.push(Arc::new(StreamingTable::try_new(
            Arc::clone(schema),
            partitions,
        )?));
    }
    let tee = Tee {
        readers: senders,
        failed: Arc::new(AtomicBool::new(false)),
    };
    Ok((tee, tables))
}

impl Tee {
    /// Executes `df`, whose rows have the tee's schema, and hands each of
    /// its batches to every reader still reading; returns the rows fed. A
    /// failure of the query is also handed to the readers, so that none of
    /// them takes what it read for the whole.
    pub async fn feed(&self, df: DataFrame) -> EngineResult<u64> {
        let streams = df.execute_stream_partitioned().await?;
        let mut running = JoinSet::new();
        for mut stream in streams {
            let readers = self.readers.clone();
            let failed = Arc::clone(&self.failed);
            running.spawn(async move {
                let mut rows = 0u64;
                let mut open = readers;
                while let Some(batch) = stream.next().await {
                    let batch = match batch {
                        Ok(batch) => batch,
                        Err(e) => {
                            failed.store(true, Ordering::SeqCst);
                            let text = e.to_string();
                            for reader in &open {
                                let _ = reader
                                    .send(Err(DataFusionError::Execution(text.clone())))
                                    .await;
                            }
                            return Err(e);
                        }
                    };
                    rows += batch.num_rows() as u64;
                    let mut still = Vec::with_capacity(open.len());
                    for reader in open {
                        // A reader that has ended reads no more.
                        if reader.send(Ok(batch.clone())).await.is_ok() {
                            still.push(reader);
                        }
                    }
                    open = still;
                    if open.is_empty() {
                        break;
                    }
                }
                Ok(rows)
            });
        }
        let mut rows = 0;
        let mut failure = None;
        while let Some(joined) = running.join_next().await {
            match joined {
                Ok(Ok(n)) => rows += n,
                Ok(Err(e)) => {
                    failure.get_or_insert(e);
                    running.abort_all();
                }
                Err(e) if !e.is_cancelled() => {
                    failure.get_or_insert(DataFusionError::External(Box::new(e)));
                    running.abort_all();
                }
                Err(_) => {}
            }
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(rows),
        }
    }

    /// Whether a query fed has failed: a reader failing then has the
    /// query's error, which [`Tee::feed`] returns.
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }
}

/// One partition of a reader's table.
#[derive(Debug)]
struct Fed {
    schema: SchemaRef,
    queue: Queue,
}

impl PartitionStream for Fed {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let queue = Arc::clone(&self.queue);
        let batches = futures::stream::unfold(queue, |queue| async move {
            let next = queue.lock().await.recv().await;
            next.map(|batch| (batch, queue))
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}
