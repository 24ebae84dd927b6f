-- analytic.reporte_ventas_tienda (spec section 4): one row per business date
-- and store with at least one counted line; a line counts when it is in
-- trusted.detalle_ventas and its header is in trusted.ventas with estado
-- COMPLETADA; costs use the product's current trusted costo_unitario.
-- Money stays DECIMAL: sums are exact, and a cast to scale 2 rounds half away
-- from zero. DuckDB divides decimals in floating point, so ticket_promedio is
-- rounded in integer cents instead: round(c / n) = (2|c| + n) // 2n, signed.
CREATE TABLE analytic.reporte_ventas_tienda AS
WITH por_venta AS (
    -- the lines summed per ticket first: fewer rows meet the headers
    SELECT
        d.id_venta,
        sum(CAST(d.cantidad AS BIGINT))     AS unidades,
        sum(d.cantidad * d.precio_unitario) AS bruto,
        sum(d.descuento)                    AS descuento,
        sum(d.cantidad * p.costo_unitario)  AS costo
    FROM trusted.detalle_ventas AS d
    JOIN trusted.productos AS p ON p.id_producto = d.id_producto
    GROUP BY d.id_venta
),
por_dia AS (
    SELECT
        v.fecha,
        v.periodo,
        v.id_tienda,
        count(*)                                  AS num_ventas,
        count(DISTINCT v.id_cliente)              AS num_clientes,
        CAST(sum(l.unidades) AS BIGINT)           AS unidades,
        CAST(sum(l.bruto) AS DECIMAL(18, 2))      AS venta_bruta,
        CAST(sum(l.descuento) AS DECIMAL(18, 2))  AS descuento_total,
        CAST(sum(l.costo) AS DECIMAL(18, 2))      AS costo_total
    FROM por_venta AS l
    JOIN trusted.ventas AS v ON v.id_venta = l.id_venta
    WHERE v.estado = 'COMPLETADA'
    GROUP BY v.fecha, v.periodo, v.id_tienda
),
neto AS (
    SELECT
        *,
        CAST(venta_bruta - descuento_total AS DECIMAL(18, 2)) AS venta_neta,
        CAST((venta_bruta - descuento_total) * 100 AS BIGINT) AS neta_centimos
    FROM por_dia
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
    CAST(r.num_ventas AS BIGINT)   AS num_ventas,
    CAST(r.num_clientes AS BIGINT) AS num_clientes,
    r.unidades,
    r.venta_bruta,
    r.descuento_total,
    r.venta_neta,
    r.costo_total,
    CAST(r.venta_neta - r.costo_total AS DECIMAL(18, 2)) AS margen_bruto,
    CAST(
        CAST(sign(r.neta_centimos) * ((2 * abs(r.neta_centimos) + r.num_ventas) // (2 * r.num_ventas))
             AS DECIMAL(18, 0)) * 0.01
        AS DECIMAL(18, 2)
    ) AS ticket_promedio
FROM neto AS r
JOIN trusted.tiendas AS t ON t.id_tienda = r.id_tienda;
