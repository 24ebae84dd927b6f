//! A real dfstore cluster for tests: the `dfstore-scheduler` and
//! `dfstore-executor` binaries on free loopback ports, their logs in a
//! temporary folder, stopped when dropped.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::TEST_KEY;

/// Where cargo put the workspace's binaries (next to `dfstore`).
pub fn bin(name: &str) -> PathBuf {
    let dfstore = assert_cmd::cargo::cargo_bin("dfstore");
    let path = dfstore.with_file_name(name);
    assert!(
        path.exists(),
        "{} is missing: build the cluster binaries first with `cargo build --release --workspace --bins` and test with `--release` (deploy/local/test.sh does)",
        path.display()
    );
    path
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 request to a loopback server: status and body (chunked
/// bodies joined); `None` when nothing answers.
pub fn http(port: u16, method: &str, path: &str) -> Option<(u16, String)> {
    http_with(port, method, path, &[])
}

/// [`http`] with extra request headers.
pub fn http_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    Some((status, body))
}

/// One scheduler and its executors.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub port: u16,
    scheduler: Child,
    executors: Vec<Option<Child>>,
    /// Each executor's flight port, as the scheduler lists it.
    ports: Vec<u16>,
    env: Vec<(String, String)>,
}

impl TestCluster {
    /// Starts a scheduler and `executors` executors with `env` (plus the test
    /// key), and waits until every executor has registered.
    pub fn start(executors: usize, env: &[(&str, &str)]) -> Self {
        // A dead executor is noticed within seconds, not minutes.
        Self::start_with(executors, env, 6)
    }

    /// [`Self::start`] with a scheduler that declares an executor dead
    /// after `executor_timeout` seconds without a heartbeat.
    pub fn start_with(executors: usize, env: &[(&str, &str)], executor_timeout: u32) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let scheduler = spawn(
            Command::new(bin("dfstore-scheduler"))
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &port.to_string()])
                .args(["--executor-timeout-seconds", &executor_timeout.to_string()])
                .args(["--expire-dead-executor-interval-seconds", "1"]),
            &logs.join("scheduler.log"),
            env,
        );
        let mut cluster = TestCluster {
            dir,
            port,
            scheduler,
            executors: Vec::new(),
            ports: vec![0; executors],
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        };
        cluster.wait_for(|c| c.get("/api/state").is_some(), "the scheduler to answer");
        for i in 0..executors {
            let child = cluster.spawn_executor(i);
            cluster.executors.push(Some(child));
        }
        // An executor whose free port another test took in the meantime
        // exits at once; it is started again on fresh ports.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut restarts = 0;
        while cluster.live_executors() != executors {
            for i in 0..executors {
                let exited = cluster.executors[i]
                    .as_mut()
                    .is_some_and(|c| c.try_wait().unwrap().is_some());
                if exited {
                    let log = cluster.dir.path().join(format!("logs/executor-{i}.log"));
                    assert!(
                        restarts < 3,
                        "executor {i} keeps exiting; its log:\n{}",
                        std::fs::read_to_string(log).unwrap_or_default()
                    );
                    restarts += 1;
                    let _ = std::fs::rename(&log, log.with_extension(format!("log.{restarts}")));
                    cluster.executors[i] = Some(cluster.spawn_executor(i));
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for every executor to register; scheduler log:\n{}",
                cluster.scheduler_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Starts executor `i` on free ports, its log in `logs/executor-<i>.log`.
    fn spawn_executor(&mut self, i: usize) -> Child {
        let work = self.dir.path().join(format!("work-{i}"));
        std::fs::create_dir_all(&work).unwrap();
        let port = free_port();
        self.ports[i] = port;
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        spawn(
            Command::new(bin("dfstore-executor"))
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--scheduler-host", "127.0.0.1"])
                .args(["--scheduler-port", &self.port.to_string()])
                .args(["--bind-port", &port.to_string()])
                .args(["--bind-grpc-port", &free_port().to_string()])
                .args(["--bind-health-port", &free_port().to_string()])
                .args(["--vcores", "2"])
                .args(["--executor-heartbeat-interval-seconds", "2"])
                .arg("--work-dir")
                .arg(&work),
            &self.dir.path().join(format!("logs/executor-{i}.log")),
            &env,
        )
    }

    /// Starts executor `i` again after [`Self::kill_executor`], and waits
    /// until the scheduler lists it and no longer lists the dead one.
    pub fn restart_executor(&mut self, i: usize) {
        let dead = self.ports[i];
        let child = self.spawn_executor(i);
        self.executors[i] = Some(child);
        let live = self.ports.clone();
        self.wait_for(
            |c| {
                let listed: Vec<u16> = c
                    .get("/api/executors")
                    .and_then(|v| v.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|e| e["port"].as_u64())
                    .filter_map(|p| u16::try_from(p).ok())
                    .collect();
                !listed.contains(&dead) && live.iter().all(|p| listed.contains(p))
            },
            "the restarted executor to register and the dead one to expire",
        );
    }

    /// `df://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    /// GET on the scheduler's REST API, as JSON; `None` when it does not answer.
    pub fn get(&self, path: &str) -> Option<serde_json::Value> {
        match http(self.port, "GET", path)? {
            (200, body) => serde_json::from_str(&body).ok(),
            _ => None,
        }
    }

    /// Executors the scheduler currently knows.
    pub fn live_executors(&self) -> usize {
        self.get("/api/executors")
            .and_then(|v| v.as_array().map(Vec::len))
            .unwrap_or(0)
    }

    /// The scheduler's jobs.
    pub fn jobs(&self) -> Vec<serde_json::Value> {
        self.get("/api/jobs")
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// The stages of one job.
    pub fn stages(&self, job_id: &str) -> Vec<serde_json::Value> {
        self.get(&format!("/api/job/{job_id}/stages"))
            .and_then(|v| v["stages"].as_array().cloned())
            .unwrap_or_default()
    }

    /// Kills executor `i` at once (SIGKILL), as a crashed worker.
    pub fn kill_executor(&mut self, i: usize) {
        if let Some(mut child) = self.executors[i].take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Freezes executor `i` (SIGSTOP): its process and connections stay,
    /// nothing it was given progresses, it sends no heartbeat.
    pub fn freeze_executor(&self, i: usize) {
        self.signal_executor(i, "-STOP");
    }

    /// Lets executor `i` run again after [`Self::freeze_executor`] (SIGCONT).
    pub fn thaw_executor(&self, i: usize) {
        self.signal_executor(i, "-CONT");
    }

    fn signal_executor(&self, i: usize, signal: &str) {
        let pid = self.executors[i].as_ref().unwrap().id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Kills every executor at once (SIGKILL).
    pub fn kill_every_executor(&mut self) {
        for i in 0..self.executors.len() {
            self.kill_executor(i);
        }
    }

    /// Kills the scheduler at once (SIGKILL).
    pub fn kill_scheduler(&mut self) {
        self.scheduler.kill().unwrap();
        self.scheduler.wait().unwrap();
    }

    /// The scheduler's log so far.
    pub fn scheduler_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("logs/scheduler.log")).unwrap_or_default()
    }

    /// Polls `ready` (every 50 ms, for at most a minute).
    pub fn wait_for(&self, ready: impl Fn(&Self) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; scheduler log:\n{}",
                self.scheduler_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
    }
}

fn spawn(cmd: &mut Command, log: &Path, env: &[(&str, &str)]) -> Child {
    let out = std::fs::File::create(log).unwrap();
    let err = out.try_clone().unwrap();
    cmd.env("DFSTORE_PII_KEY", TEST_KEY)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap()
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || tail.len() < n {
            break;
        }
        out.push_str(&tail[..n]);
        rest = tail[n..].trim_start_matches("\r\n");
    }
    out
}
