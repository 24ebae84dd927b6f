#!/usr/bin/env python3
"""The DMC Retail job on DuckDB, the single-node reference of benches/compare.sh:
raw Parquet of a dfstore lake -> trusted (+ rejected) -> reporte_ventas_tienda,
by the rules of the spec, with the SQL of this folder (engine duckdb: a port
of dfstore's own sql/) or of plain/ (engine duckdb-plain: the same job as a
plain DuckDB user writes it).

    run.py --lake LAKE --out OUT [--sql DIR] [--export DIR] [--threads N] [--memory-limit SIZE]

Reads every published extraction of LAKE/raw (the `extraido` column comes from
the folder name), runs tiendas.sql ... detalle_ventas.sql and
reporte_ventas_tienda.sql of the --sql folder in order (each creates its
trusted, rejected or analytic tables or views), and writes Parquet (zstd)
under OUT: trusted/<table>/, rejected/<table>/ and
analytic/reporte_ventas_tienda/, the facts and the report partitioned by
periodo. The personal-data key comes from DFSTORE_PII_KEY_FILE (or
DFSTORE_PII_KEY), as for dfstore.

--export DIR, after the job, reads the report and the row counts back from
OUT and writes DIR/report.csv and DIR/summary.csv for benches/compare/compare.py.
BENCH_READY_FILE, when set, receives the epoch at which DuckDB is ready
(Python started, duckdb imported, connection configured).
"""

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compare"))
import lake as raw_lake  # noqa: E402  (benches/compare/lake.py)

MODELS = ("tiendas", "productos", "clientes", "ventas", "detalle_ventas", "reporte_ventas_tienda")
# (layer, table, partitioned by periodo)
OUTPUTS = (
    ("trusted", "tiendas", False),
    ("trusted", "productos", False),
    ("trusted", "clientes", False),
    ("trusted", "ventas", True),
    ("rejected", "ventas", True),
    ("trusted", "detalle_ventas", True),
    ("rejected", "detalle_ventas", True),
    ("analytic", "reporte_ventas_tienda", True),
)
EXTRACTION_FORMAT = "%Y%m%dT%H%M%SZ"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lake", required=True, help="the dfstore lake whose raw/ is read")
    p.add_argument("--out", required=True, help="folder for trusted/, rejected/, analytic/ (replaced)")
    p.add_argument("--sql", type=Path, default=HERE, metavar="DIR",
                   help="folder of the job's SQL, one file per model [benches/duckdb]")
    p.add_argument("--export", help="also write report.csv and summary.csv here, read back from --out")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="DuckDB threads [all cores]")
    p.add_argument("--memory-limit", default="4GB", help="DuckDB memory_limit [4GB]")
    return p.parse_args()


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def connect(args, out):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {int(args.threads)}")
    con.execute(f"SET memory_limit = {quote(args.memory_limit)}")
    con.execute(f"SET temp_directory = {quote(str(out / '.tmp'))}")
    # Row order is never relied upon; this lets COPY and CREATE TABLE stream.
    con.execute("SET preserve_insertion_order = false")
    return con


def define_raw(con, lake):
    files, first = raw_lake.raw_files(lake)
    con.execute("CREATE SCHEMA raw")
    for table, paths in files.items():
        listed = ", ".join(quote(p) for p in paths)
        con.execute(f"""
            CREATE VIEW raw.{table} AS
            SELECT * REPLACE (CAST(strptime(extraido, '{EXTRACTION_FORMAT}') AS TIMESTAMPTZ) AS extraido)
            FROM read_parquet([{listed}], hive_partitioning = true, hive_types = {{'extraido': VARCHAR}})
        """)
    con.execute(
        f"SET VARIABLE first_extraction = CAST(strptime({quote(first)}, '{EXTRACTION_FORMAT}') AS TIMESTAMPTZ)"
    )


def define_pii_hash(con):
    # HMAC-SHA-256 from SHA-256 (DuckDB has no HMAC): sha256(outer || sha256(inner || m)).
    inner, outer = raw_lake.hmac_pads(raw_lake.pii_key())
    con.execute(f"""
        CREATE MACRO pii_hash(v) AS
            sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode(v))))
    """)


def run_job(con, sql, out):
    for schema in ("staging", "trusted", "rejected", "analytic"):
        con.execute(f"CREATE SCHEMA {schema}")
    for model in MODELS:
        con.execute((sql / f"{model}.sql").read_text())
    for layer, table, partitioned in OUTPUTS:
        target = out / layer / table
        target.parent.mkdir(parents=True, exist_ok=True)
        if partitioned:
            con.execute(f"COPY {layer}.{table} TO {quote(str(target))} "
                        "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (periodo))")
        else:
            target.mkdir(parents=True)
            con.execute(f"COPY {layer}.{table} TO {quote(str(target / 'part-0.parquet'))} "
                        "(FORMAT parquet, COMPRESSION zstd)")


def export(out, directory):
    """Reads what the job wrote back from Parquet and writes the CSVs to compare."""
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for layer, table, partitioned in OUTPUTS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {layer}")
        hive = "hive_partitioning = true, hive_types = {'periodo': VARCHAR}" if partitioned else "hive_partitioning = false"
        con.execute(f"""
            CREATE VIEW {layer}.{table} AS
            SELECT * FROM read_parquet({quote(str(out / layer / table / '**' / '*.parquet'))}, {hive})
        """)
    compare_dir = HERE.parent / "compare"
    report = (compare_dir / "report.sql").read_text()
    summary = (compare_dir / "summary.sql").read_text()
    con.execute(f"COPY ({report}) TO {quote(str(directory / 'report.csv'))} (HEADER, DELIMITER ',')")
    con.execute(f"COPY ({summary}) TO {quote(str(directory / 'summary.csv'))} (HEADER, DELIMITER ',')")


def main():
    args = parse_args()
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = connect(args, out)
    ready = os.environ.get("BENCH_READY_FILE")
    if ready:
        Path(ready).write_text(f"{time.time()}\n")
    define_raw(con, Path(args.lake).resolve())
    define_pii_hash(con)
    run_job(con, args.sql, out)
    con.close()
    shutil.rmtree(out / ".tmp", ignore_errors=True)
    if args.export:
        export(out, Path(args.export))


if __name__ == "__main__":
    main()
