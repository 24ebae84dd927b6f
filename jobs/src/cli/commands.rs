//! One function per subcommand: open what it needs, call the library, print
//! the result for people on standard output.

use dfstore_core::pii::PiiKey;

use crate::catalog;
use std::sync::Arc;

use crate::cli::args::{
    ApplyChangesArgs, CatalogShowArgs, CheckArgs, DemoArgs, Format, GenerateArgs, IngestArgs,
    InitArgs, InventoryArgs, LakeArgs, LoadArgs, NightlyArgs, RunArgs, SourceInitArgs, SqlArgs,
    SyncGlueArgs, TestArgs,
};
use crate::cli::render::{self, inventory};
use crate::engine::EngineConfig;
use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, generate};
use crate::ingest::{self, IngestOptions};
use crate::lake::Lake;
use crate::lake::runs::RunManifest;
use crate::lake::runs::list_runs;
use crate::nightly::NightlyOptions;
use crate::nightly::metrics;
use crate::nightly::notify::Notifier;
use crate::nightly::retry::RetryPolicy;
use crate::pipeline::{self, DEFAULT_CONCURRENT_MODELS, RunOptions};
use crate::postgres::source_db;
use crate::project::{Project, builtin};
use crate::query::{self, Output, OutputFormat};
use crate::warehouse::{self, LoadOptions, LoadSummary};

/// `dfstore generate`.
pub async fn generate_lake(args: GenerateArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let options = GenerateOptions {
        scale: args.scale,
        seed: args.seed,
        years: args.years,
    };
    let generated = generate(&lake, &options).await?;
    render::say(&render::run::render_generated(&generated));
    Ok(())
}

/// `dfstore run`, after `ingest` with `--ingest`.
pub async fn run(args: RunArgs) -> Result<()> {
    let lake = args.lake.open()?;
    // The project is read and checked before anything else happens.
    let project = Arc::new(args.project.open(lake.s3_settings()).await?);
    if args.ingest {
        let pg = args.pg.open("--ingest").await?;
        let published = ingest::ingest(&pg, &lake, &IngestOptions::every(&project.sources)).await?;
        render::say(&render::run::render_ingest(&published));
        render::say("\n");
    }
    let options = RunOptions {
        period: args.period.clone(),
        engine: EngineConfig::from(&args.engine),
        pii_key: PiiKey::resolve(args.pii_key_file.as_deref())?,
        concurrent_models: usize::from(args.concurrent_models),
        project,
        select: args.select,
        exclude: args.exclude,
        full_refresh: args.full_refresh,
        full_refresh_above: args.full_refresh_above,
    };
    // The warehouse is checked before the run, not after an hour's work.
    let load = match args.load {
        true => Some((
            warehouse::models_to_load(&options.project, "--load")?,
            args.warehouse.open("--load").await?,
        )),
        false => None,
    };
    let sinks = args.metrics.sinks()?;
    let manifest = match pipeline::run(&lake, &options).await {
        Ok(manifest) => manifest,
        Err(e) => return Err(emitted(&lake, &sinks, None, &[], e).await),
    };
    let json = args.format.format == Format::Json;
    if !json {
        render::say(&render::run::render(&manifest));
    }
    let mut loaded = Vec::new();
    if let Some((models, warehouse)) = load {
        for model in models {
            let options = LoadOptions {
                period: args.period.clone(),
                version: manifest.version_of(&model.table().to_string()),
            };
            match warehouse::load(&lake, model, &warehouse, &options).await {
                Ok(one) => loaded.push(one),
                Err(e) => {
                    return Err(emitted(&lake, &sinks, Some(&manifest), &loaded, e).await);
                }
            }
        }
    }
    if json {
        let loads: Vec<_> = loaded.iter().map(render::load::load_json).collect();
        render::print_json(&serde_json::json!({ "run": manifest, "loads": loads }))?;
    } else {
        for one in &loaded {
            render::say("\n");
            render::say(&render::load::render_load(one));
        }
    }
    let url = lake.url().to_string();
    metrics::emit(&night(&url, Some(&manifest), &loaded, false), &sinks).await
}

/// The metrics of a lone run or load.
fn night<'a>(
    lake_url: &'a str,
    run: Option<&'a RunManifest>,
    loads: &'a [LoadSummary],
    reconciliation_failed: bool,
) -> metrics::Night<'a> {
    metrics::Night {
        lake: lake_url.trim_end_matches('/'),
        nightly: None,
        run,
        loads,
        reconciliation_failed,
    }
}

/// Sends the metrics of a run or load that failed with `error`, and
/// returns the error (a failure to send them is logged, never reported
/// instead of it).
async fn emitted(
    lake: &Lake,
    sinks: &metrics::Sinks,
    run: Option<&RunManifest>,
    loads: &[LoadSummary],
    error: Error,
) -> Error {
    let url = lake.url().to_string();
    let failed = metrics::is_reconciliation(&error);
    if let Err(e) = metrics::emit(&night(&url, run, loads, failed), sinks).await {
        tracing::warn!(error = %e, "could not send the metrics");
    }
    error
}

/// `dfstore nightly`.
pub async fn nightly(args: NightlyArgs) -> Result<()> {
    if args.notify_sns.is_some() {
        Error::require_feature(cfg!(feature = "aws"), "--notify-sns", "aws")?;
    }
    let lake = args.lake.open()?;
    let project = Arc::new(args.project.open(lake.s3_settings()).await?);
    let pg = match args.pg.pg {
        Some(_) => Some(args.pg.open("nightly").await?),
        None => None,
    };
    let warehouse = match args.warehouse.url {
        Some(_) => Some(args.warehouse.open("nightly").await?),
        None => None,
    };
    let delay = args
        .retry_delay
        .to_std()
        .map_err(|e| Error::InvalidArgument {
            flag: "--retry-delay".into(),
            reason: e.to_string(),
        })?;
    let options = NightlyOptions {
        pg,
        warehouse,
        run: RunOptions {
            period: None,
            engine: EngineConfig::from(&args.engine),
            pii_key: PiiKey::resolve(args.pii_key_file.as_deref())?,
            concurrent_models: usize::from(args.concurrent_models),
            project,
            select: Vec::new(),
            exclude: Vec::new(),
            full_refresh: args.full_refresh,
            full_refresh_above: args.full_refresh_above,
        },
        retry: RetryPolicy {
            retries: usize::from(args.retries),
            delay,
        },
        notifier: Notifier {
            webhook: args.notify_url,
            command: args.notify_command,
            sns_topic: args.notify_sns,
        },
        metrics: args.metrics.sinks()?,
    };
    let manifest = crate::nightly::nightly(&lake, &options).await?;
    match args.format.format {
        Format::Text => render::say(&render::nightly::render_nightly(&manifest)),
        Format::Json => render::print_json(&manifest)?,
    }
    Ok(())
}

/// `dfstore load`.
pub async fn load(args: LoadArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let project = args.project.open(lake.s3_settings()).await?;
    let model = warehouse::model_to_load(&project, args.table.as_ref(), "--table")?;
    let warehouse = args.warehouse.open("load").await?;
    let options = LoadOptions {
        period: args.period,
        version: args.version,
    };
    let sinks = args.metrics.sinks()?;
    let loaded = match warehouse::load(&lake, model, &warehouse, &options).await {
        Ok(loaded) => loaded,
        Err(e) => return Err(emitted(&lake, &sinks, None, &[], e).await),
    };
    match args.format.format {
        Format::Text => render::say(&render::load::render_load(&loaded)),
        Format::Json => render::print_json(&render::load::load_json(&loaded))?,
    }
    let url = lake.url().to_string();
    metrics::emit(
        &night(&url, None, std::slice::from_ref(&loaded), false),
        &sinks,
    )
    .await
}

/// `dfstore sql`.
pub async fn sql(args: SqlArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let sql = match (&args.query, &args.file) {
        (Some(q), _) => q.clone(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| Error::InvalidArgument {
            flag: "--file".into(),
            reason: format!("cannot read {}: {e}", f.display()),
        })?,
        (None, None) => {
            return Err(Error::InvalidArgument {
                flag: "QUERY".into(),
                reason: "give a query or --file".into(),
            });
        }
    };
    let output = Output {
        format: args.format,
        path: args.output.clone(),
    };
    let project = args.project.open(lake.s3_settings()).await?;
    query::query(
        &lake,
        &EngineConfig::from(&args.engine),
        &project,
        &sql,
        &output,
    )
    .await?;
    Ok(())
}

/// `dfstore demo`: generate, run, and a look at the report.
pub async fn demo(args: DemoArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let key = PiiKey::default_or_create()?;
    let options = GenerateOptions {
        scale: args.scale,
        seed: args.seed,
        ..GenerateOptions::default()
    };
    let generated = generate(&lake, &options).await?;
    render::say(&render::run::render_generated(&generated));
    let options = RunOptions {
        period: None,
        engine: EngineConfig::default(),
        pii_key: key,
        concurrent_models: DEFAULT_CONCURRENT_MODELS,
        project: Arc::new(Project::builtin()?),
        select: Vec::new(),
        exclude: Vec::new(),
        full_refresh: false,
        full_refresh_above: pipeline::increment::DEFAULT_FULL_REFRESH_ABOVE,
    };
    let manifest = pipeline::run(&lake, &options).await?;
    render::say("\n");
    render::say(&render::run::render(&manifest));
    // --quiet: the demo's summary and its look at the report are not printed.
    if render::is_quiet() {
        return Ok(());
    }
    render::say("\nanalytic.reporte_ventas_tienda, best five store-days by venta_neta:\n");
    query::query(
        &lake,
        &EngineConfig::default(),
        &options.project,
        "SELECT fecha, codigo_tienda, ciudad, num_ventas, unidades, venta_neta, margen_bruto, ticket_promedio \
         FROM analytic.reporte_ventas_tienda ORDER BY venta_neta DESC, fecha, codigo_tienda LIMIT 5",
        &Output {
            format: OutputFormat::Table,
            path: None,
        },
    )
    .await?;
    render::say(&format!(
        "\nnext: dfstore sql --lake {} \"SELECT periodo, SUM(venta_neta) FROM analytic.reporte_ventas_tienda GROUP BY periodo ORDER BY periodo\"\n",
        args.lake.lake
    ));
    Ok(())
}

/// `dfstore init`.
pub fn init(args: &InitArgs) -> Result<()> {
    let written = builtin::init(&args.dir)?;
    render::say(&render::project::render_init(&args.dir, &written));
    Ok(())
}

/// `dfstore check`: every model planned without data.
pub async fn check(args: CheckArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let project = args.project.open(lake.s3_settings()).await?;
    let raw = pipeline::plan::lake_raw_schemas(&lake, &project.sources).await?;
    let (planned, seconds) = pipeline::plan::plan_all(&project, &raw).await?;
    render::say(&render::project::render_check(
        &project,
        &planned,
        seconds,
        !raw.is_empty(),
    ));
    Ok(())
}

/// `dfstore test`: the project's data tests against the published tables.
pub async fn test(args: TestArgs) -> Result<()> {
    let lake = args.lake.open()?;
    let project = args.project.open(lake.s3_settings()).await?;
    let (ctx, known) =
        query::lake_session(&lake, &EngineConfig::from(&args.engine), &project).await?;
    // The published tables, and the views, of the project's models.
    let models: Vec<&crate::project::Model> = project
        .models
        .iter()
        .filter(|m| m.layer != crate::contract::layer::Layer::Staging && known.contains(&m.table()))
        .map(AsRef::as_ref)
        .collect();
    let singular: Vec<_> = project.tests.iter().collect();
    let outcomes = pipeline::quality::run_tests(&ctx, &models, &singular).await?;
    render::say(&render::project::render_tests(&outcomes));
    match pipeline::quality::first_error(&outcomes) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// `dfstore tables`.
pub async fn tables(args: InventoryArgs) -> Result<()> {
    let lake = args.lake.open()?;
    lake.require().await?;
    let tables = catalog::crawler::lake_tables(&lake).await?;
    match args.format.format {
        Format::Text => render::print(&inventory::render_tables(&tables))?,
        Format::Json => render::print_json(&tables)?,
    }
    Ok(())
}

/// `dfstore runs`.
pub async fn runs(args: InventoryArgs) -> Result<()> {
    let lake = args.lake.open()?;
    lake.require().await?;
    let runs = list_runs(&lake).await?;
    match args.format.format {
        Format::Text => render::print(&inventory::render_runs(&runs))?,
        Format::Json => render::print_json(&runs)?,
    }
    Ok(())
}

/// `dfstore ingest`, or `ingest --verify`.
pub async fn ingest(args: IngestArgs) -> Result<()> {
    let lake = args.lake.open()?;
    if args.verify {
        let verified = ingest::verify(&lake, args.extraction).await?;
        render::say(&render::run::render_verified(&verified));
    } else {
        let project = args.project.open(lake.s3_settings()).await?;
        let options = args.options(&project.sources)?;
        let pg = args.pg.open("ingest").await?;
        let published = ingest::ingest(&pg, &lake, &options).await?;
        render::say(&render::run::render_ingest(&published));
    }
    Ok(())
}

/// `dfstore source init`.
pub async fn source_init(args: SourceInitArgs) -> Result<()> {
    let pg = args.pg.open("source init").await?;
    let options = GenerateOptions {
        scale: args.scale,
        seed: args.seed,
        years: args.years,
    };
    let summary = source_db::init(&pg, &options).await?;
    let what = format!(
        "created retail in {pg} with generated data (scale {}, seed {}, {} of sales)",
        args.scale,
        args.seed,
        match args.years {
            1 => "1 year".to_string(),
            n => format!("{n} years"),
        }
    );
    render::say(&render::run::render_source(&summary, &what));
    Ok(())
}

/// `dfstore source apply-changes`.
pub async fn source_apply_changes(args: ApplyChangesArgs) -> Result<()> {
    let pg = args.pg.open("source apply-changes").await?;
    let changes = source_db::Changes {
        seed: args.seed,
        day: args.day,
        recent_days: args.recent_days,
    };
    let summary = source_db::apply_changes(&pg, &changes).await?;
    let what = format!("applied one day of changes (seed {}) to {pg}", args.seed);
    render::say(&render::run::render_source(&summary, &what));
    Ok(())
}

/// `dfstore catalog crawl`.
pub async fn catalog_crawl(args: LakeArgs) -> Result<()> {
    let crawl = catalog::crawl(&args.open()?).await?;
    render::say(&render::catalog::render_crawl(&crawl));
    Ok(())
}

/// `dfstore catalog sync-glue`.
pub async fn catalog_sync_glue(args: SyncGlueArgs) -> Result<()> {
    #[cfg(feature = "aws")]
    {
        let lake = args.lake.open()?;
        let synced = catalog::glue::sync(&lake, &args.database).await?;
        render::say(&render::catalog::render_glue(&args.database, &synced));
        Ok(())
    }
    #[cfg(not(feature = "aws"))]
    {
        let _ = args;
        Err(Error::not_built("dfstore catalog sync-glue", "aws"))
    }
}

/// `dfstore catalog show`.
pub async fn catalog_show(args: CatalogShowArgs) -> Result<()> {
    let lake = args.lake.open()?;
    lake.require().await?;
    let crawl = catalog::latest(&lake)
        .await?
        .ok_or_else(|| Error::NoCatalog {
            lake: lake.url().to_string(),
        })?;
    let json = args.format.format == Format::Json;
    match &args.table {
        None if json => render::print_json(&crawl)?,
        None => render::print(&render::catalog::render_catalog(&crawl))?,
        Some(table) => {
            let found = crawl.table(table).ok_or_else(|| {
                let known: Vec<String> = crawl.tables.iter().map(|t| t.table.to_string()).collect();
                crate::query::session::unknown_table(&table.to_string(), &known)
            })?;
            match json {
                true => render::print_json(found)?,
                false => render::print(&render::catalog::render_table(&crawl, found))?,
            }
        }
    }
    Ok(())
}
