/* dfstore
# Rebuilt for the months whose tickets or lines changed.
materialized = "incremental_by_period"
description = "Daily sales per store (spec section 4)."
partition_by = "periodo"
# Every row is a day of one store: built a month at a time, or a few
# days at a time when a month is large.
by_period = true
day_column = "fecha"
unique_key = ["fecha", "id_tienda"]
# Loaded into the warehouse by `run --load` and `nightly --warehouse`.
warehouse = true

[[tests]]
unique = ["fecha", "id_tienda"]

# Spec section 4's columns: also the warehouse table's (`dfstore load`).
[contract.columns]
fecha = "DATE NOT NULL"
periodo = "VARCHAR NOT NULL"
id_tienda = "INT NOT NULL"
codigo_tienda = "VARCHAR NOT NULL"
nombre_tienda = "VARCHAR NOT NULL"
ciudad = "VARCHAR NOT NULL"
region = "VARCHAR NOT NULL"
formato = "VARCHAR NOT NULL"
num_ventas = "BIGINT NOT NULL"
num_clientes = "BIGINT NOT NULL"
unidades = "BIGINT NOT NULL"
venta_bruta = "DECIMAL(18, 2) NOT NULL"
descuento_total = "DECIMAL(18, 2) NOT NULL"
venta_neta = "DECIMAL(18, 2) NOT NULL"
costo_total = "DECIMAL(18, 2) NOT NULL"
margen_bruto = "DECIMAL(18, 2) NOT NULL"
ticket_promedio = "DECIMAL(18, 2) NOT NULL"
*/
-- analytic.reporte_ventas_tienda (spec section 4): one row per business date
-- and store with at least one counted line. A line counts when it is in
-- trusted.detalle_ventas and its header is in trusted.ventas with estado
-- COMPLETADA; costs use the product's current trusted costo_unitario.
-- Money stays decimal throughout: sums are exact, and the two rounded columns
-- are cast to scale 2 only after summing or dividing (a decimal cast to a
-- smaller scale rounds half away from zero).
--
-- Shaped for memory: the lines are summed per ticket before meeting the
-- headers, and the distinct counts are two plain GROUP BYs (per customer,
-- then per store and day) instead of COUNT(DISTINCT), whose per-group sets
-- cannot spill to disk at scale. `periodo` is derived from `fecha` only for
-- the finished rows, so that no join or grouping carries the text. A run
-- builds this model one month at a time (`by_period` in the header above):
-- each month's rows come from that month's headers and lines alone.
WITH por_venta AS (
    SELECT
        d.id_venta,
        SUM(CAST(d.cantidad AS BIGINT))     AS unidades,
        SUM(d.cantidad * d.precio_unitario) AS bruto,
        SUM(d.descuento)                    AS descuento,
        SUM(d.cantidad * p.costo_unitario)  AS costo
    FROM trusted.detalle_ventas AS d
    JOIN trusted.productos AS p ON p.id_producto = d.id_producto
    GROUP BY d.id_venta
),
por_cliente AS (
    SELECT
        v.fecha,
        v.id_tienda,
        v.id_cliente,
        COUNT(*)           AS ventas,
        SUM(l.unidades)    AS unidades,
        SUM(l.bruto)       AS bruto,
        SUM(l.descuento)   AS descuento,
        SUM(l.costo)       AS costo
    FROM por_venta AS l
    JOIN trusted.ventas AS v ON v.id_venta = l.id_venta
    WHERE v.estado = 'COMPLETADA'
    GROUP BY v.fecha, v.id_tienda, v.id_cliente
),
por_dia AS (
    SELECT
        fecha,
        id_tienda,
        SUM(ventas)                             AS num_ventas,
        -- one row per customer here; the NULL customer's row is not counted
        COUNT(id_cliente)                       AS num_clientes,
        SUM(unidades)                           AS unidades,
        CAST(SUM(bruto) AS DECIMAL(18, 2))      AS venta_bruta,
        CAST(SUM(descuento) AS DECIMAL(18, 2))  AS descuento_total,
        CAST(SUM(costo) AS DECIMAL(18, 2))      AS costo_total
    FROM por_cliente
    GROUP BY fecha, id_tienda
)
SELECT
    r.fecha,
    to_char(r.fecha, '%Y-%m') AS periodo,
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
