//! `[[sources]]` in `dfstore_project.toml`: the PostgreSQL tables a project
//! extracts into raw, each checked where it is declared.

use serde::Deserialize;

use crate::contract::source::{SourceDeclaration, SourceTable, Sources};
use crate::error::Result;
use crate::project::header::{at, line_at};

/// One `[[sources]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceEntry {
    /// The table's name in the lake (`raw.<name>`).
    pub name: String,
    /// The PostgreSQL schema holding it.
    pub schema: String,
    /// Its name in PostgreSQL, when it differs from `name`.
    #[serde(default)]
    pub table: Option<String>,
    /// Its primary key columns.
    pub primary_key: Vec<String>,
    /// The `timestamptz` column holding each row's last change.
    pub watermark: String,
    /// Columns holding personal data.
    #[serde(default)]
    pub personal_data: Vec<String>,
    /// Its columns, in order: `name TYPE [NOT NULL]`.
    pub columns: Vec<String>,
}

/// The sources `entries` declare in the project file `file` (whose text is
/// `text`); a mistake is an error at the entry's line.
pub fn declared(file: &str, text: &str, entries: &[toml::Spanned<SourceEntry>]) -> Result<Sources> {
    let mut tables = Vec::with_capacity(entries.len());
    for entry in entries {
        let line = line_at(text, entry.span().start);
        let e = entry.get_ref().clone();
        let declared = SourceDeclaration {
            name: e.name,
            schema: e.schema,
            table: e.table,
            primary_key: e.primary_key,
            watermark: e.watermark,
            personal_data: e.personal_data,
            columns: e.columns,
        };
        tables.push(SourceTable::new(declared).map_err(|m| at(file, line, m))?);
    }
    let line = entries.last().map_or(1, |e| line_at(text, e.span().start));
    Sources::new(tables).map_err(|m| at(file, line, m))
}
