//! `dfstore serve` as a user starts it, on free loopback ports, and the
//! real clients that talk to it: psql, Python's psycopg, HTTP.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};

use super::cli::{TestLake, stdout_lines};
use super::cluster::http_with;

/// A running `dfstore serve`, stopped when dropped.
pub struct Served {
    child: Child,
    /// The dashboard's port.
    pub http: u16,
    /// The SQL endpoint's port.
    pub sql: u16,
    /// What it printed on start.
    pub banner: Vec<String>,
}

impl Served {
    /// Starts `dfstore serve` on `lake` with `args`, and waits for the
    /// lines that say where it listens.
    pub fn start(lake: &TestLake, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = lake.std_cmd(&["serve"]);
        cmd.args([
            "--http",
            "127.0.0.1:0",
            "--sql",
            "127.0.0.1:0",
            "--refresh",
            "1s",
        ])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut banner = Vec::new();
        let (mut http, mut sql) = (0, 0);
        for line in lines.by_ref() {
            let line = line.unwrap();
            let port = |l: &str| -> u16 {
                let after = l.split("127.0.0.1:").nth(1).unwrap_or_default();
                let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap()
            };
            if line.starts_with("dashboard") {
                http = port(&line);
            } else if line.starts_with("sql") {
                sql = port(&line);
            }
            let done = line.starts_with("serving");
            banner.push(line);
            if done {
                break;
            }
        }
        assert!(http > 0 && sql > 0, "serve did not start: {banner:?}");
        // Drain what else it prints, so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Served {
            child,
            http,
            sql,
            banner,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the server has used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // The fields after the command, which is in parentheses.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
        ticks / clock_ticks_per_second()
    }

    /// Waits until the server's CPU use over `window` falls below `busy`
    /// (a share of one core); returns how long that took, or `None` if it
    /// did not within `limit`.
    pub fn quiet_within(
        &self,
        limit: std::time::Duration,
        window: std::time::Duration,
        busy: f64,
    ) -> Option<std::time::Duration> {
        let start = std::time::Instant::now();
        while start.elapsed() < limit {
            let before = self.cpu_seconds();
            std::thread::sleep(window);
            if (self.cpu_seconds() - before) / window.as_secs_f64() < busy {
                return Some(start.elapsed());
            }
        }
        None
    }

    /// GET on the dashboard: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        http_with(self.http, "GET", path, &[]).unwrap()
    }

    /// GET on the dashboard's API as JSON, which must answer 200.
    pub fn json(&self, path: &str) -> serde_json::Value {
        let (status, body) = self.get(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// `psql` on the SQL endpoint: unaligned, no headers, `,` between fields.
    pub fn psql(&self, conninfo: &str, sql: &str) -> Output {
        Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user=dfstore dbname=datafusion {conninfo}",
                self.sql
            ))
            .args(["-X", "-At", "-F", ",", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .env_remove("PGPASSWORD")
            .output()
            .unwrap()
    }

    /// [`Served::psql`] that must succeed: its lines.
    pub fn psql_lines(&self, sql: &str) -> Vec<String> {
        stdout_lines(self.psql("", sql))
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Python of the test tools' virtual environment (deploy/local/test.sh
/// installs psycopg and Playwright there, next to moto).
pub fn python() -> PathBuf {
    let server = std::env::var_os("DFSTORE_MOTO_SERVER").map(PathBuf::from).expect(
        "DFSTORE_MOTO_SERVER is not set: run the tests with deploy/local/test.sh, which installs the Python test tools",
    );
    server.with_file_name("python3")
}

/// Runs `script` with the test tools' Python and `args`; its output.
pub fn python_script(script: &str, args: &[&str]) -> Output {
    Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap()
}

/// The kernel's clock ticks per second, in which /proc reports CPU time.
fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}
