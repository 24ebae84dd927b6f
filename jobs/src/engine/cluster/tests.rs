//! Tests of the cluster planner: addresses, and partitions sized to input.

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
/// target partitions and `per` bytes per partition, for a plan reading
/// 1/`share` of its files. Planning contacts no scheduler.
async fn cluster_plan(
    file: &std::path::Path,
    per: u64,
    share: usize,
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
    state.config_mut().set_extension(Arc::new(ScanShare(share)));
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
    // (bytes per partition, the plan's share of its files, partitions)
    let cases = [
        (size.div_ceil(5), 1, 5),
        (size * 10, 1, 2),
        (size.div_ceil(12), 3, 4),
    ];
    for (per, share, want) in cases {
        let sql = "SELECT k, count(*) FROM t GROUP BY k";
        let plan = cluster_plan(&file, per, share, sql).await;
        let mut found = Vec::new();
        hash_partitions(&plan, &mut found);
        assert_eq!(
            found,
            vec![want],
            "{size} bytes, {per} per partition, 1/{share} read"
        );
    }
}

#[tokio::test]
async fn a_plan_without_a_shuffle_keeps_the_sessions_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let (file, size) = parquet_file(dir.path());
    let sql = "SELECT k, v FROM t WHERE v % 3 = 0";
    let plan = cluster_plan(&file, size.div_ceil(5), 1, sql).await;
    let cluster = plan.downcast_ref::<ClusterExec>().unwrap();
    assert_eq!(cluster.plan.properties().partitioning.partition_count(), 2);
}
