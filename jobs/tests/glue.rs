#![cfg(feature = "aws")]
//! The AWS side on moto: `dfstore catalog sync-glue` registers every
//! published table in Glue with its columns, partition key and symlink
//! manifests (read back with boto3), and a rerun after a new run updates in
//! place; `dfstore nightly` on an S3 lake takes its lock with a conditional
//! write there, puts its metrics into CloudWatch and notifies an SNS topic
//! (both read back).

// Tests may unwrap; long tests read as one story (the 80-line limit is for
// the library).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::too_many_lines)]

mod common;

use common::cli::{TestLake, one_line, stdout_lines};
use common::s3::S3Server;

#[test]
fn published_tables_are_registered_in_glue_and_a_rerun_updates_them() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let lake = "s3://dmc-lake/lake";
    s3.dfstore(&dir, lake, &["generate", "--scale", "0.002", "--seed", "5"])
        .assert()
        .success();
    s3.dfstore(&dir, lake, &["run"]).assert().success();
    let sync = |s3: &S3Server| {
        stdout_lines(
            s3.dfstore(&dir, lake, &["catalog", "sync-glue", "--database", "dmc"])
                .output()
                .unwrap(),
        )
    };
    let out = sync(&s3);
    assert_eq!(
        out[0], "8 table(s) registered in Glue database dmc",
        "{out:?}"
    );
    assert!(out[2..].iter().all(|l| l.contains("created")), "{out:?}");

    let tables = s3.glue_tables("dmc");
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t.split('\t').next().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "analytic_reporte_ventas_tienda",
            "rejected_detalle_ventas",
            "rejected_ventas",
            "trusted_clientes",
            "trusted_detalle_ventas",
            "trusted_productos",
            "trusted_tiendas",
            "trusted_ventas"
        ]
    );
    let report: Vec<&str> = tables[0].split('\t').collect();
    assert_eq!(
        report[1],
        "fecha date,id_tienda int,codigo_tienda string,nombre_tienda string,ciudad string,\
         region string,formato string,num_ventas bigint,num_clientes bigint,unidades bigint,\
         venta_bruta decimal(18,2),descuento_total decimal(18,2),venta_neta decimal(18,2),\
         costo_total decimal(18,2),margen_bruto decimal(18,2),ticket_promedio decimal(18,2)"
    );
    assert_eq!(report[2], "periodo");
    assert_eq!(
        report[3],
        "s3://dmc-lake/lake/analytic/reporte_ventas_tienda/_symlink_format_manifest/"
    );
    assert_eq!(report[4], "0");
    let months: usize = report[5].parse().unwrap();
    assert!(months >= 12, "{months} partitions");
    assert!(report[6].parse::<usize>().unwrap() >= 1, "no file listed");
    let tiendas: Vec<&str> = tables[6].split('\t').collect();
    assert_eq!(tiendas[2], "", "trusted.tiendas has no partitions");
    assert!(tiendas[6].parse::<usize>().unwrap() >= 1);

    // A month rebuilt: the rerun updates the tables, never duplicates them.
    s3.dfstore(&dir, lake, &["run", "--period", "2025-03"])
        .assert()
        .success();
    let out = sync(&s3);
    assert!(out[2..].iter().all(|l| l.contains("updated")), "{out:?}");
    let again = s3.glue_tables("dmc");
    assert_eq!(again.len(), 8);
    let report: Vec<&str> = again[0].split('\t').collect();
    assert_eq!(report[4], "1");
    assert_eq!(report[5].parse::<usize>().unwrap(), months);

    // A local lake cannot be registered.
    let out = dir
        .cmd(&["catalog", "sync-glue", "--database", "dmc"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line(&out.stderr).contains("local folder"));
}

#[test]
fn the_nightly_lock_of_an_s3_lake_is_a_conditional_write() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let lake = "s3://dmc-lake/night";
    s3.dfstore(&dir, lake, &["generate", "--scale", "0.001", "--seed", "5"])
        .assert()
        .success();
    let out = stdout_lines(s3.dfstore(&dir, lake, &["nightly"]).output().unwrap());
    assert!(out[0].contains(" succeeded in "), "{out:?}");
    // A holder on another machine: the next run stops at once, naming it.
    s3.put_object(
        "dmc-lake",
        "night/_locks/nightly.json",
        r#"{"pipeline_id":"20261130T010000Z-abcdef","host":"other-host","pid":1,"since":"2026-11-30T01:00:00Z"}"#,
    );
    let out = s3.dfstore(&dir, lake, &["nightly"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let line = one_line(&out.stderr);
    assert!(
        line.contains("held by nightly run 20261130T010000Z-abcdef (pid 1 on other-host"),
        "{line}"
    );
}

#[test]
fn the_nightly_puts_its_metrics_into_cloudwatch_and_publishes_to_sns() {
    let s3 = S3Server::start();
    s3.create_bucket("dmc-lake");
    let dir = TestLake::new();
    let lake = "s3://dmc-lake/watched";
    s3.dfstore(&dir, lake, &["generate", "--scale", "0.001", "--seed", "5"])
        .assert()
        .success();
    // A topic with a queue subscribed, to read what was published.
    let made = s3.boto3(
        "sns, sqs = client('sns'), client('sqs')\n\
         topic = sns.create_topic(Name='dfstore-nightly')['TopicArn']\n\
         queue = sqs.create_queue(QueueName='inbox')['QueueUrl']\n\
         arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=['QueueArn'])['Attributes']['QueueArn']\n\
         sns.subscribe(TopicArn=topic, Protocol='sqs', Endpoint=arn)\n\
         print(topic); print(queue)\n",
    );
    let (topic, queue) = (&made[0], &made[1]);
    let out = s3
        .dfstore(
            &dir,
            lake,
            &[
                "nightly",
                "--cloudwatch-namespace",
                "dfstore",
                "--notify-sns",
                topic,
            ],
        )
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Every family is there, named the CloudWatch way, with its dimensions.
    let metrics = s3.boto3(
        "cw = client('cloudwatch')\n\
         for m in sorted(cw.list_metrics(Namespace='dfstore')['Metrics'], key=lambda m: (m['MetricName'], str(m['Dimensions']))):\n\
         \x20   print(m['MetricName'], ','.join(d['Name'] + '=' + d['Value'] for d in m['Dimensions']))\n",
    );
    let has = |name: &str, dims: &str| metrics.iter().any(|m| m == &format!("{name} {dims}"));
    assert!(
        has("ReconciliationFailed", &format!("Lake={lake}")),
        "{metrics:#?}"
    );
    assert!(
        has("NightlySucceeded", &format!("Lake={lake}")),
        "{metrics:#?}"
    );
    assert!(
        has("NightlyStepSeconds", &format!("Lake={lake},Step=run")),
        "{metrics:#?}"
    );
    assert!(
        metrics.iter().any(|m| m.starts_with(&format!(
            "RowsRejected Lake={lake},Table=detalle_ventas,Rule="
        ))),
        "{metrics:#?}"
    );
    // The values read back: the night succeeded, its reconciliation held,
    // and the rejected rows add up to what the run's manifest says.
    let value = |name: &str| {
        s3.boto3(&format!(
            "cw = client('cloudwatch')\n\
             now = datetime.datetime.now(datetime.timezone.utc)\n\
             r = cw.get_metric_statistics(Namespace='dfstore', MetricName='{name}', Dimensions=[dict(Name='Lake', Value='{lake}')], StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(hours=1), Period=3600, Statistics=['Sum'])\n\
             print(sum(p['Sum'] for p in r['Datapoints']))\n"
        ))[0]
        .clone()
    };
    assert_eq!(value("NightlySucceeded"), "1.0");
    assert_eq!(value("ReconciliationFailed"), "0.0");

    // SNS delivered the manifest, with the outcome in the subject.
    let received = s3.boto3(&format!(
        "m = client('sqs').receive_message(QueueUrl='{queue}', MaxNumberOfMessages=10, WaitTimeSeconds=5)['Messages']\n\
         for x in m:\n\
         \x20   body = json.loads(x['Body'])\n\
         \x20   print(body['Subject']); print(json.loads(body['Message'])['outcome'])\n"
    ));
    assert_eq!(received.len(), 2, "{received:?}");
    assert!(
        received[0].starts_with("dfstore nightly ") && received[0].ends_with(" succeeded"),
        "{received:?}"
    );
    assert_eq!(received[1], "succeeded");
}
