#!/usr/bin/env bash
# What losing an executor costs a cluster run: `dfstore run` on a local
# cluster of 1 scheduler + 3 executors (1 vcore and a 1 GiB pool each),
# undisturbed, then with executor 1 SIGKILLed at 25%, 50% and 75% of the
# undisturbed run's wall time. Every run must succeed and publish the same
# report as the undisturbed one (compared cell for cell); the table gives
# each run's wall time and the time lost.
#
#   benches/lost_executor.sh [SCALE]      default 10
#
# The cluster is deploy/local/cluster.sh's, whose scheduler declares an
# executor dead after 30 s without a heartbeat
# (--executor-timeout-seconds 30): most of the time lost is that wait.
# Writes benches/results/lost-executor.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scale="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
mkdir -p "$bench_dir" benches/results
bin="${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --release --locked --workspace --bins >&2
bench_pii_key "$bench_dir"

export DFSTORE_CLUSTER_DIR="$bench_dir/lost-cluster" DFSTORE_BIN_DIR="$bin"
export DFSTORE_EXECUTOR_VCORES=1 DFSTORE_EXECUTOR_MEMORY=1GB
trap 'deploy/local/cluster.sh stop >/dev/null 2>&1 || true' EXIT
lake="$bench_dir/lost-s$scale"
rm -rf "$lake"
"$bin/dfstore" generate --scale "$scale" --seed 42 --lake "$lake" > /dev/null 2>&1
report="SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda"

port=32000  # below the ephemeral range (32768-60999)
# One cluster run, executor 1 killed after $1 seconds (none when empty);
# prints "wall_seconds".
cluster_run() { # kill_after
  rm -rf "$lake"/{trusted,rejected,analytic,logs,scripts,_staging}
  port=$((port + 20))
  export DFSTORE_SCHEDULER_PORT=$port
  deploy/local/cluster.sh start 3 >&2
  local log="$bench_dir/time.lost"
  /usr/bin/time -v -o "$log" "$bin/dfstore" run --lake "$lake" --scheduler "df://127.0.0.1:$port" \
    > "$bench_dir/last.out" 2> "$bench_dir/last.err" &
  local run=$!
  if [ -n "$1" ]; then
    sleep "$1"
    kill -9 "$(cat "$DFSTORE_CLUSTER_DIR/executor-1.pid")"
  fi
  wait "$run" || { echo "the run failed (executor killed after ${1:-no} s):" >&2; cat "$bench_dir/last.err" >&2; exit 1; }
  deploy/local/cluster.sh stop >&2
  time_wall_seconds "$log"
}

undisturbed=$(cluster_run "")
"$bin/dfstore" sql --lake "$lake" --format csv "$report" > "$bench_dir/report.expected"
out="benches/results/lost-executor.md"
{
  echo "| executor 1 killed | wall (s) | time lost (s) | report equal to the undisturbed run's |"
  echo "|---|---:|---:|---|"
  printf '| never | %.1f | | |\n' "$undisturbed"
} > "$out.tmp"
for share in 25 50 75; do
  after=$(awk -v w="$undisturbed" -v s="$share" 'BEGIN {printf "%.1f", w * s / 100}')
  wall=$(cluster_run "$after")
  "$bin/dfstore" sql --lake "$lake" --format csv "$report" > "$bench_dir/report.got"
  same=no
  cmp -s "$bench_dir/report.expected" "$bench_dir/report.got" && same=yes
  printf '| at %d%% (%.1f s) | %.1f | %.1f | %s |\n' "$share" "$after" "$wall" \
    "$(awk -v a="$wall" -v b="$undisturbed" 'BEGIN {print a - b}')" "$same" >> "$out.tmp"
  [ "$same" = yes ] || { cat "$out.tmp" >&2; echo "the report differs after a lost executor" >&2; exit 1; }
done
{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/lost_executor.sh $scale ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
