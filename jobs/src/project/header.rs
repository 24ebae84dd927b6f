//! A model's configuration: TOML in a leading block comment of its SQL file
//! (`/* dfstore … */`), so that the file stays plain SQL that `dfstore sql
//! -f` runs as it is. A file without that comment is a `table` with every
//! default. An unknown key or a wrong value is an error at its line.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The marker that opens a model's configuration comment.
pub const MARKER: &str = "/* dfstore";

/// How a model is written (dbt's `materialized`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Materialized {
    /// A Delta table, rebuilt and published by every run that selects it.
    #[default]
    Table,
    /// A view over the published tables: planned by each reader (`dfstore
    /// sql`, `serve`, the models after it), never stored.
    View,
    /// Inlined into the models that read it: visible to them during a run
    /// only, neither stored nor queryable afterwards.
    Ephemeral,
    /// A Delta table that a run after the first rebuilds only for the
    /// values of the first `unique_key` column found in the extractions it
    /// has not consumed, merged into the table by that key
    /// ([`crate::pipeline::increment`]).
    IncrementalByKey,
    /// A Delta table, partitioned and built by period, that a run after the
    /// first rebuilds only for the periods its inputs changed.
    IncrementalByPeriod,
}

impl Materialized {
    /// Whether the model's rows are written by a run.
    pub fn is_stored(self) -> bool {
        matches!(
            self,
            Materialized::Table
                | Materialized::IncrementalByKey
                | Materialized::IncrementalByPeriod
        )
    }

    /// The name a header writes.
    pub fn name(self) -> &'static str {
        match self {
            Materialized::Table => "table",
            Materialized::View => "view",
            Materialized::Ephemeral => "ephemeral",
            Materialized::IncrementalByKey => "incremental_by_key",
            Materialized::IncrementalByPeriod => "incremental_by_period",
        }
    }
}

/// How bad a failing data test is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The run fails and publishes nothing.
    #[default]
    Error,
    /// The run goes on; the manifest records the failing rows.
    Warn,
}

/// `accepted_values = { column = "…", values = […] }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedValues {
    /// The column.
    pub column: String,
    /// The values it may hold (NULL is left to `not_null`).
    pub values: Vec<toml::Value>,
}

/// `relationships = { column = "…", to = "layer.table", field = "…" }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relationship {
    /// The column of this model.
    pub column: String,
    /// The table every value must be found in.
    pub to: String,
    /// Its column.
    pub field: String,
}

/// One `[[tests]]` entry: exactly one kind, and a severity.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestEntry {
    /// Columns that must never be NULL.
    pub not_null: Option<Vec<String>>,
    /// Columns whose combination must be unique.
    pub unique: Option<Vec<String>>,
    /// A column's allowed values.
    pub accepted_values: Option<AcceptedValues>,
    /// A foreign key.
    pub relationships: Option<Relationship>,
    /// `error` (default) or `warn`.
    #[serde(default)]
    pub severity: Severity,
}

/// `[contract]`: the columns the model promises, checked against its planned
/// schema before any data is read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractEntry {
    /// Column → SQL type, with `NOT NULL` when it never holds NULL, e.g.
    /// `fecha = "DATE NOT NULL"`.
    pub columns: BTreeMap<String, String>,
}

/// The header's keys, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// `table` (default), `view`, `ephemeral`, `incremental_by_key` or
    /// `incremental_by_period`.
    #[serde(default)]
    pub materialized: Materialized,
    /// What the model holds, for people.
    pub description: Option<String>,
    /// Tags for `--select tag:x`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `"periodo"`: the table is partitioned by business month.
    pub partition_by: Option<String>,
    /// Built one month at a time (each `periodo` from the same `periodo` of
    /// the partitioned models it reads).
    #[serde(default)]
    pub by_period: bool,
    /// With `by_period`: the date column every row takes from one day of its
    /// inputs, so a large month is built a range of days at a time and an
    /// incremental run rebuilds only the changed days.
    pub day_column: Option<String>,
    /// Built one range of this key at a time: every join matches on it.
    pub by_key: Option<String>,
    /// On a cluster only, one task per range of this key, without a shuffle.
    pub cluster_key: Option<String>,
    /// The source table whose rows the model carries: trusted and rejected
    /// models of a source reconcile against its raw keys.
    pub source: Option<String>,
    /// The columns that identify a row (the warehouse load's key).
    #[serde(default)]
    pub unique_key: Vec<String>,
    /// Loaded into the warehouse by `run --load` and `nightly --warehouse`.
    #[serde(default)]
    pub warehouse: bool,
    /// Data tests run on the model's rows before the run publishes.
    #[serde(default)]
    pub tests: Vec<TestEntry>,
    /// Columns, types and NOT NULL the model promises.
    pub contract: Option<ContractEntry>,
}

/// A parsed header and where its keys are, for errors about their values.
#[derive(Debug, Clone, Default)]
pub struct Parsed<T = Header> {
    /// The keys.
    pub header: T,
    /// The 1-based line of the file each top-level key is on.
    pub lines: BTreeMap<String, usize>,
    /// The lines of each `[[array]]` table's entries, in order.
    pub arrays: BTreeMap<String, Vec<usize>>,
    /// The line the header starts on (1 when the file has none).
    pub first_line: usize,
}

impl<T> Parsed<T> {
    /// The line of `key` in the file, or the header's first line.
    pub fn line_of(&self, key: &str) -> usize {
        self.lines.get(key).copied().unwrap_or(self.first_line)
    }
}

/// Reads the configuration comment at the top of `sql` (after blank lines
/// only) as a `T` (a model's [`Header`], a test's); `file` names the file
/// in errors.
pub fn parse<T: serde::de::DeserializeOwned + Default>(file: &str, sql: &str) -> Result<Parsed<T>> {
    let Some((body, body_start)) = comment_body(file, sql)? else {
        return Ok(Parsed {
            header: T::default(),
            lines: BTreeMap::new(),
            arrays: BTreeMap::new(),
            first_line: 1,
        });
    };
    let first_line = line_at(sql, body_start);
    let header: T = toml::from_str(body).map_err(|e| {
        let line = e.span().map_or(first_line, |Range { start, .. }| {
            line_at(sql, body_start + start)
        });
        at(
            file,
            line,
            format!(
                "{}; the header is TOML between `{MARKER}` and `*/`",
                e.message().trim_end_matches('\n')
            ),
        )
    })?;
    let mut lines = BTreeMap::new();
    let mut arrays: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (offset, line) in line_offsets(body) {
        if let Some(name) = line.trim().strip_prefix("[[") {
            arrays
                .entry(name.trim_end_matches(']').trim().to_string())
                .or_default()
                .push(line_at(sql, body_start + offset));
        }
        let key = line.split(['=', ' ', '[']).next().unwrap_or("").trim();
        if !key.is_empty() && !key.starts_with('#') && line.contains('=') {
            lines
                .entry(key.to_string())
                .or_insert_with(|| line_at(sql, body_start + offset));
        } else if let Some(table) = line
            .trim()
            .strip_prefix("[[")
            .or(line.trim().strip_prefix('['))
        {
            // `[contract.columns]` is where `contract` is, too.
            let name = table.trim_end_matches(']').trim();
            let line = line_at(sql, body_start + offset);
            for key in [name, name.split('.').next().unwrap_or(name)] {
                lines.entry(key.to_string()).or_insert(line);
            }
        }
    }
    Ok(Parsed {
        header,
        lines,
        arrays,
        first_line,
    })
}

/// The text of the leading `/* dfstore … */` comment and its byte offset
/// in `sql`, if the file starts with one.
fn comment_body<'a>(file: &str, sql: &'a str) -> Result<Option<(&'a str, usize)>> {
    let start = sql.len() - sql.trim_start().len();
    let Some(rest) = sql[start..].strip_prefix(MARKER) else {
        return Ok(None);
    };
    // `/* dfstore_x` is some other comment, not a header.
    if rest.chars().next().is_some_and(|c| !c.is_whitespace()) {
        return Ok(None);
    }
    let body_start = start + MARKER.len();
    let Some(end) = rest.find("*/") else {
        return Err(at(
            file,
            line_at(sql, start),
            "the header comment is never closed; end it with `*/` on a line of its own".into(),
        ));
    };
    Ok(Some((&rest[..end], body_start)))
}

/// Every line of `text` with its byte offset.
fn line_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split_inclusive('\n').scan(0, |offset, line| {
        let at = *offset;
        *offset += line.len();
        Some((at, line))
    })
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A project error at `file:line`.
pub fn at(file: &str, line: usize, message: String) -> Error {
    Error::Project {
        location: format!("{file}:{line}"),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_a_header_is_a_table_with_defaults() {
        let parsed: Parsed = parse("a.sql", "-- comment\nSELECT 1").unwrap();
        assert_eq!(parsed.header, Header::default());
        assert_eq!(parsed.header.materialized, Materialized::Table);
    }

    #[test]
    fn keys_are_read_with_their_lines() {
        let sql = "\n/* dfstore\nmaterialized = \"view\"\ntags = [\"a\", \"b\"]\n\n[[tests]]\nnot_null = [\"x\"]\nseverity = \"warn\"\n*/\nSELECT 1 AS x";
        let parsed: Parsed = parse("a.sql", sql).unwrap();
        assert_eq!(parsed.header.materialized, Materialized::View);
        assert_eq!(parsed.header.tags, ["a", "b"]);
        assert_eq!(parsed.header.tests.len(), 1);
        assert_eq!(parsed.header.tests[0].severity, Severity::Warn);
        assert_eq!(parsed.line_of("materialized"), 3);
        assert_eq!(parsed.line_of("tags"), 4);
        assert_eq!(parsed.line_of("tests"), 6);
    }

    #[test]
    fn an_unknown_key_names_its_line() {
        let sql = "/* dfstore\nmaterialized = \"table\"\npartition = \"periodo\"\n*/\nSELECT 1";
        let e = parse::<Header>("m/x.sql", sql).unwrap_err().to_string();
        assert!(e.starts_with("m/x.sql:3: unknown field `partition`"), "{e}");
        assert!(e.contains("partition_by"), "{e}");
    }

    #[test]
    fn a_wrong_value_names_its_line() {
        let sql = "/* dfstore\n\nmaterialized = \"tabel\"\n*/\nSELECT 1";
        let e = parse::<Header>("x.sql", sql).unwrap_err().to_string();
        assert!(e.starts_with("x.sql:3: unknown variant `tabel`"), "{e}");
    }

    #[test]
    fn bad_toml_and_an_open_comment_are_errors() {
        let e = parse::<Header>("x.sql", "/* dfstore\ntags = [\n*/\nSELECT 1")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("x.sql:"), "{e}");
        let e = parse::<Header>("x.sql", "/* dfstore\ntags = []\nSELECT 1")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("x.sql:1: the header comment is never closed"),
            "{e}"
        );
    }

    #[test]
    fn other_comments_are_no_header() {
        let parsed: Parsed = parse("x.sql", "/* dfstorex = 1 */ SELECT 1").unwrap();
        assert_eq!(parsed.header, Header::default());
    }
}
