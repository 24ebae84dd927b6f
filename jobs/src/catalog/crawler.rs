//! The crawler (what an AWS Glue crawler does for a lake on S3): reads every
//! table of every layer — raw from the extraction manifests and the Parquet
//! footers of the newest extraction, the published layers from their Delta
//! logs at the versions of the newest successful run, the versions `dfstore
//! sql` reads — and records them as a [`Crawl`] compared with the previous one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::catalog::diff::diff;
use crate::catalog::document::{
    CatalogTable, Column, Crawl, CrawlId, Partition, TableFormat, latest,
};
use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::{EXTRACTION_COLUMN, PERIOD_COLUMN};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::delta;
use crate::lake::raw::{self, ExtractionManifest, published_extractions};
use crate::lake::runs::{latest_success, published_tables};

/// Crawls the lake, compares it with the previous crawl and saves the new
/// crawl under `_catalog/crawls/`.
pub async fn crawl(lake: &Lake) -> Result<Crawl> {
    lake.require().await?;
    let crawled_at = Utc::now();
    let previous = latest(lake).await?;
    let tables = lake_tables(lake).await?;
    let changes = previous
        .as_ref()
        .map(|p| diff(p, &tables))
        .unwrap_or_default();
    let crawl = Crawl {
        id: CrawlId::at(crawled_at),
        crawled_at,
        previous: previous.map(|p| p.id),
        changes,
        tables,
    };
    crawl.save(lake).await?;
    info!(
        crawl = %crawl.id,
        tables = crawl.tables.len(),
        changes = crawl.changes.len(),
        "crawl recorded"
    );
    Ok(crawl)
}

/// Every table of the lake as it is now: raw first, then the published layers.
pub async fn lake_tables(lake: &Lake) -> Result<Vec<CatalogTable>> {
    let mut out = Vec::new();
    let extractions = published_extractions(lake).await?;
    // Every table some extraction holds, whichever project extracted it.
    let names: std::collections::BTreeSet<&str> = extractions
        .iter()
        .flat_map(|m| m.tables.keys().map(String::as_str))
        .collect();
    for table in names {
        if let Some(t) = raw_table(lake, table, &extractions).await? {
            out.push(t);
        }
    }
    // As `dfstore sql` does: once a run succeeded, what it left published.
    let pinned = latest_success(lake).await?;
    for (table, version) in published_tables(lake, pinned.as_ref()).await? {
        if let Some(t) = delta_table(lake, &table, version).await? {
            out.push(t);
        }
    }
    Ok(out)
}

/// `raw.<table>`: partitions, rows and files from the manifests; columns
/// from the footers of the newest extraction that has the table.
async fn raw_table(
    lake: &Lake,
    table: &str,
    extractions: &[ExtractionManifest],
) -> Result<Option<CatalogTable>> {
    let with_table: Vec<&ExtractionManifest> = extractions
        .iter()
        .filter(|m| m.tables.contains_key(table))
        .collect();
    let Some(newest) = with_table.last() else {
        return Ok(None);
    };
    let mut columns: Vec<Column> = Vec::new();
    for footer in raw::footers(lake, table, std::slice::from_ref(*newest)).await? {
        for field in footer.schema.fields() {
            if !columns.iter().any(|c| c.name == *field.name()) {
                columns.push(Column {
                    name: field.name().clone(),
                    data_type: field.data_type().to_string(),
                    nullable: field.is_nullable(),
                });
            }
        }
    }
    let partitions: Vec<Partition> = with_table
        .iter()
        .filter_map(|m| {
            m.tables.get(table).map(|t| Partition {
                value: m.extraido.to_string(),
                rows: t.rows,
                files: t.files.len(),
                bytes: t.files.iter().map(|f| f.bytes).sum(),
            })
        })
        .collect();
    Ok(Some(CatalogTable {
        table: TableRef::new(Layer::Raw, table),
        format: TableFormat::Parquet,
        location: format!("raw/{table}/"),
        version: None,
        columns,
        partition_keys: vec![EXTRACTION_COLUMN.to_string()],
        rows: partitions.iter().map(|p| p.rows).sum(),
        files: partitions.iter().map(|p| p.files).sum(),
        bytes: partitions.iter().map(|p| p.bytes).sum(),
        partitions,
        last_change: Some(newest.extraido.instant()),
    }))
}

/// A published Delta table at `version` (the newest when `None`).
async fn delta_table(
    lake: &Lake,
    table: &TableRef,
    version: Option<u64>,
) -> Result<Option<CatalogTable>> {
    let Some(delta_table) = delta::open(lake, table, version).await? else {
        return Ok(None);
    };
    let snapshot = delta_table
        .snapshot()
        .map_err(|e| Error::delta(table.to_string(), e))?;
    let version = snapshot.version();
    let partition_keys = snapshot.metadata().partition_columns().to_vec();
    let mut partitions: BTreeMap<String, Partition> = BTreeMap::new();
    let (mut rows, mut files, mut bytes) = (0u64, 0usize, 0u64);
    for file in snapshot.log_data().iter() {
        let file_rows = file.num_records().unwrap_or(0) as u64;
        let file_bytes = file.size().max(0) as u64;
        rows += file_rows;
        files += 1;
        bytes += file_bytes;
        if let Some(Some(value)) = file.partition_values_map().get(PERIOD_COLUMN) {
            let p = partitions
                .entry(value.clone())
                .or_insert_with(|| Partition {
                    value: value.clone(),
                    rows: 0,
                    files: 0,
                    bytes: 0,
                });
            p.rows += file_rows;
            p.files += 1;
            p.bytes += file_bytes;
        }
    }
    let columns = snapshot
        .schema()
        .fields()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
            nullable: f.is_nullable(),
        })
        .collect();
    Ok(Some(CatalogTable {
        table: table.clone(),
        format: TableFormat::Delta,
        location: table.folder(),
        version: Some(version),
        columns,
        partition_keys,
        partitions: partitions.into_values().collect(),
        rows,
        files,
        bytes,
        last_change: snapshot
            .version_timestamp(version)
            .and_then(DateTime::from_timestamp_millis),
    }))
}
