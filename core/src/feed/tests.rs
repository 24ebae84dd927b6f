use std::sync::Arc;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::datasource::MemTable;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, collect};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext, col};
use datafusion_proto::physical_plan::AsExecutionPlan;
use datafusion_proto::protobuf::PhysicalPlanNode;
use prost::Message;

use super::{FedTable, FeedExec};
use crate::{LakeCodec, attempt};

fn lines_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("regla", DataType::Utf8, true),
    ]))
}

/// Lines 1..=10 in two partitions; every third line fails rule R1.
fn lines() -> Vec<Vec<RecordBatch>> {
    let batch = |ids: Vec<i64>| {
        let rules: StringArray = ids.iter().map(|id| (id % 3 == 0).then_some("R1")).collect();
        RecordBatch::try_new(
            lines_schema(),
            vec![Arc::new(Int64Array::from(ids)), Arc::new(rules)],
        )
        .unwrap()
    };
    vec![
        vec![batch(vec![1, 2, 3]), batch(vec![4, 5])],
        vec![batch(vec![6, 7, 8, 9, 10])],
    ]
}

/// A session in one partition whose table `lines` is the rows fed, and
/// `source` the same rows, stored, to feed.
fn readers_session() -> SessionContext {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(1));
    ctx.register_table("lines", Arc::new(FedTable::new(lines_schema())))
        .unwrap();
    ctx.register_table(
        "source",
        Arc::new(MemTable::try_new(lines_schema(), lines()).unwrap()),
    )
    .unwrap();
    ctx
}

/// The physical plan of `sql` in `ctx`.
async fn physical(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap()
}

/// The physical plan of a `COPY` of `query` over the fed lines into `folder`.
async fn write(ctx: &SessionContext, query: &str, folder: &str) -> Arc<dyn ExecutionPlan> {
    physical(
        ctx,
        &format!("COPY ({query}) TO '{folder}/' STORED AS PARQUET"),
    )
    .await
}

/// `plan` as the executors get it: encoded and decoded by the codec.
fn shipped(plan: Arc<dyn ExecutionPlan>, ctx: &TaskContext) -> Arc<dyn ExecutionPlan> {
    let codec = LakeCodec::default();
    let node = PhysicalPlanNode::try_from_physical_plan(plan, &codec).unwrap();
    let bytes = node.encode_to_vec();
    PhysicalPlanNode::decode(bytes.as_slice())
        .unwrap()
        .try_into_physical_plan(ctx, &codec)
        .unwrap()
}

async fn rows_in(ctx: &SessionContext, folder: &str) -> Vec<i64> {
    let batches = ctx
        .read_parquet(format!("{folder}/"), ParquetReadOptions::default())
        .await
        .unwrap()
        .select_columns(&["id"])
        .unwrap()
        .sort_by(vec![col("id")])
        .unwrap()
        .collect()
        .await
        .unwrap();
    batches
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
            ids.values().to_vec()
        })
        .collect()
}

#[tokio::test]
async fn each_task_writes_its_rows_with_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("trusted").display().to_string();
    let rejected = dir.path().join("rejected").display().to_string();
    let ctx = readers_session();
    let readers = vec![
        write(&ctx, "SELECT id FROM lines WHERE regla IS NULL", &trusted).await,
        write(
            &ctx,
            "SELECT id, regla FROM lines WHERE regla IS NOT NULL",
            &rejected,
        )
        .await,
    ];
    let input = physical(&ctx, "SELECT * FROM source").await;
    let feed: Arc<dyn ExecutionPlan> = Arc::new(FeedExec::try_new(input, readers).unwrap());
    let feed = shipped(feed, &ctx.task_ctx());
    assert_eq!(feed.output_partitioning().partition_count(), 2);

    let answer = collect(feed, ctx.task_ctx()).await.unwrap();
    // One row per task, naming the task's attempt.
    assert_eq!(answer.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    assert_eq!(FeedExec::totals(&answer), vec![10, 7, 3]);
    let attempts = attempt::answered(&answer);
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    // Each reader wrote under the attempts, nothing directly in its folder.
    assert_eq!(
        rows_in_attempts(&ctx, &trusted, &attempts).await,
        vec![1, 2, 4, 5, 7, 8, 10]
    );
    assert_eq!(
        rows_in_attempts(&ctx, &rejected, &attempts).await,
        vec![3, 6, 9]
    );
    for folder in [&trusted, &rejected] {
        let direct: Vec<_> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert_eq!(direct, [attempt::ATTEMPTS_DIR], "{folder}");
    }
}

/// The ids of the rows written under `folder` by `attempts`.
async fn rows_in_attempts(
    ctx: &SessionContext,
    folder: &str,
    attempts: &std::collections::BTreeSet<String>,
) -> Vec<i64> {
    let mut ids = Vec::new();
    for id in attempts {
        let written = format!("{folder}/{}/{id}", attempt::ATTEMPTS_DIR);
        if std::path::Path::new(&written).exists() {
            ids.extend(rows_in(ctx, &written).await);
        }
    }
    ids.sort_unstable();
    ids
}

#[tokio::test]
async fn a_failing_query_fails_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = dir.path().join("trusted").display().to_string();
    let ctx = readers_session();
    let readers = vec![write(&ctx, "SELECT id FROM lines WHERE regla IS NULL", &trusted).await];
    // Line 5 divides by zero while the rows are fed.
    let input = physical(
        &ctx,
        "SELECT id + 10 / (id - 5) - 10 / (id - 5) AS id, regla FROM source",
    )
    .await;
    let feed: Arc<dyn ExecutionPlan> = Arc::new(FeedExec::try_new(input, readers).unwrap());
    let err = collect(feed, ctx.task_ctx()).await.unwrap_err().to_string();
    assert!(err.contains("Divide by zero"), "{err}");
}

#[tokio::test]
async fn a_reader_reads_the_fed_rows_once() {
    let ctx = readers_session();
    let input = physical(&ctx, "SELECT * FROM source").await;
    let twice = physical(&ctx, "SELECT a.id FROM lines a JOIN lines b ON a.id = b.id").await;
    let err = FeedExec::try_new(input, vec![twice])
        .unwrap_err()
        .to_string();
    assert!(err.contains("one FedExec, not 2"), "{err}");
}
