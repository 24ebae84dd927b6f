//! The `dfstore` command line as a user meets it: output formats, and a clear
//! one-line error with the right exit code for each kind of bad input, the
//! previous good output staying intact.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, dfstore, one_line};
use predicates::prelude::*;

#[test]
fn missing_lake_is_named_with_the_fix() {
    let lake = TestLake::new();
    let out = lake.cmd(&["run"]).output().unwrap();
    // A lake that is not there is a configuration error, as a bad --lake is.
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("does not exist") && line.contains("dfstore generate"),
        "{line}"
    );
    assert!(line.contains(&lake.path().display().to_string()), "{line}");
}

#[test]
fn lake_without_extractions_is_refused() {
    let lake = TestLake::new();
    std::fs::create_dir_all(lake.path().join("raw/ventas")).unwrap();
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("no raw extraction") && line.contains("dfstore generate"),
        "{line}"
    );
}

#[test]
fn bad_flags_exit_2() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale=-3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--scale"));
    lake.cmd(&["run", "--period", "2025-13"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("YYYY-MM"));
    lake.cmd(&["sql", "--format", "xml", "SELECT 1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "[possible values: table, csv, json, parquet]",
        ));
    dfstore(lake.dir.path())
        .args(["run", "--lake", "ftp://host/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("s3://bucket/prefix"));
}

#[test]
fn missing_key_is_a_configuration_error() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.001"])
        .assert()
        .success();
    let out = lake
        .cmd(&["run"])
        .env_remove("DFSTORE_PII_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("DFSTORE_PII_KEY"), "{line}");
}

/// A lake with one good run, so failures can be checked to leave it intact.
fn lake_with_a_good_run() -> (TestLake, Vec<String>) {
    let lake = TestLake::new();
    lake.generate_and_run("0.001", "5");
    let report = lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda");
    assert!(report.len() > 1);
    (lake, report)
}

/// Records `file`'s new size and SHA-256 in its extraction's manifest, as
/// an extractor that wrote it so would have.
fn refresh_digest(lake: &TestLake, file: &std::path::Path) {
    use sha2::Digest;
    let manifest_path = lake.path().join("raw/_extracciones/20260102T060000Z.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    let relative = file.strip_prefix(lake.path()).unwrap().to_str().unwrap();
    let bytes = std::fs::read(file).unwrap();
    for table in manifest["tables"].as_object_mut().unwrap().values_mut() {
        for entry in table["files"].as_array_mut().unwrap() {
            if entry["path"] == relative {
                entry["bytes"] = bytes.len().into();
                entry["sha256"] = hex::encode(sha2::Sha256::digest(&bytes)).into();
            }
        }
    }
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
}

fn first_raw_file(lake: &TestLake, table: &str) -> std::path::PathBuf {
    let dir = lake
        .path()
        .join(format!("raw/{table}/extraido=20260102T060000Z"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.remove(0)
}

#[test]
fn corrupt_parquet_fails_and_keeps_the_previous_output() {
    let (lake, report) = lake_with_a_good_run();
    let victim = first_raw_file(&lake, "ventas");
    let len = std::fs::metadata(&victim).unwrap().len() as usize;
    std::fs::write(&victim, vec![b'x'; len]).unwrap();
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("changed after it was extracted")
            && line.contains(&victim.display().to_string()),
        "{line}"
    );
    // Even with a manifest that vouches for it, the file is no Parquet.
    refresh_digest(&lake, &victim);
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("corrupt Parquet file") && line.contains(&victim.display().to_string()),
        "{line}"
    );
    assert_eq!(
        lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"),
        report
    );
    assert!(
        !lake
            .path()
            .join("_staging")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
}

#[test]
fn raw_table_missing_a_column_is_named() {
    let (lake, report) = lake_with_a_good_run();
    // Rewrite one raw file without `estado`, keeping its row count.
    let victim = first_raw_file(&lake, "ventas");
    let file = std::fs::File::open(&victim).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let schema = batches[0].schema();
    let keep: Vec<usize> = (0..schema.fields().len())
        .filter(|i| schema.field(*i).name() != "estado")
        .collect();
    let projected: Vec<_> = batches.iter().map(|b| b.project(&keep).unwrap()).collect();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&victim).unwrap(),
        projected[0].schema(),
        None,
    )
    .unwrap();
    for b in &projected {
        writer.write(b).unwrap();
    }
    writer.close().unwrap();
    refresh_digest(&lake, &victim);
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains(
            "raw.ventas column estado: missing (expected Utf8) in extraction 20260102T060000Z"
        ),
        "{line}"
    );
    assert_eq!(
        lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"),
        report
    );
}

#[test]
fn unknown_table_lists_the_known_ones() {
    let (lake, _) = lake_with_a_good_run();
    let out = lake
        .cmd(&["sql", "SELECT * FROM trusted.ventaz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("unknown table `trusted.ventaz`; did you mean `trusted.ventas`?"),
        "{line}"
    );
    // Nothing close: where to find the names.
    let out = lake
        .cmd(&["sql", "SELECT * FROM analytic.zzz"])
        .output()
        .unwrap();
    let line = one_line(&out.stderr);
    assert!(
        line.ends_with("`dfstore tables` lists every table"),
        "{line}"
    );
}

#[test]
fn sql_writes_table_csv_json_and_parquet() {
    let (lake, _) = lake_with_a_good_run();
    let q = "SELECT id_producto, sku FROM trusted.productos ORDER BY id_producto LIMIT 2";
    lake.cmd(&["sql", q]).assert().success().stdout(
        predicate::str::contains("| id_producto | sku").and(predicate::str::contains("2 rows")),
    );
    lake.cmd(&["sql", "--format", "csv", q])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("id_producto,sku\n1,"));
    lake.cmd(&["sql", "--format", "json", q])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("{\"id_producto\":1,\"sku\":"));
    let out = lake.dir.path().join("tiendas.parquet");
    lake.cmd(&[
        "sql",
        "--format",
        "parquet",
        "--output",
        out.to_str().unwrap(),
        q,
    ])
    .assert()
    .success();
    let file = std::fs::File::open(&out).unwrap();
    let meta = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    use parquet::file::reader::FileReader;
    assert_eq!(meta.metadata().file_metadata().num_rows(), 2);
    // From a file, too.
    let sql_file = lake.dir.path().join("q.sql");
    std::fs::write(&sql_file, q).unwrap();
    lake.cmd(&["sql", "--format", "csv", "-f", sql_file.to_str().unwrap()])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("id_producto,sku\n1,"));
}

#[test]
fn tables_and_runs_describe_the_lake() {
    let (lake, _) = lake_with_a_good_run();
    lake.cmd(&["tables"]).assert().success().stdout(
        predicate::str::contains("raw.ventas")
            .and(predicate::str::contains("2 extraction(s)"))
            .and(predicate::str::contains("analytic.reporte_ventas_tienda"))
            .and(
                predicate::str::contains("ticket_promedio Decimal(18,2)")
                    .or(predicate::str::contains("ticket_promedio decimal(18,2)")),
            )
            .and(
                predicate::str::contains("periodo=")
                    .not()
                    .or(predicate::str::contains("2025-")),
            ),
    );
    lake.cmd(&["runs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("succeeded"));
}

#[test]
fn tables_runs_and_catalog_print_json_on_request() {
    let (lake, _) = lake_with_a_good_run();
    let json = |args: &[&str]| -> serde_json::Value {
        let out = lake.cmd(args).arg("--format").arg("json").output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON: {e}"))
    };
    let tables = json(&["tables"]);
    let report = tables
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["table"] == serde_json::json!({"layer": "analytic", "name": "reporte_ventas_tienda"})
        })
        .unwrap_or_else(|| panic!("no report in {tables}"));
    let rows = lake.csv("SELECT COUNT(*) FROM analytic.reporte_ventas_tienda");
    assert_eq!(report["rows"].to_string(), rows[1], "{report}");
    let runs = json(&["runs"]);
    assert_eq!(runs[0]["outcome"], "succeeded", "{runs}");
    assert!(runs[0]["steps"].as_array().is_some_and(|s| !s.is_empty()));
    lake.cmd(&["catalog", "crawl"]).assert().success();
    let crawl = json(&["catalog", "show"]);
    assert!(
        crawl["tables"].as_array().is_some_and(|t| t.len() > 10),
        "{crawl}"
    );
    let one = json(&["catalog", "show", "raw.ventas"]);
    assert_eq!(one["table"]["name"], "ventas", "{one}");
    // A format that does not exist is a usage error that lists the others.
    let out = lake.cmd(&["tables", "--format", "yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("text") && err.contains("json"), "{err}");
}

#[test]
fn completions_and_manual_pages_are_generated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dfstore(dir.path())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("complete -F") && script.contains("--full-refresh"),
        "{script}"
    );
    dfstore(dir.path())
        .args(["man", "pages"])
        .assert()
        .success();
    let run = std::fs::read_to_string(dir.path().join("pages/dfstore-run.1")).unwrap();
    assert!(
        run.contains(".TH") && run.contains("full\\-refresh"),
        "{run}"
    );
    assert!(dir.path().join("pages/dfstore.1").exists());
}

#[test]
fn every_sql_file_runs_by_hand_with_dfstore_sql() {
    let (lake, _) = lake_with_a_good_run();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql");
    for layer in ["staging", "trusted", "rejected", "analytic"] {
        for entry in std::fs::read_dir(root.join(layer)).unwrap() {
            let path = entry.unwrap().path();
            let out = lake
                .cmd(&["sql", "--format", "csv", "-f", path.to_str().unwrap()])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.stdout.len() > 10, "{} returned nothing", path.display());
        }
    }
}

#[test]
fn run_writes_its_metrics_in_prometheus_text() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.001", "--seed", "5"])
        .assert()
        .success();
    let file = lake.dir.path().join("run.prom");
    lake.cmd(&["run", "--metrics-file", file.to_str().unwrap()])
        .assert()
        .success();
    let text = std::fs::read_to_string(&file).unwrap();
    let url = format!("file://{}", lake.path().display());
    for line in [
        format!("dfstore_run_succeeded{{lake=\"{url}\"}} 1"),
        format!("dfstore_reconciliation_failed{{lake=\"{url}\"}} 0"),
        "# TYPE dfstore_rows_rejected gauge".to_string(),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
    }
    assert!(
        text.contains(&format!(
            "dfstore_rows_written{{lake=\"{url}\",table=\"analytic.reporte_ventas_tienda\"}} "
        )),
        "{text}"
    );
}

#[test]
fn quiet_prints_nothing_on_success_and_the_error_on_failure() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.001", "--seed", "5", "--quiet"])
        .assert()
        .success()
        .stdout("");
    let out = lake
        .cmd(&["run", "--quiet"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains("INFO"), "{log}");
    // Query results are what `sql` is for: still printed.
    assert_eq!(
        common::cli::stdout_lines(
            lake.cmd(&["sql", "-q", "--format", "csv", "SELECT 1 AS one"])
                .output()
                .unwrap()
        ),
        ["one", "1"]
    );
    // A failure still says what went wrong, in one line.
    let out = TestLake::new().cmd(&["run", "--quiet"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("does not exist"));
    assert!(out.stdout.is_empty());
}

#[test]
fn help_states_each_default_once() {
    for command in [
        "generate", "run", "sql", "demo", "ingest", "load", "nightly", "serve", "tables", "runs",
    ] {
        let out = dfstore(std::env::temp_dir().as_path())
            .args(["help", command])
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        for line in text.lines() {
            assert!(
                line.matches("[default:").count() <= 1,
                "dfstore help {command}: {line}"
            );
        }
    }
}

#[test]
fn a_memory_pool_too_small_names_what_ran_and_the_flag_that_raises_it() {
    let (lake, report) = lake_with_a_good_run();
    let out = lake
        .cmd(&["run", "--full-refresh", "--memory-limit", "1K"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("Resources exhausted") && line.contains("--memory-limit"),
        "{line}"
    );
    // What was running: a model (its SQL file) or a count over raw.
    assert!(line.contains(".sql)") || line.contains("raw."), "{line}");
    assert_eq!(
        lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"),
        report
    );
}

#[test]
fn demo_is_quiet_with_quiet_and_never_invents_a_key_it_was_told_about() {
    let lake = TestLake::new();
    let out = lake
        .cmd(&["demo", "--scale", "0.001", "--quiet"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // A mistyped key file is an error; no key appears in the home folder.
    let other = TestLake::new();
    let out = other
        .cmd(&["demo", "--scale", "0.001"])
        .env_remove("DFSTORE_PII_KEY")
        .env("DFSTORE_PII_KEY_FILE", other.dir.path().join("no-such.key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("no-such.key"));
    assert!(!other.dir.path().join("config/dfstore/pii.key").exists());
}
