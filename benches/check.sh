#!/usr/bin/env bash
# How long `dfstore check` takes to parse, resolve and plan a project of N
# models (the retail project plus N-13 generated reports, each reading two
# trusted tables and the report before it, so the graph is a long chain),
# against a lake's raw schemas and against the source contract.
#
#   benches/check.sh [N]      e.g. benches/check.sh 100   [default: 100]
#
# Prints a markdown table (also written to benches/results/check.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
models="${1:-100}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
bench_dir="${BENCH_DIR:-/var/tmp/dfstore-bench}"
mkdir -p "$bench_dir" benches/results
cargo build --release --locked -p dfstore-jobs --bin dfstore >&2
bin="$CARGO_TARGET_DIR/release/dfstore"
bench_pii_key "$bench_dir"

project="$bench_dir/check-project"
lake="$bench_dir/check-lake"
rm -rf "$project" "$lake"
"$bin" init "$project" > /dev/null
previous="analytic.reporte_ventas_tienda"
for i in $(seq 1 $((models - 13))); do
  cat > "$project/analytic/informe_$i.sql" <<SQL
/* dfstore
materialized = "table"
tags = ["generated"]
*/
SELECT p.categoria, v.canal, COUNT(*) AS lineas,
       SUM(d.cantidad * d.precio_unitario) AS bruto,
       (SELECT COUNT(*) FROM $previous) AS antes
FROM trusted.detalle_ventas AS d
JOIN trusted.ventas AS v ON v.id_venta = d.id_venta
JOIN trusted.productos AS p ON p.id_producto = d.id_producto
WHERE v.estado = 'COMPLETADA'
GROUP BY p.categoria, v.canal
SQL
  previous="analytic.informe_$i"
done
"$bin" generate --scale 0.01 --lake "$lake" > /dev/null

out="benches/results/check.md"
{
  echo "| models | raw schemas from | wall (s), best of 5 | planning alone (s) | peak RSS (MiB) |"
  echo "|---:|---|---:|---:|---:|"
  for from in lake contract; do
    args=(check --project "$project" --lake "$lake")
    [ "$from" = contract ] && args=(check --project "$project" --lake "$bench_dir/no-such-lake")
    best=""; plan=""; rss=""
    for _ in 1 2 3 4 5; do
      read -r w r < <(bench_measure "$bin" "${args[@]}")
      p=$(sed -n 's/.* plan in \([0-9.]*\) s.*/\1/p' "$bench_dir/last.out")
      if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then best=$w; plan=$p; rss=$((r / 1024)); fi
    done
    printf '| %s | %s | %.2f | %s | %s |\n' "$models" "$from" "$best" "$plan" "$rss"
  done
  echo
  echo "Machine: $(bench_machine). Date: $(date -u +%F). Command: benches/check.sh $models"
} | tee "$out"
