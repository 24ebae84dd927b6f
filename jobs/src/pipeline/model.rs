//! The job's models: each is one SQL file under `sql/`, materialised as the
//! table of the same name. A model reads `raw.*` and the models before it in
//! [`MODELS`], by their layer-qualified names, exactly as a data engineer
//! would run the file by hand with `dfstore sql -f`; what it reads is taken
//! from its SQL ([`Model::dependencies`]), so a run builds each model as soon
//! as those are built, as dbt does from `ref()`s.

use datafusion::error::Result as EngineResult;
use datafusion::sql::parser::DFParser;
use datafusion::sql::resolve::resolve_table_references;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period;
use crate::contract::source::SourceTable;

/// One SQL model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    /// The layer the model writes into.
    pub layer: Layer,
    /// The table's name in its layer.
    pub name: &'static str,
    /// The source table whose rows it carries (for reconciliation).
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
    /// model it reads, which carries it too: a month too large for the
    /// memory pool is then built a range of days at a time
    /// ([`crate::pipeline::batches::periods`]).
    pub day_column: Option<&'static str>,
    /// The key every join of the model matches on, when the model is built
    /// one range of that key at a time ([`crate::pipeline::batches`]): each
    /// range reads the rows of that range of every table with the key, so
    /// its hash tables hold a range of the history, not all of it. The
    /// number of ranges follows the rows of the models it reads and the
    /// memory pool; a small run is one range.
    pub by_key: Option<&'static str>,
    /// The key of a model that runs one range of that key at a time on a
    /// cluster only, each range a task without a shuffle
    /// (`pipeline/batches/cluster.rs`); the embedded engine runs it whole,
    /// with no shuffle to save. (A model with `by_key` runs in ranges on a
    /// cluster too.)
    pub cluster_key: Option<&'static str>,
    /// Path of the SQL file, relative to the repository root.
    pub file: &'static str,
    /// The SQL.
    pub sql: &'static str,
}

impl Model {
    /// `layer.name`.
    pub fn table(&self) -> TableRef {
        TableRef::new(self.layer, self.name)
    }

    /// The models this one reads, as indexes into [`MODELS`], in order: every
    /// table its SQL names (common table expressions are not tables, `raw.*`
    /// are no models), as DataFusion's parser resolves them.
    pub fn dependencies(&self) -> EngineResult<Vec<usize>> {
        let mut out = Vec::new();
        for statement in &DFParser::parse_sql(self.sql)? {
            let (tables, _) = resolve_table_references(statement, true)?;
            for table in tables {
                let found = MODELS.iter().position(|m| m.table().is_named_by(&table));
                out.extend(found);
            }
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The partition columns of the model's table.
    pub fn partition_columns(&self) -> Vec<String> {
        period::partition_columns(self.partitioned)
    }
}

macro_rules! model {
    ($layer:ident, $name:literal, $source:expr, $partitioned:expr) => {
        model!(@ $layer, $name, $source, $partitioned, (false, None), None, None)
    };
    ($layer:ident, $name:literal, $source:expr, $partitioned:expr, by_period($day:literal)) => {
        model!(@ $layer, $name, $source, $partitioned, (true, Some($day)), None, None)
    };
    ($layer:ident, $name:literal, $source:expr, $partitioned:expr, by_key($key:literal)) => {
        model!(@ $layer, $name, $source, $partitioned, (false, None), Some($key), None)
    };
    ($layer:ident, $name:literal, $source:expr, $partitioned:expr, cluster_key($key:literal)) => {
        model!(@ $layer, $name, $source, $partitioned, (false, None), None, Some($key))
    };
    (@ $layer:ident, $name:literal, $source:expr, $partitioned:expr, ($by_period:expr, $day:expr), $by_key:expr, $cluster_key:expr) => {
        Model {
            layer: Layer::$layer,
            name: $name,
            source: $source,
            partitioned: $partitioned,
            by_period: $by_period,
            day_column: $day,
            by_key: $by_key,
            cluster_key: $cluster_key,
            file: concat!("sql/", model!(@dir $layer), "/", $name, ".sql"),
            sql: include_str!(concat!("../../../sql/", model!(@dir $layer), "/", $name, ".sql")),
        }
    };
    (@dir Staging) => { "staging" };
    (@dir Trusted) => { "trusted" };
    (@dir Rejected) => { "rejected" };
    (@dir Analytic) => { "analytic" };
}

use SourceTable::{Clientes, DetalleVentas, Productos, Tiendas, Ventas};

/// Every model, in execution order.
pub const MODELS: [Model; 13] = [
    model!(Staging, "tiendas", Some(Tiendas), false),
    model!(Trusted, "tiendas", Some(Tiendas), false),
    model!(Staging, "productos", Some(Productos), false),
    model!(Trusted, "productos", Some(Productos), false),
    // These two staging models match a table's rows on its key only: on a
    // cluster, each range of the key is a task of its own, with no shuffle.
    model!(
        Staging,
        "clientes",
        Some(Clientes),
        false,
        cluster_key("id_cliente")
    ),
    model!(Trusted, "clientes", Some(Clientes), false),
    model!(
        Staging,
        "ventas",
        Some(Ventas),
        true,
        cluster_key("id_venta")
    ),
    model!(Trusted, "ventas", Some(Ventas), true),
    model!(Rejected, "ventas", Some(Ventas), true),
    // Its joins match lines to headers on id_venta: built a range at a time.
    model!(
        Staging,
        "detalle_ventas",
        Some(DetalleVentas),
        true,
        by_key("id_venta")
    ),
    model!(Trusted, "detalle_ventas", Some(DetalleVentas), true),
    model!(Rejected, "detalle_ventas", Some(DetalleVentas), true),
    // Every row is a day of one store: built a month at a time, or a few
    // days at a time when a month is large.
    model!(
        Analytic,
        "reporte_ventas_tienda",
        None,
        true,
        by_period("fecha")
    ),
];

/// The models whose tables are published (everything but staging).
pub fn published() -> impl Iterator<Item = &'static Model> {
    MODELS.iter().filter(|m| m.layer != Layer::Staging)
}

/// Every table the pipeline publishes, in order.
pub fn published_tables() -> Vec<TableRef> {
    published().map(Model::table).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_a_model() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql");
        let mut on_disk = Vec::new();
        for layer in ["staging", "trusted", "rejected", "analytic"] {
            for entry in std::fs::read_dir(format!("{root}/{layer}")).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                on_disk.push(format!("sql/{layer}/{name}"));
            }
        }
        on_disk.sort();
        let mut models: Vec<String> = MODELS.iter().map(|m| m.file.to_string()).collect();
        models.sort();
        assert_eq!(on_disk, models);
    }

    #[test]
    fn models_only_read_earlier_models() {
        for (i, model) in MODELS.iter().enumerate() {
            for d in model.dependencies().unwrap() {
                assert!(
                    d < i,
                    "{} reads {}, which runs later",
                    model.file,
                    MODELS[d].table()
                );
            }
        }
    }

    #[test]
    fn models_built_by_period_read_partitioned_models() {
        for model in MODELS.iter().filter(|m| m.by_period) {
            assert!(model.partitioned, "{} is not partitioned", model.file);
            let deps = model.dependencies().unwrap();
            assert!(
                deps.iter().any(|&d| MODELS[d].partitioned),
                "{} reads no partitioned model to take its months from",
                model.file
            );
        }
    }

    #[test]
    fn dependencies_are_the_tables_the_sql_reads() {
        let reads = |layer, name| {
            let model = MODELS
                .iter()
                .find(|m| m.layer == layer && m.name == name)
                .unwrap();
            let mut tables: Vec<String> = model
                .dependencies()
                .unwrap()
                .into_iter()
                .map(|d| MODELS[d].table().to_string())
                .collect();
            tables.sort();
            tables
        };
        // raw.* and the CTEs (`repeated`, `latest`) are no models.
        assert_eq!(reads(Layer::Staging, "ventas"), ["trusted.tiendas"]);
        assert_eq!(reads(Layer::Staging, "tiendas"), Vec::<String>::new());
        assert_eq!(reads(Layer::Trusted, "ventas"), ["staging.ventas"]);
        assert_eq!(
            reads(Layer::Rejected, "detalle_ventas"),
            ["staging.detalle_ventas"]
        );
        assert_eq!(
            reads(Layer::Staging, "detalle_ventas"),
            ["rejected.ventas", "trusted.productos", "trusted.ventas"]
        );
        let report = reads(Layer::Analytic, "reporte_ventas_tienda");
        assert!(
            report.contains(&"trusted.detalle_ventas".to_string()),
            "{report:?}"
        );
        assert!(
            report.iter().all(|t| t.starts_with("trusted.")),
            "{report:?}"
        );
    }
}
