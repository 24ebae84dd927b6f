//! A model materialised as a view or ephemeral: nothing is written.

use std::sync::Arc;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use datafusion::prelude::SessionContext;

use super::{Staged, planned, step_of};
use crate::engine::tables;
use crate::error::Result;
use crate::lake::runs::Step;
use crate::project::Model;
use crate::project::vars::Vars;

/// A model materialised as a view or ephemeral: planned over what it reads
/// and registered for the models after it; nothing is written.
pub(super) async fn define_view(
    ctx: &SessionContext,
    model: &Arc<Model>,
    vars: &Vars,
) -> Result<(Step, Staged)> {
    let started = Instant::now();
    let table = model.table();
    let what = format!("{table} ({})", model.file);
    let df = planned(ctx, model, vars, &what).await?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    tables::register(ctx, &table, df.into_view())?;
    let staged = Staged {
        model: Arc::clone(model),
        schema,
        files: Vec::new(),
        replaced: None,
    };
    Ok((step_of(model, &staged, started), staged))
}
