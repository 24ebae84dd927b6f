#!/usr/bin/env python3
"""Rules over nightly.yaml and its state machine (nightly.asl.json) that
cfn-lint and asl-validator do not know, each for a defect that would fail a
real night:

  region      every EMR step sets AWS_REGION to the stack's region (command-runner
              steps do not inherit the environment the bootstrap gives the daemons);
  idle        the cluster's idle timeout outlasts every step's budget (EMR judges
              idleness by YARN and steps; dfstore's processes are not YARN apps);
  history     no allowed settings let an execution pass Step Functions' 25,000
              history events (the parameters' bounds, and CheckSettings for an
              execution's input), and the steps fit the machine's TimeoutSeconds;
  network     primary and core security-group parameters reach RunJobFlow;
  tls         the URL parameters refuse sslmode=verify-full without sslrootcert;
  encryption  RunJobFlow names a security configuration that encrypts local disks;
  tags        the cluster carries for-use-with-amazon-emr-managed-policies=true
              (AmazonEMRServicePolicy_v2 acts only on resources so tagged);
  iam         the state machine's role allows every action its tasks need;
  copy-role   the nightly step passes --redshift-iam-role when one is configured.

    check_template.py             # check; exit 1 when a rule fails
    check_template.py --self-test # also break the template once per rule and
                                  # require that rule (only) to fail

Runs with cfn-lint's Python (it parses the template's short-form tags).
The last line is "N passed, M failed".
"""

import copy
import json
import math
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

HERE = Path(__file__).resolve().parent
HISTORY_LIMIT = 25_000
# A poll is Wait (2 events) + describeStep Task (5) + Choice (2) + count Pass (2);
# test_state_machine.py measures it on moto.
EVENTS_PER_POLL = 11
# Events outside the polling loops, with room for every Task's retries.
FIXED_EVENTS = 400
CLUSTER_START_SECONDS = 1800  # what the machine's TimeoutSeconds keeps for the cluster to start


def load():
    template, matches = decode(str(HERE / "nightly.yaml"))
    if matches:
        sys.exit(f"nightly.yaml does not parse: {matches}")
    definition = json.loads((HERE / "nightly.asl.json").read_text())
    return template, definition


def tasks(definition, resource_suffix):
    return {n: s for n, s in definition["States"].items()
            if s.get("Type") == "Task" and s.get("Resource", "").endswith(resource_suffix)}


def step_commands(definition):
    """Every command an EMR step runs: (where, args), args from the step or the Pass state that prepares it."""
    found = []
    for name, state in tasks(definition, "emr:addJobFlowSteps").items():
        for step in state["Parameters"]["Steps"]:
            jar = step["HadoopJarStep"]
            if "Args" in jar:
                found.append((name, jar["Args"]))
            elif jar.get("Args.$") == "$.step.args":
                for pname, p in definition["States"].items():
                    if p.get("Type") == "Pass" and p.get("Next") == name and "args" in p.get("Parameters", {}):
                        found.append((pname, p["Parameters"]["args"]))
            else:
                found.append((name, None))
    return found


def rule_region(t, d):
    problems = []
    commands = step_commands(d)
    if not commands:
        problems.append("no EMR step found")
    for where, args in commands:
        if not args or args[0] != "/usr/bin/env" or "AWS_REGION=${AWS::Region}" not in args:
            problems.append(f"{where}: the step does not run under /usr/bin/env AWS_REGION=${{AWS::Region}}: {args}")
    return problems


def intrinsic_sum(expr):
    """The paths a nested States.MathAdd adds, and its numbers; None if it is something else."""
    expr = expr.strip()
    m = re.fullmatch(r"States\.MathAdd\((.*)\)", expr)
    if not m:
        if expr.startswith("$."):
            return [expr], 0
        if re.fullmatch(r"-?[0-9]+", expr):
            return [], int(expr)
        return None
    depth, parts, cur = 0, [], ""
    for ch in m.group(1):
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    parts.append(cur)
    paths, number = [], 0
    for part in parts:
        sub = intrinsic_sum(part)
        if sub is None:
            return None
        paths += sub[0]
        number += sub[1]
    return paths, number


def resolve(d, path):
    """Follows $.limits.steps_seconds back to the Pass state that computes it."""
    for state in d["States"].values():
        params = state.get("Parameters", {})
        if state.get("Type") == "Pass" and state.get("ResultPath", "$") == "$":
            node = params
            for key in path[2:].split(".")[:-1]:
                node = node.get(key, {}) if isinstance(node, dict) else {}
            last = path.split(".")[-1]
            if isinstance(node, dict) and last + ".$" in node:
                return node[last + ".$"]
    return None


def rule_idle(t, d):
    create = tasks(d, "emr:runJobFlow")
    if len(create) != 1:
        return [f"expected one runJobFlow task, found {list(create)}"]
    policy = next(iter(create.values()))["Parameters"].get("AutoTerminationPolicy", {})
    steps = len(tasks(d, "emr:addJobFlowSteps"))
    max_budget = t["Parameters"]["StepTimeoutSeconds"].get("MaxValue")
    if "IdleTimeout" in policy:
        if max_budget is None or policy["IdleTimeout"] < steps * int(max_budget):
            return [f"IdleTimeout {policy['IdleTimeout']} is below {steps} steps x StepTimeoutSeconds' MaxValue {max_budget}"]
        return []
    expr = policy.get("IdleTimeout.$")
    if not expr:
        return ["RunJobFlow has no AutoTerminationPolicy.IdleTimeout"]
    total = intrinsic_sum(expr)
    if total is None:
        return [f"IdleTimeout.$ is not a sum: {expr}"]
    paths, number = total
    budget = []
    for p in paths:
        if p == "$.config.step_timeout_seconds":
            budget.append(p)
        else:
            sub = resolve(d, p)
            inner = intrinsic_sum(sub) if sub else None
            if inner is None:
                return [f"IdleTimeout.$ adds {p}, which no Pass state computes as a sum"]
            budget += [q for q in inner[0] if q == "$.config.step_timeout_seconds"]
            number += inner[1]
    if len(budget) < steps or number < 0:
        return [f"IdleTimeout.$ = {expr} adds the step budget {len(budget)} times for {steps} steps"]
    return []


def allowed_tiers(d):
    """(min poll, max timeout) pairs CheckSettings lets through to the cluster."""
    state = d["States"].get("CheckSettings")
    if not state or state.get("Type") != "Choice":
        return None
    tiers = []
    for choice in state["Choices"]:
        for alt in choice.get("Or", [choice]):
            conds = alt.get("And", [alt])
            poll = max((c["NumericGreaterThanEquals"] for c in conds
                        if c.get("Variable") == "$.config.poll_seconds" and "NumericGreaterThanEquals" in c), default=None)
            timeout = min((c["NumericLessThanEquals"] for c in conds
                           if c.get("Variable") == "$.config.step_timeout_seconds" and "NumericLessThanEquals" in c), default=None)
            tiers.append((poll, timeout))
    return tiers


def rule_history(t, d):
    problems = []
    steps = len(tasks(d, "emr:addJobFlowSteps"))

    def events(poll, timeout):
        return steps * math.ceil(timeout / poll) * EVENTS_PER_POLL + FIXED_EVENTS

    params = t["Parameters"]
    poll_min, timeout_max = params["PollSeconds"].get("MinValue"), params["StepTimeoutSeconds"].get("MaxValue")
    if poll_min is None or timeout_max is None:
        problems.append("PollSeconds needs a MinValue and StepTimeoutSeconds a MaxValue")
    elif events(int(poll_min), int(timeout_max)) >= HISTORY_LIMIT:
        problems.append(f"PollSeconds >= {poll_min} and StepTimeoutSeconds <= {timeout_max} allow "
                        f"{events(int(poll_min), int(timeout_max)):,} history events")
    # An execution's input overrides both: CheckSettings must stand between it and the cluster.
    chain, name = [], d["StartAt"]
    while name and name not in chain:
        chain.append(name)
        state = d["States"][name]
        if state.get("Type") == "Choice" or state.get("Resource", "").endswith("emr:runJobFlow"):
            break
        name = state.get("Next")
    if not chain or chain[-1] != "CheckSettings":
        problems.append(f"no CheckSettings Choice before the cluster is created (path {chain})")
    tiers = allowed_tiers(d) or []
    for poll, timeout in tiers:
        if poll is None or timeout is None or poll <= 0:
            problems.append(f"a CheckSettings rule bounds poll_seconds {poll} / step_timeout_seconds {timeout} incompletely")
        elif events(poll, timeout) >= HISTORY_LIMIT:
            problems.append(f"CheckSettings lets poll_seconds {poll} with step_timeout_seconds {timeout} through: "
                            f"{events(poll, timeout):,} history events")
    if timeout_max is not None:
        budget = max([int(timeout_max)] + [tm for _, tm in tiers if tm is not None])
        if steps * budget + CLUSTER_START_SECONDS > d.get("TimeoutSeconds", 0):
            problems.append(f"{steps} steps x {budget} s + {CLUSTER_START_SECONDS} s exceed TimeoutSeconds {d.get('TimeoutSeconds')}")
    return problems


def run_job_flow(d):
    return next(iter(tasks(d, "emr:runJobFlow").values()), {}).get("Parameters", {})


def rule_network(t, d):
    problems = []
    for param, key in [("PrimarySecurityGroup", "AdditionalMasterSecurityGroups"),
                       ("CoreSecurityGroup", "AdditionalSlaveSecurityGroups")]:
        if t["Parameters"].get(param, {}).get("Type") != "AWS::EC2::SecurityGroup::Id":
            problems.append(f"no parameter {param} of type AWS::EC2::SecurityGroup::Id")
        if run_job_flow(d).get("Instances", {}).get(key) != ["${" + param + "}"]:
            problems.append(f"RunJobFlow's Instances.{key} is not [${{{param}}}]")
    return problems


TLS_SAMPLES = [
    ("postgresql://u@db:5432/x?sslmode=verify-full", False),
    ("postgresql://u@db:5432/x?sslmode=verify-full&sslrootcert=", False),
    ("postgresql://u@db:5432/x?sslmode=verify-ca&sslrootcert=/mnt/dfstore/db-ca.pem", False),
    ("postgresql://u:secret@db:5432/x", False),
    ("postgresql://u@db:5432/x?sslmode=verify-full&sslrootcert=/mnt/dfstore/db-ca.pem", True),
    ("postgresql://u@db:5432/x?sslrootcert=/etc/pki/tls/certs/ca-bundle.crt&sslmode=verify-full", True),
    ("postgresql://u@db:5432/x?sslmode=require", True),
    ("postgresql://u@db:5432/x", True),
]


def rule_tls(t, d):
    problems = []
    for param in ("SourceUrl", "WarehouseUrl"):
        pattern = t["Parameters"][param].get("AllowedPattern")
        if not pattern:
            problems.append(f"{param} has no AllowedPattern")
            continue
        for url, ok in TLS_SAMPLES:
            if param == "WarehouseUrl":
                url = url.replace("postgresql://", "redshift://")
            if bool(re.fullmatch(pattern, url)) != ok:
                problems.append(f"{param}'s AllowedPattern {'refuses' if ok else 'accepts'} {url}")
    return problems


def rule_encryption(t, d):
    ref = run_job_flow(d).get("SecurityConfiguration", "")
    m = re.fullmatch(r"\$\{([A-Za-z0-9]+)\}", ref)
    resource = t["Resources"].get(m.group(1)) if m else None
    if not resource or resource.get("Type") != "AWS::EMR::SecurityConfiguration":
        return [f"RunJobFlow's SecurityConfiguration {ref!r} is not an AWS::EMR::SecurityConfiguration of the template"]
    enc = resource["Properties"]["SecurityConfiguration"].get("EncryptionConfiguration", {})
    local = enc.get("AtRestEncryptionConfiguration", {}).get("LocalDiskEncryptionConfiguration", {})
    if enc.get("EnableAtRestEncryption") is not True or not local.get("EncryptionKeyProviderType") \
            or local.get("EnableEbsEncryption") is not True:
        return [f"{m.group(1)} does not encrypt local disks and EBS volumes at rest: {json.dumps(enc)}"]
    return []


def rule_tags(t, d):
    tags = {tag.get("Key"): tag.get("Value") for tag in run_job_flow(d).get("Tags", [])}
    if tags.get("for-use-with-amazon-emr-managed-policies") != "true":
        return [f"the cluster's tags lack for-use-with-amazon-emr-managed-policies=true: {tags}"]
    return []


def needed_actions(d):
    needed = set()
    for state in d["States"].values():
        resource = state.get("Resource", "")
        if state.get("Type") != "Task":
            continue
        if resource.endswith("emr:runJobFlow"):
            needed |= {"elasticmapreduce:RunJobFlow", "iam:PassRole"}
            if state["Parameters"].get("Tags"):
                needed.add("elasticmapreduce:AddTags")
            if state["Parameters"].get("AutoTerminationPolicy"):
                needed.add("elasticmapreduce:PutAutoTerminationPolicy")
        elif ":aws-sdk:" in resource:
            service, action = resource.split(":aws-sdk:")[1].split(":")
            needed.add(f"{'elasticmapreduce' if service == 'emr' else service}:{action[0].upper()}{action[1:]}")
        elif resource.endswith(":sns:publish"):
            needed.add("sns:Publish")
        else:
            needed.add(f"unknown integration {resource}")
    return needed


def rule_iam(t, d):
    allowed = set()
    for policy in t["Resources"]["StateMachineRole"]["Properties"]["Policies"]:
        for st in policy["PolicyDocument"]["Statement"]:
            if st.get("Effect") == "Allow":
                actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
                allowed |= set(actions)
    missing = sorted(needed_actions(d) - allowed)
    return [f"the state machine's role lacks {missing}"] if missing else []


def rule_copy_role(t, d):
    if "RedshiftCopyRoleArn" not in t["Parameters"]:
        return ["no RedshiftCopyRoleArn parameter"]
    for where, args in step_commands(d):
        if args and "nightly" in args and "--redshift-iam-role" in args:
            i = args.index("--redshift-iam-role")
            if args[i + 1] == "${RedshiftCopyRoleArn}":
                return []
    return ["no nightly step passes --redshift-iam-role ${RedshiftCopyRoleArn}"]


RULES = {
    "region": rule_region, "idle": rule_idle, "history": rule_history, "network": rule_network,
    "tls": rule_tls, "encryption": rule_encryption, "tags": rule_tags, "iam": rule_iam,
    "copy-role": rule_copy_role,
}


# One defect per rule, as it was or could come back: each must make its rule (and only it) fail.
def _drop_region(t, d):
    for state in d["States"].values():
        args = state.get("Parameters", {}).get("args")
        if args and "catalog" in args:
            del args[:3]


def _short_idle(t, d):
    run_job_flow(d)["AutoTerminationPolicy"] = {"IdleTimeout": 3600}


def _many_polls(t, d):
    t["Parameters"]["PollSeconds"]["MinValue"] = 1


def _lenient_check(t, d):
    d["States"]["CheckSettings"]["Choices"][0]["Or"][0]["And"][2]["NumericLessThanEquals"] = 7200


def _no_security_groups(t, d):
    del run_job_flow(d)["Instances"]["AdditionalMasterSecurityGroups"]


def _verify_full_without_ca(t, d):
    t["Parameters"]["SourceUrl"]["AllowedPattern"] = r"^postgresql://[^:@/]+@.+$"


def _no_security_configuration(t, d):
    del run_job_flow(d)["SecurityConfiguration"]


def _no_managed_policy_tag(t, d):
    run_job_flow(d)["Tags"] = [tag for tag in run_job_flow(d)["Tags"]
                               if tag["Key"] != "for-use-with-amazon-emr-managed-policies"]


def _no_add_tags(t, d):
    for policy in t["Resources"]["StateMachineRole"]["Properties"]["Policies"]:
        policy["PolicyDocument"]["Statement"] = [
            st for st in policy["PolicyDocument"]["Statement"] if st.get("Action") != "elasticmapreduce:AddTags"]


def _no_copy_role(t, d):
    for state in d["States"].values():
        args = state.get("Parameters", {}).get("args")
        if args and "--redshift-iam-role" in args:
            del args[args.index("--redshift-iam-role"):]


DEFECTS = [
    ("a step without AWS_REGION", "region", _drop_region),
    ("the idle timeout of 3600 s below the step budget", "idle", _short_idle),
    ("PollSeconds down to 1 s (20,000 polls a step)", "history", _many_polls),
    ("CheckSettings letting 1 s polls run 7,200 s", "history", _lenient_check),
    ("no primary security group on the cluster", "network", _no_security_groups),
    ("a SourceUrl pattern that takes verify-full without a CA", "tls", _verify_full_without_ca),
    ("no security configuration on the cluster", "encryption", _no_security_configuration),
    ("no for-use-with-amazon-emr-managed-policies tag", "tags", _no_managed_policy_tag),
    ("the state machine's role without elasticmapreduce:AddTags", "iam", _no_add_tags),
    ("the nightly step without --redshift-iam-role", "copy-role", _no_copy_role),
]


def main():
    template, definition = load()
    passed = failed = 0

    def report(ok, line, details=()):
        nonlocal passed, failed
        passed, failed = passed + ok, failed + (not ok)
        print(f"{'ok  ' if ok else 'FAIL'} {line}")
        for detail in details:
            print(f"     {detail}")

    for name, rule in RULES.items():
        problems = rule(template, definition)
        report(not problems, f"rule {name}", problems)
    if "--self-test" in sys.argv[1:]:
        for what, rule_name, breaks in DEFECTS:
            t, d = copy.deepcopy(template), copy.deepcopy(definition)
            breaks(t, d)
            failing = [name for name, rule in RULES.items() if rule(t, d)]
            report(failing == [rule_name], f"rule {rule_name} fails on {what}",
                   [] if failing == [rule_name] else [f"failing rules: {failing}"])
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
