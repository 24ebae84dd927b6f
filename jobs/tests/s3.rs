//! A lake on S3: moto's S3 server on loopback, the whole pipeline with
//! `--lake s3://…` on the embedded engine and on a real cluster, encryption
//! sent on every write, and clear errors for a wrong bucket or endpoint.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use assert_cmd::Command;
use common::cli::{TEST_KEY, TestLake, one_line, stdout_lines};
use common::cluster::TestCluster;
use common::s3::{ACCESS_KEY, S3Server, SECRET_KEY};

const REPORT: &str = "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda";

fn csv(cmd: &mut Command) -> Vec<String> {
    stdout_lines(cmd.output().unwrap())
}

#[test]
fn the_pipeline_runs_on_an_s3_lake_embedded_and_on_a_cluster() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let env: Vec<(&str, String)> = s3.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = TestCluster::start(2, &env);

    // The reference: the same data in a local folder.
    let local = TestLake::new();
    local.generate_and_run("0.004", "5");
    let want = local.csv(REPORT);

    let dir = TestLake::new();
    let embedded = "s3://dmc-lake/embedded";
    let distributed = "s3://dmc-lake/teams/cluster";
    for lake in [embedded, distributed] {
        s3.dfstore(&dir, lake, &["generate", "--scale", "0.004", "--seed", "5"])
            .assert()
            .success();
    }
    let out = s3
        .dfstore(&dir, embedded, &["run", "--s3-sse", "AES256"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let text = stdout_lines(out).join("\n") + "\n" + &stderr;
    assert!(!text.contains(SECRET_KEY) && !text.contains(TEST_KEY));
    assert_eq!(
        csv(&mut s3.dfstore(&dir, embedded, &["sql", "--format", "csv", REPORT])),
        want
    );

    s3.dfstore(
        &dir,
        distributed,
        &["run", "--s3-sse", "AES256", "--scheduler", &cluster.url()],
    )
    .assert()
    .success();
    assert!(
        cluster.jobs().len() >= 13,
        "the cluster run did not reach the scheduler"
    );
    assert_eq!(
        csv(&mut s3.dfstore(
            &dir,
            distributed,
            &[
                "sql",
                "--scheduler",
                &cluster.url(),
                "--format",
                "csv",
                REPORT
            ]
        )),
        want
    );

    // Every object the runs published carries the encryption asked for.
    for prefix in ["embedded/", "teams/cluster/"] {
        let objects = s3.encryption("dmc-lake", prefix);
        let published: Vec<_> = objects
            .iter()
            .filter(|(k, _)| {
                ["/trusted/", "/rejected/", "/analytic/", "/logs/"]
                    .iter()
                    .any(|layer| k.contains(layer))
            })
            .collect();
        assert!(published.len() > 20, "{objects:?}");
        for (key, sse) in published {
            assert_eq!(sse, "AES256", "{key} was written without encryption");
        }
    }
}

#[test]
fn a_wrong_bucket_or_endpoint_is_a_one_line_error_without_secrets() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();

    let out = s3
        .dfstore(&dir, "s3://no-such-bucket/lake", &["run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = one_line(&out.stderr);
    assert!(
        line.contains("no-such-bucket"),
        "the error names the bucket: {line}"
    );
    assert!(
        !err.contains(SECRET_KEY) && !err.contains(ACCESS_KEY),
        "{err}"
    );

    let out = s3
        .dfstore(&dir, "s3://dmc-lake/lake", &["tables"])
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = one_line(&out.stderr);
    assert!(
        line.contains("dmc-lake"),
        "the error names the lake: {line}"
    );
    assert!(!err.contains(SECRET_KEY), "{err}");
}

#[test]
fn missing_credentials_are_named_as_such() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    // No keys in the environment, and no instance metadata service to ask.
    let closed = common::cluster::free_port();
    let out = s3
        .dfstore(
            &dir,
            "s3://dmc-lake/lake",
            &["generate", "--scale", "0.001"],
        )
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_WEB_IDENTITY_TOKEN_FILE")
        .env(
            "AWS_METADATA_ENDPOINT",
            format!("http://127.0.0.1:{closed}"),
        )
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{closed}"),
        )
        .env("AWS_CONFIG_FILE", dir.dir.path().join("no-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.dir.path().join("no-credentials"),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("s3://dmc-lake/lake"),
        "the error names the lake: {line}"
    );
    assert!(line.contains("no AWS credentials were found"), "{line}");
}

/// A fake instance-metadata service (IMDSv2) that knows only its region;
/// it prints each path asked for on its standard error.
const FAKE_IMDS: &str = r#"
import http.server, sys
class Imds(http.server.BaseHTTPRequestHandler):
    def answer(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        if self.path == "/latest/api/token":
            self.answer(200, b"token", [("x-aws-ec2-metadata-token-ttl-seconds", "21600")])
        else:
            self.answer(404)
    def do_GET(self):
        if self.path == "/latest/meta-data/placement/region":
            self.answer(200, b"sa-east-1")
        else:
            self.answer(404)
    def log_message(self, fmt, *args):
        sys.stderr.write(self.command + " " + self.path + "\n")
        sys.stderr.flush()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Imds).serve_forever()
"#;

#[test]
fn a_profile_gives_the_lake_its_keys_and_instance_metadata_its_region() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let aws = dir.dir.path().join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    // The profile has keys but no region: the region comes from the instance.
    std::fs::write(aws.join("config"), "[profile lake]\noutput = json\n").unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!("[lake]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    let port = common::cluster::free_port();
    let mut imds = std::process::Command::new(common::serve::python())
        .args(["-c", FAKE_IMDS, &port.to_string()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the fake IMDS did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = common::cli::dfstore(dir.dir.path())
        .args([
            "generate",
            "--scale",
            "0.001",
            "--lake",
            "s3://dmc-lake/lake",
        ])
        .env("AWS_ENDPOINT_URL", s3.endpoint())
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_PROFILE", "lake")
        .env("AWS_CONFIG_FILE", aws.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", aws.join("credentials"))
        .env(
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("RUST_LOG", "warn,dfstore_core=debug")
        .output()
        .unwrap();
    imds.kill().unwrap();
    let asked = imds.wait_with_output().unwrap();
    let asked = String::from_utf8_lossy(&asked.stderr);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("region=\"sa-east-1\""), "{log}");
    assert!(
        asked.contains("GET /latest/meta-data/placement/region"),
        "{asked}"
    );
    // Written with the profile's keys (object_store alone would have asked
    // the instance for keys, which it has none of).
    let objects = s3.encryption("dmc-lake", "lake/raw/");
    assert!(objects.len() > 5, "{objects:?}");
}
