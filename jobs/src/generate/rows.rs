//! The fact rows as the generator holds them between drawing and writing: a
//! ticket header ([`Venta`]) and a ticket line ([`Linea`]), with money in
//! cents and instants in whole UTC seconds, and their Arrow batches.

use std::borrow::Cow;

use arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use std::sync::Arc;

use super::columns::{batch, instants, money};
use crate::error::Result;

/// The valid `canal` values.
pub(super) const CHANNELS: [&str; 3] = ["TIENDA", "WEB", "APP"];
/// The valid `medio_pago` values.
pub(super) const PAYMENTS: [&str; 3] = ["EFECTIVO", "TARJETA", "BILLETERA"];
/// `estado` of a completed ticket.
pub(super) const COMPLETED: &str = "COMPLETADA";
/// `estado` of a voided ticket.
pub(super) const VOIDED: &str = "ANULADA";

/// One `ventas` row.
#[derive(Debug, Clone)]
pub(super) struct Venta {
    pub id: i64,
    pub tienda: i32,
    pub cliente: Option<i64>,
    pub fecha: i64,
    pub canal: Cow<'static, str>,
    pub medio_pago: Cow<'static, str>,
    pub estado: Cow<'static, str>,
    pub actualizado: i64,
}

/// One `detalle_ventas` row.
#[derive(Debug, Clone)]
pub(super) struct Linea {
    pub venta: i64,
    pub linea: i32,
    pub producto: i32,
    pub cantidad: i32,
    pub precio: i64,
    pub descuento: i64,
    pub actualizado: i64,
}

impl Linea {
    /// `cantidad * precio_unitario` in cents.
    pub fn gross(&self) -> i64 {
        i64::from(self.cantidad) * self.precio
    }
}

/// A value as the pipeline will read it (trimmed, upper case).
pub(super) fn normalised(value: &str) -> String {
    value.trim().to_uppercase()
}

/// The value of `values` after `current` (normalised), so a change is always
/// visible; the first one when `current` is not in the list.
pub(super) fn next_of(values: &[&'static str], current: &str) -> &'static str {
    let current = normalised(current);
    let at = values
        .iter()
        .position(|v| *v == current)
        .map_or(0, |i| i + 1);
    values[at % values.len()]
}

/// The `ventas` batch of `rows`.
pub(super) fn ventas_batch(rows: &[Venta]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.tienda))),
        Arc::new(rows.iter().map(|r| r.cliente).collect::<Int64Array>()),
        instants(rows.iter().map(|r| r.fecha)),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.canal.as_ref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.medio_pago.as_ref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.estado.as_ref()),
        )),
        instants(rows.iter().map(|r| r.actualizado)),
    ];
    batch("ventas", columns)
}

/// The `detalle_ventas` batch of `rows`.
pub(super) fn detalle_batch(rows: &[Linea]) -> Result<RecordBatch> {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.venta))),
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.linea))),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.producto),
        )),
        Arc::new(Int32Array::from_iter_values(
            rows.iter().map(|r| r.cantidad),
        )),
        money(rows.iter().map(|r| r.precio))?,
        money(rows.iter().map(|r| r.descuento))?,
        instants(rows.iter().map(|r| r.actualizado)),
    ];
    batch("detalle_ventas", columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_of_always_changes_the_normalised_value() {
        assert_eq!(next_of(&PAYMENTS, "Tarjeta "), "BILLETERA");
        assert_eq!(next_of(&PAYMENTS, "BILLETERA"), "EFECTIVO");
        assert_eq!(next_of(&CHANNELS, "kiosko"), "TIENDA");
    }
}
