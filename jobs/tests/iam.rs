#![cfg(feature = "aws")]
//! The EMR nodes' permissions, enforced: moto's server with IAM enforcement
//! on (`/moto-api/reset-auth` to 0, as `INITIAL_NO_AUTH_ACTION_COUNT=0`
//! does at start-up), an IAM user holding exactly the policy of
//! `deploy/aws/iam/emr-instance-profile.json`, and, as that user, what the
//! state machine's steps run on the nodes: `dfstore nightly` with its
//! secrets, a project on S3, the cluster, CloudWatch metrics and the load,
//! then `catalog sync-glue`. An action the policy lacks fails the test.
//!
//! moto is started through `common/moto_iam.py`, which mends how it checks
//! the signature of a request whose query holds an encoded `/`.
//!
//! What moto checks, and so what this proves: the action of every request,
//! and for S3 also its resource (bucket and key). moto does not evaluate
//! resources of other services (it authorizes them against `*`) nor
//! conditions, so for this test the non-S3 statements are given `*` and no
//! statement keeps its condition; those parts of the policy are checked by
//! `deploy/aws/check_iam.sh` (parliament) instead.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, one_line, stdout_lines};
use common::cluster::TestCluster;
use common::postgres::TestDb;
use common::s3::S3Server;

/// moto's account.
const ACCOUNT: &str = "123456789012";
const LAKE: &str = "s3://dmc-lake/lake";
const PROJECT: &str = "s3://dmc-artifacts/projects/retail";

/// The instance profile's policy with its placeholders replaced by this
/// test's values, every one of them known, in the form moto evaluates (see
/// the module's comment).
fn instance_policy(secrets: &[(&str, String)]) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/aws/iam/emr-instance-profile.json"
    );
    let mut text = std::fs::read_to_string(path).unwrap();
    let mut values: Vec<(&str, String)> = [
        ("AccountId", ACCOUNT),
        ("Region", "us-east-1"),
        ("LakeBucket", "dmc-lake"),
        ("LakePrefix", "lake"),
        ("KmsKeyId", "1234abcd-12ab-34cd-56ef-1234567890ab"),
        ("SecretsKmsKeyId", "5678abcd-12ab-34cd-56ef-1234567890ab"),
        ("ArtifactsBucket", "dmc-artifacts"),
        ("BinariesPrefix", "dfstore/0.1.0"),
        ("ProjectBucket", "dmc-artifacts"),
        ("ProjectPrefix", "projects/retail"),
        ("LogBucket", "dmc-logs"),
        ("LogPrefix", "emr"),
        ("GlueDatabase", "dmc"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    values.extend(secrets.iter().cloned());
    for (name, value) in &values {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    assert!(
        !text.contains("${"),
        "a placeholder this test does not know"
    );
    let mut policy: serde_json::Value = serde_json::from_str(&text).unwrap();
    for statement in policy["Statement"].as_array_mut().unwrap() {
        let statement = statement.as_object_mut().unwrap();
        statement.remove("Condition");
        let actions = match &statement["Action"] {
            serde_json::Value::String(a) => vec![a.clone()],
            other => other
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
        };
        if actions.iter().any(|a| !a.starts_with("s3:")) {
            statement.insert("Resource".into(), "*".into());
        }
    }
    policy.to_string()
}

/// Creates the user `dfstore-node` with `policy` as its only policy;
/// returns its access key and secret.
fn node_identity(s3: &S3Server, policy: &str) -> (String, String) {
    let lines = s3.boto3(&format!(
        "iam = client('iam')\n\
         iam.create_user(UserName='dfstore-node')\n\
         iam.put_user_policy(UserName='dfstore-node', PolicyName='emr-instance-profile', PolicyDocument=json.dumps({policy}))\n\
         key = iam.create_access_key(UserName='dfstore-node')['AccessKey']\n\
         print(key['AccessKeyId'])\n\
         print(key['SecretAccessKey'])\n"
    ));
    (lines[0].clone(), lines[1].clone())
}

/// Uploads the files of the folder `dir` to `s3://bucket/prefix/`.
fn upload(s3: &S3Server, dir: &std::path::Path, bucket: &str, prefix: &str) {
    s3.boto3(&format!(
        "import pathlib\n\
         s3 = client('s3')\n\
         root = pathlib.Path({dir:?})\n\
         for f in sorted(root.rglob('*')):\n\
         \x20   if f.is_file():\n\
         \x20       s3.put_object(Bucket='{bucket}', Key='{prefix}/' + f.relative_to(root).as_posix(), Body=f.read_bytes())\n",
        dir = dir.display().to_string()
    ));
}

#[test]
fn the_instance_profile_policy_allows_the_night_and_nothing_outside_the_lake() {
    let db = TestDb::new();
    let dir = TestLake::new();
    db.source(&dir, &["init", "--scale", "0.002"]);
    db.grant_reader();

    let s3 = S3Server::start_for_iam();
    for bucket in ["dmc-lake", "dmc-artifacts"] {
        s3.create_bucket(bucket);
    }
    let project = dir.dir.path().join("project");
    common::cli::dfstore(dir.dir.path())
        .arg("init")
        .arg(&project)
        .assert()
        .success();
    upload(&s3, &project, "dmc-artifacts", "projects/retail");
    let pg = s3.create_secret(
        "dfstore/source",
        &format!(r#"{{"password":"{}"}}"#, db.reader_password),
    );
    let warehouse = s3.create_secret(
        "dfstore/warehouse",
        &format!(r#"{{"password":"{}"}}"#, db.owner_password),
    );
    let pii = s3.create_secret("dfstore/pii-key", "unused-here");
    let policy = instance_policy(&[
        ("PgSecretArn", pg.clone()),
        ("WarehouseSecretArn", warehouse.clone()),
        ("PiiKeySecretArn", pii),
    ]);
    let (key, secret) = node_identity(&s3, &policy);
    s3.enforce_iam();

    // As the node: the cluster's executors and the steps share its keys.
    let node_env: Vec<(&str, String)> = s3
        .env()
        .into_iter()
        .map(|(k, v)| match k {
            "AWS_ACCESS_KEY_ID" => (k, key.clone()),
            "AWS_SECRET_ACCESS_KEY" => (k, secret.clone()),
            _ => (k, v),
        })
        .collect();
    let env: Vec<(&str, &str)> = node_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = TestCluster::start(2, &env);
    let as_node = |args: &[&str]| {
        let mut cmd = s3.dfstore(&dir, LAKE, args);
        cmd.envs(env.iter().copied())
            .env("DFSTORE_PROJECT", PROJECT)
            .env_remove("PGPASSWORD");
        cmd
    };

    let out = as_node(&["nightly", "--retries", "0"])
        .args(["--pg", &db.reader_url(), "--pg-secret", &pg])
        .args(["--warehouse", &db.owner_url(), "--warehouse-secret"])
        .arg(&warehouse)
        .args(["--scheduler", &cluster.url()])
        .args(["--cloudwatch-namespace", "dfstore"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines = stdout_lines(out);
    assert!(
        lines.first().is_some_and(|l| l.contains(" succeeded in ")),
        "{lines:?} {stderr}"
    );
    let out = as_node(&["catalog", "sync-glue", "--database", "dmc"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let lines = stdout_lines(out);
    assert!(
        lines
            .first()
            .is_some_and(|l| l.contains("registered in Glue database dmc")),
        "{lines:?} {stderr}"
    );
    let report = as_node(&[
        "sql",
        "--format",
        "csv",
        "SELECT count(*) AS n FROM analytic.reporte_ventas_tienda",
    ])
    .output()
    .unwrap();
    let rows: i64 = stdout_lines(report)[1].parse().unwrap();
    assert!(rows > 0);

    // Enforcement is on: the same keys may not write outside the lake's
    // folders, and the error says so in one line.
    let mut cmd = s3.dfstore(&dir, "s3://dmc-lake/elsewhere", &["generate"]);
    let out = cmd
        .args(["--scale", "0.001"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("denied"), "{line}");
    assert!(!line.contains(&secret), "{line}");
}
