/* dfstore
materialized = "table"
description = "Sales lines that fail a rule, with the rule (regla)."
source = "detalle_ventas"
partition_by = "periodo"
*/
-- rejected.detalle_ventas: sales lines that fail a rule, with the first rule failed.
SELECT
    id_venta, linea, id_producto, cantidad, precio_unitario, descuento,
    actualizado_en, extraido, fecha, periodo, regla
FROM staging.detalle_ventas
WHERE regla IS NOT NULL
