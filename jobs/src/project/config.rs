//! A model's header, checked: the keys that say how a table is written
//! agree, the source is a source table, every data test has one kind, the
//! contract's columns parse. Each mistake is an error at its line.

use crate::contract::layer::TableRef;
use crate::contract::period::PERIOD_COLUMN;
use crate::contract::source::{SourceTable, Sources};
use crate::error::{Error, Result};
use crate::project::header::{Header, Materialized, Parsed, TestEntry, at};
use crate::project::quality::{Check, Contract, ContractColumn, DataTest, literal};

/// What a header says once checked.
pub(super) struct Config {
    pub(super) source: Option<SourceTable>,
    pub(super) partitioned: bool,
    pub(super) tests: Vec<DataTest>,
    pub(super) contract: Option<Contract>,
}

impl Config {
    pub(super) fn of(
        file: &str,
        table: &TableRef,
        parsed: &Parsed,
        sources: &Sources,
    ) -> Result<Config> {
        let h: &Header = &parsed.header;
        let bad = |key: &str, message: String| at(file, parsed.line_of(key), message);
        let partitioned = match h.partition_by.as_deref() {
            None => false,
            Some(PERIOD_COLUMN) => true,
            Some(other) => {
                return Err(bad(
                    "partition_by",
                    format!(
                        "tables are partitioned by `{PERIOD_COLUMN}` only, not `{other}`; write partition_by = \"{PERIOD_COLUMN}\" or remove the key"
                    ),
                ));
            }
        };
        check_layout(h, partitioned, &bad)?;
        let source = match &h.source {
            None => None,
            Some(name) => Some(sources.find(name).cloned().map_err(|m| bad("source", m))?),
        };
        let mut tests = Vec::new();
        for (n, entry) in h.tests.iter().enumerate() {
            tests.extend(data_tests(file, table, parsed, n, entry)?);
        }
        let contract = match &h.contract {
            None => None,
            Some(entry) => {
                let mut columns = Vec::new();
                for (name, text) in &entry.columns {
                    columns
                        .push(ContractColumn::parse(name, text).map_err(|m| bad("contract", m))?);
                }
                Some(Contract {
                    columns,
                    location: format!("{file}:{}", parsed.line_of("contract")),
                })
            }
        };
        Ok(Config {
            source,
            partitioned,
            tests,
            contract,
        })
    }
}

/// The keys that say how a table is written agree with each other and with
/// the materialization.
fn check_layout(h: &Header, partitioned: bool, bad: &dyn Fn(&str, String) -> Error) -> Result<()> {
    if !h.materialized.is_stored() {
        for (key, set) in [
            ("partition_by", h.partition_by.is_some()),
            ("by_period", h.by_period),
            ("by_key", h.by_key.is_some()),
            ("cluster_key", h.cluster_key.is_some()),
        ] {
            if set {
                let kind = h.materialized.name();
                return Err(bad(
                    key,
                    format!(
                        "`{key}` says how a table is written, and this model is materialized = \"{kind}\"; remove the key or make it a table"
                    ),
                ));
            }
        }
    }
    match h.materialized {
        Materialized::IncrementalByKey if h.unique_key.is_empty() => {
            return Err(bad(
                "materialized",
                "an incremental_by_key model is merged by its key; add unique_key = [\"…\"], whose first column every row's inputs share".into(),
            ));
        }
        Materialized::IncrementalByPeriod if !h.by_period => {
            return Err(bad(
                "materialized",
                format!(
                    "an incremental_by_period model is rebuilt a period at a time; add by_period = true and partition_by = \"{PERIOD_COLUMN}\""
                ),
            ));
        }
        _ => {}
    }
    if h.by_period && !partitioned {
        return Err(bad(
            "by_period",
            format!(
                "a model built by period must be partitioned by it; add partition_by = \"{PERIOD_COLUMN}\""
            ),
        ));
    }
    if h.day_column.is_some() && !h.by_period {
        return Err(bad(
            "day_column",
            "day_column splits a month of a model built by period; add by_period = true or remove it".into(),
        ));
    }
    if h.by_period && h.by_key.is_some() {
        return Err(bad(
            "by_key",
            "a model is built by period or by key ranges, not both; remove one".into(),
        ));
    }
    check_warehouse(h, partitioned, bad)
}

/// A model loaded into the warehouse is a table replaced a period at a
/// time, whose key and columns the warehouse table is made from.
fn check_warehouse(
    h: &Header,
    partitioned: bool,
    bad: &dyn Fn(&str, String) -> Error,
) -> Result<()> {
    if !h.warehouse {
        return Ok(());
    }
    let missing = [
        (
            !h.materialized.is_stored(),
            "a stored materialization (a table)",
        ),
        (
            h.unique_key.is_empty(),
            "unique_key = [\"…\"] (the primary key)",
        ),
        (
            !partitioned,
            "partition_by = \"periodo\" (a load replaces a period at a time)",
        ),
        (
            h.contract.is_none(),
            "a [contract.columns] table (the warehouse table's columns)",
        ),
    ];
    match missing.iter().find(|(lacks, _)| *lacks) {
        Some((_, what)) => Err(bad(
            "warehouse",
            format!(
                "a model loaded into the warehouse needs {what}; add it or remove warehouse = true"
            ),
        )),
        None => Ok(()),
    }
}

/// The data tests of the `n`-th `[[tests]]` entry of a header.
fn data_tests(
    file: &str,
    table: &TableRef,
    parsed: &Parsed,
    n: usize,
    entry: &TestEntry,
) -> Result<Vec<DataTest>> {
    let line = test_line(parsed, n);
    let location = format!("{file}:{line}");
    let kinds = [
        entry.not_null.is_some(),
        entry.unique.is_some(),
        entry.accepted_values.is_some(),
        entry.relationships.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err(at(
            file,
            line,
            "a [[tests]] entry holds exactly one of not_null, unique, accepted_values, relationships (and optionally severity)".into(),
        ));
    }
    let test = |name: String, check: Check| DataTest {
        name,
        check,
        severity: entry.severity,
        location: location.clone(),
    };
    let empty = || at(file, line, "the test names no column".into());
    let mut out = Vec::new();
    if let Some(columns) = &entry.not_null {
        if columns.is_empty() {
            return Err(empty());
        }
        for c in columns {
            out.push(test(
                format!("not_null({table}.{c})"),
                Check::NotNull(c.clone()),
            ));
        }
    }
    if let Some(columns) = &entry.unique {
        if columns.is_empty() {
            return Err(empty());
        }
        out.push(test(
            format!("unique({table}.{})", columns.join("+")),
            Check::Unique(columns.clone()),
        ));
    }
    if let Some(av) = &entry.accepted_values {
        let values = av
            .values
            .iter()
            .map(literal)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|m| at(file, line, m))?;
        if values.is_empty() {
            return Err(at(file, line, "accepted_values lists no value".into()));
        }
        out.push(test(
            format!("accepted_values({table}.{})", av.column),
            Check::AcceptedValues {
                column: av.column.clone(),
                values,
            },
        ));
    }
    if let Some(r) = &entry.relationships {
        let to: TableRef = r.to.parse().map_err(|m: String| at(file, line, m))?;
        out.push(test(
            format!("relationships({table}.{} -> {to}.{})", r.column, r.field),
            Check::Relationships {
                column: r.column.clone(),
                to,
                field: r.field.clone(),
            },
        ));
    }
    Ok(out)
}

/// The line of the `n`-th `[[tests]]` header.
fn test_line(parsed: &Parsed, n: usize) -> usize {
    parsed
        .arrays
        .get("tests")
        .and_then(|lines| lines.get(n))
        .copied()
        .unwrap_or_else(|| parsed.line_of("tests"))
}
