-- detalle_ventas (sales lines), plain DuckDB: the current version of every
-- line (rule 3.1) with the first rule it fails (rule 3.4, NULL when it
-- passes), checked against the trusted headers and products.
-- Not obvious from the spec but needed for the same output: a line is written
-- under the business month of its header; a line rejected because its header
-- is not trusted takes its rejected header's month, or, with no header at
-- all, the month of its own last change in Lima time (as dfstore does), so
-- that every row has a partition.
CREATE TABLE staging.detalle_ventas AS
WITH latest AS (
    SELECT *
    FROM raw.detalle_ventas
    QUALIFY row_number() OVER (PARTITION BY id_venta, linea ORDER BY actualizado_en DESC, extraido DESC) = 1
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
    coalesce(
        v.periodo,
        h.periodo,
        strftime(CAST(l.actualizado_en AT TIME ZONE 'America/Lima' AS DATE), '%Y-%m')
    ) AS periodo,
    CASE
        WHEN v.id_venta IS NULL THEN 'venta_desconocida'
        WHEN p.id_producto IS NULL THEN 'producto_desconocido'
        WHEN l.cantidad <= 0 THEN 'cantidad_invalida'
        WHEN l.precio_unitario < 0 THEN 'precio_invalido'
        WHEN l.descuento < 0 OR l.descuento > l.cantidad * l.precio_unitario THEN 'descuento_invalido'
    END AS regla
FROM latest AS l
LEFT JOIN trusted.ventas AS v ON v.id_venta = l.id_venta
LEFT JOIN rejected.ventas AS h ON h.id_venta = l.id_venta
LEFT JOIN trusted.productos AS p ON p.id_producto = l.id_producto;

CREATE VIEW trusted.detalle_ventas AS SELECT * EXCLUDE (regla) FROM staging.detalle_ventas WHERE regla IS NULL;
CREATE VIEW rejected.detalle_ventas AS SELECT * FROM staging.detalle_ventas WHERE regla IS NOT NULL;
