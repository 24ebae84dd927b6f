//! The crawl document: what one crawl found in the lake, one JSON file per
//! crawl under `_catalog/crawls/<crawl id>.json`. The newest file is the
//! catalog; the older ones are its history.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::diff::TableChange;
use crate::contract::layer::TableRef;
use crate::error::Result;
use crate::lake::Lake;

/// Folder of the crawl documents, relative to the lake root.
pub const CRAWLS_DIR: &str = "_catalog/crawls";

/// The identity of a crawl: its UTC instant to the millisecond,
/// `YYYYMMDDTHHMMSS.mmmZ`, so that names sort in time order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CrawlId(String);

impl CrawlId {
    /// The id of a crawl taken at `at`.
    pub fn at(at: DateTime<Utc>) -> Self {
        CrawlId(at.format("%Y%m%dT%H%M%S%.3fZ").to_string())
    }

    /// The document's path, relative to the lake root.
    pub fn path(&self) -> String {
        format!("{CRAWLS_DIR}/{}.json", self.0)
    }
}

impl fmt::Display for CrawlId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a table's files are organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableFormat {
    /// Plain Parquet in Hive-style partition folders (the raw layer).
    Parquet,
    /// A Delta Lake table (trusted, rejected, analytic).
    Delta,
}

impl fmt::Display for TableFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TableFormat::Parquet => "parquet",
            TableFormat::Delta => "delta",
        })
    }
}

/// A column as the table's files declare it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The name.
    pub name: String,
    /// The type: Arrow's name for raw Parquet, Delta's for Delta tables.
    pub data_type: String,
    /// Whether it may hold nulls.
    pub nullable: bool,
}

/// One partition of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// The partition key's value (an extraction id, a month).
    pub value: String,
    /// Rows.
    pub rows: u64,
    /// Data files.
    pub files: usize,
    /// Bytes in its files.
    pub bytes: u64,
}

/// What the crawl recorded of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogTable {
    /// `layer.name`.
    pub table: TableRef,
    /// How its files are organised.
    pub format: TableFormat,
    /// Its folder, relative to the lake root.
    pub location: String,
    /// The Delta version read (the newest successful run's); none for raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Columns, in the files' order: for raw, those of the newest extraction.
    pub columns: Vec<Column>,
    /// Partition columns (`extraido`, `periodo`); empty when unpartitioned.
    pub partition_keys: Vec<String>,
    /// Partitions, sorted by value.
    pub partitions: Vec<Partition>,
    /// Rows.
    pub rows: u64,
    /// Data files.
    pub files: usize,
    /// Bytes in its data files.
    pub bytes: u64,
    /// The last change: the newest extraction's instant for raw, the
    /// commit's time for Delta.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_change: Option<DateTime<Utc>>,
}

impl CatalogTable {
    /// `(column, type)` pairs, for comparing crawls.
    pub fn column_types(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .map(|c| (c.name.clone(), c.data_type.clone()))
            .collect()
    }
}

/// One crawl of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crawl {
    /// The crawl.
    pub id: CrawlId,
    /// When it ran.
    pub crawled_at: DateTime<Utc>,
    /// The crawl it was compared with; none for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<CrawlId>,
    /// What changed since the previous crawl.
    #[serde(default)]
    pub changes: Vec<TableChange>,
    /// Every table found: raw first, then the published layers.
    pub tables: Vec<CatalogTable>,
}

impl Crawl {
    /// The table called `table`, if the crawl found it.
    pub fn table(&self, table: &TableRef) -> Option<&CatalogTable> {
        self.tables.iter().find(|t| &t.table == table)
    }

    /// Writes the document under [`CRAWLS_DIR`].
    pub async fn save(&self, lake: &Lake) -> Result<()> {
        lake.put_json(&self.id.path(), self).await
    }
}

/// The newest crawl of the lake, if it was ever crawled.
pub async fn latest(lake: &Lake) -> Result<Option<Crawl>> {
    let newest = lake
        .list(CRAWLS_DIR)
        .await?
        .into_iter()
        .map(|meta| lake.relative(&meta.location).to_string())
        .filter(|rel| rel.ends_with(".json"))
        .max();
    match newest {
        Some(rel) => lake.get_json(&rel).await,
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crawl_ids_sort_in_time_order_to_the_millisecond() {
        let a = CrawlId::at(DateTime::from_timestamp_millis(1_767_592_800_120).unwrap());
        let b = CrawlId::at(DateTime::from_timestamp_millis(1_767_592_800_121).unwrap());
        assert_eq!(a.to_string(), "20260105T060000.120Z");
        assert!(a < b && a.to_string() < b.to_string());
        assert_eq!(a.path(), "_catalog/crawls/20260105T060000.120Z.json");
    }
}
