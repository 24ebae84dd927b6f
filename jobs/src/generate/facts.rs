//! Tickets and their lines, drawn together one chunk of tickets at a time so
//! that no fact table is ever held whole in memory. Each chunk has its own
//! random stream, so a chunk's rows depend only on (seed, scale, chunk) and
//! chunks can be drawn on any thread in any order.
//!
//! While drawing E1 the chunk also picks the rows that E2 re-extracts and
//! returns their new versions, so E2 never needs to read E1 back.

use std::borrow::Cow;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::calendar::{
    CLOSING, DAY, HOUR, INITIAL, LIMA_OFFSET, OPENING, SALES_DAYS, YEAR_2026, lima_2025,
};
use super::rows::{
    CHANNELS, COMPLETED, Linea, PAYMENTS, VOIDED, Venta, detalle_batch, next_of, normalised,
    ventas_batch,
};
use super::text::{code, pick, weighted};
use super::{PRODUCTS, planted, stream_rng};
use crate::error::Result;
use arrow::array::RecordBatch;

/// Tickets per chunk (and so rows per `ventas` batch).
pub(super) const CHUNK: i64 = 65_536;

/// Random stream of the facts (xor-ed with the seed).
const SALT: u64 = 0x5645_4e54_4153; // "VENTAS"

// Rates of the random defects and changes (see the module table in `super`).
const ANONYMOUS: f64 = 0.20;
const VOIDED_RATE: f64 = 0.03;
const UNKNOWN_STORE: f64 = 0.002;
const FUTURE_DATE: f64 = 0.001;
const INVALID_STATE: f64 = 0.001;
const ORPHAN_TICKET: f64 = 0.0015;
const UNKNOWN_PRODUCT: f64 = 0.001;
const BAD_QUANTITY: f64 = 0.001;
const NEGATIVE_PRICE: f64 = 0.0005;
const BAD_DISCOUNT: f64 = 0.001;
const PROMOTION: f64 = 0.10;
const DISCOUNTED: f64 = 0.15;
/// Share of tickets, and of clean lines, that E2 re-extracts.
const REEXTRACTED: f64 = 0.005;

const CHANNEL_WEIGHTS: [(&str, u32); 3] = [("TIENDA", 75), ("WEB", 15), ("APP", 10)];
const PAYMENT_WEIGHTS: [(&str, u32); 3] = [("EFECTIVO", 35), ("TARJETA", 50), ("BILLETERA", 15)];
const INVALID_STATES: [&str; 3] = ["PENDIENTE", "DEVUELTA", "EN PROCESO"];
/// Units per line, skewed to one or two.
const QUANTITIES: [(i32, u32); 10] = [
    (1, 40),
    (2, 22),
    (3, 12),
    (4, 8),
    (5, 6),
    (6, 4),
    (7, 3),
    (8, 2),
    (9, 2),
    (10, 1),
];

/// What every chunk needs to know: sizes and the products' list prices.
#[derive(Debug)]
pub(super) struct FactsPlan {
    pub seed: u64,
    pub tickets: i64,
    /// Days of sales, ending with 2025 ([`super::Sizes::days`]).
    pub days: i64,
    pub stores: i32,
    pub customers: i64,
    /// List price in cents of product `id`, at index `id - 1`.
    pub prices: Vec<i64>,
}

/// The rows drawn for one chunk, before they become batches.
#[derive(Debug, Default)]
pub(super) struct FactRows {
    pub ventas: Vec<Venta>,
    pub lineas: Vec<Linea>,
    /// Lines of tickets no header has (ids above the last ticket's); written
    /// after every chunk's other lines, so that the extraction's lines are
    /// in `id_venta` order across its files, as a source table extracted in
    /// key order is, and a read of one range of keys skips the rest by the
    /// row groups' statistics.
    pub orphans: Vec<Linea>,
    pub e2_ventas: Vec<Venta>,
    pub e2_lineas: Vec<Linea>,
}

/// One chunk: E1 batches, and the E2 versions of the rows it picked.
#[derive(Debug)]
pub(super) struct FactChunk {
    pub ventas: RecordBatch,
    pub detalle: RecordBatch,
    /// The chunk's orphan lines, for after every chunk ([`FactRows::orphans`]).
    pub orphans: Vec<Linea>,
    pub e2_ventas: Vec<Venta>,
    pub e2_lineas: Vec<Linea>,
}

impl FactsPlan {
    /// Chunks needed for all tickets.
    pub fn chunks(&self) -> u64 {
        // tickets >= 10, so this is at least 1.
        ((self.tickets + CHUNK - 1) / CHUNK) as u64
    }

    /// Draws chunk `index` (tickets `index * CHUNK + 1 ..`).
    pub fn chunk(&self, index: u64) -> Result<FactChunk> {
        let mut rng = stream_rng(self.seed, SALT, index);
        let first = index as i64 * CHUNK + 1;
        let last = (first + CHUNK - 1).min(self.tickets);
        let count = (last - first + 1).max(0) as usize;
        let mut rows = FactRows {
            ventas: Vec::with_capacity(count),
            lineas: Vec::with_capacity(count * 3 + count / 100),
            ..FactRows::default()
        };
        for id in first..=last {
            if id <= planted::LAST_TICKET {
                planted::ticket(self, &mut rng, id, &mut rows);
            } else {
                self.random_ticket(&mut rng, id, &mut rows);
            }
        }
        Ok(FactChunk {
            ventas: ventas_batch(&rows.ventas)?,
            detalle: detalle_batch(&rows.lineas)?,
            orphans: rows.orphans,
            e2_ventas: rows.e2_ventas,
            e2_lineas: rows.e2_lineas,
        })
    }

    /// The sale instant of ticket `id`: ids follow time, so the day grows with
    /// the id over the history's days (local), the last of them 2025's, at a
    /// random second of the trading day.
    pub fn sale_instant(&self, rng: &mut ChaCha8Rng, id: i64) -> i64 {
        let day = (id - 1) * self.days / self.tickets - (self.days - SALES_DAYS);
        lima_2025(day, rng.random_range(OPENING..CLOSING))
    }

    /// A random known store.
    pub fn store(&self, rng: &mut ChaCha8Rng) -> i32 {
        rng.random_range(1..=self.stores)
    }

    /// A random known customer.
    pub fn customer(&self, rng: &mut ChaCha8Rng) -> i64 {
        rng.random_range(1..=self.customers)
    }

    /// List price of a product id, or a plausible one for an unknown product.
    pub fn price(&self, rng: &mut ChaCha8Rng, product: i32) -> i64 {
        usize::try_from(product - 1)
            .ok()
            .and_then(|i| self.prices.get(i).copied())
            .unwrap_or_else(|| rng.random_range(100..=5_000))
    }

    fn random_ticket(&self, rng: &mut ChaCha8Rng, id: i64, rows: &mut FactRows) {
        let mut fecha = self.sale_instant(rng, id);
        let mut tienda = self.store(rng);
        let cliente = if rng.random_bool(ANONYMOUS) {
            None
        } else {
            Some(self.customer(rng))
        };
        let canal = weighted(rng, &CHANNEL_WEIGHTS);
        let medio_pago = weighted(rng, &PAYMENT_WEIGHTS);
        let voided = rng.random_bool(VOIDED_RATE);
        let mut estado = if voided { VOIDED } else { COMPLETED };
        if rng.random_bool(UNKNOWN_STORE) {
            tienda = self.stores + rng.random_range(1..=5);
        }
        let future = rng.random_bool(FUTURE_DATE);
        if future {
            // A date typed a month or two ahead: February or March 2026, local.
            let day = rng.random_range(31..90);
            fecha = YEAR_2026 + day * DAY + rng.random_range(OPENING..CLOSING) + LIMA_OFFSET;
        }
        if rng.random_bool(INVALID_STATE) {
            estado = *pick(rng, &INVALID_STATES);
        }
        // The row was written at the sale; a voided one was updated later. A
        // future-dated row was still written before the extraction.
        let created = if future {
            INITIAL - rng.random_range(HOUR..=72 * HOUR)
        } else {
            (fecha + rng.random_range(1..=900)).min(INITIAL - 1)
        };
        let actualizado = if voided {
            (created + rng.random_range(600..=3 * DAY)).min(INITIAL - 1)
        } else {
            created
        };
        let venta = Venta {
            id,
            tienda,
            cliente,
            fecha,
            canal: code(rng, canal),
            medio_pago: code(rng, medio_pago),
            estado: code(rng, estado),
            actualizado,
        };
        if rng.random_bool(REEXTRACTED) {
            rows.e2_ventas.push(revise_ticket(rng, &venta));
        }
        rows.ventas.push(venta);
        let lines = rng.random_range(1..=5);
        for linea in 1..=lines {
            let (line, clean) = self.line(rng, id, linea, created, true);
            if clean && rng.random_bool(REEXTRACTED) {
                let actualizado = later(rng);
                rows.e2_lineas.push(revise_line(rng, &line, actualizado));
            }
            rows.lineas.push(line);
        }
        if rng.random_bool(ORPHAN_TICKET) {
            // Lines whose header never reached the source's ventas table.
            for linea in 1..=rng.random_range(1..=3) {
                let (line, _) = self.line(rng, self.tickets + id, linea, created, false);
                rows.orphans.push(line);
            }
        }
    }

    /// A line of ticket `venta`; with `defects`, it may carry the random line
    /// defects. Returns the line and whether it is clean.
    pub fn line(
        &self,
        rng: &mut ChaCha8Rng,
        venta: i64,
        linea: i32,
        created: i64,
        defects: bool,
    ) -> (Linea, bool) {
        let mut producto = rng.random_range(1..=PRODUCTS);
        let mut cantidad = weighted(rng, &QUANTITIES);
        let mut precio = self.price(rng, producto);
        if rng.random_bool(PROMOTION) {
            precio = (precio * rng.random_range(80..=95) / 100).max(1);
        }
        let gross = i64::from(cantidad) * precio;
        let mut descuento = if rng.random_bool(DISCOUNTED) {
            gross * rng.random_range(1..=10) / 100
        } else {
            0
        };
        let mut clean = true;
        if defects {
            if rng.random_bool(UNKNOWN_PRODUCT) {
                producto = PRODUCTS + rng.random_range(1..=50);
                clean = false;
            }
            if rng.random_bool(BAD_QUANTITY) {
                cantidad = rng.random_range(-3..=0);
                clean = false;
            }
            if rng.random_bool(NEGATIVE_PRICE) {
                precio = -precio;
                clean = false;
            }
            if rng.random_bool(BAD_DISCOUNT) {
                descuento = if rng.random_bool(0.5) {
                    -rng.random_range(1..=500)
                } else {
                    (i64::from(cantidad) * precio).abs() + rng.random_range(1..=1_000)
                };
                clean = false;
            }
        }
        let line = Linea {
            venta,
            linea,
            producto,
            cantidad,
            precio,
            descuento,
            actualizado: created,
        };
        (line, clean)
    }
}

/// An E2 `actualizado_en`: between one hour after E1 and one hour before E2.
pub(super) fn later(rng: &mut ChaCha8Rng) -> i64 {
    INITIAL + rng.random_range(HOUR..=23 * HOUR)
}

/// How E2 re-extracts a ticket: mostly a later real change, sometimes a tie
/// (same `actualizado_en`, another `medio_pago`) or a stale copy (an older
/// `actualizado_en`, another `canal`).
fn revise_ticket(rng: &mut ChaCha8Rng, venta: &Venta) -> Venta {
    let mut revised = venta.clone();
    match rng.random_range(0..8) {
        0..=3 => {
            revised.actualizado = later(rng);
            if normalised(&venta.estado) == COMPLETED {
                revised.estado = Cow::Borrowed(VOIDED);
            } else {
                revised.medio_pago = Cow::Borrowed(next_of(&PAYMENTS, &venta.medio_pago));
            }
        }
        4 | 5 => {
            revised.actualizado = later(rng);
            revised.medio_pago = Cow::Borrowed(next_of(&PAYMENTS, &venta.medio_pago));
        }
        6 => revised.medio_pago = Cow::Borrowed(next_of(&PAYMENTS, &venta.medio_pago)),
        _ => {
            revised.actualizado = venta.actualizado - rng.random_range(60..=HOUR);
            revised.canal = Cow::Borrowed(next_of(&CHANNELS, &venta.canal));
        }
    }
    revised
}

/// A later, still valid version of a clean line: one unit more (or less) and
/// a discount redrawn within the new gross.
pub(super) fn revise_line(rng: &mut ChaCha8Rng, line: &Linea, actualizado: i64) -> Linea {
    let mut revised = line.clone();
    revised.cantidad = if line.cantidad < 10 {
        line.cantidad + 1
    } else {
        line.cantidad - 1
    };
    revised.descuento = if rng.random_bool(0.5) {
        revised.gross() * rng.random_range(1..=10) / 100
    } else {
        0
    };
    revised.actualizado = actualizado;
    revised
}
