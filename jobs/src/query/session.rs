//! The session `dfstore sql` (and any reader of the lake) queries: every
//! table registered, the published layers at the versions of the newest
//! successful run, as its manifest lists them (the lake describes itself:
//! no project is needed to read it), with the views it defined.

use datafusion::prelude::SessionContext;
use dfstore_core::pii::PiiKey;

use crate::contract::layer::{Layer, TableRef};
use crate::engine::{self, EngineConfig, tables};
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::published_extractions;
use crate::lake::runs::{RunManifest, latest_success, published_tables};
use crate::project::Project;
use crate::project::vars::Vars;

/// A session with every table of the lake registered; returns the session
/// and the names of the tables it holds.
pub async fn lake_session(
    lake: &Lake,
    config: &EngineConfig,
    project: &Project,
) -> Result<(SessionContext, Vec<TableRef>)> {
    lake.require().await?;
    // The key is optional here: it only lets staging SQL be run by hand.
    let key = PiiKey::resolve(None).ok();
    let ctx = engine::session(lake, config, key.as_ref())?;
    let mut known = Vec::new();
    let extractions = published_extractions(lake).await?;
    for table in &project.sources {
        if extractions
            .iter()
            .any(|m| m.tables.contains_key(table.name()))
        {
            tables::register_raw(&ctx, lake, table, &extractions).await?;
            known.push(TableRef::new(Layer::Raw, table.name()));
        }
    }
    let pinned = latest_success(lake).await?;
    known.extend(register_published(&ctx, lake, pinned.as_ref()).await?);
    known.extend(register_views(&ctx, pinned.as_ref(), &project.vars).await?);
    // Staging models are views here, computed from raw and the published
    // layers, so that every model's file runs by hand as it is.
    for model in project.models.iter().filter(|m| m.layer == Layer::Staging) {
        if let Some(table) = view(&ctx, &model.table(), &model.sql, &project.vars).await? {
            known.push(table);
        }
    }
    Ok((ctx, known))
}

/// Registers the views `pinned` (the newest successful run) defined;
/// returns their names.
pub async fn register_views(
    ctx: &SessionContext,
    pinned: Option<&RunManifest>,
    vars: &Vars,
) -> Result<Vec<TableRef>> {
    let mut known = Vec::new();
    for v in pinned.map(|run| run.views.as_slice()).unwrap_or_default() {
        known.extend(view(ctx, &v.table, &v.sql, vars).await?);
    }
    Ok(known)
}

/// Registers `sql` as the view `table` when it plans over what `ctx` has.
async fn view(
    ctx: &SessionContext,
    table: &TableRef,
    sql: &str,
    vars: &Vars,
) -> Result<Option<TableRef>> {
    let planned = match ctx.sql(sql).await {
        Ok(df) => match vars.params_for(sql) {
            None => Ok(df),
            Some(params) => df.with_param_values(params),
        },
        Err(e) => Err(e),
    };
    match planned {
        Ok(df) => {
            tables::register(ctx, table, df.into_view())?;
            Ok(Some(table.clone()))
        }
        Err(e) => {
            tracing::debug!(table = %table, error = %e, "view unavailable");
            Ok(None)
        }
    }
}

/// Registers the published tables at the versions `pinned` (the newest
/// successful run) left; returns their names. Without a successful run,
/// the newest version of every Delta table of the published layers.
pub async fn register_published(
    ctx: &SessionContext,
    lake: &Lake,
    pinned: Option<&RunManifest>,
) -> Result<Vec<TableRef>> {
    let mut known = Vec::new();
    for (table, version) in published_tables(lake, pinned).await? {
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
        return unknown_table(name, &names);
    }
    Error::InvalidSql {
        message: message
            .trim_start_matches("Error during planning: ")
            .to_string(),
    }
}

/// `table` is not among `known`: the closest known name, if one is
/// close, else how to list them.
pub fn unknown_table(table: &str, known: &[String]) -> Error {
    let closest = known
        .iter()
        .map(|k| (strsim::jaro_winkler(table, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match (closest, known.is_empty()) {
        (Some((_, name)), _) => {
            format!("did you mean `{name}`? (`dfstore tables` lists every table)")
        }
        (None, true) => {
            "the lake has no tables yet (run `dfstore generate` and `dfstore run`)".into()
        }
        (None, false) => "`dfstore tables` lists every table".into(),
    };
    Error::UnknownTable {
        table: table.to_string(),
        hint,
    }
}
