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
