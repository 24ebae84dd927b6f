//! A loaded model's warehouse table and the load audit table: their
//! definitions in each dialect, drawn from the model's contract and its
//! published schema, and the check of an existing table before anything is
//! written.

use arrow::datatypes::{DataType, Schema, TimeUnit};
use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::PERIOD_COLUMN;
use crate::error::{Error, Result};
use crate::project::Model;
use crate::warehouse::sums::literal;
use crate::warehouse::target::{Dialect, Warehouse};

/// The model `dfstore load` loads unless told otherwise.
pub fn report() -> TableRef {
    TableRef::new(Layer::Analytic, "reporte_ventas_tienda")
}

/// The load audit table: one row per table and period loaded.
pub const AUDIT: &str = "dfstore_cargas";

/// The kind of a column of a loaded table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `date`.
    Date,
    /// `text` (`varchar(256)` in Redshift).
    Text,
    /// `smallint`.
    Smallint,
    /// `integer`.
    Integer,
    /// `bigint`.
    Bigint,
    /// `boolean`.
    Boolean,
    /// `numeric(precision, scale)`.
    Decimal(u8, i8),
    /// `timestamptz`.
    Timestamp,
}

impl Kind {
    /// The kind of a lake column, or `None` for one the load cannot carry.
    fn of(data_type: &DataType) -> Option<Kind> {
        Some(match data_type {
            DataType::Date32 => Kind::Date,
            DataType::Utf8 | DataType::Utf8View => Kind::Text,
            DataType::Int16 => Kind::Smallint,
            DataType::Int32 => Kind::Integer,
            DataType::Int64 => Kind::Bigint,
            DataType::Boolean => Kind::Boolean,
            DataType::Decimal128(p, s) => Kind::Decimal(*p, *s),
            DataType::Timestamp(TimeUnit::Microsecond, Some(_)) => Kind::Timestamp,
            _ => return None,
        })
    }

    /// The type in `CREATE TABLE`.
    pub(crate) fn ddl(self, dialect: &Dialect) -> String {
        match (self, dialect) {
            (Kind::Text, Dialect::Redshift { .. }) => "varchar(256)".into(),
            (kind, _) => kind.shown(),
        }
    }

    /// Whether `information_schema.columns` describes this kind.
    fn matches(self, data_type: &str, precision: Option<i32>, scale: Option<i32>) -> bool {
        match self {
            Kind::Date => data_type == "date",
            Kind::Text => matches!(data_type, "text" | "character varying"),
            Kind::Smallint => data_type == "smallint",
            Kind::Integer => data_type == "integer",
            Kind::Bigint => data_type == "bigint",
            Kind::Boolean => data_type == "boolean",
            Kind::Decimal(p, s) => {
                data_type == "numeric"
                    && precision == Some(i32::from(p))
                    && scale == Some(i32::from(s))
            }
            Kind::Timestamp => data_type == "timestamp with time zone",
        }
    }

    /// The type in binary `COPY`.
    pub fn wire(self) -> Type {
        match self {
            Kind::Date => Type::DATE,
            Kind::Text => Type::TEXT,
            Kind::Smallint => Type::INT2,
            Kind::Integer => Type::INT4,
            Kind::Bigint => Type::INT8,
            Kind::Boolean => Type::BOOL,
            Kind::Decimal(..) => Type::NUMERIC,
            Kind::Timestamp => Type::TIMESTAMPTZ,
        }
    }

    /// As a person reads it.
    fn shown(self) -> String {
        match self {
            Kind::Date => "date".into(),
            Kind::Text => "text".into(),
            Kind::Smallint => "smallint".into(),
            Kind::Integer => "integer".into(),
            Kind::Bigint => "bigint".into(),
            Kind::Boolean => "boolean".into(),
            Kind::Decimal(p, s) => format!("numeric({p},{s})"),
            Kind::Timestamp => "timestamptz".into(),
        }
    }

    /// Whether its per-period sum is reconciled: integers and decimals,
    /// whose sums are exact.
    fn summed(self) -> bool {
        matches!(
            self,
            Kind::Smallint | Kind::Integer | Kind::Bigint | Kind::Decimal(..)
        )
    }
}

/// One column of a loaded table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: Kind,
    /// Whether the contract declares it `NOT NULL`.
    pub not_null: bool,
}

/// The warehouse table a published model is loaded into: named as the
/// model, in the warehouse URL's schema, with the model's published columns
/// in their order, its contract's `NOT NULL`s, its unique key as the
/// primary key, replaced and reconciled a `periodo` at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedTable {
    /// The model's table in the lake.
    pub lake: TableRef,
    /// The columns, in the lake's order.
    pub columns: Vec<Column>,
    /// The primary key: the model's unique key.
    pub key: Vec<String>,
    /// The columns summed per period to reconcile the load: the integer
    /// and decimal columns outside the key.
    pub measures: Vec<String>,
}

impl LoadedTable {
    /// The table of `model`, whose published version has `schema`. The
    /// model must declare a unique key, a contract, and `periodo` as its
    /// partition; every contract column must be in `schema`.
    pub fn of(model: &Model, schema: &Schema) -> Result<Self> {
        let table = model.table();
        let refuse = |reason: String| Error::InvalidArgument {
            flag: "--table".into(),
            reason: format!("{table} ({}) cannot be loaded: {reason}", model.file),
        };
        if model.unique_key.is_empty() {
            return Err(refuse(
                "it declares no unique_key; add `unique_key = [...]` to its header (the warehouse table's primary key)".into(),
            ));
        }
        if !model.partitioned {
            return Err(refuse(format!(
                "it is not partitioned by {PERIOD_COLUMN}; add `partition_by = \"{PERIOD_COLUMN}\"` to its header (a load replaces a {PERIOD_COLUMN} at a time)"
            )));
        }
        let Some(contract) = &model.contract else {
            return Err(refuse(
                "it declares no contract; add a [contract.columns] table to its header (the warehouse table's columns and NOT NULLs)".into(),
            ));
        };
        let mut columns = Vec::new();
        for field in schema.fields() {
            let declared = contract.columns.iter().find(|c| &c.name == field.name());
            let Some(declared) = declared else {
                return Err(refuse(format!(
                    "its published version has a column `{}` its contract lacks; run it again (`dfstore run --select {table}`) so that the lake meets the contract",
                    field.name()
                )));
            };
            let kind = Kind::of(field.data_type()).ok_or_else(|| {
                refuse(format!(
                    "column `{}` is {}, which a warehouse load does not carry; cast it to DECIMAL, BIGINT, VARCHAR, DATE, BOOLEAN or TIMESTAMP in its SQL",
                    field.name(),
                    field.data_type()
                ))
            })?;
            columns.push(Column {
                name: field.name().clone(),
                kind,
                not_null: declared.not_null,
            });
        }
        if let Some(missing) = contract
            .columns
            .iter()
            .find(|c| !columns.iter().any(|k| k.name == c.name))
        {
            return Err(refuse(format!(
                "its contract declares `{}` but its published version lacks it; run it again (`dfstore run --select {table}`)",
                missing.name
            )));
        }
        let measures = columns
            .iter()
            .filter(|c| c.kind.summed() && !model.unique_key.contains(&c.name))
            .map(|c| c.name.clone())
            .collect();
        Ok(LoadedTable {
            lake: table,
            columns,
            key: model.unique_key.clone(),
            measures,
        })
    }

    /// Its name in the warehouse: the model's.
    pub fn name(&self) -> &str {
        &self.lake.name
    }

    /// The column names, comma-separated, in order.
    pub fn column_list(&self) -> String {
        let names: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        names.join(", ")
    }

    /// `CREATE SCHEMA`, and `CREATE TABLE` of the table and of the audit,
    /// each only if missing.
    pub fn create_statements(&self, wh: &Warehouse) -> Vec<String> {
        let columns: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let null = if c.not_null { " NOT NULL" } else { "" };
                format!("    {} {}{null}", c.name, c.kind.ddl(&wh.dialect))
            })
            .collect();
        let text = Kind::Text.ddl(&wh.dialect);
        let long_text = match wh.dialect {
            Dialect::Postgres => "text",
            Dialect::Redshift { .. } => "varchar(65535)",
        };
        vec![
            format!("CREATE SCHEMA IF NOT EXISTS {}", wh.schema),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n{},\n    PRIMARY KEY ({})\n)",
                wh.qualified(self.name()),
                columns.join(",\n"),
                self.key.join(", ")
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\n    id_carga {text} NOT NULL,\n    cargado_en timestamptz NOT NULL,\n    tabla {text} NOT NULL,\n    version_lago bigint NOT NULL,\n    run_id {text},\n    periodo {text} NOT NULL,\n    filas bigint NOT NULL,\n    sumas {long_text} NOT NULL,\n    PRIMARY KEY (id_carga, tabla, periodo)\n)",
                wh.qualified(AUDIT)
            ),
        ]
    }

    /// Checks an existing warehouse table against the model (every column
    /// present with its kind; extra columns are left alone), and an
    /// existing audit table for the columns a load writes. A table that
    /// does not exist yet passes; it is created afterwards. The names are
    /// literals, not bound parameters, as in every statement of a load:
    /// nothing is left for Redshift to infer a parameter's type from.
    pub async fn check(&self, wh: &Warehouse, client: &Client) -> Result<()> {
        let audit_columns = [
            ("tabla", Kind::Text),
            ("version_lago", Kind::Bigint),
            ("periodo", Kind::Text),
            ("filas", Kind::Bigint),
            ("sumas", Kind::Text),
        ];
        let ours: Vec<(&str, Kind)> = self
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind))
            .collect();
        check_columns(wh, client, self.name(), &ours).await?;
        check_columns(wh, client, AUDIT, &audit_columns).await
    }
}

/// Checks that the warehouse table `name`, if it exists, has `columns`.
async fn check_columns(
    wh: &Warehouse,
    client: &Client,
    name: &str,
    columns: &[(&str, Kind)],
) -> Result<()> {
    let sql = format!(
        "SELECT column_name::text, data_type::text, numeric_precision::int4, numeric_scale::int4 \
         FROM information_schema.columns WHERE table_schema = {} AND table_name = {}",
        literal(&wh.schema),
        literal(name)
    );
    let rows = client.query(&sql, &[]).await.map_err(|e| wh.db.error(&e))?;
    if rows.is_empty() {
        return Ok(());
    }
    for (column, kind) in columns {
        let found = rows.iter().find(|r| r.get::<_, String>(0) == *column);
        let problem = match found {
            None => Some("missing".to_string()),
            Some(row) => {
                let data_type: String = row.get(1);
                let (precision, scale): (Option<i32>, Option<i32>) = (row.get(2), row.get(3));
                (!kind.matches(&data_type, precision, scale)).then(|| match (precision, scale) {
                    (Some(p), Some(s)) if data_type == "numeric" => format!("numeric({p},{s})"),
                    _ => data_type,
                })
            }
        };
        if let Some(found) = problem {
            return Err(Error::WarehouseSchema {
                table: wh.qualified(name),
                column: column.to_string(),
                expected: kind.shown(),
                found,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::project::Project;
    use arrow::datatypes::Field;

    pub(crate) fn report_table() -> LoadedTable {
        let project = Project::builtin().unwrap();
        let model = project.model(&report()).unwrap();
        let schema = Schema::new(vec![
            Field::new("fecha", DataType::Date32, true),
            Field::new("periodo", DataType::Utf8, true),
            Field::new("id_tienda", DataType::Int32, true),
            Field::new("codigo_tienda", DataType::Utf8, true),
            Field::new("nombre_tienda", DataType::Utf8, true),
            Field::new("ciudad", DataType::Utf8, true),
            Field::new("region", DataType::Utf8, true),
            Field::new("formato", DataType::Utf8, true),
            Field::new("num_ventas", DataType::Int64, true),
            Field::new("num_clientes", DataType::Int64, true),
            Field::new("unidades", DataType::Int64, true),
            Field::new("venta_bruta", DataType::Decimal128(18, 2), true),
            Field::new("descuento_total", DataType::Decimal128(18, 2), true),
            Field::new("venta_neta", DataType::Decimal128(18, 2), true),
            Field::new("costo_total", DataType::Decimal128(18, 2), true),
            Field::new("margen_bruto", DataType::Decimal128(18, 2), true),
            Field::new("ticket_promedio", DataType::Decimal128(18, 2), true),
        ]);
        LoadedTable::of(model, &schema).unwrap()
    }

    #[test]
    fn the_report_s_table_is_spec_section_4_in_both_dialects() {
        let table = report_table();
        assert_eq!(table.key, ["fecha", "id_tienda"]);
        assert_eq!(
            table.measures,
            [
                "num_ventas",
                "num_clientes",
                "unidades",
                "venta_bruta",
                "descuento_total",
                "venta_neta",
                "costo_total",
                "margen_bruto",
                "ticket_promedio"
            ]
        );
        for (url, text) in [
            ("postgresql://u@h/db", "codigo_tienda text NOT NULL"),
            ("redshift://u@h/db", "codigo_tienda varchar(256) NOT NULL"),
        ] {
            let wh = Warehouse::parse(url, None).unwrap();
            let ddl = table.create_statements(&wh);
            assert_eq!(ddl[0], "CREATE SCHEMA IF NOT EXISTS analytic");
            assert!(ddl[1].contains(text), "{}", ddl[1]);
            assert!(ddl[1].contains("margen_bruto numeric(18,2) NOT NULL"));
            assert!(ddl[1].contains("PRIMARY KEY (fecha, id_tienda)"));
            assert!(ddl[2].contains("analytic.dfstore_cargas"));
            assert!(ddl[2].contains("PRIMARY KEY (id_carga, tabla, periodo)"));
        }
        assert!(
            table
                .column_list()
                .starts_with("fecha, periodo, id_tienda,")
        );
    }

    #[test]
    fn a_model_without_what_a_load_needs_is_refused_by_name() {
        let project = Project::builtin().unwrap();
        let staging = project.model(&"trusted.tiendas".parse().unwrap()).unwrap();
        let schema = Schema::new(vec![Field::new("id_tienda", DataType::Int32, true)]);
        let error = LoadedTable::of(staging, &schema).unwrap_err().to_string();
        assert!(
            error.contains("--table") && error.contains("trusted.tiendas"),
            "{error}"
        );
        let mut report = (**project.model(&report()).unwrap()).clone();
        let float = Schema::new(vec![Field::new("fecha", DataType::Float64, true)]);
        let error = LoadedTable::of(&report, &float).unwrap_err().to_string();
        assert!(error.contains("`fecha` is Float64"), "{error}");
        report.contract = None;
        let error = LoadedTable::of(&report, &float).unwrap_err().to_string();
        assert!(error.contains("declares no contract"), "{error}");
    }

    #[test]
    fn kinds_match_what_information_schema_says() {
        let money = Kind::Decimal(18, 2);
        assert!(money.matches("numeric", Some(18), Some(2)));
        assert!(!money.matches("numeric", Some(12), Some(2)));
        assert!(!money.matches("text", None, None));
        assert!(Kind::Text.matches("character varying", None, None));
        assert!(!Kind::Bigint.matches("integer", Some(32), Some(0)));
        assert_eq!(Kind::of(&DataType::Float64), None);
    }
}
