//! The planted rows: fixed ids that carry one known defect or boundary case
//! whatever the scale, so that a test at `--scale 0.001` can assert each rule
//! of spec section 3 on a row it knows. Random defects at the rates of the
//! [`super`] table come on top of these.
//!
//! Tickets 1 to [`LAST_TICKET`] are planted (there are always at least 10
//! tickets); lines are `(id_venta, linea)`. Planted tickets other than 1–4
//! are valid and, unless stated, clean; their other lines are valid too.

use std::borrow::Cow;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::PRODUCTS;
use super::calendar::{HOUR, INITIAL};
use super::facts::{FactRows, FactsPlan, revise_line};
use super::rows::{COMPLETED, Linea, VOIDED, Venta};

/// `ventas`: `id_tienda` is one above the last store → `tienda_desconocida`.
pub const TICKET_UNKNOWN_STORE: i64 = 1;
/// `ventas`: `fecha_venta` 2026-02-14T20:00:00Z, after E1 → `fecha_futura`.
pub const TICKET_FUTURE_DATE: i64 = 2;
/// `ventas`: `estado = 'PENDIENTE'` → `estado_invalido`.
pub const TICKET_INVALID_STATE: i64 = 3;
/// `ventas`: unknown store, date 2026-03-10T15:00:00Z and `estado = 'pendiente '`
/// at once → the first rule, `tienda_desconocida`.
pub const TICKET_SEVERAL_DEFECTS: i64 = 4;
/// `ventas`: `fecha_venta` 2025-03-01T03:30:00Z, business date 2025-02-28;
/// `canal ' tienda'`, `medio_pago 'Tarjeta '`, `estado 'completada'` (valid
/// once normalised); customer 1. Its lines: see the `LINE_*` constants.
pub const TICKET_MONTH_END: i64 = 5;
/// `ventas`: `fecha_venta` 2025-01-01T04:59:59Z, business date 2024-12-31
/// (periodo 2024-12, the only sale of that date); anonymous, clean.
pub const TICKET_NEW_YEARS_EVE: i64 = 6;
/// `ventas`: COMPLETADA in E1, re-extracted in E2 with a later
/// `actualizado_en` as ANULADA (voided after the fact): E2 wins.
pub const TICKET_VOIDED_LATER: i64 = 7;
/// `ventas`: in E2 with the same `actualizado_en` as in E1 and `medio_pago`
/// EFECTIVO instead of TARJETA: a tie, the latest extraction (E2) wins.
pub const TICKET_TIE: i64 = 8;
/// `ventas`: in E2 as a stale copy, `actualizado_en` 10 minutes before E1's and
/// `canal` WEB instead of TIENDA: E1 wins.
pub const TICKET_STALE: i64 = 9;
/// `ventas`: ANULADA in E1 (`medio_pago` EFECTIVO), in E2 later with
/// `medio_pago` BILLETERA, still ANULADA.
pub const TICKET_VOIDED_CHANGED: i64 = 10;
/// The last planted ticket; random defects start after it.
pub const LAST_TICKET: i64 = 10;

/// `detalle_ventas` of ticket 5: product 2 (cost 10.0200), 1 unit at 14.50. Valid.
pub const LINE_ROUNDING_A: (i64, i32) = (TICKET_MONTH_END, 1);
/// Product 5007 does not exist → `producto_desconocido`.
pub const LINE_UNKNOWN_PRODUCT: (i64, i32) = (TICKET_MONTH_END, 2);
/// `cantidad = 0` → `cantidad_invalida`.
pub const LINE_ZERO_QUANTITY: (i64, i32) = (TICKET_MONTH_END, 3);
/// Unknown product 5001 and `cantidad = -3` → the first rule, `producto_desconocido`.
pub const LINE_SEVERAL_DEFECTS: (i64, i32) = (TICKET_MONTH_END, 4);
/// Product 3 (cost 3.3325), 2 units at 4.90, 0.49 off: cost 6.6650, a 5 in the
/// third decimal; with line 1 the ticket's cost is 16.6850. Valid.
pub const LINE_ROUNDING_B: (i64, i32) = (TICKET_MONTH_END, 5);
/// `detalle_ventas` of ticket 6: product 1, 2 units at 19.90, 1.99 off. Valid;
/// with product 1's current cost 13.0725 (E2) its cost is 26.1450 → 26.15
/// (half away from zero; 26.14 with banker's rounding or binary floats).
pub const LINE_NEW_YEARS_EVE: (i64, i32) = (TICKET_NEW_YEARS_EVE, 1);
/// Negative `precio_unitario` → `precio_invalido`.
pub const LINE_NEGATIVE_PRICE: (i64, i32) = (TICKET_NEW_YEARS_EVE, 2);
/// `descuento = -1.00` → `descuento_invalido`.
pub const LINE_NEGATIVE_DISCOUNT: (i64, i32) = (TICKET_NEW_YEARS_EVE, 3);
/// `descuento` one cent above `cantidad * precio_unitario` → `descuento_invalido`.
pub const LINE_EXCESSIVE_DISCOUNT: (i64, i32) = (TICKET_NEW_YEARS_EVE, 4);
/// `cantidad = -1` and a negative price → the first rule, `cantidad_invalida`.
pub const LINE_NEGATIVE_QUANTITY: (i64, i32) = (TICKET_NEW_YEARS_EVE, 5);
/// Re-extracted in E2 with a later `actualizado_en` and one unit more (or less).
pub const LINE_UPDATED: (i64, i32) = (TICKET_TIE, 1);

/// The `id_venta` of the planted orphan line (`linea` 1, no header in any
/// extraction) → `venta_desconocida`. Random orphans use `tickets + id` for
/// the ticket `id` they follow, so they never clash with real tickets.
pub fn orphan_ticket(tickets: i64) -> i64 {
    tickets + TICKET_UNKNOWN_STORE
}

/// `tiendas`: store 1 is in Lima with codigo `' lim-001'`, region `'Lima '`,
/// formato `'super'`, nombre `'DMC Ñaña '`; E2 renames it `DMC Ñaña Renovada`.
pub const STORE_RENAMED: i32 = 1;
/// `productos`: product 1, precio_lista 19.90, cost 12.3456 in E1 and 13.0725 in E2.
pub const PRODUCT_NEW_COST: i32 = 1;
/// `productos`: product 2, precio_lista 14.50, cost 10.0200.
pub const PRODUCT_ROUNDING_A: i32 = 2;
/// `productos`: product 3, precio_lista 4.90, cost 3.3325.
pub const PRODUCT_ROUNDING_B: i32 = 3;
/// `clientes`: customer 1, "José Gálvez Peña", no e-mail, no `fecha_registro`;
/// segmento REGULAR in E1, VIP in E2.
pub const CUSTOMER_UPDATED: i64 = 1;
/// `clientes`: customer 2 (when there are two), nombre `' María Castañeda Núñez '`,
/// segmento `' vip'`, no documento.
pub const CUSTOMER_DIRTY: i64 = 2;

/// 2026-02-14T20:00:00Z: the future date of ticket 2.
const FUTURE_A: i64 = 1_771_099_200;
/// 2026-03-10T15:00:00Z: the future date of ticket 4.
const FUTURE_B: i64 = 1_773_154_800;
/// 2025-03-01T03:30:00Z: 22:30 local on 2025-02-28.
const MONTH_END: i64 = 1_740_799_800;
/// 2025-01-01T04:59:59Z: 23:59:59 local on 2024-12-31.
const NEW_YEARS_EVE: i64 = 1_735_707_599;

/// Draws planted ticket `id` (1 ..= [`LAST_TICKET`]) with its lines and,
/// for the E2 cases, its E2 versions.
pub(super) fn ticket(plan: &FactsPlan, rng: &mut ChaCha8Rng, id: i64, rows: &mut FactRows) {
    let fecha = plan.sale_instant(rng, id);
    let cliente = Some(plan.customer(rng));
    // Valid planted tickets spread over the stores.
    let store = i32::try_from((id - 1) % i64::from(plan.stores)).unwrap_or(0) + 1;
    let base = Venta {
        id,
        tienda: store,
        cliente,
        fecha,
        canal: Cow::Borrowed("TIENDA"),
        medio_pago: Cow::Borrowed("TARJETA"),
        estado: Cow::Borrowed(COMPLETED),
        actualizado: fecha + 60,
    };
    let venta = header(id, base, plan.stores + 1);
    let created = venta.fecha.min(INITIAL - HOUR) + 60;
    let first_line = rows.lineas.len();
    lines(plan, rng, id, created, rows);
    rows.e2_ventas.extend(e2_header(id, &venta));
    if id == LINE_UPDATED.0
        && let Some(line) = rows.lineas.get(first_line)
    {
        let revised = revise_line(rng, line, INITIAL + 4 * HOUR);
        rows.e2_lineas.push(revised);
    }
    rows.ventas.push(venta);
}

/// The header of planted ticket `id`, from the valid `base` ticket.
fn header(id: i64, base: Venta, unknown_store: i32) -> Venta {
    match id {
        TICKET_UNKNOWN_STORE => Venta {
            tienda: unknown_store,
            ..base
        },
        TICKET_FUTURE_DATE => Venta {
            fecha: FUTURE_A,
            canal: Cow::Borrowed("WEB"),
            actualizado: INITIAL - HOUR,
            ..base
        },
        TICKET_INVALID_STATE => Venta {
            estado: Cow::Borrowed("PENDIENTE"),
            ..base
        },
        TICKET_SEVERAL_DEFECTS => Venta {
            tienda: unknown_store,
            fecha: FUTURE_B,
            estado: Cow::Borrowed("pendiente "),
            actualizado: INITIAL - HOUR,
            ..base
        },
        TICKET_MONTH_END => Venta {
            cliente: Some(CUSTOMER_UPDATED),
            fecha: MONTH_END,
            canal: Cow::Borrowed(" tienda"),
            medio_pago: Cow::Borrowed("Tarjeta "),
            estado: Cow::Borrowed("completada"),
            actualizado: MONTH_END + 60,
            ..base
        },
        TICKET_NEW_YEARS_EVE => Venta {
            cliente: None,
            fecha: NEW_YEARS_EVE,
            medio_pago: Cow::Borrowed("EFECTIVO"),
            actualizado: NEW_YEARS_EVE + 60,
            ..base
        },
        TICKET_STALE => Venta {
            medio_pago: Cow::Borrowed("EFECTIVO"),
            ..base
        },
        TICKET_VOIDED_CHANGED => Venta {
            canal: Cow::Borrowed("APP"),
            medio_pago: Cow::Borrowed("EFECTIVO"),
            estado: Cow::Borrowed(VOIDED),
            actualizado: base.fecha + 2 * HOUR,
            ..base
        },
        _ => base,
    }
}

/// The lines of planted ticket `id`, created at `created`.
fn lines(plan: &FactsPlan, rng: &mut ChaCha8Rng, id: i64, created: i64, rows: &mut FactRows) {
    match id {
        TICKET_MONTH_END => {
            let price4 = plan.price(rng, 4);
            rows.lineas.extend([
                fixed(id, 1, PRODUCT_ROUNDING_A, 1, 1_450, 0, created),
                fixed(id, 2, PRODUCTS + 7, 1, 990, 0, created),
                fixed(id, 3, 4, 0, price4, 0, created),
                fixed(id, 4, PRODUCTS + 1, -3, 500, 0, created),
                fixed(id, 5, PRODUCT_ROUNDING_B, 2, 490, 49, created),
            ]);
        }
        TICKET_NEW_YEARS_EVE => {
            let [p5, p6, p7, p8] = [5, 6, 7, 8].map(|p| plan.price(rng, p));
            rows.lineas.extend([
                fixed(id, 1, PRODUCT_NEW_COST, 2, 1_990, 199, created),
                fixed(id, 2, 5, 1, -p5, 0, created),
                fixed(id, 3, 6, 1, p6, -100, created),
                fixed(id, 4, 7, 2, p7, 2 * p7 + 1, created),
                fixed(id, 5, 8, -1, -p8, 0, created),
            ]);
        }
        _ => {
            for linea in 1..=rng.random_range(1..=5) {
                rows.lineas
                    .push(plan.line(rng, id, linea, created, false).0);
            }
        }
    }
    if id == TICKET_UNKNOWN_STORE {
        rows.orphans.push(fixed(
            orphan_ticket(plan.tickets),
            1,
            PRODUCT_NEW_COST,
            1,
            1_990,
            0,
            created,
        ));
    }
}

/// The second extraction's version of planted ticket `id`'s header, for
/// the E2 cases.
fn e2_header(id: i64, venta: &Venta) -> Option<Venta> {
    match id {
        TICKET_VOIDED_LATER => Some(Venta {
            estado: Cow::Borrowed(VOIDED),
            actualizado: INITIAL + 3 * HOUR,
            ..venta.clone()
        }),
        TICKET_TIE => Some(Venta {
            medio_pago: Cow::Borrowed("EFECTIVO"),
            ..venta.clone()
        }),
        TICKET_STALE => Some(Venta {
            canal: Cow::Borrowed("WEB"),
            actualizado: venta.actualizado - 600,
            ..venta.clone()
        }),
        TICKET_VOIDED_CHANGED => Some(Venta {
            medio_pago: Cow::Borrowed("BILLETERA"),
            actualizado: INITIAL + 5 * HOUR,
            ..venta.clone()
        }),
        _ => None,
    }
}

fn fixed(
    venta: i64,
    linea: i32,
    producto: i32,
    cantidad: i32,
    precio: i64,
    descuento: i64,
    actualizado: i64,
) -> Linea {
    Linea {
        venta,
        linea,
        producto,
        cantidad,
        precio,
        descuento,
        actualizado,
    }
}
