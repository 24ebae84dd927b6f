#![cfg(feature = "dashboard")]
//! `dfstore serve` with real clients: psql and Python's psycopg through the
//! PostgreSQL-protocol endpoint (answers equal `dfstore sql`'s, the
//! catalog listed the way BI tools list it, every write and file read
//! refused while the server keeps serving), the dashboard's API (answers
//! equal SQL over the lake, bad parameters named) and the dashboard itself
//! in headless Chromium; a run publishing while clients query; a password
//! and TLS beyond loopback; with `--scheduler`, queries run on the cluster.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cli::{TestLake, one_line};
use common::cluster::http_with;
use common::serve::{Served, python_script};

const BY_MONTH_AND_REGION: &str = "SELECT periodo, region, SUM(venta_neta) AS venta_neta, \
     SUM(num_ventas) AS tickets FROM analytic.reporte_ventas_tienda \
     GROUP BY periodo, region ORDER BY periodo, region";

/// A lake generated and run at `scale` (0.05 has 3 stores in 2 regions).
fn lake(scale: &str) -> TestLake {
    let lake = TestLake::new();
    lake.generate_and_run(scale, "11");
    lake
}

#[test]
fn bi_clients_read_the_lake_through_the_sql_endpoint() {
    let lake = lake("0.002");
    let served = Served::start(&lake, &[], &[]);

    // psql: the BI query's answer is dfstore sql's, row for row.
    let want = lake.csv(BY_MONTH_AND_REGION);
    let got = served.psql_lines(BY_MONTH_AND_REGION);
    assert!(got.len() > 3, "{got:?}");
    assert_eq!(got, want[1..], "psql and dfstore sql disagree");

    // The catalog as psql's \dt and BI tools list it.
    let listed = served.psql_lines("\\dt analytic.*");
    assert!(
        listed.iter().any(|l| l.contains("reporte_ventas_tienda")),
        "{listed:?}"
    );
    let schemas =
        served.psql_lines("SELECT DISTINCT table_schema FROM information_schema.tables ORDER BY 1");
    for schema in ["analytic", "dfstore", "rejected", "trusted"] {
        assert!(schemas.iter().any(|s| s == schema), "{schemas:?}");
    }
    // The listings: the run served and its tables' versions.
    let runs = served.psql_lines("SELECT run_id, outcome FROM dfstore.runs");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(runs[0].ends_with(",succeeded"), "{runs:?}");
    let versions = served
        .psql_lines("SELECT table_name, version FROM dfstore.tables WHERE layer = 'analytic'");
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert!(versions[0].starts_with("analytic.reporte_ventas_tienda,"));
    // Personal data stays hashed: no raw layer, and trusted holds the hash.
    let raw = served.psql("", "SELECT * FROM raw.clientes LIMIT 1");
    assert!(!raw.status.success());

    // psycopg: the extended protocol with a parameter, as applications use it.
    let month = lake.csv("SELECT MAX(periodo) FROM analytic.reporte_ventas_tienda")[1].clone();
    let rows = lake.csv(&format!(
        "SELECT COUNT(*), SUM(venta_neta) FROM analytic.reporte_ventas_tienda WHERE periodo = '{month}'"
    ))[1]
        .clone();
    let out = python_script(
        "import sys, psycopg\n\
         port, month = sys.argv[1], sys.argv[2]\n\
         with psycopg.connect(host='127.0.0.1', port=port, user='dfstore', dbname='datafusion') as conn:\n\
         \x20   cur = conn.execute('SELECT COUNT(*), SUM(venta_neta) FROM analytic.reporte_ventas_tienda WHERE periodo = %s', (month,))\n\
         \x20   n, total = cur.fetchone()\n\
         \x20   print(f'{n},{total}')\n\
         \x20   tables = conn.execute(\"SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema = 'trusted' ORDER BY 1\").fetchall()\n\
         \x20   print(' '.join(t[0] for t in tables))\n",
        &[&served.sql.to_string(), &month],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], rows);
    assert!(lines[1].contains("trusted.ventas"), "{text}");

    // Read-only and confined to the lake: each refused with a PostgreSQL
    // error naming why, and the server keeps serving.
    let elsewhere = lake.dir.path().join("elsewhere.csv");
    for (sql, says) in [
        (
            "INSERT INTO trusted.tiendas SELECT * FROM trusted.tiendas",
            "read-only",
        ),
        ("DELETE FROM trusted.ventas", "read-only"),
        ("DROP TABLE trusted.ventas", "read-only"),
        ("CREATE TABLE copied AS SELECT 1", "read-only"),
        (
            &format!("COPY (SELECT 1) TO '{}'", elsewhere.display()),
            "read-only",
        ),
        (
            &format!(
                "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '{}'",
                elsewhere.display()
            ),
            "",
        ),
        ("SET datafusion.execution.target_partitions = 1", "shared"),
        ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
        ("SELEC 1", ""),
    ] {
        let out = served.psql("", sql);
        assert!(!out.status.success(), "{sql} was not refused");
        let error = String::from_utf8_lossy(&out.stderr);
        assert!(error.contains("ERROR"), "{sql}: {error}");
        assert!(error.contains(says), "{sql}: {error}");
        assert_eq!(served.psql_lines("SELECT 1"), ["1"], "after {sql}");
    }
    assert!(!elsewhere.exists(), "a refused statement wrote a file");
}

#[test]
fn the_dashboard_answers_from_the_lake_and_follows_a_new_run() {
    let lake = lake("0.05");
    let served = Served::start(&lake, &[], &[]);

    let filters = served.json("/api/filters");
    let months: Vec<String> = lake
        .csv("SELECT DISTINCT periodo FROM analytic.reporte_ventas_tienda ORDER BY 1")[1..]
        .to_vec();
    assert_eq!(filters["months"], serde_json::json!(months));
    let newest = months.last().unwrap().clone();
    assert_eq!(filters["default_month"], newest.as_str());

    // The KPIs are the report's sums; the average ticket is venta / tickets.
    let kpis = |condition: &str, month: &str| {
        let row = lake.csv(&format!(
            "SELECT SUM(venta_neta), SUM(margen_bruto), SUM(num_ventas), SUM(unidades) \
             FROM analytic.reporte_ventas_tienda WHERE periodo = '{month}' AND {condition}"
        ))[1]
            .clone();
        let f: Vec<String> = row.split(',').map(str::to_string).collect();
        let tickets = f[2].parse::<i64>().unwrap();
        // The average ticket, exactly: venta / tickets, half away from zero.
        let venta: rust_decimal::Decimal = f[0].parse().unwrap();
        let mut average = (venta / rust_decimal::Decimal::from(tickets))
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        average.rescale(2);
        serde_json::json!({
            "venta_neta": f[0], "margen_bruto": f[1], "tickets": tickets,
            "unidades": f[3].parse::<i64>().unwrap(), "ticket_promedio": average.to_string(),
        })
    };
    let answer = served.json("/api/kpis");
    assert_eq!(answer["month"], newest.as_str());
    assert_eq!(answer["current"], kpis("TRUE", &newest));
    let previous = &months[months.len() - 2];
    assert_eq!(answer["previous"], kpis("TRUE", previous));
    let region = filters["regions"][0].as_str().unwrap().to_string();
    let filtered = served.json(&format!(
        "/api/kpis?month={previous}&region={}",
        region.replace(' ', "%20")
    ));
    assert_eq!(
        filtered["current"],
        kpis(&format!("region = '{region}'"), previous)
    );
    // Stores ranked, trend per day, breakdowns: sums that add up.
    let stores = served.json(&format!("/api/stores?month={newest}"));
    let ranked = stores["stores"].as_array().unwrap();
    assert!(ranked.len() > 1);
    let money = |v: &serde_json::Value| v.as_str().unwrap().parse::<f64>().unwrap();
    assert!(money(&ranked[0]["venta_neta"]) >= money(&ranked[1]["venta_neta"]));
    let days = served.json(&format!("/api/trend?month={newest}"))["days"]
        .as_array()
        .unwrap()
        .len();
    let want_days = lake.csv(&format!(
        "SELECT COUNT(DISTINCT fecha) FROM analytic.reporte_ventas_tienda WHERE periodo = '{newest}'"
    ))[1]
        .parse::<usize>()
        .unwrap();
    assert_eq!(days, want_days);
    let quality = served.json("/api/quality");
    assert_eq!(quality["runs"].as_array().unwrap().len(), 1);
    assert!(
        quality["runs"][0]["reconciliation"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["holds"] == true)
    );

    // Bad input: a 4xx JSON error naming the parameter.
    for (path, parameter) in [
        ("/api/kpis?month=2031-01", "month"),
        ("/api/kpis?month=enero", "month"),
        ("/api/stores?store=abc", "store"),
        ("/api/stores?store=999999", "store"),
        ("/api/trend?region=Atlantis", "region"),
        ("/api/breakdown?format=kiosko", "format"),
    ] {
        let (status, body) = served.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(error["parameter"], parameter, "{path}: {body}");
        assert!(
            error["error"].as_str().unwrap().contains("unknown")
                || error["error"].as_str().unwrap().contains("must be"),
            "{body}"
        );
    }

    // The page in a real browser: the KPIs it shows equal SQL over the
    // lake, and a changed filter is followed.
    let expect = lake.dir.path().join("expect.json");
    std::fs::write(
        &expect,
        serde_json::to_string(&serde_json::json!({
            "default": {"month": newest, "kpis": kpis("TRUE", &newest)},
            "filtered": {"region": region, "month": newest, "kpis": kpis(&format!("region = '{region}'"), &newest)},
        }))
        .unwrap(),
    )
    .unwrap();
    let shot = std::env::var_os("DFSTORE_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| lake.dir.path().join("dashboard.png"));
    let browser = std::process::Command::new(common::serve::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/browser/dashboard.py"
        ))
        .args(["--url", &format!("http://127.0.0.1:{}/", served.http)])
        .arg("--expect")
        .arg(&expect)
        .arg("--screenshot")
        .arg(&shot)
        .output()
        .unwrap();
    assert!(
        browser.status.success(),
        "the browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&browser.stdout),
        String::from_utf8_lossy(&browser.stderr)
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // A run publishes while clients query: no query fails, and afterwards
    // both endpoints serve the new run.
    let before = served.json("/api/lineage")["run_id"].clone();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let port = served.http;
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, done) = (Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = http_with(port, "GET", "/api/stores", &[]).unwrap();
                    assert_eq!(status, 200, "{body}");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    lake.cmd(&["run"]).assert().success();
    let mut polls = 0;
    while served.json("/api/lineage")["run_id"] == before {
        polls += 1;
        assert!(polls < 600, "serve never picked up the new run");
        assert_eq!(served.psql_lines("SELECT 1"), ["1"]);
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert!(done.load(Ordering::Relaxed) > 0);
    let runs = served.psql_lines("SELECT COUNT(*) FROM dfstore.runs");
    assert_eq!(runs, ["2"]);
    assert_eq!(
        served.psql_lines(BY_MONTH_AND_REGION),
        lake.csv(BY_MONTH_AND_REGION)[1..]
    );
}

#[test]
fn beyond_loopback_a_password_is_required_and_tls_is_served_when_asked() {
    let lake = lake("0.002");
    // No password: refused at start, naming the flag.
    let out = lake
        .std_cmd(&["serve", "--http", "0.0.0.0:0", "--sql", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let line = one_line(&out.stderr);
    assert!(line.contains("--password-file"), "{line}");

    // With one: SCRAM for SQL, Basic for the dashboard.
    let secret = "correct horse battery";
    let file = lake.dir.path().join("serve.password");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let cert = lake.dir.path().join("cert.pem");
    let key = lake.dir.path().join("key.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let served = Served::start(
        &lake,
        &[
            "--password-file",
            file.to_str().unwrap(),
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        served.banner.iter().any(|l| l.contains("sslmode=require")),
        "{:?}",
        served.banner
    );
    assert!(!served.banner.iter().any(|l| l.contains(secret)));
    let wrong = served.psql("password=wrong sslmode=require", "SELECT 1");
    assert!(!wrong.status.success());
    let right = served.psql(&format!("password='{secret}' sslmode=require"), "SELECT 1");
    assert!(
        right.status.success(),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    let (status, _) = served.get("/api/filters");
    assert_eq!(status, 401);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{secret}"))
    );
    let (status, body) = http_with(
        served.http,
        "GET",
        "/api/filters",
        &[("Authorization", &basic)],
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
}

#[test]
fn with_a_scheduler_the_queries_run_on_the_cluster() {
    let lake = lake("0.002");
    let cluster = common::cluster::TestCluster::start(1, &[]);
    let served = Served::start(&lake, &["--scheduler", &cluster.url()], &[]);
    let before = cluster.jobs().len();
    assert_eq!(
        served.psql_lines(BY_MONTH_AND_REGION),
        lake.csv(BY_MONTH_AND_REGION)[1..]
    );
    let kpis = served.json("/api/kpis");
    assert!(kpis["current"]["tickets"].as_i64().unwrap() > 0, "{kpis}");
    assert!(
        cluster.jobs().len() >= before + 2,
        "the queries did not reach the scheduler"
    );
}

/// A statement that would count for hours.
const RUNAWAY: &str = "SELECT count(*) FROM generate_series(1, 30000000000)";

#[test]
fn a_runaway_statement_is_stopped_and_the_server_keeps_answering() {
    let lake = lake("0.01");
    let served = Served::start(
        &lake,
        &["--statement-timeout", "3s", "--max-connections", "4"],
        &[],
    );
    let idle = |after: &str| {
        // Within a second the server is back to (nearly) idle: under a
        // tenth of a core over a quarter-second window.
        let took = served.quiet_within(Duration::from_secs(1), Duration::from_millis(250), 0.1);
        assert!(
            took.is_some(),
            "the server still computes a second after {after}"
        );
        assert_eq!(served.psql_lines("SELECT 1"), ["1"], "after {after}");
    };

    // The server's statement timeout.
    let at = Instant::now();
    let out = served.psql("", RUNAWAY);
    let took = at.elapsed();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the runaway statement answered");
    assert!(
        err.contains("canceling statement due to statement timeout"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(5),
        "a 3 s timeout stopped the statement after {took:?}"
    );
    idle("a timed-out statement");

    // A client's shorter SET statement_timeout, and a CancelRequest (what
    // psql sends on Ctrl-C), through psycopg.
    let port = served.sql.to_string();
    let out = python_script(
        r#"
import sys, threading, time, psycopg
dsn = f"host=127.0.0.1 port={sys.argv[1]} user=dfstore dbname=datafusion"
runaway = sys.argv[2]
with psycopg.connect(dsn, autocommit=True) as conn:
    conn.execute("SET statement_timeout = '500ms'")
    start = time.monotonic()
    try:
        conn.execute(runaway)
        print("answered")
    except psycopg.errors.QueryCanceled as e:
        print("timeout", e.sqlstate, round(time.monotonic() - start, 2))
with psycopg.connect(dsn, autocommit=True) as conn:
    threading.Timer(1.0, conn.cancel).start()
    start = time.monotonic()
    try:
        conn.execute(runaway)
        print("answered")
    except psycopg.errors.QueryCanceled as e:
        print("cancel", e.sqlstate, round(time.monotonic() - start, 2))
    print("next", conn.execute("SELECT 1").fetchone()[0])
"#,
        &[&port, RUNAWAY],
    );
    let lines = stdout_lines_of(&out);
    assert_eq!(
        lines.len(),
        3,
        "{lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seconds = |line: &str| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    assert!(lines[0].starts_with("timeout 57014"), "{lines:?}");
    assert!(
        seconds(&lines[0]) < 1.5,
        "SET statement_timeout = '500ms': {lines:?}"
    );
    assert!(lines[1].starts_with("cancel 57014"), "{lines:?}");
    assert!(seconds(&lines[1]) < 2.0, "a cancel after 1 s: {lines:?}");
    assert_eq!(lines[2], "next 1");
    idle("a cancelled statement");

    // A client that goes away mid-statement.
    let before = served.cpu_seconds();
    let mut client = std::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user=dfstore dbname=datafusion",
            served.sql
        ))
        .args(["-X", "-At", "-c", RUNAWAY])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let busy = Instant::now();
    while served.cpu_seconds() - before < 0.5 {
        assert!(
            busy.elapsed() < Duration::from_secs(10),
            "the statement never ran"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    client.kill().unwrap();
    client.wait().unwrap();
    idle("its client went away");

    // Four connections are served; a fifth is refused with 53300 until one
    // of them closes.
    let out = python_script(
        r#"
import sys, psycopg
dsn = f"host=127.0.0.1 port={sys.argv[1]} user=dfstore dbname=datafusion"
held = [psycopg.connect(dsn) for _ in range(4)]
try:
    psycopg.connect(dsn)
    print("fifth connected")
except psycopg.OperationalError as e:
    print("refused", "53300" in str(e) or "too many clients" in str(e), str(e).strip().splitlines()[-1])
held.pop().close()
with psycopg.connect(dsn) as conn:
    print("after one closed", conn.execute("SELECT 1").fetchone()[0])
"#,
        &[&port],
    );
    let lines = stdout_lines_of(&out);
    assert_eq!(
        lines.len(),
        2,
        "{lines:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(lines[0].starts_with("refused True"), "{lines:?}");
    assert!(lines[0].contains("--max-connections"), "{lines:?}");
    assert_eq!(lines[1], "after one closed 1");
}

/// A statement that holds its whole answer in one aggregate, which cannot
/// spill: about 160 MiB of integers.
const HUNGRY: &str = "SELECT cardinality(array_agg(x)) FROM generate_series(1, 20000000) AS t(x)";

#[test]
fn a_statement_beyond_its_memory_share_fails_alone() {
    let lake = lake("0.01");
    let served = Served::start(
        &lake,
        &["--memory-limit", "1GiB", "--query-memory", "64MiB"],
        &[],
    );
    let out = served.psql("", HUNGRY);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "the statement held more than 64 MiB");
    assert!(
        err.contains("its share of the server's memory (64 MiB, --query-memory)"),
        "{err}"
    );
    // A statement within its share answers, and so does the dashboard.
    let smaller = HUNGRY.replace("20000000", "1000000");
    assert_eq!(served.psql_lines(&smaller), ["1000000"]);
    let (status, _) = served.get("/api/filters");
    assert_eq!(status, 200);

    // The same statement within a larger share answers.
    let generous = Served::start(
        &lake,
        &["--memory-limit", "1GiB", "--query-memory", "768MiB"],
        &[],
    );
    assert_eq!(generous.psql_lines(HUNGRY), ["20000000"]);
}

fn stdout_lines_of(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
