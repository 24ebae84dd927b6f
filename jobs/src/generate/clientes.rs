//! Customers, drawn in chunks like the facts because at the top scale there
//! are ten million of them. Personal data (`documento`, `nombre`, `email`) is
//! fake but shaped like the real thing: 8-digit DNIs, Spanish names with
//! accents and `ñ`, and some of it missing.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Int64Array, RecordBatch, StringArray};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::calendar::{DAY, INITIAL, YEAR_2025, date32};
use super::columns::{batch, instants};
use super::facts::later;
use super::text;
use super::{planted, stream_rng};
use crate::error::Result;

/// Customers per chunk.
pub(super) const CHUNK: i64 = 65_536;

const SALT: u64 = 0x434c_4945_4e54; // "CLIENT"

const NO_DOCUMENT: f64 = 0.03;
const NO_NAME: f64 = 0.02;
const NO_EMAIL: f64 = 0.15;
const NO_CITY: f64 = 0.02;
const NO_REGISTRATION: f64 = 0.05;
/// Share of customers E2 re-extracts with a new segment (on top of the planted one).
const UPDATED: f64 = 0.01;

const SEGMENTS: [(&str, u32); 3] = [("REGULAR", 70), ("FRECUENTE", 22), ("VIP", 8)];

/// DNIs are a permutation of the ids over 10,000,000..80,000,000, so they
/// never repeat; the multiplier is a prime that does not divide the modulus.
const DNI_BASE: i64 = 10_000_000;
const DNI_SPAN: i64 = 70_000_000;
const DNI_STEP: i64 = 48_271;

/// One `clientes` row.
#[derive(Debug, Clone)]
pub(super) struct Cliente {
    id: i64,
    documento: Option<String>,
    nombre: Option<String>,
    email: Option<String>,
    segmento: String,
    ciudad: Option<String>,
    registro: Option<i32>,
    actualizado: i64,
}

/// What every chunk of customers needs.
#[derive(Debug)]
pub(super) struct ClientesPlan {
    pub seed: u64,
    pub customers: i64,
}

impl ClientesPlan {
    /// Chunks needed for all customers.
    pub fn chunks(&self) -> u64 {
        ((self.customers + CHUNK - 1) / CHUNK) as u64
    }

    /// Draws chunk `index`: its E1 batch and the E2 versions of the customers it picked.
    pub fn chunk(&self, index: u64) -> Result<(RecordBatch, Vec<Cliente>)> {
        let mut rng = stream_rng(self.seed, SALT, index);
        let first = index as i64 * CHUNK + 1;
        let last = (first + CHUNK - 1).min(self.customers);
        let mut rows = Vec::with_capacity((last - first + 1).max(0) as usize);
        let mut revised = Vec::new();
        let dni_offset = (self.seed % DNI_SPAN as u64) as i64;
        for id in first..=last {
            let (row, segment) = self.customer(&mut rng, id, dni_offset);
            if id == planted::CUSTOMER_UPDATED || rng.random_bool(UPDATED) {
                let segmento = match segment {
                    _ if id == planted::CUSTOMER_UPDATED => "VIP",
                    "REGULAR" => "FRECUENTE",
                    "FRECUENTE" => "VIP",
                    _ => "FRECUENTE",
                };
                revised.push(Cliente {
                    segmento: segmento.into(),
                    actualizado: later(&mut rng),
                    ..row.clone()
                });
            }
            rows.push(row);
        }
        Ok((clientes_batch(&rows)?, revised))
    }

    /// Customer `id` and its clean segment.
    fn customer(&self, rng: &mut ChaCha8Rng, id: i64, dni_offset: i64) -> (Cliente, &'static str) {
        let (name, email) = text::person(rng, id);
        let segment = text::weighted(rng, &SEGMENTS);
        let city = text::city_of(rng);
        let registro = (!rng.random_bool(NO_REGISTRATION))
            .then(|| date32(YEAR_2025) + 364 - rng.random_range(0..=3_650));
        let actualizado = match registro {
            Some(day) => i64::from(day) * DAY + rng.random_range(0..=180 * DAY),
            None => YEAR_2025 + rng.random_range(0..365 * DAY),
        }
        .min(INITIAL - 1);
        let dni = DNI_BASE + (id * DNI_STEP + dni_offset) % DNI_SPAN;
        let mut row = Cliente {
            id,
            documento: (!rng.random_bool(NO_DOCUMENT)).then(|| format!("{dni:08}")),
            nombre: if rng.random_bool(NO_NAME) {
                None
            } else {
                Some(text::name(rng, name))
            },
            email: if rng.random_bool(NO_EMAIL) {
                None
            } else {
                Some(text::name(rng, email))
            },
            segmento: text::code(rng, segment).into_owned(),
            ciudad: if rng.random_bool(NO_CITY) {
                None
            } else {
                Some(text::name_static(rng, city.name).into_owned())
            },
            registro,
            actualizado,
        };
        if id == planted::CUSTOMER_UPDATED {
            row.nombre = Some("José Gálvez Peña".into());
            row.email = None;
            row.registro = None;
            row.segmento = "REGULAR".into();
            return (row, "REGULAR");
        } else if id == planted::CUSTOMER_DIRTY {
            row.nombre = Some(" María Castañeda Núñez ".into());
            row.segmento = " vip".into();
            row.documento = None;
            return (row, "VIP");
        }
        (row, segment)
    }
}

/// The `clientes` batch of `rows`.
pub(super) fn clientes_batch(rows: &[Cliente]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(
            rows.iter()
                .map(|r| r.documento.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.nombre.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.email.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| Some(r.segmento.as_str()))
                .collect::<StringArray>(),
        ),
        Arc::new(
            rows.iter()
                .map(|r| r.ciudad.as_deref())
                .collect::<StringArray>(),
        ),
        Arc::new(rows.iter().map(|r| r.registro).collect::<Date32Array>()),
        instants(rows.iter().map(|r| r.actualizado)),
    ];
    batch("clientes", columns)
}
