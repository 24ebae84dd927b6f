//! The deterministic generator of DMC Retail source data (spec section 5),
//! written into the lake as two raw extractions, as the real extractor would:
//!
//! - **E1** ([`initial_extraction`], 2026-01-02T06:00:00Z): the full load
//!   of the five tables;
//! - **E2** ([`incremental_extraction`], 2026-01-03T06:00:00Z): a small
//!   re-extraction of some rows of every table, with later changes, ties and
//!   stale copies, to exercise the pipeline's deduplication (spec rule 3.1).
//!
//! The same `(seed, scale)` gives the same rows, byte for byte: every table
//! (and every chunk of a fact table) draws from its own ChaCha8 stream, so
//! nothing depends on the order in which tables or chunks are produced.
//!
//! # Sizes
//!
//! `scale` 1 is 50 stores, 5,000 products (fixed), 100,000 customers and
//! 1,000,000 tickets with 1–5 lines each (mean 3), sold in 2025 between 07:00
//! and 23:59:59 Lima time (UTC−05:00): every sale after 19:00 local falls on
//! the next UTC day. Stores, customers and tickets scale linearly (rounded; at
//! least 1 store, 1 customer and 10 tickets). A longer history (`years` above
//! 1) keeps the stores, customers and tickets per day, and sells over the
//! `years` × 365 days that end with 2025: more tickets, the same business.
//!
//! # Dirty data and changes
//!
//! Rates are per row (per value for text); random cases come on top of the
//! [`planted`] rows, which exist at every scale. The rule in brackets is the
//! one of spec section 3 that should reject the row.
//!
//! | table | case | rate | planted |
//! |---|---|---|---|
//! | ventas | `id_tienda` above every store \[tienda_desconocida\] | 0.2% | tickets 1, 4 |
//! | ventas | `fecha_venta` in Feb–Mar 2026, after E1 \[fecha_futura\] | 0.1% | tickets 2, 4 |
//! | ventas | `estado` PENDIENTE, DEVUELTA, EN PROCESO \[estado_invalido\] | 0.1% | tickets 3, 4 |
//! | ventas | several defects at once (first rule wins) | product of the above | ticket 4 |
//! | ventas | `estado` ANULADA (valid, voided) | 3% | ticket 10 |
//! | ventas | `id_cliente` NULL (anonymous) | 20% | ticket 6 |
//! | ventas | sale after 19:00 local (next UTC day) | ~29% | tickets 5, 6 |
//! | ventas | `canal` TIENDA/WEB/APP | 75/15/10% | |
//! | ventas | `medio_pago` EFECTIVO/TARJETA/BILLETERA | 35/50/15% | |
//! | detalle_ventas | lines of a ticket with no header \[venta_desconocida\] | 0.15% of tickets get 1–3 (≈0.1% of lines) | `(tickets + 1, 1)` |
//! | detalle_ventas | `id_producto` above 5,000 \[producto_desconocido\] | 0.1% | (5,2), (5,4) |
//! | detalle_ventas | `cantidad` −3..=0 \[cantidad_invalida\] | 0.1% | (5,3) zero, (6,5) negative |
//! | detalle_ventas | `precio_unitario` negative \[precio_invalido\] | 0.05% | (6,2) |
//! | detalle_ventas | `descuento` negative or above the gross \[descuento_invalido\] | 0.1% (half each) | (6,3), (6,4) |
//! | detalle_ventas | promotional `precio_unitario`, 80–95% of list | 10% | |
//! | detalle_ventas | `descuento` 1–10% of the gross (else 0) | 15% | |
//! | all | code/enum value with spaces and/or lower or mixed case | 5% per value | store 1, ticket 5, customer 2 |
//! | all | other text with surrounding spaces | 5% per value | store 1, customer 2 |
//! | tiendas | `activa` false | 4% | |
//! | productos | `subcategoria` / `marca` NULL | 10% / 8% | |
//! | productos | `costo_unitario` ending in `50` (a 5 in the third decimal) | 10% | products 2, 3 |
//! | productos | `activo` false | 3% | |
//! | clientes | `documento` / `nombre` / `email` NULL | 3% / 2% / 15% | customers 1, 2 |
//! | clientes | `ciudad` / `fecha_registro` NULL | 2% / 5% | customer 1 |
//! | clientes | `segmento` REGULAR/FRECUENTE/VIP | 70/22/8% | |
//! | E2 ventas | re-extracted: later void (or later `medio_pago` change if not COMPLETADA) | 0.25% | ticket 7 |
//! | E2 ventas | re-extracted: later `medio_pago` change | 0.125% | ticket 10 |
//! | E2 ventas | re-extracted: same `actualizado_en`, other `medio_pago` (tie → E2 wins) | 0.0625% | ticket 8 |
//! | E2 ventas | re-extracted: older `actualizado_en`, other `canal` (stale → E1 wins) | 0.0625% | ticket 9 |
//! | E2 detalle_ventas | clean line re-extracted later, ±1 unit and new discount | 0.5% | (8,1) |
//! | E2 tiendas | renamed (`… Renovada`) | ids 1, 11, 21, … (10%) | store 1 |
//! | E2 productos | new `costo_unitario` (±8%) | 1% | product 1 |
//! | E2 clientes | new `segmento` | 1% | customer 1 |
//!
//! `actualizado_en` is at most the extraction instant in both extractions;
//! E2's later versions are 1–23 hours after E1.
//!
//! [`initial_extraction`]: crate::generate::initial_extraction
//! [`incremental_extraction`]: crate::generate::incremental_extraction
//! [`planted`]: crate::generate::planted

mod calendar;
mod clientes;
mod columns;
mod dims;
mod facts;
pub mod planted;
mod rows;
mod sink;
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
mod text;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use object_store::ObjectStoreExt;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tracing::info;

use crate::contract::extraction::ExtractionId;
use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::lake::raw::{ExtractionManifest, RawTable};
use clientes::{ClientesPlan, clientes_batch};
use facts::FactsPlan;
use rows::{detalle_batch, ventas_batch};
use sink::{Ahead, TableSink, write_table};

/// Products in the catalogue, at every scale.
pub const PRODUCTS: i32 = 5_000;
/// The largest accepted scale factor.
pub const MAX_SCALE: f64 = 100.0;
/// The longest history, in years of sales.
pub const MAX_YEARS: u32 = 5;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenerateOptions {
    /// Scale factor: 1 is ~1,000,000 tickets; above 0 and at most [`MAX_SCALE`].
    pub scale: f64,
    /// Seed of every random stream.
    pub seed: u64,
    /// Years of sales history, ending with 2025: 1 to [`MAX_YEARS`].
    pub years: u32,
}

impl Default for GenerateOptions {
    /// Scale 1, seed 42, one year: what `dfstore generate` makes by default.
    fn default() -> Self {
        GenerateOptions {
            scale: 1.0,
            seed: 42,
            years: 1,
        }
    }
}

/// Row counts that a scale factor gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Stores (`tiendas`).
    pub stores: i32,
    /// Products (`productos`), always [`PRODUCTS`].
    pub products: i32,
    /// Customers (`clientes`).
    pub customers: i64,
    /// Tickets (`ventas` of E1); lines are about three times as many.
    pub tickets: i64,
    /// Days of sales history: 365 a year.
    pub days: i64,
}

impl GenerateOptions {
    /// Checks the scale and the years, and returns the table sizes they give.
    pub fn sizes(&self) -> Result<Sizes> {
        let (scale, years) = (self.scale, self.years);
        if !(1..=MAX_YEARS).contains(&years) {
            return Err(Error::InvalidArgument {
                flag: "--years".into(),
                reason: format!(
                    "{years} is out of range; give 1 to {MAX_YEARS} years of sales history \
                     (1 = the sales of 2025)"
                ),
            });
        }
        if !(scale > 0.0 && scale <= MAX_SCALE) {
            return Err(Error::InvalidArgument {
                flag: "--scale".into(),
                reason: format!(
                    "{scale} is out of range; give a factor above 0 and at most {MAX_SCALE} \
                     (1 = 50 stores and about 1,000,000 tickets, 0.01 for a quick try)"
                ),
            });
        }
        // In range, the products below fit their types (at most 500,000,000).
        let linear = |base: f64, least: i64| ((base * scale).round() as i64).max(least);
        let years = i64::from(years);
        Ok(Sizes {
            stores: linear(50.0, 1) as i32,
            products: PRODUCTS,
            customers: linear(100_000.0, 1),
            tickets: linear(1_000_000.0, 10) * years,
            days: calendar::SALES_DAYS * years,
        })
    }
}

/// What a run of the generator published.
#[derive(Debug, Clone)]
pub struct GenerateSummary {
    /// The manifests of E1 and E2, in that order.
    pub extractions: Vec<ExtractionManifest>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
}

/// E1, the initial full extraction: 2026-01-02T06:00:00Z.
pub fn initial_extraction() -> ExtractionId {
    extraction_at(calendar::INITIAL)
}

/// E2, the incremental re-extraction: 2026-01-03T06:00:00Z.
pub fn incremental_extraction() -> ExtractionId {
    extraction_at(calendar::INCREMENTAL)
}

fn extraction_at(seconds: i64) -> ExtractionId {
    ExtractionId::at(DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(seconds))
}

/// A random stream for one table (`salt`) and one chunk of it (`stream`).
fn stream_rng(seed: u64, salt: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ salt);
    rng.set_stream(stream);
    rng
}

/// Writes the facts of E1 (`ventas`, `detalle_ventas`) chunk by chunk, and
/// returns each table's files with its E2 batch.
async fn write_facts(
    lake: &Lake,
    initial: ExtractionId,
    plan: FactsPlan,
) -> Result<[(RawTable, arrow::array::RecordBatch); 2]> {
    let plan = Arc::new(plan);
    let mut ventas = TableSink::create(lake, initial, "ventas")?;
    let mut detalle = TableSink::create(lake, initial, "detalle_ventas")?;
    let (mut ventas_e2, mut detalle_e2, mut orphans) = (Vec::new(), Vec::new(), Vec::new());
    let mut chunks = Ahead::new(plan.chunks(), {
        let plan = Arc::clone(&plan);
        move |index| plan.chunk(index)
    });
    while let Some(chunk) = chunks.next().await? {
        ventas.write(&chunk.ventas).await?;
        detalle.write(&chunk.detalle).await?;
        ventas_e2.extend(chunk.e2_ventas);
        detalle_e2.extend(chunk.e2_lineas);
        orphans.extend(chunk.orphans);
    }
    // Their ids are above every ticket's, in chunk order.
    detalle.write(&detalle_batch(&orphans)?).await?;
    Ok([
        (ventas.finish().await?, ventas_batch(&ventas_e2)?),
        (detalle.finish().await?, detalle_batch(&detalle_e2)?),
    ])
}

/// Generates the DMC Retail source data into `lake` as extractions E1 and E2,
/// replacing any earlier run's. Each manifest is published after all its
/// files, E1 before E2, so a reader sees either nothing or whole extractions.
pub async fn generate(lake: &Lake, options: &GenerateOptions) -> Result<GenerateSummary> {
    let started = Instant::now();
    let sizes = options.sizes()?;
    let seed = options.seed;
    let (initial, incremental) = (initial_extraction(), incremental_extraction());
    info!(seed, scale = options.scale, years = options.years, ?sizes, lake = %lake.url(), "generating");
    for extraction in [incremental, initial] {
        unpublish(lake, extraction).await?;
    }

    let mut first = BTreeMap::new();
    let mut second: Vec<(&str, Vec<arrow::array::RecordBatch>)> = Vec::new();

    let (tiendas, tiendas_e2) = dims::tiendas(seed, sizes.stores)?;
    first.insert(
        "tiendas".to_string(),
        write_table(lake, initial, "tiendas", &[tiendas]).await?,
    );
    second.push(("tiendas", vec![tiendas_e2]));

    let catalogue = dims::productos(seed)?;
    first.insert(
        "productos".to_string(),
        write_table(lake, initial, "productos", &[catalogue.initial]).await?,
    );
    second.push(("productos", vec![catalogue.incremental]));

    let plan = Arc::new(ClientesPlan {
        seed,
        customers: sizes.customers,
    });
    let mut sink = TableSink::create(lake, initial, "clientes")?;
    let mut revised = Vec::new();
    let mut chunks = Ahead::new(plan.chunks(), {
        let plan = Arc::clone(&plan);
        move |index| plan.chunk(index)
    });
    while let Some((batch, picked)) = chunks.next().await? {
        sink.write(&batch).await?;
        revised.extend(picked);
    }
    first.insert("clientes".to_string(), sink.finish().await?);
    second.push(("clientes", vec![clientes_batch(&revised)?]));

    let facts = FactsPlan {
        seed,
        tickets: sizes.tickets,
        days: sizes.days,
        stores: sizes.stores,
        customers: sizes.customers,
        prices: catalogue.prices,
    };
    let [(ventas, ventas_e2), (detalle, detalle_e2)] = write_facts(lake, initial, facts).await?;
    first.insert("ventas".to_string(), ventas);
    first.insert("detalle_ventas".to_string(), detalle);
    second.push(("ventas", vec![ventas_e2]));
    second.push(("detalle_ventas", vec![detalle_e2]));

    let e1 = publish(lake, initial, options, "full", first).await?;
    let mut tables = BTreeMap::new();
    for (table, batches) in &second {
        tables.insert(
            (*table).to_string(),
            write_table(lake, incremental, table, batches).await?,
        );
    }
    let e2 = publish(lake, incremental, options, "incremental", tables).await?;

    let elapsed = started.elapsed();
    info!(elapsed_ms = elapsed.as_millis() as u64, "generated");
    Ok(GenerateSummary {
        extractions: vec![e1, e2],
        elapsed,
    })
}

/// Removes an extraction's manifest, then its files: a rerun with another
/// scale must not leave parts of the previous run behind, and the manifest
/// goes first so that no reader sees a half-deleted extraction.
async fn unpublish(lake: &Lake, extraction: ExtractionId) -> Result<()> {
    let manifest = lake.path(&extraction.manifest_path());
    match lake.store().delete(&manifest).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(lake.io(&manifest, e)),
    }
    for table in crate::project::builtin::sources()?.iter() {
        lake.delete_all(&extraction.folder(table.name())).await?;
    }
    Ok(())
}

async fn publish(
    lake: &Lake,
    extraction: ExtractionId,
    options: &GenerateOptions,
    load: &str,
    tables: BTreeMap<String, RawTable>,
) -> Result<ExtractionManifest> {
    let mut details = BTreeMap::from([
        ("seed".to_string(), options.seed.to_string()),
        ("scale".to_string(), options.scale.to_string()),
        ("load".to_string(), load.to_string()),
    ]);
    if options.years != 1 {
        details.insert("years".to_string(), options.years.to_string());
    }
    let manifest = ExtractionManifest {
        extraido: extraction,
        source: "generate".into(),
        details,
        tables,
    };
    manifest.publish(lake).await?;
    for (table, raw) in &manifest.tables {
        info!(%extraction, %table, rows = raw.rows, files = raw.files.len(), "published");
    }
    Ok(manifest)
}
