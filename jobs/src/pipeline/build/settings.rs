//! The session and Parquet settings a model is built with.

use datafusion::config::TableParquetOptions;
use datafusion::prelude::SessionContext;

use crate::contract::layer::Layer;
use crate::pipeline::batches;
use crate::project::Model;

/// The key `model` runs in ranges of on a cluster only, when `ctx` runs
/// on one.
pub(super) fn cluster_key<'m>(ctx: &SessionContext, model: &'m Model) -> Option<&'m str> {
    model
        .cluster_key
        .as_deref()
        .filter(|_| batches::on_cluster(ctx))
}

/// The session a model runs in: a model built by key ranges (on a cluster,
/// also a model with a cluster key) with its joins as written
/// ([`as_written`]).
pub(super) fn run_context(ctx: &SessionContext, model: &Model) -> SessionContext {
    if model.by_key.is_some() || cluster_key(ctx, model).is_some() {
        as_written(ctx)
    } else {
        ctx.clone()
    }
}

/// `ctx` with its joins run in the order the SQL writes them: a model
/// built by key ranges names its small sides first, and statistics of a
/// range (estimated from a filter) must not swap the lines into a hash table
/// (on a cluster, a range of `staging.ventas` had become the hash table of
/// its join with the stores).
fn as_written(ctx: &SessionContext) -> SessionContext {
    let mut state = ctx.state();
    state.config_mut().options_mut().optimizer.join_reordering = false;
    SessionContext::new_with_state(state)
}

/// The session's Parquet settings, for staging without compression or
/// dictionaries: staging is read once more by the models after it and then
/// deleted, so compressing it or building dictionaries for it would cost
/// more than the bytes it saves (writing a scale-1 staging.detalle_ventas
/// took 1.5 CPU-s with dictionaries, 0.8 without).
pub(crate) fn parquet_options(ctx: &SessionContext, model: &Model) -> TableParquetOptions {
    let mut parquet = TableParquetOptions {
        global: ctx.copied_config().options().execution.parquet.clone(),
        ..Default::default()
    };
    if model.layer == Layer::Staging {
        parquet.global.compression = Some("uncompressed".into());
        parquet.global.dictionary_enabled = Some(false);
    }
    parquet
}
