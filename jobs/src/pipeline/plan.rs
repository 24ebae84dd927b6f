//! Planning a project without reading data (`dfstore check`, and the first
//! step of every run): each model planned in order over empty tables of the
//! schemas it reads (raw's from the lake, or the source contract when the
//! lake has none; each model's as planned before it), its contract checked
//! against its planned schema.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::period::EXTRACTION_COLUMN;
use crate::contract::source::{SourceTable, Sources, timestamp_type};
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::published_extractions;
use crate::pipeline::build::planned;
use crate::pipeline::personal;
use crate::project::quality::Contract;
use crate::project::{Model, Project};

/// One model as planned.
#[derive(Debug, Clone)]
pub struct PlannedModel {
    /// The model.
    pub model: Arc<Model>,
    /// Its output's schema.
    pub schema: SchemaRef,
    /// The models it reads, by table.
    pub reads: Vec<TableRef>,
    /// The columns its optimized plan reads of each table (`layer.name`).
    pub columns: BTreeMap<String, BTreeSet<String>>,
}

/// Plans every model of `project` in order, without reading data: `raw`
/// holds the raw tables' schemas as the lake has them (the source
/// contract's for a table it lacks). Fails at the first model that does
/// not plan or does not meet its contract.
pub async fn plan_all(
    project: &Project,
    raw: &[(SourceTable, SchemaRef)],
) -> Result<(Vec<PlannedModel>, f64)> {
    let started = Instant::now();
    let ctx = SessionContext::new();
    engine::register_layers(&ctx)?;
    // The functions plan here; nothing is executed, so no key is needed.
    ctx.register_udf(dfstore_core::pii::node_udf());
    ctx.register_udaf(dfstore_core::key_count::udaf());
    for table in &project.sources {
        let schema = raw
            .iter()
            .find(|(t, _)| t == table)
            .map_or_else(|| contract_schema(table), |(_, s)| Arc::clone(s));
        empty(&ctx, &TableRef::new(Layer::Raw, table.name()), schema)?;
    }
    let mut out = Vec::with_capacity(project.models.len());
    let mut personal = personal::raw_personal(&project.sources);
    for model in &project.models {
        let what = format!("{} ({})", model.table(), model.file);
        let df = planned(&ctx, model, &project.vars, &what).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        if let Some(contract) = &model.contract {
            check_contract(&ctx, model, contract, &schema).await?;
        }
        let carried = personal::check(model, df.logical_plan(), &personal)?;
        personal.insert(model.table().to_string(), carried);
        empty(&ctx, &model.table(), Arc::clone(&schema))?;
        let optimized = ctx
            .state()
            .optimize(df.logical_plan())
            .map_err(|e| Error::engine(&what, e))?;
        out.push(PlannedModel {
            model: Arc::clone(model),
            schema,
            reads: model.reads.clone(),
            columns: columns_read(&optimized),
        });
    }
    Ok((out, started.elapsed().as_secs_f64()))
}

/// The columns each table scan of `plan` (subqueries included) reads.
fn columns_read(plan: &LogicalPlan) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            out.entry(scan.table_name.to_string()).or_default().extend(
                scan.projected_schema
                    .fields()
                    .iter()
                    .map(|f| f.name().clone()),
            );
        }
        Ok(TreeNodeRecursion::Continue)
    });
    out
}

/// `raw.<table>` as the source contract describes it, with the extraction
/// instant every raw row carries (as `raw.*` is registered).
fn contract_schema(table: &SourceTable) -> SchemaRef {
    let mut fields: Vec<Field> = table
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(EXTRACTION_COLUMN, timestamp_type(), true));
    Arc::new(Schema::new(fields))
}

/// Registers an empty table of `schema` as `table`.
fn empty(ctx: &SessionContext, table: &TableRef, schema: SchemaRef) -> Result<()> {
    let provider = MemTable::try_new(schema, vec![vec![]])
        .map_err(|e| Error::engine(format!("planning {table}"), e))?;
    tables::register(ctx, table, Arc::new(provider))
}

/// The planned `schema` of `model` has exactly the contract's columns, of
/// its types (text types are one type: Utf8, LargeUtf8 and Utf8View).
pub async fn check_contract(
    ctx: &SessionContext,
    model: &Model,
    contract: &Contract,
    schema: &Schema,
) -> Result<()> {
    let broken = |message: String| Error::Project {
        location: contract.location.clone(),
        message: format!("{} does not meet its contract: {message}", model.table()),
    };
    let casts: Vec<String> = contract
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| format!("CAST(NULL AS {}) AS c{i}", c.sql_type))
        .collect();
    let types = ctx
        .sql(&format!("SELECT {}", casts.join(", ")))
        .await
        .map_err(|e| broken(format!("a type is not SQL: {e}")))?;
    let types = types.schema().as_arrow().clone();
    for (i, column) in contract.columns.iter().enumerate() {
        let promised = types.field(i).data_type();
        match schema.column_with_name(&column.name) {
            None => {
                return Err(broken(format!(
                    "the SQL has no column `{}`; add it to the SELECT or remove it from [contract.columns]",
                    column.name
                )));
            }
            Some((_, field)) if !same_type(field.data_type(), promised) => {
                return Err(broken(format!(
                    "column `{}` is {} but the contract says {} ({promised}); cast it in the SQL or fix the contract",
                    column.name,
                    field.data_type(),
                    column.sql_type
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = schema
        .fields()
        .iter()
        .find(|f| !contract.columns.iter().any(|c| &c.name == f.name()))
    {
        return Err(broken(format!(
            "the SQL returns `{}`, which the contract does not declare; declare it under [contract.columns] or drop it",
            extra.name()
        )));
    }
    Ok(())
}

fn same_type(planned: &DataType, promised: &DataType) -> bool {
    let text =
        |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View);
    planned == promised || (text(planned) && text(promised))
}

/// The schemas of the raw tables of `lake`'s published extractions (none
/// for a lake that does not exist or has no extraction).
pub async fn lake_raw_schemas(
    lake: &Lake,
    sources: &Sources,
) -> Result<Vec<(SourceTable, SchemaRef)>> {
    if !lake.exists().await? {
        return Ok(Vec::new());
    }
    let extractions = published_extractions(lake).await?;
    if extractions.is_empty() {
        return Ok(Vec::new());
    }
    let ctx = engine::session(lake, &EngineConfig::default(), None)?;
    for table in sources {
        if extractions
            .iter()
            .any(|m| m.tables.contains_key(table.name()))
        {
            tables::register_raw(&ctx, lake, table, &extractions).await?;
        }
    }
    Ok(raw_schemas(&ctx, sources).await)
}

/// The schema of each raw table registered in `ctx`.
pub async fn raw_schemas(ctx: &SessionContext, sources: &Sources) -> Vec<(SourceTable, SchemaRef)> {
    let mut out = Vec::new();
    for table in sources {
        if let Ok(provider) = ctx
            .table_provider(TableReference::partial("raw", table.name()))
            .await
        {
            out.push((table.clone(), provider.schema()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_retail_project_plans_against_the_source_contract() {
        let project = Project::builtin().unwrap();
        let (planned, _) = plan_all(&project, &[]).await.unwrap();
        assert_eq!(planned.len(), project.models.len());
        let report = planned.last().unwrap();
        assert_eq!(
            report.model.table().to_string(),
            "analytic.reporte_ventas_tienda"
        );
        let venta_neta = report.schema.field_with_name("venta_neta").unwrap();
        assert_eq!(venta_neta.data_type(), &DataType::Decimal128(18, 2));
    }
}
