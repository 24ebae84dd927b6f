//! Self-tests of the test oracle (`common/oracle.rs`) on tiny hand-made raw
//! lakes, one spec rule at a time, so that a disagreement between the oracle
//! and the SQL pipeline points at the pipeline.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::oracle::{
    CSV_HEADER, Expected, ReportRow, div_round_half_away, expected_from_lake, money,
};
use common::rawlake::{
    Cliente, DetalleVenta, Extraction, Producto, TABLES, Tienda, Venta, date, schema,
};

/// When the dimension rows were last changed, before any sale.
const DIM: &str = "2025-01-01T00:00:00Z";

/// An extraction with stores 1..=`stores` and products 1..=3 (costs 1.0000,
/// 2.0000, 3.0000), taken at `extraido`.
fn base(extraido: &str, stores: i32) -> Extraction {
    Extraction {
        tiendas: (1..=stores).map(|id| Tienda::new(id, DIM)).collect(),
        productos: (1..=3)
            .map(|id| Producto::new(id, i128::from(id) * 1_0000, DIM))
            .collect(),
        ..Extraction::new(extraido)
    }
}

fn map<const N: usize>(entries: [(&str, u64); N]) -> BTreeMap<String, u64> {
    entries
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect()
}

fn rejected<const N: usize>(entries: [(&str, &str, u64); N]) -> BTreeMap<(String, String), u64> {
    entries
        .into_iter()
        .map(|(t, r, n)| ((t.to_string(), r.to_string()), n))
        .collect()
}

fn oracle(lake: &Path) -> Expected {
    expected_from_lake(lake)
}

#[test]
fn dedup_keeps_latest_actualizado_en_and_ties_go_to_latest_extraction() {
    let lake = tempfile::tempdir().unwrap();
    let mut e1 = base("20250105T060000Z", 2);
    e1.tiendas[0].nombre = "Vieja".into();
    // Store 2 was changed on the 3rd; a later extraction re-sends an older version.
    e1.tiendas[1].nombre = "Nueva 2".into();
    e1.tiendas[1].actualizado_en = common::rawlake::ts("2025-01-03T00:00:00Z");
    e1.ventas = vec![
        Venta::new(10, 1, "2025-01-04T15:00:00Z"),
        Venta::new(20, 2, "2025-01-04T15:00:00Z"),
    ];
    e1.detalle_ventas = vec![
        DetalleVenta::new(10, 1, 1, 1, 10_00, "2025-01-04T15:00:00Z"),
        DetalleVenta::new(20, 1, 1, 1, 10_00, "2025-01-04T15:00:00Z"),
    ];
    e1.clientes = vec![Cliente::new(1, DIM)];
    e1.write(lake.path());

    let mut e2 = base("20250106T060000Z", 2);
    e2.parts = 2;
    e2.tiendas[0].nombre = "Nueva".into();
    e2.tiendas[0].actualizado_en = common::rawlake::ts("2025-01-02T00:00:00Z");
    e2.tiendas[1].nombre = "Vieja 2".into();
    // Same actualizado_en as in e1 for product 1: the later extraction wins.
    e2.productos[0].costo_unitario = 4_0000;
    // An older version of ticket 10 in a later extraction loses: it stays COMPLETADA.
    e2.ventas = vec![Venta {
        estado: "ANULADA".into(),
        actualizado_en: common::rawlake::ts("2025-01-04T14:00:00Z"),
        ..Venta::new(10, 1, "2025-01-04T15:00:00Z")
    }];
    // A newer version of line (20, 1) wins: 3 units instead of 1.
    e2.detalle_ventas = vec![DetalleVenta::new(
        20,
        1,
        1,
        3,
        10_00,
        "2025-01-05T10:00:00Z",
    )];
    e2.clientes = vec![Cliente::new(1, DIM), Cliente::new(2, DIM)];
    e2.write(lake.path());

    let got = oracle(lake.path());
    let counts = map([
        ("tiendas", 2),
        ("productos", 3),
        ("clientes", 2),
        ("ventas", 2),
        ("detalle_ventas", 2),
    ]);
    assert_eq!(got.dedup_raw, counts);
    assert_eq!(got.trusted, counts);
    assert!(got.rejected.is_empty());
    let names: Vec<_> = got
        .report
        .iter()
        .map(|r| (r.nombre_tienda.as_str(), r.unidades, r.costo_total))
        .collect();
    assert_eq!(names, [("Nueva", 1, 4_00), ("Nueva 2", 3, 12_00)]);
}

#[test]
fn business_date_is_lima_time() {
    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 1);
    e.ventas = vec![
        Venta::new(1, 1, "2025-03-01T03:30:00Z"),
        // 00:00 in Lima exactly: already the next day.
        Venta::new(2, 1, "2025-03-01T05:00:00Z"),
    ];
    e.detalle_ventas = vec![
        DetalleVenta::new(1, 1, 1, 1, 5_00, "2025-03-01T03:30:00Z"),
        DetalleVenta::new(2, 1, 1, 1, 5_00, "2025-03-01T05:00:00Z"),
    ];
    e.write(lake.path());

    let got = oracle(lake.path());
    let days: Vec<_> = got
        .report
        .iter()
        .map(|r| (r.fecha, r.periodo.as_str()))
        .collect();
    assert_eq!(
        days,
        [
            (date("2025-02-28"), "2025-02"),
            (date("2025-03-01"), "2025-03")
        ]
    );
}

#[test]
fn voided_ticket_stays_in_trusted_but_not_in_report() {
    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 1);
    e.ventas = vec![
        Venta::new(1, 1, "2025-03-01T15:00:00Z"),
        Venta {
            estado: " anulada ".into(),
            ..Venta::new(2, 1, "2025-03-01T16:00:00Z")
        },
    ];
    e.detalle_ventas = vec![
        DetalleVenta::new(1, 1, 1, 1, 5_00, "2025-03-01T15:00:00Z"),
        DetalleVenta::new(2, 1, 1, 7, 5_00, "2025-03-01T16:00:00Z"),
    ];
    e.write(lake.path());

    let got = oracle(lake.path());
    assert_eq!(got.trusted["ventas"], 2);
    assert_eq!(got.trusted["detalle_ventas"], 2);
    assert!(got.rejected.is_empty());
    assert_eq!(got.report.len(), 1);
    assert_eq!((got.report[0].num_ventas, got.report[0].unidades), (1, 1));
}

#[test]
fn rejection_rules_record_the_first_failing_rule() {
    let lake = tempfile::tempdir().unwrap();
    // Extraction instant: 2025-03-02T00:00:00Z.
    let mut e = base("20250302T000000Z", 1);
    let future = "2025-03-02T00:00:00.000001Z";
    e.ventas = vec![
        // Unknown store, future and bad state: the store rule comes first.
        Venta {
            estado: "PENDIENTE".into(),
            ..Venta::new(1, 99, future)
        },
        // Future and bad state: fecha_futura.
        Venta {
            estado: "PENDIENTE".into(),
            ..Venta::new(2, 1, future)
        },
        Venta {
            estado: "pendiente".into(),
            ..Venta::new(3, 1, "2025-03-01T12:00:00Z")
        },
        // Exactly at the extraction instant is not in the future.
        Venta::new(4, 1, "2025-03-02T00:00:00Z"),
        Venta::new(5, 1, "2025-03-01T12:00:00Z"),
    ];
    let t = "2025-03-01T12:00:00Z";
    let line = |id_venta, linea, id_producto, cantidad, precio, descuento| DetalleVenta {
        descuento,
        ..DetalleVenta::new(id_venta, linea, id_producto, cantidad, precio, t)
    };
    e.detalle_ventas = vec![
        // Header rejected (and unknown product): venta_desconocida.
        line(1, 1, 77, 1, 1_00, 0),
        // No header at all.
        line(999, 1, 1, 1, 1_00, 0),
        // Unknown product and zero quantity: producto_desconocido.
        line(5, 1, 77, 0, 1_00, 0),
        // Zero quantity and negative price: cantidad_invalida.
        line(5, 2, 1, 0, -1_00, 0),
        line(5, 3, 1, -1, 1_00, 0),
        // Negative price and negative discount: precio_invalido.
        line(5, 4, 1, 1, -1, -1),
        line(5, 5, 1, 1, 1_00, -1),
        // Discount above cantidad * precio (2 * 1.00).
        line(5, 6, 1, 2, 1_00, 2_01),
        // Valid edges: discount equal to the line amount, a free line.
        line(5, 7, 1, 2, 1_00, 2_00),
        line(5, 8, 1, 1, 0, 0),
        line(4, 1, 1, 1, 1_00, 0),
    ];
    e.write(lake.path());

    let got = oracle(lake.path());
    assert_eq!(
        got.rejected,
        rejected([
            ("detalle_ventas", "cantidad_invalida", 2),
            ("detalle_ventas", "descuento_invalido", 2),
            ("detalle_ventas", "precio_invalido", 1),
            ("detalle_ventas", "producto_desconocido", 1),
            ("detalle_ventas", "venta_desconocida", 2),
            ("ventas", "estado_invalido", 1),
            ("ventas", "fecha_futura", 1),
            ("ventas", "tienda_desconocida", 1),
        ])
    );
    assert_eq!(got.dedup_raw["ventas"], 5);
    assert_eq!(got.trusted["ventas"], 2);
    assert_eq!(got.dedup_raw["detalle_ventas"], 11);
    assert_eq!(got.trusted["detalle_ventas"], 3);
}

#[test]
fn line_whose_header_version_is_rejected_is_venta_desconocida() {
    let lake = tempfile::tempdir().unwrap();
    let mut e1 = base("20250302T000000Z", 1);
    e1.ventas = vec![Venta::new(1, 1, "2025-03-01T12:00:00Z")];
    e1.detalle_ventas = vec![DetalleVenta::new(1, 1, 1, 1, 1_00, "2025-03-01T12:00:00Z")];
    e1.write(lake.path());
    // The header's newer version has a bad state: rules apply after dedup.
    let mut e2 = base("20250303T000000Z", 1);
    e2.ventas = vec![Venta {
        estado: "DEVUELTA".into(),
        actualizado_en: common::rawlake::ts("2025-03-02T12:00:00Z"),
        ..Venta::new(1, 1, "2025-03-01T12:00:00Z")
    }];
    e2.write(lake.path());

    let got = oracle(lake.path());
    assert_eq!(
        got.rejected,
        rejected([
            ("detalle_ventas", "venta_desconocida", 1),
            ("ventas", "estado_invalido", 1)
        ])
    );
    assert!(got.report.is_empty());
}

#[test]
fn fecha_futura_uses_the_extraction_of_the_winning_version() {
    let lake = tempfile::tempdir().unwrap();
    // Ticket 1 is dated after e1 but extracted again, unchanged, in e2 (tie → e2).
    let sale = "2025-03-02T10:00:00Z";
    let mut e1 = base("20250302T000000Z", 1);
    e1.ventas = vec![Venta::new(1, 1, sale), Venta::new(2, 1, sale)];
    e1.write(lake.path());
    let mut e2 = base("20250303T000000Z", 1);
    e2.ventas = vec![Venta::new(1, 1, sale)];
    e2.write(lake.path());

    let got = oracle(lake.path());
    assert_eq!(got.rejected, rejected([("ventas", "fecha_futura", 1)]));
    assert_eq!(got.trusted["ventas"], 1);
}

#[test]
fn costo_total_rounds_after_summing_and_ticket_promedio_rounds_half_away() {
    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 4);
    e.productos = vec![
        Producto::new(1, 5_0025, DIM),
        Producto::new(2, 10_0049, DIM),
        Producto::new(3, 0, DIM),
    ];
    let t = "2025-03-01T12:00:00Z";
    e.ventas = (1..=7)
        .map(|id| Venta::new(id, [1, 1, 2, 3, 3, 3, 4][id as usize - 1], t))
        .collect();
    e.ventas.push(Venta::new(8, 4, t));
    e.detalle_ventas = vec![
        // Store 1: 5.0025 + 5.0025 = 10.0050 → 10.01 (rounding each first gives 10.00).
        DetalleVenta::new(1, 1, 1, 1, 20_00, t),
        DetalleVenta::new(2, 1, 1, 1, 20_00, t),
        // Store 2: 10.0049 → 10.00.
        DetalleVenta::new(3, 1, 2, 1, 20_00, t),
        // Store 3: 10.00 over 3 tickets → 3.33.
        DetalleVenta::new(4, 1, 3, 1, 3_00, t),
        DetalleVenta::new(5, 1, 3, 1, 3_00, t),
        DetalleVenta::new(6, 1, 3, 1, 4_00, t),
        // Store 4: 0.05 over 2 tickets = 0.025 → 0.03.
        DetalleVenta::new(7, 1, 3, 1, 2, t),
        DetalleVenta::new(8, 1, 3, 1, 3, t),
    ];
    e.write(lake.path());

    let got = oracle(lake.path());
    let money_cols: Vec<_> = got
        .report
        .iter()
        .map(|r| {
            (
                r.id_tienda,
                r.venta_neta,
                r.costo_total,
                r.margen_bruto,
                r.ticket_promedio,
            )
        })
        .collect();
    assert_eq!(
        money_cols,
        [
            (1, 40_00, 10_01, 29_99, 20_00),
            (2, 20_00, 10_00, 10_00, 20_00),
            (3, 10_00, 0, 10_00, 3_33),
            (4, 5, 0, 5, 3),
        ]
    );
}

#[test]
fn rounding_is_half_away_from_zero_for_negatives_too() {
    let cases = [
        (25, 10, 3),
        (-25, 10, -3),
        (24, 10, 2),
        (-24, 10, -2),
        (1000, 3, 333),
        (-1000, 3, -333),
        (5, 2, 3),
        (-5, 2, -3),
        (10_0050, 100, 10_01),
        (10_0049, 100, 10_00),
        (-10_0050, 100, -10_01),
        (0, 7, 0),
    ];
    for (n, d, want) in cases {
        assert_eq!(div_round_half_away(n, d), want, "{n} / {d}");
    }
}

#[test]
fn num_clientes_counts_distinct_non_null_customers() {
    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 1);
    let t = "2025-03-01T12:00:00Z";
    e.ventas = vec![
        Venta {
            id_cliente: Some(7),
            ..Venta::new(1, 1, t)
        },
        Venta {
            id_cliente: Some(7),
            ..Venta::new(2, 1, t)
        },
        Venta::new(3, 1, t),
        // A ticket without counted lines adds neither a sale nor a customer.
        Venta {
            id_cliente: Some(8),
            ..Venta::new(4, 1, t)
        },
    ];
    e.detalle_ventas = (1..=3)
        .flat_map(|id| {
            [
                DetalleVenta::new(id, 1, 1, 1, 1_00, t),
                DetalleVenta::new(id, 2, 2, 2, 1_00, t),
            ]
        })
        .collect();
    e.write(lake.path());

    let row = &oracle(lake.path()).report[0];
    assert_eq!((row.num_ventas, row.num_clientes, row.unidades), (3, 1, 9));
}

#[test]
fn files_without_a_manifest_are_ignored() {
    let published = tempfile::tempdir().unwrap();
    let with_orphans = tempfile::tempdir().unwrap();
    let mut e1 = base("20250302T000000Z", 1);
    let t = "2025-03-01T12:00:00Z";
    e1.ventas = vec![Venta::new(1, 1, t)];
    e1.detalle_ventas = vec![DetalleVenta::new(1, 1, 1, 1, 1_00, t)];
    e1.write(published.path());
    e1.write(with_orphans.path());

    // An extraction that died before its manifest: newer versions, new rows.
    let mut e2 = base("20250303T000000Z", 2);
    e2.tiendas[0].nombre = "Nunca publicada".into();
    e2.tiendas[0].actualizado_en = common::rawlake::ts("2025-03-02T00:00:00Z");
    e2.ventas = vec![Venta::new(2, 2, t)];
    e2.detalle_ventas = vec![DetalleVenta::new(2, 1, 1, 1, 1_00, t)];
    e2.write_files(with_orphans.path());

    assert_eq!(oracle(with_orphans.path()), oracle(published.path()));
    assert_eq!(oracle(published.path()).report[0].nombre_tienda, "Tienda 1");
}

#[test]
fn text_is_normalized_and_report_row_prints_as_csv() {
    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 0);
    e.tiendas = vec![Tienda {
        codigo: " lim-007 ".into(),
        nombre: "  Tienda Ñaña Centro ".into(),
        ciudad: " Lima".into(),
        region: "lima ".into(),
        formato: " Express".into(),
        ..Tienda::new(7, DIM)
    }];
    let t = "2025-03-01T12:00:00Z";
    e.ventas = vec![Venta {
        estado: " Completada ".into(),
        id_cliente: Some(1),
        ..Venta::new(1, 7, t)
    }];
    e.detalle_ventas = vec![DetalleVenta {
        descuento: 1_50,
        ..DetalleVenta::new(1, 1, 1, 3, 2_50, t)
    }];
    e.write(lake.path());

    let got = oracle(lake.path());
    let want = ReportRow {
        fecha: date("2025-03-01"),
        periodo: "2025-03".into(),
        id_tienda: 7,
        codigo_tienda: "LIM-007".into(),
        nombre_tienda: "Tienda Ñaña Centro".into(),
        ciudad: "Lima".into(),
        region: "LIMA".into(),
        formato: "EXPRESS".into(),
        num_ventas: 1,
        num_clientes: 1,
        unidades: 3,
        venta_bruta: 7_50,
        descuento_total: 1_50,
        venta_neta: 6_00,
        costo_total: 3_00,
        margen_bruto: 3_00,
        ticket_promedio: 6_00,
    };
    assert_eq!(got.report, std::slice::from_ref(&want));
    assert_eq!(
        want.to_csv_line(),
        "2025-03-01,2025-03,7,LIM-007,Tienda Ñaña Centro,Lima,LIMA,EXPRESS,1,1,3,7.50,1.50,6.00,3.00,3.00,6.00"
    );
    assert_eq!(
        CSV_HEADER.split(',').count(),
        want.to_csv_line().split(',').count()
    );
}

#[test]
fn money_prints_two_decimals() {
    for (cents, text) in [
        (-1230, "-12.30"),
        (5, "0.05"),
        (-5, "-0.05"),
        (0, "0.00"),
        (123_456, "1234.56"),
    ] {
        assert_eq!(money(cents), text);
    }
}

#[test]
fn empty_lake_expects_nothing() {
    let lake = tempfile::tempdir().unwrap();
    let got = oracle(lake.path());
    let zeros = map([
        ("tiendas", 0),
        ("productos", 0),
        ("clientes", 0),
        ("ventas", 0),
        ("detalle_ventas", 0),
    ]);
    assert_eq!((got.dedup_raw, got.trusted), (zeros.clone(), zeros));
    assert!(got.rejected.is_empty() && got.report.is_empty());
}

/// Hand-made lakes must be readable by the pipeline: same schemas, a manifest
/// the library parses.
#[test]
fn hand_made_lake_matches_the_library_format() {
    use dfstore_jobs::lake::raw::ExtractionManifest;

    // The built-in project's declarations are spec section 1's tables.
    let sources = dfstore_jobs::project::builtin::sources().unwrap();
    for table in &sources {
        assert_eq!(schema(table.name()), table.schema(), "{table}");
    }
    assert_eq!(TABLES.len(), sources.all().len());

    let lake = tempfile::tempdir().unwrap();
    let mut e = base("20250302T000000Z", 1);
    e.parts = 2;
    e.write(lake.path());
    let bytes = std::fs::read(lake.path().join("raw/_extracciones/20250302T000000Z.json")).unwrap();
    let manifest: ExtractionManifest = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(manifest.extraido.to_string(), "20250302T000000Z");
    assert_eq!(manifest.tables["productos"].rows, 3);
    assert_eq!(manifest.tables["productos"].files.len(), 2);
}
