#!/usr/bin/env bash
# Tests bootstrap.sh on this machine, with real parts only: moto's S3 and
# Secrets Manager server on loopback serve the binaries, SHA256SUMS and the
# personal-data key, and the same bootstrap.sh runs three times against three
# fake EMR metadata folders (instance.json, job-flow.json): once as the
# primary (a scheduler on a free loopback port) and twice as a core node (two
# executors, each with its own ports, install, log and work folders). Then:
#   - a cluster run through that scheduler publishes what an embedded run
#     publishes (every table the cluster tests compare, every row and column),
#     the cluster run finding the key where the bootstrap put it for EMR steps;
#   - an executor killed with SIGKILL is started again by its supervisor and
#     registers again, and the cluster answers a query afterwards;
#   - the binaries come from the folder of the node's architecture (uname -m),
#     and the databases' CA bundle listed in SHA256SUMS lands in
#     WORK_DIR/db-ca.pem, readable by the steps;
#   - a binary that does not match SHA256SUMS, or one that does not run on
#     the node (another glibc or architecture), aborts the bootstrap with
#     exit 1 naming the file, with nothing installed or started;
#   - `bootstrap.sh stop` stops every supervisor and process.
# Everything it starts is stopped, and its folder removed, on exit
# (DFSTORE_KEEP_TEST_DIR=1 keeps the folder). The last line is
# "N passed, M failed"; the exit status is 0 only if M = 0.
#
# Needs the three binaries (DFSTORE_BIN_DIR, default
# $CARGO_TARGET_DIR/release, i.e. `cargo build --release --workspace --bins` first), and
# installs once, outside the repository:
#   ${DFSTORE_VENV:-/var/tmp/dfstore-venv}          moto[server]==5.2.1 (shared with the Rust tests)
#   ${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}  awscli==1.46.2 (bootstrap.sh runs `aws`)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bootstrap="$here/bootstrap.sh"
moto_venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
aws_venv="${DFSTORE_AWS_VENV:-/var/tmp/dfstore-aws-venv}"
bin_dir="${DFSTORE_BIN_DIR:-${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}/release}"
awscli_version=1.46.2
moto_spec='moto[server]==5.2.1'
binaries=(dfstore dfstore-scheduler dfstore-executor)
bucket=dfstore-artifacts
arch="$(uname -m)" # package.sh's upload has one folder per architecture
nodes=(primary core-1 core-2)

passed=0
failed=0
ok() {
    passed=$((passed + 1))
    echo "ok   $1"
}
fail() { # name [detail]
    failed=$((failed + 1))
    echo "FAIL $1"
    [[ -z "${2:-}" ]] || printf '%s\n' "$2" | sed 's/^/     /'
}
check() { # check NAME COMMAND...: runs it, counts it, shows its output only on failure
    local name="$1" out
    shift
    if out="$("$@" 2>&1)"; then ok "$name"; else fail "$name" "$out"; fi
}
summary() {
    echo "$passed passed, $failed failed"
    [[ "$failed" -eq 0 ]]
}
fatal() { # name detail: a check the rest depends on failed
    fail "$1" "${2:-}"
    echo "(stopping here: the remaining checks need this one)"
    summary || true
    exit 1
}

# ---- tools and binaries
for f in "${binaries[@]}"; do
    [[ -x "$bin_dir/$f" ]] || { echo "missing $bin_dir/$f: run cargo build --workspace --bins (or set DFSTORE_BIN_DIR)" >&2; exit 1; }
done
if ! "$moto_venv/bin/python" -c 'import boto3, moto, sys; sys.exit(moto.__version__ != "5.2.1")' 2>/dev/null; then
    echo "installing $moto_spec into $moto_venv"
    python3 -m venv "$moto_venv"
    "$moto_venv/bin/pip" install --quiet --disable-pip-version-check "$moto_spec"
fi
if [[ "$("$aws_venv/bin/aws" --version 2>&1 || true)" != "aws-cli/$awscli_version "* ]]; then
    echo "installing awscli==$awscli_version into $aws_venv"
    python3 -m venv "$aws_venv"
    "$aws_venv/bin/pip" install --quiet --disable-pip-version-check "awscli==$awscli_version"
fi

# ---- a folder for everything, and the exit trap that stops it all
tmp="$(mktemp -d "${TMPDIR:-/tmp}/dfstore-bootstrap-test.XXXXXX")"
moto_pid=""
cleanup() {
    local node f
    for node in "${nodes[@]}" bad broken; do
        [[ -d "$tmp/$node/work/run" ]] || continue
        bash "$bootstrap" stop --work-dir "$tmp/$node/work" >/dev/null 2>&1 || true
        for f in "$tmp/$node/work/run"/*.pid; do
            if [[ -s "$f" ]]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
        done
    done
    if [[ -n "$moto_pid" ]]; then
        kill "$moto_pid" 2>/dev/null || true
        wait "$moto_pid" 2>/dev/null || true
    fi
    if [[ "${DFSTORE_KEEP_TEST_DIR:-}" == 1 ]]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Consecutive free loopback ports below Linux's ephemeral range (32768+),
# where an outgoing connection can take a port between the check and its use.
free_ports() { # count -> first port
    python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(500):
    base = random.randrange(20000, 32000 - n)
    socks = []
    try:
        for port in range(base, base + n):
            s = socket.socket()
            socks.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free block of %d ports" % n)
EOF
}

http_get() { # port path -> body; fails when nothing answers
    (
        exec 2>/dev/null 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
        sed '1,/^\r$/d' <&3
    )
}

# The executors the scheduler lists, "ID PORT" a line (PORT: the Arrow Flight port).
executors() {
    http_get "$scheduler_port" /api/executors | python3 -c '
import json, sys
for e in json.load(sys.stdin):
    print(e["id"], e["port"])'
}

wait_for() { # seconds command...: polls every 0.2 s until it succeeds
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        [[ $SECONDS -lt $deadline ]] || return 1
        sleep 0.2
    done
}

first_port="$(free_ports 8)"
moto_port=$first_port
scheduler_port=$((first_port + 1))
executor_port=([1]=$((first_port + 2)) [2]=$((first_port + 5)))

# ---- moto, and the AWS environment every command below sees
mkdir -p "$tmp/path"
ln -s "$aws_venv/bin/aws" "$tmp/path/aws" # only `aws`, not the venv's python
export PATH="$tmp/path:$PATH"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="http://127.0.0.1:$moto_port"
unset AWS_PROFILE AWS_SESSION_TOKEN DFSTORE_PII_KEY DFSTORE_PII_KEY_FILE DFSTORE_LAKE DFSTORE_SCHEDULER
"$moto_venv/bin/moto_server" -H 127.0.0.1 -p "$moto_port" >"$tmp/moto.log" 2>&1 &
moto_pid=$!
wait_for 30 http_get "$moto_port" /moto-api/ || fatal "moto_server answers on port $moto_port" "$(tail -n 5 "$tmp/moto.log")"

# ---- the artifacts: copies of the binaries (a build may replace them meanwhile)
mkdir -p "$tmp/artifacts"
for f in "${binaries[@]}"; do cp "$bin_dir/$f" "$tmp/artifacts/$f"; done
printf -- '-----BEGIN CERTIFICATE-----\nnot a real CA, only its path matters here\n-----END CERTIFICATE-----\n' >"$tmp/artifacts/db-ca.pem"
(cd "$tmp/artifacts" && sha256sum "${binaries[@]}" db-ca.pem) >"$tmp/artifacts/SHA256SUMS"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$tmp/pii.key"
upload() {
    aws s3 mb "s3://$bucket" >/dev/null
    local f
    for f in SHA256SUMS "${binaries[@]}" db-ca.pem; do
        aws s3 cp --only-show-errors "$tmp/artifacts/$f" "s3://$bucket/dfstore/test/$arch/$f"
    done
    aws secretsmanager create-secret --name dfstore/pii-key --secret-string "$(cat "$tmp/pii.key")" >/dev/null
}
started=$SECONDS
out="$(upload 2>&1)" || fatal "binaries, SHA256SUMS and the key secret uploaded to moto" "$out"
ok "binaries, SHA256SUMS and the key secret uploaded to moto ($((SECONDS - started)) s)"

# ---- three fake EMR nodes: EMR's metadata files as they look on a node
make_node() { # name isMaster instanceRole
    local d="$tmp/$1" master="$2" worker=true
    [[ "$master" == true ]] && worker=false
    mkdir -p "$d/info" "$d/home" "$d/logpusher"
    cat >"$d/info/instance.json" <<EOF
{
  "isMaster": $master,
  "isRunningNameNode": $master,
  "isRunningDataNode": $worker,
  "isRunningJobTracker": false,
  "isRunningTaskTracker": false,
  "isRunningResourceManager": $master,
  "isRunningNodeManager": $worker,
  "instanceGroupId": "ig-$(echo "$3" | tr '[:lower:]' '[:upper:]')0TEST",
  "instanceRole": "$3"
}
EOF
    cat >"$d/info/job-flow.json" <<EOF
{
  "jobFlowId": "j-0TESTCLUSTER",
  "jobFlowCreationInstant": 1764489600000,
  "instanceCount": 3,
  "masterInstanceId": "i-0123456789abcdef0",
  "masterPrivateDnsName": "127.0.0.1",
  "masterInstanceType": "m5.xlarge",
  "slaveInstanceType": "m5.xlarge",
  "hadoopVersion": "3.3.6"
}
EOF
}
# instanceRole's case is not documented: the two core nodes spell it differently.
make_node primary true master
make_node core-1 false core
make_node core-2 false CORE
make_node bad false core
make_node broken false task

run_bootstrap() { # node prefix [more args]: the bootstrap as EMR runs it, on that node's folders
    local node="$1" prefix="$2"
    shift 2
    env -u XDG_CONFIG_HOME HOME="$tmp/$node/home" \
        DFSTORE_EMR_INFO_DIR="$tmp/$node/info" DFSTORE_LOGPUSHER_DIR="$tmp/$node/logpusher" \
        bash "$bootstrap" --binaries "s3://$bucket/dfstore/$prefix" --scheduler-port "$scheduler_port" \
        --pii-key-secret dfstore/pii-key --bind-host 127.0.0.1 \
        --install-dir "$tmp/$node/bin" --log-dir "$tmp/$node/log" --work-dir "$tmp/$node/work" "$@" \
        >"$tmp/$node/bootstrap.out" 2>&1
}

# ---- the primary
started=$SECONDS
run_bootstrap primary test \
    || fatal "bootstrap as the primary exits 0" "$(cat "$tmp/primary/bootstrap.out")"
ok "bootstrap as the primary exits 0 ($((SECONDS - started)) s)"
run="$tmp/primary/work/run"

installed_as_uploaded() { # node
    local f
    for f in "${binaries[@]}"; do
        [[ -x "$tmp/$1/bin/$f" ]] || { echo "$tmp/$1/bin/$f is not an executable file"; return 1; }
        cmp "$tmp/artifacts/$f" "$tmp/$1/bin/$f" || return 1
    done
    [[ -x "$tmp/$1/bin/dfstore-bootstrap" ]] || { echo "no dfstore-bootstrap in $tmp/$1/bin"; return 1; }
}
check "primary: the three binaries installed, identical to the uploaded ones" installed_as_uploaded primary
ca_in_place() {
    local f="$tmp/primary/work/db-ca.pem"
    [[ "$(stat -c %a "$f")" == 644 ]] || { echo "$f has mode $(stat -c %a "$f"), not 644"; return 1; }
    cmp "$tmp/artifacts/db-ca.pem" "$f"
}
check "primary: the databases' CA bundle from the $arch folder in WORK_DIR/db-ca.pem, mode 644" ca_in_place

supervised() { # node name: live supervisor whose child is the live process in NAME.pid
    local run="$tmp/$1/work/run" child sup
    sup="$(cat "$run/$2.supervisor.pid")" && child="$(cat "$run/$2.pid")" || return 1
    if ! kill -0 "$sup" || ! kill -0 "$child"; then echo "supervisor $sup or $2 $child not running"; return 1; fi
    [[ "$(ps -o ppid= -p "$child" | tr -d ' ')" == "$sup" ]] || { echo "$2 $child is not a child of supervisor $sup"; return 1; }
    [[ "$(ps -o sid= -p "$sup" | tr -d ' ')" == "$sup" ]] || { echo "supervisor $sup does not lead its own session (setsid)"; return 1; }
    tr '\0' ' ' <"/proc/$child/cmdline" | grep -q "$tmp/$1/bin/dfstore-$2 " || { echo "pid $child is not $tmp/$1/bin/dfstore-$2"; return 1; }
}
check "primary: dfstore-scheduler runs under its supervisor in its own session (pid files)" supervised primary scheduler
check "primary: the scheduler's REST API answers on port $scheduler_port" http_get "$scheduler_port" /api/state

key_in_place() {
    local f
    for f in "$tmp/primary/work/pii.key" "$tmp/primary/home/.config/dfstore/pii.key"; do
        [[ "$(stat -c %a "$f")" == 600 ]] || { echo "$f has mode $(stat -c %a "$f"), not 600"; return 1; }
        [[ "$(cat "$f")" == "$(cat "$tmp/pii.key")" ]] || { echo "$f does not hold the secret's key"; return 1; }
    done
}
check "primary: the secret's key in WORK_DIR/pii.key and ~/.config/dfstore/pii.key, mode 600" key_in_place
key_never_printed() {
    ! grep -rqF "$(cat "$tmp/pii.key")" "$tmp/primary/bootstrap.out" "$tmp/primary/log"
}
check "primary: the key appears in no output or log" key_never_printed
logpusher_config() {
    python3 - "$tmp/primary/logpusher/dfstore.config" "$tmp/primary/log/" <<'EOF'
import json, sys
config = json.load(open(sys.argv[1]))
entry = config[sys.argv[2]]
assert entry["s3Path"] == "node/$instance-id/applications/dfstore/$0", entry
assert entry["includes"] == ["(.*)"], entry
EOF
}
check "primary: the log pusher's dfstore.config ships the log folder" logpusher_config

# ---- two core nodes
for i in 1 2; do
    started=$SECONDS
    if run_bootstrap "core-$i" test --executor-port "${executor_port[$i]}"; then
        ok "bootstrap as core node $i exits 0 ($((SECONDS - started)) s)"
    else
        fail "bootstrap as core node $i exits 0" "$(cat "$tmp/core-$i/bootstrap.out")"
    fi
    check "core-$i: dfstore-executor runs under its supervisor in its own session" supervised "core-$i" executor
done

sized() { # node: --vcores is nproc, --memory-pool-size is MemTotal less max(4 GiB, 1/4)
    local child args total reserve
    child="$(cat "$tmp/$1/work/run/executor.pid")"
    args="$(tr '\0' ' ' <"/proc/$child/cmdline")"
    total=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
    reserve=$((total / 4 > 4096 ? total / 4 : 4096))
    [[ "$args" == *" --vcores $(nproc) "* ]] || { echo "no --vcores $(nproc) in: $args"; return 1; }
    [[ "$args" == *" --memory-pool-size $((total - reserve))MiB "* ]] \
        || { echo "no --memory-pool-size $((total - reserve))MiB in: $args"; return 1; }
}
check "core-1: executor sized from the node (vcores = nproc, pool = memory - max(4 GiB, 25%))" sized core-1

two_executors() { [[ "$(executors | wc -l)" -eq 2 ]]; }
if wait_for 60 two_executors; then ok "the scheduler lists 2 executors"; else
    fatal "the scheduler lists 2 executors" "listed: $(executors 2>&1 | tr '\n' ' '); $(tail -n 3 "$tmp/core-1/log/executor.log")"
fi

# ---- the same job embedded and through the bootstrapped cluster
client="$tmp/primary/bin/dfstore" # as the EMR steps run it
tables=(
    "trusted.ventas:id_venta" "rejected.ventas:id_venta"
    "trusted.detalle_ventas:id_venta, linea" "rejected.detalle_ventas:id_venta, linea"
    "trusted.clientes:id_cliente" "analytic.reporte_ventas_tienda:fecha, id_tienda"
)
for lake in embedded cluster; do
    "$client" generate --scale 0.01 --seed 11 --lake "$tmp/lake-$lake" >"$tmp/generate-$lake.out" 2>&1 \
        || fatal "dfstore generate --scale 0.01 ($lake lake)" "$(tail -n 5 "$tmp/generate-$lake.out")"
done
started=$SECONDS
if DFSTORE_PII_KEY_FILE="$tmp/pii.key" "$client" run --lake "$tmp/lake-embedded" >"$tmp/run-embedded.out" 2>&1; then
    ok "embedded run ($((SECONDS - started)) s)"
else
    fail "embedded run" "$(tail -n 5 "$tmp/run-embedded.out")"
fi
# As an EMR step: the key from the default key file the bootstrap wrote.
started=$SECONDS
if HOME="$tmp/primary/home" "$client" run --lake "$tmp/lake-cluster" \
    --scheduler "df://127.0.0.1:$scheduler_port" >"$tmp/run-cluster.out" 2>&1; then
    ok "cluster run through the bootstrapped scheduler, key from ~/.config/dfstore/pii.key ($((SECONDS - started)) s)"
else
    fail "cluster run through the bootstrapped scheduler" "$(tail -n 5 "$tmp/run-cluster.out")"
fi
jobs_ran() { [[ "$(http_get "$scheduler_port" /api/jobs | grep -o '"job_id"' | wc -l)" -ge 1 ]]; }
check "the scheduler ran the cluster run's jobs" jobs_ran
same_table() { # table key
    local query="SELECT * FROM $1 ORDER BY $2" a b
    a="$(DFSTORE_PII_KEY_FILE="$tmp/pii.key" "$client" sql --format csv --lake "$tmp/lake-embedded" "$query")" || return 1
    b="$(DFSTORE_PII_KEY_FILE="$tmp/pii.key" "$client" sql --format csv --lake "$tmp/lake-cluster" "$query")" || return 1
    [[ "$(wc -l <<<"$a")" -gt 1 ]] || { echo "$1 is empty"; return 1; }
    diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 10
    [[ "$a" == "$b" ]]
}
for t in "${tables[@]}"; do
    check "cluster = embedded: ${t%%:*} (every row and column)" same_table "${t%%:*}" "${t#*:}"
done

# ---- an executor killed: its supervisor starts it again, it registers again
old_pid="$(cat "$tmp/core-1/work/run/executor.pid")"
old_id="$(executors | awk -v port="${executor_port[1]}" '$2 == port { print $1 }')"
kill -KILL "$old_pid"
restarted() {
    local pid
    pid="$(cat "$tmp/core-1/work/run/executor.pid")"
    [[ "$pid" != "$old_pid" ]] && kill -0 "$pid"
}
if wait_for 60 restarted; then
    ok "killed executor (pid $old_pid) started again by its supervisor (pid $(cat "$tmp/core-1/work/run/executor.pid"))"
else
    fail "killed executor (pid $old_pid) started again by its supervisor" "$(tail -n 5 "$tmp/core-1/log/executor.log")"
fi
check "the supervisor's log records the exit and the restart" \
    grep -q "exited with status 137 after .*restarting in 1s" "$tmp/core-1/log/executor.log"
registered_again() { # a new id on core-1's port
    executors | awk -v port="${executor_port[1]}" -v old="$old_id" '$2 == port && $1 != old { found = 1 } END { exit !found }'
}
check "the restarted executor registers with the scheduler (a new id on core-1's port)" wait_for 60 registered_again
old_id_gone() { [[ -n "$old_id" ]] && ! executors | grep -q "^$old_id "; }
check "the scheduler drops the killed executor ($old_id) after its heartbeat timeout" wait_for 60 old_id_gone
count_after_restart() {
    local q="SELECT COUNT(*) AS n FROM trusted.detalle_ventas" a b
    a="$(DFSTORE_PII_KEY_FILE="$tmp/pii.key" "$client" sql --format csv --lake "$tmp/lake-embedded" "$q")" || return 1
    b="$(HOME="$tmp/primary/home" "$client" sql --format csv --lake "$tmp/lake-cluster" \
        --scheduler "df://127.0.0.1:$scheduler_port" "$q")" || return 1
    [[ "$a" == "$b" ]] || { echo "embedded $a, cluster $b"; return 1; }
}
check "the cluster answers after the restart (a count through the scheduler = embedded)" count_after_restart

# ---- a binary that does not match SHA256SUMS
tamper() {
    local f
    for f in SHA256SUMS dfstore dfstore-scheduler db-ca.pem; do
        aws s3 cp --only-show-errors "s3://$bucket/dfstore/test/$arch/$f" "s3://$bucket/dfstore/bad/$arch/$f"
    done
    echo "not the executor" >"$tmp/bad-executor"
    aws s3 cp --only-show-errors "$tmp/bad-executor" "s3://$bucket/dfstore/bad/$arch/dfstore-executor"
}
out="$(tamper 2>&1)" || fail "a tampered dfstore-executor uploaded next to the real SHA256SUMS" "$out"
status=0
run_bootstrap bad bad --executor-port "$((first_port + 2))" || status=$?
mismatch_refused() {
    [[ "$status" -eq 1 ]] || { echo "exit $status, not 1"; return 1; }
    grep -q "error: checksum mismatch for dfstore-executor" "$tmp/bad/bootstrap.out" \
        || { cat "$tmp/bad/bootstrap.out"; return 1; }
    local left
    left="$(find "$tmp/bad/bin" "$tmp/bad/work/run" -type f 2>/dev/null)"
    [[ -z "$left" ]] || { echo "left behind: $left"; return 1; }
}
check "checksum mismatch: exit 1 naming dfstore-executor, nothing installed or started" mismatch_refused
echo "     $(grep 'checksum mismatch' "$tmp/bad/bootstrap.out" | cut -c1-200)…"

# ---- binaries that match SHA256SUMS but do not run here (another glibc or architecture)
broken_upload() {
    local f
    mkdir -p "$tmp/broken-artifacts"
    for f in "${binaries[@]}"; do
        # shellcheck disable=SC2016 # $0 is the fake binary's own, not ours
        printf '#!/bin/sh\necho "$0: /lib64/libm.so.6: version GLIBC_2.35 not found" >&2\nexit 1\n' \
            >"$tmp/broken-artifacts/$f"
    done
    (cd "$tmp/broken-artifacts" && sha256sum "${binaries[@]}") >"$tmp/broken-artifacts/SHA256SUMS"
    for f in SHA256SUMS "${binaries[@]}"; do
        aws s3 cp --only-show-errors "$tmp/broken-artifacts/$f" "s3://$bucket/dfstore/broken/$arch/$f"
    done
}
out="$(broken_upload 2>&1)" || fail "binaries that do not run uploaded with their SHA256SUMS" "$out"
status=0
run_bootstrap broken broken --executor-port "$((first_port + 2))" || status=$?
not_runnable_refused() {
    [[ "$status" -eq 1 ]] || { echo "exit $status, not 1"; return 1; }
    grep -q "error: s3://$bucket/dfstore/broken/$arch/dfstore does not run on this node .*GLIBC_2.35 not found" \
        "$tmp/broken/bootstrap.out" || { cat "$tmp/broken/bootstrap.out"; return 1; }
    local left
    left="$(find "$tmp/broken/bin" "$tmp/broken/work/run" -type f 2>/dev/null)"
    [[ -z "$left" ]] || { echo "left behind: $left"; return 1; }
}
check "binaries that do not run here: exit 1 naming the file and the loader's error, nothing installed" not_runnable_refused

usage_error() {
    local status=0
    bash "$bootstrap" --scheduler-port 50050 >"$tmp/usage.out" 2>&1 || status=$?
    [[ "$status" -eq 2 ]] && grep -q -- "--binaries s3://BUCKET/PREFIX is required" "$tmp/usage.out"
}
check "no --binaries: exit 2 with the usage" usage_error

# ---- stop
all_stopped() {
    local node pids=() f p
    for node in "${nodes[@]}"; do
        for f in "$tmp/$node/work/run"/*.pid; do pids+=("$(cat "$f")"); done
    done
    for node in "${nodes[@]}"; do
        bash "$bootstrap" stop --work-dir "$tmp/$node/work" || return 1
    done
    for p in "${pids[@]}"; do
        if kill -0 "$p" 2>/dev/null; then echo "pid $p still runs"; return 1; fi
    done
    [[ -z "$(find "$tmp"/*/work/run -name '*.pid')" ]] || { echo "pid files left"; return 1; }
}
check "bootstrap.sh stop: every supervisor and process gone, pid files removed" all_stopped

summary
