//! Tests of the build phase: models built by month and by key range.

use super::*;
use crate::contract::layer::Layer;

use arrow::util::pretty::pretty_format_batches;
use datafusion::dataframe::DataFrame;

use crate::contract::layer::TableRef;
use crate::pipeline::batches::Slice;
use crate::project::Project;
use crate::project::header::Materialized;

/// A session with `trusted.ventas` (two months), `trusted.detalle` (the
/// same two months) and `trusted.tiendas` (no months).
async fn session() -> SessionContext {
    let ctx = SessionContext::new();
    for sql in [
        "CREATE SCHEMA trusted",
        "CREATE TABLE trusted.ventas (id INT, periodo VARCHAR) AS VALUES \
         (1, '2025-01'), (2, '2025-01'), (3, '2025-02')",
        "CREATE TABLE trusted.detalle (id INT, periodo VARCHAR) AS VALUES \
         (1, '2025-01'), (3, '2025-02'), (3, '2025-02')",
        "CREATE TABLE trusted.tiendas (id INT) AS VALUES (1), (2), (3)",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    ctx
}

/// A lake in a temporary folder, removed when the folder is dropped.
fn temp_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::TempDir::new().unwrap();
    let url = dfstore_core::LakeUrl::parse(dir.path().to_str().unwrap()).unwrap();
    let lake = Lake::open(url, &Default::default()).unwrap();
    (dir, lake)
}

/// `id` in three ranges: below 2, 2, 3 and above.
fn three_ranges() -> Batches {
    Batches::KeyRanges {
        column: "id".into(),
        ranges: batches::split_for_tests(1, 3, 3),
    }
}

/// The answer to `sql`, as a table.
async fn pretty(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

async fn rows(ctx: &SessionContext, sql: &str, period: &str) -> String {
    let tables = [
        TableRef::new(Layer::Trusted, "ventas"),
        TableRef::new(Layer::Trusted, "detalle"),
    ];
    let plan = ctx.sql(sql).await.unwrap().logical_plan().clone();
    let plan = batches::restrict_to_slice(plan, &tables, &Slice::month(period)).unwrap();
    let batches = DataFrame::new(ctx.state(), plan).collect().await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

#[tokio::test]
async fn a_month_reads_that_month_of_the_partitioned_tables_only() {
    let ctx = session().await;
    // Both sides of a join, under aliases and in a subquery, are
    // restricted; the table without months is read whole.
    let sql = "SELECT v.periodo, COUNT(*) AS lineas, \
               (SELECT COUNT(*) FROM trusted.ventas) AS ventas, \
               (SELECT COUNT(*) FROM trusted.tiendas) AS tiendas \
               FROM trusted.ventas AS v JOIN trusted.detalle AS d ON d.id = v.id \
               GROUP BY v.periodo";
    let january = rows(&ctx, sql, "2025-01").await;
    assert!(
        january.contains("| 2025-01 | 1      | 2      | 3       |"),
        "{january}"
    );
    assert!(!january.contains("2025-02"), "{january}");
    let february = rows(&ctx, sql, "2025-02").await;
    assert!(
        february.contains("| 2025-02 | 2      | 1      | 3       |"),
        "{february}"
    );
    let none = rows(&ctx, sql, "2030-01").await;
    assert!(!none.contains("20"), "{none}");
}

/// A table model of `layer`, `name` and `sql`, otherwise with defaults.
fn model(layer: Layer, name: &str, sql: &str) -> Model {
    Model {
        layer,
        name: name.into(),
        materialized: Materialized::Table,
        description: None,
        tags: Vec::new(),
        source: None,
        partitioned: false,
        by_period: false,
        day_column: None,
        by_key: None,
        cluster_key: None,
        unique_key: Vec::new(),
        warehouse: false,
        tests: Vec::new(),
        contract: None,
        file: "test".into(),
        path: "test".into(),
        sql: sql.into(),
        reads: Vec::new(),
    }
}

/// A model of `trusted.ventas` built by period, as `sql` says.
fn by_period(name: &str, sql: &str) -> Model {
    Model {
        partitioned: true,
        by_period: true,
        ..model(Layer::Analytic, name, sql)
    }
}

/// Builds `model` into `staging` of `lake`, registered in `ctx`.
async fn build_one(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &str,
    model: Model,
    batches: Option<Batches>,
) -> Result<(Step, Staged)> {
    let vars = Vars::default();
    let build = Build {
        ctx,
        lake,
        staging,
        vars: &vars,
        changes: None,
    };
    build_model(&build, Arc::new(model), batches).await
}

/// Builds `staging` fed to `readers`.
async fn build_fed_one(
    (ctx, lake, staging): (&SessionContext, &Lake, &str),
    model: (usize, &Model),
    readers: &[(usize, &Model)],
    batches: Option<Batches>,
) -> Result<Vec<(usize, (Step, Staged))>> {
    let vars = Vars::default();
    let build = Build {
        ctx,
        lake,
        staging,
        vars: &vars,
        changes: None,
    };
    let readers: Vec<(usize, Arc<Model>)> = readers
        .iter()
        .map(|(i, m)| (*i, Arc::new((*m).clone())))
        .collect();
    build_fed(
        &build,
        (model.0, Arc::new(model.1.clone())),
        &readers,
        batches,
    )
    .await
}

fn same_month() -> Model {
    by_period("mismo_mes", "SELECT id, periodo FROM trusted.ventas")
}

fn next_month() -> Model {
    by_period(
        "mes_siguiente",
        "SELECT id, CASE periodo WHEN '2025-01' THEN '2025-02' ELSE periodo END AS periodo \
         FROM trusted.ventas",
    )
}

#[tokio::test]
async fn a_model_built_by_period_writes_each_month_from_that_month() {
    let (_dir, lake) = temp_lake();
    let ctx = session().await;
    ctx.sql("CREATE SCHEMA analytic").await.unwrap();
    let batches = || Batches::Periods {
        tables: vec![TableRef::new(Layer::Trusted, "ventas")],
        slices: vec![Slice::month("2025-01"), Slice::month("2025-02")],
    };

    let (step, staged) = build_one(&ctx, &lake, "_staging/r/", same_month(), Some(batches()))
        .await
        .unwrap();
    assert_eq!(step.rows, 3);
    let months: Vec<_> = staged
        .files
        .iter()
        .map(|f| (f.period.clone(), f.rows))
        .collect();
    assert_eq!(
        months,
        [(Some("2025-01".into()), 2), (Some("2025-02".into()), 1)]
    );
    let read = pretty(
        &ctx,
        "SELECT COUNT(*) AS n FROM analytic.mismo_mes WHERE periodo = '2025-01'",
    )
    .await;
    assert!(read.contains("| 2 |"), "{read}");

    // January's batch writes February's folder: refused, naming the model.
    let built = build_one(&ctx, &lake, "_staging/r/", next_month(), Some(batches())).await;
    let Err(error) = built else {
        panic!("a batch that wrote another month was accepted")
    };
    let error = error.to_string();
    assert!(
        error.contains("analytic.mes_siguiente (test): built for periodo 2025-01"),
        "{error}"
    );
    assert!(error.contains("periodo=2025-02"), "{error}");
}

/// Rows per day, from a table with a day column: built by ranges of days.
fn daily() -> Model {
    Model {
        day_column: Some("fecha".into()),
        ..by_period(
            "diario",
            "SELECT fecha, COUNT(*) AS n, periodo FROM trusted.dias GROUP BY fecha, periodo",
        )
    }
}

#[tokio::test]
async fn a_month_built_by_ranges_of_days_takes_every_day_once() {
    let (_dir, lake) = temp_lake();
    let ctx = session().await;
    for sql in [
        "CREATE SCHEMA analytic",
        "CREATE TABLE trusted.dias (fecha DATE, periodo VARCHAR) AS VALUES \
         (DATE '2025-01-01', '2025-01'), (DATE '2025-01-15', '2025-01'), \
         (DATE '2025-01-15', '2025-01'), (DATE '2025-01-31', '2025-01'), \
         (NULL, '2025-01'), (DATE '2025-02-10', '2025-02')",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    // January in five ranges of days (the first also takes no day at all).
    let mut slices = batches::periods::slices("2025-01", 10, 2, Some("fecha"));
    assert_eq!(slices.len(), 5);
    slices.push(Slice::month("2025-02"));
    let batches = Batches::Periods {
        tables: vec![TableRef::new(Layer::Trusted, "dias")],
        slices,
    };
    let (step, _) = build_one(&ctx, &lake, "_staging/r/", daily(), Some(batches))
        .await
        .unwrap();
    assert_eq!(step.rows, 5);
    let read = pretty(
        &ctx,
        "SELECT periodo, CAST(fecha AS VARCHAR) AS fecha, n FROM analytic.diario \
         ORDER BY periodo, fecha NULLS FIRST",
    )
    .await;
    let expected = [
        "+---------+------------+---+",
        "| periodo | fecha      | n |",
        "+---------+------------+---+",
        "| 2025-01 |            | 1 |",
        "| 2025-01 | 2025-01-01 | 1 |",
        "| 2025-01 | 2025-01-15 | 2 |",
        "| 2025-01 | 2025-01-31 | 1 |",
        "| 2025-02 | 2025-02-10 | 1 |",
        "+---------+------------+---+",
    ];
    assert_eq!(read, expected.join("\n"));
}

/// A model of lines joined to their headers on `id`, built by key.
fn lines() -> Model {
    Model {
        partitioned: true,
        by_key: Some("id".into()),
        ..model(
            Layer::Analytic,
            "lineas",
            "SELECT d.id, COALESCE(v.periodo, 'ninguno') AS periodo, \
             (SELECT COUNT(*) FROM trusted.ventas) AS ventas, \
             (SELECT COUNT(*) FROM trusted.canales) AS canales \
             FROM trusted.detalle AS d LEFT JOIN trusted.ventas AS v ON v.id = d.id",
        )
    }
}

#[tokio::test]
async fn a_model_built_by_key_range_reads_each_range_of_every_keyed_table() {
    let (_dir, lake) = temp_lake();
    let ctx = session().await;
    ctx.sql("CREATE SCHEMA analytic").await.unwrap();
    // Three ranges: id < 2, 2 <= id < 3, id >= 3; a line of id 9 (no
    // header) falls in the last, open range.
    for sql in [
        "INSERT INTO trusted.detalle VALUES (9, '2025-02')",
        "CREATE TABLE trusted.canales (nombre VARCHAR) AS VALUES ('TIENDA'), ('WEB')",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let ranges = batches::split_for_tests(1, 3, 3);
    assert_eq!(ranges.len(), 3);
    let by_key = Batches::KeyRanges {
        column: "id".into(),
        ranges,
    };
    let (step, staged) = build_one(&ctx, &lake, "_staging/k/", lines(), Some(by_key))
        .await
        .unwrap();
    // Every line once, with its header's month; one set of files per range.
    assert_eq!(step.rows, 4);
    assert_eq!(staged.files.len(), 3, "{:?}", staged.files);
    let read = pretty(
        &ctx,
        "SELECT id, periodo, ventas, canales FROM analytic.lineas ORDER BY id, periodo",
    )
    .await;
    // Within a range, the subquery counts that range's headers only;
    // the table without the key is read whole.
    for row in [
        "| 1  | 2025-01 | 1      | 2       |",
        "| 3  | 2025-02 | 1      | 2       |",
        "| 9  | ninguno | 1      | 2       |",
    ] {
        assert!(read.contains(row), "{read}");
    }
    assert_eq!(read.matches("| 3  | 2025-02 |").count(), 2, "{read}");
}

#[test]
fn trusted_and_rejected_are_fed_from_staging() {
    let project = Project::builtin().unwrap();
    let models = &project.models;
    let reads: Vec<Vec<usize>> = models.iter().map(|m| m.reads_in(models)).collect();
    let fed = fed_from(models, &reads);
    for (i, model) in models.iter().enumerate() {
        let staging = models
            .iter()
            .position(|m| m.layer == Layer::Staging && m.name == model.name);
        match model.layer {
            Layer::Trusted | Layer::Rejected => {
                assert_eq!(fed[i], staging, "{}", model.file);
            }
            _ => assert_eq!(fed[i], None, "{}", model.file),
        }
    }
}

/// A staging model of the lines with a rule.
fn staged_lines() -> Model {
    Model {
        layer: Layer::Staging,
        sql: "SELECT d.id, d.periodo, CASE WHEN d.id > 2 THEN 'id_alto' END AS regla \
              FROM trusted.detalle AS d"
            .into(),
        ..lines()
    }
}
/// The models that split it.
fn good_lines() -> Model {
    Model {
        layer: Layer::Trusted,
        by_key: None,
        sql: "SELECT id, periodo FROM staging.lineas WHERE regla IS NULL".into(),
        ..lines()
    }
}
fn bad_lines() -> Model {
    Model {
        layer: Layer::Rejected,
        sql: "SELECT id, periodo, regla FROM staging.lineas WHERE regla IS NOT NULL".into(),
        ..good_lines()
    }
}
/// A reader that fails on the rows it is fed.
fn failing_reader() -> Model {
    Model {
        sql: "SELECT id, periodo, CAST(regla AS INT) AS regla FROM staging.lineas \
              WHERE regla IS NOT NULL"
            .into(),
        ..bad_lines()
    }
}
/// The same lines, of which one fails while the query runs.
fn broken_lines() -> Model {
    Model {
        sql: "SELECT d.id, d.periodo, \
              CAST(CASE WHEN d.id > 2 THEN 'x' ELSE '1' END AS INT) AS regla \
              FROM trusted.detalle AS d"
            .into(),
        ..staged_lines()
    }
}

#[tokio::test]
async fn a_staging_model_feeds_its_readers_without_being_stored() {
    let (dir, lake) = temp_lake();
    let ctx = session().await;
    for sql in [
        "CREATE SCHEMA rejected",
        "INSERT INTO trusted.detalle VALUES (9, '2025-02')",
    ] {
        ctx.sql(sql).await.unwrap().collect().await.unwrap();
    }
    let (good, bad) = (good_lines(), bad_lines());
    let readers = [(1, &good), (2, &bad)];
    let built = build_fed_one(
        (&ctx, &lake, "_staging/f/"),
        (0, &staged_lines()),
        &readers,
        Some(three_ranges()),
    )
    .await
    .unwrap();
    let summary: Vec<_> = built
        .iter()
        .map(|(i, (step, staged))| (*i, step.table.clone(), step.rows, staged.files.len()))
        .collect();
    // Four lines went through staging, which stored nothing; the lines
    // of every range reached both readers.
    assert_eq!(summary[0], (0, "staging.lineas".into(), 4, 0));
    assert_eq!(
        (summary[1].0, summary[1].1.as_str(), summary[1].2),
        (1, "trusted.lineas", 1)
    );
    assert_eq!(
        (summary[2].0, summary[2].1.as_str(), summary[2].2),
        (2, "rejected.lineas", 3)
    );
    assert!(!dir.path().join("_staging/f/staging").exists());
    let read = pretty(
        &ctx,
        "SELECT regla, COUNT(*) AS n, SUM(id) AS ids FROM rejected.lineas GROUP BY regla",
    )
    .await;
    assert!(read.contains("| id_alto | 3 | 15  |"), "{read}");

    // A failure of the staging query fails the build, naming the model,
    // and no reader waits for rows that will not come.
    let error = fed_error(&ctx, &lake, &broken_lines(), &readers).await;
    assert!(error.starts_with("staging.lineas (test)"), "{error}");
    assert!(error.contains("'x'"), "{error}");

    // A reader that fails fails the build, naming the reader.
    let failing = failing_reader();
    let readers = [(1, &good), (2, &failing)];
    let error = fed_error(&ctx, &lake, &staged_lines(), &readers).await;
    assert!(error.starts_with("rejected.lineas (test)"), "{error}");
    assert!(error.contains("id_alto"), "{error}");
}

/// The error of building `staging` and its `readers` in three ranges of
/// `id`, which must fail.
async fn fed_error(
    ctx: &SessionContext,
    lake: &Lake,
    staging: &Model,
    readers: &[(usize, &Model)],
) -> String {
    let ranges = Batches::KeyRanges {
        column: "id".into(),
        ranges: batches::split_for_tests(1, 3, 3),
    };
    let built = build_fed_one(
        (ctx, lake, "_staging/e/"),
        (0, staging),
        readers,
        Some(ranges),
    )
    .await;
    match built {
        Ok(_) => panic!("{} and its readers were built", staging.table()),
        Err(e) => e.to_string(),
    }
}
