//! Puts the lake's tables into a session under their layer-qualified names:
//! `raw.<t>` over the published extractions, a run's staged models while it
//! runs, and the published Delta tables at a given version.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{
    CatalogProvider, CatalogProviderList, MemoryCatalogProvider, MemoryCatalogProviderList,
    MemorySchemaProvider, SchemaProvider, TableProvider,
};
use datafusion::common::ScalarValue;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionContext, case, col, lit};

use crate::contract::extraction::ExtractionId;
use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::{EXTRACTION_COLUMN, PERIOD_COLUMN};
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta;
use crate::lake::raw::ExtractionManifest;
use crate::lake::snapshot::SnapshotTable;

/// Registers `table` in the session, replacing what had that name.
pub fn register(
    ctx: &SessionContext,
    table: &TableRef,
    provider: Arc<dyn TableProvider>,
) -> Result<()> {
    let name = TableReference::partial(table.layer.name(), table.name.as_str());
    ctx.deregister_table(name.clone())
        .map_err(|e| Error::engine(format!("replacing {table}"), e))?;
    ctx.register_table(name, provider)
        .map_err(|e| Error::engine(format!("registering {table}"), e))?;
    Ok(())
}

/// A session with the settings and the runtime of `ctx` (its memory pool
/// and object stores) whose one table is `table`, served by `provider`: for
/// a query that must read that table and nothing else.
pub fn session_of_one(
    ctx: &SessionContext,
    table: &TableRef,
    provider: Arc<dyn TableProvider>,
) -> Result<SessionContext> {
    let failed = |e| Error::engine(format!("a session of {table} alone"), e);
    let schema = MemorySchemaProvider::new();
    schema
        .register_table(table.name.to_string(), provider)
        .map_err(failed)?;
    let catalog = MemoryCatalogProvider::new();
    catalog
        .register_schema(table.layer.name(), Arc::new(schema))
        .map_err(failed)?;
    let catalogs = MemoryCatalogProviderList::new();
    let default = ctx
        .copied_config()
        .options()
        .catalog
        .default_catalog
        .clone();
    catalogs.register_catalog(default, Arc::new(catalog));
    let mut state = ctx.state();
    state.register_catalog_list(Arc::new(catalogs));
    Ok(SessionContext::new_with_state(state))
}

/// Registers `raw.<table>`: every row of every published extraction, with
/// the extraction's instant as `extraido` (timestamp, UTC). Folders of
/// extractions without a manifest are pruned before any file is opened.
pub async fn register_raw(
    ctx: &SessionContext,
    lake: &Lake,
    table: &SourceTable,
    extractions: &[ExtractionManifest],
) -> Result<()> {
    let url = lake.url().join(&format!("raw/{}/", table.name()));
    let table_url = ListingTableUrl::parse(url.as_str())
        .map_err(|e| Error::engine(format!("raw.{table}"), e))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(vec![(EXTRACTION_COLUMN.to_string(), DataType::Utf8)]);
    let file_schema = table.schema();
    let config = ListingTableConfig::new(table_url)
        .with_listing_options(options)
        .with_schema(file_schema.clone());
    let listing =
        ListingTable::try_new(config).map_err(|e| Error::engine(format!("raw.{table}"), e))?;

    let published: Vec<_> = extractions
        .iter()
        .filter(|m| m.tables.contains_key(table.name()))
        .map(|m| m.extraido)
        .collect();
    let mut columns: Vec<_> = file_schema.fields().iter().map(|f| col(f.name())).collect();
    // The folder name becomes a timestamp through a lookup of the published
    // extractions, not by parsing the text of every row.
    let instant = |id: ExtractionId| {
        lit(ScalarValue::TimestampMicrosecond(
            Some(id.instant().timestamp_micros()),
            Some("UTC".into()),
        ))
    };
    let mut extraido = case(col(EXTRACTION_COLUMN));
    for id in &published {
        extraido.when(lit(id.to_string()), instant(*id));
    }
    let extraido = if published.is_empty() {
        lit(ScalarValue::TimestampMicrosecond(None, Some("UTC".into())))
    } else {
        extraido
            .end()
            .map_err(|e| Error::engine(format!("raw.{table}"), e))?
    };
    columns.push(extraido.alias(EXTRACTION_COLUMN));
    let published: Vec<_> = published.iter().map(|id| lit(id.to_string())).collect();
    let view = ctx
        .read_table(Arc::new(listing))
        .and_then(|df| df.filter(col(EXTRACTION_COLUMN).in_list(published, false)))
        .and_then(|df| df.select(columns))
        .map_err(|e| Error::engine(format!("raw.{table}"), e))?
        .into_view();
    register(ctx, &TableRef::new(Layer::Raw, table.name()), view)
}

/// Registers a staged model (Parquet under the folders `roots`, each hive-partitioned by
/// `periodo` when `partitioned`) under its table name, with the schema the
/// model's plan produced.
pub fn register_staged(
    ctx: &SessionContext,
    lake: &Lake,
    table: &TableRef,
    roots: &[String],
    schema: &SchemaRef,
    partitioned: bool,
) -> Result<()> {
    let table_urls = roots
        .iter()
        .map(|root| ListingTableUrl::parse(lake.url().join(root).as_str()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::engine(format!("{table}"), e))?;
    let mut options =
        ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let file_fields: Vec<Arc<Field>> = schema
        .fields()
        .iter()
        .filter(|f| !(partitioned && f.name() == PERIOD_COLUMN))
        .cloned()
        .collect();
    if partitioned {
        options =
            options.with_table_partition_cols(vec![(PERIOD_COLUMN.to_string(), DataType::Utf8)]);
    }
    let config = ListingTableConfig::new_with_multi_paths(table_urls)
        .with_listing_options(options)
        .with_schema(Arc::new(Schema::new(file_fields)));
    let listing =
        ListingTable::try_new(config).map_err(|e| Error::engine(format!("{table}"), e))?;
    register(ctx, table, Arc::new(listing))
}

/// Registers a published Delta table at `version` (the newest when `None`);
/// returns false when the table was never published.
pub async fn register_published(
    ctx: &SessionContext,
    lake: &Lake,
    table: &TableRef,
    version: Option<u64>,
) -> Result<bool> {
    let Some(provider) = published(lake, table, version).await? else {
        return Ok(false);
    };
    register(ctx, table, provider)?;
    Ok(true)
}

/// A published Delta table at `version` (the newest when `None`); `None`
/// when the table was never published.
pub async fn published(
    lake: &Lake,
    table: &TableRef,
    version: Option<u64>,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let snapshot = snapshot(lake, table, version).await?;
    Ok(snapshot.map(|s| Arc::new(s) as Arc<dyn TableProvider>))
}

/// A published Delta table at `version` (the newest when `None`), to read
/// in part ([`SnapshotTable::retain_files`]); `None` when the table was
/// never published.
pub async fn snapshot(
    lake: &Lake,
    table: &TableRef,
    version: Option<u64>,
) -> Result<Option<SnapshotTable>> {
    let Some(delta_table) = delta::open(lake, table, version).await? else {
        return Ok(None);
    };
    SnapshotTable::try_new(lake, table, &delta_table).map(Some)
}
