#!/usr/bin/env bash
# Extraction benchmark: `dfstore ingest --full` against connectorx (PyPI,
# writing zstd Parquet with pyarrow) and `psql \copy` to CSV, on the same
# PostgreSQL tables, loaded by `dfstore source init` at each scale.
#
#   benches/ingest.sh [SCALES] [RUNS]   e.g. benches/ingest.sh 1,10 3
#
# Each extractor runs RUNS times (default 3), the three interleaved, each run
# from scratch (its output removed first); the table gives the median wall
# time, every run's time and the highest peak memory.
# Starts the loopback PostgreSQL of deploy/local/postgres.sh, installs
# connectorx and pyarrow into $BENCH_VENV (default /var/tmp/dfstore-bench-venv),
# and writes a markdown table (rows/s, MB/s of Parquet or CSV written, peak
# memory) to benches/results/ingest.md. Needs root (for PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
runs="${2:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}/ingest"
venv="${BENCH_VENV:-/var/tmp/dfstore-bench-venv}"
mkdir -p "$bench_dir" benches/results
cargo build --release --locked --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/dfstore"
if ! "$venv/bin/python3" -c 'import connectorx, pyarrow' 2> /dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check connectorx pyarrow
fi
. deploy/local/postgres.sh
admin="$DFSTORE_TEST_PG"
port=$(echo "$admin" | sed -E 's|.*:([0-9]+)/.*|\1|')
export PGPASSWORD="$DFSTORE_TEST_PG_PASSWORD"

mib() { du -sb "$1" | awk '{printf "%.1f", $1 / 1048576}'; }

out="benches/results/ingest.md"
{
  echo "| scale | extractor | rows | wall (s), median of $runs | runs (s) | rows/s | output (MiB) | MiB/s | peak RSS (MiB) |"
  echo "|---:|---|---:|---:|---|---:|---:|---:|---:|"
} > "$out.tmp"
for scale in ${scales//,/ }; do
  db="bench_s${scale//./_}"
  PGOPTIONS=--client-min-messages=warning psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d postgres \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" > /dev/null
  url="${admin%/postgres}/$db"
  read -r lw lr < <(bench_measure "$bin" source init --pg "$url" --scale "$scale")
  echo "scale $scale: source init ${lw}s" >&2
  psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d "$db" -c "VACUUM ANALYZE" > /dev/null
  rows=$(psql -At -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d "$db" -c \
    "SELECT (SELECT count(*) FROM retail.tiendas) + (SELECT count(*) FROM retail.productos) + (SELECT count(*) FROM retail.clientes) + (SELECT count(*) FROM retail.ventas) + (SELECT count(*) FROM retail.detalle_ventas)")

  row() { # extractor output walls rss: the median of the walls, all of them, the peak
    local median
    median=$(printf '%s\n' $3 | sort -g | awk '{w[NR] = $1} END {print w[int((NR + 1) / 2)]}')
    printf '| %s | %s | %s | %.1f | %s | %.0f | %s | %.1f | %d |\n' "$scale" "$1" "$rows" "$median" \
      "$(printf '%.1f ' $3 | sed 's/ $//; s/ /, /g')" "$(echo "$rows / $median" | bc -l)" "$2" \
      "$(echo "$2 / $median" | bc -l)" "$(($4 / 1024))" >> "$out.tmp"
  }
  lake="$bench_dir/lake-s$scale"
  cx="$bench_dir/connectorx-s$scale"
  csv="$bench_dir/csv-s$scale"
  copy_all() {
    for t in tiendas productos clientes ventas detalle_ventas; do
      psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d "$db" -c "\\copy retail.$t TO '$csv/$t.csv' CSV"
    done
  }
  export -f copy_all; export port db csv
  declare -A walls=() peak=()
  note() { # extractor wall rss
    walls[$1]="${walls[$1]:-} $2"
    [ "${peak[$1]:-0}" -ge "$3" ] || peak[$1]=$3
  }
  for run in $(seq 1 "$runs"); do
    echo "scale $scale: run $run of $runs" >&2
    rm -rf "$lake"
    read -r w r < <(bench_measure "$bin" ingest --full --pg "$url" --lake "$lake")
    note dfstore "$w" "$r"
    rm -rf "$cx"
    read -r w r < <(bench_measure "$venv/bin/python3" benches/ingest/connectorx_extract.py "$url" "$cx" 2)
    note connectorx "$w" "$r"
    rm -rf "$csv"; mkdir -p "$csv"
    read -r w r < <(bench_measure bash -c copy_all)
    note psql "$w" "$r"
  done
  row "dfstore ingest --full (verified)" "$(mib "$lake/raw")" "${walls[dfstore]}" "${peak[dfstore]}"
  row "connectorx $("$venv/bin/python3" -c 'import connectorx; print(connectorx.__version__)') + pyarrow Parquet" \
    "$(mib "$cx")" "${walls[connectorx]}" "${peak[connectorx]}"
  row "psql \\copy to CSV" "$(mib "$csv")" "${walls[psql]}" "${peak[psql]}"
done
{
  echo "Machine: $(bench_machine)"
  echo "PostgreSQL $(psql -V | awk '{print $3}') on loopback; command: benches/ingest.sh $scales $runs ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
