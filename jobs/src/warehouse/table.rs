//! The warehouse table of spec section 4 and the load audit table: their
//! definitions in each dialect, and the check of an existing table against
//! the spec before anything is written.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::error::{Error, Result};
use crate::warehouse::sums::literal;
use crate::warehouse::target::{Dialect, Warehouse};

/// The report's table, in the warehouse as in the lake.
pub const REPORT: &str = "reporte_ventas_tienda";
/// The load audit table: one row per period loaded.
pub const AUDIT: &str = "dfstore_cargas";

/// The kind of a column of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `date`.
    Date,
    /// `text` (`varchar` in Redshift).
    Text,
    /// `integer`.
    Integer,
    /// `bigint`.
    Bigint,
    /// `numeric(18,2)`.
    Money,
}

impl Kind {
    /// The type in `CREATE TABLE`.
    fn ddl(self, dialect: &Dialect) -> &'static str {
        match (self, dialect) {
            (Kind::Date, _) => "date",
            (Kind::Text, Dialect::Postgres) => "text",
            (Kind::Text, Dialect::Redshift { .. }) => "varchar(256)",
            (Kind::Integer, _) => "integer",
            (Kind::Bigint, _) => "bigint",
            (Kind::Money, _) => "numeric(18,2)",
        }
    }

    /// Whether `information_schema.columns` describes this kind.
    fn matches(self, data_type: &str, precision: Option<i32>, scale: Option<i32>) -> bool {
        match self {
            Kind::Date => data_type == "date",
            Kind::Text => matches!(data_type, "text" | "character varying"),
            Kind::Integer => data_type == "integer",
            Kind::Bigint => data_type == "bigint",
            Kind::Money => data_type == "numeric" && precision == Some(18) && scale == Some(2),
        }
    }

    /// The type in binary `COPY`.
    pub fn wire(self) -> Type {
        match self {
            Kind::Date => Type::DATE,
            Kind::Text => Type::TEXT,
            Kind::Integer => Type::INT4,
            Kind::Bigint => Type::INT8,
            Kind::Money => Type::NUMERIC,
        }
    }

    /// As a person reads it.
    fn shown(self) -> &'static str {
        match self {
            Kind::Date => "date",
            Kind::Text => "text",
            Kind::Integer => "integer",
            Kind::Bigint => "bigint",
            Kind::Money => "numeric(18,2)",
        }
    }
}

/// The columns of `reporte_ventas_tienda`, in the lake's order.
pub const COLUMNS: [(&str, Kind); 17] = [
    ("fecha", Kind::Date),
    ("periodo", Kind::Text),
    ("id_tienda", Kind::Integer),
    ("codigo_tienda", Kind::Text),
    ("nombre_tienda", Kind::Text),
    ("ciudad", Kind::Text),
    ("region", Kind::Text),
    ("formato", Kind::Text),
    ("num_ventas", Kind::Bigint),
    ("num_clientes", Kind::Bigint),
    ("unidades", Kind::Bigint),
    ("venta_bruta", Kind::Money),
    ("descuento_total", Kind::Money),
    ("venta_neta", Kind::Money),
    ("costo_total", Kind::Money),
    ("margen_bruto", Kind::Money),
    ("ticket_promedio", Kind::Money),
];

/// The column names, comma-separated, in order.
pub fn column_list() -> String {
    COLUMNS.map(|(name, _)| name).join(", ")
}

/// `CREATE SCHEMA` and `CREATE TABLE` of the report and the audit, each
/// only if missing.
pub fn create_statements(wh: &Warehouse) -> Vec<String> {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(name, kind)| format!("    {name} {} NOT NULL", kind.ddl(&wh.dialect)))
        .collect();
    let text = Kind::Text.ddl(&wh.dialect);
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {}", wh.schema),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n{},\n    PRIMARY KEY (fecha, id_tienda)\n)",
            wh.qualified(REPORT),
            columns.join(",\n")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n    id_carga {text} NOT NULL,\n    cargado_en timestamptz NOT NULL,\n    version_lago bigint NOT NULL,\n    run_id {text},\n    periodo {text} NOT NULL,\n    filas bigint NOT NULL,\n    num_ventas numeric(38,0) NOT NULL,\n    unidades numeric(38,0) NOT NULL,\n    venta_neta numeric(38,2) NOT NULL,\n    costo_total numeric(38,2) NOT NULL,\n    margen_bruto numeric(38,2) NOT NULL,\n    PRIMARY KEY (id_carga, periodo)\n)",
            wh.qualified(AUDIT)
        ),
    ]
}

/// Checks an existing report table against spec section 4: every column
/// present with its type (extra columns are left alone). A table that does
/// not exist yet passes; it is created afterwards. The names are literals,
/// not bound parameters, as in every statement of a load: nothing is left
/// for Redshift to infer a parameter's type from.
pub async fn check(wh: &Warehouse, client: &Client) -> Result<()> {
    let sql = format!(
        "SELECT column_name::text, data_type::text, numeric_precision::int4, numeric_scale::int4 \
         FROM information_schema.columns WHERE table_schema = {} AND table_name = {}",
        literal(&wh.schema),
        literal(REPORT)
    );
    let rows = client.query(&sql, &[]).await.map_err(|e| wh.db.error(&e))?;
    if rows.is_empty() {
        return Ok(());
    }
    let table = wh.qualified(REPORT);
    for (name, kind) in COLUMNS {
        let found = rows.iter().find(|r| r.get::<_, String>(0) == name);
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
                table,
                column: name.to_string(),
                expected: kind.shown().to_string(),
                found,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_dialects_create_the_spec_s_columns() {
        for (url, text) in [
            ("postgresql://u@h/db", "codigo_tienda text NOT NULL"),
            ("redshift://u@h/db", "codigo_tienda varchar(256) NOT NULL"),
        ] {
            let wh = Warehouse::parse(url, None).unwrap();
            let ddl = create_statements(&wh);
            assert_eq!(ddl[0], "CREATE SCHEMA IF NOT EXISTS analytic");
            assert!(ddl[1].contains(text), "{}", ddl[1]);
            assert!(ddl[1].contains("margen_bruto numeric(18,2) NOT NULL"));
            assert!(ddl[1].contains("PRIMARY KEY (fecha, id_tienda)"));
            assert!(ddl[2].contains("analytic.dfstore_cargas"));
        }
        assert!(column_list().starts_with("fecha, periodo, id_tienda,"));
    }

    #[test]
    fn kinds_match_what_information_schema_says() {
        assert!(Kind::Money.matches("numeric", Some(18), Some(2)));
        assert!(!Kind::Money.matches("numeric", Some(12), Some(2)));
        assert!(!Kind::Money.matches("text", None, None));
        assert!(Kind::Text.matches("character varying", None, None));
        assert!(!Kind::Bigint.matches("integer", Some(32), Some(0)));
    }
}
