"""The reference extractor for benches/ingest.sh: connectorx reads each table
of `retail` into Arrow (partitioned on the key for the large tables, as its
documentation recommends) and pyarrow writes it as zstd Parquet, the same
output dfstore ingest produces. The password comes from PGPASSWORD."""

import os
import sys
import time
import urllib.parse

import connectorx as cx
import pyarrow.parquet as pq

TABLES = {
    "tiendas": None,
    "productos": None,
    "clientes": "id_cliente",
    "ventas": "id_venta",
    "detalle_ventas": "id_venta",
}


def main(url: str, out: str, partitions: int) -> None:
    parts = urllib.parse.urlsplit(url)
    password = urllib.parse.quote(os.environ["PGPASSWORD"], safe="")
    netloc = f"{parts.username}:{password}@{parts.hostname}:{parts.port or 5432}"
    conn = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    os.makedirs(out, exist_ok=True)
    rows = 0
    for table, key in TABLES.items():
        started = time.monotonic()
        query = f"SELECT * FROM retail.{table}"
        if key:
            data = cx.read_sql(conn, query, return_type="arrow", partition_on=key, partition_num=partitions)
        else:
            data = cx.read_sql(conn, query, return_type="arrow")
        pq.write_table(data, f"{out}/{table}.parquet", compression="zstd", compression_level=1)
        rows += data.num_rows
        print(f"{table} {data.num_rows} {time.monotonic() - started:.2f}", file=sys.stderr)
    print(rows)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 2)
