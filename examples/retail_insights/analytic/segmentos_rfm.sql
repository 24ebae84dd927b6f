/* dfstore
materialized = "table"
description = "Each customer's recency, frequency and money spent, and the segment they fall in."
tags = ["reports", "customers"]
unique_key = ["id_cliente"]

[[tests]]
unique = ["id_cliente"]

[[tests]]
accepted_values = { column = "segmento_rfm", values = ["VIP", "ACTIVO", "EN_RIESGO"] }

# The source has no foreign keys: a ticket may name a customer that is not
# in trusted.clientes. Worth knowing, not worth failing the night.
[[tests]]
relationships = { column = "id_cliente", to = "trusted.clientes", field = "id_cliente" }
severity = "warn"
*/
-- Recency is measured from the last business day with a sale. VIP: at least
-- $compras_vip tickets and a purchase in the last 90 days; ACTIVO: a
-- purchase in the last 90 days; EN_RIESGO: the others.
WITH tickets AS (
    SELECT
        v.id_cliente,
        v.id_venta,
        v.fecha,
        SUM(d.cantidad * d.precio_unitario - d.descuento) AS neto
    FROM trusted.ventas AS v
    JOIN trusted.detalle_ventas AS d ON d.id_venta = v.id_venta
    WHERE v.estado = $estado_contado AND v.id_cliente IS NOT NULL
    GROUP BY v.id_cliente, v.id_venta, v.fecha
),
ultimo_dia AS (
    SELECT MAX(fecha) AS hoy FROM tickets
),
por_cliente AS (
    SELECT
        id_cliente,
        MAX(fecha)                             AS ultima_compra,
        COUNT(*)                               AS frecuencia,
        CAST(SUM(neto) AS DECIMAL(18, 2))      AS monto
    FROM tickets
    GROUP BY id_cliente
)
SELECT
    c.id_cliente,
    c.ultima_compra,
    c.frecuencia,
    c.monto,
    CASE
        WHEN c.ultima_compra > u.hoy - INTERVAL '90' DAY AND c.frecuencia >= $compras_vip THEN 'VIP'
        WHEN c.ultima_compra > u.hoy - INTERVAL '90' DAY THEN 'ACTIVO'
        ELSE 'EN_RIESGO'
    END AS segmento_rfm
FROM por_cliente AS c
CROSS JOIN ultimo_dia AS u
