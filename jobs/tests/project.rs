//! A project of the user's own SQL files: `dfstore init`, the example
//! project's reports added (examples/retail_insights), checked, run on the
//! embedded engine and on a real cluster, and its answers checked against
//! DuckDB reading the same trusted Parquet files. Bad projects fail with
//! one line naming the file and line, exit 2, before any data is read,
//! and leave the published tables as they were.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::cli::{TestLake, dfstore, example_project, one_line, stdout_lines};
use common::cluster::TestCluster;
use common::postgres::example_source;
use common::serve::python_script;

/// `table` of `lake` in a stable order, as CSV lines without the header.
fn rows(lake: &TestLake, table: &str, order: &str) -> Vec<String> {
    let mut lines = lake.csv(&format!("SELECT * FROM {table} ORDER BY {order}"));
    lines.remove(0);
    lines
}

/// The example's reports as DuckDB computes them from the trusted Parquet
/// files of `lake` (one run: the folders hold exactly its files).
fn duckdb_answers(lake: &Path) -> (Vec<String>, Vec<String>, Vec<String>) {
    let script = r#"
import pathlib, sys, duckdb
lake = pathlib.Path(sys.argv[1])
con = duckdb.connect()
for table in ["ventas", "detalle_ventas", "productos"]:
    files = [str(p) for p in (lake / "trusted" / table).rglob("*.parquet") if "_delta_log" not in p.parts]
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
def lines(sql):
    return [",".join("" if v is None else str(v) for v in row) for row in con.execute(sql).fetchall()]
categoria = lines("""
    SELECT v.periodo, p.categoria, COUNT(DISTINCT v.id_venta), SUM(d.cantidad),
           CAST(SUM(d.cantidad * d.precio_unitario - d.descuento) AS DECIMAL(18, 2))
    FROM detalle_ventas d JOIN ventas v ON v.id_venta = d.id_venta
    JOIN productos p ON p.id_producto = d.id_producto
    WHERE v.estado = 'COMPLETADA' GROUP BY 1, 2 ORDER BY 1, 2""")
rfm = lines("""
    WITH t AS (
        SELECT v.id_cliente, v.id_venta, v.fecha, SUM(d.cantidad * d.precio_unitario - d.descuento) AS neto
        FROM ventas v JOIN detalle_ventas d ON d.id_venta = v.id_venta
        WHERE v.estado = 'COMPLETADA' AND v.id_cliente IS NOT NULL GROUP BY 1, 2, 3),
    h AS (SELECT MAX(fecha) AS hoy FROM t),
    c AS (SELECT id_cliente, MAX(fecha) AS u, COUNT(*) AS f, CAST(SUM(neto) AS DECIMAL(18, 2)) AS m FROM t GROUP BY 1)
    SELECT id_cliente, u, f, m,
        CASE WHEN u > hoy - INTERVAL 90 DAY AND f >= 3 THEN 'VIP'
             WHEN u > hoy - INTERVAL 90 DAY THEN 'ACTIVO' ELSE 'EN_RIESGO' END
    FROM c, h ORDER BY 1""")
canal = lines("""
    SELECT v.canal, COUNT(DISTINCT v.id_venta),
        CAST(SUM(d.cantidad * d.precio_unitario - d.descuento) / COUNT(DISTINCT v.id_venta) AS DECIMAL(18, 2))
    FROM ventas v JOIN detalle_ventas d ON d.id_venta = v.id_venta
    WHERE v.estado = 'COMPLETADA' GROUP BY 1 ORDER BY 1""")
for name, part in [("categoria", categoria), ("rfm", rfm), ("canal", canal)]:
    print(name, len(part))
    for line in part:
        print(line)
"#;
    let out = python_script(script, &[lake.to_str().unwrap()]);
    let lines = stdout_lines(out);
    let mut parts: Vec<Vec<String>> = Vec::new();
    let mut rest = lines.as_slice();
    while let Some((head, tail)) = rest.split_first() {
        let n: usize = head.split(' ').nth(1).unwrap().parse().unwrap();
        parts.push(tail[..n].to_vec());
        rest = &tail[n..];
    }
    let mut parts = parts.into_iter();
    (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    )
}

/// The example's monthly returns as DuckDB computes them from the raw
/// extractions of `raw.devoluciones` (the latest version of each return)
/// and the trusted lines and products of `lake`.
fn duckdb_returns(lake: &Path) -> Vec<String> {
    let script = r#"
import pathlib, sys, duckdb
lake = pathlib.Path(sys.argv[1])
con = duckdb.connect()
for table in ["detalle_ventas", "productos"]:
    files = [str(p) for p in (lake / "trusted" / table).rglob("*.parquet") if "_delta_log" not in p.parts]
    con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r}, hive_partitioning = true)")
raw = [str(p) for p in (lake / "raw" / "devoluciones").rglob("*.parquet")]
con.execute(f"CREATE VIEW raw AS SELECT * FROM read_parquet({raw!r}, hive_partitioning = true)")
con.execute("SET TimeZone = 'UTC'")
rows = con.execute("""
    WITH r AS (
        SELECT * FROM raw
        QUALIFY ROW_NUMBER() OVER (PARTITION BY id_devolucion ORDER BY actualizado_en DESC, extraido DESC) = 1)
    SELECT strftime(CAST(timezone('America/Lima', r.fecha_devolucion) AS DATE), '%Y-%m') AS periodo,
           p.categoria, COUNT(*), SUM(r.cantidad), CAST(SUM(r.monto) AS DECIMAL(18, 2))
    FROM r JOIN detalle_ventas d ON d.id_venta = r.id_venta AND d.linea = r.linea
    JOIN productos p ON p.id_producto = d.id_producto
    GROUP BY 1, 2 ORDER BY 1, 2""").fetchall()
for row in rows:
    print(",".join("" if v is None else str(v) for v in row))
"#;
    stdout_lines(python_script(script, &[lake.to_str().unwrap()]))
}

/// The newest run manifest of `lake`.
fn last_manifest(lake: &TestLake) -> serde_json::Value {
    let dir = lake.path().join("logs/runs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let text = std::fs::read_to_string(files.last().unwrap()).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// How many runs of `lake` succeeded.
fn succeeded_runs(lake: &TestLake) -> usize {
    std::fs::read_dir(lake.path().join("logs/runs"))
        .unwrap()
        .filter(|e| {
            let text = std::fs::read_to_string(e.as_ref().unwrap().path()).unwrap();
            text.contains("\"outcome\": \"succeeded\"")
        })
        .count()
}

const CATEGORIA: (&str, &str) = ("analytic.ventas_categoria_mes", "periodo, categoria");
const RFM: (&str, &str) = ("analytic.segmentos_rfm", "id_cliente");
const CANAL: (&str, &str) = ("analytic.ticket_medio_canal", "canal");
const DEVOLUCIONES: (&str, &str) = ("analytic.devoluciones_mes", "periodo, categoria");

#[test]
fn a_user_project_runs_embedded_and_on_a_cluster_as_duckdb_computes_it() {
    let work = tempfile::tempdir().unwrap();
    let project_dir = example_project(work.path());
    let project = project_dir.to_str().unwrap();
    let embedded = TestLake::new();
    let distributed = TestLake::new();
    // The retail tables and the project's own, extracted from PostgreSQL.
    let _db = example_source(&project_dir, ("0.005", "5"), &[&embedded, &distributed]);

    // A dry run lists every model in order; nothing is written.
    let checked = stdout_lines(
        embedded
            .cmd(&["check", "--project", project])
            .output()
            .unwrap(),
    )
    .join("\n");
    assert!(checked.contains("18 models plan"), "{checked}");
    assert!(checked.contains("analytic.ticket_medio_canal"), "{checked}");
    assert!(checked.contains("1 SQL test(s)"), "{checked}");

    embedded
        .cmd(&["run", "--project", project])
        .assert()
        .success();
    let cluster = TestCluster::start(2, &[]);
    distributed
        .cmd(&["run", "--project", project, "--scheduler", &cluster.url()])
        .assert()
        .success();
    assert!(!cluster.jobs().is_empty(), "the cluster ran nothing");

    // The same answers from both engines, and from DuckDB.
    let (categoria, rfm, canal) = duckdb_answers(&embedded.path());
    assert!(categoria.len() > 3 && rfm.len() > 10 && canal.len() == 3);
    let devoluciones = duckdb_returns(&embedded.path());
    assert!(devoluciones.len() > 3, "{devoluciones:?}");
    for (lake, engine) in [(&embedded, "embedded"), (&distributed, "cluster")] {
        for ((table, order), want) in [
            (CATEGORIA, &categoria),
            (RFM, &rfm),
            (CANAL, &canal),
            (DEVOLUCIONES, &devoluciones),
        ] {
            let got = rows(lake, table, order);
            assert_eq!(
                &got, want,
                "{table} on the {engine} run differs from DuckDB's"
            );
        }
    }

    // The manifest records each test; the relationship is a warning.
    let manifest = last_manifest(&embedded);
    // The project's own source is reconciled: raw's distinct keys are the
    // trusted returns.
    let returns = manifest["reconciliation"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["table"] == "devoluciones")
        .unwrap_or_else(|| panic!("{}", manifest["reconciliation"]));
    assert!(returns["raw_dedup"].as_u64().unwrap() > 0, "{returns}");
    assert_eq!(returns["raw_dedup"], returns["trusted"], "{returns}");
    let tests = manifest["tests"].as_array().unwrap();
    assert!(tests.len() >= 8, "{tests:?}");
    let names: Vec<&str> = tests.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert!(
        names.contains(&"tests/categorias_suman_el_reporte"),
        "{names:?}"
    );
    assert!(
        names.contains(&"contract not_null(analytic.ventas_categoria_mes.venta_neta)"),
        "{names:?}"
    );
    for t in tests {
        assert!(
            t["failing_rows"] == 0 || t["severity"] == "warn",
            "an error test failed yet the run published: {t}"
        );
    }
    let steps = manifest["steps"].as_array().unwrap();
    assert!(
        steps
            .iter()
            .all(|s| s["sha256"].as_str().unwrap().len() == 64)
    );
    assert_eq!(manifest["views"].as_array().unwrap().len(), 1);

    // `dfstore test` runs them again against what was published.
    let tested = stdout_lines(
        embedded
            .cmd(&["test", "--project", project])
            .output()
            .unwrap(),
    )
    .join("\n");
    assert!(
        tested.contains("pass unique(analytic.segmentos_rfm.id_cliente)"),
        "{tested}"
    );
}

/// A project folder holding the retail project and `files`.
fn project_with(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    static MADE: AtomicUsize = AtomicUsize::new(0);
    let project = dir.join(format!("p{}", MADE.fetch_add(1, Ordering::Relaxed)));
    dfstore(dir)
        .args(["init", project.to_str().unwrap()])
        .assert()
        .success();
    for (path, text) in files {
        let target = project.join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, text).unwrap();
    }
    project
}

#[test]
fn bad_projects_fail_naming_the_file_and_line_before_any_data_is_read() {
    let lake = TestLake::new();
    lake.generate_and_run("0.002", "3");
    let report = rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda");
    let runs_before = succeeded_runs(&lake);
    let work = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &[&str], &str); 7] = [
        (
            "analytic/a.sql",
            "/* dfstore\nmaterialized = \"table\"\nparticion = \"periodo\"\n*/\nSELECT 1 AS x",
            &[],
            "analytic/a.sql:3: unknown field `particion`",
        ),
        (
            "analytic/a.sql",
            "/* dfstore\ntags = [\"a\" \"b\"]\n*/\nSELECT 1 AS x",
            &[],
            "analytic/a.sql:2:",
        ),
        (
            "analytic/a.sql",
            "SELECT x\nFROM analytic.b",
            &[],
            "models read each other in a cycle",
        ),
        (
            "analytic/a.sql",
            "SELECT *\nFROM trusted.ventas_por_dia",
            &[],
            "analytic/a.sql:2: `trusted.ventas_por_dia` is neither a model of the project nor a raw table",
        ),
        (
            "analytic/a.sql",
            "SELECT *\nFROM trusted.ventas\nWHERE id_tienda = $tienda",
            &[],
            "analytic/a.sql:3: `$tienda` is no variable of the project",
        ),
        (
            "analytic/a.sql",
            "/* dfstore\n[contract.columns]\nid_venta = \"INT NOT NULL\"\n*/\nSELECT id_venta FROM trusted.ventas",
            &[],
            "analytic/a.sql:2: analytic.a does not meet its contract: column `id_venta` is Int64",
        ),
        (
            "analytic/a.sql",
            "SELECT 1 AS x",
            &["--var", "nope=1"],
            "invalid value for --var: the project declares no variable `nope`",
        ),
    ];
    for (path, sql, extra, expected) in cases {
        let mut files = vec![(path, sql)];
        // The cycle needs its other half.
        if sql.contains("analytic.b") {
            files.push(("analytic/b.sql", "SELECT x FROM analytic.a"));
        }
        let project = project_with(work.path(), &files);
        let mut args = vec!["run", "--project", project.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = lake.cmd(&args).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = one_line(&out.stderr);
        assert!(
            line.contains(expected),
            "{sql}\nexpected {expected}\ngot {line}"
        );
        if !expected.starts_with("invalid value") && !expected.starts_with("models read") {
            assert!(line.contains(project.to_str().unwrap()), "{line}");
        }
    }
    // None of them published anything.
    assert_eq!(succeeded_runs(&lake), runs_before, "a bad project was run");
    assert_eq!(
        rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda"),
        report
    );

    // A failing error test fails the run after the build, exit 2, and
    // nothing is published; as a warning the run goes on.
    let failing = "/* dfstore\n[[tests]]\nnot_null = [\"id_cliente\"]\n*/\nSELECT id_venta, id_cliente FROM trusted.ventas";
    let project = project_with(work.path(), &[("analytic/anonimos.sql", failing)]);
    let out = lake
        .cmd(&["run", "--project", project.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(
        line.contains(
            "analytic/anonimos.sql:2: data test not_null(analytic.anonimos.id_cliente) failed on"
        ),
        "{line}"
    );
    assert!(line.contains("nothing was published"), "{line}");
    assert_eq!(
        rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda"),
        report
    );
    let missing = lake
        .cmd(&["sql", "SELECT * FROM analytic.anonimos"])
        .output()
        .unwrap();
    assert!(
        !missing.status.success(),
        "a failed run published its table"
    );

    let warning = failing.replace("[[tests]]\n", "[[tests]]\nseverity = \"warn\"\n");
    let project = project_with(work.path(), &[("analytic/anonimos.sql", &warning)]);
    lake.cmd(&["run", "--project", project.to_str().unwrap()])
        .assert()
        .success();
    let manifest = last_manifest(&lake);
    let test = manifest["tests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "not_null(analytic.anonimos.id_cliente)")
        .unwrap()
        .clone();
    assert!(test["failing_rows"].as_u64().unwrap() > 0, "{test}");
    assert_eq!(
        test["first_failures"].as_array().unwrap().len(),
        5,
        "{test}"
    );
}

#[test]
fn a_selected_run_builds_what_is_selected_and_keeps_every_other_table() {
    let work = tempfile::tempdir().unwrap();
    let project_dir = example_project(work.path());
    let project = project_dir.to_str().unwrap();
    let lake = TestLake::new();
    let db = example_source(&project_dir, ("0.003", "8"), &[&lake]);
    lake.cmd(&["run", "--project", project]).assert().success();
    let report = rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda");
    let completed = rows(&lake, CATEGORIA.0, CATEGORIA.1);

    let segments = rows(&lake, RFM.0, RFM.1);

    // The voided tickets' categories, by a variable: the SQL test that
    // reads the rebuilt model runs, finds the months that no longer add up
    // to the store report, and the run publishes nothing.
    let out = lake
        .cmd(&[
            "run",
            "--project",
            project,
            "--select",
            "analytic.ventas_categoria_mes",
            "--var",
            "estado_contado=ANULADA",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("tests/categorias_suman_el_reporte"), "{line}");
    assert_eq!(rows(&lake, CATEGORIA.0, CATEGORIA.1), completed);

    // No customer buys often enough to be VIP: one model rebuilt, and the
    // SQL test, which reads neither it nor anything it changes, is not run.
    lake.cmd(&[
        "run",
        "--project",
        project,
        "--select",
        "analytic.segmentos_rfm",
        "--var",
        "compras_vip=100000",
    ])
    .assert()
    .success();
    let manifest = last_manifest(&lake);
    let outputs: Vec<String> = manifest["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let t = &p["table"];
            format!(
                "{}.{}",
                t["layer"].as_str().unwrap(),
                t["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(outputs, ["analytic.segmentos_rfm"]);
    let kept = manifest["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 11, "{kept:?}");
    assert_eq!(manifest["vars"]["compras_vip"], "100000");
    let tests: Vec<&str> = manifest["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !tests.contains(&"tests/categorias_suman_el_reporte") && !tests.is_empty(),
        "{tests:?}"
    );
    let vip = rows(&lake, RFM.0, RFM.1);
    assert_ne!(vip, segments);
    assert!(segments.iter().any(|r| r.ends_with(",VIP")), "{segments:?}");
    assert!(!vip.iter().any(|r| r.ends_with(",VIP")), "{vip:?}");
    // Every other table reads as before.
    assert_eq!(
        rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda"),
        report
    );
    assert_eq!(rows(&lake, CATEGORIA.0, CATEGORIA.1), completed);
    let tables = stdout_lines(lake.cmd(&["tables"]).output().unwrap()).join("\n");
    assert!(tables.contains("analytic.ventas_categoria_mes"), "{tables}");

    // A selector that names nothing is a usage error.
    let out = lake
        .cmd(&["run", "--project", project, "--select", "tag:nada"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("`tag:nada`: it matches no model"));

    // A table the project does not declare cannot be extracted.
    let ingest = |extra: &[&str]| {
        let mut args = vec!["ingest", "--project", project, "--pg"];
        let url = db.reader_url();
        args.push(&url);
        args.extend_from_slice(extra);
        lake.cmd(&args)
            .env("PGPASSWORD", &db.reader_password)
            .output()
            .unwrap()
    };
    let out = ingest(&["--tables", "nada"]);
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("--tables") && line.contains("devoluciones"),
        "{line}"
    );

    // The drift gate guards the project's own source as the retail ones: a
    // column its SQL reads changes type in PostgreSQL; the extraction
    // succeeds, the run stops before it builds anything.
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute(
                "ALTER TABLE retail.devoluciones ALTER COLUMN motivo TYPE integer USING NULL; \
                 UPDATE retail.devoluciones SET actualizado_en = now() WHERE id_devolucion = 1",
            )
            .await
            .unwrap();
        })
    });
    assert!(ingest(&[]).status.success());
    let out = lake.cmd(&["run", "--project", project]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("raw.devoluciones column motivo") && line.contains("dfstore_project.toml"),
        "{line}"
    );
    assert_eq!(
        rows(&lake, "analytic.reporte_ventas_tienda", "fecha, id_tienda"),
        report
    );
}
