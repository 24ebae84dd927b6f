#!/usr/bin/env bash
# Checks the IAM policy documents in deploy/aws/iam/ for the EMR cluster:
#   1. each file's ${Placeholders} are all known (the list below, which
#      deploy/aws/README.md explains), and it is valid JSON once they are
#      replaced by example values;
#   2. parliament (Duo Labs' IAM linter, from PyPI) reports no finding on it,
#      at any severity: unknown actions, resources that do not match the
#      actions, malformed ARNs or conditions, and the like;
#   3. no Allow statement has "Resource": "*" unless every one of its actions
#      accepts only "*" (STAR_ONLY below: actions that support no
#      resource-level permission), and no action or NotAction is a wildcard.
# Trust policies (trust-*.json) get checks 1 and 3 and a check of their own:
# one AWS service principal, sts:AssumeRole only.
# The last line is "N passed, M failed"; the exit status is 0 only if M = 0.
#
# Idempotent: parliament is installed once, outside the repository, into
#   ${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}  parliament==1.6.4 (beside validate.sh's cfn-lint)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
aws_venv="${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}"
parliament_version=1.6.4

if [[ "$("$aws_venv/bin/parliament" --version 2>/dev/null || true)" != *"$parliament_version"* ]]; then
    echo "installing parliament==$parliament_version into $aws_venv"
    python3 -m venv "$aws_venv"
    "$aws_venv/bin/pip" install --quiet --disable-pip-version-check "parliament==$parliament_version"
fi

exec "$aws_venv/bin/python" - "$here/iam" "$aws_venv/bin/parliament" <<'EOF'
import json, pathlib, re, subprocess, sys

iam_dir, parliament = pathlib.Path(sys.argv[1]), sys.argv[2]

# The placeholders, with the example values they are checked with.
EXAMPLES = {
    "AccountId": "111122223333",
    "Region": "us-east-1",
    "LakeBucket": "dmc-lake",
    "LakePrefix": "lake",
    "KmsKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
    "SecretsKmsKeyId": "5678abcd-12ab-34cd-56ef-1234567890ab",
    "ArtifactsBucket": "dmc-artifacts",
    "BinariesPrefix": "dfstore/0.1.0",
    "ProjectBucket": "dmc-artifacts",
    "ProjectPrefix": "projects/retail",
    "LogBucket": "dmc-logs",
    "LogPrefix": "emr",
    "PgSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:dfstore/source-AbCdEf",
    "WarehouseSecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:dfstore/warehouse-AbCdEf",
    "PiiKeySecretArn": "arn:aws:secretsmanager:us-east-1:111122223333:secret:dfstore/pii-key-AbCdEf",
    "GlueDatabase": "dmc",
    "SubnetId": "subnet-0123456789abcdef0",
    "VpcId": "vpc-0123456789abcdef0",
    "InstanceRoleName": "dfstore-emr-instance",
}

# Actions that accept only "Resource": "*" (no resource-level permissions in
# the Service Authorization Reference). Nothing else may be granted on "*".
STAR_ONLY = {
    "ec2:DescribeAccountAttributes", "ec2:DescribeCapacityReservations", "ec2:DescribeDhcpOptions",
    "ec2:DescribeImages", "ec2:DescribeInstances", "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeLaunchTemplates", "ec2:DescribeNetworkAcls", "ec2:DescribeNetworkInterfaces",
    "ec2:DescribePlacementGroups", "ec2:DescribeRouteTables", "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets", "ec2:DescribeVolumes", "ec2:DescribeVolumeStatus",
    "ec2:DescribeVpcEndpoints", "ec2:DescribeVpcs",
    "cloudwatch:PutMetricData",  # narrowed by its cloudwatch:namespace condition instead
}

passed = failed = 0


def check(name, problems):
    global passed, failed
    if problems:
        failed += 1
        print(f"FAIL {name}")
        for p in problems:
            print(f"     {p}")
    else:
        passed += 1
        print(f"ok   {name}")


def as_list(value):
    return value if isinstance(value, list) else [value]


def substitute(path):
    text = path.read_text()
    unknown = sorted(set(re.findall(r"\$\{([^}]*)\}", text)) - EXAMPLES.keys())
    for name, value in EXAMPLES.items():
        text = text.replace("${" + name + "}", value)
    try:
        return unknown, json.loads(text), text
    except json.JSONDecodeError as e:
        return unknown + [f"not JSON: {e}"], None, text


def star_problems(doc):
    problems = []
    for i, st in enumerate(as_list(doc.get("Statement", []))):
        sid = st.get("Sid", f"statement {i}")
        actions = as_list(st.get("Action", [])) + as_list(st.get("NotAction", []))
        wild = [a for a in actions if "*" in a]
        if wild:
            problems.append(f"{sid}: wildcard action(s) {wild}")
        if "NotAction" in st or "NotResource" in st:
            problems.append(f"{sid}: NotAction/NotResource grants more than it names")
        if st.get("Effect") == "Allow" and "*" in as_list(st.get("Resource", [])):
            scoped = sorted(set(as_list(st.get("Action", []))) - STAR_ONLY)
            if scoped:
                problems.append(f'{sid}: "Resource": "*" for actions that take resource ARNs: {scoped}')
    return problems


def parliament_findings(text):
    run = subprocess.run([parliament, "--json", "--string", text], capture_output=True, text=True)
    findings = [line for line in run.stdout.splitlines() if line.strip()]
    if run.returncode not in (0, 1) or (run.returncode == 1 and not findings):
        return [f"parliament exited {run.returncode}: {run.stderr.strip()[-500:]}"]
    return [
        f"{f.get('severity')} {f.get('issue')}: {f.get('title')} {json.dumps(f.get('detail'))} {json.dumps(f.get('location'))}"
        for f in map(json.loads, findings)
    ]


def trust_problems(doc):
    problems = []
    for i, st in enumerate(as_list(doc.get("Statement", []))):
        sid = st.get("Sid", f"statement {i}")
        principal = st.get("Principal", {})
        services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
        if st.get("Effect") != "Allow" or len(principal) != 1 or len(services) != 1:
            problems.append(f"{sid}: must allow exactly one AWS service principal, found {principal}")
        if as_list(st.get("Action")) != ["sts:AssumeRole"]:
            problems.append(f"{sid}: must allow sts:AssumeRole only, found {st.get('Action')}")
        if "Resource" in st:
            problems.append(f"{sid}: a trust policy has no Resource")
    return problems


files = sorted(iam_dir.glob("*.json"))
EXPECTED = {"emr-instance-profile.json", "emr-service-role-pass-instance-role.json", "redshift-copy-role.json",
            "trust-emr-instance-profile.json", "trust-emr-service-role.json", "trust-redshift-copy-role.json"}
found = {f.name for f in files}
check(f"{iam_dir.name}/ holds the six documents deploy/aws/README.md lists",
      [] if found == EXPECTED else [f"missing {sorted(EXPECTED - found)}, unexpected {sorted(found - EXPECTED)}"])
for path in files:
    name = f"iam/{path.name}"
    unknown, doc, text = substitute(path)
    check(f"{name}: known placeholders only, valid JSON once substituted",
          [f"unknown placeholder ${{{u}}}" if not u.startswith("not JSON") else u for u in unknown])
    if doc is None:
        continue
    check(f'{name}: no "Resource": "*" except for actions that accept only "*", no wildcard actions',
          star_problems(doc))
    if path.name.startswith("trust-"):
        check(f"{name}: one service principal, sts:AssumeRole only", trust_problems(doc))
    else:
        check(f"{name}: parliament finds nothing", parliament_findings(text))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
