/* dfstore
materialized = "view"
description = "Average net ticket per sales channel, over the whole history: a view, computed when read."
tags = ["reports"]
*/
SELECT
    v.canal,
    COUNT(DISTINCT v.id_venta)                                                    AS num_ventas,
    CAST(SUM(d.cantidad * d.precio_unitario - d.descuento) / COUNT(DISTINCT v.id_venta) AS DECIMAL(18, 2)) AS ticket_medio
FROM trusted.ventas AS v
JOIN trusted.detalle_ventas AS d ON d.id_venta = v.id_venta
WHERE v.estado = 'COMPLETADA'
GROUP BY v.canal
