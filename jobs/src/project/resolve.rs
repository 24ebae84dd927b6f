//! From a project's files to its models: each file's header read and
//! checked, the tables its SQL reads resolved to models or raw tables, and
//! the models ordered so that each comes after what it reads. Every mistake
//! is one error at `file:line`, found before any data is read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use datafusion::sql::parser::DFParser;
use datafusion::sql::resolve::resolve_table_references;
use serde::Deserialize;

use crate::contract::layer::{Layer, TableRef, is_identifier};
use crate::contract::source::{SourceDeclaration, Sources};
use crate::error::{Error, Result};
use crate::project::config::Config;
use crate::project::graph;
use crate::project::header::{self, Parsed, Severity, at};
use crate::project::model::Model;
use crate::project::quality::{Check, DataTest};
use crate::project::sources;
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
    /// The source tables it extracts (`[[sources]]`).
    #[serde(default)]
    pub sources: Vec<toml::Spanned<SourceDeclaration>>,
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
    /// The source tables it extracts.
    pub sources: Sources,
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
    let sources = sources::declared(&project_path, text, &file.sources)?;

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
            [folder, name] => {
                models.push(model(&shown, path, folder, name, sql, &vars, &sources)?);
            }
            _ => {
                return Err(at(
                    &shown,
                    1,
                    "a model is a file <layer>/<name>.sql directly under the project (e.g. analytic/ventas_por_mes.sql); move it there".into(),
                ));
            }
        }
    }
    check_references(&models, &tests, &sources)?;
    let models = graph::ordered(models, &sources)?;
    Ok(Resolved {
        file,
        vars,
        sources,
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
    sources: &Sources,
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
    let config = Config::of(file, &table, &parsed, sources)?;
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
        warehouse: parsed.header.warehouse,
        tests: config.tests,
        contract: config.contract,
        file: file.to_string(),
        path: path.to_string(),
        sql: sql.to_string(),
        reads,
    })
}

/// A SQL test under `tests/`: a query returning failing rows.
fn sql_test(file: &str, name: &str, sql: &str, vars: &Vars) -> Result<DataTest> {
    let parsed: Parsed<TestHeader> = header::parse(file, sql)?;
    let reads = tables_read(file, sql)?;
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
        check: Check::Sql {
            sql: sql.to_string(),
            reads,
        },
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
fn check_references(models: &[Model], tests: &[DataTest], sources: &Sources) -> Result<()> {
    let known: BTreeSet<TableRef> = models.iter().map(Model::table).collect();
    let exists = |t: &TableRef| {
        known.contains(t) || (t.layer == Layer::Raw && sources.get(&t.name).is_some())
    };
    let missing = |file: &str, sql: &str, t: &TableRef| {
        let fix = if t.layer == Layer::Raw {
            let names: Vec<&str> = sources.iter().map(|s| s.name()).collect();
            format!(
                "the project declares the sources {}; declare `{}` under [[sources]] in dfstore_project.toml, or fix the name",
                names.join(", "),
                t.name
            )
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
        let Check::Sql { sql, reads } = &test.check else {
            continue;
        };
        let file = test.location.trim_end_matches(":1");
        if let Some(t) = reads.iter().find(|t| !exists(t)) {
            return Err(missing(file, sql, t));
        }
    }
    Ok(())
}

/// The 1-based line where `needle` first appears in `sql` outside comments
/// (ignoring case), or 1.
pub(super) fn line_of(sql: &str, needle: &str) -> usize {
    let needle = needle.to_ascii_lowercase();
    sql.lines()
        .position(|l| {
            let code = l.split("--").next().unwrap_or("");
            code.to_ascii_lowercase().contains(&needle)
        })
        .map_or(1, |i| i + 1)
}
