/* dfstore
description = "Returned lines, units and amount per business month and product category."
tags = ["reports", "monthly"]
partition_by = "periodo"
unique_key = ["periodo", "categoria"]

[[tests]]
unique = ["periodo", "categoria"]

[contract.columns]
periodo = "VARCHAR NOT NULL"
categoria = "VARCHAR NOT NULL"
devoluciones = "BIGINT NOT NULL"
unidades = "BIGINT NOT NULL"
monto = "DECIMAL(18, 2) NOT NULL"
*/
-- One row per month of the return and category of the returned product.
SELECT
    r.periodo,
    p.categoria,
    COUNT(*)                              AS devoluciones,
    SUM(CAST(r.cantidad AS BIGINT))       AS unidades,
    CAST(SUM(r.monto) AS DECIMAL(18, 2))  AS monto
FROM trusted.devoluciones AS r
JOIN trusted.detalle_ventas AS d ON d.id_venta = r.id_venta AND d.linea = r.linea
JOIN trusted.productos AS p ON p.id_producto = d.id_producto
GROUP BY r.periodo, p.categoria
