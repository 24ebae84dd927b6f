//! Personal data stays hashed: no model that a run publishes (every layer
//! but staging) may carry a column its project declares as personal data
//! (`personal_data` of a source) in clear. Each output column of a model's
//! plan is traced back to the raw columns it is computed from; `pii_hash`
//! ends a trace, and so do counts and predicates, which carry no value.

use std::collections::{BTreeMap, BTreeSet};

use datafusion::common::Column;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};

use crate::contract::layer::Layer;
use crate::contract::source::Sources;
use crate::error::{Error, Result};
use crate::project::Model;
use crate::project::header::Materialized;

/// The name of the hashing function that makes personal data safe.
const HASH: &str = "pii_hash";

/// Per column of a table: the personal-data columns (`raw.t.c`) it carries in clear.
pub type Carried = BTreeMap<String, BTreeSet<String>>;

/// The personal-data columns of `sources`, by raw table: a scan of one of
/// them carries its personal columns.
pub fn raw_personal(sources: &Sources) -> BTreeMap<String, Carried> {
    sources
        .iter()
        .map(|s| {
            let table = format!("raw.{}", s.name());
            let carried = s
                .personal_data()
                .iter()
                .map(|c| (c.clone(), BTreeSet::from([format!("{table}.{c}")])))
                .collect();
            (table, carried)
        })
        .collect()
}

/// Checks the planned `plan` of `model`, whose inputs carry what `known`
/// says (by table, then column); returns what each of its output columns
/// carries, for the models that read it. A published model that carries
/// personal data in clear is an error naming the model, the column and
/// the fix.
pub fn check(
    model: &Model,
    plan: &LogicalPlan,
    known: &BTreeMap<String, Carried>,
) -> Result<Carried> {
    let carried: Carried = plan
        .schema()
        .fields()
        .iter()
        .zip(trace(plan, known))
        .map(|(f, c)| (f.name().clone(), c))
        .collect();
    let published = model.layer != Layer::Staging && model.materialized != Materialized::Ephemeral;
    if published && let Some((column, sources)) = carried.iter().find(|(_, c)| !c.is_empty()) {
        let source: Vec<&str> = sources.iter().map(String::as_str).collect();
        return Err(Error::Project {
            location: model.file.clone(),
            message: format!(
                "{} would publish personal data in clear: its column `{column}` carries {}, which dfstore_project.toml declares as personal_data; hash it with pii_hash(…) or leave it out",
                model.table(),
                source.join(", ")
            ),
        });
    }
    Ok(carried)
}

/// What each output column of `plan` carries, in schema order.
fn trace(plan: &LogicalPlan, known: &BTreeMap<String, Carried>) -> Vec<BTreeSet<String>> {
    let inputs: Vec<&LogicalPlan> = plan.inputs();
    let traced: Vec<Vec<BTreeSet<String>>> = inputs.iter().map(|p| trace(p, known)).collect();
    // A column of whichever input has it, by name.
    let of_input = |column: &Column| -> BTreeSet<String> {
        for (input, carried) in inputs.iter().zip(&traced) {
            if let Ok(i) = input.schema().index_of_column(column) {
                return carried[i].clone();
            }
        }
        BTreeSet::new()
    };
    let width = plan.schema().fields().len();
    match plan {
        LogicalPlan::TableScan(scan) => {
            let table = known.get(&scan.table_name.to_string());
            scan.projected_schema
                .fields()
                .iter()
                .map(|f| {
                    table
                        .and_then(|t| t.get(f.name()))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect()
        }
        LogicalPlan::Projection(p) => p.expr.iter().map(|e| carried_by(e, &of_input)).collect(),
        LogicalPlan::Aggregate(a) => a
            .group_expr
            .iter()
            .chain(&a.aggr_expr)
            .map(|e| carried_by(e, &of_input))
            .chain(std::iter::repeat_with(BTreeSet::new))
            .take(width)
            .collect(),
        LogicalPlan::Window(w) => traced
            .first()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .chain(w.window_expr.iter().map(|e| carried_by(e, &of_input)))
            .collect(),
        LogicalPlan::Union(_) => (0..width)
            .map(|i| {
                traced
                    .iter()
                    .filter_map(|t| t.get(i))
                    .flatten()
                    .cloned()
                    .collect()
            })
            .collect(),
        _ => {
            // Joins put their inputs side by side (or keep one side); the
            // other operators keep their input's columns.
            let side_by_side: Vec<BTreeSet<String>> = traced.iter().flatten().cloned().collect();
            if side_by_side.len() == width {
                side_by_side
            } else if let Some(one) = traced.iter().find(|t| t.len() == width) {
                one.clone()
            } else {
                // Unknown shape: every column may carry anything its inputs do.
                let all: BTreeSet<String> = side_by_side.into_iter().flatten().collect();
                vec![all; width]
            }
        }
    }
}

/// What `exprs` carry together.
fn union(exprs: &[Expr], of_input: &dyn Fn(&Column) -> BTreeSet<String>) -> BTreeSet<String> {
    exprs.iter().flat_map(|e| carried_by(e, of_input)).collect()
}

/// What `expr` carries of the columns `of_input` describes.
fn carried_by(expr: &Expr, of_input: &dyn Fn(&Column) -> BTreeSet<String>) -> BTreeSet<String> {
    match expr {
        Expr::Column(c) => of_input(c),
        Expr::ScalarFunction(f) if f.func.name() == HASH => BTreeSet::new(),
        // A count carries no value; another aggregate or window function
        // carries what its arguments do, not what it is ordered by.
        Expr::AggregateFunction(f) if f.func.name().eq_ignore_ascii_case("count") => {
            BTreeSet::new()
        }
        Expr::AggregateFunction(f) => union(&f.params.args, of_input),
        Expr::WindowFunction(w) => union(&w.params.args, of_input),
        // A comparison or a logical operator gives a boolean, not the value.
        Expr::BinaryExpr(b) if b.op.negate().is_some() || b.op.is_logic_operator() => {
            BTreeSet::new()
        }
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::Like(_)
        | Expr::SimilarTo(_)
        | Expr::Between(_)
        | Expr::InList(_)
        | Expr::Exists(_)
        | Expr::InSubquery(_)
        | Expr::ScalarSubquery(_) => BTreeSet::new(),
        other => {
            let mut out = BTreeSet::new();
            let _ = other.apply_children(|child| {
                out.extend(carried_by(child, of_input));
                Ok(TreeNodeRecursion::Continue)
            });
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::pipeline::plan::plan_all;
    use crate::project::Project;

    /// Plans a project whose `raw.personas` has the personal column `email`,
    /// with the model `trusted/t.sql` of `sql` (after the staging model
    /// `staging/s.sql`, which passes every column through).
    async fn planned(sql: &str) -> Result<(), String> {
        let files = BTreeMap::from([
            (
                "dfstore_project.toml".to_string(),
                r#"name = "p"
[[sources]]
name = "personas"
schema = "public"
primary_key = ["id"]
watermark = "cambiado"
personal_data = ["email"]
columns = ["id bigint NOT NULL", "email text", "cambiado timestamptz NOT NULL"]
"#
                .to_string(),
            ),
            (
                "staging/s.sql".to_string(),
                "SELECT id, email, cambiado FROM raw.personas".to_string(),
            ),
            ("trusted/t.sql".to_string(), sql.to_string()),
        ]);
        let project = Project::from_files("proj", &files).unwrap();
        plan_all(&project, &[])
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn personal_data_is_published_only_hashed() {
        for sql in [
            "SELECT id, email FROM staging.s",
            "SELECT id, UPPER(TRIM(email)) AS correo FROM staging.s",
            "SELECT id, MAX(email) AS m FROM staging.s GROUP BY id",
            "SELECT a.id, b.email FROM staging.s a JOIN raw.personas b ON a.id = b.id",
            "SELECT id, email FROM staging.s UNION ALL SELECT id, 'x' FROM raw.personas",
            "SELECT * FROM (SELECT id, email AS e FROM staging.s) AS q WHERE id > 1",
        ] {
            let e = planned(sql).await.unwrap_err();
            assert!(e.contains("proj/trusted/t.sql"), "{sql}: {e}");
            assert!(e.contains("raw.personas.email"), "{sql}: {e}");
            assert!(e.contains("pii_hash"), "{sql}: {e}");
        }
        for sql in [
            "SELECT id, pii_hash(TRIM(email)) AS email FROM staging.s",
            "SELECT id, COUNT(email) AS n FROM staging.s GROUP BY id",
            "SELECT id, email IS NULL AS sin_email FROM staging.s",
            "SELECT id, ROW_NUMBER() OVER (ORDER BY email) AS n FROM staging.s",
            "SELECT id FROM staging.s WHERE email LIKE '%@dmc.pe'",
        ] {
            planned(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
}
