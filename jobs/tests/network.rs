//! A cluster on a network rather than loopback: each executor in a network
//! namespace of its own, joined to the scheduler and the client by a veth
//! pair on one bridge. Mid-run, one executor is partitioned from all the
//! others by taking its link down: no process dies and no connection is
//! refused, its packets just stop. The run must then succeed with the
//! embedded engine's tables, or fail within a bound with one line, and
//! never hang. Needs root (`ip netns`), as the test suite runs in CI.

// Tests may unwrap; long tests read as one story.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::{TEST_KEY, TestLake, one_line};
use common::cluster::{bin, free_port, http};

/// How long a partitioned run may take, from the partition to its end,
/// before it counts as hung: the scheduler expires a silent executor after
/// 6 s here, and a job that lost one is submitted at most twice more.
const BOUND: Duration = Duration::from_secs(120);

const EXECUTORS: usize = 3;

/// `ip …`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {}: {} (this test needs root and `ip netns`, as in CI)",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// The namespaces, veth pairs and bridge of one test; removed when dropped.
struct Network {
    tag: String,
    subnet: String,
}

impl Network {
    fn new() -> Self {
        let tag = format!("{}", std::process::id() % 100_000);
        let subnet = format!("10.231.{}", std::process::id() % 250);
        let net = Network { tag, subnet };
        let bridge = net.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&[
            "addr",
            "add",
            &format!("{}.1/24", net.subnet),
            "dev",
            &bridge,
        ]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 0..EXECUTORS {
            let (ns, host, inner) = (net.ns(i), net.host_end(i), net.inner_end(i));
            ip(&["netns", "add", &ns]);
            ip(&["link", "add", &host, "type", "veth", "peer", "name", &inner]);
            ip(&["link", "set", &inner, "netns", &ns]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", net.executor_ip(i)),
                "dev",
                &inner,
            ]);
            ip(&["-n", &ns, "link", "set", &inner, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
            ip(&["link", "set", &host, "master", &bridge]);
            ip(&["link", "set", &host, "up"]);
        }
        net
    }

    fn bridge(&self) -> String {
        format!("dfbr{}", self.tag)
    }
    fn ns(&self, i: usize) -> String {
        format!("dfns{}-{i}", self.tag)
    }
    fn host_end(&self, i: usize) -> String {
        format!("dfh{}-{i}", self.tag)
    }
    fn inner_end(&self, i: usize) -> String {
        format!("dfe{}-{i}", self.tag)
    }
    fn scheduler_ip(&self) -> String {
        format!("{}.1", self.subnet)
    }
    fn executor_ip(&self, i: usize) -> String {
        format!("{}.{}", self.subnet, 10 + i)
    }

    /// Cuts executor `i` off: its link goes down, its packets stop.
    fn partition(&self, i: usize) {
        ip(&["link", "set", &self.host_end(i), "down"]);
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for i in 0..EXECUTORS {
            let _ = Command::new("ip")
                .args(["link", "del", &self.host_end(i)])
                .status();
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge()])
            .status();
    }
}

/// Processes killed when dropped.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn spawn(cmd: &mut Command, log: &Path) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.env("DFSTORE_PII_KEY", TEST_KEY)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

fn executors_registered(port: u16) -> usize {
    http(port, "GET", "/api/executors")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn jobs(port: u16) -> usize {
    http(port, "GET", "/api/jobs")
        .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
        .and_then(|v| v.as_array().map(Vec::len))
        .unwrap_or(0)
}

fn wait_for(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const TABLES: [(&str, &str); 5] = [
    ("trusted.ventas", "id_venta"),
    ("rejected.ventas", "id_venta"),
    ("trusted.detalle_ventas", "id_venta, linea"),
    ("rejected.detalle_ventas", "id_venta, linea"),
    ("analytic.reporte_ventas_tienda", "fecha, id_tienda"),
];

fn published(lake: &TestLake) -> Vec<Vec<String>> {
    TABLES
        .iter()
        .map(|(t, key)| lake.csv(&format!("SELECT * FROM {t} ORDER BY {key}")))
        .collect()
}

#[test]
fn an_executor_partitioned_mid_run_costs_time_not_the_answer() {
    let net = Network::new();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut processes = Processes(Vec::new());
    processes.0.push(spawn(
        Command::new(bin("dfstore-scheduler"))
            .args([
                "--bind-host",
                "0.0.0.0",
                "--external-host",
                &net.scheduler_ip(),
            ])
            .args(["--bind-port", &port.to_string()])
            .args(["--executor-timeout-seconds", "6"])
            .args(["--expire-dead-executor-interval-seconds", "1"]),
        &dir.path().join("scheduler.log"),
    ));
    wait_for("the scheduler", || {
        http(port, "GET", "/api/state").is_some()
    });
    for i in 0..EXECUTORS {
        let work = dir.path().join(format!("work-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let address = net.executor_ip(i);
        processes.0.push(spawn(
            Command::new("ip")
                .args(["netns", "exec", &net.ns(i)])
                .arg(bin("dfstore-executor"))
                .args(["--bind-host", &address, "--external-host", &address])
                .args(["--scheduler-host", &net.scheduler_ip()])
                .args(["--scheduler-port", &port.to_string()])
                .args(["--bind-port", "50051", "--bind-grpc-port", "50052"])
                .args(["--bind-health-port", "50053", "--vcores", "2"])
                .args(["--executor-heartbeat-interval-seconds", "2"])
                .arg("--work-dir")
                .arg(&work),
            &dir.path().join(format!("executor-{i}.log")),
        ));
    }
    wait_for("every executor to register", || {
        executors_registered(port) == EXECUTORS
    });

    let embedded = TestLake::new();
    let distributed = TestLake::new();
    for lake in [&embedded, &distributed] {
        lake.cmd(&["generate", "--scale", "0.05", "--seed", "11"])
            .assert()
            .success();
    }
    embedded.cmd(&["run"]).assert().success();
    let scheduler = format!("df://{}:{port}", net.scheduler_ip());
    distributed
        .cmd(&["run", "--scheduler", &scheduler])
        .assert()
        .success();
    assert_eq!(published(&distributed), published(&embedded));
    let before = published(&distributed);
    let per_run = jobs(port);

    let mut child = distributed
        .std_cmd(&["run", "--full-refresh", "--scheduler", &scheduler])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the middle job of the run", || {
        jobs(port) >= per_run + per_run / 2
    });
    net.partition(1);
    let cut = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if cut.elapsed() > BOUND {
            let _ = child.kill();
            panic!(
                "the run hung: still running {BOUND:?} after executor 1 was partitioned; logs in {}",
                dir.keep().display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    if status.success() {
        assert_eq!(
            published(&distributed),
            published(&embedded),
            "a run that lost an executor to a partition published other tables"
        );
    } else {
        assert_eq!(status.code(), Some(1));
        let line = one_line(&out.stderr);
        assert!(
            line.contains("executor") || line.contains("scheduler"),
            "{line}"
        );
        assert_eq!(published(&distributed), before, "a failed run published");
    }
    eprintln!(
        "partitioned run: {} after {:?}",
        if status.success() {
            "succeeded"
        } else {
            "failed"
        },
        cut.elapsed()
    );
}
