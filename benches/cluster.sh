#!/usr/bin/env bash
# `dfstore run` embedded vs on a local cluster (1 scheduler + 2 executors),
# on local disk and on a loopback S3 server (moto), per scale.
#
#   benches/cluster.sh [SCALES]      e.g. benches/cluster.sh 1,10 (default)
#   BENCH_STORAGES=local benches/cluster.sh 10    local disk only
#   BENCH_CLUSTER_TARGET_PARTITIONS=8 …           the cluster runs with
#                                                 --target-partitions 8
#
# For every scale the raw data is generated once per storage, then each run
# starts from the same raw data (the published layers are removed first).
# Wall time and the client's peak RSS come from GNU time; the scheduler's and
# each executor's peak RSS from /proc/<pid>/status (VmHWM) at the end of the
# run, with a fresh cluster for every run. Executors get 1 vcore and a 1 GiB
# memory pool each, so the cluster has the embedded engine's 2 cores and
# 2 GiB. Writes benches/results/cluster.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
mkdir -p "$bench_dir" benches/results
# BENCH_BIN_DIR: use these binaries instead of building the release ones.
bin="${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --release --locked --workspace --bins >&2

bench_pii_key "$bench_dir"

# The loopback S3 server and its (fake) credentials.
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'moto[server]==5.2.1'
fi
s3_port=30900
"$venv/bin/moto_server" -H 127.0.0.1 -p "$s3_port" > "$bench_dir/moto.log" 2>&1 &
moto_pid=$!
export DFSTORE_CLUSTER_DIR="$bench_dir/cluster" DFSTORE_BIN_DIR="$bin"
export DFSTORE_EXECUTOR_VCORES=1 DFSTORE_EXECUTOR_MEMORY=1GB
cleanup() { deploy/local/cluster.sh stop >/dev/null 2>&1 || true; kill "$moto_pid" 2>/dev/null || true; }
trap cleanup EXIT
s3_env=(AWS_ENDPOINT_URL="http://127.0.0.1:$s3_port" AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1)
for _ in $(seq 1 100); do
  { exec 3<>"/dev/tcp/127.0.0.1/$s3_port"; } 2>/dev/null && break
  sleep 0.1
done
exec 3<&-
env "${s3_env[@]}" "$venv/bin/python3" -c \
  'import os, boto3; boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"]).create_bucket(Bucket="dfstore-bench")'

peak_mib() { awk '/VmHWM/ {printf "%d", $2/1024}' "/proc/$1/status"; }

reset_lake() { # lake
  case "$1" in
    s3://*) env "${s3_env[@]}" "$venv/bin/python3" - "$1" <<'EOF'
import sys, boto3
bucket, _, prefix = sys.argv[1][5:].partition("/")
s3 = boto3.resource("s3", endpoint_url=__import__("os").environ["AWS_ENDPOINT_URL"])
for layer in ("trusted", "rejected", "analytic", "logs", "scripts", "_staging"):
    s3.Bucket(bucket).objects.filter(Prefix=f"{prefix}/{layer}/").delete()
EOF
    ;;
    *) rm -rf "$1"/{trusted,rejected,analytic,logs,scripts,_staging} ;;
  esac
}

# Each cluster gets fresh ports: a port just closed can stay unusable for a
# minute (TIME_WAIT).
measure() { # mode lake port -> "wall client_mib scheduler_mib executor_mibs"
  local mode="$1" lake="$2" log="$bench_dir/time.cluster" args=() extra="-"
  reset_lake "$lake"
  if [ "$mode" = cluster ]; then
    export DFSTORE_SCHEDULER_PORT="$3"
    env "${s3_env[@]}" deploy/local/cluster.sh start 2 >&2
    args=(--scheduler "df://127.0.0.1:$DFSTORE_SCHEDULER_PORT")
    [ -z "${BENCH_CLUSTER_TARGET_PARTITIONS:-}" ] || args+=(--target-partitions "$BENCH_CLUSTER_TARGET_PARTITIONS")
  fi
  env "${s3_env[@]}" /usr/bin/time -v -o "$log" "$bin/dfstore" run --lake "$lake" "${args[@]}" \
    > "$bench_dir/last.out" 2> "$bench_dir/last.err" || { cat "$bench_dir/last.err" >&2; exit 1; }
  if [ "$mode" = cluster ]; then
    extra="$(peak_mib "$(cat "$DFSTORE_CLUSTER_DIR/scheduler.pid")") $(peak_mib "$(cat "$DFSTORE_CLUSTER_DIR/executor-0.pid")")+$(peak_mib "$(cat "$DFSTORE_CLUSTER_DIR/executor-1.pid")")"
    deploy/local/cluster.sh stop >&2
  fi
  local wall rss
  wall=$(time_wall_seconds "$log")
  rss=$(( $(time_peak_kib "$log") / 1024 ))
  echo "$wall $rss $extra"
}

out="${BENCH_OUT:-benches/results/cluster.md}"
{
  echo "| scale | storage | engine | wall (s) | vs embedded | client peak RSS (MiB) | scheduler (MiB) | executors (MiB) |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|"
} > "$out.tmp"
port=31000  # below the ephemeral range (32768-60999), so no outgoing connection holds it
for scale in ${scales//,/ }; do
  local_lake="$bench_dir/cluster-s$scale"
  s3_lake="s3://dfstore-bench/s$scale"
  rm -rf "$local_lake"
  "$bin/dfstore" generate --scale "$scale" --seed 42 --lake "$local_lake" > /dev/null 2>&1
  if [[ " ${BENCH_STORAGES:-local s3} " == *" s3 "* ]]; then
    env "${s3_env[@]}" "$bin/dfstore" generate --scale "$scale" --seed 42 --lake "$s3_lake" > /dev/null 2>&1
  fi
  for storage in ${BENCH_STORAGES:-local s3}; do
    lake=$local_lake; [ $storage = s3 ] && lake=$s3_lake
    read -r ew er _ < <(measure embedded "$lake")
    port=$((port + 20))
    read -r cw cr sm em < <(measure cluster "$lake" "$port")
    printf '| %s | %s | embedded | %.1f | 1.00 | %d | | |\n' "$scale" "$storage" "$ew" "$er" >> "$out.tmp"
    printf '| %s | %s | cluster (1+2) | %.1f | %.2f | %d | %s | %s |\n' "$scale" "$storage" "$cw" \
      "$(awk -v a="$cw" -v b="$ew" 'BEGIN {print a / b}')" "$cr" "$sm" "$em" >> "$out.tmp"
  done
done
{
  echo "Machine: $(bench_machine)"
  echo "Command: ${BENCH_STORAGES:+BENCH_STORAGES=\"$BENCH_STORAGES\" }${BENCH_CLUSTER_TARGET_PARTITIONS:+BENCH_CLUSTER_TARGET_PARTITIONS=$BENCH_CLUSTER_TARGET_PARTITIONS }benches/cluster.sh $scales ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
