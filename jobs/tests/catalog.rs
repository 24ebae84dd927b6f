//! The lake catalog and schema drift as a user meets them: `dfstore catalog
//! crawl` records every table and reports what changed since the previous
//! crawl, `dfstore catalog show` prints it; in `dfstore run`, a new source
//! column flows through and is reported, a dropped or retyped one fails
//! before anything is written.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use common::cli::{TestLake, one_line, stdout_lines};
use dfstore_core::{LakeUrl, S3Settings};
use dfstore_jobs::contract::extraction::ExtractionId;
use dfstore_jobs::lake::Lake;
use dfstore_jobs::lake::raw::{ExtractionManifest, RawFileWriter, RawTable};

/// The extraction the tests add after the two that `generate` writes.
const DRIFTED: &str = "20260105T060000Z";

const REPORT: &str = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";

/// A generated lake with one successful run.
fn lake_with_a_good_run() -> TestLake {
    let lake = TestLake::new();
    lake.generate_and_run("0.001", "5");
    lake
}

/// Publishes extraction [`DRIFTED`] holding only `ventas`: three tickets of
/// the first extraction not paid by wallet, each as a later version paid by
/// wallet, then passed through `drift` (which changes the columns). Returns
/// the tickets' ids.
fn publish_drifted_ventas(
    lake: &TestLake,
    drift: impl FnOnce(RecordBatch) -> RecordBatch,
) -> Vec<i64> {
    let dir = lake.path().join("raw/ventas/extraido=20260102T060000Z");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&files[0]).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    let all = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let medio_pago = all.column_by_name("medio_pago").unwrap().as_string::<i32>();
    let not_wallet: BooleanArray = medio_pago
        .iter()
        .map(|v| Some(v != Some("BILLETERA")))
        .collect();
    let picked = arrow::compute::filter_record_batch(&all, &not_wallet)
        .unwrap()
        .slice(0, 3);
    let later = arrow::array::TimestampMicrosecondArray::from_value(
        chrono::DateTime::parse_from_rfc3339("2026-01-05T05:00:00Z")
            .unwrap()
            .timestamp_micros(),
        3,
    )
    .with_timezone("UTC");
    let picked = replace(
        &picked,
        "medio_pago",
        Arc::new(StringArray::from(vec!["BILLETERA"; 3])),
    );
    let picked = replace(&picked, "actualizado_en", Arc::new(later));
    let ids: Vec<i64> = picked
        .column_by_name("id_venta")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>()
        .values()
        .to_vec();
    let batch = drift(picked);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let url = LakeUrl::parse(lake.path().to_str().unwrap()).unwrap();
        let store = Lake::open(url, &S3Settings::default()).unwrap();
        let id: ExtractionId = DRIFTED.parse().unwrap();
        let mut writer =
            RawFileWriter::create_with_schema(&store, id, "ventas", 0, batch.schema()).unwrap();
        writer.write(&batch).await.unwrap();
        let file = writer.finish().await.unwrap();
        let manifest = ExtractionManifest {
            extraido: id,
            source: "test".into(),
            details: BTreeMap::new(),
            tables: BTreeMap::from([(
                "ventas".to_string(),
                RawTable {
                    rows: file.rows,
                    files: vec![file],
                    ..RawTable::default()
                },
            )]),
        };
        manifest.publish(&store).await.unwrap();
    });
    ids
}

/// `batch` with column `name` replaced by `values` (of any type).
fn replace(batch: &RecordBatch, name: &str, values: ArrayRef) -> RecordBatch {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    let i = schema.index_of(name).unwrap();
    fields[i] = Field::new(name, values.data_type().clone(), fields[i].is_nullable());
    columns[i] = values;
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// `batch` with one more column, `promo_code` (text).
fn with_promo_code(batch: RecordBatch) -> RecordBatch {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new("promo_code", DataType::Utf8, true));
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(vec![
        Some("NAVIDAD"),
        None,
        Some("VERANO"),
    ])));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// `batch` without column `name`.
fn without(batch: RecordBatch, name: &str) -> RecordBatch {
    let i = batch.schema().index_of(name).unwrap();
    let keep: Vec<usize> = (0..batch.num_columns()).filter(|c| *c != i).collect();
    batch.project(&keep).unwrap()
}

/// The newest run manifest under logs/runs/.
fn newest_run_manifest(lake: &TestLake) -> serde_json::Value {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(lake.path().join("logs/runs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    serde_json::from_slice(&std::fs::read(runs.last().unwrap()).unwrap()).unwrap()
}

fn drifted_file_url(lake: &TestLake) -> String {
    format!(
        "file://{}/raw/ventas/extraido={DRIFTED}/part-00000.parquet",
        lake.path().display()
    )
}

#[test]
fn a_new_source_column_is_reported_as_drift_and_the_run_still_succeeds() {
    let lake = lake_with_a_good_run();
    let raw_before = lake.csv("SELECT COUNT(*) AS n FROM raw.ventas");
    let ids = publish_drifted_ventas(&lake, with_promo_code);

    let lines = stdout_lines(lake.cmd(&["run"]).output().unwrap());
    let at = lines
        .iter()
        .position(|l| l == "schema drift (raw columns that differ from the reference schema)")
        .unwrap_or_else(|| panic!("no drift section in:\n{}", lines.join("\n")));
    assert_eq!(
        lines[at + 1],
        format!("  raw.ventas: new column promo_code (Utf8) in extraction {DRIFTED}")
    );
    assert_eq!(lines[at + 2], "");
    assert!(lines[0].contains("succeeded"), "{}", lines[0]);

    // The drifted file was read: its three rows are in raw, and their new
    // versions reached trusted or rejected.
    let raw_after = lake.csv("SELECT COUNT(*) AS n FROM raw.ventas");
    assert_eq!(
        raw_after[1].parse::<u64>().unwrap(),
        raw_before[1].parse::<u64>().unwrap() + 3
    );
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    assert_eq!(
        lake.csv(&format!(
            "SELECT COUNT(*) AS n FROM (SELECT id_venta, medio_pago FROM trusted.ventas \
             UNION ALL SELECT id_venta, medio_pago FROM rejected.ventas) AS v \
             WHERE id_venta IN ({list}) AND medio_pago = 'BILLETERA'"
        )),
        ["n", "3"]
    );

    // The run manifest records the drift.
    let manifest = newest_run_manifest(&lake);
    assert_eq!(manifest["outcome"], "succeeded");
    assert_eq!(
        manifest["schema_drift"],
        serde_json::json!([{
            "table": "ventas",
            "extraido": DRIFTED,
            "file": format!("raw/ventas/extraido={DRIFTED}/part-00000.parquet"),
            "change": "added",
            "column": "promo_code",
            "data_type": "Utf8",
        }])
    );
}

/// Runs and expects a failure on breaking drift: exit 1, `expected` as the
/// one error line, the previous report intact and nothing staged.
fn assert_breaking(lake: &TestLake, report: &[String], expected: &str) {
    let out = lake.cmd(&["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(one_line(&out.stderr), expected);
    assert!(out.stdout.is_empty());
    assert_eq!(lake.csv(REPORT), report);
    assert!(
        !lake
            .path()
            .join("_staging")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some())
    );
    assert_eq!(newest_run_manifest(lake)["outcome"], "failed");
}

#[test]
fn a_dropped_or_retyped_column_the_sql_uses_fails_clearly() {
    let lake = lake_with_a_good_run();
    let report = lake.csv(REPORT);
    let versions = std::fs::read_dir(lake.path().join("trusted/ventas/_delta_log"))
        .unwrap()
        .count();
    let fix = format!(
        "nothing was written: restore the column in the source and extract again \
         (deleting raw/ventas/extraido={DRIFTED}/ and raw/_extracciones/{DRIFTED}.json), \
         or change the source's `columns` in dfstore_project.toml and the SQL that reads it"
    );

    publish_drifted_ventas(&lake, |b| without(b, "canal"));
    assert_breaking(
        &lake,
        &report,
        &format!(
            "dfstore: error: raw.ventas column canal: missing (expected Utf8) in extraction \
             {DRIFTED} ({}); {fix}",
            drifted_file_url(&lake)
        ),
    );
    let drift = &newest_run_manifest(&lake)["schema_drift"];
    assert_eq!(drift[0]["change"], "removed");
    assert_eq!(drift[0]["column"], "canal");

    // Following the fix: delete the extraction; then a retyped column.
    std::fs::remove_dir_all(lake.path().join(format!("raw/ventas/extraido={DRIFTED}"))).unwrap();
    std::fs::remove_file(
        lake.path()
            .join(format!("raw/_extracciones/{DRIFTED}.json")),
    )
    .unwrap();
    publish_drifted_ventas(&lake, |b| {
        replace(&b, "canal", Arc::new(Int32Array::from(vec![1, 2, 3])))
    });
    assert_breaking(
        &lake,
        &report,
        &format!(
            "dfstore: error: raw.ventas column canal: expected Utf8, found Int32 in extraction \
             {DRIFTED} ({}); {fix}",
            drifted_file_url(&lake)
        ),
    );
    assert_eq!(
        std::fs::read_dir(lake.path().join("trusted/ventas/_delta_log"))
            .unwrap()
            .count(),
        versions,
        "a Delta version was committed"
    );
}

/// The id in `crawl <id>: …` of `catalog crawl`'s first line.
fn crawl_id(first_line: &str) -> String {
    first_line
        .strip_prefix("crawl ")
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_string()
}

#[test]
fn catalog_crawl_records_every_table_and_what_changed() {
    let lake = lake_with_a_good_run();

    let first = stdout_lines(lake.cmd(&["catalog", "crawl"]).output().unwrap());
    let id1 = crawl_id(&first[0]);
    assert_eq!(
        first,
        [
            format!("crawl {id1}: 13 table(s) recorded in _catalog/crawls/{id1}.json"),
            "first crawl of this lake: nothing to compare with".to_string(),
        ]
    );
    let doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(lake.path().join(format!("_catalog/crawls/{id1}.json"))).unwrap(),
    )
    .unwrap();
    let names: Vec<String> = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            format!(
                "{}.{}",
                t["table"]["layer"].as_str().unwrap(),
                t["table"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "raw.clientes",
            "raw.detalle_ventas",
            "raw.productos",
            "raw.tiendas",
            "raw.ventas",
            "trusted.tiendas",
            "trusted.productos",
            "trusted.clientes",
            "trusted.ventas",
            "rejected.ventas",
            "trusted.detalle_ventas",
            "rejected.detalle_ventas",
            "analytic.reporte_ventas_tienda",
        ]
    );

    let second = stdout_lines(lake.cmd(&["catalog", "crawl"]).output().unwrap());
    let id2 = crawl_id(&second[0]);
    assert!(id2 > id1, "{id2} <= {id1}");
    assert_eq!(
        second[1],
        format!("no schema or partition changes since crawl {id1}")
    );

    publish_drifted_ventas(&lake, with_promo_code);
    let third = stdout_lines(lake.cmd(&["catalog", "crawl"]).output().unwrap());
    assert_eq!(
        third[1..],
        [
            format!("changes since crawl {id2}:"),
            "  raw.ventas  new column promo_code (Utf8)".to_string(),
            format!("  raw.ventas  new partition extraido={DRIFTED}"),
        ]
    );

    // Dropping the column again is a removed column for the catalog.
    std::fs::remove_dir_all(lake.path().join(format!("raw/ventas/extraido={DRIFTED}"))).unwrap();
    std::fs::remove_file(
        lake.path()
            .join(format!("raw/_extracciones/{DRIFTED}.json")),
    )
    .unwrap();
    publish_drifted_ventas(&lake, |b| without(b, "estado"));
    let fourth = stdout_lines(lake.cmd(&["catalog", "crawl"]).output().unwrap());
    assert_eq!(
        fourth[2..],
        [
            "  raw.ventas  column estado (Utf8) removed".to_string(),
            "  raw.ventas  column promo_code (Utf8) removed".to_string(),
        ]
    );
}

#[test]
fn catalog_show_prints_the_newest_crawl() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.001", "--seed", "5"])
        .assert()
        .success();

    // Before any crawl: how to make one.
    let out = lake.cmd(&["catalog", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line(&out.stderr),
        format!(
            "dfstore: error: lake `file://{0}/` has no catalog yet (nothing under _catalog/crawls/); \
             run `dfstore catalog crawl --lake file://{0}/` first",
            lake.path().display()
        )
    );

    lake.cmd(&["run"]).assert().success();
    publish_drifted_ventas(&lake, with_promo_code);
    let crawl = stdout_lines(lake.cmd(&["catalog", "crawl"]).output().unwrap());
    let id = crawl_id(&crawl[0]);

    let all = stdout_lines(lake.cmd(&["catalog", "show"]).output().unwrap());
    assert!(all[0].starts_with(&format!("crawl {id} at ")), "{}", all[0]);
    assert!(all[0].ends_with(" UTC: 13 table(s)"), "{}", all[0]);
    assert_eq!(
        all[2],
        "table                           format   version        rows  files  partitions        last change"
    );
    let ventas = all.iter().find(|l| l.starts_with("raw.ventas ")).unwrap();
    assert!(
        ventas.contains(" parquet ")
            && ventas.contains("extraido (3)")
            && ventas.ends_with("2026-01-05 06:00:00 UTC"),
        "{ventas}"
    );
    let report = all
        .iter()
        .find(|l| l.starts_with("analytic.reporte_ventas_tienda "))
        .unwrap();
    assert!(
        report.contains(" delta ") && report.contains(" v0 ") && report.contains("periodo ("),
        "{report}"
    );

    let raw = stdout_lines(
        lake.cmd(&["catalog", "show", "raw.ventas"])
            .output()
            .unwrap(),
    );
    assert_eq!(raw[0], format!("raw.ventas (crawl {id})"));
    assert_eq!(
        raw[1..3],
        ["  format       parquet", "  location     raw/ventas/"]
    );
    assert_eq!(raw[6], "  last change  2026-01-05 06:00:00 UTC");
    let columns = raw.iter().position(|l| l == "  columns").unwrap();
    assert_eq!(
        raw[columns + 1..columns + 10],
        [
            "    id_venta        Int64                 not null",
            "    id_tienda       Int32                 not null",
            "    id_cliente      Int64",
            "    fecha_venta     Timestamp(µs, \"UTC\")  not null",
            "    canal           Utf8                  not null",
            "    medio_pago      Utf8                  not null",
            "    estado          Utf8                  not null",
            "    actualizado_en  Timestamp(µs, \"UTC\")  not null",
            "    promo_code      Utf8",
        ]
    );
    assert_eq!(raw[columns + 10], "  partitions (3)");
    assert!(raw[columns + 11].starts_with("    extraido=20260102T060000Z "));
    assert_eq!(
        raw[columns + 13],
        format!("    extraido={DRIFTED}             3 rows     1 file(s)")
    );

    let trusted = stdout_lines(
        lake.cmd(&["catalog", "show", "trusted.ventas"])
            .output()
            .unwrap(),
    );
    assert!(
        trusted.contains(&"  format       delta".to_string()),
        "{trusted:?}"
    );
    assert!(
        trusted.contains(&"  version      v0".to_string()),
        "{trusted:?}"
    );
    assert!(
        trusted.iter().any(|l| l.starts_with("    periodo=2025-")),
        "{trusted:?}"
    );

    let out = lake
        .cmd(&["catalog", "show", "raw.ventaz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line(&out.stderr),
        "dfstore: error: unknown table `raw.ventaz`; did you mean `raw.ventas`? \
         (`dfstore tables` lists every table)"
    );
    let out = lake.cmd(&["catalog", "show", "ventas"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
