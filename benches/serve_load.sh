#!/usr/bin/env bash
# `dfstore serve` under load: 64 concurrent clients of the dashboard's API
# for a minute, 64 of the SQL endpoint for a minute, and the dashboard's
# latency with and without a runaway SQL statement in flight (see
# benches/serve_load.py for what each phase does).
#
#   benches/serve_load.sh [SCALE] [CLIENTS] [SECONDS]     default 1 64 60
#
# Generates and runs a lake at SCALE, starts `dfstore serve` on it with a
# 10-minute statement timeout (so the runaway statement runs through its
# phase until the script cancels it), and writes
# benches/results/serve-load.md. Fails when any request fails.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scale="${1:-1}" clients="${2:-64}" seconds="${3:-60}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
venv="${DFSTORE_VENV:-/var/tmp/dfstore-venv}"
mkdir -p "$bench_dir" benches/results
bin="${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}"
[ -n "${BENCH_BIN_DIR:-}" ] || cargo build --release --locked -p dfstore-jobs --bin dfstore >&2
if ! "$venv/bin/python3" -c 'import psycopg' 2>/dev/null; then
  python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'psycopg[binary]==3.3.*'
fi
bench_pii_key "$bench_dir"

lake="$bench_dir/serve-s$scale"
rm -rf "$lake"
"$bin/dfstore" generate --scale "$scale" --seed 42 --lake "$lake" > /dev/null 2>&1
"$bin/dfstore" run --lake "$lake" > /dev/null 2>&1

"$bin/dfstore" serve --lake "$lake" --http 127.0.0.1:0 --sql 127.0.0.1:0 \
  --statement-timeout 10m > "$bench_dir/serve.out" 2> "$bench_dir/serve.err" &
serve_pid=$!
trap 'kill "$serve_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  grep -q '^serving' "$bench_dir/serve.out" 2>/dev/null && break
  sleep 0.1
done
http_port=$(sed -n 's|^dashboard *http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$bench_dir/serve.out")
sql_port=$(sed -n 's|^sql *postgresql://[^@]*@127.0.0.1:\([0-9]*\)/.*|\1|p' "$bench_dir/serve.out")
if [ -z "$http_port" ] || [ -z "$sql_port" ]; then
  cat "$bench_dir/serve.err" >&2
  exit 1
fi

out="benches/results/serve-load.md"
"$venv/bin/python3" benches/serve_load.py "$http_port" "$sql_port" \
  --clients "$clients" --seconds "$seconds" > "$out.tmp"
{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/serve_load.sh $scale $clients $seconds ($(date -u +%Y-%m-%d)); server and clients on the same machine"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
