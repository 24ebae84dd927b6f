#!/usr/bin/env bash
# dfstore against its peers on the same data, with the same answers (issue 5).
#
#   benches/compare.sh [--scale 1,10] [--runs 3] [--engines dfstore,cluster,duckdb,spark] [--check-only]
#
# For every scale: generates the raw data once (dfstore generate, seed 42),
# then runs the same job -- raw -> trusted (+ rejected) -> reporte_ventas_tienda,
# by the rules of shared/spec/retail-model.md -- on each engine:
#   dfstore   dfstore run, embedded
#   cluster   dfstore run on a local cluster: 1 scheduler + 2 executors (1 vcore, 1 GiB pool each)
#   duckdb    benches/duckdb/ (DuckDB from PyPI): the single-node reference, a port
#             of dfstore's own SQL (sql/staging ... sql/analytic) to DuckDB
#   spark     benches/spark/job.py (PySpark from PyPI, local[2], Java 17)
# Each engine's report and row counts are exported as CSV and compared, value
# by value as text, with dfstore's (benches/compare/compare.py): any difference
# fails the command before any time is taken. Then each engine runs --runs more
# times, interleaved, each run measured by benches/compare/measure.py (wall,
# start-up, CPU and peak resident memory of all the engine's processes), and
# benches/RESULTS.md is written.
#
#   sail      benches/spark/job.py through Spark Connect on Sail (pysail from PyPI,
#             the other DataFusion-based Spark replacement), in $BENCH_SAIL_VENV
#   duckdb-plain  benches/duckdb/plain/ on the same DuckDB: the job as a plain
#             DuckDB user writes it (QUALIFY ROW_NUMBER() over every raw row,
#             one CASE per table for the first failing rule, COUNT(DISTINCT)
#             over the joined lines), none of dfstore's hand-tuned shapes
#
#   --check-only   run each engine once and compare the answers; no timing, no RESULTS.md
#   --engines      an engine followed by `?` (e.g. spark?) is used only if already
#                  installed, and is reported, not failed, when it is not
#
# PySpark and DuckDB are installed with pip into $BENCH_VENV
# (/var/tmp/dfstore-bench-venv) when an engine needs them. An engine that
# cannot run is reported with the reason. Exit status: 0 when every requested
# engine ran and all answers agree, 1 otherwise, 2 for a usage error.
# Environment: BENCH_DIR [/var/tmp/dfstore-bench] (work under BENCH_DIR/compare),
# BENCH_BIN_DIR (use these dfstore binaries instead of building release ones),
# BENCH_VENV, BENCH_OUT [benches/RESULTS.md], BENCH_PORT_BASE [30100].
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

DUCKDB_VERSION=2.0.0
PYSPARK_VERSION=4.3.0
# pysail 0.7.2 speaks to the pyspark 4.2 client (shared/ENVIRONMENT.md).
SAIL_VERSION=0.7.2
SAIL_PYSPARK_VERSION=4.2.1
export BENCH_SAIL_VENV="${BENCH_SAIL_VENV:-/var/tmp/dfstore-sail-venv}"

usage() { sed -n '2,35p' "$0" >&2; exit 2; }
# The command as run, with the settings that change what it measures.
command_line="benches/compare.sh${*:+ $*}"
for v in BENCH_VENV BENCH_BIN_DIR BENCH_DIR; do
  [ -z "${!v:-}" ] || command_line="$v=${!v} $command_line"
done
scales=1,10 runs=3 engines=dfstore,cluster,duckdb,spark check_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scales="${2:?--scale needs a value, e.g. 1,10}"; shift 2 ;;
    --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
    --engines) engines="${2:?--engines needs a list, e.g. dfstore,duckdb}"; shift 2 ;;
    --check-only) check_only=1; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument \`$1\`" >&2; usage ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "--runs must be a positive number, got \`$runs\`" >&2; exit 2; }
for scale in ${scales//,/ }; do
  [[ "$scale" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "--scale takes numbers, got \`$scale\`" >&2; exit 2; }
done
requested=() optional=()
for e in ${engines//,/ }; do
  name="${e%\?}"
  case "$name" in dfstore|cluster|duckdb|duckdb-plain|spark|sail) ;; *) echo "unknown engine \`$name\`; expected dfstore, cluster, duckdb, duckdb-plain, spark or sail" >&2; exit 2 ;; esac
  requested+=("$name")
  [ "$name" = "$e" ] || optional+=("$name")
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/dfstore-target}"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the work tree
work="${BENCH_DIR:-/var/tmp/dfstore-bench}/compare"
export BENCH_VENV="${BENCH_VENV:-/var/tmp/dfstore-bench-venv}"
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  export BENCH_BIN_DIR="$CARGO_TARGET_DIR/release"
  cargo build --release --locked --workspace --bins >&2
fi
results="${BENCH_OUT:-benches/RESULTS.md}"
mkdir -p "$work"
rm -rf "$work/status"
mkdir -p "$work/status"
bench_pii_key "$work"
export DFSTORE_CLUSTER_DIR="$work/cluster"
port="${BENCH_PORT_BASE:-30100}"

# ---------------------------------------------------------------- engines

is_optional() { [[ " ${optional[*]:-} " == *" $1 "* ]]; }
cannot() { # engine reason: the engine is out of the comparison, and why
  echo "$2" > "$work/status/$1"
  echo "$1: cannot run: $2" >&2
}
can() { [ ! -e "$work/status/$1" ]; }

[ -x "$BENCH_BIN_DIR/dfstore" ] || { echo "no dfstore binary in $BENCH_BIN_DIR (it generates the data): build it or set BENCH_BIN_DIR" >&2; exit 1; }

# pip-installs SPEC (dist==version) into the venv unless that version is there.
ensure_python_package() { # engine dist version
  local engine="$1" dist="$2" version="$3" log="$work/status/pip-$2.log"
  if [ -x "$BENCH_VENV/bin/python" ] && "$BENCH_VENV/bin/python" -c \
      "import importlib.metadata as m, sys; sys.exit(m.version('$dist') != '$version')" 2>/dev/null; then
    return 0
  fi
  if is_optional "$engine"; then
    cannot "$engine" "$dist $version is not installed in $BENCH_VENV (run benches/compare.sh --engines $engine to install it)"
    return 0
  fi
  echo "== installing $dist==$version into $BENCH_VENV" >&2
  if { [ -x "$BENCH_VENV/bin/pip" ] || python3 -m venv "$BENCH_VENV"; } > "$log" 2>&1 \
     && "$BENCH_VENV/bin/pip" install --quiet "$dist==$version" >> "$log" 2>&1; then
    rm -f "$log"
  else
    cannot "$engine" "pip install $dist==$version into $BENCH_VENV failed: $(tail -n 1 "$log") (log: $log)"
  fi
}

# Sail and its pyspark client live in a venv of their own (their pyspark is
# older than the one the spark engine runs).
ensure_sail() {
  local log="$work/status/pip-pysail.log"
  if "$BENCH_SAIL_VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('pysail') != '$SAIL_VERSION')" 2>/dev/null; then
    return 0
  fi
  if is_optional sail; then
    cannot sail "pysail $SAIL_VERSION is not installed in $BENCH_SAIL_VENV (run benches/compare.sh --engines sail to install it)"
    return 0
  fi
  echo "== installing pysail==$SAIL_VERSION into $BENCH_SAIL_VENV" >&2
  if python3 -m venv "$BENCH_SAIL_VENV" > "$log" 2>&1 && "$BENCH_SAIL_VENV/bin/pip" install --quiet \
      "pysail==$SAIL_VERSION" "pyspark[connect]==$SAIL_PYSPARK_VERSION" 'pandas<3' >> "$log" 2>&1; then
    rm -f "$log"
  else
    cannot sail "pip install pysail==$SAIL_VERSION into $BENCH_SAIL_VENV failed: $(tail -n 1 "$log") (log: $log)"
  fi
}

for engine in "${requested[@]}"; do
  case "$engine" in
    dfstore) ;;
    sail) ensure_sail ;;
    cluster)
      for b in dfstore-scheduler dfstore-executor; do
        [ -x "$BENCH_BIN_DIR/$b" ] || { cannot cluster "no $b binary in $BENCH_BIN_DIR"; break; }
      done ;;
    duckdb|duckdb-plain) ensure_python_package "$engine" duckdb "$DUCKDB_VERSION" ;;
    spark)
      if [ ! -x /usr/bin/java ] || ! java_version=$(/usr/bin/java -version 2>&1 | head -n 1); then
        cannot spark "no Java at /usr/bin/java (PySpark $PYSPARK_VERSION needs Java 17 or 21: apt-get install openjdk-17-jre-headless)"
      elif [[ ! "$java_version" =~ \"(17|21)[.\"] ]]; then
        cannot spark "/usr/bin/java is $java_version; PySpark $PYSPARK_VERSION needs Java 17 or 21"
      else
        ensure_python_package spark pyspark "$PYSPARK_VERSION"
      fi ;;
  esac
done

# ---------------------------------------------------------------- runs

reset() { # engine scale: removes what the engine's last run wrote
  local lake="$work/s$2/lake"
  case "$1" in
    dfstore|cluster) rm -rf "$lake"/{trusted,rejected,analytic,logs,scripts,_staging} ;;
    *) rm -rf "$work/s$2/out/$1" "$work/s$2/out/.$1-spark" ;;
  esac
}

# Runs engine once at a scale under measure.py; NAME is where its files go.
measure() { # engine scale name [export_dir]
  local engine="$1" scale="$2" name="$3" export_dir="${4:-}"
  reset "$engine" "$scale"
  rm -f "$name.ready"
  port=$((port + 20)); [ "$port" -lt 30700 ] || port=$((${BENCH_PORT_BASE:-30100} + 20))
  if BENCH_READY_FILE="$name.ready" BENCH_CLUSTER_PORT="$port" \
      python3 benches/compare/measure.py --out "$name.json" --stdout "$name.out" --stderr "$name.err" -- \
      benches/compare/engine.sh "$engine" "$work/s$scale/lake" "$work/s$scale/out/$engine" ${export_dir:+"$export_dir"}; then
    return 0
  fi
  local last
  last=$(grep -v '^\s*$' "$name.err" | grep -iE 'error|exception|failed|killed' | tail -n 1 || true)
  [ -n "$last" ] || last=$(tail -n 1 "$name.err")
  cannot "$engine" "failed at scale $scale: ${last:0:300} (log: $name.err)"
  return 1
}

runnable() { for e in "${requested[@]}"; do can "$e" && echo "$e"; done; }

check_failed=0
for scale in ${scales//,/ }; do
  dir="$work/s$scale"
  rm -rf "$dir"
  mkdir -p "$dir/check" "$dir/runs" "$dir/out"
  echo "== scale $scale: generating the raw data" >&2
  "$BENCH_BIN_DIR/dfstore" generate --scale "$scale" --seed 42 --lake "$dir/lake" > "$dir/generate.out" 2>&1 ||
    { cat "$dir/generate.out" >&2; echo "dfstore generate failed at scale $scale" >&2; exit 1; }
  for engine in $(runnable); do
    echo "== scale $scale: $engine, checking the answers" >&2
    measure "$engine" "$scale" "$dir/check/$engine" "$dir/check/$engine" || true
  done
  mapfile -t ok < <(runnable)
  echo "== scale $scale: answers" >&2
  if [ ${#ok[@]} -eq 0 ]; then
    echo "no engine ran at scale $scale" | tee "$dir/check.txt"
    check_failed=1
  elif [ ${#ok[@]} -eq 1 ]; then
    echo "${ok[0]}: the only engine that ran; nothing to compare with" | tee "$dir/check.txt"
  elif ! python3 benches/compare/compare.py "$dir/check" "${ok[@]}" | tee "$dir/check.txt"; then
    check_failed=1
  fi
done

not_run() {
  local failed=0
  for e in "${requested[@]}"; do
    [ -e "$work/status/$e" ] || continue
    echo "$e: not run: $(cat "$work/status/$e")"
    is_optional "$e" && [[ "$(cat "$work/status/$e")" == *"is not installed"* ]] || failed=1
  done
  return $failed
}

if [ $check_failed -ne 0 ]; then
  not_run || true
  echo "FAILED: the engines' answers differ or could not be compared (see above); no time was taken" >&2
  exit 1
fi
if [ $check_only -eq 1 ]; then
  if not_run; then echo "ok: every engine that ran gave the same answers at scale(s) $scales"; exit 0; fi
  exit 1
fi

cut -d' ' -f1 /proc/loadavg > "$work/loadavg"
for scale in ${scales//,/ }; do
  for run in $(seq 1 "$runs"); do
    for engine in $(runnable); do
      echo "== scale $scale: $engine, run $run of $runs" >&2
      measure "$engine" "$scale" "$work/s$scale/runs/$engine-$run" || true
    done
  done
done

cut -d' ' -f1 /proc/loadavg >> "$work/loadavg"
python3 benches/compare/results.py --work "$work" --scales "$scales" --engines "${requested[*]}" \
  --runs "$runs" --command "$command_line" --machine "$(bench_machine)" > "$results.tmp"
mv "$results.tmp" "$results"
cat "$results"
not_run >&2
