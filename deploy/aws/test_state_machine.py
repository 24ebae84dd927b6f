#!/usr/bin/env python3
"""Runs deploy/aws/nightly.asl.json on moto's Step Functions, EMR, SNS and SQS.

What it proves: the failure path end to end. moto's EMR steps never leave
RUNNING, so with poll_seconds=1 and step_timeout_seconds=3 the first step
(Ingest) runs out of its time budget after 3 polls, and the machine must then
terminate the cluster, publish exactly one failure notification naming the
step, and end FAILED. What it cannot prove (moto limits): a step that
COMPLETES, hence the success path; see deploy/aws/README.md.

Usage: python3 deploy/aws/test_state_machine.py   (boto3 and moto[server]==5.2.1)
The last line is "N passed, M failed"; the exit status is 0 only if M == 0.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

HERE = Path(__file__).resolve().parent
ASL = HERE / "nightly.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
EXECUTION_TIMEOUT_S = 120
POLL_SECONDS = 1
STEP_TIMEOUT_SECONDS = 3  # = 3 polls of 1 s: the budget the first step runs out of

# Example values for the template's ${...} placeholders; none is a secret.
SUBSTITUTIONS = {
    "AWS::StackName": "dfstore-nightly-test",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "LakeUri": "s3://dmc-lake/lake",
    "SourceUrl": "postgresql://lake_reader@db.dmc.local:5432/retail?sslmode=require",
    "SourceSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dfstore/source-AbCdEf",
    "WarehouseUrl": "postgresql://loader@dw.dmc.local:5432/dw?sslmode=require",
    "WarehouseSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dfstore/warehouse-AbCdEf",
    "PiiKeySecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dfstore/pii-key-AbCdEf",
    "GlueDatabase": "dmc",
    "BinariesUri": "s3://dmc-artifacts/dfstore/0.1.0/",
    "BootstrapScriptUri": "s3://dmc-artifacts/dfstore/0.1.0/bootstrap.sh",
    "EmrRelease": "emr-7.5.0",
    "PrimaryInstanceType": "m7g.xlarge",
    "CoreInstanceType": "m7g.2xlarge",
    "CoreInstanceCount": "2",
    "EmrServiceRole": "EMR_DefaultRole",
    "EmrInstanceProfile": "EMR_EC2_DefaultRole",
    "LogUri": "s3://dmc-logs/emr/",
    "Subnet": "subnet-0123456789abcdef0",
    "PollSeconds": "30",
    "StepTimeoutSeconds": "7200",
    # Filled in once the topic exists (the template substitutes Ref NotificationTopic).
    "NotificationTopic": None,
}

EXPECTED_INGEST_ARGS = [
    "/usr/local/bin/dfstore", "ingest",
    "--lake", SUBSTITUTIONS["LakeUri"],
    "--pg", SUBSTITUTIONS["SourceUrl"],
    "--pg-secret", SUBSTITUTIONS["SourceSecretArn"],
]


def substitute(text, values):
    """Fn::Sub as CloudFormation applies it to the inlined definition."""
    def one(match):
        name = match.group(1)
        if values.get(name) is None:
            raise KeyError(f"no value for placeholder ${{{name}}}")
        return values[name]
    return re.sub(r"\$\{([A-Za-z0-9:]+)\}", one, text)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}{': ' + detail if detail else ''}")
        return ok


def start_moto():
    port = free_port()
    moto_server = Path(sys.executable).parent / "moto_server"
    env = dict(os.environ, MOTO_PORT=str(port),  # the aws-sdk tasks call back into this server
               AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_DEFAULT_REGION=REGION)
    log = open(os.environ.get("DFSTORE_MOTO_LOG", "/tmp/dfstore-moto-sfn.log"), "w")
    proc = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # wait until it answers, not a fixed sleep
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto_server did not start on port {port}")
            time.sleep(0.1)


def main():
    results = Results()
    proc, url = start_moto()
    try:
        run(url, results)
    except Exception as e:  # a crash is one more failure, and still stops moto
        results.check("test ran to completion", False, f"{type(e).__name__}: {e}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"{results.passed} passed, {results.failed} failed")
    return 0 if results.failed == 0 else 1


def run(url, r):
    # moto only executes state machines once this is set.
    req = urllib.request.Request(
        f"{url}/moto-api/config", method="POST",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()

    def client(name):
        return boto3.client(name, endpoint_url=url, region_name=REGION,
                            aws_access_key_id="testing", aws_secret_access_key="testing")
    sfn, emr, sns, sqs = client("stepfunctions"), client("emr"), client("sns"), client("sqs")

    topic_arn = sns.create_topic(Name="dfstore-nightly-test")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="dfstore-nightly-notifications")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                  Attributes={"RawMessageDelivery": "true"})

    values = dict(SUBSTITUTIONS, NotificationTopic=topic_arn)
    definition = substitute(ASL.read_text(), values)
    json.loads(definition)  # still JSON after substitution
    sm_arn = sfn.create_state_machine(
        name="dfstore-nightly-test", definition=definition, type="STANDARD",
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/x")["stateMachineArn"]
    execution_arn = sfn.start_execution(
        stateMachineArn=sm_arn, name="night-1",
        input=json.dumps({"poll_seconds": POLL_SECONDS,
                          "step_timeout_seconds": STEP_TIMEOUT_SECONDS}))["executionArn"]

    deadline = time.monotonic() + EXECUTION_TIMEOUT_S
    while True:
        desc = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    r.check("execution finished within the time limit", desc["status"] != "RUNNING",
            f"still RUNNING after {EXECUTION_TIMEOUT_S} s")
    r.check("execution FAILED", desc["status"] == "FAILED", desc["status"])
    r.check("fail state's error is NightlyFailed", desc.get("error") == "NightlyFailed", str(desc.get("error")))

    events = []
    kwargs = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events += page["events"]
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    scheduled = [e["taskScheduledEventDetails"] for e in events if e["type"] == "TaskScheduled"]
    calls = [f'{d["resourceType"]}:{d["resource"]}' for d in scheduled]
    print("     task calls in order: " + ", ".join(calls))
    expected_prefix = ["aws-sdk:emr:runJobFlow", "aws-sdk:emr:addJobFlowSteps"]
    r.check("runJobFlow then addJobFlowSteps", calls[:2] == expected_prefix, str(calls[:2]))
    # moto 5.2.1 answers GetAutoTerminationPolicy with a 500, so the backstop is
    # checked in the request the machine sent rather than read back from EMR.
    run_params = json.loads(scheduled[0]["parameters"]) if scheduled else {}
    r.check("runJobFlow asks for idle auto-termination after 3600 s and to stay alive between steps",
            run_params.get("AutoTerminationPolicy") == {"IdleTimeout": 3600}
            and run_params.get("Instances", {}).get("KeepJobFlowAliveWhenNoSteps") is True,
            str(run_params.get("AutoTerminationPolicy")))
    describes = [c for c in calls[2:] if c == "aws-sdk:emr:describeStep"]
    r.check(f"describeStep polled {STEP_TIMEOUT_SECONDS // POLL_SECONDS} times",
            len(describes) == STEP_TIMEOUT_SECONDS // POLL_SECONDS, str(len(describes)))
    after = calls[2 + len(describes):]
    r.check("then terminateJobFlows, then sns:publish, nothing else",
            after == ["aws-sdk:emr:terminateJobFlows", "sns:publish"], str(after))
    only_one_step = calls.count("aws-sdk:emr:addJobFlowSteps") == 1
    r.check("no step after the timed-out Ingest was added", only_one_step, str(calls))
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    r.check("StepTimedOut and TerminateOnFailure states were entered",
            "StepTimedOut" in entered and "TerminateOnFailure" in entered, str(entered))

    clusters = emr.list_clusters()["Clusters"]
    r.check("exactly one EMR cluster created", len(clusters) == 1, str(len(clusters)))
    if clusters:
        cluster_id = clusters[0]["Id"]
        state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
        r.check("cluster is terminated", state in ("TERMINATED", "TERMINATING"), state)
        cluster = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]
        tags = {t["Key"]: t["Value"] for t in cluster.get("Tags", [])}
        r.check("cluster tagged with the stack (the IAM policy's condition)",
                tags.get("dfstore:stack") == "dfstore-nightly-test", str(tags))
        steps = emr.list_steps(ClusterId=cluster_id)["Steps"]
        r.check("one step on the cluster", len(steps) == 1, str(len(steps)))
        if steps:
            conf = steps[0]["Config"]
            r.check("step is command-runner.jar running dfstore ingest",
                    conf["Jar"] == "command-runner.jar" and conf["Args"] == EXPECTED_INGEST_ARGS,
                    f'{conf["Jar"]} {conf["Args"]}')

    messages = []
    while True:  # drain the queue; an empty receive ends it
        got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not got.get("Messages"):
            break
        messages += got["Messages"]
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])])
    r.check("exactly one notification", len(messages) == 1, str(len(messages)))
    if messages:
        body = messages[0]["Body"]
        print("     notification: " + body.replace("\n", " | "))
        r.check("notification says the execution FAILED at step Ingest",
                "FAILED at step Ingest" in body, body)
        r.check("notification gives the error StepTimedOut", "StepTimedOut" in body, body)


if __name__ == "__main__":
    sys.exit(main())
