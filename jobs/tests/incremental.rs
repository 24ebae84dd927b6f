//! Incremental runs against a real PostgreSQL (started by
//! deploy/local/test.sh): several nights of changes to the source
//! database, each followed by an incremental ingest and an incremental
//! run, embedded and on a real cluster, and every published table
//! compared, cell for cell, with an embedded `--full-refresh` of a copy of
//! the same lake.

// Tests may unwrap; long tests read as one story.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, stdout_lines};
use common::cluster::TestCluster;
use common::postgres::TestDb;

/// Every published table of the retail project, ordered by its key.
const TABLES: [(&str, &str); 8] = [
    ("trusted.tiendas", "id_tienda"),
    ("trusted.productos", "id_producto"),
    ("trusted.clientes", "id_cliente"),
    ("trusted.ventas", "id_venta"),
    ("rejected.ventas", "id_venta"),
    ("trusted.detalle_ventas", "id_venta, linea"),
    ("rejected.detalle_ventas", "id_venta, linea"),
    ("analytic.reporte_ventas_tienda", "fecha, id_tienda"),
];

fn ingest(db: &TestDb, lake: &TestLake, extra: &[&str]) {
    let mut cmd = lake.cmd(&["ingest"]);
    cmd.args(extra)
        .arg("--pg")
        .arg(db.reader_url())
        .env("PGPASSWORD", &db.reader_password);
    stdout_lines(cmd.output().unwrap());
}

/// The manifest of the lake's newest run.
fn last_run(lake: &TestLake) -> serde_json::Value {
    let dir = lake.path().join("logs/runs");
    let mut runs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    runs.sort();
    serde_json::from_slice(&std::fs::read(runs.last().unwrap()).unwrap()).unwrap()
}

/// How the newest run rebuilt (`full`, `incremental`, `up to date`).
fn mode(lake: &TestLake) -> String {
    last_run(lake)["increment"]["mode"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A copy of `lake`'s folder in a new temporary folder.
fn copy_of(lake: &TestLake) -> TestLake {
    let copy = TestLake::new();
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(lake.path())
        .arg(copy.path())
        .status()
        .unwrap();
    assert!(status.success());
    copy
}

/// Asserts that every published table of `lake` equals, cell for cell, the
/// same table after a `--full-refresh` of a copy of `lake`.
fn assert_equals_full_refresh(lake: &TestLake, night: usize) {
    let full = copy_of(lake);
    full.cmd(&["run", "--full-refresh"]).assert().success();
    assert_eq!(mode(&full), "full");
    for (table, key) in TABLES {
        let sql = format!("SELECT * FROM {table} ORDER BY {key}");
        let (a, b) = (lake.csv(&sql), full.csv(&sql));
        assert!(a.len() > 1, "night {night}: {table} is empty");
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y);
            panic!(
                "night {night}: {table} differs from a full refresh ({} against {} lines); first difference at line {first:?}: {:?} against {:?}",
                a.len(),
                b.len(),
                first.map(|i| &a[i]),
                first.map(|i| &b[i]),
            );
        }
    }
}

/// Changes the changes.sql of `apply-changes` does not make: a ticket of an
/// early month moved to another month, a line added to an old ticket and
/// another deleted, stamped after everything else so that an incremental
/// extraction finds them.
fn odd_changes(db: &TestDb, night: i64) {
    db.owner(move |c| {
        Box::pin(async move {
            c.batch_execute(&format!(
                "CREATE TEMP TABLE ahora AS SELECT greatest( \
                   (SELECT max(actualizado_en) FROM retail.ventas), \
                   (SELECT max(actualizado_en) FROM retail.detalle_ventas)) + interval '1 second' AS t; \
                 UPDATE retail.ventas SET fecha_venta = fecha_venta + interval '45 days', \
                        actualizado_en = (SELECT t FROM ahora) \
                 WHERE id_venta = (SELECT min(id_venta) + {night} FROM retail.ventas); \
                 INSERT INTO retail.detalle_ventas \
                 SELECT d.id_venta, d.linea + 100, d.id_producto, 2, d.precio_unitario, 0, (SELECT t FROM ahora) \
                 FROM retail.detalle_ventas d \
                 WHERE (d.id_venta, d.linea) = (SELECT id_venta, min(linea) FROM retail.detalle_ventas \
                                               WHERE id_venta = (SELECT min(id_venta) + 10 * {night} FROM retail.ventas) \
                                               GROUP BY id_venta); \
                 DELETE FROM retail.detalle_ventas \
                 WHERE (id_venta, linea) = (SELECT id_venta, max(linea) FROM retail.detalle_ventas \
                                            WHERE id_venta = (SELECT min(id_venta) + 20 * {night} FROM retail.ventas) \
                                            GROUP BY id_venta); \
                 DROP TABLE ahora;"
            ))
            .await
            .unwrap();
        })
    });
}

#[test]
fn several_nights_of_incremental_runs_equal_a_full_refresh_cell_for_cell() {
    nights(&[]);
}

#[test]
fn incremental_runs_on_a_cluster_equal_a_full_refresh_cell_for_cell() {
    let cluster = TestCluster::start(2, &[]);
    nights(&["--scheduler", &cluster.url()]);
}

/// Rows per written file in the incremental runs, in batches of a
/// quarter of it: small, so that a month is many files and a merge keeps
/// most of them (the full refreshes it is compared with write files and
/// batches of the default sizes).
const FILE_ROWS: usize = 100;

/// `dfstore run ARGS… ENGINE…`, writing files of `FILE_ROWS` rows.
fn run(lake: &TestLake, args: &[&str], engine: &[&str]) -> assert_cmd::Command {
    let mut cmd = lake.cmd(&[&["run"], args].concat());
    cmd.args(engine)
        .env(
            "DATAFUSION_EXECUTION_SOFT_MAX_ROWS_PER_OUTPUT_FILE",
            FILE_ROWS.to_string(),
        )
        .env(
            "DATAFUSION_EXECUTION_BATCH_SIZE",
            (FILE_ROWS / 4).to_string(),
        );
    cmd
}

/// Asserts that the last run merged the tickets and their lines by
/// rewriting part of each table: the files that held a changed ticket, and
/// not the others, though the changes reach every month (the embedded
/// engine writes files of `FILE_ROWS` rows).
fn assert_rewrote_part(lake: &TestLake, night: usize) {
    let last = last_run(lake);
    for name in ["ventas", "detalle_ventas"] {
        let table = format!("trusted.{name}");
        let output = last["outputs"]
            .as_array()
            .and_then(|o| {
                o.iter()
                    .find(|o| o["table"]["layer"] == "trusted" && o["table"]["name"] == name)
            })
            .unwrap_or_else(|| panic!("night {night}: {table} not published: {last}"));
        let (added, total) = (
            output["rows_added"].as_u64().unwrap(),
            output["rows_total"].as_u64().unwrap(),
        );
        assert!(
            added > 0 && added < total,
            "night {night}: the merge of {table} wrote {added} of its {total} rows: {output}"
        );
        assert!(
            output["files_removed"].as_u64().unwrap() > 0,
            "night {night}: {output}"
        );
    }
}

/// The nights of changes, each run with `engine` (the `--scheduler` flag,
/// or nothing for the embedded engine).
fn nights(engine: &[&str]) {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.01", "--seed", "11"]);
    db.grant_reader();
    ingest(&db, &lake, &["--full"]);
    run(&lake, &[], engine).assert().success();
    assert_eq!(mode(&lake), "full", "the first run rebuilds everything");

    for night in 1..=3 {
        let seed = (40 + night).to_string();
        db.source(&lake, &["apply-changes", "--seed", &seed]);
        odd_changes(&db, i64::try_from(night).unwrap());
        ingest(&db, &lake, &["--incremental", "--overlap", "5m"]);
        if night == 2 {
            // Killed while merging: the tables stay as they were, and the
            // next run consumes what this one did not.
            let report = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";
            let before = lake.csv(report);
            lake.kill_run_when(
                &[&["run", "--full-refresh-above", "1"], engine].concat(),
                "_merged",
            );
            assert_eq!(lake.csv(report), before);
        }
        // changes.sql voids tickets of every month: merged even so.
        run(&lake, &["--full-refresh-above", "1"], engine)
            .assert()
            .success();
        let last = last_run(&lake);
        assert_eq!(
            last["increment"]["mode"], "incremental",
            "night {night}: {last}"
        );
        let periods = last["increment"]["periods"]["analytic.reporte_ventas_tienda"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(
            periods > 0,
            "night {night}: no period of the report rebuilt: {last}"
        );
        // A few tickets of each month changed: the report rebuilt their
        // days and kept its other rows of those months.
        let days = last["increment"]["days"]["analytic.reporte_ventas_tienda"]
            .as_array()
            .map_or(0, Vec::len);
        assert!(
            days > 0 && days < 15 * periods,
            "night {night}: the report did not rebuild days only: {last}"
        );
        if engine.is_empty() {
            assert_rewrote_part(&lake, night);
        }
        assert_equals_full_refresh(&lake, night);
    }

    // Nothing new to consume: nothing is rebuilt or published.
    ingest(&db, &lake, &["--incremental", "--overlap", "0"]);
    run(&lake, &[], engine).assert().success();
    let last = last_run(&lake);
    assert!(
        last["outputs"].as_array().is_none_or(Vec::is_empty),
        "a run with nothing new published {last}"
    );
    assert_eq!(last["increment"]["mode"], "up to date", "{last}");

    // A changed product's cost reaches every line (the unknown-product
    // rule) and every month of the report: those are rebuilt whole, the
    // tickets still by key, and the tables still equal a full refresh.
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute(
                "UPDATE retail.productos SET costo_unitario = costo_unitario + 1, \
                        actualizado_en = now() WHERE id_producto = (SELECT min(id_producto) FROM retail.productos)",
            )
            .await
            .unwrap();
        })
    });
    ingest(&db, &lake, &["--incremental", "--overlap", "0"]);
    run(&lake, &["--full-refresh-above", "1"], engine)
        .assert()
        .success();
    let last = last_run(&lake);
    assert_eq!(last["increment"]["mode"], "incremental", "{last}");
    let whole: Vec<&str> = last["increment"]["whole"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for table in [
        "trusted.productos",
        "trusted.detalle_ventas",
        "analytic.reporte_ventas_tienda",
    ] {
        assert!(whole.contains(&table), "{table} not rebuilt whole: {last}");
    }
    assert!(!whole.contains(&"trusted.ventas"), "{last}");
    assert_equals_full_refresh(&lake, 4);

    // Changes whose files hold more than the share of the merged tables'
    // rows make the run full: it would rewrite them anyway. (A night of
    // changes to tickets of any month touches about a third of the rows in
    // files of `FILE_ROWS`, and every file when a month is one file.)
    db.source(&lake, &["apply-changes", "--seed", "50"]);
    ingest(&db, &lake, &["--incremental"]);
    run(&lake, &["--full-refresh-above", "0.1"], engine)
        .assert()
        .success();
    let last = last_run(&lake);
    assert_eq!(last["increment"]["mode"], "full", "{last}");
    let reason = last["increment"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("rows of the tables merged by key"),
        "{reason}"
    );
    assert_equals_full_refresh(&lake, 5);
}
