//! Data tests and contracts, as declared: each test is a query returning the
//! rows that fail it (dbt's convention), and a contract the columns, types
//! and NOT NULLs a model promises. Running them is the pipeline's work.

use crate::contract::layer::{TableRef, quoted};
use crate::contract::source::type_and_not_null;
use crate::project::header::Severity;

/// What a data test checks.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// The column is never NULL.
    NotNull(String),
    /// The combination of the columns is unique (rows with a NULL in them
    /// are not compared, as in dbt).
    Unique(Vec<String>),
    /// The column holds only these values (SQL literals); NULL passes.
    AcceptedValues {
        /// The column.
        column: String,
        /// The values, as SQL literals.
        values: Vec<String>,
    },
    /// Every non-NULL value of `column` is a `field` of `to`.
    Relationships {
        /// This model's column.
        column: String,
        /// The table referred to.
        to: TableRef,
        /// Its column.
        field: String,
    },
    /// A query of the user's, returning the failing rows.
    Sql {
        /// The query.
        sql: String,
        /// The tables it reads.
        reads: Vec<TableRef>,
    },
}

/// One data test.
#[derive(Debug, Clone, PartialEq)]
pub struct DataTest {
    /// Its name in the manifest and in errors, e.g.
    /// `not_null(analytic.reporte_ventas_tienda.fecha)`.
    pub name: String,
    /// The check.
    pub check: Check,
    /// Error or warn.
    pub severity: Severity,
    /// Where it is declared (`file:line`).
    pub location: String,
}

impl DataTest {
    /// The query returning the rows of `table` that fail the test.
    pub fn failing_rows(&self, table: &TableRef) -> String {
        match &self.check {
            Check::NotNull(column) => {
                format!("SELECT * FROM {table} WHERE {} IS NULL", quoted(column))
            }
            Check::Unique(columns) => {
                let list = columns.iter().map(|c| quoted(c)).collect::<Vec<_>>();
                let not_null = list
                    .iter()
                    .map(|c| format!("{c} IS NOT NULL"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                let list = list.join(", ");
                format!(
                    "SELECT {list}, COUNT(*) AS repeated FROM {table} WHERE {not_null} \
                     GROUP BY {list} HAVING COUNT(*) > 1"
                )
            }
            Check::AcceptedValues { column, values } => format!(
                "SELECT * FROM {table} WHERE {c} IS NOT NULL AND {c} NOT IN ({})",
                values.join(", "),
                c = quoted(column)
            ),
            Check::Relationships { column, to, field } => format!(
                "SELECT c.* FROM {table} AS c LEFT JOIN (SELECT DISTINCT {f} AS k FROM {to}) AS p \
                 ON c.{col} = p.k WHERE c.{col} IS NOT NULL AND p.k IS NULL",
                f = quoted(field),
                col = quoted(column),
            ),
            Check::Sql { .. } => self.standalone().unwrap_or_default(),
        }
    }

    /// The query of a SQL test under `tests/`, which names its own tables
    /// (`None` for a test of a model's rows).
    pub fn standalone(&self) -> Option<String> {
        match &self.check {
            Check::Sql { sql, .. } => Some(sql.trim().trim_end_matches(';').to_string()),
            _ => None,
        }
    }

    /// The tables the test reads besides its model's (every table, for a
    /// SQL test).
    pub fn other_tables(&self) -> Vec<TableRef> {
        match &self.check {
            Check::Relationships { to, .. } => vec![to.clone()],
            Check::Sql { reads, .. } => reads.clone(),
            _ => Vec::new(),
        }
    }
}

/// A column promised by a contract.
#[derive(Debug, Clone, PartialEq)]
pub struct ContractColumn {
    /// Its name.
    pub name: String,
    /// Its SQL type, e.g. `DECIMAL(14, 2)`.
    pub sql_type: String,
    /// Whether it never holds NULL (checked on the rows the run writes).
    pub not_null: bool,
}

/// The columns a model promises, checked against its planned schema before
/// any data is read.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    /// The columns.
    pub columns: Vec<ContractColumn>,
    /// Where it is declared (`file:line`).
    pub location: String,
}

impl ContractColumn {
    /// Reads `TYPE [NOT NULL]`.
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let (sql_type, not_null) = type_and_not_null(text);
        if sql_type.is_empty() {
            return Err(format!(
                "column `{name}` has no type; write e.g. `{name} = \"BIGINT NOT NULL\"`"
            ));
        }
        Ok(ContractColumn {
            name: name.to_string(),
            sql_type: sql_type.to_string(),
            not_null,
        })
    }
}

/// A TOML value as a SQL literal, or why it cannot be one.
pub fn literal(value: &toml::Value) -> Result<String, String> {
    match value {
        toml::Value::String(s) => Ok(format!("'{}'", s.replace('\'', "''"))),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        toml::Value::Datetime(d) => Ok(format!("'{d}'")),
        other => Err(format!(
            "`{other:?}` is no SQL value; use strings, numbers or booleans"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::layer::Layer;

    fn test(check: Check) -> DataTest {
        DataTest {
            name: "t".into(),
            check,
            severity: Severity::Error,
            location: "x.sql:1".into(),
        }
    }

    #[test]
    fn failing_rows_queries() {
        let t = TableRef::new(Layer::Analytic, "r");
        assert_eq!(
            test(Check::NotNull("a".into())).failing_rows(&t),
            "SELECT * FROM analytic.r WHERE a IS NULL"
        );
        assert_eq!(
            test(Check::AcceptedValues {
                column: "Estado".into(),
                values: vec!["'A'".into(), "'B'".into()]
            })
            .failing_rows(&t),
            "SELECT * FROM analytic.r WHERE \"Estado\" IS NOT NULL AND \"Estado\" NOT IN ('A', 'B')"
        );
        assert!(
            test(Check::Unique(vec!["a".into(), "b".into()]))
                .failing_rows(&t)
                .contains("GROUP BY a, b HAVING COUNT(*) > 1")
        );
    }

    #[test]
    fn contract_columns_parse() {
        let c = ContractColumn::parse("x", "decimal(14, 2) not null").unwrap();
        assert_eq!(c.sql_type, "decimal(14, 2)");
        assert!(c.not_null);
        assert!(!ContractColumn::parse("x", "DATE").unwrap().not_null);
        assert!(ContractColumn::parse("x", " NOT NULL").is_err());
    }

    #[test]
    fn literals() {
        assert_eq!(
            literal(&toml::Value::String("it's".into())).unwrap(),
            "'it''s'"
        );
        assert_eq!(literal(&toml::Value::Integer(3)).unwrap(), "3");
        assert!(literal(&toml::Value::Array(vec![])).is_err());
    }
}
