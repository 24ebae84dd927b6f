//! Tests of the generator: read the published Parquet back and check sizes,
//! determinism and manifests; [`rules`] checks the dirty cases and
//! [`changes`] the second extraction.

mod changes;
mod rules;

use std::fs::File;
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Decimal128Type, Int32Type, Int64Type, TimestampMicrosecondType};
use dfstore_core::LakeUrl;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tempfile::TempDir;

use super::calendar::{INCREMENTAL, INITIAL, LIMA_OFFSET};
use super::*;
use crate::lake::raw::published_extractions;

const MICROS: i64 = 1_000_000;

fn lake_at(dir: &Path) -> Lake {
    Lake::open(
        LakeUrl::parse(dir.to_str().unwrap()).unwrap(),
        &Default::default(),
    )
    .unwrap()
}

async fn generated(scale: f64, seed: u64) -> (TempDir, GenerateSummary) {
    let dir = TempDir::new().unwrap();
    let summary = generate(
        &lake_at(dir.path()),
        &GenerateOptions {
            scale,
            seed,
            years: 1,
        },
    )
    .await
    .unwrap();
    (dir, summary)
}

/// Every row of `table` in an extraction, read from the files its manifest lists.
fn read(dir: &Path, manifest: &ExtractionManifest, table: &str) -> RecordBatch {
    let raw = &manifest.tables[table];
    let table = crate::project::builtin::source(table).unwrap();
    let mut batches = Vec::new();
    for file in &raw.files {
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(File::open(dir.join(&file.path)).unwrap())
                .unwrap()
                .build()
                .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            assert_eq!(
                batch.schema().fields(),
                table.schema().fields(),
                "{table} schema"
            );
            batches.push(batch);
        }
    }
    concat_batches(&table.schema(), &batches).unwrap()
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> &'a dyn Array {
    batch.column_by_name(name).unwrap().as_ref()
}

fn i64s(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    column(batch, name)
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn i32s(batch: &RecordBatch, name: &str) -> Vec<i32> {
    column(batch, name)
        .as_primitive::<Int32Type>()
        .values()
        .to_vec()
}

fn decimals(batch: &RecordBatch, name: &str) -> Vec<i128> {
    column(batch, name)
        .as_primitive::<Decimal128Type>()
        .values()
        .to_vec()
}

fn seconds(batch: &RecordBatch, name: &str) -> Vec<i64> {
    let micros = column(batch, name).as_primitive::<TimestampMicrosecondType>();
    micros.values().iter().map(|m| m / MICROS).collect()
}

fn texts(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    column(batch, name)
        .as_string::<i32>()
        .iter()
        .map(|s| s.map(str::to_string))
        .collect()
}

fn norm(value: &Option<String>) -> String {
    value.as_deref().unwrap_or_default().trim().to_uppercase()
}

fn is_dirty(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|v| v != norm(value))
}

#[test]
fn sizes_scale_linearly_with_floors() {
    let sizes = |scale| {
        GenerateOptions {
            scale,
            seed: 0,
            years: 1,
        }
        .sizes()
        .unwrap()
    };
    assert_eq!(
        sizes(1.0),
        Sizes {
            stores: 50,
            products: 5_000,
            customers: 100_000,
            tickets: 1_000_000,
            days: 365,
        }
    );
    assert_eq!(
        (
            sizes(0.001).stores,
            sizes(0.001).customers,
            sizes(0.001).tickets
        ),
        (1, 100, 1_000)
    );
    assert_eq!(
        (
            sizes(1e-6).stores,
            sizes(1e-6).customers,
            sizes(1e-6).tickets
        ),
        (1, 1, 10)
    );
    assert_eq!(sizes(100.0).tickets, 100_000_000);
}

#[test]
fn the_generator_can_run_on_any_runtime_thread() {
    fn is_send<T: Send>(_: &T) {}
    let dir = TempDir::new().unwrap();
    let lake = lake_at(dir.path());
    let options = GenerateOptions {
        scale: 0.001,
        seed: 0,
        years: 1,
    };
    is_send(&generate(&lake, &options));
}

#[tokio::test]
async fn a_bad_scale_names_the_flag() {
    let dir = TempDir::new().unwrap();
    for scale in [0.0, -1.0, 100.5, f64::NAN, f64::INFINITY] {
        let err = generate(
            &lake_at(dir.path()),
            &GenerateOptions {
                scale,
                seed: 1,
                years: 1,
            },
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { flag, .. } if flag == "--scale"),
            "{err}"
        );
        assert!(err.is_usage());
    }
}

#[tokio::test]
async fn a_bad_history_names_the_flag() {
    let dir = TempDir::new().unwrap();
    for years in [0, MAX_YEARS + 1] {
        let options = GenerateOptions {
            years,
            ..GenerateOptions::default()
        };
        let err = generate(&lake_at(dir.path()), &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument { flag, .. } if flag == "--years"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_longer_history_keeps_the_sales_of_a_day() {
    let (scale, seed) = (0.002, 42);
    let one = GenerateOptions {
        scale,
        seed,
        years: 1,
    };
    let two = GenerateOptions { years: 2, ..one };
    let (sizes_one, sizes_two) = (one.sizes().unwrap(), two.sizes().unwrap());
    assert_eq!(sizes_two.tickets, 2 * sizes_one.tickets);
    assert_eq!(sizes_two.days, 730);
    assert_eq!(
        (sizes_two.stores, sizes_two.customers),
        (sizes_one.stores, sizes_one.customers)
    );
    let dir = TempDir::new().unwrap();
    let summary = generate(&lake_at(dir.path()), &two).await.unwrap();
    assert_eq!(summary.extractions[0].details["years"], "2");
    let ventas = read(dir.path(), &summary.extractions[0], "ventas");
    let ids: Vec<i64> = i64s(&ventas, "id_venta").into_iter().flatten().collect();
    // Local calendar years of the sales, leaving out the planted tickets (of
    // fixed dates) and those typed with a date after the extraction.
    let year = |instant: i64| {
        chrono::DateTime::from_timestamp(instant - LIMA_OFFSET, 0)
            .unwrap()
            .format("%Y")
            .to_string()
    };
    let mut sold = BTreeMap::<(bool, String), i64>::new();
    for (id, fecha) in ids.iter().zip(seconds(&ventas, "fecha_venta")) {
        if *id > planted::LAST_TICKET && fecha < INITIAL {
            *sold
                .entry((*id > sizes_one.tickets, year(fecha)))
                .or_default() += 1;
        }
    }
    // The first half of the tickets sold in 2024, the second in 2025: the
    // second year sells what one year of history does.
    let years: Vec<_> = sold.keys().cloned().collect();
    assert_eq!(
        years,
        [(false, "2024".to_string()), (true, "2025".to_string())]
    );
    assert!(sold[&(true, "2025".to_string())] > sizes_one.tickets * 99 / 100);
}

#[tokio::test]
async fn same_seed_same_rows_other_seed_other_rows() {
    let (a, run_a) = generated(0.001, 7).await;
    let (b, run_b) = generated(0.001, 7).await;
    let (c, run_c) = generated(0.001, 8).await;
    for (i, manifest) in run_a.extractions.iter().enumerate() {
        assert_eq!(manifest, &run_b.extractions[i]);
        for table in crate::project::builtin::sources().unwrap().iter() {
            let table = table.name();
            let rows = read(a.path(), manifest, table);
            assert_eq!(
                rows,
                read(b.path(), &run_b.extractions[i], table),
                "{table}"
            );
        }
    }
    for table in ["tiendas", "clientes", "ventas", "detalle_ventas"] {
        let rows = read(a.path(), &run_a.extractions[0], table);
        assert_ne!(
            rows,
            read(c.path(), &run_c.extractions[0], table),
            "{table}"
        );
    }
}

#[tokio::test]
async fn manifests_are_published_and_match_the_files() {
    let (dir, summary) = generated(0.002, 42).await;
    let published = published_extractions(&lake_at(dir.path())).await.unwrap();
    assert_eq!(published, summary.extractions);
    assert_eq!(published[0].extraido, initial_extraction());
    assert_eq!(published[1].extraido, incremental_extraction());
    assert_eq!(published[0].extraido.to_string(), "20260102T060000Z");
    assert_eq!(published[1].extraido.to_string(), "20260103T060000Z");
    for manifest in &published {
        assert_eq!(manifest.source, "generate");
        assert_eq!(manifest.details["seed"], "42");
        assert_eq!(manifest.details["scale"], "0.002");
        assert_eq!(manifest.tables.len(), 5);
        for (table, raw) in &manifest.tables {
            let rows = read(dir.path(), manifest, table).num_rows() as u64;
            assert_eq!(raw.rows, rows, "{table}");
            assert_eq!(
                raw.files.iter().map(|f| f.rows).sum::<u64>(),
                rows,
                "{table}"
            );
            assert!(rows > 0, "{table} of {} is empty", manifest.extraido);
            let limit = manifest.extraido.instant().timestamp();
            let batch = read(dir.path(), manifest, table);
            assert!(
                seconds(&batch, "actualizado_en")
                    .iter()
                    .all(|&t| t <= limit),
                "{table}"
            );
        }
    }
}

#[tokio::test]
async fn a_rerun_leaves_nothing_of_the_previous_one() {
    let dir = TempDir::new().unwrap();
    let lake = lake_at(dir.path());
    let stray = format!(
        "{}part-00009.parquet",
        initial_extraction().folder("ventas")
    );
    lake.put_json(&stray, &"left by a bigger run")
        .await
        .unwrap();
    let summary = generate(
        &lake,
        &GenerateOptions {
            scale: 0.001,
            seed: 1,
            years: 1,
        },
    )
    .await
    .unwrap();
    let files = lake.list("raw/ventas/").await.unwrap();
    let listed: usize = summary
        .extractions
        .iter()
        .map(|m| m.tables["ventas"].files.len())
        .sum();
    assert_eq!(files.len(), listed);
    assert!(!dir.path().join(stray).exists());
}

/// Run with `cargo test --release -p dfstore-jobs --lib scale_one -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing: generates scale 1 (about 50 MB); run in release"]
async fn scale_one_takes_seconds() {
    let (_dir, summary) = generated(1.0, 42).await;
    let rows: u64 = summary.extractions[0].tables.values().map(|t| t.rows).sum();
    println!("scale 1: {rows} rows in E1 in {:.2?}", summary.elapsed);
    assert!(summary.elapsed.as_secs() < 60);
}
