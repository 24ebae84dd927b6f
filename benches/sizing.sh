#!/usr/bin/env bash
# Throughput per core of each stage of a run, for the sizing model in the
# book (docs/src/operations/sizing.md): generates each scale, runs it with
# `dfstore run --full-refresh --format json`, embedded and on a local
# cluster of one scheduler and two executors, and turns the run manifest's
# steps into rows per second per core.
#
#   benches/sizing.sh [SCALES]        e.g. benches/sizing.sh 1,10,100 (default 1,10)
#   BENCH_CLUSTER_SCALES=1,10         the scales also run on the cluster (default: SCALES)
#
# Writes benches/results/sizing.md and prints it. Models run one after
# another (--concurrent-models 1), so a stage's seconds are its models' wall
# times; benches/sizing_table.py says what each stage's rows are.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
cluster_scales="${BENCH_CLUSTER_SCALES:-$scales}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
bin_dir="${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"
mkdir -p "$bench_dir" benches/results
[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --release --locked --workspace --bins >&2
bin="$bin_dir/dfstore"
bench_pii_key "$bench_dir"
export DFSTORE_CLUSTER_DIR="$bench_dir/cluster"
trap 'deploy/local/cluster.sh stop >/dev/null 2>&1 || true' EXIT

runs="$bench_dir/sizing-runs.jsonl"
: > "$runs"
# Appends the run just measured (its manifest is in last.out) to $runs.
record() { # engine wall rss_kib
  python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(json.dumps({"scale": float(sys.argv[2]), "engine": sys.argv[3], "cores": int(sys.argv[4]), "wall": float(sys.argv[5]), "rss_mib": int(sys.argv[6])//1024, "run": m["run"]}))' \
    "$bench_dir/last.out" "$scale" "$1" "$(nproc)" "$2" "$3" >> "$runs"
}
for scale in ${scales//,/ }; do
  lake="$bench_dir/sizing-s$scale"
  rm -rf "$lake"
  "$bin" generate --quiet --scale "$scale" --lake "$lake"
  read -r wall rss < <(bench_measure "$bin" run --full-refresh --concurrent-models 1 --format json --lake "$lake")
  record embedded "$wall" "$rss"
  if [[ ",$cluster_scales," == *",$scale,"* ]]; then
    port="${DFSTORE_SCHEDULER_PORT:-50050}"
    DFSTORE_BIN_DIR="$bin_dir" deploy/local/cluster.sh start 2 >&2
    read -r wall rss < <(bench_measure "$bin" run --full-refresh --concurrent-models 1 --format json --lake "$lake" --scheduler "df://127.0.0.1:$port")
    record "cluster (2 executors)" "$wall" "$rss"
    deploy/local/cluster.sh stop >&2
  fi
  rm -rf "$lake"
done

out=benches/results/sizing.md
{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/sizing.sh $scales (cluster: $cluster_scales) ($(date -u +%Y-%m-%d))"
  echo
  python3 benches/sizing_table.py "$runs"
} > "$out"
cat "$out"
