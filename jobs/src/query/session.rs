//! The session `dfstore sql` (and any reader of the lake) queries: every
//! table registered, the published layers at the versions of the newest
//! successful run.

use datafusion::prelude::SessionContext;
use dfstore_core::pii::PiiKey;

use crate::contract::layer::{Layer, TableRef};
use crate::contract::source::SourceTable;
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::published_extractions;
use crate::lake::runs::{RunManifest, latest_success};
use crate::pipeline::model::{MODELS, published_tables};

/// A session with every table of the lake registered; returns the session
/// and the names of the tables it holds.
pub async fn lake_session(
    lake: &Lake,
    config: &EngineConfig,
) -> Result<(SessionContext, Vec<TableRef>)> {
    lake.require().await?;
    // The key is optional here: it only lets staging SQL be run by hand.
    let key = PiiKey::resolve(None).ok();
    let ctx = engine::session(lake, config, key.as_ref())?;
    let mut known = Vec::new();
    let extractions = published_extractions(lake).await?;
    for table in SourceTable::ALL {
        if extractions.iter().any(|m| m.tables.contains_key(&table)) {
            tables::register_raw(&ctx, lake, table, &extractions).await?;
            known.push(TableRef::new(Layer::Raw, table.name()));
        }
    }
    let pinned = latest_success(lake).await?;
    known.extend(register_published(&ctx, lake, pinned.as_ref()).await?);
    // Staging models are views here, computed from raw and the published
    // layers, so that every SQL file under sql/ runs by hand as it is.
    for model in MODELS.iter().filter(|m| m.layer == Layer::Staging) {
        match ctx.sql(model.sql).await {
            Ok(df) => {
                tables::register(&ctx, &model.table(), df.into_view())?;
                known.push(model.table());
            }
            Err(e) => {
                tracing::debug!(table = %model.table(), error = %e, "staging view unavailable")
            }
        }
    }
    Ok((ctx, known))
}

/// Registers the published layers (trusted, rejected, analytic) at the
/// versions `pinned` (the newest successful run) published; returns their
/// names. Without a successful run, the newest version of each.
pub async fn register_published(
    ctx: &SessionContext,
    lake: &Lake,
    pinned: Option<&RunManifest>,
) -> Result<Vec<TableRef>> {
    let mut known = Vec::new();
    for table in published_tables() {
        let version = pinned.and_then(|run| run.version_of(&table.to_string()));
        if pinned.is_some() && version.is_none() {
            continue;
        }
        if tables::register_published(ctx, lake, &table, version).await? {
            known.push(table);
        }
    }
    Ok(known)
}

/// Turns DataFusion's "table not found" into an error that lists the tables
/// the lake has; other planning errors keep DataFusion's explanation.
pub fn planning_error(e: datafusion::error::DataFusionError, known: &[TableRef]) -> Error {
    let message = e.to_string();
    if let Some(rest) = message.split("table '").nth(1)
        && message.contains("not found")
    {
        let name = rest.split('\'').next().unwrap_or(rest);
        let name = name.strip_prefix("datafusion.").unwrap_or(name);
        let names: Vec<String> = known.iter().map(ToString::to_string).collect();
        return Error::UnknownTable {
            table: name.to_string(),
            known: if names.is_empty() {
                "no tables yet (run `dfstore generate` and `dfstore run`)".into()
            } else {
                names.join(", ")
            },
        };
    }
    Error::InvalidSql {
        message: message
            .trim_start_matches("Error during planning: ")
            .to_string(),
    }
}
