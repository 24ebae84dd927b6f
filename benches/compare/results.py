#!/usr/bin/env python3
"""Writes benches/RESULTS.md (to stdout) from what benches/compare.sh left in
its work folder: per scale, s<scale>/check.txt (the answer check) and
s<scale>/runs/<engine>-<n>.json (measure.py) with <engine>-<n>.ready (the
epoch at which the engine's start-up was over); status/<engine> says why an
engine did not run. Standard library only."""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DESCRIPTION = {
    "dfstore": "dfstore, embedded",
    "cluster": "dfstore, local cluster (1+2)",
    "duckdb": "DuckDB",
    "duckdb-plain": "DuckDB, plain SQL",
    "spark": "PySpark, local[2]",
    "sail": "Sail (Spark Connect)",
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("work", "scales", "engines", "runs", "command", "machine"):
        p.add_argument(f"--{name}", required=True)
    return p.parse_args()


def output(*command):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except OSError as e:
        return f"unknown ({e})"
    return (done.stdout + done.stderr).strip() if done.returncode == 0 else "unknown"


def cargo_lock_versions(*names):
    lock = (REPO / "Cargo.lock").read_text()
    found = dict(re.findall(r'name = "([^"]+)"\nversion = "([^"]+)"', lock))
    return ", ".join(f"{n} {found[n]}" for n in names if n in found)


def versions(bin_dir, venv):
    commit = output("git", "-C", str(REPO), "rev-parse", "--short", "HEAD")
    dirty = output("git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no")
    python = f"{venv}/bin/python"
    sail = f"{os.environ.get('BENCH_SAIL_VENV', '/var/tmp/dfstore-sail-venv')}/bin/python"
    sail_version = output(sail, "-c", "import importlib.metadata as m; print(m.version('pysail'))")
    java = output("/usr/bin/java", "-version").splitlines()
    return {
        "dfstore": f"{output(f'{bin_dir}/dfstore', '--version')} (commit {commit}"
                   f"{' with uncommitted changes' if dirty and dirty != 'unknown' else ''}, "
                   f"binaries from {bin_dir}; {cargo_lock_versions('datafusion', 'ballista-core', 'deltalake-core', 'arrow')})",
        "duckdb": f"DuckDB {output(python, '-c', 'import duckdb; print(duckdb.__version__)')} "
                  f"(PyPI, {output(python, '--version')})",
        "spark": f"PySpark {output(python, '-c', 'import pyspark; print(pyspark.__version__)')} "
                 f"(PyPI) on {java[1] if len(java) > 1 else 'unknown Java'}",
        "sail": f"pysail {sail_version} "
                f"with the pyspark {output(sail, '-c', 'import pyspark; print(pyspark.__version__)')} Spark Connect client (PyPI)",
    }


def run_metrics(runs_dir, engine):
    out = []
    for path in sorted(runs_dir.glob(f"{engine}-*.json")):
        m = json.loads(path.read_text())
        if m.get("exit_code") != 0:
            continue
        ready = path.with_suffix(".ready")
        m["startup_s"] = float(ready.read_text()) - m["start_epoch"] if ready.exists() else None
        out.append(m)
    return out


def raw_rows(lake):
    """(tickets, lines) over every published extraction of the lake."""
    tickets = lines = 0
    for manifest in sorted((lake / "raw" / "_extracciones").glob("*.json")):
        tables = json.loads(manifest.read_text())["tables"]
        tickets += tables["ventas"]["rows"]
        lines += tables["detalle_ventas"]["rows"]
    return tickets, lines


def fmt(x, digits=1):
    return "–" if x is None else f"{x:,.{digits}f}"


def main():
    a = parse_args()
    work = Path(a.work)
    engines = a.engines.split()
    scales = a.scales.split(",")
    bin_dir = os.environ.get("BENCH_BIN_DIR", "")
    venv = os.environ.get("BENCH_VENV", "")
    v = versions(bin_dir, venv)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print("# dfstore and its peers: raw → trusted → reporte_ventas_tienda\n")
    print("Written by `benches/compare.sh`; rerun it rather than editing this file.\n")
    print(f"- **Command:** `{a.command}` ({now})")
    print(f"- **Machine:** {a.machine}")
    load = (work / "loadavg").read_text().split() if (work / "loadavg").exists() else []
    if len(load) == 2:
        print(f"- **Load average** (1 min) when the timing began: {load[0]}, when it ended: {load[1]} "
              f"(on {os.cpu_count()} cores; anything else running inflates every number)")
    print(f"- **dfstore:** {v['dfstore']}")
    if "duckdb" in engines or "duckdb-plain" in engines:
        print(f"- **DuckDB:** {v['duckdb']}; threads = cores, memory_limit 4GB")
    if "duckdb" in engines:
        print("- **DuckDB** runs `benches/duckdb/*.sql`, a port of dfstore's own SQL "
              "(its shapes included: only keys of a later extraction ranked, lines summed per "
              "ticket before meeting the headers)")
    if "duckdb-plain" in engines:
        print("- **DuckDB, plain SQL** runs `benches/duckdb/plain/*.sql`, the job as a plain "
              "DuckDB user writes it: `QUALIFY ROW_NUMBER()` over every raw row, one `CASE` "
              "for the first failing rule, `COUNT(DISTINCT …)` over the joined lines")
    if "spark" in engines:
        print(f"- **Spark:** {v['spark']}; local[2], driver heap 4g, adaptive execution on, "
              "16 shuffle partitions before AQE coalescing, zstd Parquet")
    if "sail" in engines:
        print(f"- **Sail:** {v['sail']}; `sail spark server` on loopback (its defaults), "
              "the PySpark job unchanged but for reading each extraction apart (Sail derives no "
              "partition column from a file list); the server's start is start-up")
    print("- **Job:** the same on every engine: raw Parquet of two extractions "
          "(`dfstore generate --seed 42`) → deduplicated trusted tables (+ rejected rows with their rule) "
          "→ `reporte_ventas_tienda`, written as Parquet partitioned by `periodo` "
          "(Delta tables for dfstore)")
    print()
    print("## Answers\n")
    print("Checked before any timing: every engine's `reporte_ventas_tienda` (all rows, all columns, "
          "decimals compared as exact text) and its trusted/rejected row counts per table and rule "
          "are identical to dfstore embedded's.\n")
    for scale in scales:
        tickets, lines = raw_rows(work / f"s{scale}" / "lake")
        check = (work / f"s{scale}" / "check.txt").read_text().strip().splitlines()
        print(f"- scale {scale} ({tickets:,} raw tickets, {lines:,} raw lines): " + "; ".join(check))
    print()
    print(f"## Times ({a.runs} run(s) per engine and scale, engines interleaved)\n")
    print("| scale | engine | wall median (s) | wall min–max (s) | of which start-up (s) "
          "| peak RSS, all processes (MiB) | CPU (s) | wall vs dfstore embedded |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for scale in scales:
        runs_dir = work / f"s{scale}" / "runs"
        base = run_metrics(runs_dir, "dfstore")
        base_wall = statistics.median(m["wall_s"] for m in base) if base else None
        for engine in engines:
            ms = run_metrics(runs_dir, engine)
            status = work / "status" / engine
            if not ms:
                reason = status.read_text().strip() if status.exists() else "no successful run"
                print(f"| {scale} | {DESCRIPTION[engine]} | not run: {reason} | | | | | |")
                continue
            walls = [m["wall_s"] for m in ms]
            wall = statistics.median(walls)
            starts = [m["startup_s"] for m in ms if m["startup_s"] is not None]
            rss = statistics.median(m["peak_rss_kib"] for m in ms) / 1024
            cpu = statistics.median(m["cpu_s"] for m in ms)
            ratio = f"{wall / base_wall:.2f}" if base_wall else "–"
            note = f" ({len(ms)} of {a.runs} runs)" if len(ms) < int(a.runs) else ""
            print(f"| {scale} | {DESCRIPTION[engine]}{note} | {fmt(wall)} | {fmt(min(walls))}–{fmt(max(walls))} "
                  f"| {fmt(statistics.median(starts)) if starts else '–'} | {fmt(rss, 0)} | {fmt(cpu)} | {ratio} |")
    not_run = [(e, (work / "status" / e).read_text().strip()) for e in engines if (work / "status" / e).exists()]
    if not_run:
        print("\nNot run or not complete:\n")
        for e, reason in not_run:
            print(f"- {DESCRIPTION[e]}: {reason}")
    print("""
## How it is measured

- **wall**: from the start of the engine's command to its exit (`benches/compare/measure.py`):
  for the cluster this includes starting and stopping the scheduler and executors, for Spark
  the JVM and the SparkSession, for DuckDB the Python interpreter. Medians of the runs.
- **start-up**: the part of the wall time before the engine can take work: the cluster up with
  both executors registered, the SparkSession created, DuckDB imported and connected.
  dfstore embedded has none to speak of (–).
- **peak RSS, all processes**: the peak of the summed resident memory of every process of the
  engine (Python driver and JVM; scheduler, executors and client), sampled every 0.1 s, as
  proportional set sizes: a page shared by two processes counts once, and a helper the JVM
  spawns (which shares its address space until it execs) adds nothing. For one process this
  is its RSS less its share of shared libraries, within a few MiB of what GNU time reports.
- **CPU**: user + system seconds of all those processes (wait4 rusage; the measuring process
  adopts orphans as a subreaper, so daemons are counted too).
- Every run starts from the same raw data with the outputs of the previous run removed; the
  raw files are in the page cache for every engine (each engine's untimed answer-check run
  reads them first). No engine is warmed up: each timed run is a cold process, as a batch job is.""")


if __name__ == "__main__":
    sys.exit(main())
