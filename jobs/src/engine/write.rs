//! Writing a query's rows into a folder of the lake as Parquet, partitioned
//! by a column or not. The embedded engine writes partitioned output with
//! dfstore's own Hive writer ([`crate::lake::partitioned`]); on a cluster the
//! plan's own sink runs on the executors, each writing the files of the
//! partition it computed (`dfstore_core::parallel_sink`).

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::{DataFrame, DataFrameWriteOptions};
use datafusion::prelude::SessionContext;

use crate::engine::context::{Placement, placement};
use crate::error::{Error, Result};
use crate::lake::{Lake, partitioned};

/// Where and how a query's rows are written.
#[derive(Debug, Clone)]
pub struct Target {
    /// The folder, relative to the lake root, ending in `/`.
    pub folder: String,
    /// The Hive partition column, if any.
    pub partition_by: Option<&'static str>,
    /// Parquet settings.
    pub parquet: TableParquetOptions,
    /// What is being written, for errors.
    pub what: String,
}

/// Writes the rows of `df`, planned in `ctx`, to `target`.
pub async fn parquet(
    ctx: &SessionContext,
    df: DataFrame,
    lake: &Lake,
    target: &Target,
) -> Result<()> {
    match (target.partition_by, placement(ctx)) {
        (Some(column), Placement::Embedded) => partitioned::write(
            df,
            lake,
            &target.folder,
            column,
            &target.parquet,
            &target.what,
        )
        .await
        .map(|_| ()),
        (partition_by, _) => {
            let options = DataFrameWriteOptions::new()
                .with_partition_by(partition_by.into_iter().map(str::to_string).collect());
            df.write_parquet(
                lake.url().join(&target.folder).as_str(),
                options,
                Some(target.parquet.clone()),
            )
            .await
            .map(|_| ())
            .map_err(|e| Error::engine(&target.what, e))
        }
    }
}
