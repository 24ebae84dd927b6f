#!/usr/bin/env bash
# Warehouse load benchmark: `dfstore load` of the report (read from its Delta
# version, binary COPY, reconciled per period, audited, in one transaction)
# against `psql \copy` of the same rows as CSV into an identical table, side
# by side on the loopback PostgreSQL of deploy/local/postgres.sh.
#
#   benches/load.sh [SCALES] [RUNS]      e.g. benches/load.sh 1,10 3
#
# Generates and runs each scale into a lake under $BENCH_DIR (default
# /var/tmp/dfstore-bench/load), exports the report to CSV once (untimed),
# then times each loader RUNS times into a fresh database, and writes the
# medians to benches/results/load.md. Also reports the `verify` phase of the
# run: the time spent checking every raw file against its SHA-256. Needs
# root (for PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
runs="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}/load"
mkdir -p "$bench_dir" benches/results
cargo build --release --locked --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/dfstore"
bench_pii_key "$bench_dir"
. deploy/local/postgres.sh
admin="$DFSTORE_TEST_PG"
port=$(echo "$admin" | sed -E 's|.*:([0-9]+)/.*|\1|')
export PGPASSWORD="$DFSTORE_TEST_PG_PASSWORD"
pg() { PGOPTIONS=--client-min-messages=warning psql -q -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U dfstore_admin "$@"; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

out="benches/results/load.md"
{
  echo "| scale | rows | loader | wall (s), median of $runs | runs (s) | peak RSS (MiB) |"
  echo "|---:|---:|---|---:|---|---:|"
} > "$out.tmp"
verify_lines=()
for scale in ${scales//,/ }; do
  lake="$bench_dir/lake-s$scale"
  rm -rf "$lake"
  "$bin" generate --scale "$scale" --seed 42 --lake "$lake" > /dev/null
  "$bin" run --lake "$lake" > "$bench_dir/run-s$scale.txt"
  verify=$(awk '/phase verify/ {print $3}' "$bench_dir/run-s$scale.txt")
  total=$(awk '/^run .* succeeded in/ {print $(NF-2)}' "$bench_dir/run-s$scale.txt")
  verify_lines+=("scale $scale: every raw file checked against its SHA-256 in ${verify} s of a ${total} s run")
  csv="$bench_dir/report-s$scale.csv"
  "$bin" sql --lake "$lake" --format csv --output "$csv" \
    "SELECT fecha, periodo, id_tienda, codigo_tienda, nombre_tienda, ciudad, region, formato, num_ventas, num_clientes, unidades, venta_bruta, descuento_total, venta_neta, costo_total, margen_bruto, ticket_promedio FROM analytic.reporte_ventas_tienda"
  rows=$(($(wc -l < "$csv") - 1))

  fresh_db() { # name
    pg -d postgres -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" > /dev/null
  }
  measure() { # label command...
    local label=$1; shift
    local walls=() rss=0
    for i in $(seq 1 "$runs"); do
      fresh_db "bench_load"
      [ "$label" = psql ] && pg -d bench_load -c "CREATE SCHEMA analytic" -c "CREATE TABLE analytic.reporte_ventas_tienda (fecha date NOT NULL, periodo text NOT NULL, id_tienda integer NOT NULL, codigo_tienda text NOT NULL, nombre_tienda text NOT NULL, ciudad text NOT NULL, region text NOT NULL, formato text NOT NULL, num_ventas bigint NOT NULL, num_clientes bigint NOT NULL, unidades bigint NOT NULL, venta_bruta numeric(18,2) NOT NULL, descuento_total numeric(18,2) NOT NULL, venta_neta numeric(18,2) NOT NULL, costo_total numeric(18,2) NOT NULL, margen_bruto numeric(18,2) NOT NULL, ticket_promedio numeric(18,2) NOT NULL, PRIMARY KEY (fecha, id_tienda))" > /dev/null
      read -r w r < <(bench_measure "$@")
      walls+=("$w"); [ "$r" -gt "$rss" ] && rss=$r
    done
    local med
    med=$(printf '%s\n' "${walls[@]}" | median)
    printf '| %s | %s | %s | %.2f | %s | %d |\n' "$scale" "$rows" "$label" "$med" "${walls[*]}" "$((rss / 1024))" >> "$out.tmp"
    echo "$med"
  }
  url="${admin%/postgres}/bench_load"
  copy=$(measure psql psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d bench_load \
    -c "\\copy analytic.reporte_ventas_tienda FROM '$csv' CSV HEADER")
  load=$(measure "dfstore load (reconciled)" "$bin" load --lake "$lake" --warehouse "$url")
  echo "scale $scale: psql \\copy ${copy}s, dfstore load ${load}s ($(echo "$load / $copy" | bc -l | xargs printf '%.2f')x)" >&2
done
{
  echo "Machine: $(bench_machine)"
  echo "PostgreSQL $(psql -V | awk '{print $3}') on loopback; command: benches/load.sh $scales $runs ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
  echo
  for l in "${verify_lines[@]}"; do echo "- $l"; done
} > "$out"
rm -f "$out.tmp"
cat "$out"
