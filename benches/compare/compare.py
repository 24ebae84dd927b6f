#!/usr/bin/env python3
"""Checks that every engine produced the same answers, exactly.

    compare.py DIR ENGINE...

DIR/<engine>/report.csv is the engine's reporte_ventas_tienda and
DIR/<engine>/summary.csv its row counts (benches/compare/report.sql and
summary.sql, as each engine exported them). The first ENGINE is the
reference. Every file is first checked against the spec's report (the columns
of section 4 in their order, one row per (fecha, id_tienda), ISO dates,
integers, money as decimals with exactly two places), then compared with the
reference's value by value, as text: no float parsing, no tolerance.

Prints one line per engine; for an engine that differs, what differs: keys
only one side has and the first rows whose values differ, column by column.
Exit status 0 when all agree, 1 when any differs or a file is malformed.
Standard library only.
"""

import csv
import re
import sys
from pathlib import Path

REPORT_COLUMNS = (
    "fecha", "periodo", "id_tienda", "codigo_tienda", "nombre_tienda", "ciudad", "region", "formato",
    "num_ventas", "num_clientes", "unidades", "venta_bruta", "descuento_total", "venta_neta",
    "costo_total", "margen_bruto", "ticket_promedio",
)
SUMMARY_COLUMNS = ("capa", "tabla", "medida", "valor")
FORMATS = {
    "fecha": r"\d{4}-\d{2}-\d{2}",
    "periodo": r"\d{4}-\d{2}",
    "id_tienda": r"-?\d+",
    "num_ventas": r"\d+",
    "num_clientes": r"\d+",
    "unidades": r"-?\d+",
    "venta_bruta": r"-?\d+\.\d{2}",
    "descuento_total": r"-?\d+\.\d{2}",
    "venta_neta": r"-?\d+\.\d{2}",
    "costo_total": r"-?\d+\.\d{2}",
    "margen_bruto": r"-?\d+\.\d{2}",
    "ticket_promedio": r"-?\d+\.\d{2}",
    "valor": r"\d+",
}
SHOW = 5  # differing rows shown per engine


class Malformed(Exception):
    pass


def load(path, columns, key_len):
    """{key: row} of a CSV whose header is `columns`; the key is the first
    `key_len` columns."""
    if not path.is_file():
        raise Malformed(f"{path}: missing (the engine did not export it)")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header != columns:
            raise Malformed(f"{path}: columns {', '.join(header) or '(none)'}; expected {', '.join(columns)}")
        rows = {}
        for n, row in enumerate(reader, start=2):
            if len(row) != len(columns):
                raise Malformed(f"{path}:{n}: {len(row)} values, expected {len(columns)}")
            for name, value in zip(columns, row):
                pattern = FORMATS.get(name)
                if pattern and not re.fullmatch(pattern, value):
                    raise Malformed(f"{path}:{n}: {name} = {value!r} is not of the form {pattern}")
            key = tuple(row[:key_len])
            if key in rows:
                raise Malformed(f"{path}:{n}: duplicate key {key}")
            rows[key] = tuple(row)
    return rows


def differences(name, columns, key_len, reference, other):
    """Lines describing how `other` differs from `reference`; empty if equal."""
    lines = []
    missing = sorted(reference.keys() - other.keys())
    extra = sorted(other.keys() - reference.keys())
    changed = [k for k in sorted(reference.keys() & other.keys()) if reference[k] != other[k]]
    if not (missing or extra or changed):
        return lines
    lines.append(f"  {name}: {len(reference)} rows in the reference, {len(other)} here; "
                 f"{len(missing)} missing, {len(extra)} extra, {len(changed)} with other values")
    for k in missing[:SHOW]:
        lines.append(f"    missing: {','.join(reference[k])}")
    for k in extra[:SHOW]:
        lines.append(f"    extra:   {','.join(other[k])}")
    for k in changed[:SHOW]:
        cols = [f"{c} {a} vs {b}" for c, a, b in zip(columns, reference[k], other[k]) if a != b]
        lines.append(f"    {','.join(k)}: {'; '.join(cols)}")
    return lines


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    directory = Path(argv[0])
    engines = argv[1:]
    tables = (("report.csv", REPORT_COLUMNS, 3), ("summary.csv", SUMMARY_COLUMNS, 3))
    loaded = {}
    failed = False
    for engine in engines:
        try:
            loaded[engine] = [load(directory / engine / f, cols, k) for f, cols, k in tables]
        except Malformed as e:
            print(f"{engine}: MALFORMED: {e}")
            failed = True
    if not loaded:
        return 1
    reference = next(e for e in engines if e in loaded)
    ref = loaded[reference]
    print(f"{reference}: reference, {len(ref[0])} report rows, {len(ref[1])} counts")
    for engine in engines:
        if engine == reference or engine not in loaded:
            continue
        lines = []
        for (f, cols, k), a, b in zip(tables, ref, loaded[engine]):
            lines += differences(f, cols, k, a, b)
        if lines:
            failed = True
            print(f"{engine}: DIFFERS from {reference}")
            print("\n".join(lines))
        else:
            print(f"{engine}: identical to {reference} ({len(ref[0])} report rows, every column; "
                  f"{len(ref[1])} counts)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
