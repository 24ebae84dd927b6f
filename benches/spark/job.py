#!/usr/bin/env python3
"""The DMC Retail job on PySpark, as benches/compare.sh runs it against dfstore:
raw Parquet of a dfstore lake -> trusted (+ rejected) -> reporte_ventas_tienda,
by the rules of the spec (shared/spec/retail-model.md), DataFrame API only.

    job.py --lake LAKE --out OUT [--master local[2] | --remote sc://HOST:PORT]
           [--shuffle-partitions 16] [--driver-memory 4g] [--export DIR]

With --remote the same job runs through Spark Connect on that server (Sail's
`sail spark server`, or a Spark Connect server) instead of a local Spark.

Reads every published extraction of LAKE/raw (the `extraido` column comes from
the folder name) and writes Parquet (zstd) under OUT: trusted/<table>/,
rejected/<table>/ and analytic/reporte_ventas_tienda/, facts and the report
partitioned by periodo. The personal-data key comes from DFSTORE_PII_KEY_FILE
(or DFSTORE_PII_KEY), as for dfstore.

Written for speed on a small machine: adaptive query execution on (it
coalesces the shuffle partitions and picks broadcast joins at run time), few
shuffle partitions for 2 cores, small tables broadcast, no UDF (money stays
DecimalType, HMAC is built from sha2), nothing collected to the driver; each
staging table is computed once and persisted for its trusted and rejected
writes and for the report.

--export DIR, after the job, reads the report and the row counts back from
OUT and writes DIR/report.csv and DIR/summary.csv for benches/compare/compare.py.
BENCH_READY_FILE, when set, receives the epoch at which the SparkSession is up.
"""

import argparse
from functools import reduce
import csv
import os
import sys
import time
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "compare"))
import lake as raw_lake  # noqa: E402  (benches/compare/lake.py)

EXTRACTION_FORMAT = "yyyyMMdd'T'HHmmss'Z'"
LIMA = "America/Lima"
MONEY = "decimal(18,2)"
REPORT_COLUMNS = [
    "fecha", "periodo", "id_tienda", "codigo_tienda", "nombre_tienda", "ciudad", "region", "formato",
    "num_ventas", "num_clientes", "unidades", "venta_bruta", "descuento_total", "venta_neta",
    "costo_total", "margen_bruto", "ticket_promedio",
]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lake", required=True, help="the dfstore lake whose raw/ is read")
    p.add_argument("--out", required=True, help="folder for trusted/, rejected/, analytic/ (replaced)")
    p.add_argument("--export", help="also write report.csv and summary.csv here, read back from --out")
    p.add_argument("--master", default="local[2]", help="Spark master [local[2]]")
    p.add_argument("--remote", help="a Spark Connect server, e.g. sc://127.0.0.1:50051 (Sail) [none: local Spark]")
    p.add_argument("--shuffle-partitions", type=int, default=16,
                   help="spark.sql.shuffle.partitions before AQE coalesces them [16]")
    p.add_argument("--driver-memory", default="4g", help="JVM heap of the local-mode driver [4g]")
    return p.parse_args()


def session(args, out: Path) -> SparkSession:
    if args.remote:
        # Spark Connect: the server owns memory, scratch space and partitions.
        return (
            SparkSession.builder.remote(args.remote)
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
            .getOrCreate()
        )
    scratch = out.parent / f".{out.name}-spark"
    return (
        SparkSession.builder.master(args.master)
        .appName("dmc-retail-raw-to-report")
        .config("spark.driver.memory", args.driver_memory)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.local.dir", str(scratch / "local"))
        .config("spark.sql.warehouse.dir", str(scratch / "warehouse"))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.sql.adaptive.skewJoin.enabled", "true")
        # let AQE coalesce the shuffles inside the persisted staging tables too
        .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
        .config("spark.sql.shuffle.partitions", str(args.shuffle_partitions))
        # extraido=20260102T060000Z stays a string; it is parsed below with its format.
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .getOrCreate()
    )


# ---------------------------------------------------------------- raw layer

def read_raw(spark: SparkSession, lake: Path, table: str, files) -> DataFrame:
    """One source table over all its extractions; `extraido` is the folder's
    name (YYYYMMDDTHHMMSSZ, a string that sorts in time order) until
    latest() has used it to prune and rank."""
    if not REMOTE:
        return spark.read.option("basePath", str(lake / "raw" / table)).parquet(*files)
    # Spark Connect servers (Sail) do not derive partition columns from an
    # explicit file list: each extraction is read alone and named.
    by_extraction = {}
    for f in files:
        by_extraction.setdefault(Path(f).parent.name.split("=", 1)[1], []).append(f)
    parts = [
        spark.read.parquet(*paths).withColumn("extraido", F.lit(extraido))
        for extraido, paths in sorted(by_extraction.items())
    ]
    return reduce(DataFrame.unionByName, parts)


def latest(raw: DataFrame, keys, first_extraction) -> DataFrame:
    """Spec rule 3.1: the version with the greatest actualizado_en per key,
    ties to the latest extraction. A later extraction carries only what
    changed, so only its keys can have several versions: those few rows are
    ranked, every other row passes through with no shuffle (both joins
    broadcast the small key set, read from the later extractions' folders
    only)."""
    repeated = F.broadcast(raw.where(F.col("extraido") > first_extraction).select(*keys).distinct())
    newest_first = Window.partitionBy(*keys).orderBy(F.col("actualizado_en").desc(), F.col("extraido").desc())
    resolved = (
        raw.join(repeated, list(keys), "left_semi")
        .withColumn("_version", F.row_number().over(newest_first))
        .where(F.col("_version") == 1)
        .drop("_version")
    )
    return (
        raw.join(repeated, list(keys), "left_anti").unionByName(resolved)
        .withColumn("extraido", F.to_timestamp("extraido", EXTRACTION_FORMAT))
    )


# ---------------------------------------------------------------- rules

def code(column):
    """Codes and enumerations: trimmed (spaces only, as SQL trim) and upper-cased."""
    return F.upper(F.trim(F.col(column))).alias(column)


def text(column):
    return F.trim(F.col(column)).alias(column)


def pii_hash(column, pads):
    """Spec rule 3.5: HMAC-SHA-256 (hex) of the trimmed value, from sha2 alone:
    sha256(outer || sha256(inner || value)). NULL stays NULL."""
    inner, outer = pads
    value = F.encode(F.trim(F.col(column)), "UTF-8")
    inner_hash = F.unhex(F.sha2(F.concat(F.unhex(F.lit(inner)), value), 256))
    return F.sha2(F.concat(F.unhex(F.lit(outer)), inner_hash), 256).alias(column)


def business_date(column):
    """Spec rule 3.2: the date in Lima of an instant (the session is in UTC)."""
    return F.to_date(F.from_utc_timestamp(F.col(column), LIMA))


def first_failed(*rules):
    """The name of the first rule whose condition holds, NULL when none does."""
    expr = None
    for condition, name in rules:
        expr = F.when(condition, F.lit(name)) if expr is None else expr.when(condition, F.lit(name))
    return expr


# ---------------------------------------------------------------- models

def tiendas(raw, first):
    return latest(raw, ["id_tienda"], first).select(
        "id_tienda", code("codigo"), text("nombre"), text("ciudad"), code("region"), code("formato"),
        "fecha_apertura", "activa", "actualizado_en", "extraido",
    )


def productos(raw, first):
    return latest(raw, ["id_producto"], first).select(
        "id_producto", code("sku"), text("nombre"), text("categoria"), text("subcategoria"), text("marca"),
        "precio_lista", "costo_unitario", "activo", "actualizado_en", "extraido",
    )


def clientes(raw, first, pads):
    return latest(raw, ["id_cliente"], first).select(
        "id_cliente", pii_hash("documento", pads), pii_hash("nombre", pads), pii_hash("email", pads),
        code("segmento"), text("ciudad"), "fecha_registro", "actualizado_en", "extraido",
    )


def staging_ventas(raw, first, trusted_tiendas):
    stores = F.broadcast(trusted_tiendas.select("id_tienda", F.lit(True).alias("_tienda")))
    v = (
        latest(raw, ["id_venta"], first)
        .select("id_venta", "id_tienda", "id_cliente", "fecha_venta", code("canal"), code("medio_pago"),
                code("estado"), "actualizado_en", "extraido")
        .withColumn("fecha", business_date("fecha_venta"))
        .withColumn("periodo", F.date_format("fecha", "yyyy-MM"))
    )
    return v.join(stores, "id_tienda", "left").select(
        *v.columns,
        first_failed(
            (F.col("_tienda").isNull(), "tienda_desconocida"),
            (F.col("fecha_venta") > F.col("extraido"), "fecha_futura"),
            (~F.col("estado").isin("COMPLETADA", "ANULADA"), "estado_invalido"),
        ).alias("regla"),
    )


def staging_detalle(raw, first, trusted_ventas, rejected_ventas, trusted_productos):
    headers = trusted_ventas.select("id_venta", "fecha", F.col("periodo").alias("_periodo"),
                                    F.lit(True).alias("_venta"))
    rejected_headers = F.broadcast(rejected_ventas.select("id_venta", F.col("periodo").alias("_periodo_rechazo")))
    products = F.broadcast(trusted_productos.select("id_producto", F.lit(True).alias("_producto")))
    lines = latest(raw, ["id_venta", "linea"], first)
    cantidad, precio, descuento = F.col("cantidad"), F.col("precio_unitario"), F.col("descuento")
    return (
        lines.join(headers, "id_venta", "left")
        .join(rejected_headers, "id_venta", "left")
        .join(products, "id_producto", "left")
        .select(
            *lines.columns,
            "fecha",
            # A line takes its header's month, its rejected header's, or else
            # the month of its own last change in Lima (as dfstore does).
            F.coalesce("_periodo", "_periodo_rechazo",
                       F.date_format(business_date("actualizado_en"), "yyyy-MM")).alias("periodo"),
            first_failed(
                (F.col("_venta").isNull(), "venta_desconocida"),
                (F.col("_producto").isNull(), "producto_desconocido"),
                (cantidad <= 0, "cantidad_invalida"),
                (precio < 0, "precio_invalido"),
                ((descuento < 0) | (descuento > cantidad * precio), "descuento_invalido"),
            ).alias("regla"),
        )
    )


def reporte_ventas_tienda(trusted_detalle, trusted_ventas, trusted_productos, trusted_tiendas):
    """Spec section 4. Sums of DecimalType are exact; a cast to scale 2
    rounds HALF_UP, which for BigDecimal is half away from zero."""
    costs = F.broadcast(trusted_productos.select("id_producto", "costo_unitario"))
    # The lines summed per ticket first: fewer rows meet the headers.
    per_ticket = (
        trusted_detalle.join(costs, "id_producto")
        .groupBy("id_venta")
        .agg(
            F.sum(F.col("cantidad").cast("bigint")).alias("unidades"),
            F.sum(F.col("cantidad") * F.col("precio_unitario")).alias("bruto"),
            F.sum("descuento").alias("descuento"),
            F.sum(F.col("cantidad") * F.col("costo_unitario")).alias("costo"),
        )
    )
    completed = trusted_ventas.where(F.col("estado") == "COMPLETADA").select(
        "id_venta", "fecha", "periodo", "id_tienda", "id_cliente")
    per_day = (
        per_ticket.join(completed, "id_venta")
        .groupBy("fecha", "periodo", "id_tienda")
        .agg(
            F.count(F.lit(1)).alias("num_ventas"),  # one row per ticket here
            F.countDistinct("id_cliente").alias("num_clientes"),  # NULL (anonymous) not counted
            F.sum("unidades").alias("unidades"),
            F.sum("bruto").cast(MONEY).alias("venta_bruta"),
            F.sum("descuento").cast(MONEY).alias("descuento_total"),
            F.sum("costo").cast(MONEY).alias("costo_total"),
        )
    )
    stores = F.broadcast(trusted_tiendas.select(
        "id_tienda", F.col("codigo").alias("codigo_tienda"), F.col("nombre").alias("nombre_tienda"),
        "ciudad", "region", "formato"))
    venta_neta = (F.col("venta_bruta") - F.col("descuento_total")).cast(MONEY)
    return (
        per_day.join(stores, "id_tienda")
        .withColumn("venta_neta", venta_neta)
        .withColumn("margen_bruto", (F.col("venta_neta") - F.col("costo_total")).cast(MONEY))
        .withColumn("ticket_promedio",
                    (F.col("venta_neta") / F.col("num_ventas").cast("decimal(10,0)")).cast(MONEY))
        .select(*REPORT_COLUMNS)
    )


# ---------------------------------------------------------------- job

def write(df: DataFrame, path: Path, partitioned: bool):
    started = time.monotonic()
    writer = df.write.mode("overwrite")
    if partitioned:
        writer = writer.partitionBy("periodo")
    writer.parquet(str(path))
    print(f"wrote {path.parent.name}/{path.name} in {time.monotonic() - started:.2f} s", file=sys.stderr)


def run_job(spark: SparkSession, lake: Path, out: Path):
    files, first = raw_lake.raw_files(lake)
    pads = raw_lake.hmac_pads(raw_lake.pii_key())
    raw = {t: read_raw(spark, lake, t, paths) for t, paths in files.items()}

    write(tiendas(raw["tiendas"], first), out / "trusted" / "tiendas", False)
    write(productos(raw["productos"], first), out / "trusted" / "productos", False)
    write(clientes(raw["clientes"], first, pads), out / "trusted" / "clientes", False)
    # The dimensions are read back from trusted: small, and what later steps use.
    trusted_tiendas = spark.read.parquet(str(out / "trusted" / "tiendas"))
    trusted_productos = spark.read.parquet(str(out / "trusted" / "productos"))

    ventas = staging_ventas(raw["ventas"], first, trusted_tiendas).persist(StorageLevel.MEMORY_AND_DISK)
    trusted_ventas = ventas.where(F.col("regla").isNull()).drop("regla")
    rejected_ventas = ventas.where(F.col("regla").isNotNull())
    write(trusted_ventas, out / "trusted" / "ventas", True)
    write(rejected_ventas, out / "rejected" / "ventas", True)

    detalle = staging_detalle(raw["detalle_ventas"], first, trusted_ventas, rejected_ventas,
                              trusted_productos).persist(StorageLevel.MEMORY_AND_DISK)
    trusted_detalle = detalle.where(F.col("regla").isNull()).drop("regla")
    write(trusted_detalle, out / "trusted" / "detalle_ventas", True)
    write(detalle.where(F.col("regla").isNotNull()), out / "rejected" / "detalle_ventas", True)

    report = reporte_ventas_tienda(trusted_detalle, trusted_ventas, trusted_productos, trusted_tiendas)
    write(report, out / "analytic" / "reporte_ventas_tienda", True)
    detalle.unpersist()
    ventas.unpersist()


def export(spark: SparkSession, out: Path, directory: Path):
    """Reads what the job wrote back from Parquet and writes the CSVs to
    compare. Not part of the timed job: the report (one row per store and
    day) comes to the driver a partition at a time."""
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "trusted.tiendas": "trusted/tiendas", "trusted.productos": "trusted/productos",
        "trusted.clientes": "trusted/clientes", "trusted.ventas": "trusted/ventas",
        "trusted.detalle_ventas": "trusted/detalle_ventas", "rejected.ventas": "rejected/ventas",
        "rejected.detalle_ventas": "rejected/detalle_ventas",
        "analytic.reporte_ventas_tienda": "analytic/reporte_ventas_tienda",
    }
    compare_dir = HERE.parent / "compare"
    queries = {name: (compare_dir / f"{name}.sql").read_text() for name in ("report", "summary")}
    for name, path in tables.items():
        view = name.replace(".", "_")
        spark.read.parquet(str(out / path)).createOrReplaceTempView(view)
        queries = {k: q.replace(name, view) for k, q in queries.items()}
    for name, query in queries.items():
        df = spark.sql(query)
        with open(directory / f"{name}.csv", "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(df.columns)
            # str() of Decimal keeps the scale (Decimal('0.50') -> '0.50');
            # dates print as ISO.
            for row in df.toLocalIterator():
                w.writerow(["" if v is None else str(v) for v in row])


REMOTE = False


def main():
    global REMOTE
    args = parse_args()
    REMOTE = bool(args.remote)
    out = Path(args.out).resolve()
    spark = session(args, out)
    if not args.remote:
        spark.sparkContext.setLogLevel("WARN")
    ready = os.environ.get("BENCH_READY_FILE")
    if ready:
        Path(ready).write_text(f"{time.time()}\n")
    run_job(spark, Path(args.lake).resolve(), out)
    if args.export:
        export(spark, out, Path(args.export))
    spark.stop()


if __name__ == "__main__":
    main()
