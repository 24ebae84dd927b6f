//! Where generated rows go: a table sink that streams batches into the
//! Parquet parts of one extraction, and a one-chunk-ahead prefetcher that
//! draws the next chunk on a blocking thread while the current one is encoded
//! and written, so drawing and writing overlap.

use std::sync::Arc;

use arrow::array::RecordBatch;
use tokio::task::JoinHandle;
use tracing::{Span, debug, info_span};
use tracing_indicatif::span_ext::IndicatifSpanExt as _;

use crate::contract::extraction::ExtractionId;
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::{RawFileWriter, RawTable};
use crate::project::builtin;

/// Rows per Parquet part: big facts become several files, which a cluster
/// reads in parallel.
const PART_ROWS: usize = 1 << 20;

/// One table of one extraction being written.
pub(super) struct TableSink {
    lake: Lake,
    extraction: ExtractionId,
    table: SourceTable,
    part: usize,
    rows_in_part: usize,
    writer: RawFileWriter,
    done: RawTable,
    /// The table's progress line, closed with the sink.
    progress: Span,
}

impl TableSink {
    /// Starts part 0 (written even when no row comes, so every table of the
    /// manifest has a file with its schema).
    pub fn create(lake: &Lake, extraction: ExtractionId, table: &str) -> Result<Self> {
        let table = builtin::source(table)?;
        Ok(TableSink {
            lake: lake.clone(),
            extraction,
            writer: RawFileWriter::create(lake, extraction, &table, 0)?,
            progress: info_span!("generate", table = %table, indicatif.pb_show = true),
            table,
            part: 0,
            rows_in_part: 0,
            done: RawTable::default(),
        })
    }

    /// Appends a batch, starting a new part when this one is full.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.rows_in_part > 0 && self.rows_in_part + batch.num_rows() > PART_ROWS {
            self.part += 1;
            let next = RawFileWriter::create(&self.lake, self.extraction, &self.table, self.part)?;
            let full = std::mem::replace(&mut self.writer, next);
            close(full, &self.table, &mut self.done).await?;
            self.rows_in_part = 0;
        }
        self.rows_in_part += batch.num_rows();
        self.progress
            .in_scope(|| self.progress.pb_inc(batch.num_rows() as u64));
        self.writer.write(batch).await
    }

    /// Finishes the last part and describes the table for the manifest.
    pub async fn finish(self) -> Result<RawTable> {
        let TableSink {
            writer,
            table,
            mut done,
            ..
        } = self;
        close(writer, &table, &mut done).await?;
        Ok(done)
    }
}

async fn close(writer: RawFileWriter, table: &SourceTable, done: &mut RawTable) -> Result<()> {
    let file = writer.finish().await?;
    debug!(%table, path = %file.path, rows = file.rows, "part written");
    done.rows += file.rows;
    done.files.push(file);
    Ok(())
}

/// Writes a few in-memory batches as one table of an extraction.
pub(super) async fn write_table(
    lake: &Lake,
    extraction: ExtractionId,
    table: &str,
    batches: &[RecordBatch],
) -> Result<RawTable> {
    let mut sink = TableSink::create(lake, extraction, table)?;
    for batch in batches {
        sink.write(batch).await?;
    }
    sink.finish().await
}

type Draw<T> = Arc<dyn Fn(u64) -> Result<T> + Send + Sync>;

/// Yields `draw(0)`, `draw(1)`, … `draw(count - 1)` in order, each computed
/// on a blocking thread while the caller works on the previous one.
pub(super) struct Ahead<T> {
    draw: Draw<T>,
    next: u64,
    count: u64,
    pending: Option<JoinHandle<Result<T>>>,
}

impl<T: Send + 'static> Ahead<T> {
    /// Starts drawing chunk 0.
    pub fn new(count: u64, draw: impl Fn(u64) -> Result<T> + Send + Sync + 'static) -> Self {
        let mut ahead = Ahead {
            draw: Arc::new(draw),
            next: 0,
            count,
            pending: None,
        };
        ahead.start();
        ahead
    }

    fn start(&mut self) {
        if self.next < self.count {
            let draw = Arc::clone(&self.draw);
            let index = self.next;
            self.pending = Some(tokio::task::spawn_blocking(move || draw(index)));
            self.next += 1;
        }
    }

    /// The next chunk, `None` after the last.
    pub async fn next(&mut self) -> Result<Option<T>> {
        let Some(pending) = self.pending.take() else {
            return Ok(None);
        };
        let chunk = pending.await.map_err(|e| Error::Internal {
            what: format!("a generator thread failed: {e}"),
        })??;
        self.start();
        Ok(Some(chunk))
    }
}
