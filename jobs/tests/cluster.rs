//! The same jobs on a real cluster: `dfstore-scheduler` and two
//! `dfstore-executor` processes on loopback. The report must equal the
//! embedded engine's row by row, the work must show up in the scheduler's
//! jobs and stages, a lost executor must cost time but not the run or its
//! answer, and an unreachable scheduler must fail cleanly.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::time::{Duration, Instant};

use common::cli::{TestLake, one_line, stdout_lines};
use common::cluster::{TestCluster, http};
use common::oracle::expected_from_lake;

const REPORT: &str = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";

/// Every published table, in a stable order, as CSV lines.
fn published(lake: &TestLake) -> Vec<(String, Vec<String>)> {
    let tables = [
        ("trusted.ventas", "id_venta"),
        ("rejected.ventas", "id_venta"),
        ("trusted.detalle_ventas", "id_venta, linea"),
        ("rejected.detalle_ventas", "id_venta, linea"),
        ("trusted.clientes", "id_cliente"),
        ("analytic.reporte_ventas_tienda", "fecha, id_tienda"),
    ];
    tables
        .iter()
        .map(|(t, key)| {
            // extraido and the run's own columns are the same raw values on
            // both engines; every column is compared.
            (
                t.to_string(),
                lake.csv(&format!("SELECT * FROM {t} ORDER BY {key}")),
            )
        })
        .collect()
}

fn two_lakes(scale: &str) -> (TestLake, TestLake) {
    let embedded = TestLake::new();
    let cluster = TestLake::new();
    for lake in [&embedded, &cluster] {
        lake.cmd(&["generate", "--scale", scale, "--seed", "11"])
            .assert()
            .success();
    }
    (embedded, cluster)
}

#[test]
fn a_cluster_run_publishes_what_the_embedded_engine_publishes() {
    let cluster = TestCluster::start(2, &[]);
    let (embedded, distributed) = two_lakes("0.004");
    embedded.cmd(&["run"]).assert().success();
    assert!(
        cluster.jobs().is_empty(),
        "the embedded run used the cluster"
    );

    distributed
        .cmd(&["run", "--scheduler", &cluster.url()])
        .assert()
        .success();

    // Every table, every row, every column.
    let want = published(&embedded);
    let got = published(&distributed);
    for ((table, w), (_, g)) in want.iter().zip(&got) {
        assert!(w.len() > 1, "{table} is empty: the test data is too small");
        assert_eq!(g, w, "{table} differs between cluster and embedded runs");
    }
    // Each run's manifest says where it ran.
    for (lake, engine) in [
        (&embedded, "embedded".to_string()),
        (&distributed, cluster.url()),
    ] {
        let runs = lake.path().join("logs/runs");
        let manifests: Vec<serde_json::Value> = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect();
        assert_eq!(manifests.len(), 1, "{}", runs.display());
        assert_eq!(manifests[0]["engine"], engine.as_str());
    }

    // And the report is the spec's.
    let expected = expected_from_lake(&distributed.path());
    let report = distributed.csv(REPORT);
    assert_eq!(report.len() - 1, expected.report.len());

    // The work ran as scheduler jobs: one per model written at least, all
    // completed, with multi-stage plans whose stages read real rows.
    let jobs = cluster.jobs();
    assert!(
        jobs.len() >= 13,
        "only {} jobs reached the scheduler",
        jobs.len()
    );
    assert!(jobs.iter().all(|j| j["status"] == "Completed"), "{jobs:#?}");
    let rows_through_stages: u64 = jobs
        .iter()
        .flat_map(|j| cluster.stages(j["job_id"].as_str().unwrap()))
        .map(|s| s["input_rows"].as_u64().unwrap_or(0))
        .sum();
    let raw_lines: u64 = distributed.csv("SELECT COUNT(*) FROM raw.detalle_ventas")[1]
        .parse()
        .unwrap();
    assert!(
        rows_through_stages > raw_lines,
        "executors processed {rows_through_stages} rows, fewer than the {raw_lines} raw lines"
    );
    assert!(
        jobs.iter()
            .any(|j| j["num_stages"].as_u64().unwrap_or(0) >= 2),
        "no job was split into stages: {jobs:#?}"
    );

    // Queries go through the cluster too, with the same answer.
    let before = cluster.jobs().len();
    let out = distributed
        .cmd(&[
            "sql",
            "--scheduler",
            &cluster.url(),
            "--format",
            "csv",
            REPORT,
        ])
        .output()
        .unwrap();
    let lines = stdout_lines(out);
    assert_eq!(lines, report);
    assert_eq!(cluster.jobs().len(), before + 1);

    // The scheduler's own metrics, in Prometheus text, count those jobs.
    let (status, metrics) = http(cluster.port, "GET", "/api/metrics").unwrap();
    assert_eq!(status, 200, "/api/metrics answered {status}: {metrics}");
    let completed: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("job_completed_total "))
        .unwrap_or_else(|| panic!("no job_completed_total in {metrics}"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(completed as usize, cluster.jobs().len(), "{metrics}");
}

#[test]
fn losing_one_executor_of_three_at_any_point_keeps_the_embedded_answer() {
    let mut cluster = TestCluster::start(3, &[]);
    let (embedded, distributed) = two_lakes("0.05");
    embedded.cmd(&["run"]).assert().success();
    let expected = published(&embedded);

    // An undisturbed run, which also counts the jobs a run submits.
    distributed
        .cmd(&["run", "--scheduler", &cluster.url()])
        .assert()
        .success();
    assert_eq!(published(&distributed), expected);
    let per_run = cluster.jobs().len();
    assert!(per_run >= 6, "a run submits a job per model: {per_run}");

    // One executor SIGKILLed as the first job, a middle one (the staging
    // and partitioned writes) and the last one (the report) start: every
    // run must succeed and publish exactly the embedded engine's tables.
    for (round, job) in [1, per_run / 2, per_run].into_iter().enumerate() {
        let before = cluster.jobs().len();
        let child = distributed
            .std_cmd(&["run", "--full-refresh", "--scheduler", &cluster.url()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        cluster.wait_for(
            |c| c.jobs().len() >= before + job,
            &format!("job {job} of the run"),
        );
        let victim = round % 3;
        cluster.kill_executor(victim);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "the run failed after executor {victim} was killed at job {job} of {per_run}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            published(&distributed),
            expected,
            "executor {victim} killed at job {job} of {per_run}"
        );
        cluster.restart_executor(victim);
    }
}

/// How long a run may take to fail once it has lost every executor or
/// its scheduler: the test cluster's scheduler gives up on a job 6 s after
/// its last executor is lost (`--executor-timeout-seconds 6`), and a job
/// that lost an executor is submitted at most twice more.
const FAILS_WITHIN: Duration = Duration::from_secs(45);

#[test]
fn losing_every_executor_or_the_scheduler_fails_in_bounded_time_and_keeps_the_last_version() {
    for lost in ["every executor", "the scheduler"] {
        let mut cluster = TestCluster::start(2, &[]);
        let lake = TestLake::new();
        lake.generate_and_run_with("0.02", "5", &["--scheduler", &cluster.url()]);
        let before = published(&lake);
        let jobs = cluster.jobs().len();

        let child = lake
            .std_cmd(&["run", "--full-refresh", "--scheduler", &cluster.url()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        cluster.wait_for(|c| c.jobs().len() >= jobs + 3, "the third job of the run");
        let at = Instant::now();
        if lost == "every executor" {
            cluster.kill_every_executor();
        } else {
            cluster.kill_scheduler();
        }
        let out = child.wait_with_output().unwrap();
        let took = at.elapsed();
        assert_eq!(out.status.code(), Some(1), "after losing {lost}");
        let line = one_line(&out.stderr);
        let names = if lost == "every executor" {
            "executor"
        } else {
            "scheduler"
        };
        assert!(line.contains(names), "losing {lost}: {line}");
        assert!(
            took < FAILS_WITHIN,
            "losing {lost}, the run took {took:?} to fail: {line}"
        );
        assert_eq!(
            published(&lake),
            before,
            "a run that lost {lost} changed what was published"
        );
    }
}

#[test]
fn a_job_that_makes_no_progress_fails_at_the_job_timeout_and_is_cancelled() {
    // A scheduler that waits ten minutes for a silent executor: it would
    // wait on the frozen one's tasks that long.
    let cluster = TestCluster::start_with(1, &[], 600);
    let lake = TestLake::new();
    lake.generate_and_run_with("0.005", "5", &["--scheduler", &cluster.url()]);
    let before = published(&lake);

    cluster.freeze_executor(0);
    let at = Instant::now();
    let out = lake
        .cmd(&["run", "--full-refresh", "--scheduler", &cluster.url()])
        .args(["--job-timeout", "3s"])
        .output()
        .unwrap();
    let took = at.elapsed();
    cluster.thaw_executor(0);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("timed out: it ran longer than --job-timeout 3s and was cancelled"),
        "{line}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}: {line}");
    // The scheduler records the job as failed once the executor, running
    // again, has been told to cancel its tasks; left alone, the thawed
    // tasks would have completed it. Nothing was published.
    let name = line
        .split_whitespace()
        .find(|w| w.starts_with("dfstore-"))
        .unwrap()
        .to_string();
    cluster.wait_for(
        |c| {
            c.jobs()
                .iter()
                .any(|j| j["job_name"] == name.as_str() && j["status"] == "Failed")
        },
        "the timed-out job to be cancelled",
    );
    assert_eq!(published(&lake), before);
}

#[test]
fn an_unreachable_scheduler_is_a_one_line_error() {
    let lake = TestLake::new();
    lake.cmd(&["generate", "--scale", "0.001"])
        .assert()
        .success();
    let port = common::cluster::free_port();
    let url = format!("df://127.0.0.1:{port}");
    let out = lake.cmd(&["run", "--scheduler", &url]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains(&url), "the error names the scheduler: {line}");
    assert!(
        !lake.path().join("trusted").exists(),
        "nothing is published"
    );

    let out = lake
        .cmd(&["sql", "--scheduler", "localhost:50050", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "a malformed address is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("df://HOST:PORT"));
}

/// A month of a few tickets on one day beside whole months, as an
/// incremental extraction after `source apply-changes` leaves it: its slice
/// of the report is about the size of the stores table, which is where
/// Ballista, given all months as one union, swapped a join in a stage of
/// another month ("Invalid HashJoinExec, partition count mismatch 0!=1").
#[test]
fn a_month_of_one_day_beside_whole_months_publishes_what_the_embedded_engine_publishes() {
    use common::rawlake::{DetalleVenta, Extraction, Venta};
    let cluster = TestCluster::start(2, &[]);
    let (embedded, distributed) = two_lakes("0.05");
    for lake in [&embedded, &distributed] {
        let stores: Vec<i32> = lake
            .csv("SELECT DISTINCT id_tienda FROM raw.tiendas ORDER BY id_tienda")[1..]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        // Six tickets sold on 2026-04-14, extracted the next morning.
        let mut night = Extraction::new("20260415T060000Z");
        for i in 0..6_usize {
            let id = 900_000_000 + i as i64;
            let store = stores[i % stores.len()];
            night
                .ventas
                .push(Venta::new(id, store, "2026-04-14T15:00:00Z"));
            night.detalle_ventas.push(DetalleVenta::new(
                id,
                1,
                1,
                2,
                1_000,
                "2026-04-14T15:00:00Z",
            ));
        }
        night.write(&lake.path());
    }
    embedded.cmd(&["run"]).assert().success();
    distributed
        .cmd(&["run", "--scheduler", &cluster.url()])
        .assert()
        .success();
    let month = "SELECT COUNT(*) FROM analytic.reporte_ventas_tienda WHERE periodo = '2026-04'";
    assert_ne!(
        distributed.csv(month)[1],
        "0",
        "the one-day month is in the report"
    );
    assert_eq!(published(&distributed), published(&embedded));
}
