//! Hand-made raw lakes for tests: typed rows of the five source tables,
//! written as Parquet under `raw/<table>/extraido=<id>/` and published with a
//! manifest under `raw/_extracciones/<id>.json`, the layout the extractor
//! writes (see `jobs/src/lake/raw.rs`).
//!
//! The Arrow schemas are written out here from spec section 1 rather than
//! taken from the library, so that a test lake is an independent statement
//! of the contract; `oracle_self_test` checks that both agree.

// Shared by several test binaries, each of which uses only part of it; a
// broken fixture should fail the test loudly, hence unwrap.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use sha2::Digest;

/// Parses an RFC 3339 instant, e.g. `2025-03-01T03:30:00Z`.
pub fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("`{s}` is not an RFC 3339 instant: {e}"))
        .with_timezone(&Utc)
}

/// Parses a `YYYY-MM-DD` date.
pub fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_else(|e| panic!("`{s}` is not a date: {e}"))
}

/// A row of `retail.tiendas` (stores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tienda {
    pub id_tienda: i32,
    pub codigo: String,
    pub nombre: String,
    pub ciudad: String,
    pub region: String,
    pub formato: String,
    pub fecha_apertura: NaiveDate,
    pub activa: bool,
    pub actualizado_en: DateTime<Utc>,
}

impl Tienda {
    /// A clean store `LIM-<id>` in Lima, format SUPER.
    pub fn new(id_tienda: i32, actualizado_en: &str) -> Self {
        Tienda {
            id_tienda,
            codigo: format!("LIM-{id_tienda:03}"),
            nombre: format!("Tienda {id_tienda}"),
            ciudad: "Lima".into(),
            region: "LIMA".into(),
            formato: "SUPER".into(),
            fecha_apertura: date("2020-01-01"),
            activa: true,
            actualizado_en: ts(actualizado_en),
        }
    }
}

/// A row of `retail.productos` (products).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Producto {
    pub id_producto: i32,
    pub sku: String,
    pub nombre: String,
    pub categoria: String,
    pub subcategoria: Option<String>,
    pub marca: Option<String>,
    /// Cents (scale 2).
    pub precio_lista: i128,
    /// Ten-thousandths (scale 4).
    pub costo_unitario: i128,
    pub activo: bool,
    pub actualizado_en: DateTime<Utc>,
}

impl Producto {
    /// A clean product with unit cost `costo_unitario` at scale 4 (`12_3456` is 12.3456).
    pub fn new(id_producto: i32, costo_unitario: i128, actualizado_en: &str) -> Self {
        Producto {
            id_producto,
            sku: format!("SKU-{id_producto:05}"),
            nombre: format!("Producto {id_producto}"),
            categoria: "Abarrotes".into(),
            subcategoria: None,
            marca: None,
            precio_lista: 1_000,
            costo_unitario,
            activo: true,
            actualizado_en: ts(actualizado_en),
        }
    }
}

/// A row of `retail.clientes` (customers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cliente {
    pub id_cliente: i64,
    pub documento: Option<String>,
    pub nombre: Option<String>,
    pub email: Option<String>,
    pub segmento: Option<String>,
    pub ciudad: Option<String>,
    pub fecha_registro: Option<NaiveDate>,
    pub actualizado_en: DateTime<Utc>,
}

impl Cliente {
    /// A REGULAR customer from Lima.
    pub fn new(id_cliente: i64, actualizado_en: &str) -> Self {
        Cliente {
            id_cliente,
            documento: Some(format!("{:08}", id_cliente)),
            nombre: Some(format!("Cliente {id_cliente}")),
            email: Some(format!("c{id_cliente}@example.com")),
            segmento: Some("REGULAR".into()),
            ciudad: Some("Lima".into()),
            fecha_registro: Some(date("2021-06-01")),
            actualizado_en: ts(actualizado_en),
        }
    }
}

/// A row of `retail.ventas` (ticket headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Venta {
    pub id_venta: i64,
    pub id_tienda: i32,
    pub id_cliente: Option<i64>,
    pub fecha_venta: DateTime<Utc>,
    pub canal: String,
    pub medio_pago: String,
    pub estado: String,
    pub actualizado_en: DateTime<Utc>,
}

impl Venta {
    /// A COMPLETADA, anonymous, in-store cash sale, last changed when it was made.
    pub fn new(id_venta: i64, id_tienda: i32, fecha_venta: &str) -> Self {
        Venta {
            id_venta,
            id_tienda,
            id_cliente: None,
            fecha_venta: ts(fecha_venta),
            canal: "TIENDA".into(),
            medio_pago: "EFECTIVO".into(),
            estado: "COMPLETADA".into(),
            actualizado_en: ts(fecha_venta),
        }
    }
}

/// A row of `retail.detalle_ventas` (ticket lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetalleVenta {
    pub id_venta: i64,
    pub linea: i32,
    pub id_producto: i32,
    pub cantidad: i32,
    /// Cents.
    pub precio_unitario: i128,
    /// Cents, off the whole line.
    pub descuento: i128,
    pub actualizado_en: DateTime<Utc>,
}

impl DetalleVenta {
    /// A line without discount; `precio_unitario` in cents.
    pub fn new(
        id_venta: i64,
        linea: i32,
        id_producto: i32,
        cantidad: i32,
        precio_unitario: i128,
        actualizado_en: &str,
    ) -> Self {
        DetalleVenta {
            id_venta,
            linea,
            id_producto,
            cantidad,
            precio_unitario,
            descuento: 0,
            actualizado_en: ts(actualizado_en),
        }
    }
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The raw Arrow schema of a source table (spec section 1), by its lake name.
pub fn schema(table: &str) -> SchemaRef {
    let f = |name: &str, dt: DataType, nullable: bool| Field::new(name, dt, nullable);
    let money = DataType::Decimal128(12, 2);
    let fields = match table {
        "tiendas" => vec![
            f("id_tienda", DataType::Int32, false),
            f("codigo", DataType::Utf8, false),
            f("nombre", DataType::Utf8, false),
            f("ciudad", DataType::Utf8, false),
            f("region", DataType::Utf8, false),
            f("formato", DataType::Utf8, false),
            f("fecha_apertura", DataType::Date32, false),
            f("activa", DataType::Boolean, false),
            f("actualizado_en", timestamp(), false),
        ],
        "productos" => vec![
            f("id_producto", DataType::Int32, false),
            f("sku", DataType::Utf8, false),
            f("nombre", DataType::Utf8, false),
            f("categoria", DataType::Utf8, false),
            f("subcategoria", DataType::Utf8, true),
            f("marca", DataType::Utf8, true),
            f("precio_lista", money, false),
            f("costo_unitario", DataType::Decimal128(12, 4), false),
            f("activo", DataType::Boolean, false),
            f("actualizado_en", timestamp(), false),
        ],
        "clientes" => vec![
            f("id_cliente", DataType::Int64, false),
            f("documento", DataType::Utf8, true),
            f("nombre", DataType::Utf8, true),
            f("email", DataType::Utf8, true),
            f("segmento", DataType::Utf8, true),
            f("ciudad", DataType::Utf8, true),
            f("fecha_registro", DataType::Date32, true),
            f("actualizado_en", timestamp(), false),
        ],
        "ventas" => vec![
            f("id_venta", DataType::Int64, false),
            f("id_tienda", DataType::Int32, false),
            f("id_cliente", DataType::Int64, true),
            f("fecha_venta", timestamp(), false),
            f("canal", DataType::Utf8, false),
            f("medio_pago", DataType::Utf8, false),
            f("estado", DataType::Utf8, false),
            f("actualizado_en", timestamp(), false),
        ],
        "detalle_ventas" => vec![
            f("id_venta", DataType::Int64, false),
            f("linea", DataType::Int32, false),
            f("id_producto", DataType::Int32, false),
            f("cantidad", DataType::Int32, false),
            f("precio_unitario", money.clone(), false),
            f("descuento", money, false),
            f("actualizado_en", timestamp(), false),
        ],
        other => panic!("unknown source table `{other}`"),
    };
    Arc::new(Schema::new(fields))
}

/// Lake names of the source tables, dimensions first.
pub const TABLES: [&str; 5] = [
    "tiendas",
    "productos",
    "clientes",
    "ventas",
    "detalle_ventas",
];

fn strings<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(values))
}

fn opt_strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(StringArray::from_iter(values))
}

fn decimals(values: impl Iterator<Item = i128>, scale: i8) -> ArrayRef {
    Arc::new(
        Decimal128Array::from_iter_values(values)
            .with_precision_and_scale(12, scale)
            .unwrap(),
    )
}

fn instants(values: impl Iterator<Item = DateTime<Utc>>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from_iter_values(values.map(|t| t.timestamp_micros()))
            .with_timezone("UTC"),
    )
}

fn days(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

/// One extraction of a hand-made lake: the rows each table had at `extraido`.
#[derive(Debug, Clone, Default)]
pub struct Extraction {
    /// Extraction id, `YYYYMMDDTHHMMSSZ` (UTC).
    pub extraido: String,
    pub tiendas: Vec<Tienda>,
    pub productos: Vec<Producto>,
    pub clientes: Vec<Cliente>,
    pub ventas: Vec<Venta>,
    pub detalle_ventas: Vec<DetalleVenta>,
    /// Parquet files per table (rows are split round-robin); 0 or 1 means one.
    pub parts: usize,
}

impl Extraction {
    /// An empty extraction taken at `extraido` (`YYYYMMDDTHHMMSSZ`).
    pub fn new(extraido: &str) -> Self {
        Extraction {
            extraido: extraido.to_string(),
            ..Default::default()
        }
    }

    /// The rows of `table` as one Arrow batch in the raw schema.
    pub fn batch(&self, table: &str) -> RecordBatch {
        let columns: Vec<ArrayRef> = match table {
            "tiendas" => {
                let r = &self.tiendas;
                vec![
                    Arc::new(Int32Array::from_iter_values(r.iter().map(|t| t.id_tienda))),
                    strings(r.iter().map(|t| t.codigo.as_str())),
                    strings(r.iter().map(|t| t.nombre.as_str())),
                    strings(r.iter().map(|t| t.ciudad.as_str())),
                    strings(r.iter().map(|t| t.region.as_str())),
                    strings(r.iter().map(|t| t.formato.as_str())),
                    Arc::new(Date32Array::from_iter_values(
                        r.iter().map(|t| days(t.fecha_apertura)),
                    )),
                    Arc::new(BooleanArray::from_iter(r.iter().map(|t| Some(t.activa)))),
                    instants(r.iter().map(|t| t.actualizado_en)),
                ]
            }
            "productos" => {
                let r = &self.productos;
                vec![
                    Arc::new(Int32Array::from_iter_values(
                        r.iter().map(|p| p.id_producto),
                    )),
                    strings(r.iter().map(|p| p.sku.as_str())),
                    strings(r.iter().map(|p| p.nombre.as_str())),
                    strings(r.iter().map(|p| p.categoria.as_str())),
                    opt_strings(r.iter().map(|p| p.subcategoria.as_deref())),
                    opt_strings(r.iter().map(|p| p.marca.as_deref())),
                    decimals(r.iter().map(|p| p.precio_lista), 2),
                    decimals(r.iter().map(|p| p.costo_unitario), 4),
                    Arc::new(BooleanArray::from_iter(r.iter().map(|p| Some(p.activo)))),
                    instants(r.iter().map(|p| p.actualizado_en)),
                ]
            }
            "clientes" => {
                let r = &self.clientes;
                vec![
                    Arc::new(Int64Array::from_iter_values(r.iter().map(|c| c.id_cliente))),
                    opt_strings(r.iter().map(|c| c.documento.as_deref())),
                    opt_strings(r.iter().map(|c| c.nombre.as_deref())),
                    opt_strings(r.iter().map(|c| c.email.as_deref())),
                    opt_strings(r.iter().map(|c| c.segmento.as_deref())),
                    opt_strings(r.iter().map(|c| c.ciudad.as_deref())),
                    Arc::new(Date32Array::from_iter(
                        r.iter().map(|c| c.fecha_registro.map(days)),
                    )),
                    instants(r.iter().map(|c| c.actualizado_en)),
                ]
            }
            "ventas" => {
                let r = &self.ventas;
                vec![
                    Arc::new(Int64Array::from_iter_values(r.iter().map(|v| v.id_venta))),
                    Arc::new(Int32Array::from_iter_values(r.iter().map(|v| v.id_tienda))),
                    Arc::new(Int64Array::from_iter(r.iter().map(|v| v.id_cliente))),
                    instants(r.iter().map(|v| v.fecha_venta)),
                    strings(r.iter().map(|v| v.canal.as_str())),
                    strings(r.iter().map(|v| v.medio_pago.as_str())),
                    strings(r.iter().map(|v| v.estado.as_str())),
                    instants(r.iter().map(|v| v.actualizado_en)),
                ]
            }
            "detalle_ventas" => {
                let r = &self.detalle_ventas;
                vec![
                    Arc::new(Int64Array::from_iter_values(r.iter().map(|d| d.id_venta))),
                    Arc::new(Int32Array::from_iter_values(r.iter().map(|d| d.linea))),
                    Arc::new(Int32Array::from_iter_values(
                        r.iter().map(|d| d.id_producto),
                    )),
                    Arc::new(Int32Array::from_iter_values(r.iter().map(|d| d.cantidad))),
                    decimals(r.iter().map(|d| d.precio_unitario), 2),
                    decimals(r.iter().map(|d| d.descuento), 2),
                    instants(r.iter().map(|d| d.actualizado_en)),
                ]
            }
            other => panic!("unknown source table `{other}`"),
        };
        RecordBatch::try_new(schema(table), columns).unwrap()
    }

    /// Writes the Parquet files of every table (one file at least, even for an
    /// empty table, as the extractor does) and returns the manifest that would
    /// publish them, without writing it: an extraction that died half-way.
    pub fn write_files(&self, lake_dir: &Path) -> serde_json::Value {
        let mut tables = serde_json::Map::new();
        for table in TABLES {
            let batch = self.batch(table);
            let parts = self.parts.max(1);
            let mut files = Vec::new();
            for part in 0..parts {
                // Round-robin, so a key's versions may land in different files.
                let take: Vec<u32> = (0..batch.num_rows() as u32)
                    .filter(|i| *i as usize % parts == part)
                    .collect();
                let slice =
                    arrow::compute::take_record_batch(&batch, &UInt32Array::from(take)).unwrap();
                let relative = format!(
                    "raw/{table}/extraido={}/part-{part:05}.parquet",
                    self.extraido
                );
                let path = lake_dir.join(&relative);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                let mut writer =
                    ArrowWriter::try_new(fs::File::create(&path).unwrap(), schema(table), None)
                        .unwrap();
                writer.write(&slice).unwrap();
                writer.close().unwrap();
                let bytes = fs::read(&path).unwrap();
                files.push(serde_json::json!({
                    "path": relative,
                    "bytes": bytes.len(),
                    "rows": slice.num_rows(),
                    "sha256": hex::encode(sha2::Sha256::digest(&bytes)),
                }));
            }
            tables.insert(
                table.to_string(),
                serde_json::json!({ "rows": batch.num_rows(), "files": files }),
            );
        }
        serde_json::json!({
            "extraido": self.extraido,
            "source": "test",
            "details": {},
            "tables": tables,
        })
    }

    /// Writes the files and then the manifest that publishes the extraction.
    pub fn write(&self, lake_dir: &Path) {
        let manifest = self.write_files(lake_dir);
        let path = lake_dir.join(format!("raw/_extracciones/{}.json", self.extraido));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    }
}
