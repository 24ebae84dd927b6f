#!/usr/bin/env bash
# A local dfstore cluster on loopback: one dfstore-scheduler and N
# dfstore-executor processes, logs and spill folders under one directory.
#
#   deploy/local/cluster.sh start [N]   start a scheduler and N executors (default 2)
#   deploy/local/cluster.sh status      show what runs and what the scheduler sees
#   deploy/local/cluster.sh stop        stop them (SIGTERM, then SIGKILL after 10 s)
#
# Then: dfstore run --lake ./lake --scheduler df://127.0.0.1:50050
#
# Settings (environment):
#   DFSTORE_CLUSTER_DIR     logs/, work-<i>/ and pid files   [/var/tmp/dfstore-cluster]
#   DFSTORE_SCHEDULER_PORT  scheduler gRPC and REST port     [50050]
#                           executor i uses 50051+3i (Arrow Flight), 50052+3i (gRPC),
#                           50053+3i (health: /healthz, /readyz)
#   DFSTORE_BIN_DIR         where the binaries are           [$CARGO_TARGET_DIR/release, else ./target/release]
#   DFSTORE_EXECUTOR_MEMORY memory pool of each executor     [2GB]
#   DFSTORE_EXECUTOR_VCORES concurrent tasks per executor    [the number of cores]
# Executors read S3 credentials from their own environment (AWS_* variables,
# or the instance profile), and the personal-data key from DFSTORE_PII_KEY_FILE.
set -euo pipefail
cd "$(dirname "$0")/../.."

dir="${DFSTORE_CLUSTER_DIR:-/var/tmp/dfstore-cluster}"
port="${DFSTORE_SCHEDULER_PORT:-50050}"
bin_dir="${DFSTORE_BIN_DIR:-${CARGO_TARGET_DIR:-$PWD/target}/release}"
memory="${DFSTORE_EXECUTOR_MEMORY:-2GB}"
vcores="${DFSTORE_EXECUTOR_VCORES:-$(nproc)}"

http_get() { # port path -> body; fails when nothing answers
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&-
}

wait_until() { # description command... ; polls for 60 s
  local what="$1"; shift
  for _ in $(seq 1 600); do
    if "$@" >/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "timed out waiting for $what; see $dir/logs" >&2
  return 1
}

executors_registered() { # n; fails at once (exit 1) when a process died
  for f in "$dir"/scheduler.pid "$dir"/executor-*.pid; do
    if ! kill -0 "$(cat "$f")" 2>/dev/null; then
      local log
      log="$dir/logs/$(basename "$f" .pid).log"
      echo "$(basename "$f" .pid) exited: $(tail -n 1 "$log") (log: $log)" >&2
      exit 1
    fi
  done
  [ "$(http_get "$port" /api/executors | grep -o '"id"' | wc -l)" -ge "$1" ]
}

start() {
  local n="${1:-2}"
  if [ -e "$dir/scheduler.pid" ] && kill -0 "$(cat "$dir/scheduler.pid")" 2>/dev/null; then
    echo "a cluster already runs from $dir; stop it first" >&2; exit 1
  fi
  if [ ! -x "$bin_dir/dfstore-scheduler" ] || [ ! -x "$bin_dir/dfstore-executor" ]; then
    echo "building the cluster binaries into $bin_dir" >&2
    CARGO_TARGET_DIR="$(dirname "$bin_dir")" cargo build --release --locked --workspace --bins >&2
  fi
  mkdir -p "$dir/logs"
  "$bin_dir/dfstore-scheduler" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
    --bind-port "$port" --executor-timeout-seconds 30 --expire-dead-executor-interval-seconds 5 \
    >"$dir/logs/scheduler.log" 2>&1 &
  echo $! >"$dir/scheduler.pid"
  wait_until "the scheduler on port $port" http_get "$port" /api/state
  for i in $(seq 0 $((n - 1))); do
    local base=$((port + 1 + 3 * i))
    mkdir -p "$dir/work-$i"
    "$bin_dir/dfstore-executor" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
      --scheduler-host 127.0.0.1 --scheduler-port "$port" \
      --bind-port "$base" --bind-grpc-port $((base + 1)) --bind-health-port $((base + 2)) \
      --work-dir "$dir/work-$i" --memory-pool-size "$memory" --vcores "$vcores" \
      --executor-heartbeat-interval-seconds 10 \
      >"$dir/logs/executor-$i.log" 2>&1 &
    echo $! >"$dir/executor-$i.pid"
  done
  wait_until "$n executors to register" executors_registered "$n"
  echo "cluster up: scheduler df://127.0.0.1:$port, $n executors, logs in $dir/logs"
}

stop() {
  local pids=()
  for f in "$dir"/executor-*.pid "$dir"/scheduler.pid; do
    [ -e "$f" ] || continue
    pids+=("$(cat "$f")")
    rm -f "$f"
  done
  [ ${#pids[@]} -gt 0 ] || { echo "no cluster runs from $dir"; return 0; }
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && { echo "cluster stopped"; return 0; }
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
  echo "cluster killed after 10 s"
}

status() {
  for f in "$dir"/scheduler.pid "$dir"/executor-*.pid; do
    [ -e "$f" ] || continue
    local p; p=$(cat "$f")
    if kill -0 "$p" 2>/dev/null; then echo "$(basename "$f" .pid): running (pid $p)"
    else echo "$(basename "$f" .pid): not running"; fi
  done
  echo "executors registered: $(http_get "$port" /api/executors 2>/dev/null | grep -o '"id"' | wc -l)"
}

case "${1:-}" in
  start) start "${2:-2}" ;;
  stop) stop ;;
  status) status ;;
  *) sed -n '2,21p' "$0" >&2; exit 2 ;;
esac
