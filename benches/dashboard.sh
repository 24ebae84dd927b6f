#!/usr/bin/env bash
# Latency of `dfstore serve`: every dashboard API endpoint under 16 concurrent
# clients (oha), and one BI-style query through its PostgreSQL endpoint (psql).
#
#   benches/dashboard.sh [options] URL|LAKE
#
#   URL    a running server, e.g. http://127.0.0.1:8080
#   LAKE   a lake folder: starts ${BENCH_BIN_DIR:-/var/tmp/dfstore-target/release}/dfstore
#          serve on it (free loopback ports, $PGPASSWORD as its password when
#          set), and stops it at the end
#
#   --requests N       requests per endpoint (default 2000)
#   --concurrency C    concurrent clients (default 16)
#   --pg-port PORT     the SQL endpoint's port; with a URL and no --pg-port the SQL part
#                      is skipped (with a LAKE it is the port serve printed)
#   --pg-user USER     the login, for SQL and for the dashboard's HTTP Basic when
#                      $PGPASSWORD is set (default $PGUSER, else dfstore)
#   --pg-database DB   (default $PGDATABASE, else datafusion)
#
# Prints a markdown table of p50/p95/p99 per endpoint (also written to
# benches/results/dashboard.md) and the median of 5 runs of the SQL query.
# Exits 1 when an endpoint answers anything but 2xx or its p95 is 300 ms or
# more, 2 for a usage error or a missing tool. Needs oha on PATH
# (`cargo install oha --locked`; oha 1.16 and older `-j` versions both work),
# curl, jq, and psql for the SQL part. Traffic goes to loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

# The comment block above, without its '#'.
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
die() { echo "dashboard.sh: $*" >&2; exit 2; }

requests=2000 concurrency=16 pg_port="" target=""
pg_user="${PGUSER:-dfstore}" pg_database="${PGDATABASE:-datafusion}"
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) requests="${2:?--requests needs a number}"; shift 2 ;;
    --concurrency) concurrency="${2:?--concurrency needs a number}"; shift 2 ;;
    --pg-port) pg_port="${2:?--pg-port needs a port}"; shift 2 ;;
    --pg-user) pg_user="${2:?--pg-user needs a name}"; shift 2 ;;
    --pg-database) pg_database="${2:?--pg-database needs a name}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$target" ] || die "one URL or LAKE only, got '$target' and '$1'"; target="$1"; shift ;;
  esac
done
[ -n "$target" ] || { usage >&2; exit 2; }
p95_limit_ms=300
sql_runs=5

command -v oha > /dev/null || die "oha is not on PATH: cargo install oha --locked"
for tool in curl jq; do command -v "$tool" > /dev/null || die "$tool is not on PATH: apt-get install -y $tool"; done

# Newer oha (1.5+) writes JSON with --output-format json; older ones with -j.
if oha --help 2>&1 | grep -q -- '--output-format'; then oha_json=(--output-format json); else oha_json=(-j); fi

bench_dir="$(mktemp -d "${TMPDIR:-/tmp}/dfstore-bench-dashboard.XXXXXX")"
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2> /dev/null || true; wait "$serve_pid" 2> /dev/null || true; fi
  rm -rf "$bench_dir"
}
trap cleanup EXIT

# With a password, the dashboard wants HTTP Basic with the SQL login's name.
http_auth=() curl_auth=()
if [ -n "${PGPASSWORD:-}" ]; then
  http_auth=(-a "$pg_user:$PGPASSWORD")
  curl_auth=(-u "$pg_user:$PGPASSWORD")
fi

case "$target" in
  http://*|https://*) url="${target%/}" ;;
  *)
    [ -d "$target" ] || die "$target is neither a URL nor a lake folder"
    bin="${BENCH_BIN_DIR:-/var/tmp/dfstore-target/release}/dfstore"
    [ -x "$bin" ] || die "no dfstore binary at $bin: cargo build --release, or set BENCH_BIN_DIR"
    # Port 0: serve picks free ports and prints them ("dashboard  http://…/",
    # "sql  postgresql://user@host:port/…", then "serving …").
    DFSTORE_SERVE_PASSWORD="${PGPASSWORD:-}" "$bin" serve --lake "$target" --user "$pg_user" \
      --http 127.0.0.1:0 --sql 127.0.0.1:0 > "$bench_dir/serve.out" 2> "$bench_dir/serve.log" &
    serve_pid=$!
    for _ in $(seq 1 240); do
      grep -q '^serving' "$bench_dir/serve.out" && break
      kill -0 "$serve_pid" 2> /dev/null || { cat "$bench_dir/serve.log" >&2; die "dfstore serve exited before serving"; }
      sleep 0.25
    done
    grep -q '^serving' "$bench_dir/serve.out" || { cat "$bench_dir/serve.log" >&2; die "dfstore serve did not start within 60 s"; }
    url=$(awk '/^dashboard/ {sub(/\/$/, "", $2); print $2}' "$bench_dir/serve.out")
    pg_port=$(sed -nE 's|^sql .*@[^:/]+:([0-9]+)/.*|\1|p' "$bench_dir/serve.out")
    pg_database=$(sed -nE 's|^sql .*@[^/]+/([^?]+).*|\1|p' "$bench_dir/serve.out")
    ;;
esac

filters=$(curl -fsS "${curl_auth[@]}" "$url/api/filters") || die "GET $url/api/filters failed"
month=$(jq -r '.default_month // .months[-1] // empty' <<< "$filters")
region=$(jq -r '.regions[0] // empty' <<< "$filters")
[ -n "$month" ] || die "$url/api/filters names no month: is the lake's report empty?"

endpoints=(
  "/api/filters"
  "/api/kpis?month=$month"
  "/api/kpis?month=$month&region=$(jq -rn --arg v "$region" '$v|@uri')"
  "/api/trend?month=$month"
  "/api/stores?month=$month"
  "/api/breakdown?month=$month"
  "/api/quality"
  "/api/lineage"
)

out="benches/results/dashboard.md"
mkdir -p benches/results
{
  echo "| endpoint | requests | req/s | p50 (ms) | p95 (ms) | p99 (ms) | non-2xx | |"
  echo "|---|---:|---:|---:|---:|---:|---:|---|"
} > "$bench_dir/table.md"
failed=0
for endpoint in "${endpoints[@]}"; do
  json="$bench_dir/oha.json"
  oha --no-tui "${oha_json[@]}" "${http_auth[@]}" -n "$requests" -c "$concurrency" "$url$endpoint" > "$json" 2> "$bench_dir/oha.err" ||
    { cat "$bench_dir/oha.err" >&2; die "oha failed on $endpoint"; }
  # Percentiles are in seconds; null when no request completed.
  read -r rps p50 p95 p99 bad < <(jq -r '
    def ms: if . == null then "null" else (. * 1000 * 100 | round / 100 | tostring) end;
    [ (.summary.requestsPerSec | round | tostring),
      (.latencyPercentiles.p50 | ms), (.latencyPercentiles.p95 | ms), (.latencyPercentiles.p99 | ms),
      ( ([.statusCodeDistribution | to_entries[] | select(.key | startswith("2") | not) | .value] | add // 0)
        + ([.errorDistribution[]?] | add // 0) | tostring) ] | join(" ")' "$json")
  verdict="ok"
  if [ "$bad" != 0 ] || [ "$p95" = null ] || awk -v p="$p95" -v l="$p95_limit_ms" 'BEGIN { exit !(p >= l) }'; then
    verdict="FAIL"
    failed=1
  fi
  printf '| %s | %d | %s | %s | %s | %s | %s | %s |\n' \
    "\`$endpoint\`" "$requests" "$rps" "$p50" "$p95" "$p99" "$bad" "$verdict" >> "$bench_dir/table.md"
done

sql_line="SQL endpoint: skipped (no --pg-port)"
if [ -n "$pg_port" ]; then
  command -v psql > /dev/null || die "psql is not on PATH: apt-get install -y postgresql-client"
  query="SELECT periodo, region, SUM(venta_neta) AS venta_neta FROM analytic.reporte_ventas_tienda GROUP BY periodo, region ORDER BY periodo, region"
  # One session, the query run $sql_runs times; \timing measures each round trip
  # (not the connection), as a BI tool that keeps its connection open sees it.
  args=(-X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U "$pg_user" -d "$pg_database")
  runs=()
  for _ in $(seq 1 "$sql_runs"); do runs+=(-c "$query"); done
  if times=$(psql "${args[@]}" -o /dev/null -c '\timing on' "${runs[@]}" 2> "$bench_dir/psql.err" |
               awk '/^Time:/ {printf "%s%s", sep, $2; sep=" "}') &&
     rows=$(psql "${args[@]}" -At -c "SELECT COUNT(*) FROM ($query) AS q" 2>> "$bench_dir/psql.err"); then
    median=$(tr ' ' '\n' <<< "$times" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    sql_line="SQL endpoint (psql, port $pg_port): sum of venta_neta by month and region, $rows rows: median $median ms of $sql_runs runs (${times// / ms, } ms)"
  else
    sql_line="SQL endpoint (psql, port $pg_port): FAIL $(head -1 "$bench_dir/psql.err")"
    failed=1
  fi
fi

{
  echo "Machine: $(bench_machine)"
  echo "Command: benches/dashboard.sh --requests $requests --concurrency $concurrency ($(date -u +%Y-%m-%d)); month $month, region ${region:-none}; limit p95 < $p95_limit_ms ms"
  echo
  cat "$bench_dir/table.md"
  echo
  echo "$sql_line"
} > "$out"
cat "$out"
if [ "$failed" != 0 ]; then
  echo "dashboard.sh: an endpoint answered non-2xx or had p95 >= $p95_limit_ms ms, or the SQL query failed" >&2
  exit 1
fi
