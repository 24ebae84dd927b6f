//! `dfstore catalog sync-glue`: the published tables registered in the AWS
//! Glue Data Catalog, as the seed's crawler did, so that Athena and Redshift
//! Spectrum query the lake.
//!
//! A Delta table's folder holds the files of older versions too, so a Glue
//! table cannot simply point at it. Each table gets a symlink manifest per
//! partition (`_symlink_format_manifest/periodo=…/manifest`, the layout
//! Delta Lake's own `GENERATE symlink_format_manifest` writes) listing
//! exactly the files of the version the lake's newest successful run
//! published, and the Glue table reads those (`SymlinkTextInputFormat`,
//! Parquet SerDe), partitioned by `periodo`. Rerunning updates the tables and
//! their partitions in place; nothing is duplicated.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_glue::Client;
use aws_sdk_glue::error::DisplayErrorContext;
use aws_sdk_glue::types::{
    Column as GlueColumn, DatabaseInput, PartitionInput, SerDeInfo, StorageDescriptor, TableInput,
};
use tracing::info;

use crate::catalog::crawler::lake_tables;
use crate::catalog::document::{CatalogTable, TableFormat};
use crate::contract::period::PERIOD_COLUMN;
use crate::error::{Error, Result};
use crate::lake::{Lake, delta};

/// The folder of a table's symlink manifests, under its own folder.
pub const MANIFEST_DIR: &str = "_symlink_format_manifest";
const INPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat";
const OUTPUT_FORMAT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
const SERDE: &str = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe";

/// What one table's sync did.
#[derive(Debug, Clone)]
pub struct SyncedTable {
    /// The Glue table's name, `<layer>_<table>`.
    pub name: String,
    /// The Delta version registered.
    pub version: u64,
    /// Partitions registered now.
    pub partitions: usize,
    /// Partitions added and removed by this sync.
    pub added: usize,
    /// Partitions removed by this sync.
    pub removed: usize,
    /// Whether the table was created (rather than updated).
    pub created: bool,
}

/// Registers every published table of `lake` in Glue database `database`.
pub async fn sync(lake: &Lake, database: &str) -> Result<Vec<SyncedTable>> {
    if lake.url().local_path().is_some() {
        return Err(Error::InvalidArgument {
            flag: "--lake".into(),
            reason: format!(
                "Glue tables point at S3 and `{}` is a local folder; sync an s3:// lake",
                lake.url()
            ),
        });
    }
    lake.require().await?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let glue = Glue {
        client: Client::new(&config),
        database: database.to_string(),
    };
    glue.ensure_database().await?;
    let mut out = Vec::new();
    for table in lake_tables(lake).await? {
        if table.format != TableFormat::Delta {
            continue;
        }
        let manifests = write_manifests(lake, &table).await?;
        out.push(glue.sync_table(lake, &table, &manifests).await?);
    }
    Ok(out)
}

/// The Glue name of a lake table: `trusted.ventas` → `trusted_ventas`.
pub fn glue_name(table: &CatalogTable) -> String {
    format!("{}_{}", table.table.layer, table.table.name)
}

/// The Hive type of a Delta type, as Athena and Spectrum read it.
pub fn hive_type(delta_type: &str) -> String {
    match delta_type {
        "long" => "bigint".into(),
        "integer" => "int".into(),
        "short" => "smallint".into(),
        "byte" => "tinyint".into(),
        "timestamp_ntz" => "timestamp".into(),
        other => other.to_string(),
    }
}

/// Writes the symlink manifests of the table's version; returns the folder
/// (relative to the lake root) of each partition's, by `periodo` ("" for an
/// unpartitioned table).
async fn write_manifests(lake: &Lake, table: &CatalogTable) -> Result<BTreeMap<String, String>> {
    let delta_table = delta::open(lake, &table.table, table.version)
        .await?
        .ok_or_else(|| Error::Internal {
            what: format!("{} was listed but cannot be opened", table.table),
        })?;
    let snapshot = delta_table
        .snapshot()
        .map_err(|e| Error::delta(table.table.to_string(), e))?;
    let mut by_period: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in snapshot.log_data().iter() {
        let period = file
            .partition_values_map()
            .get(PERIOD_COLUMN)
            .cloned()
            .flatten()
            .unwrap_or_default();
        let relative = format!("{}{}", table.table.folder(), file.object_store_path());
        by_period
            .entry(period)
            .or_default()
            .push(lake.url().join(&relative).to_string());
    }
    let root = format!("{}{MANIFEST_DIR}/", table.table.folder());
    lake.delete_all(&root).await?;
    let mut out = BTreeMap::new();
    for (period, files) in by_period {
        let folder = if period.is_empty() {
            root.clone()
        } else {
            format!("{root}{PERIOD_COLUMN}={period}/")
        };
        let body = files.join("\n") + "\n";
        lake.put_bytes(&format!("{folder}manifest"), body.into_bytes())
            .await?;
        out.insert(period, folder);
    }
    Ok(out)
}

/// A Glue client and the database it writes to.
struct Glue {
    client: Client,
    database: String,
}

impl Glue {
    fn error(&self, what: &str, e: impl std::error::Error) -> Error {
        let reason = DisplayErrorContext(&e).to_string();
        let fix = if reason.contains("AccessDenied") {
            "the credentials in use may not write to the Glue catalog (glue:CreateTable, UpdateTable, BatchCreatePartition…)"
        } else if reason.contains("dispatch failure") || reason.contains("credentials") {
            "check the AWS credentials, region and AWS_ENDPOINT_URL"
        } else {
            "check the Glue database and the AWS account"
        };
        Error::Aws {
            service: "Glue".into(),
            what: format!("{what} in database {}", self.database),
            reason,
            fix: fix.into(),
        }
    }

    async fn ensure_database(&self) -> Result<()> {
        let found = self.client.get_database().name(&self.database).send().await;
        match found {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                let input = DatabaseInput::builder()
                    .name(&self.database)
                    .description("dfstore lake: trusted, rejected and analytic tables")
                    .build()
                    .map_err(|e| self.error("describing the database", e))?;
                self.client
                    .create_database()
                    .database_input(input)
                    .send()
                    .await
                    .map_err(|e| self.error("creating the database", e))?;
                Ok(())
            }
            Err(e) => Err(self.error("reading the database", e)),
        }
    }

    async fn sync_table(
        &self,
        lake: &Lake,
        table: &CatalogTable,
        manifests: &BTreeMap<String, String>,
    ) -> Result<SyncedTable> {
        let name = glue_name(table);
        let input = table_input(lake, table, &name).map_err(|e| self.error(&name, e))?;
        let exists = self
            .client
            .get_table()
            .database_name(&self.database)
            .name(&name)
            .send()
            .await;
        let created = match exists {
            Ok(_) => {
                self.client
                    .update_table()
                    .database_name(&self.database)
                    .table_input(input)
                    .send()
                    .await
                    .map_err(|e| self.error(&format!("updating {name}"), e))?;
                false
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                self.client
                    .create_table()
                    .database_name(&self.database)
                    .table_input(input)
                    .send()
                    .await
                    .map_err(|e| self.error(&format!("creating {name}"), e))?;
                true
            }
            Err(e) => return Err(self.error(&format!("reading {name}"), e)),
        };
        let (added, removed) = if table.partition_keys.is_empty() {
            (0, 0)
        } else {
            self.sync_partitions(lake, &name, manifests).await?
        };
        info!(table = %name, version = ?table.version, added, removed, "registered in Glue");
        Ok(SyncedTable {
            name,
            version: table.version.unwrap_or(0),
            partitions: if table.partition_keys.is_empty() {
                0
            } else {
                manifests.len()
            },
            added,
            removed,
            created,
        })
    }

    /// Adds the partitions Glue lacks and removes those the version lacks.
    async fn sync_partitions(
        &self,
        lake: &Lake,
        name: &str,
        manifests: &BTreeMap<String, String>,
    ) -> Result<(usize, usize)> {
        let mut existing = BTreeSet::new();
        let mut pages = self
            .client
            .get_partitions()
            .database_name(&self.database)
            .table_name(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.error(&format!("listing partitions of {name}"), e))?;
            for p in page.partitions() {
                existing.extend(p.values().first().cloned());
            }
        }
        let wanted: BTreeSet<String> = manifests.keys().cloned().collect();
        let new: Vec<PartitionInput> = wanted
            .difference(&existing)
            .map(|period| partition_input(lake, period, &manifests[period]))
            .collect();
        for chunk in new.chunks(100) {
            self.client
                .batch_create_partition()
                .database_name(&self.database)
                .table_name(name)
                .set_partition_input_list(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.error(&format!("adding partitions to {name}"), e))?;
        }
        let stale: Vec<aws_sdk_glue::types::PartitionValueList> = existing
            .difference(&wanted)
            .filter_map(|period| {
                aws_sdk_glue::types::PartitionValueList::builder()
                    .values(period)
                    .build()
                    .ok()
            })
            .collect();
        for chunk in stale.chunks(25) {
            self.client
                .batch_delete_partition()
                .database_name(&self.database)
                .table_name(name)
                .set_partitions_to_delete(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| self.error(&format!("removing partitions of {name}"), e))?;
        }
        Ok((new.len(), stale.len()))
    }
}

fn storage(location: String, columns: Vec<GlueColumn>) -> StorageDescriptor {
    StorageDescriptor::builder()
        .set_columns(Some(columns))
        .location(location)
        .input_format(INPUT_FORMAT)
        .output_format(OUTPUT_FORMAT)
        .serde_info(SerDeInfo::builder().serialization_library(SERDE).build())
        .build()
}

fn table_input(
    lake: &Lake,
    table: &CatalogTable,
    name: &str,
) -> std::result::Result<TableInput, aws_sdk_glue::error::BuildError> {
    let column = |name: &str, data_type: &str| {
        GlueColumn::builder()
            .name(name)
            .r#type(hive_type(data_type))
            .build()
    };
    let columns = table
        .columns
        .iter()
        .filter(|c| !table.partition_keys.contains(&c.name))
        .map(|c| column(&c.name, &c.data_type))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let partition_keys = table
        .partition_keys
        .iter()
        .map(|k| column(k, "string"))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let location = lake
        .url()
        .join(&format!("{}{MANIFEST_DIR}/", table.table.folder()))
        .to_string();
    TableInput::builder()
        .name(name)
        .description(format!(
            "{} at Delta version {}, read through its symlink manifests",
            table.table,
            table.version.unwrap_or(0)
        ))
        .table_type("EXTERNAL_TABLE")
        .set_partition_keys(Some(partition_keys))
        .storage_descriptor(storage(location, columns))
        .parameters("EXTERNAL", "TRUE")
        .parameters("classification", "parquet")
        .parameters("dfstore.table", table.table.to_string())
        .parameters(
            "dfstore.delta_version",
            table.version.unwrap_or(0).to_string(),
        )
        .build()
}

fn partition_input(lake: &Lake, period: &str, folder: &str) -> PartitionInput {
    PartitionInput::builder()
        .values(period)
        .storage_descriptor(storage(lake.url().join(folder).to_string(), Vec::new()))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_types_become_hive_types() {
        assert_eq!(hive_type("long"), "bigint");
        assert_eq!(hive_type("integer"), "int");
        assert_eq!(hive_type("decimal(18,2)"), "decimal(18,2)");
        assert_eq!(hive_type("string"), "string");
        assert_eq!(hive_type("date"), "date");
    }
}
