//! Reading the footers and rows of the lake's Parquet files.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use object_store::path::Path;
use parquet::arrow::async_reader::ParquetRecordBatchStreamBuilder;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// An async Parquet reader of one lake file, its footer already read.
// ParquetObjectReader is deprecated in parquet 59 in favour of an API that is
// not released yet.
#[allow(deprecated)]
pub async fn parquet_reader(
    lake: &Lake,
    path: &Path,
    size: u64,
) -> Result<ParquetRecordBatchStreamBuilder<parquet::arrow::async_reader::ParquetObjectReader>> {
    let reader = parquet::arrow::async_reader::ParquetObjectReader::new(
        Arc::clone(lake.store()),
        path.clone(),
    )
    .with_file_size(size);
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| Error::CorruptFile {
            file: lake.display(path),
            reason: e.to_string(),
        })
}

/// Reads a Parquet footer: the file's Arrow schema and row count.
pub async fn footer(lake: &Lake, path: &Path, size: u64) -> Result<(SchemaRef, u64)> {
    let builder = parquet_reader(lake, path, size).await?;
    let rows = builder.metadata().file_metadata().num_rows().max(0) as u64;
    Ok((Arc::clone(builder.schema()), rows))
}

/// Rows in a Parquet file, from its footer.
pub async fn footer_rows(lake: &Lake, path: &Path, size: u64) -> Result<u64> {
    footer(lake, path, size).await.map(|(_, rows)| rows)
}
