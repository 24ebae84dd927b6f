//! The source model: the PostgreSQL tables a project extracts into raw,
//! each with its key, its watermark column, its personal-data columns and
//! the columns (with their Arrow types in the lake) its models were written
//! for. A project declares them (`[[sources]]` in `dfstore_project.toml`);
//! the built-in project declares the five tables of spec section 1.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::contract::layer::{is_identifier, quoted};

/// Arrow type of every `timestamptz` column: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The Arrow type the lake holds a PostgreSQL column of type `sql` in, for
/// the types an extraction reads (`bigint`, `integer`, `smallint`, `text`,
/// `varchar`, `char`, `boolean`, `date`, `numeric(p,s)`, `timestamptz`,
/// `timestamp`, and their catalog names such as `int8`).
pub fn arrow_type(sql: &str) -> Option<DataType> {
    let lower = sql.trim().to_ascii_lowercase();
    let (base, args) = match lower.split_once('(') {
        Some((base, rest)) => (base.trim(), Some(rest.trim_end_matches(')'))),
        None => (lower.as_str(), None),
    };
    let plain = |t: DataType| args.is_none().then_some(t);
    match base {
        "smallint" | "int2" => plain(DataType::Int16),
        "integer" | "int" | "int4" => plain(DataType::Int32),
        "bigint" | "int8" => plain(DataType::Int64),
        "text" | "varchar" | "character varying" | "char" | "character" | "bpchar" => {
            Some(DataType::Utf8)
        }
        "boolean" | "bool" => plain(DataType::Boolean),
        "date" => plain(DataType::Date32),
        "timestamptz" | "timestamp with time zone" => plain(timestamp_type()),
        "timestamp" | "timestamp without time zone" => {
            plain(DataType::Timestamp(TimeUnit::Microsecond, None))
        }
        "numeric" | "decimal" => {
            let (p, s) = args?.split_once(',')?;
            let precision: u8 = p.trim().parse().ok()?;
            let scale: i8 = s.trim().parse().ok()?;
            ((1..=38).contains(&precision) && (0..=precision as i8).contains(&scale))
                .then_some(DataType::Decimal128(precision, scale))
        }
        _ => None,
    }
}

/// `TYPE [NOT NULL]` (a declared column's text after its name) as the type
/// and whether it says NOT NULL.
pub fn type_and_not_null(text: &str) -> (&str, bool) {
    let trimmed = text.trim();
    match trimmed.to_ascii_uppercase().strip_suffix("NOT NULL") {
        Some(_) => (trimmed[..trimmed.len() - "NOT NULL".len()].trim(), true),
        None => (trimmed, false),
    }
}

/// A source table as a project declares it (a `[[sources]]` entry of
/// `dfstore_project.toml`), before it is checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDeclaration {
    /// The table's name in the lake (`raw.<name>`).
    pub name: String,
    /// The PostgreSQL schema holding it.
    pub schema: String,
    /// Its name in PostgreSQL (the lake name when not given).
    #[serde(default)]
    pub table: Option<String>,
    /// Its primary key columns.
    pub primary_key: Vec<String>,
    /// The `timestamptz` column holding each row's last change.
    pub watermark: String,
    /// Columns holding personal data, hashed before they leave staging.
    #[serde(default)]
    pub personal_data: Vec<String>,
    /// Its columns, in order: `name TYPE [NOT NULL]`.
    pub columns: Vec<String>,
}

/// A source table: cheap to clone, compared by its name.
#[derive(Clone)]
pub struct SourceTable(Arc<Source>);

#[derive(Debug)]
struct Source {
    name: String,
    schema_name: String,
    table_name: String,
    primary_key: Vec<String>,
    watermark: String,
    personal_data: Vec<String>,
    schema: SchemaRef,
}

impl SourceTable {
    /// Checks `declared`: its name and columns parse, and its key, watermark
    /// and personal-data columns are among its columns. The error says what
    /// to change.
    pub fn new(declared: SourceDeclaration) -> Result<Self, String> {
        let name = declared.name;
        if !is_identifier(&name) {
            return Err(format!(
                "source name `{name}` is no plain identifier; use lowercase letters, digits and _"
            ));
        }
        let mut fields = Vec::with_capacity(declared.columns.len());
        for text in &declared.columns {
            let field = column(text).map_err(|e| format!("source `{name}`: {e}"))?;
            if fields.iter().any(|f: &Field| f.name() == field.name()) {
                return Err(format!(
                    "source `{name}` declares column `{}` twice",
                    field.name()
                ));
            }
            fields.push(field);
        }
        let schema = Arc::new(Schema::new(fields));
        let missing = |what: &str, column: &str| {
            format!(
                "source `{name}`: {what} `{column}` is not among its columns; declare it in `columns` or fix the name"
            )
        };
        if declared.primary_key.is_empty() {
            return Err(format!(
                "source `{name}` has no primary key; add primary_key = [\"…\"]"
            ));
        }
        for key in &declared.primary_key {
            let field = schema
                .field_with_name(key)
                .map_err(|_| missing("primary key column", key))?;
            if field.is_nullable() {
                return Err(format!(
                    "source `{name}`: primary key column `{key}` must be declared NOT NULL"
                ));
            }
        }
        match schema.field_with_name(&declared.watermark) {
            Err(_) => return Err(missing("watermark", &declared.watermark)),
            Ok(f) if f.data_type() != &timestamp_type() => {
                return Err(format!(
                    "source `{name}`: watermark `{}` must be a timestamptz column",
                    declared.watermark
                ));
            }
            Ok(_) => {}
        }
        for column in &declared.personal_data {
            if schema.field_with_name(column).is_err() {
                return Err(missing("personal-data column", column));
            }
        }
        Ok(SourceTable(Arc::new(Source {
            table_name: declared.table.unwrap_or_else(|| name.clone()),
            name,
            schema_name: declared.schema,
            primary_key: declared.primary_key,
            watermark: declared.watermark,
            personal_data: declared.personal_data,
            schema,
        })))
    }

    /// The table's name in the lake (`raw.<name>`).
    pub fn name(&self) -> &str {
        &self.0.name
    }

    /// The PostgreSQL schema holding it.
    pub fn schema_name(&self) -> &str {
        &self.0.schema_name
    }

    /// Its name in PostgreSQL.
    pub fn table_name(&self) -> &str {
        &self.0.table_name
    }

    /// `schema.table` in PostgreSQL, each part quoted when it needs to be.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            quoted(&self.0.schema_name),
            quoted(&self.0.table_name)
        )
    }

    /// Primary key columns.
    pub fn primary_key(&self) -> &[String] {
        &self.0.primary_key
    }

    /// The column holding each row's last change.
    pub fn watermark(&self) -> &str {
        &self.0.watermark
    }

    /// Columns holding personal data.
    pub fn personal_data(&self) -> &[String] {
        &self.0.personal_data
    }

    /// The Arrow schema of the table as extracted into raw: the reference
    /// its models were written for.
    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.0.schema)
    }
}

/// `name TYPE [NOT NULL]` as an Arrow field.
fn column(text: &str) -> Result<Field, String> {
    let trimmed = text.trim();
    let Some((name, rest)) = trimmed.split_once(char::is_whitespace) else {
        return Err(format!(
            "column `{trimmed}` has no type; write e.g. \"{trimmed} bigint NOT NULL\""
        ));
    };
    let (sql, not_null) = type_and_not_null(rest);
    if !is_identifier(name) {
        return Err(format!(
            "column `{name}` is no plain identifier; use lowercase letters, digits and _"
        ));
    }
    let data_type = arrow_type(sql).ok_or_else(|| {
        format!(
            "column `{name}` has type `{sql}`, which an extraction cannot read; use bigint, integer, smallint, text, boolean, date, numeric(p,s), timestamptz or timestamp"
        )
    })?;
    Ok(Field::new(name, data_type, !not_null))
}

impl fmt::Debug for SourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceTable({})", self.name())
    }
}

impl fmt::Display for SourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl PartialEq for SourceTable {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for SourceTable {}

impl Hash for SourceTable {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

impl PartialOrd for SourceTable {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SourceTable {
    fn cmp(&self, other: &Self) -> Ordering {
        self.name().cmp(other.name())
    }
}

impl serde::Serialize for SourceTable {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// The source tables of a project, in the order it declares them
/// (dimensions before facts, by convention).
#[derive(Debug, Clone, Default)]
pub struct Sources(Vec<SourceTable>);

impl Sources {
    /// The tables `tables`, whose names differ.
    pub fn new(tables: Vec<SourceTable>) -> Result<Self, String> {
        for (i, t) in tables.iter().enumerate() {
            if tables[..i].contains(t) {
                return Err(format!("source `{t}` is declared twice; keep one"));
            }
        }
        Ok(Sources(tables))
    }

    /// Every table, in declaration order.
    pub fn all(&self) -> &[SourceTable] {
        &self.0
    }

    /// Every table, in declaration order.
    pub fn iter(&self) -> std::slice::Iter<'_, SourceTable> {
        self.0.iter()
    }

    /// The table named `name`.
    pub fn get(&self, name: &str) -> Option<&SourceTable> {
        self.0.iter().find(|t| t.name() == name)
    }

    /// The position of `name` in declaration order.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.0.iter().position(|t| t.name() == name)
    }

    /// The table named `name`, or an error listing the declared ones.
    pub fn find(&self, name: &str) -> Result<&SourceTable, String> {
        self.get(name).ok_or_else(|| {
            let names: Vec<&str> = self.0.iter().map(|t| t.name()).collect();
            if names.is_empty() {
                format!(
                    "unknown source table `{name}`: the project declares none; add a [[sources]] entry to dfstore_project.toml"
                )
            } else {
                format!(
                    "unknown source table `{name}`; the project declares {}",
                    names.join(", ")
                )
            }
        })
    }
}

impl<'a> IntoIterator for &'a Sources {
    type Item = &'a SourceTable;
    type IntoIter = std::slice::Iter<'a, SourceTable>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn declared(columns: &[&str]) -> SourceDeclaration {
        SourceDeclaration {
            name: "devoluciones".into(),
            schema: "retail".into(),
            table: None,
            primary_key: vec!["id_devolucion".into()],
            watermark: "actualizado_en".into(),
            personal_data: vec![],
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
        }
    }

    #[test]
    fn a_declaration_becomes_the_raw_schema() {
        let t = SourceTable::new(declared(&[
            "id_devolucion bigint NOT NULL",
            "monto numeric(12, 2)",
            "actualizado_en timestamptz not null",
        ]))
        .unwrap();
        let s = t.schema();
        assert_eq!(s.field(0).data_type(), &DataType::Int64);
        assert!(!s.field(0).is_nullable());
        assert_eq!(s.field(1).data_type(), &DataType::Decimal128(12, 2));
        assert!(s.field(1).is_nullable());
        assert_eq!(s.field(2).data_type(), &timestamp_type());
        assert_eq!(t.qualified(), "retail.devoluciones");
    }

    #[test]
    fn a_bad_declaration_says_what_to_change() {
        let no_key = SourceTable::new(declared(&["actualizado_en timestamptz NOT NULL"]));
        assert!(
            no_key
                .unwrap_err()
                .contains("primary key column `id_devolucion`")
        );
        let nullable_key = SourceTable::new(declared(&[
            "id_devolucion bigint",
            "actualizado_en timestamptz NOT NULL",
        ]));
        assert!(nullable_key.unwrap_err().contains("NOT NULL"));
        let bad_type = SourceTable::new(declared(&["id_devolucion money NOT NULL"]));
        assert!(bad_type.unwrap_err().contains("type `money`"));
        let mark = SourceTable::new(declared(&[
            "id_devolucion bigint NOT NULL",
            "actualizado_en date",
        ]));
        assert!(mark.unwrap_err().contains("timestamptz"));
    }
}
