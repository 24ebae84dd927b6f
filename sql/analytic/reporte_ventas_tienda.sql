-- analytic.reporte_ventas_tienda (spec section 4): one row per business date
-- and store with at least one counted line. A line counts when it is in
-- trusted.detalle_ventas and its header is in trusted.ventas with estado
-- COMPLETADA; costs use the product's current trusted costo_unitario.
-- Money stays decimal throughout: sums are exact, and the two rounded columns
-- are cast to scale 2 only after summing or dividing (a decimal cast to a
-- smaller scale rounds half away from zero).
WITH lineas AS (
    SELECT
        v.fecha,
        v.periodo,
        v.id_tienda,
        v.id_venta,
        v.id_cliente,
        d.cantidad,
        d.cantidad * d.precio_unitario AS bruto,
        d.descuento,
        d.cantidad * p.costo_unitario  AS costo
    FROM trusted.detalle_ventas AS d
    JOIN trusted.ventas AS v ON v.id_venta = d.id_venta
    JOIN trusted.productos AS p ON p.id_producto = d.id_producto
    WHERE v.estado = 'COMPLETADA'
),
por_dia AS (
    SELECT
        fecha,
        periodo,
        id_tienda,
        COUNT(DISTINCT id_venta)                  AS num_ventas,
        COUNT(DISTINCT id_cliente)                AS num_clientes,
        SUM(CAST(cantidad AS BIGINT))             AS unidades,
        CAST(SUM(bruto) AS DECIMAL(18, 2))        AS venta_bruta,
        CAST(SUM(descuento) AS DECIMAL(18, 2))    AS descuento_total,
        CAST(SUM(costo) AS DECIMAL(18, 2))        AS costo_total
    FROM lineas
    GROUP BY fecha, periodo, id_tienda
)
SELECT
    r.fecha,
    r.periodo,
    r.id_tienda,
    t.codigo AS codigo_tienda,
    t.nombre AS nombre_tienda,
    t.ciudad,
    t.region,
    t.formato,
    r.num_ventas,
    r.num_clientes,
    r.unidades,
    r.venta_bruta,
    r.descuento_total,
    CAST(r.venta_bruta - r.descuento_total AS DECIMAL(18, 2)) AS venta_neta,
    r.costo_total,
    CAST(r.venta_bruta - r.descuento_total - r.costo_total AS DECIMAL(18, 2)) AS margen_bruto,
    CAST(
        (r.venta_bruta - r.descuento_total) / CAST(r.num_ventas AS DECIMAL(10, 0))
        AS DECIMAL(18, 2)
    ) AS ticket_promedio
FROM por_dia AS r
JOIN trusted.tiendas AS t ON t.id_tienda = r.id_tienda
