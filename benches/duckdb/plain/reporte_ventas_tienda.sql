-- analytic.reporte_ventas_tienda (spec section 4), plain DuckDB: every
-- counted line (trusted line, trusted header with estado COMPLETADA) joined
-- to its header and product, grouped by business date and store, with
-- COUNT(DISTINCT ...) for the tickets and the customers (NULL, the anonymous
-- customer, is not counted), then the store's attributes.
-- Money stays DECIMAL: sums are exact, and round() of a DECIMAL and a cast to
-- scale 2 round half away from zero, as the spec asks.
-- One choice the spec forces: DuckDB divides a DECIMAL in floating point
-- (DECIMAL / BIGINT is a DOUBLE, and so is DECIMAL // BIGINT), and
-- round(venta_neta / num_ventas, 2) lands on the wrong cent for some exact
-- halves (12591.22 / 116 = 108.545 gives 108.54). So ticket_promedio is
-- rounded in BIGINT cents: (2c + n) // 2n is c / n rounded half up, which is
-- half away from zero here because venta_neta is never negative (rule 3.4
-- keeps every descuento within its line's cantidad * precio_unitario).
CREATE TABLE analytic.reporte_ventas_tienda AS
WITH por_dia AS (
    SELECT
        v.fecha,
        v.id_tienda,
        count(DISTINCT d.id_venta)                                          AS num_ventas,
        count(DISTINCT v.id_cliente)                                        AS num_clientes,
        CAST(sum(d.cantidad) AS BIGINT)                                     AS unidades,
        CAST(sum(d.cantidad * d.precio_unitario) AS DECIMAL(18, 2))         AS venta_bruta,
        CAST(sum(d.descuento) AS DECIMAL(18, 2))                            AS descuento_total,
        CAST(round(sum(d.cantidad * p.costo_unitario), 2) AS DECIMAL(18, 2)) AS costo_total
    FROM trusted.detalle_ventas AS d
    JOIN trusted.ventas AS v ON v.id_venta = d.id_venta
    JOIN trusted.productos AS p ON p.id_producto = d.id_producto
    WHERE v.estado = 'COMPLETADA'
    GROUP BY v.fecha, v.id_tienda
)
SELECT
    r.fecha,
    strftime(r.fecha, '%Y-%m') AS periodo,
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
        CAST((2 * CAST((r.venta_bruta - r.descuento_total) * 100 AS BIGINT) + r.num_ventas) // (2 * r.num_ventas)
             AS DECIMAL(18, 0)) * 0.01
        AS DECIMAL(18, 2)
    ) AS ticket_promedio
FROM por_dia AS r
JOIN trusted.tiendas AS t ON t.id_tienda = r.id_tienda;
