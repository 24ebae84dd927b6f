//! From a project's files to its models: each file's header read and
//! checked, the tables its SQL reads resolved to models or raw tables, and
//! the models ordered so that each comes after what it reads. Every mistake
//! is one error at `file:line`, found before any data is read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::sql::parser::DFParser;
use datafusion::sql::resolve::resolve_table_references;
use serde::Deserialize;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::PERIOD_COLUMN;
use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::project::header::{self, Header, Materialized, Parsed, Severity, TestEntry, at};
use crate::project::model::Model;
use crate::project::quality::{Check, Contract, ContractColumn, DataTest, literal};
use crate::project::vars::{Vars, placeholders};

/// The project file at a project's root.
pub const PROJECT_FILE: &str = "dfstore_project.toml";
/// The folder of a project's SQL tests.
pub const TESTS_DIR: &str = "tests";
/// The folder of the source database's scripts (`dfstore source`), which
/// are no models.
pub const SOURCE_DIR: &str = "source";

/// `dfstore_project.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectFile {
    /// The project's name.
    pub name: String,
    /// What it is, for people.
    pub description: Option<String>,
    /// Variables and their defaults.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
}

/// A SQL test's header: only its severity.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestHeader {
    #[serde(default)]
    severity: Severity,
}

/// What a project's files resolve to.
pub struct Resolved {
    /// The project file.
    pub file: ProjectFile,
    /// The variables' defaults.
    pub vars: Vars,
    /// Every model, each after the models it reads.
    pub models: Vec<Arc<Model>>,
    /// The SQL tests under `tests/`.
    pub tests: Vec<DataTest>,
}

/// Resolves the files of a project (path inside it → text); `root` is how
/// the user names the project, and prefixes every file in errors.
pub fn resolve(root: &str, files: &BTreeMap<String, String>) -> Result<Resolved> {
    let display = |path: &str| format!("{}/{path}", root.trim_end_matches('/'));
    let project_path = display(PROJECT_FILE);
    let Some(text) = files.get(PROJECT_FILE) else {
        return Err(Error::Project {
            location: root.to_string(),
            message: format!(
                "no {PROJECT_FILE} here: this is not a dfstore project; `dfstore init {root}` writes one, or pass the right --project"
            ),
        });
    };
    let file: ProjectFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| header::line_at(text, s.start));
        at(&project_path, line, e.message().trim_end().to_string())
    })?;
    let vars = Vars::from_defaults(&project_path, &file.vars)?;

    let mut models = Vec::new();
    let mut tests = Vec::new();
    for (path, sql) in files {
        let Some(stem) = path.strip_suffix(".sql") else {
            continue;
        };
        let shown = display(path);
        let parts: Vec<&str> = stem.split('/').collect();
        match parts.as_slice() {
            [SOURCE_DIR, ..] => {}
            [TESTS_DIR, name] => tests.push(sql_test(&shown, name, sql, &vars)?),
            [folder, name] => models.push(model(&shown, path, folder, name, sql, &vars)?),
            _ => {
                return Err(at(
                    &shown,
                    1,
                    "a model is a file <layer>/<name>.sql directly under the project (e.g. analytic/ventas_por_mes.sql); move it there".into(),
                ));
            }
        }
    }
    check_references(&models, &tests)?;
    let models = ordered(models)?;
    Ok(Resolved {
        file,
        vars,
        models: models.into_iter().map(Arc::new).collect(),
        tests,
    })
}

/// One model file, its header resolved.
fn model(
    file: &str,
    path: &str,
    folder: &str,
    name: &str,
    sql: &str,
    vars: &Vars,
) -> Result<Model> {
    let layer = match folder.parse::<Layer>() {
        Ok(Layer::Raw) => {
            return Err(at(
                file,
                1,
                "raw/ holds extractions, written by `dfstore ingest`; put models under staging/, trusted/, rejected/ or analytic/".into(),
            ));
        }
        Ok(layer) => layer,
        Err(_) => {
            return Err(at(
                file,
                1,
                format!(
                    "`{folder}` is not a layer; put the model under staging/, trusted/, rejected/ or analytic/ (the file <layer>/<name>.sql is the table <layer>.<name>)"
                ),
            ));
        }
    };
    if !is_identifier(name) {
        return Err(at(
            file,
            1,
            format!("`{name}` cannot name a table; use lower-case letters, digits and _"),
        ));
    }
    let parsed: Parsed = header::parse(file, sql)?;
    let table = TableRef::new(layer, name);
    let reads = tables_read(file, sql)?;
    for (var, line) in placeholders(sql) {
        if !vars.contains(&var) {
            return Err(at(
                file,
                line,
                format!(
                    "`${var}` is no variable of the project; declare it under [vars] in dfstore_project.toml"
                ),
            ));
        }
    }
    let config = Config::of(file, &table, &parsed)?;
    Ok(Model {
        layer,
        name: name.to_string(),
        materialized: parsed.header.materialized,
        description: parsed.header.description.clone(),
        tags: parsed.header.tags.clone(),
        source: config.source,
        partitioned: config.partitioned,
        by_period: parsed.header.by_period,
        day_column: parsed.header.day_column.clone(),
        by_key: parsed.header.by_key.clone(),
        cluster_key: parsed.header.cluster_key.clone(),
        unique_key: parsed.header.unique_key.clone(),
        tests: config.tests,
        contract: config.contract,
        file: file.to_string(),
        path: path.to_string(),
        sql: sql.to_string(),
        reads,
    })
}

/// What a header says once checked.
struct Config {
    source: Option<SourceTable>,
    partitioned: bool,
    tests: Vec<DataTest>,
    contract: Option<Contract>,
}

impl Config {
    fn of(file: &str, table: &TableRef, parsed: &Parsed) -> Result<Config> {
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
            Some(name) => Some(name.parse::<SourceTable>().map_err(|_| {
                let known: Vec<&str> = SourceTable::ALL.iter().map(|t| t.name()).collect();
                bad(
                    "source",
                    format!(
                        "`{name}` is no source table; use one of {}",
                        known.join(", ")
                    ),
                )
            })?),
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
    if h.materialized != Materialized::Table {
        for (key, set) in [
            ("partition_by", h.partition_by.is_some()),
            ("by_period", h.by_period),
            ("by_key", h.by_key.is_some()),
            ("cluster_key", h.cluster_key.is_some()),
        ] {
            if set {
                let kind = format!("{:?}", h.materialized).to_lowercase();
                return Err(bad(
                    key,
                    format!(
                        "`{key}` says how a table is written, and this model is materialized = \"{kind}\"; remove the key or make it a table"
                    ),
                ));
            }
        }
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
    Ok(())
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

/// A SQL test under `tests/`: a query returning failing rows.
fn sql_test(file: &str, name: &str, sql: &str, vars: &Vars) -> Result<DataTest> {
    let parsed: Parsed<TestHeader> = header::parse(file, sql)?;
    tables_read(file, sql)?;
    if let Some((var, line)) = placeholders(sql)
        .into_iter()
        .find(|(v, _)| !vars.contains(v))
    {
        return Err(at(
            file,
            line,
            format!(
                "`${var}` is no variable of the project; declare it under [vars] in dfstore_project.toml"
            ),
        ));
    }
    Ok(DataTest {
        name: format!("{TESTS_DIR}/{name}"),
        check: Check::Sql(sql.to_string()),
        severity: parsed.header.severity,
        location: format!("{file}:1"),
    })
}

/// Every table `sql` names, as DataFusion's parser resolves them (common
/// table expressions are not tables).
fn tables_read(file: &str, sql: &str) -> Result<Vec<TableRef>> {
    let statements = DFParser::parse_sql(sql).map_err(|e| {
        let message = e.to_string();
        let line = message
            .split("Line: ")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        at(file, line, format!("not valid SQL: {message}"))
    })?;
    let mut out = Vec::new();
    for statement in &statements {
        let (tables, _) = resolve_table_references(statement, true)
            .map_err(|e| at(file, 1, format!("not valid SQL: {e}")))?;
        for reference in tables {
            let (Some(schema), table) = (reference.schema(), reference.table()) else {
                return Err(at(
                    file,
                    line_of(sql, reference.table()),
                    format!(
                        "table `{}` has no layer; name tables as layer.table, e.g. trusted.ventas or raw.ventas",
                        reference.table()
                    ),
                ));
            };
            let layer = schema.parse::<Layer>().map_err(|_| {
                at(
                    file,
                    line_of(sql, &format!("{schema}.{table}")),
                    format!("`{schema}.{table}` is not in a layer of the lake; read raw.*, staging.*, trusted.*, rejected.* or analytic.*"),
                )
            })?;
            out.push(TableRef::new(layer, table));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// Every table read by a model or a test is a model or a raw table.
fn check_references(models: &[Model], tests: &[DataTest]) -> Result<()> {
    let known: BTreeSet<TableRef> = models.iter().map(Model::table).collect();
    let exists = |t: &TableRef| {
        known.contains(t) || (t.layer == Layer::Raw && t.name.parse::<SourceTable>().is_ok())
    };
    let missing = |file: &str, sql: &str, t: &TableRef| {
        let fix = if t.layer == Layer::Raw {
            let sources: Vec<&str> = SourceTable::ALL.iter().map(|s| s.name()).collect();
            format!("raw has {}", sources.join(", "))
        } else {
            format!("add the model {}/{}.sql, or fix the name", t.layer, t.name)
        };
        at(
            file,
            line_of(sql, &t.to_string()),
            format!("`{t}` is neither a model of the project nor a raw table; {fix}"),
        )
    };
    for model in models {
        if let Some(t) = model.reads.iter().find(|t| !exists(t)) {
            return Err(missing(&model.file, &model.sql, t));
        }
        for test in &model.tests {
            if let Some(t) = test.other_tables().iter().find(|t| !exists(t)) {
                let (file, line) = test
                    .location
                    .rsplit_once(':')
                    .unwrap_or((&test.location, "1"));
                return Err(at(
                    file,
                    line.parse().unwrap_or(1),
                    format!(
                        "the test {} refers to `{t}`, which is neither a model nor a raw table",
                        test.name
                    ),
                ));
            }
        }
    }
    for test in tests {
        let Check::Sql(sql) = &test.check else {
            continue;
        };
        let file = test.location.trim_end_matches(":1");
        if let Some(t) = tables_read(file, sql)?.iter().find(|t| !exists(t)) {
            return Err(missing(file, sql, t));
        }
    }
    Ok(())
}

/// The models, each after the models it reads; ties in (layer, name)
/// order. A cycle is an error naming it.
fn ordered(models: Vec<Model>) -> Result<Vec<Model>> {
    let index: BTreeMap<TableRef, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.table(), i))
        .collect();
    let deps: Vec<Vec<usize>> = models
        .iter()
        .map(|m| {
            m.reads
                .iter()
                .filter_map(|t| index.get(t).copied())
                .collect()
        })
        .collect();
    let mut placed = vec![false; models.len()];
    let mut position = vec![0; models.len()];
    let mut order = Vec::with_capacity(models.len());
    while order.len() < models.len() {
        // Of the models whose inputs are placed, the one whose last input
        // was placed first (then by source table, dimensions first, then
        // in (layer, name) order): a model follows its inputs closely, so
        // that the order reads as a story.
        let next = (0..models.len())
            .filter(|&i| !placed[i] && deps[i].iter().all(|&d| placed[d] || d == i))
            .min_by_key(|&i| {
                let last = deps[i]
                    .iter()
                    .filter(|&&d| d != i)
                    .map(|&d| position[d])
                    .max();
                let source = models[i]
                    .source
                    .and_then(|s| SourceTable::ALL.iter().position(|&t| t == s));
                (last, source.unwrap_or(usize::MAX), models[i].table())
            });
        let Some(next) = next else {
            return Err(cycle_error(&models, &deps, &placed));
        };
        if deps[next].contains(&next) {
            let m = &models[next];
            return Err(at(
                &m.file,
                line_of(&m.sql, &m.table().to_string()),
                format!(
                    "{} reads itself; a table model cannot read its own output",
                    m.table()
                ),
            ));
        }
        placed[next] = true;
        position[next] = order.len();
        order.push(next);
    }
    let mut slots: Vec<Option<Model>> = models.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}

/// The error for the models not placed: one cycle among them, spelled out.
fn cycle_error(models: &[Model], deps: &[Vec<usize>], placed: &[bool]) -> Error {
    let start = (0..models.len()).find(|&i| !placed[i]).unwrap_or(0);
    // Walk unplaced inputs until a model repeats: that is the cycle.
    let mut path = vec![start];
    let mut at_model = start;
    while let Some(&next) = deps[at_model].iter().find(|&&d| !placed[d]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            path.drain(..pos);
            path.push(next);
            break;
        }
        path.push(next);
        at_model = next;
    }
    let first = &models[path[0]];
    let second = path
        .get(1)
        .map(|&i| models[i].table().to_string())
        .unwrap_or_default();
    let chain: Vec<String> = path
        .iter()
        .rev()
        .map(|&i| models[i].table().to_string())
        .collect();
    at(
        &first.file,
        line_of(&first.sql, &second),
        format!(
            "models read each other in a cycle: {}; one of them must read something else",
            chain.join(" -> ")
        ),
    )
}

/// The 1-based line where `needle` first appears in `sql` outside comments
/// (ignoring case), or 1.
fn line_of(sql: &str, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sql.lines()
        .position(|l| {
            let code = l.split("--").next().unwrap_or("");
            code.to_ascii_lowercase().contains(&needle)
        })
        .map_or(1, |i| i + 1)
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}
