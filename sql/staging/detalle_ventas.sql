/* dfstore
# A run after the first rebuilds only the tickets that changed.
materialized = "incremental_by_key"
description = "Sales lines, current version, with the first rule each fails."
source = "detalle_ventas"
unique_key = ["id_venta", "linea"]
partition_by = "periodo"
# Its joins match lines to headers on id_venta: built a range at a time.
by_key = "id_venta"
*/
-- staging.detalle_ventas: the current version of every sales line (rule 3.1)
-- with the first rule it fails (rule 3.4, NULL when it passes).
-- A line belongs to the business month of its header; a line whose header is
-- unknown altogether takes the month of its own last change in Lima time, so
-- that every row has a partition.
-- Rule 3.1 as in staging.ventas: only the (id_venta, linea) keys present in a
-- later extraction are resolved; the rest pass straight through.
WITH repeated AS (
    SELECT DISTINCT id_venta, linea
    FROM raw.detalle_ventas
    WHERE extraido > (SELECT MIN(extraido) FROM raw.detalle_ventas)
),
latest AS (
    SELECT id_venta, linea, id_producto, cantidad, precio_unitario, descuento, actualizado_en, extraido
    FROM repeated AS k
    RIGHT ANTI JOIN raw.detalle_ventas AS r ON k.id_venta = r.id_venta AND k.linea = r.linea
    UNION ALL
    -- the newest version of each key that may repeat: only those keys' rows
    -- are ranked
    SELECT id_venta, linea, id_producto, cantidad, precio_unitario, descuento, actualizado_en, extraido
    FROM (
        SELECT
            r.*,
            ROW_NUMBER() OVER (
                PARTITION BY k.id_venta, k.linea
                ORDER BY r.actualizado_en DESC, r.extraido DESC
            ) AS version
        FROM repeated AS k
        JOIN raw.detalle_ventas AS r ON k.id_venta = r.id_venta AND k.linea = r.linea
    ) AS ranked
    WHERE version = 1
)
SELECT
    l.id_venta,
    l.linea,
    l.id_producto,
    l.cantidad,
    l.precio_unitario,
    l.descuento,
    l.actualizado_en,
    l.extraido,
    v.fecha,
    COALESCE(
        v.periodo,
        h.periodo,
        to_char(CAST(l.actualizado_en AT TIME ZONE 'America/Lima' AS DATE), '%Y-%m')
    ) AS periodo,
    CASE
        WHEN v.id_venta IS NULL THEN 'venta_desconocida'
        WHEN p.id_producto IS NULL THEN 'producto_desconocido'
        WHEN l.cantidad <= 0 THEN 'cantidad_invalida'
        WHEN l.precio_unitario < 0 THEN 'precio_invalido'
        WHEN l.descuento < 0 OR l.descuento > l.cantidad * l.precio_unitario THEN 'descuento_invalido'
    END AS regla
-- Every line once, with its header if any: each join names the headers or
-- products first, and that side becomes the hash table while the lines
-- stream past it (the model runs in ranges of id_venta with join reordering
-- off, so the order written here is the order run).
FROM trusted.productos AS p
RIGHT JOIN (
    rejected.ventas AS h
    RIGHT JOIN (
        trusted.ventas AS v
        RIGHT JOIN latest AS l ON v.id_venta = l.id_venta
    ) ON h.id_venta = l.id_venta
) ON p.id_producto = l.id_producto
