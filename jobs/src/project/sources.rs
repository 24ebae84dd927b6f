//! `[[sources]]` in `dfstore_project.toml`: the PostgreSQL tables a project
//! extracts into raw, each checked where it is declared.

use crate::contract::source::{SourceDeclaration, SourceTable, Sources};
use crate::error::Result;
use crate::project::header::{at, line_at};

/// The sources `entries` declare in the project file `file` (whose text is
/// `text`); a mistake is an error at the entry's line.
pub fn declared(
    file: &str,
    text: &str,
    entries: &[toml::Spanned<SourceDeclaration>],
) -> Result<Sources> {
    let mut tables = Vec::with_capacity(entries.len());
    for entry in entries {
        let line = line_at(text, entry.span().start);
        let table = SourceTable::new(entry.get_ref().clone()).map_err(|m| at(file, line, m))?;
        tables.push(table);
    }
    let line = entries.last().map_or(1, |e| line_at(text, e.span().start));
    Sources::new(tables).map_err(|m| at(file, line, m))
}
