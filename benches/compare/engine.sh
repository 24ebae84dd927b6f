#!/usr/bin/env bash
# Runs the DMC Retail job (raw -> trusted + rejected -> reporte_ventas_tienda)
# once on one engine; benches/compare.sh runs this under measure.py.
#
#   benches/compare/engine.sh ENGINE LAKE OUT [EXPORT_DIR]
#
#   dfstore   dfstore run, embedded engine           writes into LAKE (published layers)
#   cluster   dfstore run on a local Ballista cluster (1 scheduler + 2 executors of
#             1 vcore and a 1 GiB pool each), started and stopped here
#   duckdb    benches/duckdb/run.py                  writes OUT
#   duckdb-plain  benches/duckdb/run.py --sql benches/duckdb/plain   writes OUT
#   spark     benches/spark/job.py, local[2]         writes OUT
#   sail      benches/spark/job.py through Spark Connect on Sail (pysail's
#             `sail spark server`, started and stopped here)   writes OUT
#
# With EXPORT_DIR, the engine then writes EXPORT_DIR/report.csv and summary.csv
# (benches/compare/report.sql and summary.sql over what it wrote).
# Environment: BENCH_BIN_DIR (dfstore binaries), BENCH_VENV (duckdb, pyspark),
# BENCH_SAIL_VENV (pysail and its pyspark client; BENCH_CLUSTER_PORT is its port),
# DFSTORE_PII_KEY_FILE, and for the cluster BENCH_CLUSTER_PORT and
# DFSTORE_CLUSTER_DIR; BENCH_READY_FILE receives the epoch at which the
# engine's start-up (cluster up, JVM and SparkSession up) is over.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
[ $# -ge 3 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
engine="$1" lake="$2" out="$3" export_dir="${4:-}"
bin="${BENCH_BIN_DIR:?set BENCH_BIN_DIR to the folder of the dfstore binaries}"
venv="${BENCH_VENV:-/var/tmp/dfstore-bench-venv}"

ready() { [ -z "${BENCH_READY_FILE:-}" ] || date +%s.%N > "$BENCH_READY_FILE"; }

dfstore_export() {
  mkdir -p "$export_dir"
  "$bin/dfstore" sql --lake "$lake" --format csv -f "$here/report.sql" > "$export_dir/report.csv"
  "$bin/dfstore" sql --lake "$lake" --format csv -f "$here/summary.sql" > "$export_dir/summary.csv"
}

case "$engine" in
  dfstore)
    [ -n "$export_dir" ] || exec "$bin/dfstore" run --lake "$lake"
    "$bin/dfstore" run --lake "$lake"
    dfstore_export
    ;;
  cluster)
    port="${BENCH_CLUSTER_PORT:?set BENCH_CLUSTER_PORT to a free port for the scheduler}"
    export DFSTORE_SCHEDULER_PORT="$port" DFSTORE_BIN_DIR="$bin"
    export DFSTORE_EXECUTOR_VCORES=1 DFSTORE_EXECUTOR_MEMORY=1GB
    trap '"$repo/deploy/local/cluster.sh" stop >&2' EXIT
    "$repo/deploy/local/cluster.sh" start 2 >&2
    ready
    "$bin/dfstore" run --lake "$lake" --scheduler "df://127.0.0.1:$port"
    [ -z "$export_dir" ] || dfstore_export
    ;;
  duckdb)
    exec "$venv/bin/python" "$repo/benches/duckdb/run.py" --lake "$lake" --out "$out" \
      ${export_dir:+--export "$export_dir"}
    ;;
  duckdb-plain)
    exec "$venv/bin/python" "$repo/benches/duckdb/run.py" --sql "$repo/benches/duckdb/plain" \
      --lake "$lake" --out "$out" ${export_dir:+--export "$export_dir"}
    ;;
  sail)
    port="${BENCH_CLUSTER_PORT:?set BENCH_CLUSTER_PORT to a free port for the Sail server}"
    sail_venv="${BENCH_SAIL_VENV:-/var/tmp/dfstore-sail-venv}"
    "$sail_venv/bin/sail" spark server --ip 127.0.0.1 --port "$port" >&2 &
    server=$!
    trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
    # Up when its port accepts a connection (30 s at most).
    "$sail_venv/bin/python" - "$port" <<'PY'
import socket, sys, time
deadline = time.time() + 30
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("the Sail server did not open its port in 30 s")
        time.sleep(0.05)
PY
    ready
    "$sail_venv/bin/python" "$repo/benches/spark/job.py" --lake "$lake" --out "$out" \
      --remote "sc://127.0.0.1:$port" ${export_dir:+--export "$export_dir"}
    ;;
  spark)
    # The machine's Java 17, whatever else is installed.
    JAVA_HOME="$(dirname "$(dirname "$(readlink -f /usr/bin/java)")")"
    export JAVA_HOME SPARK_LOCAL_IP=127.0.0.1
    exec "$venv/bin/python" "$repo/benches/spark/job.py" --lake "$lake" --out "$out" \
      ${export_dir:+--export "$export_dir"}
    ;;
  *) echo "unknown engine \`$engine\`; expected dfstore, cluster, duckdb, duckdb-plain, spark or sail" >&2; exit 2 ;;
esac
