//! Test oracle: the spec's raw → trusted → report rules (spec sections 1–4)
//! re-implemented in plain Rust over a local lake, with no SQL and nothing
//! from the library, so that integration tests can check the SQL pipeline's
//! counts and `reporte_ventas_tienda` exactly.
//!
//! Decisions where the spec leaves room (each is a rule the pipeline must
//! follow too for the tests to pass):
//! - Text is trimmed of spaces (U+0020) only, as SQL `trim`/`btrim` does by
//!   default; codes and enumerations are then upper-cased with Unicode rules.
//! - `fecha_futura` compares `fecha_venta` with the instant of the extraction
//!   the winning version of the ticket came from, strictly (equal is fine).
//! - Two versions of a key with the same `actualizado_en` in the same
//!   extraction have no winner in the spec; the oracle panics if they differ.

// Shared by several test binaries, each of which uses only part of it; the
// oracle runs inside tests, where a malformed lake should fail loudly.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::fs;
use std::hash::Hash;
use std::path::Path;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// What the pipeline must produce for a lake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// Per table: rows in the latest raw state after deduplication.
    pub dedup_raw: BTreeMap<String, u64>,
    /// Per table: rows in trusted.
    pub trusted: BTreeMap<String, u64>,
    /// (table, rule) → rows rejected; only entries with at least one row.
    pub rejected: BTreeMap<(String, String), u64>,
    /// `reporte_ventas_tienda`, sorted by (fecha, id_tienda).
    pub report: Vec<ReportRow>,
}

/// One row of `reporte_ventas_tienda` (spec section 4); money in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    pub fecha: NaiveDate,
    pub periodo: String,
    pub id_tienda: i32,
    pub codigo_tienda: String,
    pub nombre_tienda: String,
    pub ciudad: String,
    pub region: String,
    pub formato: String,
    pub num_ventas: i64,
    pub num_clientes: i64,
    pub unidades: i64,
    pub venta_bruta: i128,
    pub descuento_total: i128,
    pub venta_neta: i128,
    pub costo_total: i128,
    pub margen_bruto: i128,
    pub ticket_promedio: i128,
}

/// Header of [`ReportRow::to_csv_line`].
pub const CSV_HEADER: &str = "fecha,periodo,id_tienda,codigo_tienda,nombre_tienda,ciudad,region,formato,\
num_ventas,num_clientes,unidades,venta_bruta,descuento_total,venta_neta,costo_total,margen_bruto,ticket_promedio";

impl ReportRow {
    /// The row as CSV in [`CSV_HEADER`] order: ISO dates, money with two
    /// decimals, no quoting (no report text holds a comma).
    pub fn to_csv_line(&self) -> String {
        [
            self.fecha.format("%Y-%m-%d").to_string(),
            self.periodo.clone(),
            self.id_tienda.to_string(),
            self.codigo_tienda.clone(),
            self.nombre_tienda.clone(),
            self.ciudad.clone(),
            self.region.clone(),
            self.formato.clone(),
            self.num_ventas.to_string(),
            self.num_clientes.to_string(),
            self.unidades.to_string(),
            money(self.venta_bruta),
            money(self.descuento_total),
            money(self.venta_neta),
            money(self.costo_total),
            money(self.margen_bruto),
            money(self.ticket_promedio),
        ]
        .join(",")
    }
}

/// Cents as a decimal with exactly two places: `-1230` → `-12.30`, `5` → `0.05`.
pub fn money(cents: i128) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `n / d` rounded half away from zero, exactly (`d` > 0).
pub fn div_round_half_away(n: i128, d: i128) -> i128 {
    assert!(d > 0, "divisor must be positive, got {d}");
    // Rounding the magnitude and restoring the sign is what "away from zero"
    // means; integer division alone would truncate towards zero.
    let q = (2 * n.abs() + d) / (2 * d);
    if n < 0 { -q } else { q }
}

/// Rule names, as recorded in `rejected/`.
pub mod rule {
    pub const TIENDA_DESCONOCIDA: &str = "tienda_desconocida";
    pub const FECHA_FUTURA: &str = "fecha_futura";
    pub const ESTADO_INVALIDO: &str = "estado_invalido";
    pub const VENTA_DESCONOCIDA: &str = "venta_desconocida";
    pub const PRODUCTO_DESCONOCIDO: &str = "producto_desconocido";
    pub const CANTIDAD_INVALIDA: &str = "cantidad_invalida";
    pub const PRECIO_INVALIDO: &str = "precio_invalido";
    pub const DESCUENTO_INVALIDO: &str = "descuento_invalido";
}

/// Peru's offset from UTC all year (no daylight saving), in microseconds.
const LIMA_OFFSET_MICROS: i64 = -5 * 3600 * 1_000_000;

/// The business date (America/Lima) of a UTC instant in microseconds.
pub fn business_date(fecha_venta_micros: i64) -> NaiveDate {
    DateTime::from_timestamp_micros(fecha_venta_micros + LIMA_OFFSET_MICROS)
        .unwrap()
        .date_naive()
}

/// Code or enumeration as stored in trusted: trimmed and upper-cased.
pub fn normalize_code(s: &str) -> String {
    s.trim_matches(' ').to_uppercase()
}

/// Any other text as stored in trusted: trimmed, case kept.
pub fn normalize_text(s: &str) -> String {
    s.trim_matches(' ').to_string()
}

/// Computes what the pipeline must produce from the published extractions
/// of the local lake at `lake_dir`.
pub fn expected_from_lake(lake_dir: &Path) -> Expected {
    let extractions = published_extractions(lake_dir);

    let tiendas = dedup(&extractions, lake_dir, "tiendas", read_tiendas);
    let productos = dedup(&extractions, lake_dir, "productos", read_productos);
    let clientes = dedup(&extractions, lake_dir, "clientes", read_clientes);
    let ventas = dedup(&extractions, lake_dir, "ventas", read_ventas);
    let detalle = dedup(&extractions, lake_dir, "detalle_ventas", read_detalle);

    let mut rejected: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut reject = |table: &str, rule: &str| {
        *rejected
            .entry((table.to_string(), rule.to_string()))
            .or_default() += 1;
    };

    // ventas → trusted (spec 3.4); ANULADA stays (spec 3.6).
    let mut trusted_ventas: HashMap<i64, &Venta> = HashMap::new();
    for v in ventas.values() {
        let venta = &v.row;
        let failed = if !tiendas.contains_key(&venta.id_tienda) {
            Some(rule::TIENDA_DESCONOCIDA)
        } else if venta.fecha_venta_micros > v.extraido_secs * 1_000_000 {
            Some(rule::FECHA_FUTURA)
        } else if venta.estado != "COMPLETADA" && venta.estado != "ANULADA" {
            Some(rule::ESTADO_INVALIDO)
        } else {
            None
        };
        match failed {
            Some(r) => reject("ventas", r),
            None => {
                trusted_ventas.insert(venta.id_venta, venta);
            }
        }
    }

    // detalle_ventas → trusted, against the *trusted* headers and products.
    let mut trusted_detalle: Vec<&Detalle> = Vec::new();
    for v in detalle.values() {
        let d = &v.row;
        let failed = if !trusted_ventas.contains_key(&d.id_venta) {
            Some(rule::VENTA_DESCONOCIDA)
        } else if !productos.contains_key(&d.id_producto) {
            Some(rule::PRODUCTO_DESCONOCIDO)
        } else if d.cantidad <= 0 {
            Some(rule::CANTIDAD_INVALIDA)
        } else if d.precio_unitario < 0 {
            Some(rule::PRECIO_INVALIDO)
        } else if d.descuento < 0 || d.descuento > i128::from(d.cantidad) * d.precio_unitario {
            Some(rule::DESCUENTO_INVALIDO)
        } else {
            None
        };
        match failed {
            Some(r) => reject("detalle_ventas", r),
            None => trusted_detalle.push(d),
        }
    }

    let dedup_raw: BTreeMap<String, u64> = [
        ("tiendas", tiendas.len()),
        ("productos", productos.len()),
        ("clientes", clientes.len()),
        ("ventas", ventas.len()),
        ("detalle_ventas", detalle.len()),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n as u64))
    .collect();
    // Dimensions have no rules: trusted is the deduplicated table.
    let trusted: BTreeMap<String, u64> = [
        ("tiendas", tiendas.len()),
        ("productos", productos.len()),
        ("clientes", clientes.len()),
        ("ventas", trusted_ventas.len()),
        ("detalle_ventas", trusted_detalle.len()),
    ]
    .into_iter()
    .map(|(t, n)| (t.to_string(), n as u64))
    .collect();

    // Reconciliation (spec section 2) holds by construction; checking it
    // guards the oracle itself.
    for (table, &n) in &dedup_raw {
        let rejected_rows: u64 = rejected
            .iter()
            .filter(|((t, _), _)| t == table)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            n,
            trusted[table] + rejected_rows,
            "oracle reconciliation of {table}"
        );
    }

    let report = report(&trusted_ventas, &trusted_detalle, &tiendas, &productos);
    Expected {
        dedup_raw,
        trusted,
        rejected,
        report,
    }
}

/// Running sums of one (fecha, id_tienda) group.
#[derive(Default)]
struct Group {
    ventas: HashSet<i64>,
    clientes: HashSet<i64>,
    unidades: i64,
    venta_bruta: i128,
    descuento_total: i128,
    /// Scale 4: rounded to cents only after summing (spec section 4).
    costo_4: i128,
}

fn report(
    ventas: &HashMap<i64, &Venta>,
    detalle: &[&Detalle],
    tiendas: &HashMap<i32, Versioned<Tienda>>,
    productos: &HashMap<i32, Versioned<Producto>>,
) -> Vec<ReportRow> {
    let mut groups: BTreeMap<(NaiveDate, i32), Group> = BTreeMap::new();
    for d in detalle {
        let venta = ventas[&d.id_venta];
        if venta.estado != "COMPLETADA" {
            continue;
        }
        let g = groups
            .entry((business_date(venta.fecha_venta_micros), venta.id_tienda))
            .or_default();
        g.ventas.insert(venta.id_venta);
        if let Some(c) = venta.id_cliente {
            g.clientes.insert(c);
        }
        let cantidad = i128::from(d.cantidad);
        g.unidades += i64::from(d.cantidad);
        g.venta_bruta += cantidad * d.precio_unitario;
        g.descuento_total += d.descuento;
        g.costo_4 += cantidad * productos[&d.id_producto].row.costo_unitario;
    }
    groups
        .into_iter()
        .map(|((fecha, id_tienda), g)| {
            let tienda = &tiendas[&id_tienda].row;
            let num_ventas = g.ventas.len() as i64;
            let venta_neta = g.venta_bruta - g.descuento_total;
            let costo_total = div_round_half_away(g.costo_4, 100);
            ReportRow {
                fecha,
                periodo: fecha.format("%Y-%m").to_string(),
                id_tienda,
                codigo_tienda: tienda.codigo.clone(),
                nombre_tienda: tienda.nombre.clone(),
                ciudad: tienda.ciudad.clone(),
                region: tienda.region.clone(),
                formato: tienda.formato.clone(),
                num_ventas,
                num_clientes: g.clientes.len() as i64,
                unidades: g.unidades,
                venta_bruta: g.venta_bruta,
                descuento_total: g.descuento_total,
                venta_neta,
                costo_total,
                margen_bruto: venta_neta - costo_total,
                ticket_promedio: div_round_half_away(venta_neta, i128::from(num_ventas)),
            }
        })
        .collect()
}

/// A published extraction: its instant and, per table, its files.
struct Published {
    extraido_secs: i64,
    files: BTreeMap<String, Vec<String>>,
}

/// Extractions with a manifest under `raw/_extracciones/`, oldest first;
/// Parquet files that no manifest lists are never read.
fn published_extractions(lake_dir: &Path) -> Vec<Published> {
    let dir = lake_dir.join("raw/_extracciones");
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return out;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let json: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("manifest {}: {e}", path.display()));
        let extraido = json["extraido"].as_str().unwrap();
        let instant = NaiveDateTime::parse_from_str(extraido, "%Y%m%dT%H%M%SZ")
            .unwrap_or_else(|e| panic!("manifest {}: extraido `{extraido}`: {e}", path.display()));
        let mut files = BTreeMap::new();
        for (table, t) in json["tables"].as_object().unwrap() {
            let paths = t["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["path"].as_str().unwrap().to_string())
                .collect();
            files.insert(table.clone(), paths);
        }
        out.push(Published {
            extraido_secs: instant.and_utc().timestamp(),
            files,
        });
    }
    out.sort_by_key(|p| p.extraido_secs);
    out
}

/// The winning version of a key so far.
struct Versioned<R> {
    actualizado_en: i64,
    extraido_secs: i64,
    row: R,
}

/// Rows of a table keyed by primary key, with their `actualizado_en` (µs).
type Rows<K, R> = Vec<(K, i64, R)>;

/// Deduplicates `table` over every extraction: the greatest `actualizado_en`
/// wins, ties go to the latest extraction (spec 3.1).
fn dedup<K, R>(
    extractions: &[Published],
    lake_dir: &Path,
    table: &str,
    read: fn(&RecordBatch) -> Rows<K, R>,
) -> HashMap<K, Versioned<R>>
where
    K: Hash + Eq + Debug,
    R: PartialEq + Debug,
{
    let mut out: HashMap<K, Versioned<R>> = HashMap::new();
    for ext in extractions {
        for file in ext.files.get(table).into_iter().flatten() {
            for batch in read_parquet(&lake_dir.join(file), read_columns(table)) {
                for (key, actualizado_en, row) in read(&batch) {
                    let new = Versioned {
                        actualizado_en,
                        extraido_secs: ext.extraido_secs,
                        row,
                    };
                    match out.entry(key) {
                        Entry::Vacant(slot) => {
                            slot.insert(new);
                        }
                        Entry::Occupied(mut slot) => {
                            let old = slot.get();
                            let (a, b) = (
                                (new.actualizado_en, new.extraido_secs),
                                (old.actualizado_en, old.extraido_secs),
                            );
                            if a > b {
                                slot.insert(new);
                            } else if a == b && new.row != old.row {
                                panic!(
                                    "{table} {:?}: two different versions with the same \
                                     actualizado_en in one extraction; the spec has no winner",
                                    slot.key()
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

/// The columns the oracle needs of each table.
fn read_columns(table: &str) -> &'static [&'static str] {
    match table {
        "tiendas" => &[
            "id_tienda",
            "codigo",
            "nombre",
            "ciudad",
            "region",
            "formato",
            "actualizado_en",
        ],
        "productos" => &["id_producto", "costo_unitario", "actualizado_en"],
        "clientes" => &["id_cliente", "actualizado_en"],
        "ventas" => &[
            "id_venta",
            "id_tienda",
            "id_cliente",
            "fecha_venta",
            "estado",
            "actualizado_en",
        ],
        "detalle_ventas" => &[
            "id_venta",
            "linea",
            "id_producto",
            "cantidad",
            "precio_unitario",
            "descuento",
            "actualizado_en",
        ],
        other => panic!("unknown table {other}"),
    }
}

fn read_parquet(path: &Path, columns: &[&str]) -> Vec<RecordBatch> {
    let file = fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
    builder
        .with_projection(mask)
        .build()
        .unwrap()
        .map(|b| b.unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .collect()
}

#[derive(Debug, PartialEq)]
struct Tienda {
    codigo: String,
    nombre: String,
    ciudad: String,
    region: String,
    formato: String,
}

#[derive(Debug, PartialEq)]
struct Producto {
    /// Scale 4.
    costo_unitario: i128,
}

#[derive(Debug, PartialEq)]
struct Venta {
    id_venta: i64,
    id_tienda: i32,
    id_cliente: Option<i64>,
    fecha_venta_micros: i64,
    /// Normalized.
    estado: String,
}

#[derive(Debug, PartialEq)]
struct Detalle {
    id_venta: i64,
    id_producto: i32,
    cantidad: i32,
    precio_unitario: i128,
    descuento: i128,
}

fn read_tiendas(b: &RecordBatch) -> Rows<i32, Tienda> {
    let id = ints(b, "id_tienda");
    let (codigo, nombre, ciudad) = (texts(b, "codigo"), texts(b, "nombre"), texts(b, "ciudad"));
    let (region, formato) = (texts(b, "region"), texts(b, "formato"));
    let upd = micros(b, "actualizado_en");
    (0..b.num_rows())
        .map(|i| {
            let row = Tienda {
                codigo: normalize_code(codigo.value(i)),
                nombre: normalize_text(nombre.value(i)),
                ciudad: normalize_text(ciudad.value(i)),
                region: normalize_code(region.value(i)),
                formato: normalize_code(formato.value(i)),
            };
            (required(&id, i) as i32, upd.value(i), row)
        })
        .collect()
}

fn read_productos(b: &RecordBatch) -> Rows<i32, Producto> {
    let (id, costo, upd) = (
        ints(b, "id_producto"),
        decimals(b, "costo_unitario", 4),
        micros(b, "actualizado_en"),
    );
    (0..b.num_rows())
        .map(|i| {
            let row = Producto {
                costo_unitario: required(&costo, i),
            };
            (required(&id, i) as i32, upd.value(i), row)
        })
        .collect()
}

fn read_clientes(b: &RecordBatch) -> Rows<i64, ()> {
    let (id, upd) = (ints(b, "id_cliente"), micros(b, "actualizado_en"));
    (0..b.num_rows())
        .map(|i| (required(&id, i), upd.value(i), ()))
        .collect()
}

fn read_ventas(b: &RecordBatch) -> Rows<i64, Venta> {
    let (id, tienda, cliente) = (
        ints(b, "id_venta"),
        ints(b, "id_tienda"),
        ints(b, "id_cliente"),
    );
    let (fecha, estado, upd) = (
        micros(b, "fecha_venta"),
        texts(b, "estado"),
        micros(b, "actualizado_en"),
    );
    (0..b.num_rows())
        .map(|i| {
            let row = Venta {
                id_venta: required(&id, i),
                id_tienda: required(&tienda, i) as i32,
                id_cliente: cliente[i],
                fecha_venta_micros: fecha.value(i),
                estado: normalize_code(estado.value(i)),
            };
            (row.id_venta, upd.value(i), row)
        })
        .collect()
}

fn read_detalle(b: &RecordBatch) -> Rows<(i64, i32), Detalle> {
    let (id, linea, producto, cantidad) = (
        ints(b, "id_venta"),
        ints(b, "linea"),
        ints(b, "id_producto"),
        ints(b, "cantidad"),
    );
    let (precio, descuento) = (
        decimals(b, "precio_unitario", 2),
        decimals(b, "descuento", 2),
    );
    let upd = micros(b, "actualizado_en");
    (0..b.num_rows())
        .map(|i| {
            let row = Detalle {
                id_venta: required(&id, i),
                id_producto: required(&producto, i) as i32,
                cantidad: required(&cantidad, i) as i32,
                precio_unitario: required(&precio, i),
                descuento: required(&descuento, i),
            };
            let key = (row.id_venta, required(&linea, i) as i32);
            (key, upd.value(i), row)
        })
        .collect()
}

fn required<T: Copy>(values: &[Option<T>], i: usize) -> T {
    values[i].unwrap_or_else(|| panic!("NULL in a NOT NULL column at row {i}"))
}

fn column<'a>(b: &'a RecordBatch, name: &str) -> &'a ArrayRef {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("column {name} missing"))
}

/// Any integer column, widened to i64 (the source has int and bigint keys).
fn ints(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let col = cast(column(b, name), &DataType::Int64).unwrap();
    col.as_primitive::<Int64Type>().iter().collect()
}

/// A decimal column at exactly `scale` (a narrower scale is widened exactly;
/// a wider one would need rounding, which no rule allows).
fn decimals(b: &RecordBatch, name: &str, scale: i8) -> Vec<Option<i128>> {
    let col = column(b, name);
    match col.data_type() {
        DataType::Decimal128(_, s) if *s <= scale => {}
        other => panic!("{name}: expected a decimal of scale <= {scale}, got {other}"),
    }
    let col = cast(col, &DataType::Decimal128(38, scale)).unwrap();
    col.as_primitive::<Decimal128Type>().iter().collect()
}

/// A timestamp column as UTC microseconds, NOT NULL.
fn micros(b: &RecordBatch, name: &str) -> TimestampMicrosecondArray {
    let col = column(b, name);
    // Arrow timestamps are UTC instants whatever their zone label, so only
    // the unit needs converting.
    assert!(
        matches!(col.data_type(), DataType::Timestamp(_, Some(_))),
        "{name}: expected timestamptz, got {}",
        col.data_type()
    );
    let col = cast(
        col,
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    )
    .unwrap();
    let arr = col
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
        .clone();
    assert_eq!(arr.null_count(), 0, "{name}: NULL in a NOT NULL timestamp");
    arr
}

/// A text column, NOT NULL.
fn texts(b: &RecordBatch, name: &str) -> StringArray {
    let col = cast(column(b, name), &DataType::Utf8).unwrap();
    let arr = col.as_string::<i32>().clone();
    assert_eq!(
        arr.null_count(),
        0,
        "{name}: NULL in a NOT NULL text column"
    );
    arr
}
