#![cfg(feature = "aws")]
//! `dfstore emr` against moto's EMR server: every call made, and each
//! argument read back with boto3 (the cluster, its instance groups,
//! bootstrap action and tags; the step's command line; moto keeps no
//! auto-termination policy, so that one is not read back);
//! the timeout of a step that never ends (moto's never do) and the errors
//! that name the cluster. Not exercised here: a step that completes or
//! fails, the bootstrap on real nodes (deploy/aws/test_bootstrap.sh runs
//! that script on this machine), IAM.

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, dfstore, one_line, stdout_lines};
use common::s3::S3Server;

fn emr(s3: &S3Server, dir: &TestLake, args: &[&str]) -> std::process::Output {
    let mut cmd = dfstore(dir.dir.path());
    cmd.arg("emr").args(args);
    for (k, v) in s3.env() {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_cluster_is_created_given_a_step_and_terminated() {
    let s3 = S3Server::start();
    let dir = TestLake::new();
    let config = dir.dir.path().join("emr.toml");
    std::fs::write(
        &config,
        "core-count = 4\nrelease = \"emr-7.3.0\"\nlog-uri = \"s3://dmc-logs/emr\"\n\
         binaries = \"s3://dmc-dist/dfstore/0.1.0/aarch64\"\n",
    )
    .unwrap();
    let out = emr(
        &s3,
        &dir,
        &[
            "up",
            "--config",
            config.to_str().unwrap(),
            "--core-count",
            "3",
            "--task-count",
            "2",
            "--task-spot",
            "--subnet",
            "subnet-0abc",
            "--idle-timeout",
            "45m",
            "--tag",
            "team=data",
            "--pii-key-secret",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:dfstore/pii-key-AbCdEf",
            "--wait",
            "30s",
        ],
    );
    let lines = stdout_lines(out);
    let cluster = lines[0].clone();
    assert!(cluster.starts_with("j-"), "{lines:?}");
    assert!(
        lines[1].contains(" is WAITING") || lines[1].contains(" is RUNNING"),
        "{lines:?}"
    );

    // What EMR was asked for, read back.
    let read = s3.boto3(&format!(
        "emr = client('emr')\n\
         c = emr.describe_cluster(ClusterId='{cluster}')['Cluster']\n\
         print(c['Name'], c['ReleaseLabel'], c['LogUri'], c['Ec2InstanceAttributes'].get('Ec2SubnetId'), c['ServiceRole'], c['Ec2InstanceAttributes']['IamInstanceProfile'])\n\
         print(','.join(t['Key'] + '=' + t['Value'] for t in c['Tags']))\n\
         for g in sorted(emr.list_instance_groups(ClusterId='{cluster}')['InstanceGroups'], key=lambda g: g['InstanceGroupType']):\n\
         \x20   print(g['InstanceGroupType'], g['InstanceType'], g['RequestedInstanceCount'], g['Market'])\n\
         for b in emr.list_bootstrap_actions(ClusterId='{cluster}')['BootstrapActions']:\n\
         \x20   print(b['Name'], b['ScriptPath'], ' '.join(b['Args']))\n"
    ));
    assert_eq!(
        read,
        [
            "dfstore emr-7.3.0 s3://dmc-logs/emr subnet-0abc EMR_DefaultRole EMR_EC2_DefaultRole",
            "team=data",
            "CORE m7g.2xlarge 3 ON_DEMAND",
            "MASTER m7g.xlarge 1 ON_DEMAND",
            "TASK m7g.2xlarge 2 SPOT",
            "install dfstore s3://dmc-dist/dfstore/0.1.0/aarch64/bootstrap.sh --binaries s3://dmc-dist/dfstore/0.1.0/aarch64 --scheduler-port 50050 --pii-key-secret arn:aws:secretsmanager:us-east-1:123456789012:secret:dfstore/pii-key-AbCdEf",
        ]
    );

    // A step: added, with the command line run on the primary.
    let out = emr(
        &s3,
        &dir,
        &[
            "submit",
            "--cluster",
            &cluster,
            "--wait",
            "0",
            "--",
            "run",
            "--lake",
            "s3://dmc-lake/lake",
        ],
    );
    let lines = stdout_lines(out);
    let step = lines.iter().find(|l| l.starts_with("s-")).unwrap().clone();
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("logs: s3://dmc-logs/emr/{cluster}/steps/{step}/")),
        "{lines:?}"
    );
    let read = s3.boto3(&format!(
        "s = client('emr').describe_step(ClusterId='{cluster}', StepId='{step}')['Step']\n\
         print(s['Name'], s['ActionOnFailure'], s['Config']['Jar'])\n\
         print(' '.join(s['Config']['Args']))\n"
    ));
    assert_eq!(
        read,
        [
            "dfstore run CONTINUE command-runner.jar",
            // The step carries the cluster's region: command-runner steps
            // do not inherit the one the bootstrap gives the daemons.
            "env DFSTORE_SCHEDULER=df://127.0.0.1:50050 AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 /usr/local/bin/dfstore run --lake s3://dmc-lake/lake",
        ]
    );

    // Followed: moto's steps never end, so the wait runs out, non-zero.
    let out = emr(
        &s3,
        &dir,
        &[
            "submit",
            "--cluster",
            &cluster,
            "--wait",
            "2s",
            "--",
            "tables",
            "--lake",
            "s3://dmc-lake/lake",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("on cluster ") && line.contains("after 2s"),
        "{line}"
    );

    // Status lists both steps; down terminates.
    let lines = stdout_lines(emr(&s3, &dir, &["status", "--cluster", &cluster]));
    assert!(
        lines[0].starts_with(&format!("cluster {cluster} (dfstore) is ")),
        "{lines:?}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("s-")).count(),
        2,
        "{lines:?}"
    );
    let lines = stdout_lines(emr(&s3, &dir, &["down", "--cluster", &cluster]));
    assert!(
        lines[0].starts_with(&format!("cluster {cluster} is TERMINAT")),
        "{lines:?}"
    );
    let read = s3.boto3(&format!(
        "print(client('emr').describe_cluster(ClusterId='{cluster}')['Cluster']['Status']['State'])\n"
    ));
    assert!(read[0].starts_with("TERMINAT"), "{read:?}");
}

#[test]
fn bad_settings_and_unknown_clusters_are_one_line_errors() {
    let s3 = S3Server::start();
    let dir = TestLake::new();
    let out = emr(&s3, &dir, &["up", "--binaries", "s3://dist/x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("--log-uri"));
    let out = emr(
        &s3,
        &dir,
        &["up", "--binaries", "/tmp/x", "--log-uri", "s3://l"],
    );
    assert!(one_line(&out.stderr).contains("--binaries"));
    let out = emr(&s3, &dir, &["status", "--cluster", "j-NOSUCHCLUSTER"]);
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(line.contains("j-NOSUCHCLUSTER"), "{line}");
}
