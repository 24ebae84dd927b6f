-- detalle_ventas (sales lines): the current version of every line (rule 3.1)
-- with the first rule it fails (rule 3.4), checked against the trusted
-- headers and products. A line takes the business month of its header, of
-- its rejected header, or else of its own last change in Lima time, so that
-- every row has a partition (as dfstore does).
CREATE TABLE staging.detalle_ventas AS
WITH repeated AS (
    SELECT DISTINCT id_venta, linea FROM raw.detalle_ventas WHERE extraido > getvariable('first_extraction')
),
latest AS (
    SELECT r.* FROM raw.detalle_ventas AS r ANTI JOIN repeated AS k USING (id_venta, linea)
    UNION ALL
    SELECT r.* FROM raw.detalle_ventas AS r SEMI JOIN repeated AS k USING (id_venta, linea)
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
