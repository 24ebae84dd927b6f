//! The source model: the five tables of the on-premise `retail` schema
//! (spec section 1), their primary keys and their Arrow types in the lake.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Arrow type of every `timestamptz` column: microseconds, UTC.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Arrow type of `numeric(12,2)` money columns.
pub const MONEY: DataType = DataType::Decimal128(12, 2);
/// Arrow type of `numeric(12,4)` unit costs.
pub const UNIT_COST: DataType = DataType::Decimal128(12, 4);

/// A table of the source database, in dependency order (dimensions first).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SourceTable {
    /// Stores.
    Tiendas,
    /// Products.
    Productos,
    /// Customers (personal data).
    Clientes,
    /// Sales tickets (headers).
    Ventas,
    /// Sales lines.
    DetalleVentas,
}

impl SourceTable {
    /// Every source table, dimensions before facts.
    pub const ALL: [SourceTable; 5] = [
        SourceTable::Tiendas,
        SourceTable::Productos,
        SourceTable::Clientes,
        SourceTable::Ventas,
        SourceTable::DetalleVentas,
    ];

    /// The table's name in the source and in the lake.
    pub fn name(self) -> &'static str {
        match self {
            SourceTable::Tiendas => "tiendas",
            SourceTable::Productos => "productos",
            SourceTable::Clientes => "clientes",
            SourceTable::Ventas => "ventas",
            SourceTable::DetalleVentas => "detalle_ventas",
        }
    }

    /// Primary key columns.
    pub fn primary_key(self) -> &'static [&'static str] {
        match self {
            SourceTable::Tiendas => &["id_tienda"],
            SourceTable::Productos => &["id_producto"],
            SourceTable::Clientes => &["id_cliente"],
            SourceTable::Ventas => &["id_venta"],
            SourceTable::DetalleVentas => &["id_venta", "linea"],
        }
    }

    /// The Arrow schema of the table as extracted into raw (spec section 1 types).
    pub fn schema(self) -> SchemaRef {
        let ts = timestamp_type;
        let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
        let fields = match self {
            SourceTable::Tiendas => vec![
                f("id_tienda", DataType::Int32, false),
                f("codigo", DataType::Utf8, false),
                f("nombre", DataType::Utf8, false),
                f("ciudad", DataType::Utf8, false),
                f("region", DataType::Utf8, false),
                f("formato", DataType::Utf8, false),
                f("fecha_apertura", DataType::Date32, false),
                f("activa", DataType::Boolean, false),
                f("actualizado_en", ts(), false),
            ],
            SourceTable::Productos => vec![
                f("id_producto", DataType::Int32, false),
                f("sku", DataType::Utf8, false),
                f("nombre", DataType::Utf8, false),
                f("categoria", DataType::Utf8, false),
                f("subcategoria", DataType::Utf8, true),
                f("marca", DataType::Utf8, true),
                f("precio_lista", MONEY, false),
                f("costo_unitario", UNIT_COST, false),
                f("activo", DataType::Boolean, false),
                f("actualizado_en", ts(), false),
            ],
            SourceTable::Clientes => vec![
                f("id_cliente", DataType::Int64, false),
                f("documento", DataType::Utf8, true),
                f("nombre", DataType::Utf8, true),
                f("email", DataType::Utf8, true),
                f("segmento", DataType::Utf8, true),
                f("ciudad", DataType::Utf8, true),
                f("fecha_registro", DataType::Date32, true),
                f("actualizado_en", ts(), false),
            ],
            SourceTable::Ventas => vec![
                f("id_venta", DataType::Int64, false),
                f("id_tienda", DataType::Int32, false),
                f("id_cliente", DataType::Int64, true),
                f("fecha_venta", ts(), false),
                f("canal", DataType::Utf8, false),
                f("medio_pago", DataType::Utf8, false),
                f("estado", DataType::Utf8, false),
                f("actualizado_en", ts(), false),
            ],
            SourceTable::DetalleVentas => vec![
                f("id_venta", DataType::Int64, false),
                f("linea", DataType::Int32, false),
                f("id_producto", DataType::Int32, false),
                f("cantidad", DataType::Int32, false),
                f("precio_unitario", MONEY, false),
                f("descuento", MONEY, false),
                f("actualizado_en", ts(), false),
            ],
        };
        Arc::new(Schema::new(fields))
    }
}

impl fmt::Display for SourceTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SourceTable {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SourceTable::ALL
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = SourceTable::ALL.iter().map(|t| t.name()).collect();
                format!(
                    "unknown source table `{s}`; expected one of {}",
                    names.join(", ")
                )
            })
    }
}
