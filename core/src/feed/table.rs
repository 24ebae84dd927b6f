//! The table a reader's write is planned over: its scan is the [`FedExec`]
//! leaf a [`super::FeedExec`] task feeds.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::logical_expr::Expr;
use datafusion::physical_expr::expressions::col;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;

use super::FedExec;

/// The rows fed to a write on the cluster, as a table to plan it over.
#[derive(Debug)]
pub struct FedTable {
    schema: SchemaRef,
}

impl FedTable {
    /// The rows of a query of `schema`.
    pub fn new(schema: SchemaRef) -> Self {
        FedTable { schema }
    }
}

#[async_trait]
impl TableProvider for FedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let fed: Arc<dyn ExecutionPlan> = Arc::new(FedExec::new(Arc::clone(&self.schema)));
        let Some(columns) = projection else {
            return Ok(fed);
        };
        let columns = columns
            .iter()
            .map(|&i| {
                let field = self.schema.field(i);
                let column = col(field.name(), &self.schema)?;
                Ok((column, field.name().clone()))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(ProjectionExec::try_new(columns, fed)?))
    }
}
