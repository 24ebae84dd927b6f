//! The demo's "on-premise" database: `dfstore source init` creates the
//! `retail` schema of spec section 1 in a PostgreSQL database and loads the
//! generator's data into it; `dfstore source apply-changes` makes one day of
//! changes there (`sql/source/changes.sql`), for incremental extractions.
//!
//! `init` loads the final state of the generator's two extractions: E1 with
//! binary `COPY`, then E2 merged by the rule trusted applies (a version with
//! a later or equal `actualizado_en` replaces the row). A full extraction
//! of the database therefore holds exactly the rows the generated lake
//! deduplicates to.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use dfstore_core::{LakeUrl, S3Settings};
use futures::{TryStreamExt, pin_mut};
use tokio_postgres::Client;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tracing::info;

use crate::contract::source::SourceTable;
use crate::error::{Error, Result};
use crate::generate::{GenerateOptions, generate};
use crate::lake::Lake;
use crate::lake::raw::{RawTable, read_file};
use crate::postgres::Postgres;
use crate::postgres::columns::{SourceColumn, quote_ident, source_columns};
use crate::postgres::copy_in::copy_batch;
use crate::project::builtin;

/// The DDL of the source schema.
pub const SCHEMA_SQL: &str = include_str!("../../../sql/source/schema.sql");
/// One day of changes.
pub const CHANGES_SQL: &str = include_str!("../../../sql/source/changes.sql");

/// Rows per table after `init` or `apply-changes`.
#[derive(Debug, Clone)]
pub struct SourceSummary {
    /// Per table: rows, and rows changed by the command.
    pub tables: Vec<(SourceTable, u64, u64)>,
    /// The day of the changes, for `apply-changes`.
    pub day: Option<NaiveDate>,
    /// Wall-clock time.
    pub elapsed: Duration,
}

/// Creates `retail` in `pg` (dropping an earlier one) and loads the data
/// `options` generates.
pub async fn init(pg: &Postgres, options: &GenerateOptions) -> Result<SourceSummary> {
    let started = Instant::now();
    let folder = std::env::temp_dir().join(format!("dfstore-source-{}", uuid::Uuid::now_v7()));
    let result = init_from(pg, options, &folder).await;
    let _ = std::fs::remove_dir_all(&folder);
    let tables = result?;
    Ok(SourceSummary {
        tables,
        day: None,
        elapsed: started.elapsed(),
    })
}

async fn init_from(
    pg: &Postgres,
    options: &GenerateOptions,
    folder: &std::path::Path,
) -> Result<Vec<(SourceTable, u64, u64)>> {
    let url = LakeUrl::parse(&folder.display().to_string())?;
    let scratch = Lake::open(url, &S3Settings::default())?;
    let generated = generate(&scratch, options).await?;
    let client = pg.connect().await?;
    client
        .batch_execute(SCHEMA_SQL)
        .await
        .map_err(|e| pg.error(&e))?;
    let mut out = Vec::new();
    for table in builtin::sources()?.iter() {
        let name = table.name();
        let columns = source_columns(&client, table.schema_name(), name).await?;
        let target = format!("retail.{}", quote_ident(name));
        let mut loaded = 0;
        for (i, extraction) in generated.extractions.iter().enumerate() {
            let Some(entry) = extraction.tables.get(name) else {
                continue;
            };
            if i == 0 {
                loaded += copy_in(pg, &client, &scratch, &target, &columns, entry).await?;
            } else {
                loaded += merge(pg, &client, &scratch, table, &columns, entry).await?;
            }
        }
        client
            .batch_execute(&format!("ANALYZE retail.{}", quote_ident(name)))
            .await
            .map_err(|e| pg.error(&e))?;
        let rows = count(pg, &client, name, None).await?;
        info!(table = name, rows, loaded, "loaded");
        out.push((table.clone(), rows, loaded));
    }
    Ok(out)
}

/// Loads the rows of `entry`'s files into `target` (a table of `retail`,
/// or a temporary one shaped like it, as SQL) with binary `COPY`.
async fn copy_in(
    pg: &Postgres,
    client: &Client,
    lake: &Lake,
    target: &str,
    columns: &[SourceColumn],
    entry: &RawTable,
) -> Result<u64> {
    let types: Vec<_> = columns.iter().map(|c| c.pg.wire()).collect();
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let sink = client
        .copy_in(&format!(
            "COPY {target} ({}) FROM STDIN (FORMAT binary)",
            names.join(", ")
        ))
        .await
        .map_err(|e| pg.error(&e))?;
    let writer = BinaryCopyInWriter::new(sink, &types);
    pin_mut!(writer);
    for file in &entry.files {
        let mut batches = read_file(lake, file).await?;
        while let Some(batch) = batches.try_next().await? {
            copy_batch(pg, writer.as_mut(), &batch).await?;
        }
    }
    writer.finish().await.map_err(|e| pg.error(&e))
}

/// Merges a later extraction: a row replaces the stored one when its
/// `actualizado_en` is later or equal (spec rule 3.1: ties go to the later
/// extraction); new keys are inserted.
async fn merge(
    pg: &Postgres,
    client: &Client,
    lake: &Lake,
    table: &SourceTable,
    columns: &[SourceColumn],
    entry: &RawTable,
) -> Result<u64> {
    let name = table.name();
    let staging = quote_ident(&format!("cambios_{name}"));
    client
        .batch_execute(&format!(
            "CREATE TEMP TABLE {staging} (LIKE retail.{})",
            quote_ident(name)
        ))
        .await
        .map_err(|e| pg.error(&e))?;
    copy_in(pg, client, lake, &staging, columns, entry).await?;
    let key: Vec<String> = table.primary_key().iter().map(|k| quote_ident(k)).collect();
    let set: Vec<String> = columns
        .iter()
        .filter(|c| !table.primary_key().contains(&c.name))
        .map(|c| format!("{0} = EXCLUDED.{0}", quote_ident(&c.name)))
        .collect();
    let merged = client
        .execute(
            &format!(
                "INSERT INTO retail.{t} AS t SELECT * FROM {s} \
                 ON CONFLICT ({key}) DO UPDATE SET {set} \
                 WHERE EXCLUDED.actualizado_en >= t.actualizado_en",
                t = quote_ident(name),
                s = staging,
                key = key.join(", "),
                set = set.join(", "),
            ),
            &[],
        )
        .await
        .map_err(|e| pg.error(&e))?;
    client
        .batch_execute(&format!("DROP TABLE {staging}"))
        .await
        .map_err(|e| pg.error(&e))?;
    Ok(merged)
}

async fn count(
    pg: &Postgres,
    client: &Client,
    table: &str,
    since: Option<NaiveDate>,
) -> Result<u64> {
    let filter = match since {
        Some(day) => format!("WHERE actualizado_en >= '{day}'::date"),
        None => String::new(),
    };
    let row = client
        .query_one(
            &format!(
                "SELECT count(*) FROM retail.{} {filter}",
                quote_ident(table)
            ),
            &[],
        )
        .await
        .map_err(|e| pg.error(&e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Which day of changes `apply_changes` makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Changes {
    /// Picks the changed rows: the same seed on the same data gives the
    /// same changes.
    pub seed: u64,
    /// The day of the changes; the one after the latest change if none.
    pub day: Option<NaiveDate>,
    /// Voids and corrections only of tickets sold in these many days
    /// before `day`; of any ticket if none.
    pub recent_days: Option<u32>,
}

/// Applies one day of changes (`sql/source/changes.sql`) in one
/// transaction.
pub async fn apply_changes(pg: &Postgres, changes: &Changes) -> Result<SourceSummary> {
    let Changes {
        seed,
        day,
        recent_days,
    } = *changes;
    let started = Instant::now();
    let mut client = pg.connect().await?;
    let day = match day {
        Some(day) => day,
        None => {
            let row = client
                .query_one(
                    "SELECT ((SELECT greatest(max(v.actualizado_en), max(d.actualizado_en), max(k.actualizado_en)) \
                      FROM (SELECT max(actualizado_en) AS actualizado_en FROM retail.ventas) v, \
                           (SELECT max(actualizado_en) AS actualizado_en FROM retail.detalle_ventas) d, \
                           (SELECT max(actualizado_en) AS actualizado_en FROM retail.clientes) k) \
                      AT TIME ZONE 'UTC')::date + 1",
                    &[],
                )
                .await
                .map_err(|e| pg.error(&e))?;
            row.try_get::<_, NaiveDate>(0).map_err(|_| Error::Source {
                database: pg.to_string(),
                reason: "the retail tables are empty".into(),
                fix: "run `dfstore source init` first".into(),
            })?
        }
    };
    let tx = client.transaction().await.map_err(|e| pg.error(&e))?;
    tx.batch_execute(&format!(
        "SET LOCAL dfstore.semilla = '{seed}'; SET LOCAL dfstore.dia = '{day}'; \
         SET LOCAL dfstore.recientes = '{}';",
        recent_days.unwrap_or(0)
    ))
    .await
    .map_err(|e| pg.error(&e))?;
    tx.batch_execute(CHANGES_SQL)
        .await
        .map_err(|e| pg.error(&e))?;
    tx.commit().await.map_err(|e| pg.error(&e))?;
    let mut tables = Vec::new();
    for table in builtin::sources()?.iter() {
        let rows = count(pg, &client, table.name(), None).await?;
        let changed = count(pg, &client, table.name(), Some(day)).await?;
        tables.push((table.clone(), rows, changed));
    }
    Ok(SourceSummary {
        tables,
        day: Some(day),
        elapsed: started.elapsed(),
    })
}
