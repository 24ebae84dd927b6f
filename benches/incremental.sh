#!/usr/bin/env bash
# Incremental run against a full run on the same lake, after one day of
# changes (`dfstore source apply-changes`) and an incremental ingest: one
# night whose voids and corrections reach only the last week's tickets
# (`--recent-days 7`), as stores mostly make them, and one whose reach
# tickets of any month. Each scale runs with each history length: with two
# years of sales the tables hold twice the tickets and a day of changes is
# the same, so the incremental run should cost the same and the full one
# twice as much.
#
#   benches/incremental.sh [SCALES] [YEARS]   e.g. benches/incremental.sh 1,10 1,2
#
# For each scale and history: loads the demo source into the loopback
# PostgreSQL of deploy/local/postgres.sh (`dfstore source init --years`),
# extracts it whole and
# runs the pipeline (the first, full run), then runs one night of
# last-week changes untimed: the first incremental extraction after a full
# one extracts again, through its overlap, rows of every month. Each timed
# night then applies a day of changes and extracts them incrementally, and
# the lake is copied: `dfstore run --full-refresh-above 1` on one copy
# (incremental however far the changes spread) and `dfstore run
# --full-refresh` on the other, each timed with its peak memory, and what
# they published is compared; the database and the lakes are then dropped.
# The markdown table goes to benches/results/incremental.md. Needs root (for
# PostgreSQL).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
scales="${1:-1,10}"
histories="${2:-1,2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}/incremental"
mkdir -p "$bench_dir" benches/results
cargo build --release --locked --workspace --bins >&2
bin="$CARGO_TARGET_DIR/release/dfstore"
bench_pii_key "$bench_dir"
. deploy/local/postgres.sh
admin="$DFSTORE_TEST_PG"
port=$(echo "$admin" | sed -E 's|.*:([0-9]+)/.*|\1|')
export PGPASSWORD="$DFSTORE_TEST_PG_PASSWORD"

# A digest of what both runs published: the report whole, and the rows of
# every other table (jobs/tests/incremental.rs compares them all, cell for
# cell).
digest() { # lake
  "$bin" sql --lake "$1" --format csv "SELECT * FROM analytic.reporte_ventas_tienda ORDER BY fecha, id_tienda" | md5sum
  for table in trusted.tiendas trusted.productos trusted.clientes trusted.ventas rejected.ventas \
    trusted.detalle_ventas rejected.detalle_ventas; do
    "$bin" sql --lake "$1" --format csv "SELECT COUNT(*) AS n FROM $table" | tail -1
  done | md5sum
}

# One night on the lake of SCALE: a day of changes (apply-changes ARGS),
# an incremental ingest, then an incremental run on the lake and a full
# one on a copy, timed and compared; one row of the table.
night() { # scale, years, what changed, apply-changes args...
  local scale=$1 years=$2 what=$3 iw ir fw fr manifest mode changed periods days ventas same
  shift 3
  "$bin" source apply-changes --pg "$url" "$@" > /dev/null
  "$bin" ingest --incremental --pg "$url" --lake "$lake" > /dev/null
  rm -rf "$full"
  cp -a "$lake" "$full"
  echo "scale $scale, ${years}-year history, $what: incremental run" >&2
  read -r iw ir < <(bench_measure "$bin" run --lake "$lake" --full-refresh-above 1)
  manifest=$(ls "$lake"/logs/runs/*.json | sort | tail -1)
  mode=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["increment"]["mode"])' "$manifest")
  [ "$mode" = incremental ] || { echo "the run after one day of changes was $mode" >&2; exit 1; }
  read -r changed periods days rewritten < <(python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
i = m["increment"]
merged = [o for o in m["outputs"] if o["table"]["layer"] in ("trusted", "rejected") and o["rows_total"]]
share = sum(o["rows_added"] for o in merged) / max(1, sum(o["rows_total"] for o in merged))
report = "analytic.reporte_ventas_tienda"
days = i.get("days", {}).get(report)
print(i["changed_keys"].get("id_venta", 0), len(i["periods"].get(report, [])), len(days) if days else "all", f"{100 * share:.1f}%")' "$manifest")
  echo "scale $scale, ${years}-year history, $what: full run" >&2
  read -r fw fr < <(bench_measure "$bin" run --lake "$full" --full-refresh)
  ventas=$("$bin" sql --lake "$lake" --format csv "SELECT (SELECT COUNT(*) FROM trusted.ventas) + (SELECT COUNT(*) FROM rejected.ventas) AS n" | tail -1)
  same=no
  [ "$(digest "$lake")" = "$(digest "$full")" ] && same=yes
  awk -v scale="$scale" -v years="$years" -v what="$what" -v ventas="$ventas" -v changed="$changed" -v periods="$periods" -v days="$days" \
    -v rewritten="$rewritten" -v iw="$iw" -v ir="$ir" -v fw="$fw" -v fr="$fr" -v same="$same" \
    'BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %d | %.1f | %d | %.0f%% | %s |\n",
             scale, years, what, ventas, changed, rewritten, periods, days, iw, ir / 1024, fw, fr / 1024, 100 * iw / fw, same }' >> "$out.tmp"
}

out="benches/results/incremental.md"
{
  echo "| scale | years of sales | tickets voided or corrected | ventas in raw | changed tickets | trusted and rejected rows rewritten | report months rebuilt | report days rebuilt (all: months whole) | incremental run (s) | peak RSS (MiB) | full run (s) | peak RSS (MiB) | incremental / full | same tables |"
  echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} > "$out.tmp"
for scale in ${scales//,/ }; do
  for years in ${histories//,/ }; do
    db="bench_inc_s${scale//./_}_y$years"
    PGOPTIONS=--client-min-messages=warning psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d postgres \
      -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" > /dev/null
    url="${admin%/postgres}/$db"
    lake="$bench_dir/lake-s$scale-y$years"
    full="$bench_dir/full-s$scale-y$years"
    rm -rf "$lake" "$full"
    echo "scale $scale, ${years}-year history: loading the source" >&2
    "$bin" source init --pg "$url" --scale "$scale" --years "$years" > /dev/null
    "$bin" ingest --full --pg "$url" --lake "$lake" > /dev/null
    echo "scale $scale, ${years}-year history: the first run" >&2
    "$bin" run --lake "$lake" > /dev/null
    # The first night after the full extraction, untimed (see the top).
    "$bin" source apply-changes --pg "$url" --seed 1 --recent-days 7 > /dev/null
    "$bin" ingest --incremental --pg "$url" --lake "$lake" > /dev/null
    "$bin" run --lake "$lake" --full-refresh-above 1 > /dev/null
    # Voids and corrections of the last week's tickets only; then of tickets
    # of any month.
    night "$scale" "$years" "last 7 days" --seed 2 --recent-days 7
    night "$scale" "$years" "any month" --seed 3
    PGOPTIONS=--client-min-messages=warning psql -q -X -h 127.0.0.1 -p "$port" -U dfstore_admin -d postgres \
      -c "DROP DATABASE $db" > /dev/null
    rm -rf "$lake" "$full"
  done
done
{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/incremental.sh $scales $histories ($(date -u +%Y-%m-%d))"
  echo
  cat "$out.tmp"
} > "$out"
rm -f "$out.tmp"
cat "$out"
