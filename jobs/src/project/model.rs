//! One model of a project: a SQL file `<layer>/<name>.sql` materialised as the
//! table `layer.name`, with the configuration of its header
//! ([`super::header`]). A model reads `raw.*` and other models by their
//! layer-qualified names, exactly as a data engineer would run the file by
//! hand with `dfstore sql -f`; what it reads is taken from its SQL, as dbt
//! takes it from `ref()`s.

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period;
use crate::contract::source::SourceTable;
use crate::project::header::Materialized;
use crate::project::quality::{Contract, DataTest};

/// One SQL model, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The layer the model writes into (its folder).
    pub layer: Layer,
    /// The table's name in its layer (the file's stem).
    pub name: String,
    /// How it is written.
    pub materialized: Materialized,
    /// What it holds, for people.
    pub description: Option<String>,
    /// Tags for `--select tag:x`.
    pub tags: Vec<String>,
    /// The source table whose rows it carries (for reconciliation, and the
    /// raw rows a model built by key ranges reads).
    pub source: Option<SourceTable>,
    /// Whether the table is partitioned by `periodo`.
    pub partitioned: bool,
    /// Whether the model is built one month at a time, as dbt builds its
    /// "microbatch" models: each `periodo` of its output from the same
    /// `periodo` of the partitioned models it reads (and the whole of the
    /// others). Only for a model whose every row comes from one month; its
    /// joins and aggregations then hold a month in memory, not the history.
    pub by_period: bool,
    /// The date column of a model built by period whose every row comes
    /// from rows of one value of that column (one day) in each partitioned
    /// model it reads, which carries it too, as does the row: a month too
    /// large for the memory pool is then built a range of days at a time
    /// ([`crate::pipeline::batches::periods`]), and an incremental run
    /// rebuilds only the days whose rows changed
    /// ([`crate::pipeline::increment::periods`]).
    pub day_column: Option<String>,
    /// The key every join of the model matches on, when the model is built
    /// one range of that key at a time ([`crate::pipeline::batches`]): each
    /// range reads the rows of that range of every table with the key, so
    /// its hash tables hold a range of the history, not all of it. The
    /// number of ranges follows the rows of the models it reads and the
    /// memory pool; a small run is one range.
    pub by_key: Option<String>,
    /// The key of a model that runs one range of that key at a time on a
    /// cluster only, each range a task without a shuffle
    /// (`pipeline/batches/cluster.rs`); the embedded engine runs it whole,
    /// with no shuffle to save. (A model with `by_key` runs in ranges on a
    /// cluster too.)
    pub cluster_key: Option<String>,
    /// The columns that identify a row.
    pub unique_key: Vec<String>,
    /// Loaded into the warehouse by `run --load` and `nightly --warehouse`.
    pub warehouse: bool,
    /// Data tests on its rows.
    pub tests: Vec<DataTest>,
    /// The columns it promises.
    pub contract: Option<Contract>,
    /// The file, as the user names it (`sql/staging/ventas.sql` for the
    /// built-in project).
    pub file: String,
    /// The file's path inside the project (`staging/ventas.sql`).
    pub path: String,
    /// The SQL, header comment included.
    pub sql: String,
    /// Every table the SQL reads (common table expressions are no tables).
    pub reads: Vec<TableRef>,
}

impl Model {
    /// `layer.name`.
    pub fn table(&self) -> TableRef {
        TableRef::new(self.layer, self.name.clone())
    }

    /// The partition columns of the model's table.
    pub fn partition_columns(&self) -> Vec<String> {
        period::partition_columns(self.partitioned)
    }

    /// Whether a run publishes the model as a Delta table: a stored model
    /// outside staging.
    pub fn is_published(&self) -> bool {
        self.layer != Layer::Staging && self.materialized.is_stored()
    }

    /// Hex SHA-256 of the SQL, header included: lineage, and what tells a
    /// changed model.
    pub fn sql_hash(&self) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(self.sql.as_bytes()))
    }

    /// The positions in `models` of the models this one reads, in order.
    pub fn reads_in(&self, models: &[std::sync::Arc<Model>]) -> Vec<usize> {
        let mut out: Vec<usize> = models
            .iter()
            .enumerate()
            .filter(|(_, m)| self.reads.contains(&m.table()))
            .map(|(i, _)| i)
            .collect();
        out.dedup();
        out
    }
}
