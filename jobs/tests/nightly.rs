//! `dfstore nightly` with the real PostgreSQL as source and warehouse: the
//! whole flow notified to a webhook listening here, a warehouse that refuses
//! the first connection retried, a dropped source column not retried (and
//! nothing published), and the lake's lock: a live holder stops a second
//! run at once, a dead one's lock is taken over.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;

use assert_cmd::Command;
use common::cli::{TestLake, one_line, stdout_lines};
use common::postgres::TestDb;

/// A webhook on loopback: every request's JSON body, answered 204.
fn webhook() -> (String, mpsc::Receiver<serde_json::Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/hooks/s3cr3t-token",
        listener.local_addr().unwrap()
    );
    let (sent, received) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if line == "\r\n" || line.is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
                .unwrap();
            if sent.send(serde_json::from_slice(&body).unwrap()).is_err() {
                return;
            }
        }
    });
    (url, received)
}

/// A TCP proxy to `port` on loopback that drops its first connection: a
/// warehouse that refuses the first attempt. Returns the proxy's port.
fn refusing_once(port: u16) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut first = true;
        for client in listener.incoming() {
            let client = client.unwrap();
            if std::mem::take(&mut first) {
                drop(client);
                continue;
            }
            let server = TcpStream::connect(("127.0.0.1", port)).unwrap();
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    proxy
}

/// `dfstore nightly` with the source read as the reader (password in
/// PGPASSWORD) and the warehouse written as the owner (password from a file).
fn nightly(lake: &TestLake, db: &TestDb, warehouse: &str, hook: &str) -> Command {
    let password_file = lake.dir.path().join("owner.pw");
    std::fs::write(&password_file, &db.owner_password).unwrap();
    let mut cmd = lake.cmd(&["nightly", "--retry-delay", "1s"]);
    cmd.arg("--pg")
        .arg(db.reader_url())
        .arg("--warehouse")
        .arg(warehouse)
        .arg("--warehouse-password-file")
        .arg(&password_file)
        .arg("--notify-url")
        .arg(hook)
        .arg("--metrics-file")
        .arg(lake.dir.path().join("nightly.prom"))
        .env("PGPASSWORD", &db.reader_password);
    cmd
}

/// The samples of the metrics file whose line starts with `name{`, as
/// (labels, value).
fn samples(lake: &TestLake, name: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(lake.dir.path().join("nightly.prom")).unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix(&format!("{name}{{")))
        .map(|rest| {
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            (labels.to_string(), value.parse().unwrap())
        })
        .collect()
}

fn warehouse_rows(db: &TestDb) -> i64 {
    db.owner(|c| {
        Box::pin(async move {
            c.query_one("SELECT count(*) FROM analytic.reporte_ventas_tienda", &[])
                .await
                .unwrap()
                .get(0)
        })
    })
}

#[test]
fn the_night_ingests_runs_loads_retries_what_passes_and_stops_on_bad_data() {
    let db = TestDb::new();
    let lake = TestLake::new();
    db.source(&lake, &["init", "--scale", "0.01"]);
    db.grant_reader();
    let (hook, notified) = webhook();

    // The first night: a full ingest, the run, the load; the warehouse
    // refuses the first connection, and the load is retried.
    let port: u16 = db
        .owner_url()
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let flaky = db
        .owner_url()
        .replace(&format!(":{port}/"), &format!(":{}/", refusing_once(port)));
    let out = nightly(&lake, &db, &flaky, &hook).output().unwrap();
    let lines = stdout_lines(out.clone());
    assert!(lines[0].contains(" succeeded in "), "{lines:?}");
    let steps: Vec<String> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        steps,
        ["ingest succeeded 1", "run succeeded 1", "load succeeded 2"],
        "{lines:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("s3cr3t-token"));
    let first = notified.recv().unwrap();
    assert_eq!(first["outcome"], "succeeded");
    assert_eq!(first["steps"][2]["attempts"], 2);
    let manifest = lake.path().join(format!(
        "logs/nightly/{}.json",
        first["pipeline_id"].as_str().unwrap()
    ));
    assert!(manifest.exists(), "{manifest:?}");
    let loaded = warehouse_rows(&db);
    let lake_rows = lake.csv("SELECT COUNT(*) AS n FROM analytic.reporte_ventas_tienda");
    assert_eq!(lake_rows[1].parse::<i64>().unwrap(), loaded);

    // The night's metrics: success, the retried load, rows per rule, the
    // reconciliation and the warehouse rows, in Prometheus's text format.
    assert_eq!(samples(&lake, "dfstore_nightly_succeeded").len(), 1);
    assert_eq!(samples(&lake, "dfstore_nightly_succeeded")[0].1, 1.0);
    let attempts = samples(&lake, "dfstore_nightly_step_attempts");
    assert!(
        attempts
            .iter()
            .any(|(l, v)| l.ends_with("step=\"load\"") && *v == 2.0),
        "{attempts:?}"
    );
    let rejected = samples(&lake, "dfstore_rows_rejected");
    assert!(
        rejected
            .iter()
            .any(|(l, v)| l.contains("rule=\"venta_desconocida\"") && *v > 0.0),
        "{rejected:?}"
    );
    let reconciled = samples(&lake, "dfstore_reconciliation_ok");
    assert_eq!(reconciled.len(), 5);
    assert!(reconciled.iter().all(|(_, v)| *v == 1.0));
    let in_warehouse: f64 = samples(&lake, "dfstore_warehouse_rows")
        .iter()
        .map(|(_, v)| v)
        .sum();
    assert_eq!(
        in_warehouse as i64,
        loaded,
        "{}",
        std::fs::read_to_string(lake.dir.path().join("nightly.prom")).unwrap()
    );

    // A day of changes, then a source column dropped: the incremental
    // ingest carries the drift, the run refuses it once, nothing is
    // published, and the failure is notified.
    db.source(&lake, &["apply-changes", "--seed", "3"]);
    db.owner(|c| {
        Box::pin(async move {
            c.batch_execute("ALTER TABLE retail.ventas DROP COLUMN canal")
                .await
                .unwrap()
        })
    });
    let report = lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda");
    let out = nightly(&lake, &db, &db.owner_url(), &hook)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("raw.ventas column canal: missing"), "{line}");
    let failed = notified.recv().unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert_eq!(failed["steps"][0]["step"], "ingest");
    assert_eq!(failed["steps"][1]["step"], "run");
    assert_eq!(
        failed["steps"][1]["attempts"], 1,
        "a data failure was retried"
    );
    assert_eq!(failed["steps"].as_array().unwrap().len(), 2);
    assert_eq!(
        lake.csv("SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"),
        report
    );
    assert_eq!(warehouse_rows(&db), loaded);
    assert!(
        !lake.path().join("_locks/nightly.json").exists(),
        "the lock was left behind"
    );
}

#[test]
fn a_live_holder_stops_a_second_night_and_a_dead_one_s_lock_is_taken_over() {
    let lake = TestLake::new();
    lake.generate_and_run("0.001", "5");
    let lock = lake.path().join("_locks/nightly.json");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let holder = |pid: u32| {
        serde_json::json!({
            "pipeline_id": "20261130T010000Z-abcdef",
            "host": host.trim(),
            "pid": pid,
            "since": "2026-11-30T01:00:00Z",
        })
        .to_string()
    };

    // This test's own process holds it: alive.
    std::fs::write(&lock, holder(std::process::id())).unwrap();
    let out = lake.cmd(&["nightly"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains(&format!(
            "held by nightly run 20261130T010000Z-abcdef (pid {} on",
            std::process::id()
        )),
        "{line}"
    );
    assert!(lock.exists(), "the holder's lock was removed");

    // A process that is gone: its lock is taken over, and said so.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::write(&lock, holder(dead)).unwrap();
    let lines = stdout_lines(lake.cmd(&["nightly"]).output().unwrap());
    assert!(lines[0].contains(" succeeded in "), "{lines:?}");
    assert!(
        lines[1].starts_with(&format!(
            "took over the stale lock of nightly run 20261130T010000Z-abcdef (pid {dead} on"
        )),
        "{lines:?}"
    );
    assert!(!lock.exists());
}
