#!/usr/bin/env bash
# End-to-end benchmark of `dfstore generate` and `dfstore run` on the embedded
# engine: wall time and peak resident memory (from GNU time) per scale.
#
#   benches/pipeline.sh [SCALES]      e.g. benches/pipeline.sh 1,10
#
# Builds the release binary, generates each scale into a fresh lake under
# $BENCH_DIR (default /var/tmp/dfstore-bench), runs the pipeline on it, and
# prints a markdown table (also written to benches/results/pipeline.md) with
# the disk each layer of the lake takes after the run (raw after generate;
# trusted, rejected and analytic are Delta tables, log included).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
mkdir -p "$bench_dir" benches/results
cargo build --release --locked --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/dfstore"

bench_pii_key "$bench_dir"

out="benches/results/pipeline.md"
{
  echo "| scale | step | wall (s) | peak RSS (MiB) | rows in report | disk (MiB): raw / trusted / rejected / analytic |"
  echo "|---:|---|---:|---:|---:|---|"
} > "$out.tmp"
for scale in ${scales//,/ }; do
  lake="$bench_dir/lake-s$scale"
  rm -rf "$lake"
  read -r gw gr < <(bench_measure "$bin" generate --scale "$scale" --seed 42 --lake "$lake")
  read -r rw rr < <(bench_measure "$bin" run --lake "$lake")
  rows=$("$bin" sql --lake "$lake" --format csv "SELECT COUNT(*) AS n FROM analytic.reporte_ventas_tienda" | tail -1)
  disk=$(for layer in raw trusted rejected analytic; do du -sm "$lake/$layer" | cut -f1; done | paste -sd/ | sed 's|/| / |g')
  printf '| %s | generate | %.1f | %d | | |\n' "$scale" "$gw" "$((gr / 1024))" >> "$out.tmp"
  printf '| %s | run | %.1f | %d | %s | %s |\n' "$scale" "$rw" "$((rr / 1024))" "$rows" "$disk" >> "$out.tmp"
done
{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/pipeline.sh $scales ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
