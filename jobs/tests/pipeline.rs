//! The pipeline end to end through the `dfstore` binary, checked against the
//! independent oracle of `common/oracle.rs` (plain Rust over the raw rows,
//! following the spec): every report row and column, rejected rows per rule,
//! trusted rows per table, types, idempotent reruns and month reruns.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;

use common::cli::{TEST_KEY, TestLake};
use common::oracle::{Expected, expected_from_lake};
use common::rawlake::{Cliente, DetalleVenta, Extraction, Producto, Tienda, Venta};

const REPORT_COLUMNS: &str = "fecha, periodo, id_tienda, codigo_tienda, nombre_tienda, ciudad, region, formato, \
     num_ventas, num_clientes, unidades, venta_bruta, descuento_total, venta_neta, costo_total, margen_bruto, ticket_promedio";

fn report_lines(lake: &TestLake) -> Vec<String> {
    let mut lines = lake.csv(&format!(
        "SELECT {REPORT_COLUMNS} FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"
    ));
    lines.remove(0);
    lines
}

fn assert_report_equals_oracle(lake: &TestLake, expected: &Expected) {
    let got = report_lines(lake);
    let want: Vec<String> = expected.report.iter().map(|r| r.to_csv_line()).collect();
    assert!(
        !want.is_empty(),
        "the oracle expects an empty report: the test data is too small"
    );
    assert_eq!(got.len(), want.len(), "report row count");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "report row differs (got, expected)");
    }
}

fn counts(lake: &TestLake, sql: &str) -> BTreeMap<String, u64> {
    lake.csv(sql)
        .iter()
        .skip(1)
        .map(|l| {
            let (k, v) = l.rsplit_once(',').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn assert_counts_equal_oracle(lake: &TestLake, expected: &Expected) {
    for table in [
        "tiendas",
        "productos",
        "clientes",
        "ventas",
        "detalle_ventas",
    ] {
        let got = counts(
            lake,
            &format!("SELECT '{table}' AS t, COUNT(*) AS n FROM trusted.{table}"),
        );
        assert_eq!(got[table], expected.trusted[table], "trusted.{table} rows");
    }
    for table in ["ventas", "detalle_ventas"] {
        let got = counts(
            lake,
            &format!(
                "SELECT regla, COUNT(*) AS n FROM rejected.{table} GROUP BY regla ORDER BY regla"
            ),
        );
        let want: BTreeMap<String, u64> = expected
            .rejected
            .iter()
            .filter(|((t, _), _)| t == table)
            .map(|((_, rule), n)| (rule.clone(), *n))
            .collect();
        assert_eq!(got, want, "rejected.{table} per rule");
    }
}

#[test]
fn generated_data_gives_the_oracles_report_and_rejections() {
    let lake = TestLake::new();
    lake.generate_and_run("0.004", "7");
    let expected = expected_from_lake(&lake.path());
    assert_report_equals_oracle(&lake, &expected);
    assert_counts_equal_oracle(&lake, &expected);
    // The generator plants every rule; each must have been applied.
    for rule in [
        "tienda_desconocida",
        "fecha_futura",
        "estado_invalido",
        "venta_desconocida",
        "producto_desconocido",
        "cantidad_invalida",
        "precio_invalido",
        "descuento_invalido",
    ] {
        assert!(
            expected.rejected.keys().any(|(_, r)| r == rule),
            "the generated data has no row for rule {rule}"
        );
    }
}

#[test]
fn a_report_built_by_ranges_of_days_is_the_oracles() {
    // A pool small enough that every month of this data is built a range of
    // its days at a time (jobs/src/pipeline/batches/periods.rs), as a
    // scale-100 month is in the default pool; one model at a time, so that
    // no other model's sorts take the small pool from it.
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.5", "--seed", "11"])
        .assert()
        .success();
    lake.cmd(&["run", "--memory-limit", "32M", "--concurrent-models", "1"])
        .assert()
        .success();
    let expected = expected_from_lake(&lake.path());
    assert_report_equals_oracle(&lake, &expected);
    let runs = std::fs::read_dir(lake.path().join("logs/runs")).unwrap();
    let manifest = runs.map(|e| e.unwrap().path()).next().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let report = manifest["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["table"] == "analytic.reporte_ventas_tienda")
        .unwrap();
    // Each range of days writes its own files: more files than months.
    let months = lake
        .csv("SELECT DISTINCT periodo FROM analytic.reporte_ventas_tienda")
        .len()
        - 1;
    assert!(
        report["files"].as_u64().unwrap() > months as u64,
        "the months were not split: {report}"
    );
}

#[test]
fn report_columns_have_the_contract_types() {
    let lake = TestLake::new();
    lake.generate_and_run("0.002", "3");
    let types = lake.csv(
        "SELECT column_name, data_type FROM information_schema.columns \
         WHERE table_schema = 'analytic' AND table_name = 'reporte_ventas_tienda' ORDER BY ordinal_position",
    );
    let got: Vec<&str> = types.iter().skip(1).map(String::as_str).collect();
    let money = "Decimal128(18, 2)";
    let want = [
        "fecha,Date32".to_string(),
        "periodo,Utf8".into(),
        "id_tienda,Int32".into(),
        "codigo_tienda,Utf8".into(),
        "nombre_tienda,Utf8".into(),
        "ciudad,Utf8".into(),
        "region,Utf8".into(),
        "formato,Utf8".into(),
        "num_ventas,Int64".into(),
        "num_clientes,Int64".into(),
        "unidades,Int64".into(),
        format!("venta_bruta,\"{money}\""),
        format!("descuento_total,\"{money}\""),
        format!("venta_neta,\"{money}\""),
        format!("costo_total,\"{money}\""),
        format!("margen_bruto,\"{money}\""),
        format!("ticket_promedio,\"{money}\""),
    ];
    // The engine reads the partition column dictionary-encoded; its values are text.
    let got: Vec<String> = got
        .iter()
        .map(|l| {
            l.replace("Utf8View", "Utf8")
                .replace("\"Dictionary(UInt16, Utf8)\"", "Utf8")
        })
        .collect();
    assert_eq!(got, want);

    // What other readers (Spark, Athena, DuckDB) see: the Delta schema.
    let log = lake
        .path()
        .join("analytic/reporte_ventas_tienda/_delta_log/00000000000000000000.json");
    let text = std::fs::read_to_string(log).unwrap();
    let meta = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find_map(|v| v.get("metaData").cloned())
        .unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(meta["schemaString"].as_str().unwrap()).unwrap();
    let delta: Vec<String> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["name"].as_str().unwrap(),
                f["type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        delta,
        [
            "fecha date",
            "periodo string",
            "id_tienda integer",
            "codigo_tienda string",
            "nombre_tienda string",
            "ciudad string",
            "region string",
            "formato string",
            "num_ventas long",
            "num_clientes long",
            "unidades long",
            "venta_bruta decimal(18,2)",
            "descuento_total decimal(18,2)",
            "venta_neta decimal(18,2)",
            "costo_total decimal(18,2)",
            "margen_bruto decimal(18,2)",
            "ticket_promedio decimal(18,2)",
        ]
    );
    assert_eq!(meta["partitionColumns"], serde_json::json!(["periodo"]));
}

/// A lake written by hand around the spec's edge cases.
fn edge_case_lake() -> (Extraction, Extraction) {
    let mut e1 = Extraction::new("20260102T060000Z");
    let mut store = Tienda::new(1, "2025-01-01T00:00:00Z");
    store.codigo = "  lim-001 ".into();
    store.nombre = " Tienda Miraflores ".into();
    e1.tiendas = vec![store, Tienda::new(2, "2025-01-01T00:00:00Z")];
    // Cost 1.0005: 3 units cost 3.0015 → 3.00; 5 units 5.0025 → 5.00 …
    e1.productos = vec![
        Producto::new(10, 10_005, "2025-01-01T00:00:00Z"),
        Producto::new(11, 33_335, "2025-01-01T00:00:00Z"),
    ];
    e1.clientes = vec![
        Cliente::new(100, "2025-01-01T00:00:00Z"),
        Cliente::new(101, "2025-01-01T00:00:00Z"),
    ];
    // 03:30Z on 1 March is 22:30 on 28 February in Lima.
    let mut boundary = Venta::new(1, 1, "2025-03-01T03:30:00Z");
    boundary.id_cliente = Some(100);
    let mut same_day = Venta::new(2, 1, "2025-02-28T20:00:00Z");
    same_day.id_cliente = Some(100);
    let mut next_day = Venta::new(3, 1, "2025-03-01T05:00:00Z");
    next_day.canal = " web".into();
    let mut voided = Venta::new(4, 1, "2025-02-28T15:00:00Z");
    voided.estado = "anulada ".into();
    let unknown_store = Venta::new(5, 99, "2025-02-28T15:00:00Z");
    let mut future = Venta::new(6, 1, "2026-02-01T15:00:00Z");
    future.actualizado_en = common::rawlake::ts("2026-01-01T00:00:00Z");
    let mut bad_state = Venta::new(7, 2, "2025-02-10T15:00:00Z");
    bad_state.estado = "PENDIENTE".into();
    let mut tie = Venta::new(8, 2, "2025-02-10T15:00:00Z");
    tie.id_cliente = Some(101);
    e1.ventas = vec![
        boundary,
        same_day,
        next_day,
        voided,
        unknown_store,
        future,
        bad_state,
        tie.clone(),
    ];
    e1.detalle_ventas = vec![
        DetalleVenta::new(1, 1, 10, 3, 1_999, "2025-03-01T03:30:00Z"),
        DetalleVenta::new(2, 1, 10, 5, 1_000, "2025-02-28T20:00:00Z"),
        DetalleVenta::new(2, 2, 11, 1, 250, "2025-02-28T20:00:00Z"),
        DetalleVenta::new(3, 1, 11, 2, 500, "2025-03-01T05:00:00Z"),
        DetalleVenta::new(4, 1, 10, 1, 1_000, "2025-02-28T15:00:00Z"),
        DetalleVenta::new(5, 1, 10, 1, 1_000, "2025-02-28T15:00:00Z"),
        DetalleVenta::new(8, 1, 10, 1, 1_000, "2025-02-10T15:00:00Z"),
        DetalleVenta::new(8, 2, 12, 1, 1_000, "2025-02-10T15:00:00Z"),
        DetalleVenta::new(8, 3, 10, 0, 1_000, "2025-02-10T15:00:00Z"),
        DetalleVenta::new(8, 4, 10, 1, -5, "2025-02-10T15:00:00Z"),
        DetalleVenta::new(999, 1, 10, 1, 1_000, "2025-02-10T15:00:00Z"),
    ];
    let mut discount = DetalleVenta::new(8, 5, 10, 2, 1_000, "2025-02-10T15:00:00Z");
    discount.descuento = 2_001;
    e1.detalle_ventas.push(discount);

    // E2: a tie on ticket 8 (same actualizado_en, other payment: E2 wins),
    // a stale copy of ticket 2 (older actualizado_en: E1 wins), a later
    // version of a line, and a new cost for product 10.
    let mut e2 = Extraction::new("20260103T060000Z");
    tie.medio_pago = "tarjeta".into();
    let mut stale = Venta::new(2, 1, "2025-02-28T20:00:00Z");
    stale.actualizado_en = common::rawlake::ts("2025-02-01T00:00:00Z");
    stale.estado = "ANULADA".into();
    e2.ventas = vec![tie, stale];
    let mut changed = DetalleVenta::new(3, 1, 11, 4, 500, "2025-03-01T05:00:00Z");
    changed.actualizado_en = common::rawlake::ts("2025-12-01T00:00:00Z");
    e2.detalle_ventas = vec![changed];
    e2.productos = vec![Producto::new(10, 10_015, "2025-06-01T00:00:00Z")];
    (e1, e2)
}

#[test]
fn edge_cases_follow_the_spec() {
    let lake = TestLake::new();
    let (e1, e2) = edge_case_lake();
    e1.write(&lake.path());
    e2.write(&lake.path());
    lake.cmd(&["run"]).assert().success();
    let expected = expected_from_lake(&lake.path());
    assert_report_equals_oracle(&lake, &expected);
    assert_counts_equal_oracle(&lake, &expected);

    // The 03:30Z sale counts on 28 February, with the same-day sale.
    let feb28 = lake.csv(
        "SELECT num_ventas, num_clientes, codigo_tienda, nombre_tienda FROM analytic.reporte_ventas_tienda \
         WHERE fecha = DATE '2025-02-28' AND id_tienda = 1",
    );
    assert_eq!(feb28[1], "2,1,LIM-001,Tienda Miraflores");
    // The tie went to the latest extraction, the stale copy lost.
    let pay = lake.csv("SELECT medio_pago FROM trusted.ventas WHERE id_venta = 8");
    assert_eq!(pay[1], "TARJETA");
    let state = lake.csv("SELECT estado FROM trusted.ventas WHERE id_venta = 2");
    assert_eq!(state[1], "COMPLETADA");
    // The voided ticket stays in trusted, out of the report.
    let voided = lake.csv("SELECT estado, periodo FROM trusted.ventas WHERE id_venta = 4");
    assert_eq!(voided[1], "ANULADA,2025-02");
    // Each rejection carries the first failing rule.
    let rules = lake
        .csv("SELECT id_venta, linea, regla FROM rejected.detalle_ventas ORDER BY id_venta, linea");
    assert_eq!(
        rules[1..],
        [
            "5,1,venta_desconocida",
            "8,2,producto_desconocido",
            "8,3,cantidad_invalida",
            "8,4,precio_invalido",
            "8,5,descuento_invalido",
            "999,1,venta_desconocida",
        ]
    );
}

#[test]
fn personal_data_is_a_keyed_hash() {
    let lake = TestLake::new();
    let (e1, _) = edge_case_lake();
    e1.write(&lake.path());
    lake.cmd(&["run"]).assert().success();
    let raw = lake.csv("SELECT documento, email FROM raw.clientes WHERE id_cliente = 100");
    let trusted = lake.csv("SELECT documento, email FROM trusted.clientes WHERE id_cliente = 100");
    let (doc, email) = raw[1].split_once(',').unwrap();
    let (hdoc, hemail) = trusted[1].split_once(',').unwrap();
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(TEST_KEY.as_bytes()).unwrap();
    mac.update(doc.trim().as_bytes());
    assert_eq!(hdoc, hex::encode(mac.finalize().into_bytes()));
    assert_eq!(hemail.len(), 64);
    assert_ne!(hemail, email);
    // No clear value anywhere in trusted.
    let leaked = lake.csv(&format!(
        "SELECT COUNT(*) FROM trusted.clientes WHERE documento = '{doc}' OR email = '{email}'"
    ));
    assert_eq!(leaked[1], "0");
}

fn delta_log(lake: &TestLake, table: &str) -> Vec<serde_json::Value> {
    let dir = lake.path().join(table).join("_delta_log");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let last = files.last().unwrap();
    std::fs::read_to_string(last)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn reruns_replace_and_a_month_rerun_rewrites_only_that_month() {
    let lake = TestLake::new();
    lake.generate_and_run("0.002", "11");
    let first = report_lines(&lake);
    let lines_before = lake.csv("SELECT COUNT(*) FROM trusted.detalle_ventas");

    // A full rerun replaces every file: same rows, no duplicates.
    lake.cmd(&["run", "--full-refresh"]).assert().success();
    assert_eq!(report_lines(&lake), first);
    assert_eq!(
        lake.csv("SELECT COUNT(*) FROM trusted.detalle_ventas"),
        lines_before
    );

    // A month rerun removes and adds files of that month only.
    lake.cmd(&["run", "--period", "2025-03"]).assert().success();
    assert_eq!(report_lines(&lake), first);
    for table in [
        "analytic/reporte_ventas_tienda",
        "trusted/ventas",
        "trusted/detalle_ventas",
    ] {
        let actions = delta_log(&lake, table);
        let mut touched = 0;
        for action in &actions {
            for kind in ["add", "remove"] {
                if let Some(a) = action.get(kind) {
                    touched += 1;
                    assert_eq!(
                        a["partitionValues"]["periodo"], "2025-03",
                        "{table}: {action}"
                    );
                }
            }
        }
        assert!(
            touched >= 2,
            "{table}: the month rerun added and removed files"
        );
    }
    let runs = lake.cmd(&["runs"]).output().unwrap();
    let runs = String::from_utf8(runs.stdout).unwrap();
    assert_eq!(runs.matches("succeeded").count(), 3, "{runs}");
    assert!(runs.contains("2025-03"), "{runs}");
}

#[test]
fn a_killed_run_publishes_nothing_and_the_next_run_succeeds() {
    let lake = TestLake::new();
    lake.generate_and_run("0.05", "13");
    let before = report_lines(&lake);
    let runs_before = std::fs::read_dir(lake.path().join("logs/runs"))
        .unwrap()
        .count();

    // A later extraction renames store 1: the next good run must show it.
    let mut e3 = Extraction::new("20260104T060000Z");
    let mut renamed = Tienda::new(1, "2026-01-04T00:00:00Z");
    renamed.nombre = "Tienda Renombrada".into();
    e3.tiendas = vec![renamed];
    e3.write(&lake.path());

    // Kill it in the middle of building: once the lines are being written
    // (the line model feeds trusted.detalle_ventas; the report comes after).
    lake.kill_run_when(&["run"], "trusted/detalle_ventas");

    // Nothing new was published: same report, no new run manifest, and no
    // Delta table moved past the version the last good run published.
    assert_eq!(report_lines(&lake), before);
    assert_eq!(
        std::fs::read_dir(lake.path().join("logs/runs"))
            .unwrap()
            .count(),
        runs_before
    );
    for table in ["trusted/tiendas", "analytic/reporte_ventas_tienda"] {
        let log = lake.path().join(table).join("_delta_log");
        let versions = std::fs::read_dir(log)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count();
        assert_eq!(versions, 1, "{table} has a new version");
    }

    // The next run succeeds and publishes the change.
    lake.cmd(&["run"]).assert().success();
    let names = lake.csv(
        "SELECT DISTINCT nombre_tienda FROM analytic.reporte_ventas_tienda WHERE id_tienda = 1",
    );
    assert_eq!(names[1..], ["Tienda Renombrada"]);
    let expected = expected_from_lake(&lake.path());
    assert_report_equals_oracle(&lake, &expected);
}
