"""Load on `dfstore serve`: many concurrent clients of the dashboard's API and
of the SQL endpoint, and the dashboard while a runaway SQL statement runs.

    python3 benches/serve_load.py HTTP_PORT SQL_PORT [--clients 64] [--seconds 60]

Prints one markdown table row per phase:
  dashboard   CLIENTS threads, each with its own keep-alive HTTP connection,
              requesting the dashboard's API endpoints in turn;
  sql         CLIENTS psycopg connections, each running BI queries on the
              report in turn;
  dashboard, idle / dashboard, runaway in flight
              16 dashboard clients for SECONDS/3, first alone, then while one
              psql-style statement counts 30 billion rows.
Latencies are measured by the clients (Python threads on the same machine,
so the client's own CPU is part of them). Needs psycopg (the test venv).
"""

import argparse
import http.client
import statistics
import sys
import threading
import time

import psycopg

ENDPOINTS = [
    "/api/filters",
    "/api/kpis?month={month}",
    "/api/trend?month={month}",
    "/api/stores?month={month}",
    "/api/breakdown?month={month}",
    "/api/quality",
]
QUERIES = [
    "SELECT periodo, region, SUM(venta_neta) AS venta_neta, SUM(num_ventas) AS tickets "
    "FROM analytic.reporte_ventas_tienda GROUP BY periodo, region ORDER BY periodo, region",
    "SELECT codigo_tienda, SUM(venta_neta) AS venta_neta FROM analytic.reporte_ventas_tienda "
    "WHERE periodo = %s GROUP BY codigo_tienda ORDER BY venta_neta DESC LIMIT 10",
    "SELECT fecha, SUM(unidades) FROM analytic.reporte_ventas_tienda "
    "WHERE periodo = %s GROUP BY fecha ORDER BY fecha",
]
RUNAWAY = "SELECT count(*) FROM generate_series(1, 30000000000)"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def run_clients(count, seconds, work):
    """Runs `work(stop_at, latencies, errors)` on `count` threads."""
    latencies, errors = [], []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(i):
        mine, failed = [], []
        work(i, stop_at, mine, failed)
        with lock:
            latencies.extend(mine)
            errors.extend(failed)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(count)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - start


def dashboard(port, month):
    def work(i, stop_at, latencies, errors):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = i
        while time.monotonic() < stop_at:
            path = ENDPOINTS[n % len(ENDPOINTS)].format(month=month)
            n += 1
            began = time.monotonic()
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    errors.append(f"{path}: {response.status}")
                    continue
            except Exception as e:  # noqa: BLE001 - every failure is counted
                errors.append(f"{path}: {e}")
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                continue
            latencies.append(time.monotonic() - began)

    return work


def sql(port, months):
    dsn = f"host=127.0.0.1 port={port} user=dfstore dbname=datafusion"

    def work(i, stop_at, latencies, errors):
        try:
            conn = psycopg.connect(dsn, autocommit=True)
        except Exception as e:  # noqa: BLE001
            errors.append(f"connect: {e}")
            return
        n = i
        with conn:
            while time.monotonic() < stop_at:
                query = QUERIES[n % len(QUERIES)]
                params = (months[n % len(months)],) if "%s" in query else None
                n += 1
                began = time.monotonic()
                try:
                    conn.execute(query, params).fetchall()
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e).splitlines()[0])
                    continue
                latencies.append(time.monotonic() - began)

    return work


def row(phase, clients, result):
    latencies, errors, seconds = result
    ms = [x * 1000 for x in latencies] or [0.0]
    print(
        f"| {phase} | {clients} | {seconds:.0f} | {len(latencies)} | {len(latencies) / seconds:.0f} "
        f"| {statistics.median(ms):.1f} | {percentile(ms, 0.95):.1f} | {percentile(ms, 0.99):.1f} | {len(errors)} |"
    )
    for e in sorted(set(errors))[:5]:
        print(f"    error: {e}", file=sys.stderr)
    return len(errors)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("http_port", type=int)
    parser.add_argument("sql_port", type=int)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    dsn = f"host=127.0.0.1 port={args.sql_port} user=dfstore dbname=datafusion"
    with psycopg.connect(dsn, autocommit=True) as conn:
        months = [r[0] for r in conn.execute(
            "SELECT DISTINCT periodo FROM analytic.reporte_ventas_tienda ORDER BY 1").fetchall()]
    month = months[-1]

    print("| phase | clients | seconds | answers | per second | p50 (ms) | p95 (ms) | p99 (ms) | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    failed = row("dashboard API", args.clients,
                 run_clients(args.clients, args.seconds, dashboard(args.http_port, month)))
    failed += row("SQL endpoint", args.clients,
                  run_clients(args.clients, args.seconds, sql(args.sql_port, months)))
    third = max(5, args.seconds // 3)
    failed += row("dashboard API, nothing else running", 16,
                  run_clients(16, third, dashboard(args.http_port, month)))

    runaway = psycopg.connect(dsn, autocommit=True)
    outcome = []

    def run_away():
        try:
            runaway.execute(RUNAWAY)
            outcome.append("answered")
        except psycopg.Error as e:
            outcome.append(e.sqlstate)

    thread = threading.Thread(target=run_away)
    thread.start()
    time.sleep(1)  # let the statement start computing before measuring
    failed += row("dashboard API, a runaway SQL statement running", 16,
                  run_clients(16, third, dashboard(args.http_port, month)))
    runaway.cancel()
    thread.join()
    print(f"\nThe runaway statement was still running when cancelled: {outcome == ['57014']}")
    sys.exit(1 if failed or outcome != ["57014"] else 0)


if __name__ == "__main__":
    main()
