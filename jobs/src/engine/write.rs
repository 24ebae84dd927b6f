//! Writing a query's rows into a folder of the lake as Parquet, partitioned
//! by a column or not. The embedded engine writes partitioned output with
//! dfstore's own Hive writer ([`crate::lake::partitioned`]); on a cluster the
//! plan's own sink runs on the executors, each writing the files of the
//! partition it computed (`dfstore_core::parallel_sink`).

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::config::TableParquetOptions;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::file_format::format_as_file_type;
use datafusion::datasource::file_format::parquet::ParquetFormatFactory;
use datafusion::logical_expr::LogicalPlanBuilder;
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
        _ => copy_to(df, lake, target)
            .map_err(|e| Error::engine(&target.what, e))?
            .collect()
            .await
            .map(|_| ())
            .map_err(|e| Error::engine(&target.what, e)),
    }
}

/// The write of the rows of `df` to `target` by the plan's own sink, as
/// `DataFrame::write_parquet` plans it, not yet run.
pub fn copy_to(
    df: DataFrame,
    lake: &Lake,
    target: &Target,
) -> datafusion::error::Result<DataFrame> {
    let (state, plan) = df.into_parts();
    let format = ParquetFormatFactory::new_with_options(target.parquet.clone());
    let plan = LogicalPlanBuilder::copy_to(
        plan,
        lake.url().join(&target.folder).to_string(),
        format_as_file_type(Arc::new(format)),
        HashMap::new(),
        target
            .partition_by
            .into_iter()
            .map(str::to_string)
            .collect(),
    )?
    .build()?;
    Ok(DataFrame::new(state, plan))
}
