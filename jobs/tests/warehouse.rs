//! `dfstore load` into a real PostgreSQL (started by deploy/local/test.sh):
//! the warehouse table equals the lake's report cell for cell, a reload of
//! the same version changes nothing, a user's model loads into a table
//! drawn from its contract, a month is replaced alone, a load
//! killed mid-`COPY` or racing another leaves the warehouse at one whole
//! version, and a wrong table, password, host or URL is one line. The
//! Redshift path's statements are checked in `src/warehouse/redshift.rs`;
//! Redshift itself cannot run here (see the README).

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::process::Stdio;

use assert_cmd::Command;
use common::cli::{TestLake, example_project, one_line, stdout_lines};
use common::postgres::{TestDb, example_source};

/// Every column of a report row as text, `|`-separated, in both engines.
const ROW_PG: &str = "concat_ws('|', fecha::text, periodo, id_tienda::text, codigo_tienda, \
     nombre_tienda, ciudad, region, formato, num_ventas::text, num_clientes::text, unidades::text, \
     venta_bruta::text, descuento_total::text, venta_neta::text, costo_total::text, \
     margen_bruto::text, ticket_promedio::text)";
const ROW_LAKE: &str = "concat_ws('|', CAST(fecha AS VARCHAR), periodo, CAST(id_tienda AS VARCHAR), \
     codigo_tienda, nombre_tienda, ciudad, region, formato, CAST(num_ventas AS VARCHAR), \
     CAST(num_clientes AS VARCHAR), CAST(unidades AS VARCHAR), CAST(venta_bruta AS VARCHAR), \
     CAST(descuento_total AS VARCHAR), CAST(venta_neta AS VARCHAR), CAST(costo_total AS VARCHAR), \
     CAST(margen_bruto AS VARCHAR), CAST(ticket_promedio AS VARCHAR))";

/// A generated lake with a published report.
fn lake_with_report() -> TestLake {
    let lake = TestLake::new();
    lake.generate_and_run("0.01", "7");
    lake
}

/// `dfstore ARGS… --lake <lake> --warehouse <owner>` with the password in PGPASSWORD.
fn with_warehouse(lake: &TestLake, db: &TestDb, args: &[&str]) -> Command {
    let mut cmd = lake.cmd(args);
    cmd.arg("--warehouse")
        .arg(db.owner_url())
        .env("PGPASSWORD", &db.owner_password);
    cmd
}

fn load(lake: &TestLake, db: &TestDb, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["load"];
    args.extend_from_slice(extra);
    stdout_lines(with_warehouse(lake, db, &args).output().unwrap())
}

/// The lake's report, one text line per row, by (fecha, id_tienda).
fn lake_rows(lake: &TestLake, filter: &str) -> Vec<String> {
    let sql = format!(
        "SELECT {ROW_LAKE} AS r FROM analytic.reporte_ventas_tienda WHERE {filter} ORDER BY fecha, id_tienda"
    );
    let out = lake
        .cmd(&["sql", "--format", "json", &sql])
        .output()
        .unwrap();
    stdout_lines(out)
        .iter()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value["r"].as_str().unwrap().to_string()
        })
        .collect()
}

/// The warehouse's report, as [`lake_rows`] gives the lake's.
fn warehouse_rows(db: &TestDb, filter: &str) -> Vec<String> {
    let sql = format!(
        "SELECT {ROW_PG} FROM analytic.reporte_ventas_tienda WHERE {filter} ORDER BY fecha, id_tienda"
    );
    db.owner(move |c| {
        Box::pin(async move {
            c.query(&sql, &[])
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, String>(0))
                .collect()
        })
    })
}

/// One value of a query on the warehouse, as text.
fn warehouse_value(db: &TestDb, sql: &str) -> String {
    let sql = sql.to_string();
    db.owner(move |c| {
        Box::pin(async move { c.query_one(&sql, &[]).await.unwrap().get::<_, String>(0) })
    })
}

#[test]
fn a_load_equals_the_lake_cell_for_cell_and_a_reload_changes_nothing() {
    let db = TestDb::new();
    let lake = lake_with_report();
    let out = load(&lake, &db, &[]);
    assert!(
        out[0].starts_with("loaded analytic.reporte_ventas_tienda v0 (run "),
        "{out:?}"
    );
    let lake_all = lake_rows(&lake, "true");
    assert!(lake_all.len() > 100, "{}", lake_all.len());
    assert_eq!(warehouse_rows(&db, "true"), lake_all);
    assert!(
        out.iter()
            .any(|l| l.contains("loaded") && l.ends_with(" ok")),
        "{out:?}"
    );
    let audited = "SELECT count(*)::text || ' ' || count(DISTINCT id_carga)::text FROM analytic.dfstore_cargas";
    let months = warehouse_value(
        &db,
        "SELECT count(DISTINCT periodo)::text FROM analytic.reporte_ventas_tienda",
    );
    assert_eq!(warehouse_value(&db, audited), format!("{months} 1"));

    // The same version again: nothing changes, and the output says so.
    let again = load(&lake, &db, &[]);
    assert!(
        again[0].starts_with("already loaded: nothing changed,"),
        "{again:?}"
    );
    assert!(
        again.iter().skip(3).all(|l| l.contains("unchanged")),
        "{again:?}"
    );
    assert_eq!(warehouse_value(&db, audited), format!("{months} 1"));
    assert_eq!(warehouse_rows(&db, "true"), lake_all);

    // A month rebuilt and loaded with the run: only that month is replaced.
    let mut run = with_warehouse(&lake, &db, &["run", "--period", "2025-03", "--load"]);
    let out = stdout_lines(run.output().unwrap());
    let loaded = out.iter().find(|l| l.starts_with("loaded ")).unwrap();
    assert!(loaded.contains(" v1 "), "{loaded}");
    assert!(
        out.iter()
            .any(|l| l.trim_start().starts_with("2025-03") && l.contains("loaded")),
        "{out:?}"
    );
    let replaced = "SELECT string_agg(DISTINCT periodo, ',') FROM analytic.dfstore_cargas WHERE version_lago = 1";
    assert_eq!(warehouse_value(&db, replaced), "2025-03");
    assert_eq!(warehouse_rows(&db, "true"), lake_rows(&lake, "true"));
}

#[test]
fn a_user_model_loads_into_a_table_drawn_from_its_contract() {
    let db = TestDb::new();
    let work = tempfile::tempdir().unwrap();
    let project_dir = example_project(work.path());
    let project = project_dir.to_str().unwrap();
    let lake = TestLake::new();
    let _source = example_source(&project_dir, ("0.005", "5"), &[&lake]);
    lake.cmd(&["run", "--project", project]).assert().success();
    let table = "analytic.ventas_categoria_mes";
    let args = ["load", "--project", project, "--table", table];
    let out = load(&lake, &db, &args[1..]);
    assert!(
        out[0].starts_with(&format!("loaded {table} v0 (run ")),
        "{out:?}"
    );
    assert!(out.iter().skip(3).all(|l| l.ends_with(" ok")), "{out:?}");

    // Cell for cell, as text in both.
    let columns = "periodo, categoria, num_ventas, unidades, venta_neta";
    let want: Vec<String> = lake
        .csv(&format!(
            "SELECT {columns} FROM {table} ORDER BY periodo, categoria"
        ))
        .into_iter()
        .skip(1)
        .collect();
    assert!(want.len() > 3, "{want:?}");
    let sql = format!(
        "SELECT string_agg(concat_ws(',', {columns}), E'\\n' ORDER BY periodo, categoria) FROM {table}"
    );
    assert_eq!(warehouse_value(&db, &sql), want.join("\n"));

    // The table's columns, NOT NULLs and primary key are the model's.
    let ddl = warehouse_value(
        &db,
        "SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', ' ORDER BY ordinal_position) \
         FROM information_schema.columns WHERE table_schema = 'analytic' AND table_name = 'ventas_categoria_mes'",
    );
    assert_eq!(
        ddl,
        "periodo text NO, categoria text NO, num_ventas bigint NO, unidades bigint NO, venta_neta numeric NO"
    );
    let key = warehouse_value(
        &db,
        "SELECT string_agg(a.attname, ', ' ORDER BY array_position(i.indkey, a.attnum)) \
         FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
         WHERE i.indrelid = 'analytic.ventas_categoria_mes'::regclass AND i.indisprimary",
    );
    assert_eq!(key, "periodo, categoria");
    let audit = warehouse_value(
        &db,
        "SELECT min(tabla) || ' ' || count(*)::text || ' ' || min(sumas) FROM analytic.dfstore_cargas",
    );
    let periods = lake.csv(&format!("SELECT COUNT(DISTINCT periodo) AS n FROM {table}"));
    assert!(
        audit.starts_with(&format!("{table} {} num_ventas=", periods[1])),
        "{audit}"
    );
    assert!(
        audit.contains(", unidades=") && audit.contains(", venta_neta="),
        "{audit}"
    );
    let again = load(&lake, &db, &args[1..]);
    assert!(again[0].starts_with("already loaded"), "{again:?}");

    // A model a load cannot carry is refused by name, before any connection.
    for (bad, why) in [
        ("analytic.segmentos_rfm", "is not partitioned by periodo"),
        ("trusted.nada", "publishes no model trusted.nada"),
    ] {
        let out = with_warehouse(&lake, &db, &["load", "--project", project, "--table", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let line = one_line(&out.stderr);
        assert!(line.contains("--table") && line.contains(why), "{line}");
    }

    // `run --load` loads every model whose header says warehouse = true:
    // the report and the example's monthly categories, each the version the
    // run published (the categories already loaded: nothing changes).
    let out = stdout_lines(
        with_warehouse(&lake, &db, &["run", "--project", project, "--load"])
            .output()
            .unwrap(),
    );
    let loaded: Vec<&String> = out.iter().filter(|l| l.contains(" into ")).collect();
    assert_eq!(loaded.len(), 2, "{out:?}");
    assert!(
        loaded[0].contains("analytic.reporte_ventas_tienda"),
        "{loaded:?}"
    );
    assert!(loaded[1].starts_with("already loaded"), "{loaded:?}");
    let tables = warehouse_value(
        &db,
        "SELECT string_agg(DISTINCT tabla, ', ') FROM analytic.dfstore_cargas",
    );
    assert_eq!(
        tables,
        "analytic.reporte_ventas_tienda, analytic.ventas_categoria_mes"
    );
    let report = lake.csv("SELECT COUNT(*) AS n FROM analytic.reporte_ventas_tienda");
    let in_warehouse = warehouse_value(
        &db,
        "SELECT count(*)::text FROM analytic.reporte_ventas_tienda",
    );
    assert_eq!(report[1], in_warehouse);
}

#[test]
fn a_load_killed_mid_copy_leaves_the_warehouse_as_it_was() {
    let db = TestDb::new();
    let lake = lake_with_report();
    // First only January, so that February's rows are still to be copied.
    load(&lake, &db, &["--period", "2025-01"]);
    let before = warehouse_rows(&db, "true");
    assert_eq!(before, lake_rows(&lake, "periodo = '2025-01'"));
    let february = lake_rows(&lake, "periodo = '2025-02'");
    let key: Vec<&str> = february[0].split('|').collect();
    let (fecha, tienda) = (key[0].to_string(), key[2].to_string());

    // Hold, uncommitted, a row with a key the COPY will insert: the COPY
    // waits for this transaction.
    let held = db.hold(
        format!(
            "BEGIN; INSERT INTO analytic.reporte_ventas_tienda \
             SELECT '{fecha}', '2025-02', {tienda}, 'X', 'X', 'X', 'X', 'X', 1, 1, 1, 1, 0, 1, 1, 0, 1"
        ),
        "ROLLBACK",
    );
    let child = lake
        .std_cmd(&["load", "--warehouse", &db.owner_url()])
        .env("PGPASSWORD", &db.owner_password)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let killed = db.wait_for(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query LIKE 'COPY analytic.reporte_ventas_tienda%' AND wait_event_type = 'Lock'",
        1,
    );
    held.release();
    assert_eq!(killed, 1, "the load's COPY never waited");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains(&db.owner_url()), "{line}");
    assert_eq!(warehouse_rows(&db, "true"), before, "the warehouse changed");
    assert_eq!(
        warehouse_value(
            &db,
            "SELECT count(DISTINCT id_carga)::text FROM analytic.dfstore_cargas"
        ),
        "1"
    );

    load(&lake, &db, &[]);
    assert_eq!(warehouse_rows(&db, "true"), lake_rows(&lake, "true"));
}

#[test]
fn two_loads_at_once_never_interleave() {
    let db = TestDb::new();
    let lake = lake_with_report();
    load(&lake, &db, &["--period", "2025-01"]);
    // Hold the audit table as a load does, start two loads, and let them go
    // only once both wait for it.
    let held = db.hold(
        "BEGIN; LOCK TABLE analytic.dfstore_cargas IN SHARE ROW EXCLUSIVE MODE".into(),
        "COMMIT",
    );
    let start = || {
        lake.std_cmd(&["load", "--warehouse", &db.owner_url()])
            .env("PGPASSWORD", &db.owner_password)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (first, second) = (start(), start());
    let waiting = db.wait_for(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE query LIKE 'LOCK TABLE analytic.dfstore_cargas%' AND wait_event_type = 'Lock'",
        2,
    );
    held.release();
    assert_eq!(waiting, 2, "the two loads never both waited");
    let outs: Vec<String> = [first, second]
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        })
        .collect();
    let already = outs
        .iter()
        .filter(|o| o.starts_with("already loaded"))
        .count();
    assert_eq!(already, 1, "{outs:?}");
    assert_eq!(warehouse_rows(&db, "true"), lake_rows(&lake, "true"));
    assert_eq!(
        warehouse_value(
            &db,
            "SELECT count(DISTINCT id_carga)::text FROM analytic.dfstore_cargas"
        ),
        "2"
    );
}

#[test]
fn a_warehouse_table_unlike_the_spec_is_refused_naming_the_column() {
    let db = TestDb::new();
    let lake = lake_with_report();
    for (ddl, column, found) in [
        ("venta_neta text", "venta_neta", "found text"),
        ("otra bigint", "venta_neta", "found missing"),
    ] {
        let create = format!(
            "DROP SCHEMA IF EXISTS analytic CASCADE; CREATE SCHEMA analytic; \
             CREATE TABLE analytic.reporte_ventas_tienda (fecha date, periodo text, id_tienda integer, \
             codigo_tienda text, nombre_tienda text, ciudad text, region text, formato text, \
             num_ventas bigint, num_clientes bigint, unidades bigint, venta_bruta numeric(18,2), \
             descuento_total numeric(18,2), {ddl}, costo_total numeric(18,2), \
             margen_bruto numeric(18,2), ticket_promedio numeric(18,2))"
        );
        db.owner(move |c| Box::pin(async move { c.batch_execute(&create).await.unwrap() }));
        let out = with_warehouse(&lake, &db, &["load"]).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        let line = one_line(&out.stderr);
        assert!(
            line.contains(&format!(
                "analytic.reporte_ventas_tienda column {column}: expected numeric(18,2), {found}"
            )),
            "{line}"
        );
        assert_eq!(
            warehouse_value(
                &db,
                "SELECT count(*)::text FROM analytic.reporte_ventas_tienda"
            ),
            "0"
        );
        let audit = warehouse_value(
            &db,
            "SELECT count(*)::text FROM information_schema.tables WHERE table_name = 'dfstore_cargas'",
        );
        assert_eq!(audit, "0", "the load created its audit table");
    }
}

#[test]
fn wrong_password_host_or_url_give_one_line_without_the_secret() {
    let db = TestDb::new();
    let lake = lake_with_report();
    let out = lake
        .cmd(&["load", "--warehouse", &db.owner_url()])
        .env("PGPASSWORD", "not-the-password-4711")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("password authentication failed"), "{line}");
    assert!(line.contains("--warehouse-password-file"), "{line}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("4711"));

    let url = "postgresql://loader:hunter2-secret@127.0.0.1:1/dw";
    let out = lake.cmd(&["load", "--warehouse", url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("postgresql://loader@127.0.0.1:1/dw"),
        "{line}"
    );
    assert!(
        line.contains("check the host and port in --warehouse"),
        "{line}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));

    for bad in [
        "postgresql://u:hunter2-secret@db:port/x",
        "mysql://u:hunter2-secret@db/x",
    ] {
        let out = lake.cmd(&["load", "--warehouse", bad]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let line = one_line(&out.stderr);
        assert!(line.contains("--warehouse"), "{line}");
        assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
    }

    // Redshift loads the lake's files from S3: a local lake is refused.
    let out = lake
        .cmd(&[
            "load",
            "--warehouse",
            "redshift://loader@cluster.example/dev",
        ])
        .env("PGPASSWORD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("local folder"));

    // A month the version lacks.
    let out = with_warehouse(&lake, &db, &["load", "--period", "2031-01"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("--period"));
}
