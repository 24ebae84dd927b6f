//! Ingestion from a real PostgreSQL (started by deploy/local/test.sh): the
//! demo database loaded by `dfstore source init`, full and incremental
//! extractions verified by checksums, the pipeline on what they publish,
//! and the failures a user meets (connection killed mid-extraction, wrong
//! password or host, unsupported column, a changed file).

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::process::Stdio;

use assert_cmd::Command;
use common::cli::{TestLake, one_line, stdout_lines};
use common::oracle::expected_from_lake;
use common::postgres::TestDb;

const REPORT: &str = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";

/// `dfstore ARGS… --lake <lake> --pg URL` with the password in PGPASSWORD.
fn with_pg(lake: &TestLake, args: &[&str], url: &str, password: &str) -> Command {
    let mut cmd = lake.cmd(args);
    cmd.arg("--pg").arg(url).env("PGPASSWORD", password);
    cmd
}

fn ingest(db: &TestDb, lake: &TestLake, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["ingest"];
    args.extend_from_slice(extra);
    stdout_lines(
        with_pg(lake, &args, &db.reader_url(), &db.reader_password)
            .output()
            .unwrap(),
    )
}

fn report(lake: &TestLake) -> Vec<String> {
    lake.csv(REPORT)
}

fn manifests(lake: &TestLake) -> Vec<std::path::PathBuf> {
    let dir = lake.path().join("raw/_extracciones");
    let mut out: Vec<_> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

#[test]
fn a_full_ingest_gives_the_report_of_the_generated_lake() {
    let db = TestDb::new();
    let pg_lake = TestLake::new();
    let loaded = db.source(&pg_lake, &["init", "--scale", "0.01", "--seed", "42"]);
    assert!(
        loaded[0].starts_with("created retail in postgresql://"),
        "{loaded:?}"
    );
    db.grant_reader();

    let out = ingest(&db, &pg_lake, &[]);
    assert!(
        out[0].contains("published") && out[0].contains("(full)"),
        "{out:?}"
    );
    for table in [
        "tiendas",
        "productos",
        "clientes",
        "ventas",
        "detalle_ventas",
    ] {
        assert!(
            out.iter()
                .any(|l| l.trim_start().starts_with(&format!("{table} "))),
            "{table} missing from {out:?}"
        );
    }
    let verified = stdout_lines(pg_lake.cmd(&["ingest", "--verify"]).output().unwrap());
    assert_eq!(
        verified.last().unwrap(),
        "5 table extraction(s) verified: Parquet files match their manifests"
    );
    pg_lake.cmd(&["run"]).assert().success();

    // The report is the spec's for what was extracted.
    let expected = expected_from_lake(&pg_lake.path());
    let got = report(&pg_lake);
    assert_eq!(got.len() - 1, expected.report.len());

    // The generated lake holds the same rows in two extractions; only the
    // tickets dated after the generator's extraction instant (Feb-Mar 2026,
    // `fecha_futura` there) are valid for an extraction taken today.
    let generated = TestLake::new();
    generated.generate_and_run("0.01", "42");
    let before_2026 = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter(|l| !l.contains(",2026-0"))
            .cloned()
            .collect()
    };
    let (a, b) = (before_2026(&got), before_2026(&report(&generated)));
    assert!(a.len() > 100, "too small a report: {}", a.len());
    assert_eq!(a, b, "reports differ outside 2026");
    let counts = "SELECT (SELECT count(*) FROM trusted.ventas) + (SELECT count(*) FROM rejected.ventas) AS ventas, \
                  (SELECT count(*) FROM trusted.detalle_ventas) + (SELECT count(*) FROM rejected.detalle_ventas) AS lineas, \
                  (SELECT count(*) FROM trusted.clientes) AS clientes";
    assert_eq!(pg_lake.csv(counts)[1], generated.csv(counts)[1]);
    let future = "SELECT count(*) FROM rejected.ventas WHERE regla = 'fecha_futura'";
    assert_eq!(pg_lake.csv(future)[1], "0");
    assert_ne!(generated.csv(future)[1], "0");
}

#[test]
fn an_incremental_ingest_gives_the_report_of_a_full_ingest_of_the_final_state() {
    let db = TestDb::new();
    let daily = TestLake::new();
    db.source(&daily, &["init", "--scale", "0.01", "--seed", "7"]);
    db.grant_reader();
    ingest(&db, &daily, &["--full"]);

    let changed = db.source(&daily, &["apply-changes", "--seed", "3"]);
    assert!(
        changed[0].starts_with("applied one day of changes"),
        "{changed:?}"
    );
    let out = ingest(&db, &daily, &["--incremental", "--overlap", "5m"]);
    assert!(out[0].contains("(incremental)"), "{out:?}");
    let ventas = out
        .iter()
        .find(|l| l.trim_start().starts_with("ventas "))
        .unwrap();
    let rows: u64 = ventas.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(rows > 0 && rows < 2_000, "incremental ventas rows: {rows}");
    assert_eq!(manifests(&daily).len(), 2);
    daily.cmd(&["run"]).assert().success();

    let fresh = TestLake::new();
    ingest(&db, &fresh, &["--full"]);
    fresh.cmd(&["run"]).assert().success();

    let (a, b) = (report(&daily), report(&fresh));
    assert!(a.len() > 100);
    assert_eq!(a, b, "incremental and full reports differ");
    let anuladas = "SELECT count(*) FROM trusted.ventas WHERE estado = 'ANULADA'";
    assert_eq!(daily.csv(anuladas), fresh.csv(anuladas));

    // A second incremental with nothing new publishes an extraction with
    // only the overlap's rows, and the watermark does not move back.
    let again = ingest(&db, &daily, &["--incremental", "--overlap", "0"]);
    let ventas = again
        .iter()
        .find(|l| l.trim_start().starts_with("ventas "))
        .unwrap();
    assert_eq!(ventas.split_whitespace().nth(1), Some("0"), "{again:?}");
    stdout_lines(daily.cmd(&["ingest", "--verify"]).output().unwrap());
}

#[test]
fn recent_days_void_and_correct_only_tickets_sold_in_those_days() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.05", "--seed", "7"]);
    db.source(
        &lake,
        &["apply-changes", "--seed", "3", "--recent-days", "30"],
    );
    // The day of the changes: every row it changed is stamped during it.
    let day: String = db.owner(|c| {
        Box::pin(async move {
            c.query_one(
                "SELECT ((max(actualizado_en) AT TIME ZONE 'UTC')::date)::text FROM retail.ventas",
                &[],
            )
            .await
            .unwrap()
            .get(0)
        })
    });
    // Voided or corrected tickets that existed before the day of changes,
    // counted by whether they were sold in the 30 days before it.
    let counts = format!(
        "SELECT count(*) FILTER (WHERE v.fecha_venta >= DATE '{day}' - 30), \
                count(*) FILTER (WHERE v.fecha_venta < DATE '{day}' - 30) \
         FROM retail.ventas v \
         WHERE v.actualizado_en >= DATE '{day}' AND v.fecha_venta < DATE '{day}' \
            OR v.id_venta IN (SELECT id_venta FROM retail.detalle_ventas \
                              WHERE actualizado_en >= DATE '{day}') AND v.fecha_venta < DATE '{day}'"
    );
    let (recent, older): (i64, i64) = db.owner(move |c| {
        Box::pin(async move {
            let row = c.query_one(counts.as_str(), &[]).await.unwrap();
            (row.get(0), row.get(1))
        })
    });
    assert!(recent > 0, "no ticket of the last 30 days changed");
    assert_eq!(older, 0, "tickets sold before the last 30 days changed");
}

#[test]
fn a_longer_history_gets_the_same_day_of_changes() {
    // Per table: rows after the day of changes, and rows it changed.
    let day_of_changes = |years: &str| {
        let db = TestDb::new();
        let lake = TestLake::new();
        db.source(&lake, &["init", "--scale", "0.02", "--years", years]);
        let out = db.source(
            &lake,
            &["apply-changes", "--seed", "3", "--recent-days", "7"],
        );
        assert!(out[0].starts_with("applied one day of changes"), "{out:?}");
        out[2..]
            .iter()
            .map(|line| {
                let cells: Vec<&str> = line.split_whitespace().collect();
                let count = |i: usize| cells[i].parse::<u64>().unwrap();
                (cells[0].to_string(), (count(1), count(2)))
            })
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    let (one, two) = (day_of_changes("1"), day_of_changes("2"));
    for table in ["ventas", "detalle_ventas"] {
        let ((rows_one, changed_one), (rows_two, changed_two)) = (one[table], two[table]);
        assert!(rows_two > rows_one * 19 / 10, "{table}: {one:?} {two:?}");
        assert!(changed_one > 0, "{table}: {one:?}");
        assert!(
            changed_one.abs_diff(changed_two) <= 2.max(changed_one / 10),
            "{table}: a day of changes of two years of sales is not that of one: {one:?} {two:?}"
        );
    }
    assert_eq!(one["clientes"], two["clientes"]);
}

#[test]
fn incremental_without_a_previous_extraction_is_refused() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.001"]);
    db.grant_reader();
    let out = with_pg(
        &lake,
        &["ingest", "--incremental"],
        &db.reader_url(),
        &db.reader_password,
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("run `dfstore ingest --full` first"), "{line}");
    assert!(manifests(&lake).is_empty());
}

#[test]
fn a_killed_connection_publishes_nothing_and_a_rerun_succeeds() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.01"]);
    db.grant_reader();

    // Hold a lock that the extraction of detalle_ventas must wait for.
    let held = db.hold(
        "BEGIN; LOCK TABLE retail.detalle_ventas IN ACCESS EXCLUSIVE MODE".into(),
        "ROLLBACK",
    );
    let child = lake
        .std_cmd(&["ingest", "--pg", &db.reader_url()])
        .env("PGPASSWORD", &db.reader_password)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the extraction's COPY waits on the lock, then kill its backend.
    let killed = db.wait_for(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE query LIKE 'COPY (SELECT%detalle_ventas%' AND wait_event_type = 'Lock'",
        1,
    );
    held.release();
    assert_eq!(killed, 1, "the extraction never waited on the lock");

    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains(&db.reader_url()), "{line}");
    assert!(line.contains("nothing was published"), "{line}");
    assert!(manifests(&lake).is_empty(), "an extraction was published");
    let leftovers = walk(&lake.path().join("raw"));
    assert!(leftovers.is_empty(), "files left behind: {leftovers:?}");

    ingest(&db, &lake, &[]);
    assert_eq!(manifests(&lake).len(), 1);
    lake.cmd(&["run"]).assert().success();
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn wrong_password_host_or_url_give_one_line_without_the_secret() {
    let db = TestDb::new();
    let lake = TestLake::new();

    let out = with_pg(
        &lake,
        &["ingest"],
        &db.reader_url(),
        "not-the-password-4711",
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("password authentication failed"), "{line}");
    assert!(line.contains(&db.reader_url()), "{line}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("4711"),
        "{line}"
    );

    let url = "postgresql://ingest:hunter2-secret@127.0.0.1:1/retail";
    let out = lake.cmd(&["ingest", "--pg", url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("postgresql://ingest@127.0.0.1:1/retail"),
        "{line}"
    );
    assert!(line.contains("check the host and port"), "{line}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "{line}"
    );

    let out = lake
        .cmd(&["ingest", "--pg", "postgresql://u:hunter2-secret@db:port/x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("--pg"), "{line}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("hunter2"),
        "{line}"
    );
    assert!(manifests(&lake).is_empty());
}

#[test]
fn the_password_can_come_from_a_file_or_aws_secrets_manager() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.001"]);
    db.grant_reader();

    let file = lake.dir.path().join("pg.password");
    std::fs::write(&file, format!("{}\n", db.reader_password)).unwrap();
    let out = lake
        .cmd(&["ingest", "--tables", "tiendas", "--pg", &db.reader_url()])
        .arg("--pg-password-file")
        .arg(&file)
        .env_remove("PGPASSWORD")
        .output()
        .unwrap();
    let lines = stdout_lines(out);
    assert!(lines[0].contains("published"), "{lines:?}");

    let s3 = common::s3::S3Server::start();
    let secret = format!(
        r#"{{"username":"reader","password":"{}"}}"#,
        db.reader_password
    );
    let arn = s3.create_secret("dfstore/retail-reader", &secret);
    let mut cmd = lake.cmd(&[
        "ingest",
        "--tables",
        "productos",
        "--pg",
        &db.reader_url(),
        "--pg-secret",
        &arn,
    ]);
    cmd.env_remove("PGPASSWORD");
    for (k, v) in s3.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        !text.contains(&db.reader_password),
        "the password leaked: {text}"
    );
    let lines = stdout_lines(out);
    assert!(lines[0].contains("published"), "{lines:?}");
    assert_eq!(manifests(&lake).len(), 2);

    let mut cmd = lake.cmd(&[
        "ingest",
        "--pg",
        &db.reader_url(),
        "--pg-secret",
        "dfstore/missing",
    ]);
    cmd.env_remove("PGPASSWORD");
    for (k, v) in s3.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("--pg-secret") && line.contains("dfstore/missing"),
        "{line}"
    );
}

#[test]
fn tls_is_used_and_the_server_certificate_checked() {
    let ca = std::env::var("DFSTORE_TEST_PG_CA")
        .expect("DFSTORE_TEST_PG_CA (set by deploy/local/postgres.sh)");
    let other = std::env::var("DFSTORE_TEST_PG_OTHER_CA").expect("DFSTORE_TEST_PG_OTHER_CA");
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.001"]);
    db.grant_reader();
    // The server accepts this reader over TLS only.
    let reader = format!("{}_reader", db.name);
    db.admin(move |c| {
        Box::pin(async move {
            c.batch_execute(&format!("GRANT dfstore_tls_only TO {reader}"))
                .await
                .unwrap()
        })
    });
    let run = |query: &str| {
        with_pg(
            &lake,
            &["ingest", "--tables", "tiendas"],
            &format!("{}?{query}", db.reader_url()),
            &db.reader_password,
        )
        .output()
        .unwrap()
    };

    let out = run("sslmode=disable");
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("no encryption"), "{line}");

    let out = run(&format!("sslmode=verify-full&sslrootcert={other}"));
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("certificate"), "{line}");
    assert!(line.contains("sslrootcert"), "{line}");
    assert!(manifests(&lake).is_empty());

    for query in [
        format!("sslmode=verify-full&sslrootcert={ca}"),
        "sslmode=require".to_string(),
    ] {
        let lines = stdout_lines(run(&query));
        assert!(lines[0].contains("published"), "{query}: {lines:?}");
    }
    assert_eq!(manifests(&lake).len(), 2);

    // Without sslrootcert, verify-full checks the chain against the
    // system's CA bundle, which does not know this server's CA: refused,
    // naming the fix.
    let out = run("sslmode=verify-full");
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("certificate") && line.contains("sslrootcert"),
        "{line}"
    );
    assert_eq!(manifests(&lake).len(), 2);
}

#[test]
fn an_unsupported_column_names_table_and_column() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.001"]);
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute("ALTER TABLE retail.tiendas ADD COLUMN latitud double precision")
                .await
                .unwrap()
        })
    });
    db.grant_reader();
    let out = with_pg(&lake, &["ingest"], &db.reader_url(), &db.reader_password)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("`retail.tiendas.latitud` has type float8"),
        "{line}"
    );
    assert!(manifests(&lake).is_empty());
}

/// Values at the edges of each type's text form (NULLs, char padding,
/// booleans, BC dates, microsecond fractions, wide decimals) checksum the
/// same on both sides, and a table read in key ranges on several
/// connections holds every row once.
#[test]
fn edge_values_and_key_ranges_pass_the_checksum() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.002"]);
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute(
                "ALTER TABLE retail.clientes ADD COLUMN nota char(5), ADD COLUMN activo boolean, \
                     ADD COLUMN nacido date, ADD COLUMN saldo numeric(24,4); \
                 UPDATE retail.clientes SET \
                     nota = CASE id_cliente % 3 WHEN 0 THEN NULL WHEN 1 THEN 'ab' ELSE 'ñandú' END, \
                     activo = CASE id_cliente % 3 WHEN 0 THEN NULL ELSE id_cliente % 3 = 1 END, \
                     nacido = CASE id_cliente % 3 WHEN 0 THEN NULL WHEN 1 THEN date '0044-03-15 BC' ELSE date '1999-12-31' END, \
                     saldo = CASE id_cliente % 3 WHEN 0 THEN NULL WHEN 1 THEN -12345678901234567890.0001 ELSE 0 END, \
                     actualizado_en = actualizado_en + (id_cliente % 7) * interval '100 microseconds'; \
                 ANALYZE retail.clientes, retail.detalle_ventas",
            )
            .await
            .unwrap()
        })
    });
    db.grant_reader();
    let lines = ingest(&db, &lake, &["--full", "--chunk-rows", "100"]);
    assert!(lines.iter().any(|l| l.contains("published")), "{lines:?}");
    let (lake_rows, pg_rows): (u64, i64) = {
        let manifest_path = manifests(&lake).pop().unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
        let detalle = &manifest["tables"]["detalle_ventas"];
        assert!(
            detalle["files"].as_array().unwrap().len() >= 3,
            "detalle_ventas was read in key ranges: {detalle}"
        );
        let pg_rows = db.owner(|c| {
            Box::pin(async move {
                c.query_one("SELECT count(*) FROM retail.detalle_ventas", &[])
                    .await
                    .unwrap()
                    .get(0)
            })
        });
        (detalle["rows"].as_u64().unwrap(), pg_rows)
    };
    assert_eq!(lake_rows, pg_rows as u64);
    let out = lake.cmd(&["ingest", "--verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The demo database at scale 0.001 extracted once into a new lake; with
/// the path and content of the extraction's manifest.
fn small_extraction() -> (TestDb, TestLake, std::path::PathBuf, serde_json::Value) {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.001"]);
    db.grant_reader();
    ingest(&db, &lake, &[]);
    let manifest_path = manifests(&lake).pop().unwrap();
    let manifest = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    (db, lake, manifest_path, manifest)
}

#[test]
fn a_changed_file_fails_verification() {
    let (_db, lake, manifest_path, mut manifest) = small_extraction();

    // Replace the tiendas file by one without its last row, and make the
    // manifest agree on size and rows, as a careless repair would.
    let file = &mut manifest["tables"]["tiendas"]["files"][0];
    let path = lake.path().join(file["path"].as_str().unwrap());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let shorter = batch.slice(0, batch.num_rows() - 1);
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        shorter.schema(),
        None,
    )
    .unwrap();
    writer.write(&shorter).unwrap();
    writer.close().unwrap();
    file["bytes"] = std::fs::metadata(&path).unwrap().len().into();
    file["rows"] = (shorter.num_rows() as u64).into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let out = lake.cmd(&["ingest", "--verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("checksum mismatch for `raw.tiendas`"),
        "{line}"
    );
}

/// A manifest whose checksum has the earlier, row-text definition (no
/// `v2:` mark) still verifies its files' SHA-256, says its checksum was not
/// recomputed, and a changed file still fails it.
#[test]
fn an_earlier_checksum_is_not_recomputed_but_the_files_are_still_checked() {
    let (_db, lake, manifest_path, mut manifest) = small_extraction();
    for (_, table) in manifest["tables"].as_object_mut().unwrap() {
        let current = table["checksum"].as_str().unwrap().to_string();
        let earlier = current.strip_prefix("v2:").expect("a v2 checksum");
        table["checksum"] = earlier.into();
    }
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();

    let out = lake.cmd(&["ingest", "--verify"]).output().unwrap();
    let lines = stdout_lines(out);
    let tiendas = lines.iter().find(|l| l.contains("tiendas")).unwrap();
    assert!(
        tiendas.contains("SHA-256") && tiendas.contains("not recomputed"),
        "{lines:?}"
    );

    let file = &manifest["tables"]["tiendas"]["files"][0];
    let path = lake.path().join(file["path"].as_str().unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let out = lake.cmd(&["ingest", "--verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("tiendas"), "{line}");
}

#[test]
fn a_new_source_column_flows_through_and_a_dropped_one_fails_the_run() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.002"]);
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute("ALTER TABLE retail.ventas ADD COLUMN cupon text DEFAULT 'NINGUNO'")
                .await
                .unwrap()
        })
    });
    db.grant_reader();
    ingest(&db, &lake, &[]);
    let run = stdout_lines(lake.cmd(&["run"]).output().unwrap());
    assert!(
        run.iter()
            .any(|l| l.contains("raw.ventas: new column cupon (Utf8)")),
        "{run:?}"
    );
    let before = report(&lake);

    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute(
                "ALTER TABLE retail.ventas DROP COLUMN canal; \
                 UPDATE retail.ventas SET actualizado_en = actualizado_en + interval '1 day' WHERE id_venta % 10 = 0",
            )
            .await
            .unwrap()
        })
    });
    ingest(&db, &lake, &[]);
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("raw.ventas column canal: missing"), "{line}");
    assert_eq!(report(&lake), before, "the failed run changed the report");
}
