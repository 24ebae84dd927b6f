//! Reading one version of a Delta table through its file list.
//!
//! A published table is read from exactly the files its Delta snapshot
//! references, as a plain DataFusion Parquet scan (`DataSourceExec`) with the
//! partition values taken from the log. The client reads the Delta log; the
//! scan it plans names every file, so the same physical plan runs in-process
//! or on Ballista executors, which need neither Delta code nor the log, and a
//! file that a later commit adds or removes never leaks into a reader pinned
//! to this version.

use std::fmt;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use async_trait::async_trait;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::config::TableParquetOptions;
use datafusion::common::stats::Precision;
use datafusion::common::{ScalarValue, Statistics};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;

use crate::contract::layer::TableRef;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// One Delta table version as a DataFusion table.
#[derive(Clone)]
pub struct SnapshotTable {
    table: String,
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<FieldRef>,
    store_url: ObjectStoreUrl,
    files: Vec<SnapshotFile>,
    /// For each column of `schema`, its index in the scan's output.
    scan_index: Vec<usize>,
}

/// One file of the version.
#[derive(Clone)]
struct SnapshotFile {
    /// As the scan reads it, with its partition values.
    scanned: PartitionedFile,
    /// Its path in the Delta log, relative to the table's folder.
    path: String,
    /// Its rows, from the log's `numRecords`.
    rows: Option<usize>,
}

impl fmt::Debug for SnapshotTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotTable")
            .field("table", &self.table)
            .field("files", &self.files.len())
            .finish()
    }
}

impl SnapshotTable {
    /// The loaded version of `delta`, published as `table` in `lake`.
    pub fn try_new(lake: &Lake, table: &TableRef, delta: &DeltaTable) -> Result<Self> {
        let snapshot = delta
            .snapshot()
            .map_err(|e| Error::delta(table.to_string(), e))?;
        let partition_columns = snapshot.metadata().partition_columns().to_vec();
        let logical = snapshot.snapshot().arrow_schema();
        // Delta has one string type; every column reads as nullable, as the
        // Delta schema says.
        let plain = |f: &Field| {
            let dt = match f.data_type() {
                DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
                other => other.clone(),
            };
            Arc::new(Field::new(f.name(), dt, true))
        };
        let file_fields: Vec<FieldRef> = logical
            .fields()
            .iter()
            .filter(|f| !partition_columns.contains(f.name()))
            .map(|f| plain(f))
            .collect();
        let partition_fields: Vec<FieldRef> = partition_columns
            .iter()
            .filter_map(|name| logical.field_with_name(name).ok())
            .map(plain)
            .collect();
        let file_schema = Arc::new(Schema::new(file_fields.clone()));
        // The scan yields file columns, then partition columns; the table
        // shows the columns in the order of the Delta schema.
        let mut scan_order = file_fields;
        scan_order.extend(partition_fields.iter().cloned());
        let scan_index: Vec<usize> = logical
            .fields()
            .iter()
            .filter_map(|f| scan_order.iter().position(|s| s.name() == f.name()))
            .collect();
        let schema = Arc::new(Schema::new(
            scan_index
                .iter()
                .map(|&i| Arc::clone(&scan_order[i]))
                .collect::<Vec<_>>(),
        ));

        let store_url = ObjectStoreUrl::parse(lake.url().store_url().as_str())
            .map_err(|e| Error::engine(format!("reading {table}"), e))?;
        let folder = lake.path(&table.folder());
        let mut files = Vec::new();
        for file in snapshot.log_data().iter() {
            let values = file.partition_values_map();
            let partition_values = partition_columns
                .iter()
                .map(|c| ScalarValue::Utf8(values.get(c).cloned().flatten()))
                .collect();
            let path = file.object_store_path().to_string();
            let size = file.size().max(0) as u64;
            files.push(SnapshotFile {
                scanned: PartitionedFile::new(format!("{folder}/{path}"), size)
                    .with_partition_values(partition_values),
                path,
                rows: file.num_records(),
            });
        }
        Ok(SnapshotTable {
            table: table.to_string(),
            schema,
            file_schema,
            partition_fields,
            store_url,
            files,
            scan_index,
        })
    }

    /// The version with one more column, `name`, holding the path (as in
    /// the Delta log) of the file each row is in: what a merge finds the
    /// files to rewrite by.
    pub fn with_file_column(mut self, name: &str) -> Self {
        let field = Arc::new(Field::new(name, DataType::Utf8, false));
        for file in &mut self.files {
            file.scanned
                .partition_values
                .push(ScalarValue::Utf8(Some(file.path.clone())));
        }
        self.partition_fields.push(Arc::clone(&field));
        let mut fields: Vec<FieldRef> = self.schema.fields().iter().cloned().collect();
        fields.push(field);
        self.schema = Arc::new(Schema::new(fields));
        self.scan_index
            .push(self.file_schema.fields().len() + self.partition_fields.len() - 1);
        self
    }

    /// The version's rows of the files whose path (as in the Delta log)
    /// `keep` accepts.
    pub fn retain_files(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.files.retain(|f| keep(&f.path));
        self
    }

    /// Rows in the files whose path (as in the Delta log) `counted`
    /// accepts, from the log's `numRecords` (a file without it counts 0).
    pub fn rows_in(&self, counted: impl Fn(&str) -> bool) -> u64 {
        self.files
            .iter()
            .filter(|f| counted(&f.path))
            .filter_map(|f| f.rows)
            .map(|r| r as u64)
            .sum()
    }

    /// The distinct values, from the log, of the partition column `name`
    /// in the files whose path (as in the Delta log) `counted` accepts.
    pub fn partition_values(&self, name: &str, counted: impl Fn(&str) -> bool) -> Vec<String> {
        let Some(i) = self.partition_fields.iter().position(|f| f.name() == name) else {
            return Vec::new();
        };
        let values: std::collections::BTreeSet<String> = self
            .files
            .iter()
            .filter(|f| counted(&f.path))
            .filter_map(|f| match f.scanned.partition_values.get(i) {
                Some(ScalarValue::Utf8(Some(value))) => Some(value.clone()),
                _ => None,
            })
            .collect();
        values.into_iter().collect()
    }

    /// Row count from the log's `numRecords`, size from the file sizes: what
    /// the planner needs to pick join sides and broadcast small tables.
    fn table_statistics(&self) -> Statistics {
        let mut stats = Statistics::new_unknown(&self.schema);
        if let Some(rows) = self.files.iter().map(|f| f.rows).sum::<Option<usize>>() {
            stats.num_rows = Precision::Exact(rows);
        }
        let bytes: u64 = self.files.iter().map(|f| f.scanned.object_meta.size).sum();
        stats.total_byte_size = Precision::Inexact(bytes as usize);
        stats
    }
}

#[async_trait]
impl TableProvider for SnapshotTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Filters prune row groups and pages; the plan still applies them.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    fn statistics(&self) -> Option<Statistics> {
        Some(self.table_statistics())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // As ListingTable does: filters reach the Parquet scan later, through
        // DataFusion's filter pushdown into `DataSourceExec`.
        let format = ParquetFormat::default().with_options(TableParquetOptions {
            global: state.config_options().execution.parquet.clone(),
            ..Default::default()
        });
        let source = format.file_source(
            TableSchema::builder(Arc::clone(&self.file_schema))
                .with_table_partition_cols(self.partition_fields.clone())
                .build(),
        );
        let partitions = state.config_options().execution.target_partitions.max(1);
        let files: Vec<PartitionedFile> = self.files.iter().map(|f| f.scanned.clone()).collect();
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(file_groups(&files, partitions))
            .with_statistics(self.table_statistics())
            .with_projection_indices(Some(match projection {
                Some(columns) => columns.iter().map(|&i| self.scan_index[i]).collect(),
                None => self.scan_index.clone(),
            }))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

/// Spreads `files` over at most `partitions` groups of similar total size:
/// largest first, each to the lightest group.
fn file_groups(files: &[PartitionedFile], partitions: usize) -> Vec<FileGroup> {
    let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); partitions];
    let mut load = vec![0u64; partitions];
    let mut files = files.to_vec();
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    for file in files {
        let lightest = (0..partitions).min_by_key(|&i| load[i]).unwrap_or(0);
        load[lightest] += file.object_meta.size;
        groups[lightest].push(file);
    }
    groups
        .into_iter()
        .filter(|g| !g.is_empty())
        .map(FileGroup::new)
        .collect()
}
