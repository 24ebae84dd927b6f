#!/usr/bin/env bash
# EMR bootstrap action for dfstore: installs the three binaries on every node
# and starts the node's part of a dfstore cluster under a supervisor: the
# scheduler on the primary node, an executor on every core and task node.
# EMR 7.x (Amazon Linux 2023) runs it on every node as `hadoop` (with
# passwordless sudo) before it installs the applications; the state machine
# (nightly.asl.json) passes:
#
#   bootstrap.sh --binaries s3://BUCKET/PREFIX --scheduler-port 50050
#
# Options:
#   --binaries S3URI         package.sh's upload: one folder per architecture, S3URI/<uname -m>/,
#                            holding dfstore, dfstore-scheduler, dfstore-executor, SHA256SUMS
#                            (sha256sum format, file names only) and, when SHA256SUMS lists
#                            it, db-ca.pem (the databases' CA bundle)             [required]
#   --scheduler-port PORT    scheduler gRPC + REST API                            [50050]
#   --executor-port PORT     executor Arrow Flight; gRPC is PORT+1, health PORT+2 [scheduler port + 1]
#   --pii-key-secret ID      Secrets Manager secret (id or ARN) whose SecretString is the
#                            personal-data hash key: written to WORK_DIR/pii.key for the nodes
#                            and, on the primary, to ~/.config/dfstore/pii.key for the steps [none]
#   --bind-host ADDR         address the nodes listen on                          [0.0.0.0]
#   --executor-vcores N      concurrent tasks per executor                        [nproc]
#   --executor-memory SIZE   executor memory pool, e.g. 12GiB                     [see sizing below]
#   --install-dir DIR        where the binaries go                                [/usr/local/bin]
#   --log-dir DIR            one log per process, <name>.log                      [/mnt/var/log/dfstore]
#   --work-dir DIR           run/ (pid files), spill/ (executor), pii.key,
#                            db-ca.pem (for the URLs' sslrootcert=)               [/mnt/dfstore]
# Environment (for tests; EMR never sets them):
#   DFSTORE_EMR_INFO_DIR     EMR's node metadata (instance.json, job-flow.json)   [/mnt/var/lib/info]
#   DFSTORE_LOGPUSHER_DIR    EMR's log pusher configuration                       [/etc/logpusher]
#   AWS_ENDPOINT_URL, AWS_REGION and credentials are passed to `aws` and the nodes as they are.
#
# Other forms:
#   bootstrap.sh stop [--work-dir DIR]     stops the supervisors it started, and their processes
#   bootstrap.sh supervise NAME LOG_DIR RUN_DIR -- CMD...   (internal: the restart loop)
#
# What it does, in order: downloads the files of its architecture's folder
# (uname -m: aarch64 on Graviton, x86_64 otherwise) with `aws s3 cp`, checks
# them with `sha256sum -c` (a mismatch aborts, naming the file, before
# anything is installed), installs them (and itself, as dfstore-bootstrap,
# for `supervise` and `stop`) once they run here (--version), reads the
# node's role from instance.json (isMaster, instanceRole) and the primary's
# address from job-flow.json (masterPrivateDnsName), and starts the node's
# process under `dfstore-bootstrap supervise`, detached with setsid and
# nohup so that it outlives this script: a loop that restarts the process
# whenever it exits, after 1 s, doubling up to 30 s (back to 1 s after a run
# of a minute or more). Pid files: RUN_DIR/<name>.pid is the process,
# RUN_DIR/<name>.supervisor.pid its supervisor; <name> is scheduler or
# executor. On the primary it waits (60 s at most) for the scheduler's REST
# API; on a worker, for the executor's /healthz; a process that does not come
# up fails the bootstrap with the end of its log, and so the cluster.
#
# Logs: EMR copies to the cluster's LogUri only the folders named in
# /etc/logpusher/*.config (its own under /mnt/var/log/…, e.g. the bootstrap
# actions' stdout/stderr); nothing else is shipped by default. So the nodes
# log to /mnt/var/log/dfstore (the instance's data volume, where EMR keeps its
# own logs) and this script adds /etc/logpusher/dfstore.config, which ships
# that folder to LogUri/<cluster>/node/<instance>/applications/dfstore/.
# Files are appended to, not rotated: clusters are transient.
set -euo pipefail

readonly BINARIES=(dfstore dfstore-scheduler dfstore-executor)

say() { echo "dfstore bootstrap: $*" >&2; }
die() {
    echo "dfstore bootstrap: error: $*" >&2
    exit 1
}
usage() {
    sed -n '2,32p' "${BASH_SOURCE[0]}" >&2
    exit 2
}

# Runs a command as root when not root already (EMR: hadoop with sudo).
as_root() {
    if [[ "$(id -u)" -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

# A folder this user can write, created with sudo when its parent is root's.
own_dir() {
    mkdir -p "$1" 2>/dev/null || true
    if [[ ! -d "$1" || ! -w "$1" ]]; then
        as_root mkdir -p "$1" || die "cannot create $1"
        as_root chown "$(id -u):$(id -g)" "$1" || die "cannot take ownership of $1"
    fi
}

# Writes a secret to a file only this user can read (printf is a builtin:
# the secret never appears in a process's arguments).
write_private() { # file text
    (umask 077 && printf '%s\n' "$2" >"$1.new" && mv -f "$1.new" "$1")
}

alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# HTTP GET on loopback without curl: prints the body, fails when nothing answers.
http_get() { # host port path
    local body
    body="$(
        exec 2>/dev/null 3<>"/dev/tcp/$1/$2" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$3" "$1" >&3
        cat <&3
    )" || return 1
    [[ "$body" == "HTTP/1."?" 200"* ]] || return 1
    printf '%s\n' "${body#*$'\r\n\r\n'}"
}

# One field of a JSON file (booleans as true/false), with python3: jq is not
# part of Amazon Linux 2023's default install, python3 is.
json_field() { # file key
    python3 - "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    value = json.load(f).get(sys.argv[2])
if isinstance(value, bool):
    value = "true" if value else "false"
print("" if value is None else value)
EOF
}

port_arg() { # flag value
    if ! [[ "$2" =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
        say "$1: '$2' is not a port (1-65535)"
        usage
    fi
}

# ---- supervise: the restart loop (runs detached, in its own session)
supervise() { # NAME LOG_DIR RUN_DIR -- CMD...
    local name="$1" run_dir="$3"
    shift 4
    local child=0 sleeper=0 stopping=0 backoff=1 started ran status
    note() { echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) supervisor: $*"; }
    echo "$$" >"$run_dir/$name.supervisor.pid"
    trap 'stopping=1; for p in "$child" "$sleeper"; do [[ "$p" -gt 0 ]] && kill -TERM "$p" 2>/dev/null; done' TERM INT
    while [[ "$stopping" -eq 0 ]]; do
        started=$SECONDS
        "$@" </dev/null &
        child=$!
        echo "$child" >"$run_dir/$name.pid.new"
        mv -f "$run_dir/$name.pid.new" "$run_dir/$name.pid"
        note "started $name, pid $child: $*"
        status=0
        wait "$child" || status=$?
        # A signal to the supervisor interrupts `wait`; the child may still run.
        while kill -0 "$child" 2>/dev/null; do wait "$child" || status=$?; done
        [[ "$stopping" -eq 0 ]] || break
        ran=$((SECONDS - started))
        if [[ "$ran" -ge 60 ]]; then backoff=1; fi
        note "$name (pid $child) exited with status $status after ${ran}s; restarting in ${backoff}s"
        sleep "$backoff" &
        sleeper=$!
        wait "$sleeper" || true
        sleeper=0
        backoff=$((backoff * 2 > 30 ? 30 : backoff * 2))
    done
    rm -f "$run_dir/$name.pid" "$run_dir/$name.supervisor.pid"
    note "stopped $name (last pid $child)"
}

# ---- stop: TERM to each supervisor (which passes it on), KILL after 15 s
stop() {
    local run_dir="$1" f pids=()
    for f in "$run_dir"/*.supervisor.pid "$run_dir"/*.pid; do
        [[ -s "$f" ]] && pids+=("$(cat "$f")")
    done
    [[ ${#pids[@]} -gt 0 ]] || { say "nothing runs from $run_dir"; return 0; }
    for f in "$run_dir"/*.supervisor.pid; do
        if [[ -s "$f" ]]; then kill -TERM "$(cat "$f")" 2>/dev/null || true; fi
    done
    local p left deadline=$((SECONDS + 15))
    while [[ $SECONDS -lt $deadline ]]; do
        left=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
        [[ "$left" -eq 0 ]] && { say "stopped (pids ${pids[*]})"; return 0; }
        sleep 0.2
    done
    kill -KILL "${pids[@]}" 2>/dev/null || true
    rm -f "$run_dir"/*.pid
    say "killed after 15 s (pids ${pids[*]})"
}

# ---- the bootstrap itself
binaries="" scheduler_port=50050 executor_port="" pii_secret="" bind_host=0.0.0.0
vcores="" memory="" install_dir=/usr/local/bin log_dir=/mnt/var/log/dfstore work_dir=/mnt/dfstore
info_dir="${DFSTORE_EMR_INFO_DIR:-/mnt/var/lib/info}"
logpusher_dir="${DFSTORE_LOGPUSHER_DIR:-/etc/logpusher}"

mode=install
case "${1:-}" in
    supervise)
        shift
        supervise "$@"
        exit 0
        ;;
    stop)
        mode=stop
        shift
        ;;
esac

while [[ $# -gt 0 ]]; do
    [[ "$1" != -h && "$1" != --help ]] || usage
    [[ $# -ge 2 ]] || { say "$1 needs a value"; usage; }
    case "$1" in
        --binaries) binaries="${2%/}" ;;
        --scheduler-port) scheduler_port="$2" ;;
        --executor-port) executor_port="$2" ;;
        --pii-key-secret) pii_secret="$2" ;;
        --bind-host) bind_host="$2" ;;
        --executor-vcores) vcores="$2" ;;
        --executor-memory) memory="$2" ;;
        --install-dir) install_dir="$2" ;;
        --log-dir) log_dir="$2" ;;
        --work-dir) work_dir="$2" ;;
        *) say "unknown option $1"; usage ;;
    esac
    shift 2
done
run_dir="$work_dir/run"

if [[ "$mode" == stop ]]; then
    stop "$run_dir"
    exit 0
fi

[[ "$binaries" == s3://?* ]] || { say "--binaries s3://BUCKET/PREFIX is required (got '${binaries}')"; usage; }
port_arg --scheduler-port "$scheduler_port"
executor_port="${executor_port:-$((scheduler_port + 1))}"
port_arg --executor-port "$executor_port"
port_arg "--executor-port (+2)" "$((executor_port + 2))"
[[ -z "$vcores" || "$vcores" =~ ^[1-9][0-9]*$ ]] || { say "--executor-vcores: '$vcores' is not a positive number"; usage; }
command -v aws >/dev/null || die "the AWS CLI (aws) is not on PATH; EMR's Amazon Linux has it at /usr/bin/aws"
command -v python3 >/dev/null || die "python3 is not on PATH (needed to read $info_dir/*.json)"

# ---- the node's role and the primary's address (EMR's own metadata files)
instance_json="$info_dir/instance.json" job_flow_json="$info_dir/job-flow.json"
[[ -r "$instance_json" ]] || die "$instance_json is missing: not an EMR node? (DFSTORE_EMR_INFO_DIR overrides the folder)"
is_master="$(json_field "$instance_json" isMaster)" || die "$instance_json is not JSON"
instance_role="$(json_field "$instance_json" instanceRole | tr '[:upper:]' '[:lower:]')" || die "$instance_json is not JSON"
# EMR's documentation does not spell out instanceRole's case; compare in lower case.
if [[ "$is_master" == true || "$instance_role" == master ]]; then
    role=scheduler
elif [[ "$instance_role" == core || "$instance_role" == task ]]; then
    role=executor
elif [[ "$is_master" == false ]]; then
    say "instanceRole '$instance_role' in $instance_json is neither core nor task; isMaster is false, so this node runs an executor"
    role=executor
else
    die "$instance_json has neither isMaster nor a known instanceRole; cannot tell the primary from a worker"
fi
[[ -r "$job_flow_json" ]] || die "$job_flow_json is missing: not an EMR node? (DFSTORE_EMR_INFO_DIR overrides the folder)"
primary_host="$(json_field "$job_flow_json" masterPrivateDnsName)" || die "$job_flow_json is not JSON"
[[ -n "$primary_host" ]] || die "$job_flow_json has no masterPrivateDnsName: the executors would not know where the scheduler is"
say "this node: ${instance_role:-?} (isMaster=${is_master:-?}) -> $role; primary: $primary_host; scheduler port $scheduler_port"

# ---- region for `aws` and the nodes: the environment, else the instance's (IMDSv2)
if [[ -z "${AWS_REGION:-}" && -z "${AWS_DEFAULT_REGION:-}" ]]; then
    token="$(curl -sf -m 2 -X PUT http://169.254.169.254/latest/api/token \
        -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' 2>/dev/null || true)"
    region="$(curl -sf -m 2 -H "X-aws-ec2-metadata-token: $token" \
        http://169.254.169.254/latest/meta-data/placement/region 2>/dev/null || true)"
    if [[ -n "$region" ]]; then
        export AWS_REGION="$region"
    else
        say "warning: no AWS_REGION and no instance metadata; S3 clients of the nodes default to us-east-1"
    fi
fi

# ---- folders
own_dir "$work_dir"
own_dir "$run_dir"
own_dir "$log_dir"
download="$(mktemp -d "$work_dir/download.XXXXXX")"
trap 'rm -rf "$download"' EXIT

# ---- this node's architecture: package.sh uploads one folder per architecture
arch="$(uname -m)"
binaries="$binaries/$arch"

# ---- download and verify, before anything is installed
for f in SHA256SUMS "${BINARIES[@]}"; do
    aws s3 cp --only-show-errors "$binaries/$f" "$download/$f" \
        || die "could not download $binaries/$f (check the URI, and s3:GetObject on it for the instance profile)"
done
for f in "${BINARIES[@]}"; do
    n="$(awk -v f="$f" '{ name = $2; sub(/^\*/, "", name) } name == f' "$download/SHA256SUMS" | wc -l)"
    [[ "$n" -eq 1 ]] || die "$binaries/SHA256SUMS lists $f $n times; it must list each of ${BINARIES[*]} once (sha256sum's format, file names only)"
done
# The databases' CA bundle travels with the binaries when package.sh was given one.
files=("${BINARIES[@]}")
if awk '{ name = $2; sub(/^\*/, "", name) } name == "db-ca.pem" { found = 1 } END { exit !found }' "$download/SHA256SUMS"; then
    aws s3 cp --only-show-errors "$binaries/db-ca.pem" "$download/db-ca.pem" \
        || die "could not download $binaries/db-ca.pem, which SHA256SUMS lists"
    files+=(db-ca.pem)
fi
awk -v names=" ${files[*]} " '{ name = $2; sub(/^\*/, "", name) } index(names, " " name " ")' \
    "$download/SHA256SUMS" >"$download/SHA256SUMS.nodes"
if ! checked="$(cd "$download" && sha256sum --strict -c SHA256SUMS.nodes 2>&1)"; then
    bad="$(printf '%s\n' "$checked" | sed -n 's/: FAILED.*$//p' | paste -sd, -)"
    [[ -n "$bad" ]] || die "sha256sum -c failed on $binaries/SHA256SUMS: $(printf '%s' "$checked" | tr '\n' ' ')"
    die "checksum mismatch for $bad: $binaries/${bad%%,*} is not the file SHA256SUMS describes; nothing was installed or started. Upload the binaries and SHA256SUMS of one build together"
fi
say "downloaded and verified ${files[*]} from $binaries"

# ---- do they run here? (before anything is installed)
chmod 0755 "${BINARIES[@]/#/$download/}"
for f in "${BINARIES[@]}"; do
    out="$("$download/$f" --version 2>&1)" \
        || die "$binaries/$f does not run on this node ($(uname -m), glibc $(ldd --version 2>/dev/null | head -n 1 | awk '{ print $NF }')): $out; build for this architecture and glibc (deploy/aws/package.sh); nothing was installed or started"
done

# ---- install (rename into place: a running binary is replaced, not rewritten)
install_file() { # src dest
    local tmp
    tmp="$(dirname "$2")/.$(basename "$2").new.$$"
    if [[ -d "$(dirname "$2")" && -w "$(dirname "$2")" ]]; then
        cp "$1" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$2"
    else
        as_root mkdir -p "$(dirname "$2")" && as_root cp "$1" "$tmp" \
            && as_root chmod 0755 "$tmp" && as_root mv -f "$tmp" "$2"
    fi || die "cannot install $2"
}
for f in "${BINARIES[@]}"; do install_file "$download/$f" "$install_dir/$f"; done
install_file "${BASH_SOURCE[0]}" "$install_dir/dfstore-bootstrap"
say "installed into $install_dir: $("$install_dir/dfstore" --version), ${BINARIES[1]} and ${BINARIES[2]} $("$install_dir/dfstore-executor" --version | awk '{ print $2 }')"

# ---- the databases' CA bundle, readable by the steps (sslrootcert=WORK_DIR/db-ca.pem)
if [[ -f "$download/db-ca.pem" ]]; then
    { cp "$download/db-ca.pem" "$work_dir/db-ca.pem.new" && chmod 0644 "$work_dir/db-ca.pem.new" \
        && mv -f "$work_dir/db-ca.pem.new" "$work_dir/db-ca.pem"; } || die "cannot install $work_dir/db-ca.pem"
    say "databases' CA bundle in $work_dir/db-ca.pem"
fi

# ---- the personal-data key (never printed)
if [[ -n "$pii_secret" ]]; then
    key="$(aws secretsmanager get-secret-value --secret-id "$pii_secret" --query SecretString --output text)" \
        || die "could not read the personal-data key secret $pii_secret (check secretsmanager:GetSecretValue, and kms:Decrypt on its key, for the instance profile)"
    [[ -n "$key" && "$key" != None ]] || die "the secret $pii_secret has no SecretString; store the key as text"
    write_private "$work_dir/pii.key" "$key" \
        || die "cannot write the personal-data key to $work_dir/pii.key"
    if [[ "$role" == scheduler ]]; then
        # The EMR steps run dfstore as this user: its default key file.
        home="${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
        config="${XDG_CONFIG_HOME:-$home/.config}/dfstore"
        { mkdir -p "$config" && write_private "$config/pii.key" "$key"; } \
            || die "cannot write the personal-data key to $config/pii.key"
    fi
    unset key
    export DFSTORE_PII_KEY_FILE="$work_dir/pii.key"
    say "personal-data key from $pii_secret in $work_dir/pii.key"
else
    say "warning: no --pii-key-secret; pii_hash fails on the executors until DFSTORE_PII_KEY_FILE is set for them"
fi

# ---- ship the logs to LogUri (EMR's log pusher reads /etc/logpusher/*.config)
if [[ -d "$logpusher_dir" ]]; then
    cat >"$download/dfstore.config" <<EOF
{
  "$log_dir/": {
    "includes": ["(.*)"],
    "s3Path": "node/\$instance-id/applications/dfstore/\$0",
    "retentionPeriod": "2d",
    "logType": ["USER_LOG", "SYSTEM_LOG"]
  }
}
EOF
    if [[ -w "$logpusher_dir" ]]; then cp "$download/dfstore.config" "$logpusher_dir/dfstore.config"; else
        as_root cp "$download/dfstore.config" "$logpusher_dir/dfstore.config"
    fi || say "warning: cannot write $logpusher_dir/dfstore.config; the logs stay on the node"
fi

# ---- start the node's process under its supervisor
start_supervised() { # name cmd...
    local name="$1"
    shift
    if alive "$run_dir/$name.supervisor.pid"; then
        say "$name is already supervised (pid $(cat "$run_dir/$name.supervisor.pid")); left as it is"
        return 0
    fi
    rm -f "$run_dir/$name.pid" "$run_dir/$name.supervisor.pid"
    setsid nohup "$install_dir/dfstore-bootstrap" supervise "$name" "$log_dir" "$run_dir" -- "$@" \
        </dev/null >>"$log_dir/$name.log" 2>&1 &
}

wait_up() { # name what probe...; 60 s
    local name="$1" what="$2" deadline=$((SECONDS + 60))
    shift 2
    while [[ $SECONDS -lt $deadline ]]; do
        if "$@" >/dev/null; then
            say "$name up ($what), pid $(cat "$run_dir/$name.pid" 2>/dev/null), log $log_dir/$name.log"
            return 0
        fi
        sleep 0.2
    done
    stop "$run_dir" >/dev/null 2>&1 || true
    die "$name did not come up within 60 s ($what); the end of $log_dir/$name.log: $(tail -n 5 "$log_dir/$name.log" 2>/dev/null | tr '\n' ' ')"
}

probe_host="$bind_host"
[[ "$probe_host" == 0.0.0.0 ]] && probe_host=127.0.0.1
if [[ "$role" == scheduler ]]; then
    start_supervised scheduler "$install_dir/dfstore-scheduler" \
        --bind-host "$bind_host" --bind-port "$scheduler_port" --external-host "$primary_host" \
        --executor-timeout-seconds 30 --expire-dead-executor-interval-seconds 5
    wait_up scheduler "REST API on port $scheduler_port" http_get "$probe_host" "$scheduler_port" /api/state
else
    # Sizing. Tasks at once: the node's cores. Memory pool: the node's memory
    # less max(4 GiB, a quarter of it), which is left to the OS, EMR's own
    # agents (instance controller, log pusher, SSM), the Hadoop daemons EMR
    # installs (YARN NodeManager, HDFS DataNode on core nodes: 1-2 GiB) and
    # what the executor holds outside its pool (Flight and gRPC buffers,
    # Parquet encoding). YARN's container memory is not set aside: dfstore is
    # the only workload on these clusters, so YARN runs no containers.
    vcores="${vcores:-$(nproc)}"
    if [[ -z "$memory" ]]; then
        total_mib="$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)"
        reserve_mib=$((total_mib / 4 > 4096 ? total_mib / 4 : 4096))
        pool_mib=$((total_mib - reserve_mib))
        if [[ "$pool_mib" -lt 1024 ]]; then
            say "warning: $total_mib MiB of memory leaves less than 1 GiB for the executor; using 1 GiB"
            pool_mib=1024
        fi
        memory="${pool_mib}MiB"
    fi
    own_dir "$work_dir/spill"
    # The scheduler may come up after this node's executor (bootstrap actions
    # run on all nodes at once): the executor gives up after 30 s without it
    # and the supervisor starts it again.
    start_supervised executor "$install_dir/dfstore-executor" \
        --bind-host "$bind_host" --scheduler-host "$primary_host" --scheduler-port "$scheduler_port" \
        --bind-port "$executor_port" --bind-grpc-port $((executor_port + 1)) \
        --bind-health-port $((executor_port + 2)) --scheduler-connect-timeout-seconds 30 \
        --work-dir "$work_dir/spill" --vcores "$vcores" --memory-pool-size "$memory" \
        --executor-heartbeat-interval-seconds 10
    wait_up executor "/healthz on port $((executor_port + 2)); $vcores vcores, memory pool $memory" \
        http_get "$probe_host" $((executor_port + 2)) /healthz
fi
