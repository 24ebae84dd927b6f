//! The small dimensions, `tiendas` and `productos`, drawn whole in memory
//! (at most 5,000 rows each), with the versions E2 re-extracts.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Date32Array, Int32Array, RecordBatch, StringArray};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::calendar::{DAY, HOUR, INITIAL, YEAR_2025, date32};
use super::columns::{batch, instants, money, unit_cost};
use super::facts::later;
use super::text::{self, CATEGORIES, LIMA};
use super::{PRODUCTS, planted, stream_rng};
use crate::error::Result;

const STORES_SALT: u64 = 0x5449_454e_4441; // "TIENDA"
const PRODUCTS_SALT: u64 = 0x5052_4f44_5543; // "PRODUC"

/// E2 renames every store whose id is 1 modulo this (1, 11, 21, …): a fixed
/// rule rather than a rate, so that even 50 stores always get a few renames.
const RENAMED_EVERY: i32 = 10;
/// Share of products E2 gives a new cost (on top of the planted one).
const NEW_COST: f64 = 0.01;
const INACTIVE_STORE: f64 = 0.04;
const INACTIVE_PRODUCT: f64 = 0.03;
const NO_SUBCATEGORY: f64 = 0.10;
const NO_BRAND: f64 = 0.08;
/// Share of products whose cost ends in `50` (ten-thousandths): a 5 in the
/// third decimal that rounding must carry.
const HALF_CENT_COST: f64 = 0.10;

const FORMATS: [(&str, u32); 3] = [("HIPER", 20), ("SUPER", 50), ("EXPRESS", 30)];

/// One `tiendas` row.
#[derive(Debug, Clone)]
struct Tienda {
    id: i32,
    codigo: String,
    nombre: String,
    ciudad: String,
    region: String,
    formato: String,
    apertura: i32,
    activa: bool,
    actualizado: i64,
}

/// The E1 and E2 batches of `tiendas` for `count` stores.
pub(super) fn tiendas(seed: u64, count: i32) -> Result<(RecordBatch, RecordBatch)> {
    let mut rng = stream_rng(seed, STORES_SALT, 0);
    let mut first = Vec::new();
    let mut second = Vec::new();
    for id in 1..=count {
        let planted = id == planted::STORE_RENAMED;
        let city = if planted {
            LIMA
        } else {
            text::city_of(&mut rng)
        };
        let base = if planted {
            "DMC Ñaña".to_string()
        } else {
            text::store_name(&mut rng, city)
        };
        let mut row = Tienda {
            id,
            codigo: text::code_owned(&mut rng, format!("{}-{id:03}", city.code)),
            nombre: text::name(&mut rng, base.clone()),
            ciudad: text::name_static(&mut rng, city.name).into_owned(),
            region: text::code(&mut rng, city.region).into_owned(),
            formato: {
                let formato = text::weighted(&mut rng, &FORMATS);
                text::code(&mut rng, formato).into_owned()
            },
            apertura: date32(YEAR_2025) - rng.random_range(30..=7_300),
            activa: !rng.random_bool(INACTIVE_STORE),
            actualizado: anytime_before_e1(&mut rng),
        };
        if planted {
            row.codigo = format!(" {}", row.codigo.trim().to_lowercase());
            row.region = "Lima ".into();
            row.formato = "super".into();
            row.nombre = "DMC Ñaña ".into();
        }
        if id % RENAMED_EVERY == planted::STORE_RENAMED {
            second.push(Tienda {
                nombre: format!("{base} Renovada"),
                actualizado: later(&mut rng),
                ..row.clone()
            });
        }
        first.push(row);
    }
    Ok((tiendas_batch(&first)?, tiendas_batch(&second)?))
}

fn tiendas_batch(rows: &[Tienda]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.codigo),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.nombre),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.ciudad),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.region),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.formato),
        )),
        Arc::new(Date32Array::from_iter_values(
            rows.iter().map(|r| r.apertura),
        )),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.activa))
                .collect::<BooleanArray>(),
        ),
        instants(rows.iter().map(|r| r.actualizado)),
    ];
    batch("tiendas", columns)
}

/// One `productos` row; money in cents, cost in ten-thousandths.
#[derive(Debug, Clone)]
struct Producto {
    id: i32,
    sku: String,
    nombre: String,
    categoria: String,
    subcategoria: Option<String>,
    marca: Option<String>,
    precio: i64,
    costo: i64,
    activo: bool,
    actualizado: i64,
}

/// The product catalogue: list prices for the facts, and the E1/E2 batches.
#[derive(Debug)]
pub(super) struct Catalogue {
    /// List price in cents of product `id`, at index `id - 1`.
    pub prices: Vec<i64>,
    pub initial: RecordBatch,
    pub incremental: RecordBatch,
}

/// A fixed product of [`planted`].
struct Fixed {
    id: i32,
    /// Index in [`CATEGORIES`].
    category: usize,
    product: &'static str,
    brand: &'static str,
    /// Cents.
    price: i64,
    /// E1 cost, ten-thousandths.
    cost: i64,
    /// E2 cost, when E2 changes it.
    new_cost: Option<i64>,
}

static FIXED: [Fixed; 3] = [
    Fixed {
        id: planted::PRODUCT_NEW_COST,
        category: 0,
        product: "Café tostado",
        brand: "Altomayo",
        price: 1_990,
        cost: 123_456,
        new_cost: Some(130_725),
    },
    Fixed {
        id: planted::PRODUCT_ROUNDING_A,
        category: 5,
        product: "Panetón",
        brand: "Doña Pepa",
        price: 1_450,
        cost: 100_200,
        new_cost: None,
    },
    Fixed {
        id: planted::PRODUCT_ROUNDING_B,
        category: 1,
        product: "Leche evaporada",
        brand: "Gloria",
        price: 490,
        cost: 33_325,
        new_cost: None,
    },
];

/// The [`PRODUCTS`] products (their number does not grow with the scale).
pub(super) fn productos(seed: u64) -> Result<Catalogue> {
    let mut rng = stream_rng(seed, PRODUCTS_SALT, 0);
    let mut first = Vec::with_capacity(PRODUCTS as usize);
    let mut second = Vec::new();
    for id in 1..=PRODUCTS {
        let fixed = FIXED.iter().find(|f| f.id == id);
        let category = match fixed {
            Some(f) => &CATEGORIES[f.category],
            None => text::pick(&mut rng, &CATEGORIES),
        };
        let subcategoria = if rng.random_bool(NO_SUBCATEGORY) {
            None
        } else {
            let sub = *text::pick(&mut rng, category.subcategories);
            Some(text::name_static(&mut rng, sub).into_owned())
        };
        let mut brand = (!rng.random_bool(NO_BRAND)).then(|| *text::pick(&mut rng, &text::BRANDS));
        let mut product = *text::pick(&mut rng, category.products);
        let size = text::pick(&mut rng, &text::SIZES);
        let mut precio = rng.random_range(category.cents.0..=category.cents.1);
        let margin = rng.random_range(5_500..=8_500);
        let mut costo = cost_below(&mut rng, precio * margin / 100, precio);
        let mut new_cost = None;
        if let Some(f) = fixed {
            (product, brand, precio, costo, new_cost) =
                (f.product, Some(f.brand), f.price, f.cost, f.new_cost);
        }
        let nombre = match brand {
            Some(b) => format!("{product} {b} {size}"),
            None => format!("{product} {size}"),
        };
        let row = Producto {
            id,
            sku: text::code_owned(&mut rng, format!("SKU-{id:06}")),
            nombre: text::name(&mut rng, nombre),
            categoria: text::name_static(&mut rng, category.name).into_owned(),
            subcategoria,
            marca: brand.map(|b| text::name_static(&mut rng, b).into_owned()),
            precio,
            costo,
            activo: !rng.random_bool(INACTIVE_PRODUCT),
            actualizado: YEAR_2025 + rng.random_range(0..INITIAL - YEAR_2025),
        };
        // The planted products keep the costs their documentation states.
        let changed = rng.random_bool(NEW_COST) && fixed.is_none();
        if new_cost.is_some() || changed {
            let costo = match new_cost {
                Some(cost) => cost,
                None => {
                    let moved = costo * rng.random_range(92..=108) / 100;
                    let moved = cost_below(&mut rng, moved, precio);
                    if moved == costo { moved - 1 } else { moved }
                }
            };
            second.push(Producto {
                costo,
                actualizado: later(&mut rng),
                ..row.clone()
            });
        }
        first.push(row);
    }
    Ok(Catalogue {
        prices: first.iter().map(|p| p.precio).collect(),
        initial: productos_batch(&first)?,
        incremental: productos_batch(&second)?,
    })
}

/// A cost in ten-thousandths below the price (cents) with a real fourth
/// decimal, or ending in `50` so that a 5 sits in the third decimal.
fn cost_below(rng: &mut ChaCha8Rng, cost: i64, price: i64) -> i64 {
    let cost = if rng.random_bool(HALF_CENT_COST) {
        cost / 100 * 100 + 50
    } else if cost % 10 == 0 {
        cost + rng.random_range(1..=9)
    } else {
        cost
    };
    cost.clamp(1, price * 100 - 1)
}

fn productos_batch(rows: &[Producto]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.sku))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.nombre),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| &r.categoria),
        )),
        Arc::new(
            rows.iter()
                .map(|r| r.subcategoria.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.marca.as_deref())
                .collect::<StringArray>(),
        ),
        money(rows.iter().map(|r| r.precio))?,
        unit_cost(rows.iter().map(|r| r.costo))?,
        Arc::new(
            rows.iter()
                .map(|r| Some(r.activo))
                .collect::<BooleanArray>(),
        ),
        instants(rows.iter().map(|r| r.actualizado)),
    ];
    batch("productos", columns)
}

/// Some instant of 2024 or 2025 before E1.
fn anytime_before_e1(rng: &mut ChaCha8Rng) -> i64 {
    let start = YEAR_2025 - 365 * DAY;
    start + rng.random_range(0..INITIAL - start - HOUR)
}
