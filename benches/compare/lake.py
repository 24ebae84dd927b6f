"""What the peer engines (benches/duckdb, benches/spark) need from a dfstore
lake before they run: the raw Parquet files of every published extraction,
and the personal-data key as the two HMAC pads. Standard library only."""

import hashlib
import json
import os
from pathlib import Path

TABLES = ("tiendas", "productos", "clientes", "ventas", "detalle_ventas")


def raw_files(lake):
    """Per source table, the Parquet files of every published extraction,
    oldest extraction first, and the id of the first extraction.

    As in dfstore, an extraction exists once its manifest
    (raw/_extracciones/<id>.json) does: files no manifest lists are never read.
    """
    lake = Path(lake)
    manifests = sorted((lake / "raw" / "_extracciones").glob("*.json"))
    if not manifests:
        raise SystemExit(f"{lake}: no published extraction under raw/_extracciones/")
    files = {t: [] for t in TABLES}
    ids = []
    for path in manifests:
        manifest = json.loads(path.read_text())
        ids.append(manifest["extraido"])
        for table, content in manifest["tables"].items():
            files[table].extend(str(lake / f["path"]) for f in content["files"])
    missing = [t for t, paths in files.items() if not paths]
    if missing:
        raise SystemExit(f"{lake}: no raw files for {', '.join(missing)}")
    return files, min(ids)


def pii_key():
    """The key as dfstore resolves it for the benchmarks: DFSTORE_PII_KEY, else
    the trimmed content of DFSTORE_PII_KEY_FILE (its bytes as they are)."""
    if "DFSTORE_PII_KEY" in os.environ:
        return os.environ["DFSTORE_PII_KEY"].strip().encode()
    path = os.environ.get("DFSTORE_PII_KEY_FILE")
    if not path:
        raise SystemExit("set DFSTORE_PII_KEY_FILE (or DFSTORE_PII_KEY) to the personal-data key")
    return Path(path).read_bytes().strip()


def hmac_pads(key):
    """(inner, outer) HMAC-SHA-256 pads of `key` in hex (RFC 2104), so that an
    engine with only SHA-256 computes HMAC(key, m) as
    sha256(outer || sha256(inner || m))."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()
