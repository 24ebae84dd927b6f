#!/usr/bin/env python3
"""Runs deploy/aws/nightly.asl.json on moto's Step Functions, EMR, SNS and SQS.

moto runs in this process (ThreadedMotoServer), so the test can move an EMR
step to the state it needs: moto's own steps never leave RUNNING. Each
execution polls every second and is checked by the task calls in its
history, its end state, the cluster's state and the one notification:
  - success: every step COMPLETED; both steps added, cluster terminated,
    "succeeded" published, and the cluster's idle timeout above the steps'
    budget;
  - a step FAILED, CANCELLED or INTERRUPTED (CANCELLED with the cluster
    TERMINATED_WITH_ERRORS is what EMR does when a bootstrap action fails):
    StepFailed, cluster terminated, "FAILED at step Nightly";
  - a step still RUNNING when its budget is spent: StepTimedOut;
  - settings over the history limit: refused before any cluster exists.
It also measures the history events one poll costs, which the template's
PollSeconds/StepTimeoutSeconds limits and CheckSettings rely on.

Usage: python3 deploy/aws/test_state_machine.py   (boto3 and moto[server]==5.2.1)
The last line is "N passed, M failed"; the exit status is 0 only if M == 0.
"""

import json
import logging
import os
import re
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import boto3
from moto.emr.models import emr_backends
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.stepfunctions.parser.models import stepfunctions_parser_backends

HERE = Path(__file__).resolve().parent
ASL = HERE / "nightly.asl.json"
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
EXECUTION_TIMEOUT_S = 60
POLL_SECONDS = 1
STEP_TIMEOUT_SECONDS = 3  # = 3 polls of 1 s: the budget a step left RUNNING runs out of
HISTORY_LIMIT = 25_000  # Step Functions' hard quota of events in one execution's history
EVENTS_PER_POLL = 11  # Wait 2 + describeStep Task 5 + Choice 2 + count Pass 2 (CheckSettings' figure)

# Example values for the template's ${...} placeholders; none is a secret.
SUBSTITUTIONS = {
    "AWS::StackName": "dfstore-nightly-test",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "LakeUri": "s3://dmc-lake/lake",
    "ProjectUri": "s3://dmc-artifacts/projects/retail_insights",
    "SourceUrl": "postgresql://lake_reader@db.dmc.local:5432/retail?sslmode=require",
    "SourceSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dfstore/source-AbCdEf",
    "WarehouseUrl": "postgresql://loader@dw.dmc.local:5432/dw?sslmode=require",
    "WarehouseSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:dfstore/warehouse-AbCdEf",
    "RedshiftCopyRoleArn": f"arn:aws:iam::{ACCOUNT}:role/dfstore-redshift-copy",
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
    "PrimarySecurityGroup": "sg-0123456789abcdef0",
    "CoreSecurityGroup": "sg-0fedcba9876543210",
    "NodeSecurityConfiguration": "dfstore-nightly-test-NodeSecurityConfiguration",
    "PollSeconds": "30",
    "StepTimeoutSeconds": "14400",
    # Filled in once the topic exists (the template substitutes Ref NotificationTopic).
    "NotificationTopic": None,
}

REGION_ENV = ["/usr/bin/env", f"AWS_REGION={REGION}", f"AWS_DEFAULT_REGION={REGION}"]
EXPECTED_NIGHTLY_ARGS = REGION_ENV + [
    f"DFSTORE_PROJECT={SUBSTITUTIONS['ProjectUri']}",
    "/usr/local/bin/dfstore", "nightly",
    "--lake", SUBSTITUTIONS["LakeUri"],
    "--pg", SUBSTITUTIONS["SourceUrl"],
    "--pg-secret", SUBSTITUTIONS["SourceSecretArn"],
    "--warehouse", SUBSTITUTIONS["WarehouseUrl"],
    "--warehouse-secret", SUBSTITUTIONS["WarehouseSecretArn"],
    "--scheduler", "df://127.0.0.1:50050",
    "--cloudwatch-namespace", "dfstore",
    "--redshift-iam-role", SUBSTITUTIONS["RedshiftCopyRoleArn"],
]
EXPECTED_SYNC_ARGS = REGION_ENV + [
    "/usr/local/bin/dfstore", "catalog", "sync-glue",
    "--database", SUBSTITUTIONS["GlueDatabase"], "--lake", SUBSTITUTIONS["LakeUri"],
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
    # moto logs every request and every failed state; the checks say what matters.
    for name in ("werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.DEBUG if os.environ.get("DFSTORE_MOTO_DEBUG") else logging.CRITICAL)
    port = free_port()
    # The aws-sdk tasks call back into this server; any credentials do.
    os.environ.update(MOTO_PORT=str(port), AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main():
    results = Results()
    server, url = start_moto()
    try:
        run(url, results)
    except Exception as e:  # a crash is one more failure, and still stops moto
        results.check("test ran to completion", False, f"{type(e).__name__}: {e}")
    finally:
        server.stop()
    print(f"{results.passed} passed, {results.failed} failed")
    return 0 if results.failed == 0 else 1


class StepForcer(threading.Thread):
    """Moves the EMR steps of one execution's cluster to the states a scenario
    gives, as EMR would: `outcome(step_name)` is the state to put a step in
    (None leaves it RUNNING); `cluster_state` is set on the cluster with it."""

    def __init__(self, execution, outcome, cluster_state=None):
        super().__init__(daemon=True)
        self.execution, self.outcome, self.cluster_state = execution, outcome, cluster_state
        self.done = threading.Event()

    def run(self):
        backend = emr_backends[ACCOUNT][REGION]
        while not self.done.wait(0.05):
            for cluster in list(backend.clusters.values()):
                if cluster._tags.get("dfstore:execution") != self.execution:
                    continue
                for step in cluster.steps:
                    state = self.outcome(step.name)
                    if state and step.state in ("PENDING", "RUNNING"):
                        step.state = state
                        if self.cluster_state:
                            cluster.state = self.cluster_state


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

    def execute(name, outcome=lambda step: None, cluster_state=None, **settings):
        """Starts one execution, forcing its steps; returns (description, calls, scheduled, entered, events)."""
        sm_arn = sfn.create_state_machine(
            name=f"dfstore-nightly-test-{name}", definition=definition, type="STANDARD",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/x")["stateMachineArn"]
        forcer = StepForcer(name, outcome, cluster_state)
        forcer.start()
        try:
            arn = sfn.start_execution(
                stateMachineArn=sm_arn, name=name,
                input=json.dumps(settings or {"poll_seconds": POLL_SECONDS,
                                              "step_timeout_seconds": STEP_TIMEOUT_SECONDS}))["executionArn"]
            deadline = time.monotonic() + EXECUTION_TIMEOUT_S
            while True:
                desc = sfn.describe_execution(executionArn=arn)
                if desc["status"] != "RUNNING" or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            forcer.done.set()
        events, kwargs = [], {"executionArn": arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**kwargs)
            events += page["events"]
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
        # moto 5.2.1 deep-copies the whole backend when it starts an execution,
        # and a finished execution's worker holds locks: drop them once read.
        for machine in stepfunctions_parser_backends[ACCOUNT][REGION].state_machines:
            for finished in machine.executions:
                finished.exec_worker = None
        scheduled = [e["taskScheduledEventDetails"] for e in events if e["type"] == "TaskScheduled"]
        calls = [f'{d["resourceType"]}:{d["resource"]}' for d in scheduled]
        entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
        print(f"     {name}: {desc['status']}; task calls: " + ", ".join(calls))
        return desc, calls, scheduled, entered, events

    def notifications():
        messages = []
        while True:  # drain the queue; an empty receive ends it
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            if not got.get("Messages"):
                return [m["Body"] for m in messages]
            messages += got["Messages"]
            sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])])

    def cluster_of(execution):
        for c in emr.list_clusters()["Clusters"]:
            tags = {t["Key"]: t["Value"] for t in emr.describe_cluster(ClusterId=c["Id"])["Cluster"].get("Tags", [])}
            if tags.get("dfstore:execution") == execution:
                return c["Id"], tags
        return None, {}

    # ---- success: every step COMPLETED
    desc, calls, scheduled, entered, events = execute("night-ok", lambda step: "COMPLETED")
    r.check("success: execution SUCCEEDED", desc["status"] == "SUCCEEDED", f'{desc["status"]} {desc.get("error")} {desc.get("cause")}')
    r.check("success: runJobFlow, the nightly step, its poll, the sync-glue step, its poll, terminate, publish",
            calls == ["aws-sdk:emr:runJobFlow", "aws-sdk:emr:addJobFlowSteps", "aws-sdk:emr:describeStep",
                      "aws-sdk:emr:addJobFlowSteps", "aws-sdk:emr:describeStep",
                      "aws-sdk:emr:terminateJobFlows", "sns:publish"], str(calls))
    run_params = json.loads(scheduled[0]["parameters"]) if scheduled else {}
    # moto 5.2.1 answers GetAutoTerminationPolicy with a 500, so the backstop is
    # checked in the request the machine sent rather than read back from EMR.
    idle = run_params.get("AutoTerminationPolicy", {}).get("IdleTimeout")
    r.check("runJobFlow: idle auto-termination after both steps' budget + 15 min, alive between steps",
            idle == 2 * STEP_TIMEOUT_SECONDS + 900
            and run_params.get("Instances", {}).get("KeepJobFlowAliveWhenNoSteps") is True, str(idle))
    instances = run_params.get("Instances", {})
    r.check("runJobFlow: the additional security groups and the security configuration",
            instances.get("AdditionalMasterSecurityGroups") == [SUBSTITUTIONS["PrimarySecurityGroup"]]
            and instances.get("AdditionalSlaveSecurityGroups") == [SUBSTITUTIONS["CoreSecurityGroup"]]
            and run_params.get("SecurityConfiguration") == SUBSTITUTIONS["NodeSecurityConfiguration"],
            json.dumps(instances)[:300])
    cluster_id, tags = cluster_of("night-ok")
    r.check("success: cluster tagged with the stack and for the EMR v2 managed policies",
            tags.get("dfstore:stack") == "dfstore-nightly-test"
            and tags.get("for-use-with-amazon-emr-managed-policies") == "true", str(tags))
    if cluster_id:
        state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"]
        r.check("success: cluster terminated", state in ("TERMINATED", "TERMINATING"), state)
        steps = sorted(emr.list_steps(ClusterId=cluster_id)["Steps"], key=lambda s: s["Name"])
        args = {s["Name"]: (s["Config"]["Jar"], s["Config"]["Args"]) for s in steps}
        r.check("success: the nightly step runs dfstore nightly with the region, the retries' flags default, the COPY role",
                args.get("dfstore nightly") == ("command-runner.jar", EXPECTED_NIGHTLY_ARGS), str(args.get("dfstore nightly")))
        r.check("success: the sync-glue step runs dfstore catalog sync-glue with the region",
                args.get("dfstore catalog sync-glue") == ("command-runner.jar", EXPECTED_SYNC_ARGS),
                str(args.get("dfstore catalog sync-glue")))
    got = notifications()
    r.check("success: exactly one notification, \"succeeded\"", len(got) == 1 and "succeeded" in got[0], str(got))

    # ---- a step that ends without COMPLETED, and a cluster whose bootstrap failed
    for name, state, cluster_state in [("night-failed", "FAILED", None),
                                        ("night-cancelled", "CANCELLED", None),
                                        ("night-interrupted", "INTERRUPTED", None),
                                        ("night-bootstrap-failed", "CANCELLED", "TERMINATED_WITH_ERRORS")]:
        desc, calls, _, entered, _ = execute(name, lambda step, s=state: s, cluster_state)
        r.check(f"{name}: FAILED with NightlyFailed after StepFailed and TerminateOnFailure",
                desc["status"] == "FAILED" and desc.get("error") == "NightlyFailed"
                and "StepFailed" in entered and "TerminateOnFailure" in entered, f'{desc["status"]} {entered}')
        r.check(f"{name}: no sync-glue step after the failed nightly step",
                calls.count("aws-sdk:emr:addJobFlowSteps") == 1 and calls[-2:] == ["aws-sdk:emr:terminateJobFlows", "sns:publish"],
                str(calls))
        got = notifications()
        r.check(f"{name}: one notification, FAILED at step Nightly, StepFailed, ended {state}",
                len(got) == 1 and "FAILED at step Nightly" in got[0] and "StepFailed" in got[0] and f"ended {state}" in got[0],
                str(got))

    # ---- a step still RUNNING when its budget is spent
    desc, calls, _, entered, events = execute("night-timeout")
    r.check("timeout: FAILED after StepTimedOut and TerminateOnFailure",
            desc["status"] == "FAILED" and "StepTimedOut" in entered and "TerminateOnFailure" in entered, str(entered))
    describes = calls.count("aws-sdk:emr:describeStep")
    r.check(f"timeout: describeStep polled {STEP_TIMEOUT_SECONDS // POLL_SECONDS} times, then terminate and publish",
            describes == STEP_TIMEOUT_SECONDS // POLL_SECONDS
            and calls[-2:] == ["aws-sdk:emr:terminateJobFlows", "sns:publish"], str(calls))
    cluster_id, _ = cluster_of("night-timeout")
    state = emr.describe_cluster(ClusterId=cluster_id)["Cluster"]["Status"]["State"] if cluster_id else None
    r.check("timeout: cluster terminated", state in ("TERMINATED", "TERMINATING"), str(state))
    got = notifications()
    r.check("timeout: one notification, FAILED at step Nightly with StepTimedOut",
            len(got) == 1 and "FAILED at step Nightly" in got[0] and "StepTimedOut" in got[0], str(got))
    # The history one poll costs: the events between two entries into DescribeNightly.
    polls_at = [i for i, e in enumerate(events) if e["type"] == "TaskStateEntered"
                and e["stateEnteredEventDetails"]["name"] == "DescribeNightly"]
    per_poll = (polls_at[-1] - polls_at[0]) / (len(polls_at) - 1) if len(polls_at) > 1 else 0
    r.check(f"a poll costs at most {EVENTS_PER_POLL} history events ({per_poll:.1f} here), so 2 steps x 1,000 polls "
            f"stay under {HISTORY_LIMIT:,}", 0 < per_poll <= EVENTS_PER_POLL
            and 2 * 1000 * EVENTS_PER_POLL + len(events) < HISTORY_LIMIT, f"{per_poll}")

    # ---- settings over the history limit, and settings that are not numbers
    for name, settings in [("night-too-many-polls", {"poll_seconds": 1, "step_timeout_seconds": 5000}),
                           ("night-not-numbers", {"poll_seconds": "30", "step_timeout_seconds": 600})]:
        desc, calls, _, entered, _ = execute(name, **settings)
        r.check(f"{name}: refused before any cluster (SettingsRejected, no EMR call)",
                desc["status"] == "FAILED" and "SettingsRejected" in entered and calls == ["sns:publish"]
                and cluster_of(name)[0] is None, f"{desc['status']} {calls}")
        got = notifications()
        r.check(f"{name}: one notification naming SettingsRejected",
                len(got) == 1 and "SettingsRejected" in got[0], str(got))


if __name__ == "__main__":
    sys.exit(main())
