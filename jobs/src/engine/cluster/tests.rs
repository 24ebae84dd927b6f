//! Tests of the cluster planner: addresses, and partitions sized to input.

use super::failure::{cluster_error, lost_executor};
use super::*;

#[test]
fn scheduler_addresses_parse() {
    let s: Scheduler = "df://localhost:50050".parse().unwrap();
    assert_eq!(s.endpoint(), "http://localhost:50050");
    assert_eq!(s.to_string(), "df://localhost:50050");
    for bad in [
        "localhost:50050",
        "df://localhost",
        "df://:1",
        "df://h:0",
        "http://h:1",
    ] {
        let err = bad.parse::<Scheduler>().unwrap_err();
        assert!(err.contains("df://HOST:PORT"), "{bad}: {err}");
    }
}

#[test]
fn a_failure_names_the_lost_executor_not_the_scheduler() {
    let scheduler: Scheduler = "df://127.0.0.1:50050".parse().unwrap();
    let refused = |port: u16| {
        format!(
            "Execution error: GrpcConnectionError(\"Error connecting to Ballista scheduler or executor at http://127.0.0.1:{port}: tonic::transport::Error(Transport, ConnectError(ConnectError(\\\"tcp connect error\\\", 127.0.0.1:{port}, Os {{ code: 111, kind: ConnectionRefused, message: \\\"Connection refused\\\" }})))\")"
        )
    };
    assert_eq!(
        lost_executor(&scheduler, &refused(40345)).as_deref(),
        Some("the executor at 127.0.0.1:40345")
    );
    assert_eq!(lost_executor(&scheduler, &refused(50050)), None);
    let fetch = "External error: Shuffle fetch partition error from Executor c0c2e89c-442d-4f0b, map_stage 2, map_partition 0, error desc: connection closed";
    assert_eq!(
        lost_executor(&scheduler, fetch).as_deref(),
        Some("executor c0c2e89c-442d-4f0b")
    );
    let sql = "Error during planning: table 'raw.x' not found";
    assert_eq!(lost_executor(&scheduler, sql), None);
    let during = "External error: executor 5f1e-9a at 127.0.0.1:40345 lost while the job ran: its answer may name a task's rows twice, so none of it was committed";
    assert_eq!(
        lost_executor(&scheduler, during).as_deref(),
        Some("executor 5f1e-9a at 127.0.0.1:40345")
    );
    let executor = DataFusionError::Execution(refused(40345));
    let named = cluster_error(&scheduler, &executor, true).to_string();
    assert!(
        named.contains("lost the executor at 127.0.0.1:40345"),
        "{named}"
    );
    // A scheduler that no longer answers is named whatever the message.
    let gone = cluster_error(&scheduler, &executor, false).to_string();
    assert!(
        gone.contains("cannot reach the scheduler at df://127.0.0.1:50050"),
        "{gone}"
    );
    let own = DataFusionError::Execution(refused(50050));
    let own = cluster_error(&scheduler, &own, false).to_string();
    assert!(own.contains("(connection refused)"), "{own}");
}

#[test]
fn partitions_grow_with_the_input_within_bounds() {
    assert_eq!(partitions_for(0, 32 << 20, 2), 2);
    assert_eq!(partitions_for(100 << 20, 32 << 20, 2), 4);
    assert_eq!(partitions_for(100 << 20, 32 << 20, 8), 8);
    assert_eq!(partitions_for(u64::MAX, 1, 2), MAX_PARTITIONS);
    assert_eq!(partitions_for(u64::MAX, 1, 1000), 1000);
}

/// Hash partition counts of the repartitions in `plan`.
fn hash_partitions(plan: &Arc<dyn ExecutionPlan>, found: &mut Vec<usize>) {
    if let Some(r) = plan.downcast_ref::<datafusion::physical_plan::repartition::RepartitionExec>()
        && let Partitioning::Hash(_, n) = r.partitioning()
    {
        found.push(*n);
    }
    for child in plan.children() {
        hash_partitions(child, found);
    }
}

/// A Parquet file of 200,000 rows `(k, v)` in `dir`, and its size.
fn parquet_file(dir: &std::path::Path) -> (std::path::PathBuf, u64) {
    let file = dir.join("t.parquet");
    let values: Vec<i64> = (0..200_000).collect();
    let keys: Vec<i64> = values.iter().map(|v| v % 97).collect();
    let batch = RecordBatch::try_from_iter([
        ("k", Arc::new(arrow::array::Int64Array::from(keys)) as _),
        ("v", Arc::new(arrow::array::Int64Array::from(values)) as _),
    ])
    .unwrap();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        None,
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let size = std::fs::metadata(&file).unwrap().len();
    (file, size)
}

/// `sql` over the file as table `t`, planned by a cluster session of 2
/// target partitions and `per` bytes per partition. Planning contacts no
/// scheduler.
async fn cluster_plan(file: &std::path::Path, per: u64, sql: &str) -> Arc<dyn ExecutionPlan> {
    cluster_plan_with(file, per, |_| {}, sql).await
}

/// `sql` over the file as table `t`, planned by a cluster session of 2
/// target partitions and `per` bytes per partition, in the session `with`
/// makes of it. Planning contacts no scheduler.
async fn cluster_plan_with(
    file: &std::path::Path,
    per: u64,
    with: impl FnOnce(&mut SessionState),
    sql: &str,
) -> Arc<dyn ExecutionPlan> {
    use crate::engine::{EngineConfig, session};
    let dir = tempfile::tempdir().unwrap();
    let url = dfstore_core::LakeUrl::parse(dir.path().to_str().unwrap()).unwrap();
    let lake = crate::lake::Lake::open(url, &Default::default()).unwrap();
    let config = EngineConfig {
        target_partitions: 2,
        scheduler: Some("df://127.0.0.1:1".parse().unwrap()),
        partition_bytes: per,
        ..EngineConfig::default()
    };
    let ctx = session(&lake, &config, None).unwrap();
    ctx.register_parquet("t", file.to_str().unwrap(), Default::default())
        .await
        .unwrap();
    let query = ctx.sql(sql).await.unwrap();
    let mut state = ctx.state();
    with(&mut state);
    let plan = datafusion::dataframe::DataFrame::new(state, query.logical_plan().clone())
        .create_physical_plan()
        .await
        .unwrap();
    assert!(plan.is::<ClusterExec>(), "{}", plan.name());
    plan
}

#[tokio::test]
async fn a_plan_that_shuffles_gets_a_partition_per_partition_size_of_input() {
    let dir = tempfile::tempdir().unwrap();
    let (file, size) = parquet_file(dir.path());
    // (bytes per partition, partitions)
    let cases = [
        (size.div_ceil(5), 5),
        (size * 10, 2),
        (size.div_ceil(12), 12),
    ];
    for (per, want) in cases {
        let sql = "SELECT k, count(*) FROM t GROUP BY k";
        let plan = cluster_plan(&file, per, sql).await;
        let mut found = Vec::new();
        hash_partitions(&plan, &mut found);
        assert_eq!(found, vec![want], "{size} bytes, {per} per partition");
    }
}

#[tokio::test]
async fn a_plan_without_a_shuffle_keeps_the_sessions_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (file, size) = parquet_file(dir.path());
    let sql = "SELECT k, v FROM t WHERE v % 3 = 0";
    let plan = cluster_plan(&file, size.div_ceil(5), sql).await;
    let cluster = plan.downcast_ref::<ClusterExec>().unwrap();
    assert_eq!(cluster.plan.properties().partitioning.partition_count(), 2);
}

/// Whether `plan` has a node for which `found` holds.
fn any_node(
    plan: &Arc<dyn ExecutionPlan>,
    found: &dyn Fn(&Arc<dyn ExecutionPlan>) -> bool,
) -> bool {
    found(plan) || plan.children().into_iter().any(|c| any_node(c, found))
}

#[tokio::test]
async fn a_one_task_plan_runs_each_branch_of_its_union_without_a_shuffle_or_broadcast() {
    use datafusion::physical_plan::joins::{HashJoinExec, NestedLoopJoinExec, PartitionMode};
    use datafusion::physical_plan::union::UnionExec;
    let dir = tempfile::tempdir().unwrap();
    let (file, size) = parquet_file(dir.path());
    // The shape of the staging models: the keys of later rows (against a
    // scalar subquery), rows without such a key as they are, the others
    // reduced per key, and a small table joined to the union of the two.
    let sql = "WITH small AS (SELECT DISTINCT k FROM t WHERE k < 10), \
        rep AS (SELECT DISTINCT k FROM t WHERE v > (SELECT MIN(v) FROM t WHERE k > 3)), \
        latest AS ( \
            SELECT t.k, t.v FROM rep RIGHT ANTI JOIN t ON rep.k = t.k \
            UNION ALL \
            SELECT t.k, MAX(t.v) FROM rep RIGHT SEMI JOIN t ON rep.k = t.k GROUP BY t.k) \
        SELECT l.k, l.v, s.k AS known FROM small AS s RIGHT JOIN latest AS l ON s.k = l.k";
    let plan = cluster_plan_with(
        &file,
        size,
        |state| {
            state.config_mut().options_mut().execution.target_partitions = 1;
            state.config_mut().set_extension(Arc::new(OneTask));
            // As the models run: their joins in the order written.
            state.config_mut().options_mut().optimizer.join_reordering = false;
        },
        sql,
    )
    .await;
    let cluster = plan.downcast_ref::<ClusterExec>().unwrap();
    let union = cluster.plan.downcast_ref::<UnionExec>();
    assert!(
        union.is_some_and(|u| u.inputs().len() == 2),
        "the union is on top:\n{}",
        displayed(&cluster.plan)
    );
    assert_eq!(cluster.plan.properties().partitioning.partition_count(), 2);
    let collect_left = any_node(&cluster.plan, &|p| {
        p.downcast_ref::<HashJoinExec>()
            .is_some_and(|j| *j.partition_mode() == PartitionMode::CollectLeft)
    });
    assert!(
        !collect_left,
        "no join left to broadcast:\n{}",
        displayed(&cluster.plan)
    );
    let holds_rows = any_node(&cluster.plan, &|p| {
        p.downcast_ref::<NestedLoopJoinExec>()
            .is_some_and(|j| !one_task_holds_one_row(j.left()))
    });
    assert!(
        !holds_rows,
        "a nested-loop join holds the single row:\n{}",
        displayed(&cluster.plan)
    );
    let nested_loop = |p: &Arc<dyn ExecutionPlan>| p.is::<NestedLoopJoinExec>();
    let partitioned = |p: &Arc<dyn ExecutionPlan>| {
        p.downcast_ref::<HashJoinExec>()
            .is_some_and(|j| *j.partition_mode() == PartitionMode::Partitioned)
    };
    assert!(any_node(&cluster.plan, &nested_loop) && any_node(&cluster.plan, &partitioned));
    assert!(!shuffles(&cluster.plan));
    let ballista = cluster.config.ballista_config();
    assert!(!ballista.adaptive_query_planner_enabled());
    assert_eq!(ballista.broadcast_join_threshold_bytes(), 0);
}

/// Whether `plan` is an aggregate without groups.
fn one_task_holds_one_row(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<datafusion::physical_plan::aggregates::AggregateExec>()
        .is_some_and(|a| a.group_expr().is_empty())
}

/// The indented display of `plan`, for failures.
fn displayed(plan: &Arc<dyn ExecutionPlan>) -> String {
    datafusion::physical_plan::displayable(plan.as_ref())
        .indent(false)
        .to_string()
}
