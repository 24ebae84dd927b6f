/* dfstore
materialized = "table"
description = "Net sales per business month and product category, counting tickets in state $estado_contado."
tags = ["reports", "monthly"]
partition_by = "periodo"
unique_key = ["periodo", "categoria"]
warehouse = true

[[tests]]
unique = ["periodo", "categoria"]

[[tests]]
not_null = ["periodo", "categoria"]

[contract.columns]
periodo = "VARCHAR NOT NULL"
categoria = "VARCHAR NOT NULL"
num_ventas = "BIGINT NOT NULL"
unidades = "BIGINT NOT NULL"
venta_neta = "DECIMAL(18, 2) NOT NULL"
*/
-- One row per month and category. A line counts as in the store report:
-- its header is in trusted.ventas with the counted state.
SELECT
    v.periodo,
    p.categoria,
    COUNT(DISTINCT v.id_venta)                                        AS num_ventas,
    SUM(CAST(d.cantidad AS BIGINT))                                   AS unidades,
    CAST(SUM(d.cantidad * d.precio_unitario - d.descuento) AS DECIMAL(18, 2)) AS venta_neta
FROM trusted.detalle_ventas AS d
JOIN trusted.ventas AS v ON v.id_venta = d.id_venta
JOIN trusted.productos AS p ON p.id_producto = d.id_producto
WHERE v.estado = $estado_contado
GROUP BY v.periodo, p.categoria
